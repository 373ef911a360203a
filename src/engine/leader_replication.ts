/**
 * The leader's side of log replication: taking office, sending entries to
 * each peer (probe, then pipeline), handling their responses, heartbeat
 * rounds, check-quorum and advancing the commit index.
 *
 * Rules kept here:
 * - A new leader appends a blank entry of its term at once.
 * - Commit counts only entries of the current term (Figure 8), and needs a
 *   majority of every voter set; the leader counts its own durable index.
 * - A peer's match index never moves backwards; stale and duplicated
 *   responses change nothing.
 * - Proposals become one append and at most one request per peer per
 *   `maxPayloadEntries`, not one per entry.
 *
 * @module
 */

import type { AppendResponse } from "../messages.ts";
import type { AppendPlan } from "./commands.ts";
import type { Entry, NodeId } from "../types.ts";
import type { EngineCore } from "./engine_core.ts";
import { maybeFinalizeMembership } from "./membership_change.ts";
import type { ReplicationProgress } from "./replication_progress.ts";
import { quorumValue } from "./quorum.ts";
import { onOwnTermCommitted, releaseReads } from "./read_index.ts";
import { maybeSendTimeoutNow } from "./leadership_transfer.ts";

/**
 * Takes office after winning an election: resets per-peer progress,
 * appends the blank entry of the new term and replicates it.
 *
 * @example
 * ```ts ignore
 * becomeLeader(core);
 * ```
 */
export function becomeLeader(core: EngineCore): void {
  const term = core.vote.term;
  core.saveVote({ term, votedFor: core.id, committed: true });
  core.role = "leader";
  core.preCandidate = false;
  core.leaderId = core.id;
  core.votesGranted = new Set();
  core.campaignByTransfer = false;
  core.electionDeadline = Infinity;
  core.leaderSeenAt = core.now;
  core.leaderSince = core.now;
  core.clearLeaderState();
  core.syncProgress();
  core.round = 1;
  core.roundSentAt.set(1, core.now);
  core.quorumRound = 0;
  core.heartbeatDue = core.now + core.config.heartbeatInterval;
  const blank: Entry = { term, index: core.log.lastIndex() + 1, type: "blank" };
  core.appendEntries([blank]);
  for (const id of core.progress.keys()) replicateTo(core, id, false);
  onRoundAck(core);
  advanceCommit(core);
}

/**
 * Sends a peer what it lacks, as far as its state allows: one probe, or
 * pipelined batches up to the in-flight window. With `heartbeat`, sends at
 * least an empty request carrying the current round and commit index.
 *
 * @example
 * ```ts ignore
 * replicateTo(core, 2, false);
 * ```
 */
export function replicateTo(core: EngineCore, peer: NodeId, heartbeat: boolean): void {
  const p = core.progress.get(peer);
  if (p === undefined) return;
  const last = core.log.lastIndex();
  const max = core.config.maxPayloadEntries;
  if (p.state === "snapshot") {
    if (heartbeat) sendHeartbeat(core, p);
    return;
  }
  if (p.state === "probe") {
    if (p.probeInflight && !heartbeat) return;
    const hi = Math.min(last, p.next + max - 1);
    if (!sendRange(core, peer, p.next, hi)) return startSnapshot(core, p);
    p.onSent(hi);
    return;
  }
  let sent = false;
  while (p.next <= last && p.inflight.length < core.config.maxInflight) {
    const hi = Math.min(last, p.next + max - 1);
    if (p.inflight.length === 0) p.progressAt = core.now;
    if (!sendRange(core, peer, p.next, hi)) return startSnapshot(core, p);
    p.onSent(hi);
    sent = true;
  }
  if (heartbeat && !sent) sendHeartbeat(core, p);
}

/** An empty append at the peer's match point: carries the round and the commit index. */
function sendHeartbeat(core: EngineCore, p: ReplicationProgress, lazy = false): void {
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
    round: core.round,
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

function sendRange(core: EngineCore, peer: NodeId, first: number, last: number): boolean {
  const prevTerm = core.log.termAt(first - 1);
  // Entries from `first` (or the one before) are purged: the peer needs a snapshot.
  if (prevTerm === undefined || first < core.log.firstIndex()) return false;
  const p = core.progress.get(peer);
  if (p !== undefined) p.sentCommit = Math.min(core.commit, last);
  core.emit({
    type: "replicate",
    to: peer,
    plan: {
      term: core.vote.term,
      leaderId: core.id,
      prevLogId: first - 1 === 0 ? null : { term: prevTerm, index: first - 1 },
      first,
      last,
      leaderCommit: core.commit,
      round: core.round,
      clusterId: core.clusterId(),
    },
  });
  return true;
}

/**
 * Replicates to every peer (after new entries, or as a heartbeat).
 *
 * @example
 * ```ts ignore
 * broadcast(core, false);
 * ```
 */
export function broadcast(core: EngineCore, heartbeat: boolean): void {
  for (const id of core.progress.keys()) replicateTo(core, id, heartbeat);
}

/**
 * Starts a new heartbeat round and sends it to every peer.
 *
 * @example
 * ```ts ignore
 * sendHeartbeats(core);
 * ```
 */
export function sendHeartbeats(core: EngineCore): void {
  // Requests lost without a failure report would stall a pipeline for good: after an
  // election timeout without progress, probe the peer again from its match point.
  for (const p of core.progress.values()) {
    if (
      p.state === "pipeline" && p.inflight.length > 0 &&
      core.now - p.progressAt >= core.config.electionTimeoutMax
    ) {
      p.becomeProbe();
    }
  }
  core.round++;
  core.roundSentAt.set(core.round, core.now);
  broadcast(core, true);
  onRoundAck(core);
}

/**
 * Handles a peer's answer to an append request.
 *
 * @example
 * ```ts ignore
 * handleAppendResponse(core, 2, response);
 * ```
 */
export function handleAppendResponse(core: EngineCore, from: NodeId, res: AppendResponse): void {
  if (res.term > core.vote.term) {
    core.becomeFollower(res.term, null);
    return;
  }
  if (core.role !== "leader" || res.term !== core.vote.term) return;
  const p = core.progress.get(from);
  if (p === undefined) return;
  // A round never sent in this term (an echo from an earlier leadership) confirms nothing.
  if (res.round > p.ackedRound && res.round <= core.round) {
    p.ackedRound = res.round;
    onRoundAck(core);
  }
  if (res.success) {
    if (res.index > core.log.lastIndex()) return; // Not from this leader's log: ignore.
    const oldest = p.inflight[0];
    if (oldest !== undefined && res.index >= oldest) p.progressAt = core.now;
    if (p.onMatch(res.index)) advanceCommit(core);
    maybeSendTimeoutNow(core);
  } else {
    p.onReject(res.index, hintedNext(core, res));
  }
  if (core.role === "leader") {
    replicateTo(core, from, false);
    syncCommit(core, from);
  }
}

/**
 * An idle peer (nothing in flight, nothing to send) that has not been told
 * the commit index it could use learns it now; busy peers learn it with
 * their next request.
 */
function syncCommit(core: EngineCore, peer: NodeId): void {
  const p = core.progress.get(peer);
  if (p === undefined || p.state !== "pipeline" || p.inflight.length > 0) return;
  if (p.next <= core.log.lastIndex()) return;
  if (p.sentCommit >= Math.min(core.commit, p.match)) return;
  sendHeartbeat(core, p, true);
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
 * next heartbeat.
 *
 * @example
 * ```ts ignore
 * handleUnreachable(core, 3);
 * ```
 */
export function handleUnreachable(core: EngineCore, peer: NodeId): void {
  if (core.role !== "leader") return;
  core.progress.get(peer)?.becomeProbe();
}

/**
 * Recomputes the highest round a quorum acknowledged: renews the lease and
 * the check-quorum clock, and releases ReadIndex reads.
 *
 * @example
 * ```ts ignore
 * onRoundAck(core);
 * ```
 */
export function onRoundAck(core: EngineCore): void {
  const q = quorumValue(
    core.voterSets(),
    (id) => id === core.id ? core.round : core.progress.get(id)?.ackedRound ?? 0,
  );
  if (q <= core.quorumRound) return;
  core.quorumRound = q;
  const sentAt = core.roundSentAt.get(q);
  if (sentAt !== undefined && sentAt > core.quorumAckAt) core.quorumAckAt = sentAt;
  for (const r of [...core.roundSentAt.keys()]) if (r < q) core.roundSentAt.delete(r);
  releaseReads(core);
}

/**
 * Leader: commits the highest index stored by a majority of every voter set,
 * if it is of the current term. Then applies, serves waiting reads and moves
 * membership changes on.
 *
 * @example
 * ```ts ignore
 * advanceCommit(core);
 * ```
 */
export function advanceCommit(core: EngineCore): void {
  if (core.role !== "leader") return;
  const q = quorumValue(
    core.voterSets(),
    (id) => id === core.id ? core.durableIndex() : core.progress.get(id)?.match ?? 0,
  );
  if (q <= core.commit || core.log.termAt(q) !== core.vote.term) return;
  const membershipBefore = core.committedMembership().logId?.index;
  core.setCommit(q);
  // A config that commits may leave nodes out: stop replicating to them.
  if (core.committedMembership().logId?.index !== membershipBefore) core.syncProgress();
  for (const id of core.progress.keys()) syncCommit(core, id);
  onOwnTermCommitted(core);
  maybeFinalizeMembership(core);
}

/**
 * Leader timers: heartbeats, check-quorum. Called on every tick.
 *
 * @example
 * ```ts ignore
 * leaderTick(core);
 * ```
 */
export function leaderTick(core: EngineCore): void {
  const c = core.config;
  if (c.checkQuorum) {
    const since = Math.max(core.quorumAckAt, core.leaderSince);
    // The same expression as nextDeadline(): `now - since >= T` can differ by rounding.
    if (core.now >= since + c.electionTimeoutMax) {
      core.becomeFollower(core.vote.term, null);
      return;
    }
  }
  if (core.now >= core.heartbeatDue) {
    core.heartbeatDue = core.now + c.heartbeatInterval;
    if (core.heartbeatEnabled) sendHeartbeats(core);
  }
}
