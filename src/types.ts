/**
 * Plain data shared by every layer: node ids, log ids, votes, entries,
 * memberships and snapshot metadata. Nothing here performs I/O.
 *
 * @module
 */

/**
 * Identifies a node of the cluster: a non-negative safe integer.
 *
 * @example
 * ```ts
 * import { isNodeId } from "./types.ts";
 * isNodeId(3); // true
 * isNodeId(-1); // false
 * ```
 */
export type NodeId = number;

/**
 * Tells whether a value is a valid {@linkcode NodeId}.
 *
 * @example
 * ```ts
 * import { isNodeId } from "./types.ts";
 * console.assert(isNodeId(0) && !isNodeId(1.5));
 * ```
 */
export function isNodeId(value: unknown): value is NodeId {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The largest term any node holds or sends: far below 2^53, so that terms
 * (and the arithmetic on them) stay exact. Decoders refuse larger terms.
 *
 * @example
 * ```ts
 * import { MAX_TERM } from "./types.ts";
 * console.assert(MAX_TERM === 2 ** 52);
 * ```
 */
export const MAX_TERM: number = 2 ** 52;

/**
 * The largest term a node takes from a peer's message: {@linkcode MAX_TERM}
 * less 2^32. A message of a larger term (only a forged or corrupt one can
 * carry it: 2^52 − 2^32 elections take longer than any cluster lives) is
 * refused, so a cluster that adopted the largest term a peer may send still
 * has 2^32 elections of room.
 *
 * @example
 * ```ts
 * import { MAX_PEER_TERM, MAX_TERM } from "./types.ts";
 * console.assert(MAX_TERM - MAX_PEER_TERM === 2 ** 32);
 * ```
 */
export const MAX_PEER_TERM: number = 2 ** 52 - 2 ** 32;

/**
 * The largest log index: far below 2^53 (at a million writes a second,
 * 142 years). Decoders refuse larger indexes.
 *
 * @example
 * ```ts
 * import { MAX_INDEX } from "./types.ts";
 * console.assert(MAX_INDEX === 2 ** 52);
 * ```
 */
export const MAX_INDEX: number = 2 ** 52;

/**
 * The position of an entry: the term of the leader that created it and its
 * index in the log. Indexes start at 1.
 *
 * @example
 * ```ts
 * import type { LogId } from "./types.ts";
 * const id: LogId = { term: 2, index: 10 };
 * ```
 */
export interface LogId {
  /** Term of the leader that appended the entry. */
  readonly term: number;
  /** Position in the log, from 1. */
  readonly index: number;
}

/**
 * Makes a {@linkcode LogId}.
 *
 * @example
 * ```ts
 * import { logId } from "./types.ts";
 * const id = logId(1, 5); // { term: 1, index: 5 }
 * ```
 */
export function logId(term: number, index: number): LogId {
  return { term, index };
}

/**
 * Orders log ids by term, then index; `null` (the empty log) sorts first.
 * Returns a negative number, zero or a positive number.
 *
 * @example
 * ```ts
 * import { compareLogId } from "./types.ts";
 * compareLogId({ term: 2, index: 1 }, { term: 1, index: 9 }) > 0; // true
 * compareLogId(null, { term: 0, index: 1 }) < 0; // true
 * ```
 */
export function compareLogId(a: LogId | null, b: LogId | null): number {
  if (a === null) return b === null ? 0 : -1;
  if (b === null) return 1;
  return a.term !== b.term ? a.term - b.term : a.index - b.index;
}

/**
 * Whether two log ids (or both `null`) are the same.
 *
 * @example
 * ```ts
 * import { logIdEquals } from "./types.ts";
 * logIdEquals({ term: 1, index: 2 }, { term: 1, index: 2 }); // true
 * ```
 */
export function logIdEquals(a: LogId | null, b: LogId | null): boolean {
  return compareLogId(a, b) === 0;
}

/**
 * The durable vote of a node: its current term, whom it voted for in that
 * term, and whether that candidate is known to have won (`committed`).
 *
 * @example
 * ```ts
 * import type { Vote } from "./types.ts";
 * const vote: Vote = { term: 1, votedFor: 2, committed: false };
 * ```
 */
export interface Vote {
  /** The node's current term. */
  readonly term: number;
  /** The candidate voted for in `term`, or `null`. */
  readonly votedFor: NodeId | null;
  /** `true` once `votedFor` is known to lead `term`. */
  readonly committed: boolean;
}

/**
 * The vote of a node that has never voted: term 0.
 *
 * @example
 * ```ts
 * import { INITIAL_VOTE } from "./types.ts";
 * console.assert(INITIAL_VOTE.term === 0);
 * ```
 */
export const INITIAL_VOTE: Vote = Object.freeze({ term: 0, votedFor: null, committed: false });

/**
 * Network address and application data of a node, stored in the membership.
 *
 * @example
 * ```ts
 * import type { RaftNode } from "./types.ts";
 * const node: RaftNode = { addr: "http://127.0.0.1:8001" };
 * ```
 */
export interface RaftNode {
  /** Where the node's Raft RPC endpoint listens. */
  readonly addr: string;
}

/**
 * A cluster configuration. `configs` holds one voter set, or two during a
 * joint-consensus change (old and new); a decision needs a majority of
 * **every** set. `nodes` lists every member with its address: voters and
 * learners (nodes in no voter set).
 *
 * @example
 * ```ts
 * import type { Membership } from "./types.ts";
 * const m: Membership = {
 *   configs: [[1, 2, 3]],
 *   nodes: new Map([[1, { addr: "a" }], [2, { addr: "b" }], [3, { addr: "c" }], [4, { addr: "d" }]]),
 *   clusterId: "5f2c9a01d4e8b7c6",
 * }; // node 4 is a learner
 * ```
 */
export interface Membership {
  /** Voter sets; joint consensus has two. Each is sorted ascending. */
  readonly configs: readonly (readonly NodeId[])[];
  /** Every node that receives replication, voters and learners. */
  readonly nodes: ReadonlyMap<NodeId, RaftNode>;
  /**
   * The cluster's identity, chosen at `initialize` and kept by every later
   * membership of the cluster. Every Raft request carries it; a node refuses
   * requests of another cluster. `""` on memberships made before cluster ids
   * existed (and on {@linkcode EMPTY_MEMBERSHIP}).
   */
  readonly clusterId: string;
}

/**
 * A membership together with the id of the log entry that holds it
 * (`null` for none, e.g. the empty initial membership).
 *
 * @example
 * ```ts
 * import type { StoredMembership } from "./types.ts";
 * const sm: StoredMembership = {
 *   logId: { term: 0, index: 1 },
 *   membership: { configs: [[1]], nodes: new Map([[1, { addr: "" }]]), clusterId: "c1" },
 * };
 * ```
 */
export interface StoredMembership {
  /** The entry that holds this membership. */
  readonly logId: LogId | null;
  /** The membership itself. */
  readonly membership: Membership;
}

/**
 * A membership with no voters and no nodes: an uninitialized node's.
 *
 * @example
 * ```ts
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * console.assert(EMPTY_MEMBERSHIP.configs.length === 0);
 * ```
 */
export const EMPTY_MEMBERSHIP: Membership = Object.freeze({
  configs: Object.freeze([]) as readonly (readonly NodeId[])[],
  nodes: new Map<NodeId, RaftNode>(),
  clusterId: "",
});

/**
 * Makes a membership with one voter set (sorted, de-duplicated) plus
 * learners, of cluster `clusterId` (default `""`). Nodes without an address
 * get `""`.
 *
 * @example
 * ```ts
 * import { membershipOf } from "./types.ts";
 * const m = membershipOf([3, 1, 2], [4]);
 * // m.configs = [[1, 2, 3]]; m.nodes has 1, 2, 3 and 4
 * ```
 */
export function membershipOf(
  voters: Iterable<NodeId>,
  learners?: Iterable<NodeId>,
  addresses?: ReadonlyMap<NodeId, RaftNode>,
  clusterId?: string,
): Membership;
export function membershipOf(
  voters: Iterable<NodeId>,
  learners: Iterable<NodeId> = [],
  addresses: ReadonlyMap<NodeId, RaftNode> = new Map(),
  clusterId = "",
): Membership {
  const set = [...new Set(voters)].sort((a, b) => a - b);
  const nodes = new Map<NodeId, RaftNode>();
  for (const id of [...set, ...learners]) nodes.set(id, addresses.get(id) ?? { addr: "" });
  return { configs: [set], nodes, clusterId };
}

/**
 * Every voter of a membership (the union of its voter sets), ascending.
 *
 * @example
 * ```ts
 * import { membershipOf, votersOf } from "./types.ts";
 * votersOf(membershipOf([1, 2])); // [1, 2]
 * ```
 */
export function votersOf(membership: Membership): NodeId[] {
  const all = new Set<NodeId>();
  for (const c of membership.configs) for (const id of c) all.add(id);
  return [...all].sort((a, b) => a - b);
}

/**
 * Whether `id` is a voter in any voter set of `membership`.
 *
 * @example
 * ```ts
 * import { isVoter, membershipOf } from "./types.ts";
 * isVoter(membershipOf([1, 2], [3]), 3); // false: 3 is a learner
 * ```
 */
export function isVoter(membership: Membership, id: NodeId): boolean {
  for (const c of membership.configs) if (c.includes(id)) return true;
  return false;
}

/**
 * Learners of a membership: nodes in no voter set, ascending.
 *
 * @example
 * ```ts
 * import { learnersOf, membershipOf } from "./types.ts";
 * learnersOf(membershipOf([1], [2])); // [2]
 * ```
 */
export function learnersOf(membership: Membership): NodeId[] {
  return [...membership.nodes.keys()].filter((id) => !isVoter(membership, id)).sort((a, b) =>
    a - b
  );
}

/**
 * An entry of no content: a new leader appends one to commit entries of earlier terms.
 *
 * @example
 * ```ts
 * import type { BlankEntry } from "./types.ts";
 * const e: BlankEntry = { term: 2, index: 7, type: "blank" };
 * ```
 */
export interface BlankEntry extends LogId {
  /** Discriminant. */
  readonly type: "blank";
}

/**
 * An entry carrying one application command, already encoded as bytes.
 *
 * @example
 * ```ts
 * import type { NormalEntry } from "./types.ts";
 * const e: NormalEntry = { term: 2, index: 8, type: "normal", data: new TextEncoder().encode("x") };
 * ```
 */
export interface NormalEntry extends LogId {
  /** Discriminant. */
  readonly type: "normal";
  /** The command, exactly as the client encoded it. */
  readonly data: Uint8Array;
}

/**
 * An entry carrying a new cluster configuration.
 *
 * @example
 * ```ts
 * import { type MembershipEntry, membershipOf } from "./types.ts";
 * const e: MembershipEntry = { term: 1, index: 1, type: "membership", membership: membershipOf([1, 2, 3]) };
 * ```
 */
export interface MembershipEntry extends LogId {
  /** Discriminant. */
  readonly type: "membership";
  /** The configuration that takes effect once this entry is appended. */
  readonly membership: Membership;
}

/**
 * One log entry. An entry is its own {@linkcode LogId} (`term`, `index`)
 * plus a payload.
 *
 * @example
 * ```ts
 * import type { Entry } from "./types.ts";
 * const e: Entry = { term: 1, index: 2, type: "normal", data: new Uint8Array([1]) };
 * ```
 */
export type Entry = BlankEntry | NormalEntry | MembershipEntry;

/**
 * Describes a snapshot: the last entry it covers, the membership in force
 * at that point, and an id unique per snapshot built.
 *
 * @example
 * ```ts
 * import type { SnapshotMeta } from "./types.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * const meta: SnapshotMeta = {
 *   lastLogId: { term: 2, index: 100 },
 *   lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
 *   snapshotId: "2-100-1",
 * };
 * ```
 */
export interface SnapshotMeta {
  /** The last entry the snapshot includes. */
  readonly lastLogId: LogId | null;
  /** The latest membership at or before `lastLogId`. */
  readonly lastMembership: StoredMembership;
  /** Unique per snapshot built. */
  readonly snapshotId: string;
}

/**
 * Where a leader's append conflicts with an entry this node committed
 * (the `LogDiverged` error and the engine's `fatal` command carry it).
 *
 * @example
 * ```ts
 * import type { LogDivergence } from "./types.ts";
 * const d: LogDivergence = { index: 4, committed: 6, ownTerm: 1, leaderTerm: 2, leaderId: 3, term: 5 };
 * ```
 */
export interface LogDivergence {
  /** The index at which the logs differ (at or below `committed`). */
  readonly index: number;
  /** This node's commit index. */
  readonly committed: number;
  /** The term of this node's entry at `index`. */
  readonly ownTerm: number;
  /** The term of the leader's entry at `index`. */
  readonly leaderTerm: number;
  /** The leader whose append conflicts. */
  readonly leaderId: NodeId;
  /** The append's term. */
  readonly term: number;
}
