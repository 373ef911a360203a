/**
 * Leadership transfer: the leader catches the target up, then sends it
 * TimeoutNow so it campaigns at once (skipping pre-vote, and voters' leader
 * lease). Proposals are refused while a transfer is pending; it is abandoned
 * after the maximum election timeout, and the old leader keeps leading.
 *
 * Once a TimeoutNow is out, the leader lease is void for the rest of the
 * term: the message may still arrive at any later time, and voters skip
 * their lease for the election it starts.
 *
 * @module
 */

import { isVoter, type NodeId } from "../types.ts";
import type { AdminResult } from "./commands.ts";
import type { EngineCore } from "./engine_core.ts";
import { replicateTo } from "./leader_replication.ts";

/**
 * Starts handing leadership to `to`. Transferring to oneself is a no-op
 * that succeeds; to a node that is not a voter it is refused.
 *
 * @example
 * ```ts ignore
 * transferLeader(core, 2); // { ok: true, logId: null }
 * ```
 */
export function transferLeader(core: EngineCore, to: NodeId): AdminResult {
  if (core.role !== "leader") return { ok: false, reason: "not-leader", leaderId: core.leaderId };
  if (to === core.id) return { ok: true, logId: null };
  if (!isVoter(core.effective().membership, to) || !core.progress.has(to)) {
    return { ok: false, reason: "not-voter", leaderId: core.id, nodeId: to };
  }
  core.transfer = { to, deadline: core.now + core.config.electionTimeoutMax, sent: false };
  maybeSendTimeoutNow(core);
  if (!core.transfer.sent) replicateTo(core, to, false);
  return { ok: true, logId: null };
}

/**
 * Sends TimeoutNow once the transfer target holds the whole log.
 *
 * @example
 * ```ts ignore
 * maybeSendTimeoutNow(core);
 * ```
 */
export function maybeSendTimeoutNow(core: EngineCore): void {
  const t = core.transfer;
  if (t === null || t.sent) return;
  const p = core.progress.get(t.to);
  if (p === undefined || p.match !== core.log.lastIndex()) return;
  t.sent = true;
  core.leaseFloorRound = Infinity; // No lease for the rest of this term: see the module doc.
  core.emit({
    type: "send",
    to: t.to,
    message: {
      type: "timeout-now",
      term: core.vote.term,
      leaderId: core.id,
      clusterId: core.clusterId(),
    },
  });
}

/**
 * Gives up a transfer whose deadline passed. If its TimeoutNow went out,
 * the lease stays void for the rest of the term.
 *
 * @example
 * ```ts ignore
 * expireTransfer(core);
 * ```
 */
export function expireTransfer(core: EngineCore): void {
  const t = core.transfer;
  if (t === null || core.now < t.deadline) return;
  core.transfer = null;
}
