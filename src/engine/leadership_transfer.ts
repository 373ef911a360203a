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
 * The transfer is part of the leader's state (leader_state.ts); whether the
 * target caught up is checked again after every append a peer accepts
 * (`afterLeaderProgress`, leader_progress.ts), and the deadline on every
 * tick (`leaderTick`).
 *
 * @module
 */

import { isVoter, type NodeId } from "../types.ts";
import type { AdminResult } from "./commands.ts";
import type { EngineCore } from "./engine_core.ts";
import type { LeaderState } from "./leader_state.ts";
import { replicateTo } from "./leader_replication.ts";

/**
 * Starts handing leadership to `to`. Transferring to oneself is a no-op
 * that succeeds; to a node that is not a voter it is refused.
 */
export function transferLeader(core: EngineCore, to: NodeId): AdminResult {
  const leader = core.leader;
  if (leader === null) return { ok: false, reason: "not-leader", leaderId: core.leaderId };
  if (to === core.id) return { ok: true, logId: null };
  if (!isVoter(core.effective().membership, to) || !leader.progress.has(to)) {
    return { ok: false, reason: "not-voter", leaderId: core.id, nodeId: to };
  }
  const transfer = { to, deadline: core.now + core.config.electionTimeoutMax, sent: false };
  leader.transfer = transfer;
  maybeSendTimeoutNow(core, leader);
  if (!transfer.sent) replicateTo(core, leader, to, false);
  return { ok: true, logId: null };
}

/**
 * Sends TimeoutNow once the transfer target holds the whole log. Called
 * when the transfer starts and after every append a peer accepts
 * (`afterLeaderProgress`).
 */
export function maybeSendTimeoutNow(core: EngineCore, leader: LeaderState): void {
  const t = leader.transfer;
  if (t === null || t.sent) return;
  const p = leader.progress.get(t.to);
  if (p === undefined || p.match !== core.log.lastIndex()) return;
  t.sent = true;
  leader.leaseFloorRound = Infinity; // No lease for the rest of this term: see the module doc.
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
 */
export function expireTransfer(core: EngineCore, leader: LeaderState): void {
  const t = leader.transfer;
  if (t === null || core.now < t.deadline) return;
  leader.transfer = null;
}
