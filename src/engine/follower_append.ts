/**
 * The follower's side of log replication: the consistency check on
 * `prevLogId`, truncation at the first real conflict, appending, following
 * the leader's commit index, and acknowledging only what is durable.
 *
 * Rules kept here:
 * - A request from an older term changes nothing and is answered with ours.
 * - Entries that match are never dropped: an old or duplicated request
 *   truncates nothing; only the first entry whose term differs, and all
 *   after it, are replaced.
 * - The ack (`index` = last entry known to match the leader) is held back
 *   until storage reports every earlier write durable.
 * - Entries at or below the commit index are never truncated. A leader's
 *   request that conflicts with one of them (its `prevLogId`, or one of its
 *   entries, has another term at an index this node committed) proves a
 *   safety violation — this node's data was replaced (wiped, restored from
 *   an old backup) or two clusters share an id: the request is refused, and
 *   a `fatal` command (`log-diverged`) stops the node. Nothing is truncated.
 * - Entries that do not continue the log (terms going down) are a forged or
 *   corrupt request: refused, nothing changes.
 * - A rejection carries a hint (our term at the rejected index and the first
 *   index of that term, or our last index + 1) so the leader skips a whole
 *   term per round trip instead of one entry.
 *
 * @module
 */

import type { AppendRequest, AppendResponse } from "../messages.ts";
import type { NodeId } from "../types.ts";
import type { EngineCore } from "./engine_core.ts";
import { followLeader, followMembership } from "./roles.ts";

/**
 * Handles an append request (or heartbeat) from a leader.
 */
export function handleAppendRequest(
  core: EngineCore,
  from: NodeId,
  req: AppendRequest,
  token: number,
): void {
  const prev = req.prevLogId;
  const prevIndex = prev?.index ?? 0;
  // A request of an older term comes from an earlier leadership: its round means nothing to
  // the current leader (rounds restart each term), so it is not echoed.
  const round = req.term < core.vote.term ? 0 : req.round;
  const reply = (success: boolean, index: number, hintTerm: number, hintIndex: number): void => {
    const message: AppendResponse = {
      type: "append-response",
      term: core.vote.term,
      round,
      success,
      index,
      hintTerm,
      hintIndex,
    };
    core.emitAfterIo({ type: "reply", token, message });
  };
  if (req.term < core.vote.term) {
    reply(false, prevIndex, 0, 0);
    return;
  }
  followLeader(core, req.term, from);
  // While a snapshot is being installed nothing may be appended or committed past it.
  if (core.pendingInstall !== null) {
    reply(false, prevIndex, 0, 0);
    return;
  }

  const purgedIndex = core.log.purged()?.index ?? 0;
  if (prev !== null && prevIndex > purgedIndex) {
    const term = core.log.termAt(prevIndex);
    if (term === undefined) {
      reply(false, prevIndex, 0, core.log.lastIndex() + 1);
      return;
    }
    if (term !== prev.term) {
      if (prevIndex <= core.commit) return diverged(core, from, req, prevIndex, term, prev.term);
      const first = core.log.firstIndexOfTerm(term) ?? prevIndex;
      reply(false, prevIndex, term, Math.max(first, purgedIndex + 1));
      return;
    }
  }

  const entries = req.entries;
  const i = core.log.firstNotHeld(entries);
  if (i < entries.length) {
    const at = entries[i]!.index;
    // No leader sends entries that conflict with committed ones (Leader Completeness):
    // this node's committed log is not the cluster's. Fatal, never truncated.
    if (at <= core.commit) {
      return diverged(core, from, req, at, core.log.termAt(at) ?? 0, entries[i]!.term);
    }
    // Entries that do not continue the log are forged or corrupt: refused, nothing changes.
    if (entries[i]!.term < (core.log.termAt(at - 1) ?? 0)) {
      reply(false, prevIndex, 0, 0);
      return;
    }
    if (at <= core.log.lastIndex() && core.truncateEntries(at)) followMembership(core);
    if (core.appendEntries(i === 0 ? entries : entries.slice(i))) followMembership(core);
  }

  const lastNew = prevIndex + entries.length;
  if (req.leaderCommit > core.commit) {
    const c = Math.min(req.leaderCommit, lastNew);
    if (c > core.commit) core.setCommit(c);
  }
  reply(true, lastNew, 0, 0);
}

/**
 * A leader's request conflicts with an entry this node committed: refuses
 * it (no answer: the node stops) and emits the `fatal` command.
 */
function diverged(
  core: EngineCore,
  from: NodeId,
  req: AppendRequest,
  index: number,
  ownTerm: number,
  leaderTerm: number,
): void {
  core.emit({
    type: "fatal",
    reason: {
      kind: "log-diverged",
      index,
      committed: core.commit,
      ownTerm,
      leaderTerm,
      leaderId: from,
      term: req.term,
    },
  });
}
