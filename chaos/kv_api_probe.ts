/**
 * Finds out which KV API the node serves: the contract's (with
 * `POST /kv/:key/cas` and `GET ?read=`, and whether `?read=follower`
 * exists) or the older one.
 *
 * @module
 */

import type { ChaosCluster } from "./chaos_cluster.ts";
import type { KvApi } from "./kv_client.ts";

/**
 * Asks the leader for a compare-and-set on a probe key (`chaos-probe`, not
 * one of the workload's): a 404 means the route does not exist.
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
      if (res.status === 200) {
        return { cas: true, readParam: "read", followerReads: await _followerReads(base) };
      }
    } catch {
      // try again
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error("the KV API probe (POST /kv/chaos-probe/cas) got no usable answer");
}

/** Whether `GET /kv/:key?read=follower` is served (400 from a node that lacks it). */
async function _followerReads(base: string): Promise<boolean> {
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const res = await fetch(`${base}/kv/chaos-probe?read=follower`, {
        signal: AbortSignal.timeout(3000),
      });
      await res.body?.cancel();
      if (res.status === 200 || res.status === 404) return true;
      if (res.status === 400) return false;
    } catch {
      // try again
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
}
