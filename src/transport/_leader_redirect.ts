/**
 * The JSON answer of an HTTP route whose call must go to the leader, shared
 * by the admin routes and the KV routes: 307 with `Location` = the leader's
 * address followed by the same path and query, or 503 `NoLeader` with
 * `Retry-After` when no leader (or no leader address) is known.
 *
 * @module
 */

import type { ForwardToLeader } from "../errors.ts";
import type { NodeId, RaftNode } from "../types.ts";

/**
 * The answer to `e` for a request to `requestUrl`. `leaderNode` is the
 * leader's record when `e` does not carry one (e.g. looked up in this
 * node's membership); `selfId`, when given, is never redirected to (a node
 * that names itself as leader while refusing has no leader to offer).
 *
 * @example
 * ```ts
 * import { leaderRedirect } from "./_leader_redirect.ts";
 * import { ForwardToLeader } from "../errors.ts";
 * const res = leaderRedirect("http://n1/kv/a?x=1", new ForwardToLeader(2, { addr: "http://n2" }));
 * console.assert(res.status === 307 && res.headers.get("location") === "http://n2/kv/a?x=1");
 * ```
 */
export function leaderRedirect(
  requestUrl: string,
  e: ForwardToLeader,
  leaderNode: RaftNode | null = null,
  selfId: NodeId | null = null,
): Response {
  const leaderId = e.leaderId;
  const leader = e.leaderNode ?? leaderNode;
  if (leader === null || leader.addr === "" || leaderId === null || leaderId === selfId) {
    const message = leaderId === null || leaderId === selfId
      ? "no leader is known"
      : `the address of leader ${leaderId} is unknown`;
    return Response.json({ error: "NoLeader", message }, {
      status: 503,
      headers: { "retry-after": "1" },
    });
  }
  const url = new URL(requestUrl);
  const location = leader.addr.replace(/\/+$/, "") + url.pathname + url.search;
  return Response.json({ error: e.code, message: e.message, leaderId, location }, {
    status: 307,
    headers: { location },
  });
}
