/**
 * Checks every peer message passes before the protocol looks at it: it
 * comes from this node's cluster, and its term is one a real cluster can
 * reach. A request that fails is refused (the runtime answers it with a
 * `RaftError`); a response that fails is dropped. Either way nothing changes.
 *
 * @module
 */

import type { RaftMessage } from "../messages.ts";
import { assertNever } from "./_assert_never.ts";
import { compareLogId, MAX_PEER_TERM, MAX_TERM, type NodeId } from "../types.ts";
import type {
  AppendRequest,
  InstallSnapshotRequest,
  ReadIndexRequest,
  TimeoutNowRequest,
  VoteRequest,
} from "../messages.ts";
import type { Refusal } from "./commands.ts";
import type { EngineCore } from "./engine_core.ts";

/**
 * Elections a node may be behind its cluster above `MAX_PEER_TERM`: see
 * {@linkcode largestPeerTerm}.
 *
 * @example
 * ```ts
 * import { PEER_TERM_SLACK } from "./peer_checks.ts";
 * console.assert(PEER_TERM_SLACK === 2 ** 16);
 * ```
 */
export const PEER_TERM_SLACK: number = 2 ** 16;

/**
 * The largest term a node at term `own` takes from a peer: `MAX_PEER_TERM`,
 * or up to {@linkcode PEER_TERM_SLACK} terms above it or above `own`
 * (never above `MAX_TERM`). One message can push a node's term no higher
 * than `MAX_PEER_TERM` plus the slack, so terms stay far from `MAX_TERM`;
 * and a cluster that was pushed there still elects leaders above it — the
 * next elections' terms are refused by nobody, a node that lags behind them
 * included.
 *
 * @example
 * ```ts
 * import { largestPeerTerm, PEER_TERM_SLACK } from "./peer_checks.ts";
 * import { MAX_PEER_TERM } from "../types.ts";
 * console.assert(largestPeerTerm(3) === MAX_PEER_TERM + PEER_TERM_SLACK);
 * console.assert(largestPeerTerm(MAX_PEER_TERM + 5) === MAX_PEER_TERM + 5 + PEER_TERM_SLACK);
 * ```
 */
export function largestPeerTerm(own: number): number {
  return Math.min(MAX_TERM, Math.max(MAX_PEER_TERM, own) + PEER_TERM_SLACK);
}

/**
 * Why `message` from `from` must be refused, or `null` if it may be
 * handled. A node that has a membership (initialized, or joined) accepts
 * requests of its own cluster only; a blank node accepts any cluster's, and
 * takes that cluster's id with the first membership entry (or snapshot) it
 * stores. Terms above {@linkcode largestPeerTerm} are refused from anyone. A request
 * from a node this node believes removed is refused as `not-a-member` when
 * that changes nothing (see {@linkcode removedSender}).
 */
export function peerRefusal(core: EngineCore, from: NodeId, message: RaftMessage): Refusal | null {
  if (message.term > MAX_PEER_TERM) {
    const max = largestPeerTerm(core.vote.term);
    if (message.term > max) return { kind: "term-too-high", term: message.term, max };
  }
  switch (message.type) {
    case "append":
    case "vote":
    case "pre-vote":
    case "timeout-now":
    case "install-snapshot":
    case "read-index": {
      const own = core.effective().membership;
      if (own.configs.length === 0) return null; // blank: not in any cluster yet
      const expected = own.clusterId;
      if (message.clusterId !== expected) {
        return { kind: "cluster-mismatch", expected, got: message.clusterId, from };
      }
      return removedSender(core, from, message) ? { kind: "not-a-member", from } : null;
    }
    case "append-response":
    case "vote-response":
    case "pre-vote-response":
    case "timeout-now-response":
    case "install-snapshot-response":
    case "read-index-response":
      return null;
    default:
      return assertNever(message);
  }
}

/**
 * Whether a request from `from` is refused as coming from a node that is no
 * longer (or not yet, as far as this node knows) a member — so that the
 * sender learns it, and a removed node stops disturbing the cluster. Only
 * when it is safe: `from` is in neither half of this node's effective
 * membership, voters and learners alike; that membership is committed (not
 * a change in flight); and the request would be refused anyway:
 *
 * - an append, TimeoutNow, snapshot or read-index request of an older term
 *   than this node's;
 * - a vote or pre-vote of an older term, from a candidate whose log is not
 *   at least as up-to-date as this node's, or that a live leader's lease
 *   refuses.
 *
 * Anything else goes to the protocol as before. A member this node has not
 * heard of yet (its log lags behind the entry adding it) may lead, or be
 * the only candidate able to win: its appends carry a term at least this
 * node's, and its log is newer than this node's, so neither is refused here.
 */
export function removedSender(
  core: EngineCore,
  from: NodeId,
  request:
    | AppendRequest
    | VoteRequest
    | TimeoutNowRequest
    | InstallSnapshotRequest
    | ReadIndexRequest,
): boolean {
  const effective = core.effective();
  const membership = effective.membership;
  if (membership.nodes.has(from)) return false;
  for (const voters of membership.configs) if (voters.includes(from)) return false;
  // A change in flight: the sender may be in the configuration that comes next.
  if (effective.logId !== null && effective.logId.index > core.commit) return false;
  const term = core.vote.term;
  if (request.term < term) return true;
  switch (request.type) {
    case "append":
    case "timeout-now":
    case "install-snapshot":
    case "read-index":
      return false;
    case "vote":
    case "pre-vote":
      return compareLogId(request.lastLogId, core.log.lastLogId()) < 0 ||
        (request.term > term && !request.transfer && core.inLeaderLease());
    default:
      return assertNever(request);
  }
}
