/**
 * The checks after healing: every member has applied the same index, every
 * member holds the same value for every key (`GET ?read=local` on each),
 * and every acknowledged write of a unique key is there.
 *
 * @module
 */

import type { RegisterValue } from "../testing/linearizability.ts";
import type { ChaosCluster } from "./chaos_cluster.ts";
import type { KvClient } from "./kv_client.ts";

/**
 * What the convergence checks found.
 *
 * @example
 * ```ts
 * import type { ConvergenceResult } from "./convergence_check.ts";
 * const r: ConvergenceResult = { applied: 812, anomalies: [], values: new Map([["r0", "c1-7"]]) };
 * ```
 */
export interface ConvergenceResult {
  /** The applied index all members reached (`null` if they did not converge). */
  readonly applied: number | null;
  /** One line per anomaly. */
  readonly anomalies: string[];
  /** The agreed value of each key checked (when the members agree). */
  readonly values: Map<string, RegisterValue>;
}

/**
 * Waits (up to `timeoutMs`) until the members converge, then compares the
 * local values of `keys` on every member and checks `acknowledged`.
 */
export async function checkConvergence(
  cluster: ChaosCluster,
  client: KvClient,
  keys: readonly string[],
  acknowledged: ReadonlyMap<string, string>,
  timeoutMs: number,
): Promise<ConvergenceResult> {
  const anomalies: string[] = [];
  const values = new Map<string, RegisterValue>();
  const metrics = await cluster.waitConverged(timeoutMs);
  if (metrics === null) {
    const now = await cluster.allMetrics();
    const seen = cluster.members().map((n) => {
      const m = now.get(n.id);
      return m === undefined
        ? `${n.id}: no answer (process ${n.state}, pid ${n.pid})`
        : `${m.id}: ${m.state} term ${m.term} leader ${m.leader} applied ${m.applied} ` +
          `committed ${m.committed} voters [${m.membership.voters}]`;
    });
    anomalies.push(
      `no convergence within ${timeoutMs} ms (voters [${cluster.voters}]; ${seen.join("; ")})`,
    );
    return { applied: null, anomalies, values };
  }
  const applied = [...metrics.values()][0]?.applied ?? 0;
  const members = cluster.members();
  const all = [...new Set([...keys, ...acknowledged.keys()])];
  const queue = [...all];
  const worker = async (): Promise<void> => {
    for (let key = queue.pop(); key !== undefined; key = queue.pop()) {
      const seen = new Map<number, RegisterValue | string>();
      for (const node of members) {
        let out = await client.read(node.url, key, "local");
        for (let retry = 0; out.status !== "ok" && retry < 3; retry++) {
          out = await client.read(node.url, key, "local");
        }
        seen.set(node.id, out.status === "ok" ? out.output : `<${out.reason}>`);
      }
      const distinct = new Set(seen.values());
      if (distinct.size > 1) {
        const list = [...seen].map(([id, v]) => `${id}=${JSON.stringify(v)}`).join(" ");
        anomalies.push(`key ${key}: members differ: ${list}`);
        continue;
      }
      const value = [...distinct][0] as RegisterValue;
      values.set(key, value);
      const expected = acknowledged.get(key);
      if (expected !== undefined && value !== expected) {
        anomalies.push(
          `key ${key}: acknowledged write ${JSON.stringify(expected)} lost (found ${
            JSON.stringify(value)
          } on every member)`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { applied, anomalies, values };
}
