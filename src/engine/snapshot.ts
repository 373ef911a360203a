/**
 * Snapshots and log compaction: recording snapshots the state machine
 * built, purging the log up to them, sending a snapshot to a peer whose
 * entries are purged, and installing one received from the leader.
 *
 * Rules kept here:
 * - Purge only what a snapshot covers and the state machine applied; a
 *   peer that needs purged entries gets the snapshot instead.
 * - A follower installs a snapshot only if it is ahead of its commit index;
 *   while it is being installed, appends are refused (the leader waits for
 *   the snapshot's answer), so nothing is applied past it meanwhile.
 * - After installing, the log keeps the entries after the snapshot if they
 *   agree with it (same term at its last index); otherwise it is discarded.
 *   Memberships revert to the snapshot's plus any in the kept entries.
 *
 * @module
 */

import type { InstallSnapshotRequest, InstallSnapshotResponse } from "../messages.ts";
import type { LogId, NodeId, SnapshotMeta } from "../types.ts";
import type { EngineCore } from "./engine_core.ts";
import { advanceCommit, replicateTo } from "./leader_replication.ts";
import { afterLeaderProgress } from "./leader_progress.ts";
import { becomeFollower, followLeader, followMembership } from "./roles.ts";

/**
 * Records a snapshot the state machine built (if newer than the current one).
 */
export function snapshotBuilt(core: EngineCore, meta: SnapshotMeta): void {
  const cur = core.snapshot?.lastLogId?.index ?? 0;
  if ((meta.lastLogId?.index ?? 0) > cur || core.snapshot === null) core.snapshot = meta;
}

/**
 * Purges the log up to `upTo`, bounded by the current snapshot, the applied
 * index and the commit index. Returns the log id purged up to, or `null`
 * when there is nothing to purge.
 */
export function purgeLog(core: EngineCore, upTo: number): LogId | null {
  const snap = core.snapshot?.lastLogId;
  if (snap === null || snap === undefined) return null;
  const bound = Math.min(upTo, snap.index, core.applied?.index ?? 0, core.commit);
  if (bound <= (core.log.purged()?.index ?? 0)) return null;
  const id = core.log.logIdAt(bound);
  if (id === null) return null;
  core.purgeEntries(id);
  return id;
}

/**
 * Handles a leader's snapshot offer (metadata; the runtime holds the bytes).
 */
export function handleInstallSnapshot(
  core: EngineCore,
  from: NodeId,
  req: InstallSnapshotRequest,
  token: number,
): void {
  const reply = (lastLogId: LogId | null): void => {
    const message: InstallSnapshotResponse = {
      type: "install-snapshot-response",
      term: core.vote.term,
      lastLogId,
    };
    core.emitAfterIo({ type: "reply", token, message });
  };
  if (req.term < core.vote.term) return reply(null);
  followLeader(core, req.term, from);
  const last = req.meta.lastLogId;
  if (core.pendingInstall !== null) return reply(null);
  if (last === null || last.index <= core.commit) {
    // Already committed that far: nothing to install.
    return reply(core.log.logIdAt(core.commit) ?? last);
  }
  core.pendingInstall = { token, meta: req.meta };
  core.emit({ type: "install-snapshot", token, meta: req.meta });
}

/**
 * The runtime installed the snapshot of `token` into the state machine:
 * replace the log up to it, move commit and applied, answer the leader.
 */
export function snapshotInstalled(core: EngineCore, token: number): void {
  const pending = core.pendingInstall;
  if (pending === null || pending.token !== token) return;
  core.pendingInstall = null;
  const meta = pending.meta;
  const last = meta.lastLogId!;
  if (last.index > core.applyRequested) core.applyRequested = last.index;
  if (core.applied === null || core.applied.index < last.index) core.applied = last;
  core.snapshot = meta;
  continueLogFromSnapshot(core, meta);
  core.emitAfterIo({
    type: "reply",
    token,
    message: { type: "install-snapshot-response", term: core.vote.term, lastLogId: last },
  });
}

/**
 * On start-up: a crash between installing a snapshot (the state machine
 * keeps it) and purging the log up to it (a separate store) leaves a log
 * that does not hold the snapshot's last entry — shorter than the snapshot,
 * or with a lost term's entry there. Finishes that install's log part.
 */
export function finishInterruptedInstall(core: EngineCore): void {
  const meta = core.snapshot;
  const last = meta?.lastLogId ?? null;
  if (meta === null || last === null) return;
  if (last.index <= (core.log.purged()?.index ?? 0) || core.log.matches(last)) return;
  continueLogFromSnapshot(core, meta);
}

/**
 * Makes the log continue from snapshot `meta`: a log that does not hold its
 * last entry is dropped (entries the snapshot replaced), the log is purged up
 * to it, what it covers counts as committed, and memberships restart from
 * its own.
 */
function continueLogFromSnapshot(core: EngineCore, meta: SnapshotMeta): void {
  const last = meta.lastLogId!;
  if (core.log.termAt(last.index) !== last.term && core.log.lastIndex() >= core.log.firstIndex()) {
    if (core.truncateEntries(core.log.firstIndex(), true)) followMembership(core);
  }
  core.purgeEntries(last);
  if (last.index > core.commit) core.commit = last.index;
  const kept = core.memberships.filter((m) => m.logId !== null && m.logId.index > last.index);
  core.resetMemberships([meta.lastMembership, ...kept]);
  followMembership(core);
}

/**
 * The runtime could not install the snapshot (bad data): refuse it; the
 * leader will offer it again.
 */
export function snapshotInstallFailed(core: EngineCore, token: number): void {
  const pending = core.pendingInstall;
  if (pending === null || pending.token !== token) return;
  core.pendingInstall = null;
  core.emit({
    type: "reply",
    token,
    message: { type: "install-snapshot-response", term: core.vote.term, lastLogId: null },
  });
}

/**
 * Leader: a peer answered a snapshot. On success, replicate from its end;
 * on refusal, probe again at the next heartbeat.
 */
export function handleInstallSnapshotResponse(
  core: EngineCore,
  from: NodeId,
  res: InstallSnapshotResponse,
): void {
  if (res.term > core.vote.term) {
    becomeFollower(core, res.term, null);
    return;
  }
  const leader = core.leader;
  if (leader === null || res.term !== core.vote.term) return;
  const p = leader.progress.get(from);
  if (p !== undefined) p.ackedAt = core.now;
  if (p === undefined || p.state !== "snapshot") return;
  if (res.lastLogId === null) {
    p.becomeProbe();
    p.probeInflight = true; // Retried with the next heartbeat, not at once.
    return;
  }
  const index = Math.min(res.lastLogId.index, core.log.lastIndex());
  if (p.onSnapshotDone(index)) {
    p.matchRound = leader.round;
    p.reverted = false;
    afterLeaderProgress(core, leader, { committed: advanceCommit(core, leader) });
  }
  if (core.leader === leader) replicateTo(core, leader, from, false);
}
