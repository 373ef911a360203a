/**
 * Role changes, side by side: what becoming a follower (or learner), a
 * pre-candidate, a candidate or the leader sets up, and how the role follows
 * the membership. Only state changes here; what each role then does is
 * elsewhere: campaigns, votes and the election timer in `election.ts`,
 * taking office (the blank entry, the first replication) in
 * `leader_progress.ts`.
 *
 * Rules kept here:
 * - A leader's state lives in one `LeaderState`, created by `becomeLeader`
 *   and dropped by `becomeFollower` (which fails the reads it held).
 * - Becoming a follower, a candidate or a pre-candidate, and hearing from
 *   the leader, restart the election timer; a leader has none.
 * - A higher term is persisted (with no vote) before anything else happens
 *   in it.
 *
 * @module
 */

import type { EngineCore, RoleReason } from "./engine_core.ts";
import { LeaderState } from "./leader_state.ts";
import { type NodeId, votersOf } from "../types.ts";
import type { ReadIndexResponse } from "../messages.ts";
import type { ReadFailure } from "./commands.ts";

/**
 * Becomes a follower (or learner) in `term`, following `leaderId` if known.
 * Persists the term when it rises. A leader steps down: its state is
 * dropped and the reads it held fail (`quorum-lost` when check-quorum
 * deposed it, `not-leader` otherwise). `reason` (for logs) defaults to
 * `higher-term` when the term rises; a leader handing over to the node
 * that starts that term steps down for `leadership-transfer`.
 */
export function becomeFollower(
  core: EngineCore,
  term: number,
  leaderId: NodeId | null,
  reason?: RoleReason,
): void {
  const leader = core.leader;
  let why = reason ?? (term > core.vote.term ? "higher-term" : "leader-seen");
  if (why === "higher-term" && leader !== null && leader.transfer !== null) {
    why = "leadership-transfer";
  }
  core.roleReason = why;
  if (term > core.vote.term) core.saveVote({ term, votedFor: null, committed: false });
  core.role = core.isVoter() ? "follower" : "learner";
  core.preCandidate = false;
  core.votesGranted = new Set();
  core.campaignByTransfer = false;
  core.leaderId = leaderId;
  if (leader !== null) {
    // Deposed by check-quorum: no majority answered for an election timeout.
    const lost: ReadFailure | null = why === "check-quorum"
      ? { kind: "quorum-lost", acked: _votersHeardFrom(core, leader) }
      : null;
    core.leader = null;
    for (const r of leader.pendingReads()) {
      if (r.peer === true) {
        const message: ReadIndexResponse = {
          type: "read-index-response",
          term: core.vote.term,
          index: null,
          leaderId: core.leaderId,
        };
        core.emit({ type: "reply", token: r.token, message });
      } else {
        core.emit({
          type: "read-failed",
          token: r.token,
          reason: lost ?? { kind: "not-leader", leaderId: core.leaderId },
        });
      }
    }
  }
  core.resetElectionTimer();
}

/**
 * The voters a deposed leader heard from within the window check-quorum
 * judged: itself first, then, in id order, the peers that acknowledged a
 * heartbeat round sent less than the maximum election timeout ago. (No
 * quorum acknowledged such a round, or check-quorum would not have fired:
 * these peers acknowledged rounds newer than the quorum's.)
 */
function _votersHeardFrom(core: EngineCore, leader: LeaderState): NodeId[] {
  const since = core.now - core.config.electionTimeoutMax;
  const voters = votersOf(core.effective().membership); // ascending
  const peers = voters.filter((id) => {
    const p = id === core.id ? undefined : leader.progress.get(id);
    return p !== undefined && p.ackedRound > leader.quorumRound &&
      (leader.roundSentAt.get(p.ackedRound) ?? -Infinity) > since;
  });
  return voters.includes(core.id) ? [core.id, ...peers] : peers;
}

/**
 * A request from `from`, leader of `term` (not below ours): follows it,
 * commits the vote for it (no other leader can win this term), and counts
 * it as heard from now (its lease; the election timer restarts).
 */
export function followLeader(core: EngineCore, term: number, from: NodeId): void {
  if (term > core.vote.term || core.role === "candidate" || core.leaderId !== from) {
    becomeFollower(core, term, from);
  }
  const v = core.vote;
  if (!v.committed && (v.votedFor === null || v.votedFor === from)) {
    core.saveVote({ term: v.term, votedFor: from, committed: true });
  }
  core.leaderSeenAt = core.now;
  core.resetElectionTimer();
}

/**
 * Becomes a pre-candidate: a candidate asking for pre-votes for the next
 * term, changing neither term nor vote. Counts its own pre-vote.
 */
export function becomePreCandidate(core: EngineCore, reason: RoleReason): void {
  core.role = "candidate";
  core.roleReason = reason;
  core.preCandidate = true;
  core.campaignByTransfer = false;
  core.leaderId = null;
  core.votesGranted = new Set([core.id]);
  core.resetElectionTimer();
}

/**
 * Becomes a candidate of the next term: votes for itself (persisted; the
 * vote counts once durable: `pendingSelfVote`). `transfer`: a leader asked
 * for this election (TimeoutNow). `reason`: why it campaigns (for logs).
 * Returns the new term.
 */
export function becomeCandidate(core: EngineCore, transfer: boolean, reason: RoleReason): number {
  const term = core.vote.term + 1;
  core.roleReason = reason;
  core.saveVote({ term, votedFor: core.id, committed: false });
  core.role = "candidate";
  core.preCandidate = false;
  core.campaignByTransfer = transfer;
  core.leaderId = null;
  core.votesGranted = new Set();
  core.resetElectionTimer();
  core.pendingSelfVote = { term, io: core.ioSeq };
  return term;
}

/**
 * Becomes the leader of the current term (the election is won): commits
 * its own vote, stops the election timer and starts a fresh `LeaderState`
 * with one progress per peer, probed from the next index. Appending the
 * blank entry and replicating it is taking office's next step
 * (`takeOffice`, leader_progress.ts).
 */
export function becomeLeader(core: EngineCore): LeaderState {
  const term = core.vote.term;
  core.saveVote({ term, votedFor: core.id, committed: true });
  core.role = "leader";
  core.roleReason = "election-won";
  core.preCandidate = false;
  core.leaderId = core.id;
  core.votesGranted = new Set();
  core.campaignByTransfer = false;
  core.electionDeadline = Infinity;
  core.leaderSeenAt = core.now;
  const leader = new LeaderState(core.now, core.now + core.config.heartbeatInterval);
  core.leader = leader;
  core.syncProgress();
  return leader;
}

/**
 * The effective membership changed (appended or reverted): the role follows
 * it. A candidate that is no longer a voter gives up; a follower becomes a
 * learner or back. A leader keeps leading (its replication targets already
 * follow the membership: `EngineCore.syncProgress`); it steps down only once
 * a configuration without it commits (membership_change.ts).
 */
export function followMembership(core: EngineCore): void {
  if (core.leader !== null) return;
  if (core.role === "candidate") {
    if (!core.isVoter()) becomeFollower(core, core.vote.term, core.leaderId, "removed");
    return;
  }
  const voter = core.isVoter();
  const role = voter ? "follower" : "learner";
  if (role !== core.role) {
    core.role = role;
    core.roleReason = "membership";
  }
  if (voter && core.electionDeadline === Infinity) core.resetElectionTimer();
}
