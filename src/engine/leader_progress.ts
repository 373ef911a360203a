/**
 * How a leader moves on. The leader's event handlers put the replication
 * building blocks (leader_replication.ts) together; those report what moved
 * (a quorum acknowledged a newer round, the commit index advanced, a peer
 * accepted an append), and `afterLeaderProgress` reacts, in one place:
 * serves waiting reads (read_index.ts), finishes a membership change
 * (membership_change.ts), continues a leadership transfer
 * (leadership_transfer.ts).
 *
 * The building blocks only call downward; nothing below this file calls
 * back up into it. Each reaction runs right after the step that caused it,
 * so commands come out in the order the steps happen. (The one round a
 * building block acknowledges itself, a ReadIndex round that a single
 * voter confirms at once, is served where it starts: `read_index.ts`.)
 *
 * @module
 */

import type { AppendResponse } from "../messages.ts";
import type { NodeId } from "../types.ts";
import type { EngineCore } from "./engine_core.ts";
import type { LeaderState } from "./leader_state.ts";
import {
  ackRound,
  advanceCommit,
  appendBlankEntry,
  onAppendAccepted,
  onAppendRejected,
  onRoundAck,
  replicateTo,
  sendHeartbeats,
  syncCommit,
} from "./leader_replication.ts";
import { expireTransfer, maybeSendTimeoutNow } from "./leadership_transfer.ts";
import { maybeFinalizeMembership } from "./membership_change.ts";
import { onOwnTermCommitted, releaseReads } from "./read_index.ts";
import { becomeFollower, becomeLeader } from "./roles.ts";

/**
 * What moved on a leader, as the building blocks report it.
 *
 * @example
 * ```ts
 * import type { LeaderProgress } from "./leader_progress.ts";
 * const moved: LeaderProgress = { committed: true };
 * ```
 */
export interface LeaderProgress {
  /** A quorum acknowledged a newer heartbeat round (`onRoundAck`). */
  readonly roundAcked?: boolean;
  /** The commit index advanced (`advanceCommit`). */
  readonly committed?: boolean;
  /** A peer accepted an append: a transfer's target may have caught up. */
  readonly appendAccepted?: boolean;
}

/**
 * Reacts to what moved: a newer quorum round serves the reads waiting for
 * it; a commit serves the reads waiting for the leader's first commit and
 * moves a membership change on (which may step the leader down); an
 * accepted append may let a transfer send TimeoutNow.
 */
export function afterLeaderProgress(
  core: EngineCore,
  leader: LeaderState,
  moved: LeaderProgress,
): void {
  if (moved.roundAcked) releaseReads(core, leader);
  if (moved.committed) {
    onOwnTermCommitted(core, leader);
    maybeFinalizeMembership(core, leader);
  }
  if (moved.appendAccepted && core.leader === leader) maybeSendTimeoutNow(core, leader);
}

/**
 * Takes office after winning an election: becomes leader (roles.ts),
 * appends the blank entry of the new term and replicates it. A single
 * voter acknowledges and commits it at once.
 */
export function takeOffice(core: EngineCore): void {
  const leader = becomeLeader(core);
  appendBlankEntry(core, leader);
  afterLeaderProgress(core, leader, { roundAcked: onRoundAck(core, leader) });
  afterLeaderProgress(core, leader, { committed: advanceCommit(core, leader) });
}

/**
 * Handles a peer's answer to an append request: steps down on a higher
 * term; otherwise records the round it echoes and what it accepted (or
 * where it conflicts), then sends it what it still lacks.
 */
export function handleAppendResponse(core: EngineCore, from: NodeId, res: AppendResponse): void {
  if (res.term > core.vote.term) {
    becomeFollower(core, res.term, null);
    return;
  }
  const leader = core.leader;
  if (leader === null || res.term !== core.vote.term) return;
  const p = leader.progress.get(from);
  if (p === undefined) return;
  p.ackedAt = core.now;
  if (ackRound(core, leader, p, res.round)) {
    afterLeaderProgress(core, leader, { roundAcked: true });
  }
  if (res.success) {
    if (res.index > core.log.lastIndex()) return; // Not from this leader's log: ignore.
    const committed = onAppendAccepted(core, leader, p, res.index);
    afterLeaderProgress(core, leader, { committed, appendAccepted: true });
  } else {
    onAppendRejected(core, leader, p, res);
  }
  if (core.leader === leader) {
    replicateTo(core, leader, from, false);
    syncCommit(core, leader, from);
  }
}

/**
 * Storage made more of the leader's log durable: its own index counts
 * towards the commit.
 */
export function commitDurable(core: EngineCore): void {
  const leader = core.leader;
  if (leader === null) return;
  afterLeaderProgress(core, leader, { committed: advanceCommit(core, leader) });
}

/**
 * Sends a heartbeat round now (a single voter's round is acknowledged at
 * once).
 */
export function heartbeatNow(core: EngineCore, leader: LeaderState): void {
  afterLeaderProgress(core, leader, { roundAcked: sendHeartbeats(core, leader) });
}

/**
 * Leader timers, on every tick: check-quorum (step down when no quorum
 * acknowledged a round for the maximum election timeout), heartbeats, and
 * the transfer deadline.
 */
export function leaderTick(core: EngineCore, leader: LeaderState): void {
  const c = core.config;
  // The same expression as nextDeadline(): `now - since >= T` can differ by rounding.
  if (
    _checksQuorum(core) && core.now >= leader.checkQuorumDeadline(c.electionTimeoutMax)
  ) {
    becomeFollower(core, core.vote.term, null, "check-quorum");
    return;
  }
  if (core.now >= leader.heartbeatDue) {
    leader.heartbeatDue = core.now + c.heartbeatInterval;
    if (core.heartbeatEnabled) heartbeatNow(core, leader);
  }
  if (core.leader === leader) expireTransfer(core, leader);
}

/**
 * The earliest time at which {@linkcode leaderTick} has something to do:
 * the next heartbeat, the check-quorum deadline, the transfer deadline.
 */
export function leaderDeadline(core: EngineCore, leader: LeaderState): number {
  let d = leader.heartbeatDue;
  if (_checksQuorum(core)) {
    d = Math.min(d, leader.checkQuorumDeadline(core.config.electionTimeoutMax));
  }
  if (leader.transfer !== null) d = Math.min(d, leader.transfer.deadline);
  return d;
}

/**
 * Whether check-quorum applies: it is on, and this leader alone is not a
 * quorum of every voter set. A single voter is its own quorum at every
 * moment; timing its own acknowledgements would make it step down whenever
 * its tick comes later than the maximum election timeout (a stalled event
 * loop), abandoning its clients' writes for nothing.
 */
function _checksQuorum(core: EngineCore): boolean {
  if (!core.config.checkQuorum) return false;
  return !core.voterSets().every((set) => set.length === 1 && set[0] === core.id);
}
