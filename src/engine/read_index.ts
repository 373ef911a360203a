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
 * @module
 */

import type { EngineCore } from "./engine_core.ts";
import { onRoundAck, replicateTo } from "./leader_replication.ts";

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
  if (core.role !== "leader") {
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
    for (const token of tokens) core.readsAwaitingCommit.push({ token, policy });
    return;
  }
  serve(core, tokens, policy);
}

function serve(core: EngineCore, tokens: readonly number[], policy: "read-index" | "lease"): void {
  if (tokens.length === 0) return;
  if (policy === "lease") {
    const ok = leaseValid(core);
    for (const token of tokens) {
      if (ok) core.emit({ type: "read-ready", token, index: core.commit });
      else core.emit({ type: "read-failed", token, reason: { kind: "lease-expired" } });
    }
    return;
  }
  core.round++;
  core.roundSentAt.set(core.round, core.now);
  for (const token of tokens) core.reads.push({ token, index: core.commit, round: core.round });
  for (const id of core.progress.keys()) replicateTo(core, id, true);
  // A single voter is its own quorum: this acknowledges the round at once.
  onRoundAck(core);
}

/**
 * Serves every waiting read whose round a quorum acknowledged.
 *
 * @example
 * ```ts ignore
 * releaseReads(core);
 * ```
 */
export function releaseReads(core: EngineCore): void {
  let k = 0;
  while (k < core.reads.length && core.reads[k]!.round <= core.quorumRound) {
    const r = core.reads[k]!;
    core.emit({ type: "read-ready", token: r.token, index: r.index });
    k++;
  }
  if (k > 0) core.reads.splice(0, k);
}

/**
 * The first entry of the leader's term committed: serve reads that waited.
 *
 * @example
 * ```ts ignore
 * onOwnTermCommitted(core);
 * ```
 */
export function onOwnTermCommitted(core: EngineCore): void {
  if (core.readsAwaitingCommit.length === 0) return;
  const waiting = core.readsAwaitingCommit;
  core.readsAwaitingCommit = [];
  serve(core, waiting.filter((r) => r.policy === "read-index").map((r) => r.token), "read-index");
  serve(core, waiting.filter((r) => r.policy === "lease").map((r) => r.token), "lease");
}

/**
 * Whether the leader lease holds now.
 *
 * @example
 * ```ts ignore
 * if (leaseValid(core)) serveLocally();
 * ```
 */
export function leaseValid(core: EngineCore): boolean {
  if (core.role !== "leader" || !core.config.checkQuorum) return false;
  if (core.transfer !== null && core.transfer.sent) return false;
  if (core.quorumRound <= core.leaseFloorRound) return false;
  const c = core.config;
  return core.now < core.quorumAckAt + c.electionTimeoutMin - c.leaseMargin;
}
