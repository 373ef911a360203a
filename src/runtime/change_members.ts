/**
 * The memberships an application can ask for: the initial one (with the
 * cluster's identity), and the forms of membership change, with how each
 * turns the current membership into the target one.
 *
 * @module
 */

import type { EngineStatus } from "../engine/engine.ts";
import { EmptyMembership, InProgress, InvalidArgument, LearnerNotFound } from "../errors.ts";
import type { Random } from "../random.ts";
import type { Membership, NodeId, RaftNode } from "../types.ts";
import { isNodeId, isVoter, membershipOf } from "../types.ts";
import { forwardToLeader, type NodeAddresses } from "./engine_errors.ts";

/**
 * The first membership of a new cluster: `members` (ids, or ids with
 * addresses) as its voters, and `clusterId` as its identity (when not
 * given, 128 random bits from `random` as 32 hex digits). Throws
 * `InvalidArgument` for an invalid id or cluster id, {@linkcode EmptyMembership}
 * for no members.
 *
 * @example
 * ```ts
 * import { initialMembership } from "./change_members.ts";
 * import { cryptoRandom } from "../random.ts";
 * const m = initialMembership([1, 2, 3], "kv-prod", cryptoRandom());
 * console.assert(m.clusterId === "kv-prod" && m.configs[0]?.length === 3);
 * ```
 */
export function initialMembership(
  members: readonly NodeId[] | ReadonlyMap<NodeId, RaftNode>,
  clusterId: string | undefined,
  random: Random,
): Membership {
  const ids = Array.isArray(members)
    ? members
    : [...(members as ReadonlyMap<NodeId, RaftNode>).keys()];
  const addrs = Array.isArray(members) ? new Map() : members as ReadonlyMap<NodeId, RaftNode>;
  for (const id of ids) {
    if (!isNodeId(id)) throw new InvalidArgument("members", `invalid node id ${id}`);
  }
  if (ids.length === 0) throw new EmptyMembership();
  const id = clusterId ?? newClusterId(random);
  if (typeof id !== "string" || !/^[0-9A-Za-z_.-]{1,64}$/.test(id)) {
    throw new InvalidArgument(
      "clusterId",
      `clusterId must be 1 to 64 letters, digits, '_', '.' or '-', got ${String(id)}`,
    );
  }
  return membershipOf(ids, [], addrs, id);
}

/** 128 random bits as 32 hex digits. */
function newClusterId(random: Random): string {
  let id = "";
  for (let i = 0; i < 4; i++) {
    id += random.int(0, 0x1_0000_0000).toString(16).padStart(8, "0");
  }
  return id;
}

/**
 * A membership change:
 * - `add-voter-ids`: promote existing learners to voters;
 * - `add-voters`: add nodes (with addresses) as voters;
 * - `remove-voters`: demote voters (kept as learners with `retain`);
 * - `replace-all-voters`: the voter set becomes exactly `ids` (each must be a member);
 * - `add-nodes`: add learners (members already present keep their record);
 * - `remove-nodes`: remove learners (not voters: `InvalidArgument`);
 * - `set-nodes`: change the records (addresses, metadata) of existing members;
 * - `replace-all-nodes`: the member records become exactly `nodes` (which
 *   must hold every voter; members left out are removed as learners);
 * - `batch`: several changes, each applied to the result of the previous,
 *   as one membership change (one joint consensus when voters change).
 *
 * @example
 * ```ts
 * import type { ChangeMembers } from "./change_members.ts";
 * const change: ChangeMembers = { type: "replace-all-voters", ids: [2, 3, 4] };
 * ```
 */
export type ChangeMembers =
  | { readonly type: "add-voter-ids"; readonly ids: readonly NodeId[] }
  | { readonly type: "add-voters"; readonly nodes: ReadonlyMap<NodeId, RaftNode> }
  | { readonly type: "remove-voters"; readonly ids: readonly NodeId[] }
  | { readonly type: "replace-all-voters"; readonly ids: readonly NodeId[] }
  | { readonly type: "add-nodes"; readonly nodes: ReadonlyMap<NodeId, RaftNode> }
  | { readonly type: "remove-nodes"; readonly ids: readonly NodeId[] }
  | { readonly type: "set-nodes"; readonly nodes: ReadonlyMap<NodeId, RaftNode> }
  | { readonly type: "replace-all-nodes"; readonly nodes: ReadonlyMap<NodeId, RaftNode> }
  | { readonly type: "batch"; readonly changes: readonly ChangeMembers[] };

/**
 * The membership `change` leads to on the leader whose engine reports
 * `status`. Throws {@linkcode ForwardToLeader} (naming the leader from
 * `nodes`) on a non-leader, {@linkcode InProgress} while the effective
 * membership is joint or not committed yet, and whatever
 * {@linkcode applyChange} throws.
 */
export function changeTarget(
  status: Pick<
    EngineStatus,
    "role" | "leaderId" | "membership" | "committed" | "committedMembership"
  >,
  change: ChangeMembers,
  retain: boolean,
  nodes: NodeAddresses,
): Membership {
  const st = status;
  if (st.role !== "leader") throw forwardToLeader(st.leaderId, nodes);
  const eff = st.membership;
  if (
    eff.membership.configs.length !== 1 ||
    (eff.logId?.index ?? 0) > (st.committed?.index ?? 0)
  ) {
    throw new InProgress(st.committedMembership.logId, eff.logId);
  }
  return applyChange(eff.membership, change, retain);
}

/**
 * Computes the membership `change` leads to from `current` (uniform, not
 * joint). With `retain`, removed voters stay as learners; otherwise they
 * leave the cluster. Throws {@linkcode LearnerNotFound} when a voter to add
 * is not a member, {@linkcode EmptyMembership} when no voter would remain,
 * {@linkcode InvalidArgument} for other impossible requests (removing a
 * voter with `remove-nodes`), {@linkcode InProgress} for a joint `current`.
 *
 * @example
 * ```ts
 * import { applyChange } from "./change_members.ts";
 * import { membershipOf } from "../types.ts";
 * const next = applyChange(membershipOf([1, 2, 3], [4]), { type: "add-voter-ids", ids: [4] }, false);
 * next.configs; // [[1, 2, 3, 4]]
 * ```
 */
export function applyChange(
  current: Membership,
  change: ChangeMembers,
  retain: boolean,
): Membership {
  if (current.configs.length !== 1) {
    throw new InProgress(null, null);
  }
  if (change.type === "batch") {
    if (!Array.isArray(change.changes)) {
      throw new InvalidArgument("changes", "a batch change takes an array of changes");
    }
    let m = current;
    for (const c of change.changes) m = applyChange(m, c, retain);
    return m;
  }
  const voters = new Set<NodeId>(current.configs[0]);
  const nodes = new Map<NodeId, RaftNode>(current.nodes);
  const removed: NodeId[] = [];
  switch (change.type) {
    case "add-voter-ids":
      for (const id of change.ids) {
        if (!nodes.has(id)) throw new LearnerNotFound(id);
        voters.add(id);
      }
      break;
    case "add-voters":
      for (const [id, node] of change.nodes) {
        nodes.set(id, node);
        voters.add(id);
      }
      break;
    case "remove-voters":
      for (const id of change.ids) {
        if (voters.delete(id)) removed.push(id);
      }
      break;
    case "replace-all-voters":
      for (const id of change.ids) if (!nodes.has(id)) throw new LearnerNotFound(id);
      for (const id of voters) if (!change.ids.includes(id)) removed.push(id);
      voters.clear();
      for (const id of change.ids) voters.add(id);
      break;
    case "add-nodes":
      for (const [id, node] of change.nodes) {
        if (!nodes.has(id)) nodes.set(id, node);
      }
      break;
    case "set-nodes":
      for (const [id, node] of _nodeMap(change.nodes)) {
        if (!nodes.has(id)) {
          throw new InvalidArgument("nodes", `node ${id} is not a member: add it first`);
        }
        nodes.set(id, node);
      }
      break;
    case "replace-all-nodes": {
      const next = _nodeMap(change.nodes);
      for (const id of voters) {
        if (!next.has(id)) {
          throw new InvalidArgument(
            "nodes",
            `node ${id} is a voter: replace-all-nodes must keep every voter`,
          );
        }
      }
      nodes.clear();
      for (const [id, node] of next) nodes.set(id, node);
      break;
    }
    case "remove-nodes":
      for (const id of change.ids) {
        if (isVoter(current, id)) {
          throw new InvalidArgument(
            "ids",
            `node ${id} is a voter: remove it as a voter first (remove-voters)`,
          );
        }
        nodes.delete(id);
      }
      break;
    default: {
      const unknown: never = change; // exhaustive: a new change type is a type error here
      throw new InvalidArgument(
        "change",
        `unknown membership change ${JSON.stringify((unknown as { type?: unknown }).type)}`,
      );
    }
  }
  if (voters.size === 0) throw new EmptyMembership();
  if (!retain) { for (const id of removed) nodes.delete(id); }
  return { configs: [[...voters].sort((a, b) => a - b)], nodes, clusterId: current.clusterId };
}

function _nodeMap(nodes: ReadonlyMap<NodeId, RaftNode>): ReadonlyMap<NodeId, RaftNode> {
  if (!(nodes instanceof Map)) throw new InvalidArgument("nodes", "nodes must be a Map");
  for (const id of nodes.keys()) {
    if (!isNodeId(id)) throw new InvalidArgument("nodes", `invalid node id ${id}`);
  }
  return nodes;
}
