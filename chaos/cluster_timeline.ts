/**
 * The cluster's state over a run, sampled from every member's metrics: who
 * led in which term, commit and applied indexes, snapshots. The failure
 * report prints the samples around a non-linearizable window; the summary
 * counts the snapshots taken (so a reader sees that compaction happened
 * under the faults).
 *
 * @module
 */

import type { AdminMetrics } from "./admin_client.ts";
import type { ChaosCluster } from "./chaos_cluster.ts";
import { sleepUnless } from "./sleep.ts";

/**
 * One sample: the run's time and the members that answered.
 *
 * @example
 * ```ts
 * import type { TimelineSample } from "./cluster_timeline.ts";
 * const s: TimelineSample = { t: 1500, nodes: [] };
 * ```
 */
export interface TimelineSample {
  /** The run's clock, ms. */
  readonly t: number;
  /** Metrics of the members that answered. */
  readonly nodes: readonly AdminMetrics[];
}

const _MAX_SAMPLES = 20_000;

/**
 * Samples the members' metrics every `everyMs` while a run lasts.
 *
 * @example
 * ```ts
 * import { ClusterTimeline } from "./cluster_timeline.ts";
 * const timeline = new ClusterTimeline();
 * console.assert(timeline.snapshotCount() === 0 && timeline.linesBetween(0, 1).length === 0);
 * ```
 */
export class ClusterTimeline {
  /** The samples, oldest first (at most 20,000: the oldest are dropped). */
  readonly samples: TimelineSample[] = [];
  readonly #snapshots = new Map<number, Set<number>>();

  /** Samples until `signal` aborts. */
  async watch(cluster: ChaosCluster, signal: AbortSignal, everyMs = 500): Promise<void> {
    for (let i = 0; !signal.aborted && i < 10_000_000; i++) {
      await this.sample(cluster);
      await sleepUnless(everyMs, signal);
    }
  }

  /** Takes one sample. */
  async sample(cluster: ChaosCluster): Promise<void> {
    const all = await cluster.allMetrics();
    const nodes = [...all.values()].sort((a, b) => a.id - b.id);
    this.samples.push({ t: cluster.options.clock(), nodes });
    if (this.samples.length > _MAX_SAMPLES) this.samples.shift();
    for (const m of nodes) {
      if (typeof m.snapshot !== "number") continue;
      let set = this.#snapshots.get(m.id);
      if (set === undefined) this.#snapshots.set(m.id, set = new Set());
      set.add(m.snapshot);
    }
  }

  /** The most distinct snapshots seen on one node. */
  snapshotCount(): number {
    let best = 0;
    for (const set of this.#snapshots.values()) best = Math.max(best, set.size);
    return best;
  }

  /**
   * The samples within `[from, to]` ms, one line each:
   * `t=… 1:L5 c=120 a=120 | 2:F5 c=120 a=118 | …` (role initial, term).
   */
  linesBetween(from: number, to: number): string[] {
    return this.samples.filter((s) => s.t >= from && s.t <= to).map((s) =>
      `t=${s.t.toFixed(0)} ` +
      (s.nodes.map((m) =>
        `${m.id}:${(m.state[0] ?? "?").toUpperCase()}${m.term} c=${m.committed} a=${m.applied}` +
        (m.leader !== null && m.state !== "leader" ? ` ->${m.leader}` : "")
      ).join(" | ") || "(no member answered)")
    );
  }
}
