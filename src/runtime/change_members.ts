/**
 * The forms of membership change an application can ask for, and how each
 * turns the current membership into the target one.
 *
 * @module
 */

import { EmptyMembership, LearnerNotFound } from "../errors.ts";
import type { Membership, NodeId, RaftNode } from "../types.ts";
import { isVoter } from "../types.ts";
import { assertNever } from "./exhaustive.ts";

/**
 * A membership change:
 * - `add-voter-ids`: promote existing learners to voters;
 * - `add-voters`: add nodes (with addresses) as voters;
 * - `remove-voters`: demote voters (kept as learners with `retain`);
 * - `replace-all-voters`: the voter set becomes exactly `ids` (each must be a member);
 * - `add-nodes`: add learners;
 * - `remove-nodes`: remove learners (not voters).
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
  | { readonly type: "remove-nodes"; readonly ids: readonly NodeId[] };

/**
 * Computes the membership `change` leads to from `current` (uniform, not
 * joint). With `retain`, removed voters stay as learners; otherwise they
 * leave the cluster. Throws {@linkcode LearnerNotFound} when a voter to add
 * is not a member, {@linkcode EmptyMembership} when no voter would remain,
 * and RangeError for other impossible requests.
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
    throw new RangeError("membership is joint: a change is in progress");
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
    case "remove-nodes":
      for (const id of change.ids) {
        if (isVoter(current, id)) {
          throw new RangeError(`node ${id} is a voter: remove it as a voter first`);
        }
        nodes.delete(id);
      }
      break;
    default:
      assertNever(change);
  }
  if (voters.size === 0) throw new EmptyMembership();
  if (!retain) { for (const id of removed) nodes.delete(id); }
  return { configs: [[...voters].sort((a, b) => a - b)], nodes, clusterId: current.clusterId };
}
