/**
 * A nemesis injects one kind of fault into a chaos cluster and heals it;
 * {@linkcode runNemesisSchedule} picks one at a time at seeded random, with
 * quiet gaps between faults, until the run ends.
 *
 * @module
 */

import type { SeededRandom } from "../src/random.ts";
import type { ChaosCluster } from "./chaos_cluster.ts";
import { sleepUnless } from "./sleep.ts";

/**
 * What a nemesis works with.
 */
export interface NemesisContext {
  /** The cluster. */
  readonly cluster: ChaosCluster;
  /** The run's seeded choices. */
  readonly rnd: SeededRandom;
  /** The nodes' election timeout range, ms (pauses outlast it). */
  readonly electionTimeoutMs: readonly [number, number];
  /** Reports an anomaly a nemesis saw itself (e.g. two leaders at once). */
  readonly anomaly?: (line: string) => void;
}

/**
 * One kind of fault.
 *
 * @example
 * ```ts
 * import type { Nemesis } from "./nemesis.ts";
 * const idle: Nemesis = { name: "idle", inject: () => Promise.resolve(null), heal: () => Promise.resolve() };
 * ```
 */
export interface Nemesis {
  /** Its name on the command line (`--nemesis kill,pause`). */
  readonly name: string;
  /**
   * Injects a fault and heals it before resolving; the fault's description,
   * or `null` if it could not be injected now (nothing counted).
   */
  inject(context: NemesisContext): Promise<string | null>;
  /** Undoes whatever is still broken (called once at the end, and after a crash). */
  heal(context: NemesisContext): Promise<void>;
}

/**
 * Faults injected, by nemesis name, and their descriptions.
 *
 * @example
 * ```ts
 * import type { FaultLog } from "./nemesis.ts";
 * const log: FaultLog = { counts: new Map([["kill", 2]]), lines: ["kill -9 leader 2 for 800 ms"] };
 * ```
 */
export interface FaultLog {
  /** Faults injected, by nemesis. */
  readonly counts: Map<string, number>;
  /** One line per fault, with the run's time. */
  readonly lines: string[];
}

/**
 * Injects faults until `stop`: a quiet gap of `gapMs` (seeded, uniform),
 * then one fault, and so on; the nemeses take turns in rounds, each round
 * in a seeded random order (so every kind is injected in a short run).
 */
export async function runNemesisSchedule(
  nemeses: readonly Nemesis[],
  context: NemesisContext,
  stop: AbortSignal,
  gapMs: readonly [number, number],
): Promise<FaultLog> {
  const log: FaultLog = { counts: new Map(), lines: [] };
  if (nemeses.length === 0) return log;
  const { cluster, rnd } = context;
  let round: Nemesis[] = [];
  for (let i = 0; i < 100_000; i++) {
    await sleepUnless(rnd.int(gapMs[0], gapMs[1] + 1), stop);
    if (stop.aborted) break;
    if (i % nemeses.length === 0) round = _shuffled(nemeses, rnd);
    const nemesis = round[i % nemeses.length]!;
    let what: string | null;
    try {
      what = await nemesis.inject(context);
    } catch (e) {
      what = null;
      cluster.event(`nemesis ${nemesis.name} failed: ${e instanceof Error ? e.message : e}`);
      await nemesis.heal(context).catch(() => {});
    }
    if (what !== null) {
      log.counts.set(nemesis.name, (log.counts.get(nemesis.name) ?? 0) + 1);
      const line = `t=${cluster.options.clock().toFixed(0)} ${nemesis.name}: ${what}`;
      log.lines.push(line);
      cluster.event(`fault ${line}`);
    }
  }
  return log;
}

function _shuffled<T>(items: readonly T[], rnd: SeededRandom): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = rnd.int(0, i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
