/**
 * The leader's side of log replication, as building blocks: starting the
 * term, sending entries to each peer (probe, then pipeline), heartbeat
 * rounds, recording the peers' answers, and advancing the commit index.
 *
 * These functions change replication state and send; they report what
 * moved (a quorum acknowledged a newer round, the commit index advanced)
 * and leave reacting to it (serving reads, finishing a membership change,
 * continuing a transfer) to `afterLeaderProgress` (leader_progress.ts), which
 * also holds the leader's event handlers that put these blocks together.
 *
 * Rules kept here:
 * - A new leader appends a blank entry of its term at once.
 * - Commit counts only entries of the current term (Figure 8), and needs a
 *   majority of every voter set; the leader counts its own durable index.
 * - A peer's match index never moves backwards; stale and duplicated
 *   responses change nothing. Except, with `allowLogReversion`, for a peer
 *   whose log went backwards (its data was lost): answering a request sent
 *   after it acknowledged its match, it lacks an entry at or below it. Its
 *   progress is reset and it is repaired; without the option it is reported
 *   (`peer-log-reverted`, once) and stays stuck.
 * - A round counts only if this leadership sent it: an echo of an earlier
 *   leadership's round confirms nothing.
 * - Proposals become one append and at most one request per peer per
 *   `maxPayloadEntries`, not one per entry.
 *
 * @module
 */

import type { AppendResponse } from "../messages.ts";
import type { AppendPlan } from "./commands.ts";
import type { Entry, NodeId } from "../types.ts";
import type { EngineCore } from "./engine_core.ts";
import type { LeaderState } from "./leader_state.ts";
import type { ReplicationProgress } from "./replication_progress.ts";
import { quorumValue } from "./quorum.ts";

/**
 * Starts the leader's term: appends the blank entry of its term (nothing of
 * an earlier term commits before one of its own) and sends it to every peer.
 */
export function appendBlankEntry(core: EngineCore, leader: LeaderState): void {
  const blank: Entry = { term: core.vote.term, index: core.log.lastIndex() + 1, type: "blank" };
  core.appendEntries([blank]);
  broadcast(core, leader, false);
}

/**
 * Sends a peer what it lacks, as far as its state allows: one probe, or
 * pipelined batches up to the in-flight window. With `heartbeat`, sends at
 * least an empty request carrying the current round and commit index.
 */
export function replicateTo(
  core: EngineCore,
  leader: LeaderState,
  peer: NodeId,
  heartbeat: boolean,
): void {
  const p = leader.progress.get(peer);
  if (p === undefined) return;
  const last = core.log.lastIndex();
  const max = core.config.maxPayloadEntries;
  if (p.state === "snapshot") {
    if (heartbeat) sendHeartbeat(core, leader, p);
    return;
  }
  if (p.state === "probe") {
    if (p.probeInflight && !heartbeat) return;
    const hi = Math.min(last, p.next + max - 1);
    if (!sendRange(core, leader, p, p.next, hi)) return startSnapshot(core, p);
    p.onSent(hi);
    return;
  }
  let sent = false;
  while (p.next <= last && p.inflight.length < core.config.maxInflight) {
    const hi = Math.min(last, p.next + max - 1);
    if (p.inflight.length === 0) p.progressAt = core.now;
    if (!sendRange(core, leader, p, p.next, hi)) return startSnapshot(core, p);
    p.onSent(hi);
    sent = true;
  }
  if (heartbeat && !sent) sendHeartbeat(core, leader, p);
}

/** An empty append at the peer's match point: carries the round and the commit index. */
function sendHeartbeat(
  core: EngineCore,
  leader: LeaderState,
  p: ReplicationProgress,
  lazy = false,
): void {
  // The follower can use the commit index only up to what the request covers.
  p.sentCommit = Math.min(core.commit, p.match);
  const prevLogId = core.log.logIdAt(p.match);
  const plan: AppendPlan = {
    term: core.vote.term,
    leaderId: core.id,
    prevLogId,
    first: (prevLogId?.index ?? 0) + 1,
    last: prevLogId?.index ?? 0,
    leaderCommit: core.commit,
    round: leader.round,
    clusterId: core.clusterId(),
  };
  // Two literals rather than a spread: this runs after every commit, and a spread of a
  // conditional object is slow.
  core.emit(
    lazy ? { type: "replicate", to: p.id, lazy, plan } : { type: "replicate", to: p.id, plan },
  );
}

/** The entries the peer needs are purged: send it the current snapshot instead. */
function startSnapshot(core: EngineCore, p: ReplicationProgress): void {
  p.becomeSnapshot();
  p.progressAt = core.now;
  core.emit({
    type: "send-snapshot",
    to: p.id,
    term: core.vote.term,
    leaderId: core.id,
    clusterId: core.clusterId(),
  });
}

/** Sends entries `first..last`; `false` (nothing sent) if they are purged. */
function sendRange(
  core: EngineCore,
  leader: LeaderState,
  p: ReplicationProgress,
  first: number,
  last: number,
): boolean {
  const prevTerm = core.log.termAt(first - 1);
  // Entries from `first` (or the one before) are purged: the peer needs a snapshot.
  if (prevTerm === undefined || first < core.log.firstIndex()) return false;
  p.sentCommit = Math.min(core.commit, last);
  core.emit({
    type: "replicate",
    to: p.id,
    plan: {
      term: core.vote.term,
      leaderId: core.id,
      prevLogId: first - 1 === 0 ? null : { term: prevTerm, index: first - 1 },
      first,
      last,
      leaderCommit: core.commit,
      round: leader.round,
      clusterId: core.clusterId(),
    },
  });
  return true;
}

/**
 * Replicates to every peer (after new entries, or as a heartbeat).
 */
export function broadcast(core: EngineCore, leader: LeaderState, heartbeat: boolean): void {
  for (const id of leader.progress.keys()) replicateTo(core, leader, id, heartbeat);
}

/**
 * Starts a new heartbeat round (sent from now on); returns its number.
 */
export function newRound(core: EngineCore, leader: LeaderState): number {
  leader.round++;
  leader.roundSentAt.set(leader.round, core.now);
  leader.roundUnsent = true;
  return leader.round;
}

/**
 * Starts a new heartbeat round and sends it to every peer. Returns whether
 * a quorum acknowledged a newer round (a single voter is its own quorum).
 */
export function sendHeartbeats(core: EngineCore, leader: LeaderState): boolean {
  // Requests lost without a failure report would stall a pipeline for good: after an
  // election timeout without progress, probe the peer again from its match point.
  for (const p of leader.progress.values()) {
    if (
      p.state === "pipeline" && p.inflight.length > 0 &&
      core.now - p.progressAt >= core.config.electionTimeoutMax
    ) {
      p.becomeProbe();
    }
  }
  newRound(core, leader);
  broadcast(core, leader, true);
  return onRoundAck(core, leader);
}

/**
 * Records that peer `p` echoed `round`. Returns whether a quorum now
 * acknowledged a newer round. A round this leadership did not send yet (an
 * echo from an earlier one) counts for nothing.
 */
export function ackRound(
  core: EngineCore,
  leader: LeaderState,
  p: ReplicationProgress,
  round: number,
): boolean {
  if (round <= p.ackedRound || round > leader.round) return false;
  p.ackedRound = round;
  return onRoundAck(core, leader);
}

/**
 * Recomputes the highest round a quorum acknowledged: renews the lease and
 * the check-quorum clock. Returns whether it moved (reads waiting for it
 * may be served: `afterLeaderProgress`).
 */
export function onRoundAck(core: EngineCore, leader: LeaderState): boolean {
  const q = quorumValue(
    core.voterSets(),
    (id) => id === core.id ? leader.round : leader.progress.get(id)?.ackedRound ?? 0,
  );
  if (q <= leader.quorumRound) return false;
  leader.quorumRound = q;
  const sentAt = leader.roundSentAt.get(q);
  if (sentAt !== undefined && sentAt > leader.quorumAckAt) leader.quorumAckAt = sentAt;
  for (const r of [...leader.roundSentAt.keys()]) if (r < q) leader.roundSentAt.delete(r);
  return true;
}

/**
 * Peer `p` accepted an append: it holds the log up to `index`. Moves its
 * progress on and, if its match grew, the commit index. Returns whether the
 * commit index moved.
 */
export function onAppendAccepted(
  core: EngineCore,
  leader: LeaderState,
  p: ReplicationProgress,
  index: number,
): boolean {
  // Progress: the oldest request in flight was answered, or the peer's match grew within
  // it (a runtime may send one planned append as several consecutive requests).
  if (p.inflight.length > 0 && index > p.match) p.progressAt = core.now;
  if (!p.onMatch(index)) return false;
  p.matchRound = leader.round;
  p.reverted = false;
  return advanceCommit(core, leader);
}

/**
 * Peer `p` rejected an append: probe it again from where its conflict hint
 * points (a stale rejection changes nothing).
 */
export function onAppendRejected(
  core: EngineCore,
  leader: LeaderState,
  p: ReplicationProgress,
  res: AppendResponse,
): void {
  if (logReverted(p, res)) {
    const reset = core.config.allowLogReversion === true;
    if (reset || !p.reverted) {
      core.emit({
        type: "peer-log-reverted",
        peer: p.id,
        matched: p.match,
        index: res.index,
        reset,
      });
    }
    if (reset) {
      p.resetMatch(hintedNext(core, res), leader.round);
      return;
    }
    // Reported once; the peer stays stuck (never sent below its match) until the leader
    // changes.
    p.reverted = true;
  }
  p.onReject(res.index, hintedNext(core, res));
}

/**
 * Whether a rejection says the peer's log went backwards: it lacks (or
 * holds another entry at) an index at or below its match, answering a
 * request sent after it acknowledged that match (a later round: an older
 * request overtaken by newer ones proves nothing). A rejection without a
 * hint (a snapshot being installed, a malformed request) says nothing
 * about the log.
 */
function logReverted(p: ReplicationProgress, res: AppendResponse): boolean {
  return p.match > 0 && res.index <= p.match && res.round > p.matchRound &&
    (res.hintTerm > 0 || res.hintIndex > 0) && p.state !== "snapshot";
}

/**
 * An idle peer (nothing in flight, nothing to send) that has not been told
 * the commit index it could use learns it now; busy peers learn it with
 * their next request.
 */
export function syncCommit(core: EngineCore, leader: LeaderState, peer: NodeId): void {
  const p = leader.progress.get(peer);
  if (p === undefined || p.state !== "pipeline" || p.inflight.length > 0) return;
  if (p.next <= core.log.lastIndex()) return;
  if (p.sentCommit >= Math.min(core.commit, p.match)) return;
  sendHeartbeat(core, leader, p, true);
}

/** Where to probe next after a rejection, from the follower's conflict hint. */
function hintedNext(core: EngineCore, res: AppendResponse): number {
  if (res.hintTerm > 0) {
    const last = core.log.lastIndexOfTerm(res.hintTerm);
    if (last !== undefined) return last + 1;
  }
  return Math.max(1, res.hintIndex);
}

/**
 * The peer could not be reached: probe it again from its match point on the
 * next heartbeat. Nothing to do when not leading.
 */
export function handleUnreachable(core: EngineCore, peer: NodeId): void {
  core.leader?.progress.get(peer)?.becomeProbe();
}

/**
 * Commits the highest index stored by a majority of every voter set, if it
 * is of the current term: applies it, stops replicating to nodes a committed
 * configuration left out, and tells idle peers. Returns whether the commit
 * index moved (waiting reads and a membership change may go on:
 * `afterLeaderProgress`).
 */
export function advanceCommit(core: EngineCore, leader: LeaderState): boolean {
  const q = quorumValue(
    core.voterSets(),
    (id) => id === core.id ? core.durableIndex() : leader.progress.get(id)?.match ?? 0,
  );
  if (q <= core.commit || core.log.termAt(q) !== core.vote.term) return false;
  const membershipBefore = core.committedMembership().logId?.index;
  core.setCommit(q);
  // A config that commits may leave nodes out: stop replicating to them.
  if (core.committedMembership().logId?.index !== membershipBefore) core.syncProgress();
  for (const id of leader.progress.keys()) syncCommit(core, leader, id);
  return true;
}
