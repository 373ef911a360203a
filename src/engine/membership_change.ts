/**
 * Membership changes by joint consensus. The leader appends a joint
 * configuration (old and new voter sets); once it commits, the leader
 * appends the new configuration alone. A configuration takes effect as soon
 * as it is appended (and is reverted if truncated: see engine_core.ts); the
 * role follows it (`followMembership`, roles.ts). Each time the commit index
 * moves, `afterLeaderProgress` (leader_progress.ts) moves the change on.
 *
 * Rules kept here:
 * - One change at a time: refused while the effective configuration is
 *   uncommitted or joint, or before the leader committed an entry of its
 *   own term.
 * - A leader that is not a voter of the new configuration keeps leading
 *   (without counting itself) until that configuration commits, then steps
 *   down.
 * - A leader that finds a committed joint configuration (e.g. after the
 *   previous leader crashed) finishes the change.
 *
 * @module
 */

import type { LogId, Membership, NodeId, RaftNode } from "../types.ts";
import { isVoter } from "../types.ts";
import type { AdminResult } from "./commands.ts";
import type { EngineCore } from "./engine_core.ts";
import type { LeaderState } from "./leader_state.ts";
import { broadcast } from "./leader_replication.ts";
import { becomeFollower } from "./roles.ts";

/**
 * Changes the cluster to `target` (one voter set plus learners). Voter sets
 * that differ go through a joint configuration; otherwise (only learners
 * change) the target is appended directly.
 */
export function changeMembership(core: EngineCore, target: Membership): AdminResult {
  const leader = core.leader;
  if (leader === null) return { ok: false, reason: "not-leader", leaderId: core.leaderId };
  const refuse = (reason: "in-progress" | "empty-membership") => ({
    ok: false as const,
    reason,
    leaderId: core.id,
  });
  const voters = target.configs[0];
  if (target.configs.length !== 1 || voters === undefined || voters.length === 0) {
    return refuse("empty-membership");
  }
  for (const id of voters) {
    if (!target.nodes.has(id)) {
      return { ok: false, reason: "learner-not-found", leaderId: core.id, nodeId: id };
    }
  }
  const eff = core.effective();
  // A membership change never changes the cluster's identity.
  target = { configs: target.configs, nodes: target.nodes, clusterId: eff.membership.clusterId };
  const inProgress = (eff.logId !== null && eff.logId.index > core.commit) ||
    eff.membership.configs.length > 1 || leader.pendingFinal !== null ||
    core.log.termAt(core.commit) !== core.vote.term;
  if (inProgress) return refuse("in-progress");
  const old = eff.membership.configs[0] ?? [];
  if (sameSet(old, voters)) return { ok: true, logId: appendMembership(core, leader, target) };
  const nodes = new Map<NodeId, RaftNode>(eff.membership.nodes);
  for (const [id, node] of target.nodes) nodes.set(id, node);
  leader.pendingFinal = target;
  const joint = { configs: [old, voters], nodes, clusterId: eff.membership.clusterId };
  return { ok: true, logId: appendMembership(core, leader, joint) };
}

/**
 * Appends `membership` (it takes effect at once: the replication targets
 * follow it; a leader's role does not) and sends it to every peer.
 */
function appendMembership(core: EngineCore, leader: LeaderState, membership: Membership): LogId {
  const logId = { term: core.vote.term, index: core.log.lastIndex() + 1 };
  core.appendEntries([{ ...logId, type: "membership", membership }]);
  broadcast(core, leader, false);
  return logId;
}

function sameSet(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  const sa = new Set(a);
  return sa.size === new Set(b).size && b.every((x) => sa.has(x));
}

/**
 * After the commit index moved (`afterLeaderProgress`): leave a committed
 * joint configuration, report a committed final one, and step down if no
 * longer a voter.
 */
export function maybeFinalizeMembership(core: EngineCore, leader: LeaderState): void {
  const eff = core.effective();
  if (eff.logId === null || eff.logId.index > core.commit) return;
  const configs = eff.membership.configs;
  if (configs.length > 1) {
    const final = leader.pendingFinal ??
      { configs: [configs[1]!], nodes: eff.membership.nodes, clusterId: eff.membership.clusterId };
    leader.pendingFinal = null;
    appendMembership(core, leader, final);
    return;
  }
  if (eff.logId.term === core.vote.term && leader.reportedMembership !== eff.logId.index) {
    leader.reportedMembership = eff.logId.index;
    core.emit({ type: "membership-done", logId: eff.logId, membership: eff.membership });
  }
  if (!isVoter(eff.membership, core.id)) {
    becomeFollower(core, core.vote.term, null, "removed");
  }
}
