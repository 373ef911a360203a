/**
 * Leader election: the election timer, campaigns (with pre-vote), granting
 * votes, counting them, and the TimeoutNow that starts an election for a
 * leadership transfer. The state each step moves into (pre-candidate,
 * candidate, follower, leader) is set up by `roles.ts`; a won election takes
 * office through `takeOffice` (leader_progress.ts).
 *
 * Rules kept here:
 * - A vote is granted only to a candidate whose log is at least as
 *   up-to-date, once per term, and only after it is durable (the reply is
 *   held back until storage reports the vote flushed).
 * - A candidate counts its own vote, and sends its requests, only once that
 *   vote is durable.
 * - With check-quorum, a voter that heard from a live leader within the
 *   minimum election timeout refuses (pre-)votes without changing its term,
 *   unless the leader itself asked for the election (a transfer).
 * - A pre-vote changes nobody's term or vote.
 * - A (pre-)vote from a node that is no voter of this node's committed
 *   effective membership (removed by a change it may not have seen commit)
 *   is refused without changing the term: it can neither win with the new
 *   voters' votes nor raise their term.
 *
 * @module
 */

import type { TimeoutNowRequest, VoteRequest, VoteResponse } from "../messages.ts";
import { compareLogId, isVoter, MAX_TERM, type NodeId } from "../types.ts";
import type { EngineCore, RoleReason } from "./engine_core.ts";
import { takeOffice } from "./leader_progress.ts";
import { hasQuorum } from "./quorum.ts";
import { becomeCandidate, becomeFollower, becomePreCandidate } from "./roles.ts";

/**
 * The election timer, on every tick of a node that is not leading: a voter
 * that heard from no leader for its randomized election timeout campaigns.
 * The timer is restarted by every role change (roles.ts) and by hearing
 * from the leader (`followLeader`); a leader has none.
 */
export function electionTick(core: EngineCore): void {
  if (core.now >= core.electionDeadline && core.electEnabled && core.mayCampaign()) {
    campaign(core, { transfer: false, reason: "election-timeout" });
  }
}

/**
 * When {@linkcode electionTick} next has something to do, or `Infinity`
 * (campaigning is off, or this node may not campaign).
 */
export function electionTimerDeadline(core: EngineCore): number {
  return core.electEnabled && core.mayCampaign() ? core.electionDeadline : Infinity;
}

/**
 * Starts a campaign: a pre-vote round first when enabled (and not asked for
 * by a leader), otherwise an election at the next term. Only voters campaign
 * (of the effective or, while a change is uncommitted, the committed config).
 * `reason` (for logs) defaults to `election-triggered`.
 */
export function campaign(
  core: EngineCore,
  opts: { transfer: boolean; reason?: RoleReason },
): void {
  if (!core.mayCampaign() || core.role === "leader") return;
  // The term space is spent (2^52 elections, or a forged term adopted): never overflow it.
  if (core.vote.term >= MAX_TERM) return;
  const reason = opts.reason ?? "election-triggered";
  if (core.config.preVote && !opts.transfer) startPreVote(core, reason);
  else startElection(core, opts.transfer, reason);
}

function startPreVote(core: EngineCore, reason: RoleReason): void {
  becomePreCandidate(core, reason);
  if (hasQuorum(core.voterSets(), core.votesGranted)) {
    startElection(core, false, reason);
    return;
  }
  const request: VoteRequest = {
    type: "pre-vote",
    term: core.vote.term + 1,
    candidateId: core.id,
    lastLogId: core.log.lastLogId(),
    transfer: false,
    clusterId: core.clusterId(),
  };
  for (const to of otherVoters(core)) core.emit({ type: "send", to, message: request });
}

function startElection(core: EngineCore, transfer: boolean, reason: RoleReason): void {
  core.electionsStarted++;
  // Our own vote counts once it is durable: see countOwnVoteIfDurable.
  const term = becomeCandidate(core, transfer, reason);
  const request: VoteRequest = {
    type: "vote",
    term,
    candidateId: core.id,
    lastLogId: core.log.lastLogId(),
    transfer,
    clusterId: core.clusterId(),
  };
  for (const to of otherVoters(core)) core.emitAfterIo({ type: "send", to, message: request });
  countOwnVoteIfDurable(core);
}

/**
 * Called after storage progress: counts the candidate's own vote once
 * durable (and takes office if that makes a quorum).
 */
export function countOwnVoteIfDurable(core: EngineCore): void {
  const p = core.pendingSelfVote;
  if (p === null || core.flushedIo < p.io) return;
  core.pendingSelfVote = null;
  if (core.role !== "candidate" || core.preCandidate || core.vote.term !== p.term) return;
  core.votesGranted.add(core.id);
  if (hasQuorum(core.voterSets(), core.votesGranted)) takeOffice(core);
}

function otherVoters(core: EngineCore): NodeId[] {
  const all = new Set<NodeId>();
  for (const c of core.voterSets()) for (const id of c) if (id !== core.id) all.add(id);
  return [...all].sort((a, b) => a - b);
}

/**
 * Answers a vote or pre-vote request. The reply to a real vote waits until
 * the vote (and any term change) is durable.
 */
export function handleVoteRequest(
  core: EngineCore,
  from: NodeId,
  req: VoteRequest,
  token: number,
): void {
  const pre = req.type === "pre-vote";
  const replyType = pre ? "pre-vote-response" : "vote-response";
  const refuse = (): void => {
    const message: VoteResponse = { type: replyType, term: core.vote.term, granted: false };
    if (pre) core.emit({ type: "reply", token, message });
    else core.emitAfterIo({ type: "reply", token, message });
  };
  if (req.term > core.vote.term && !req.transfer && core.inLeaderLease()) {
    // A live leader exists: ignore the campaign, keep our term.
    refuse();
    return;
  }
  if (removedCandidate(core, from)) {
    // Known to be out of the cluster's voters: its campaign changes nothing here.
    refuse();
    return;
  }
  if (req.term < core.vote.term) {
    refuse();
    return;
  }
  const upToDate = compareLogId(req.lastLogId, core.log.lastLogId()) >= 0;
  if (pre) {
    // Grant if a real vote at req.term could be granted; change nothing.
    const v = core.vote;
    const canVote = req.term > v.term ||
      v.votedFor === from ||
      (v.votedFor === null && core.leaderId === null);
    const granted = canVote && upToDate;
    core.emit({
      type: "reply",
      token,
      message: { type: replyType, term: granted ? req.term : v.term, granted },
    });
    return;
  }
  if (req.term > core.vote.term) becomeFollower(core, req.term, null);
  const v = core.vote;
  const canVote = v.votedFor === from || (v.votedFor === null && core.leaderId === null);
  if (canVote && upToDate) {
    // A repeated request (duplicated, delayed) from the candidate already voted for keeps the
    // vote as it is: once committed (its leadership known), it never goes back.
    core.saveVote({ term: v.term, votedFor: from, committed: v.votedFor === from && v.committed });
    core.resetElectionTimer();
    core.emitAfterIo({
      type: "reply",
      token,
      message: { type: replyType, term: core.vote.term, granted: true },
    });
    return;
  }
  refuse();
}

/**
 * Whether `from` is no voter of this node's effective membership while that
 * membership is committed: a node removed by a change it may not have seen
 * commit (it still campaigns, as a voter of the older configuration it
 * holds). Refusing it is safe, and keeps it from winning with the new
 * voters' votes or raising their term. A candidate added by a newer
 * configuration this node has not received yet is refused too; the voters
 * that hold that configuration decide its election.
 */
function removedCandidate(core: EngineCore, from: NodeId): boolean {
  const effective = core.effective();
  if (effective.membership.configs.length === 0) return false; // blank: no cluster yet
  if (effective.logId !== null && effective.logId.index > core.commit) return false;
  return !isVoter(effective.membership, from);
}

/**
 * Counts a vote or pre-vote response; steps down on a higher term.
 */
export function handleVoteResponse(core: EngineCore, from: NodeId, res: VoteResponse): void {
  if (res.type === "pre-vote-response") {
    if (!res.granted) {
      if (res.term > core.vote.term) becomeFollower(core, res.term, null);
      return;
    }
    if (core.role !== "candidate" || !core.preCandidate || res.term !== core.vote.term + 1) return;
    core.votesGranted.add(from);
    // The pre-vote round won: the campaign goes on for the reason it started.
    if (hasQuorum(core.voterSets(), core.votesGranted)) {
      startElection(core, false, core.roleReason);
    }
    return;
  }
  if (res.term > core.vote.term) {
    becomeFollower(core, res.term, null);
    return;
  }
  if (core.role !== "candidate" || core.preCandidate || res.term !== core.vote.term) return;
  if (!res.granted) return;
  core.votesGranted.add(from);
  if (core.votesGranted.has(core.id) && hasQuorum(core.voterSets(), core.votesGranted)) {
    takeOffice(core);
  }
}

/**
 * A leader asks this node to campaign at once (leadership transfer).
 * Honoured only from the leader this node follows in the request's term, and
 * by a voter: any other TimeoutNow (from a node it does not know as leader,
 * of another term, to a candidate or a leader) is refused and changes
 * nothing, not even the term — a real leader of a newer term has sent
 * appends first.
 */
export function handleTimeoutNow(
  core: EngineCore,
  from: NodeId,
  req: TimeoutNowRequest,
  token: number,
): void {
  const accepted = req.term === core.vote.term && core.role === "follower" &&
    core.leaderId === from && core.isVoter();
  core.emit({
    type: "reply",
    token,
    message: { type: "timeout-now-response", term: core.vote.term, accepted },
  });
  if (accepted) startElection(core, true, "leadership-transfer");
}
