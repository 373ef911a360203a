/**
 * {@linkcode startRun}: what every chaos run does first — clean up what
 * dead harnesses left behind, start the run's clock, make its directory
 * (`<base>/<time>-<mode>-<runtime>-n<N>-seed<S>`) and open its event log.
 *
 * @module
 */

import { appendFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { cleanupStaleMounts } from "./small_disk.ts";
import { cleanupStale } from "./stale_cleanup.ts";

/**
 * A started run: its clock (ms since the start), its directory, and a
 * writer of lines to its `events.log`.
 *
 * @example
 * ```ts
 * import type { RunStart } from "./run_start.ts";
 * function stamp(run: RunStart, what: string): void {
 *   run.event(`t=${run.clock().toFixed(0)} ${what}`);
 * }
 * ```
 */
export interface RunStart {
  /** Milliseconds since the run started. */
  readonly clock: () => number;
  /** The run's directory (node logs, history, report). */
  readonly runDir: string;
  /** Appends a line to the run's `events.log`. */
  event(line: string): void;
}

/**
 * Starts a run of `mode`: cleans up stale processes, namespaces and mounts
 * (each cleanup reported through `log`), and makes the run directory.
 */
export async function startRun(
  mode: string,
  o: {
    readonly runtime: string;
    readonly nodes: number;
    readonly seed: number;
    readonly baseDir?: string;
    readonly log?: (line: string) => void;
  },
): Promise<RunStart> {
  for (const line of [...cleanupStale(), ...cleanupStaleMounts()]) o.log?.(line);
  const t0 = performance.now();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const runDir = join(
    o.baseDir ?? "/tmp/xraft-chaos/runs",
    `${stamp}-${mode}-${o.runtime}-n${o.nodes}-seed${o.seed}`,
  );
  await mkdir(runDir, { recursive: true });
  const eventsPath = join(runDir, "events.log");
  return {
    clock: () => performance.now() - t0,
    runDir,
    event: (line) => appendFileSync(eventsPath, line + "\n"),
  };
}
