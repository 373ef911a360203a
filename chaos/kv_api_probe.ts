/**
 * Finds out which KV API the node serves: the contract's (with
 * `POST /kv/:key/cas` and `GET ?read=`) or the older one.
 *
 * @module
 */

import type { ChaosCluster } from "./chaos_cluster.ts";
import type { KvApi } from "./kv_client.ts";

/**
 * Asks the leader for a compare-and-set on a probe key (`chaos-probe`, not
 * one of the workload's): a 404 means the route does not exist.
 *
 * @example
 * ```ts ignore
 * const api = await detectKvApi(cluster);
 * ```
 */
export async function detectKvApi(cluster: ChaosCluster): Promise<KvApi> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const leader = await cluster.waitLeader(10_000);
    const base = cluster.nodes.get(leader)!.url;
    try {
      const res = await fetch(`${base}/kv/chaos-probe/cas`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ expected: null, value: "probe" }),
        redirect: "manual",
        signal: AbortSignal.timeout(3000),
      });
      await res.body?.cancel();
      if (res.status === 404) return { cas: false, readParam: "consistency" };
      if (res.status === 200) return { cas: true, readParam: "read" };
    } catch {
      // try again
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error("the KV API probe (POST /kv/chaos-probe/cas) got no usable answer");
}
