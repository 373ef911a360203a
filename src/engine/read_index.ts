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
 *
 * Waiting reads are kept in the leader's state (leader_state.ts) and fail
 * when it steps down (roles.ts). `afterLeaderProgress` (leader_progress.ts)
 * serves them when a quorum acknowledges a round or the first commit of the
 * term lands.
 *
 * @module
 */

import type { EngineCore } from "./engine_core.ts";
import type { LeaderState } from "./leader_state.ts";
import { broadcast, newRound, onRoundAck } from "./leader_replication.ts";

/**
 * Asks to serve reads for `tokens` under `policy`. Emits `read-ready` (with
 * the index the state machine must reach first) or `read-failed`, now or
 * later.
 *
 * @example
 * ```ts ignore
 * requestReads(core, [1, 2], "read-index");
 * ```
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
  serve(core, leader, tokens, policy);
}

function serve(
  core: EngineCore,
  leader: LeaderState,
  tokens: readonly number[],
  policy: "read-index" | "lease",
): void {
  if (tokens.length === 0) return;
  if (policy === "lease") {
    const ok = leaseValid(core);
    for (const token of tokens) {
      if (ok) core.emit({ type: "read-ready", token, index: core.commit });
      else core.emit({ type: "read-failed", token, reason: { kind: "lease-expired" } });
    }
    return;
  }
  const round = newRound(core, leader);
  for (const token of tokens) leader.reads.push({ token, index: core.commit, round });
  broadcast(core, leader, true);
  // A single voter is its own quorum: this acknowledges the round at once.
  if (onRoundAck(core, leader)) releaseReads(core, leader);
}

/**
 * A quorum acknowledged a newer round: serves every waiting read whose
 * round it covers.
 *
 * @example
 * ```ts ignore
 * releaseReads(core, leader);
 * ```
 */
export function releaseReads(core: EngineCore, leader: LeaderState): void {
  const reads = leader.reads;
  let k = 0;
  while (k < reads.length && reads[k]!.round <= leader.quorumRound) {
    const r = reads[k]!;
    core.emit({ type: "read-ready", token: r.token, index: r.index });
    k++;
  }
  if (k > 0) reads.splice(0, k);
}

/**
 * The commit index moved (so the leader committed an entry of its own
 * term): serve reads that waited for it.
 *
 * @example
 * ```ts ignore
 * onOwnTermCommitted(core, leader);
 * ```
 */
export function onOwnTermCommitted(core: EngineCore, leader: LeaderState): void {
  if (leader.readsAwaitingCommit.length === 0) return;
  const waiting = leader.readsAwaitingCommit;
  leader.readsAwaitingCommit = [];
  serve(
    core,
    leader,
    waiting.filter((r) => r.policy === "read-index").map((r) => r.token),
    "read-index",
  );
  serve(core, leader, waiting.filter((r) => r.policy === "lease").map((r) => r.token), "lease");
}

/**
 * Whether the leader lease holds now (never when not leading).
 *
 * @example
 * ```ts ignore
 * if (leaseValid(core)) serveLocally();
 * ```
 */
export function leaseValid(core: EngineCore): boolean {
  const leader = core.leader;
  if (leader === null || !core.config.checkQuorum) return false;
  if (leader.transfer !== null && leader.transfer.sent) return false;
  if (leader.quorumRound <= leader.leaseFloorRound) return false;
  const c = core.config;
  return core.now < leader.quorumAckAt + c.electionTimeoutMin - c.leaseMargin;
}
