/**
 * Linearizable reads on the leader: ReadIndex (confirm leadership with a
 * quorum heartbeat round started after the read arrived) and the leader
 * lease (skip the round while a quorum acknowledged us recently enough that
 * no other leader can exist).
 *
 * Rules kept here:
 * - A new leader serves no read until an entry of its own term is committed:
 *   before that its commit index may be behind the real one.
 * - A read is served at the commit index it found on arrival, once a round
 *   sent after its arrival is acknowledged by a quorum.
 * - The lease lasts from when the last quorum-acknowledged round was sent,
 *   for the minimum election timeout less `leaseMargin`: voters refuse to
 *   elect anybody else for the minimum election timeout after hearing from
 *   us. It is void for the rest of the term once a leadership transfer sent
 *   TimeoutNow (voters skip their lease for the election it starts).
 * - A lease read that finds no lease is not refused: it becomes a ReadIndex
 *   read (one round, shared as below). Under load a heartbeat's answer can
 *   be handled later than the lease allows; the leader still leads, and a
 *   read failing then would only make its client retry.
 *
 * - Reads share rounds: a read joins the current round while that round's
 *   messages are still in the engine's output (they leave after it arrived).
 *   Otherwise it starts one — unless the round the last reads started is
 *   still in flight: then it waits for that round's quorum, and every read
 *   that arrived meanwhile shares the one round started then (served at the
 *   commit index of that moment, which is at least the one it arrived at).
 *   So reads cost one round per turn, and under load about one round per
 *   round trip, not one per read.
 * - A peer's `read-index` request (a follower read) is served like a local
 *   ReadIndex read and answered with the read index; a node that does not
 *   lead, or leads an older term than the asking node's, refuses it
 *   (`index: null`, naming the leader it knows of).
 *
 * Waiting reads are kept in the leader's state (leader_state.ts) and fail
 * when it steps down (roles.ts). `afterLeaderProgress` (leader_progress.ts)
 * serves them when a quorum acknowledges a round or the first commit of the
 * term lands.
 *
 * @module
 */

import type { ReadIndexRequest, ReadIndexResponse } from "../messages.ts";
import type { NodeId } from "../types.ts";
import type { EngineCore } from "./engine_core.ts";
import type { LeaderState } from "./leader_state.ts";
import { broadcast, newRound, onRoundAck } from "./leader_replication.ts";

/**
 * Asks to serve reads for `tokens` under `policy`. Emits `read-ready` (with
 * the index the state machine must reach first) or `read-failed`, now or
 * later.
 */
export function requestReads(
  core: EngineCore,
  tokens: readonly number[],
  policy: "read-index" | "lease",
): void {
  const leader = core.leader;
  if (leader === null) {
    for (const token of tokens) {
      core.emit({
        type: "read-failed",
        token,
        reason: { kind: "not-leader", leaderId: core.leaderId },
      });
    }
    return;
  }
  if (core.log.termAt(core.commit) !== core.vote.term) {
    for (const token of tokens) leader.readsAwaitingCommit.push({ token, policy });
    return;
  }
  serve(core, leader, tokens, policy, false);
}

/**
 * Handles a peer's `read-index` request (a follower read): served like a
 * local ReadIndex read, answered by a `reply` with the read index once a
 * quorum confirmed this leadership; refused at once (`index: null`) by a
 * node that does not lead, or that leads an older term than the asker's.
 */
export function handleReadIndexRequest(
  core: EngineCore,
  _from: NodeId,
  req: ReadIndexRequest,
  token: number,
): void {
  const leader = core.leader;
  if (leader === null || req.term > core.vote.term) {
    // Of a newer term, the asker may follow a newer leader: this one cannot vouch for it.
    refusePeerRead(core, token, req.term > core.vote.term ? null : core.leaderId);
    return;
  }
  if (core.log.termAt(core.commit) !== core.vote.term) {
    leader.readsAwaitingCommit.push({ token, policy: "read-index", peer: true });
    return;
  }
  serve(core, leader, [token], "read-index", true);
}

function refusePeerRead(core: EngineCore, token: number, leaderId: NodeId | null): void {
  const message: ReadIndexResponse = {
    type: "read-index-response",
    term: core.vote.term,
    index: null,
    leaderId,
  };
  core.emit({ type: "reply", token, message });
}

/** Serves a read at `index`: `read-ready`, or a peer's `read-index-response`. */
function ready(core: EngineCore, token: number, index: number, peer: boolean | undefined): void {
  if (peer === true) {
    const message: ReadIndexResponse = {
      type: "read-index-response",
      term: core.vote.term,
      index,
      leaderId: core.id,
    };
    core.emit({ type: "reply", token, message });
  } else {
    core.emit({ type: "read-ready", token, index });
  }
}

function serve(
  core: EngineCore,
  leader: LeaderState,
  tokens: readonly number[],
  policy: "read-index" | "lease",
  peer: boolean,
): void {
  if (tokens.length === 0) return;
  if (policy === "lease") {
    if (leaseValid(core)) {
      for (const token of tokens) ready(core, token, core.commit, peer);
      return;
    }
    // No lease (no quorum acknowledged a round recently enough, a transfer voided it, or
    // check-quorum is off): a round confirms these reads instead, as ReadIndex reads.
    serve(core, leader, tokens, "read-index", peer);
    return;
  }
  // The current round's messages have not left yet: they confirm this read too.
  const joined = leader.roundUnsent;
  if (!joined && leader.readRound > leader.quorumRound) {
    // The last reads' round is in flight: wait for it, then share the next one.
    for (const token of tokens) leader.readsAwaitingRound.push(peer ? { token, peer } : { token });
    return;
  }
  const round = joined ? leader.round : newRound(core, leader);
  leader.readRound = round;
  for (const token of tokens) {
    leader.reads.push(
      peer ? { token, index: core.commit, round, peer } : {
        token,
        index: core.commit,
        round,
      },
    );
  }
  if (!joined) broadcast(core, leader, true);
  // A single voter is its own quorum: this acknowledges the round at once.
  if (onRoundAck(core, leader) || leader.quorumRound >= round) releaseReads(core, leader);
}

/**
 * A quorum acknowledged a newer round: serves every waiting read whose
 * round it covers.
 */
export function releaseReads(core: EngineCore, leader: LeaderState): void {
  const reads = leader.reads;
  let k = 0;
  while (k < reads.length && reads[k]!.round <= leader.quorumRound) {
    const r = reads[k]!;
    ready(core, r.token, r.index, r.peer);
    k++;
  }
  if (k > 0) reads.splice(0, k);
  if (leader.readsAwaitingRound.length > 0 && leader.quorumRound >= leader.readRound) {
    // The round they waited for is answered: one new round for all of them.
    const waiting = leader.readsAwaitingRound;
    leader.readsAwaitingRound = [];
    const tokens = (peer: boolean) =>
      waiting.filter((r) => (r.peer === true) === peer).map((r) => r.token);
    serve(core, leader, tokens(false), "read-index", false);
    serve(core, leader, tokens(true), "read-index", true);
  }
}

/**
 * The commit index moved (so the leader committed an entry of its own
 * term): serve reads that waited for it.
 */
export function onOwnTermCommitted(core: EngineCore, leader: LeaderState): void {
  if (leader.readsAwaitingCommit.length === 0) return;
  const waiting = leader.readsAwaitingCommit;
  leader.readsAwaitingCommit = [];
  const tokens = (policy: "read-index" | "lease", peer: boolean) =>
    waiting.filter((r) => r.policy === policy && (r.peer === true) === peer).map((r) => r.token);
  serve(core, leader, tokens("read-index", false), "read-index", false);
  serve(core, leader, tokens("read-index", true), "read-index", true);
  serve(core, leader, tokens("lease", false), "lease", false);
}

/**
 * Whether the leader lease holds now (never when not leading).
 */
export function leaseValid(core: EngineCore): boolean {
  const leader = core.leader;
  if (leader === null || !core.config.checkQuorum) return false;
  if (leader.transfer !== null && leader.transfer.sent) return false;
  if (leader.quorumRound <= leader.leaseFloorRound) return false;
  const c = core.config;
  return core.now < leader.quorumAckAt + c.electionTimeoutMin - c.leaseMargin;
}
