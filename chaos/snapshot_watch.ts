/**
 * Watches the members' metrics during a run to count the snapshots taken
 * (distinct snapshot indexes seen per node), so the summary shows that
 * snapshots and compaction happened under the faults.
 *
 * @module
 */

import type { ChaosCluster } from "./chaos_cluster.ts";
import { sleepUnless } from "./sleep.ts";

/**
 * Snapshot indexes seen, per node.
 *
 * @example
 * ```ts
 * import { SnapshotWatch } from "./snapshot_watch.ts";
 * console.assert(new SnapshotWatch().count() === 0);
 * ```
 */
export class SnapshotWatch {
  readonly #seen = new Map<number, Set<number>>();
  /** The largest purged index seen on any node. */
  purged = 0;

  /** Samples every second until `signal`. */
  async watch(cluster: ChaosCluster, signal: AbortSignal): Promise<void> {
    for (let i = 0; !signal.aborted && i < 1_000_000; i++) {
      await this.sample(cluster);
      await sleepUnless(1000, signal);
    }
  }

  /** Samples the members' metrics once. */
  async sample(cluster: ChaosCluster): Promise<void> {
    for (const [id, m] of await cluster.allMetrics()) {
      if (m.snapshot !== null && m.snapshot !== undefined) {
        let set = this.#seen.get(id);
        if (set === undefined) this.#seen.set(id, set = new Set());
        set.add(m.snapshot);
      }
      if (typeof m.purged === "number" && m.purged > this.purged) this.purged = m.purged;
    }
  }

  /** The most distinct snapshots seen on one node. */
  count(): number {
    let best = 0;
    for (const set of this.#seen.values()) best = Math.max(best, set.size);
    return best;
  }
}
