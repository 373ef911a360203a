/**
 * What goes into the engine (its configuration and recovered state) and
 * what comes out (commands for the runtime to execute, in order).
 *
 * @module
 */

import type { RaftResponse, TimeoutNowRequest, VoteRequest } from "../messages.ts";
import type {
  Entry,
  LogDivergence,
  LogId,
  Membership,
  NodeId,
  SnapshotMeta,
  StoredMembership,
  Vote,
} from "../types.ts";

/**
 * The options the protocol needs; `Config` from `config.ts` satisfies it.
 *
 * @example
 * ```ts
 * import type { EngineConfig } from "./commands.ts";
 * const c: EngineConfig = {
 *   electionTimeoutMin: 150, electionTimeoutMax: 300, heartbeatInterval: 50,
 *   maxPayloadEntries: 300, maxInflight: 64, preVote: true, checkQuorum: true,
 *   leaseMargin: 50, enableElect: true, enableHeartbeat: true,
 * };
 * ```
 */
export interface EngineConfig {
  /** Lower bound of the randomized election timeout, ms. */
  readonly electionTimeoutMin: number;
  /** Upper bound (exclusive) of the randomized election timeout, ms. */
  readonly electionTimeoutMax: number;
  /** Interval between leader heartbeats, ms. */
  readonly heartbeatInterval: number;
  /** Most entries in one append request. */
  readonly maxPayloadEntries: number;
  /** Most append requests in flight to one peer while pipelining. */
  readonly maxInflight: number;
  /** Ask for pre-votes before raising the term. */
  readonly preVote: boolean;
  /** Leader steps down without a quorum; voters honour a leader lease. */
  readonly checkQuorum: boolean;
  /** Taken off the leader lease for clock drift, ms. */
  readonly leaseMargin: number;
  /** Campaign when the election timeout passes. */
  readonly enableElect: boolean;
  /** Send heartbeats on the heartbeat interval. */
  readonly enableHeartbeat: boolean;
  /**
   * Reset the progress of a peer whose log went backwards, so that it is
   * repaired (see `Config.allowLogReversion` for the caveat). Default false.
   */
  readonly allowLogReversion?: boolean;
}

/**
 * The source of randomness for election jitter; `Random` from `random.ts`
 * satisfies it.
 *
 * @example
 * ```ts
 * import type { EngineRandom } from "./commands.ts";
 * let x = 0;
 * const r: EngineRandom = { int: (min, max) => min + (x++ % (max - min)) };
 * ```
 */
export interface EngineRandom {
  /** An integer in `[minInclusive, maxExclusive)`. */
  int(minInclusive: number, maxExclusive: number): number;
}

/**
 * Everything the engine starts from: identity, options, randomness, the
 * current time and what storage recovered.
 *
 * @example
 * ```ts
 * import type { EngineInit } from "./commands.ts";
 * const init: Partial<EngineInit> = { id: 1, now: 0, logIds: [] };
 * ```
 */
export interface EngineInit {
  /** This node. */
  readonly id: NodeId;
  /** Protocol options. */
  readonly config: EngineConfig;
  /** Election jitter. */
  readonly random: EngineRandom;
  /** Current monotonic time, ms. */
  readonly now: number;
  /** The durable vote; defaults to term 0, no vote. */
  readonly vote?: Vote;
  /** Ids of every entry present in the log, consecutive, after `purged`. */
  readonly logIds?: readonly LogId[];
  /** The last purged log id. */
  readonly purged?: LogId | null;
  /** The last committed log id known to be durable (optional hint). */
  readonly committed?: LogId | null;
  /** The last log id the state machine applied. */
  readonly applied?: LogId | null;
  /**
   * Memberships from the snapshot and the log, ascending by log id: at least
   * the last one at or before the commit and every one after it.
   */
  readonly memberships?: readonly StoredMembership[];
  /** The current snapshot, if any. */
  readonly snapshot?: SnapshotMeta | null;
  /**
   * When a leader was last heard from, if possibly recently: a runtime that
   * restarts a node passes the current time, so the node keeps refusing
   * other candidates for the minimum election timeout, as it promised any
   * leader it acknowledged before the restart (the leader's lease relies on
   * it). Default: never.
   */
  readonly heardFromLeaderAt?: number;
}

/**
 * An append request with the entries given as a range of indexes, which the
 * runtime reads from the log (or its cache of recent entries) before sending.
 *
 * @example
 * ```ts
 * import type { AppendPlan } from "./commands.ts";
 * const heartbeat: AppendPlan = {
 *   term: 2, leaderId: 1, prevLogId: { term: 2, index: 7 }, first: 8, last: 7, leaderCommit: 7, round: 3,
 *   clusterId: "c1",
 * };
 * ```
 */
export interface AppendPlan {
  /** The leader's term. */
  readonly term: number;
  /** The leader. */
  readonly leaderId: NodeId;
  /** The entry before `first`. */
  readonly prevLogId: LogId | null;
  /** First index to send. */
  readonly first: number;
  /** Last index to send; `last < first` sends no entries (a heartbeat). */
  readonly last: number;
  /** The leader's commit index, capped at what the follower is known to match. */
  readonly leaderCommit: number;
  /** Heartbeat round. */
  readonly round: number;
  /** The cluster's id, carried by the request. */
  readonly clusterId: string;
}

/**
 * Why a read could not be served: this node does not lead (`not-leader`,
 * naming the leader if known), or it led and check-quorum deposed it while
 * the read waited, since no majority had answered for an election timeout
 * (`quorum-lost`, with the voters that did answer within that time: this
 * node first, then its peers in id order).
 *
 * @example
 * ```ts
 * import type { ReadFailure } from "./commands.ts";
 * const f: ReadFailure = { kind: "not-leader", leaderId: 2 };
 * const lost: ReadFailure = { kind: "quorum-lost", acked: [1, 4] };
 * ```
 */
export type ReadFailure =
  | { readonly kind: "not-leader"; readonly leaderId: NodeId | null }
  | { readonly kind: "quorum-lost"; readonly acked: readonly NodeId[] };

/**
 * A command for the runtime. Storage commands carry an increasing `io`
 * number: the runtime executes them in order and reports completion with
 * `RaftEngine.flushed(io)`. `send-snapshot` asks the runtime to stream the
 * current snapshot to a peer whose entries are purged; `install-snapshot`
 * asks it to install a received snapshot into the state machine (after every
 * earlier `apply`) and report `snapshotInstalled(token)`. Commands that depend on durability (vote
 * replies, append acks, a candidate's vote requests) are only emitted once
 * the writes they depend on are reported flushed.
 *
 * @example
 * ```ts
 * import type { Command } from "./commands.ts";
 * function describe(c: Command): string { return c.type; }
 * ```
 */
export type Command =
  | { readonly type: "save-vote"; readonly vote: Vote; readonly io: number }
  | { readonly type: "append-log"; readonly entries: readonly Entry[]; readonly io: number }
  | { readonly type: "truncate-log"; readonly since: number; readonly io: number }
  | { readonly type: "purge-log"; readonly upTo: LogId; readonly io: number }
  | {
    readonly type: "send";
    readonly to: NodeId;
    readonly message: VoteRequest | TimeoutNowRequest;
  }
  | {
    readonly type: "replicate";
    readonly to: NodeId;
    readonly plan: AppendPlan;
    /**
     * Set on a request that only tells an idle peer a newer commit index. A
     * runtime may skip it: the next append or heartbeat carries the same
     * information (a throughput/latency trade-off: see `Raft`).
     */
    readonly lazy?: boolean;
  }
  | { readonly type: "reply"; readonly token: number; readonly message: RaftResponse }
  | { readonly type: "apply"; readonly first: number; readonly last: LogId }
  | {
    readonly type: "send-snapshot";
    readonly to: NodeId;
    readonly term: number;
    readonly leaderId: NodeId;
    readonly clusterId: string;
  }
  | { readonly type: "refuse"; readonly token: number; readonly refusal: Refusal }
  | { readonly type: "install-snapshot"; readonly token: number; readonly meta: SnapshotMeta }
  | { readonly type: "read-ready"; readonly token: number; readonly index: number }
  | { readonly type: "read-failed"; readonly token: number; readonly reason: ReadFailure }
  | {
    readonly type: "membership-done";
    readonly logId: LogId;
    readonly membership: Membership;
  }
  | { readonly type: "fatal"; readonly reason: FatalReason }
  | {
    /**
     * Leader: `peer` answered with a log that went backwards — it lacks (or
     * holds another entry at) `index`, at or below `matched`, which it had
     * acknowledged. Emitted once per peer and leadership; `reset` says
     * whether its progress was reset (`allowLogReversion`) or it stays stuck.
     */
    readonly type: "peer-log-reverted";
    readonly peer: NodeId;
    readonly matched: number;
    readonly index: number;
    readonly reset: boolean;
  };

/**
 * Why the engine asks the runtime to stop the node for good (the `fatal`
 * command): a leader's append conflicts with an entry this node has
 * committed (`log-diverged`) — proof that this node's data was replaced
 * (wiped, restored from an old backup) or that two clusters share an id.
 * The engine truncated nothing; continuing would lose committed entries.
 *
 * @example
 * ```ts
 * import type { FatalReason } from "./commands.ts";
 * const r: FatalReason = {
 *   kind: "log-diverged", index: 4, committed: 6, ownTerm: 1, leaderTerm: 2, leaderId: 3, term: 5,
 * };
 * ```
 */
export type FatalReason = { readonly kind: "log-diverged" } & LogDivergence;

/**
 * Why a peer's request was refused without being looked at: it belongs to
 * another cluster, it carries a term no real cluster reaches (see
 * `MAX_PEER_TERM`), or its sender is not a member of this node's committed
 * membership and the request would be refused anyway (`not-a-member`, see
 * `peerRefusal`). The runtime answers the request with the matching
 * `RaftError` (`ClusterMismatch`, `InvalidMessage`, `NotAMember`).
 *
 * @example
 * ```ts
 * import type { Refusal } from "./commands.ts";
 * const r: Refusal = { kind: "cluster-mismatch", expected: "a1", got: "b2", from: 3 };
 * ```
 */
export type Refusal =
  | {
    readonly kind: "cluster-mismatch";
    readonly expected: string;
    readonly got: string;
    readonly from: NodeId;
  }
  | { readonly kind: "term-too-high"; readonly term: number; readonly max: number }
  | { readonly kind: "not-a-member"; readonly from: NodeId };

/**
 * The outcome of a proposal: where it went, or why it was refused.
 *
 * @example
 * ```ts
 * import type { ProposeResult } from "./commands.ts";
 * const r: ProposeResult = { ok: true, term: 2, firstIndex: 10 };
 * ```
 */
export type ProposeResult =
  | { readonly ok: true; readonly term: number; readonly firstIndex: number }
  | {
    readonly ok: false;
    readonly reason: "not-leader" | "transferring";
    readonly leaderId: NodeId | null;
  };

/**
 * The outcome of an administrative call (initialize, membership change,
 * leadership transfer).
 *
 * @example
 * ```ts
 * import type { AdminResult } from "./commands.ts";
 * const r: AdminResult = { ok: false, reason: "not-leader", leaderId: 3 };
 * ```
 */
export type AdminResult =
  | { readonly ok: true; readonly logId: LogId | null }
  | {
    readonly ok: false;
    readonly reason:
      | "not-leader"
      | "already-initialized"
      | "in-progress"
      | "empty-membership"
      | "invalid";
    readonly leaderId: NodeId | null;
  }
  | {
    readonly ok: false;
    /** `nodeId` is the node the refusal is about. */
    readonly reason: "not-in-members" | "learner-not-found" | "not-voter";
    readonly leaderId: NodeId | null;
    readonly nodeId: NodeId;
  };
