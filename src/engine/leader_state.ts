/**
 * Everything a leader keeps that no other role has: per-peer replication
 * progress, heartbeat rounds and the quorum's acknowledgements of them
 * (check-quorum, the lease, ReadIndex), waiting reads, a leadership transfer
 * and a membership change's pending final configuration.
 *
 * One `LeaderState` is created when a node takes office (`becomeLeader`,
 * roles.ts) and dropped when it steps down (`becomeFollower`): the next
 * leadership starts from a fresh one, so nothing has to be reset by hand.
 * `EngineCore.leader` is non-null exactly while the role is `"leader"`.
 *
 * Internal to the engine.
 *
 * @module
 */

import type { Membership, NodeId } from "../types.ts";
import { ReplicationProgress } from "./replication_progress.ts";

/**
 * A read waiting for a heartbeat round to be acknowledged by a quorum.
 *
 * @example
 * ```ts
 * import type { PendingRead } from "./leader_state.ts";
 * const r: PendingRead = { token: 7, index: 12, round: 3 };
 * ```
 */
export interface PendingRead {
  /** The runtime's token for the request. */
  readonly token: number;
  /** The commit index when the read arrived: the read is served at it. */
  readonly index: number;
  /** The round that must be acknowledged by a quorum. */
  readonly round: number;
  /**
   * Asked by a peer (a follower read, `read-index` request): answered with
   * a `reply` (`read-index-response`) rather than `read-ready`/`read-failed`.
   */
  readonly peer?: boolean;
}

/**
 * A read that arrived before the leader committed an entry of its own term.
 *
 * @example
 * ```ts
 * import type { ReadAwaitingCommit } from "./leader_state.ts";
 * const r: ReadAwaitingCommit = { token: 7, policy: "lease" };
 * ```
 */
export interface ReadAwaitingCommit {
  /** The runtime's token for the request. */
  readonly token: number;
  /** How it asked to be served. */
  readonly policy: "read-index" | "lease";
  /** Asked by a peer (see {@linkcode PendingRead.peer}). */
  readonly peer?: boolean;
}

/**
 * A leadership transfer in progress.
 *
 * @example
 * ```ts
 * import type { Transfer } from "./leader_state.ts";
 * const t: Transfer = { to: 2, deadline: 1300, sent: false };
 * ```
 */
export interface Transfer {
  /** The node that should take over. */
  readonly to: NodeId;
  /** When to give up (engine time, ms). */
  readonly deadline: number;
  /** Whether TimeoutNow was sent. */
  sent: boolean;
}

/**
 * The state of one leadership (one term). Fields are public for the
 * engine's protocol modules.
 *
 * @example
 * ```ts
 * import { LeaderState } from "./leader_state.ts";
 * const leader = new LeaderState(1000, 1050); // took office at 1000, first heartbeat at 1050
 * leader.round; // 1: the round the first appends carry
 * leader.syncProgress(new Set([2, 3]), 8);
 * [...leader.progress.keys()]; // [2, 3], each probed from index 8
 * ```
 */
export class LeaderState {
  /** Per-peer replication progress: one per replication target. */
  readonly progress: Map<NodeId, ReplicationProgress> = new Map();
  /** The current heartbeat round (round 1 goes out with the first appends). */
  round = 1;
  /** When each unacknowledged round was sent. */
  readonly roundSentAt: Map<number, number> = new Map();
  /** Highest round acknowledged by a quorum. */
  quorumRound = 0;
  /** When the round last acknowledged by a quorum was sent (`-Infinity`: none yet). */
  quorumAckAt = -Infinity;
  /** When the next heartbeat is due. */
  heartbeatDue: number;
  /** When it took office. */
  readonly leaderSince: number;
  /** The lease counts only rounds after this one (`Infinity` once TimeoutNow was sent). */
  leaseFloorRound = 0;
  /** Index of the last membership reported done. */
  reportedMembership = 0;
  /** Reads waiting for a quorum round, in arrival (and round) order. */
  reads: PendingRead[] = [];
  /** Reads waiting for the first entry of this term to commit. */
  readsAwaitingCommit: ReadAwaitingCommit[] = [];
  /** The last round a read started or joined (0: none). */
  readRound = 0;
  /**
   * Reads that arrived while the round of earlier reads was in flight: they
   * share the next round, started once that one is acknowledged.
   */
  readsAwaitingRound: { readonly token: number; readonly peer?: boolean }[] = [];
  /**
   * Whether the messages of the current round are still in the engine's
   * output (not taken by the runtime yet): a read arriving now may join that
   * round, since its messages leave after the read arrived. Cleared by
   * `EngineCore.takeCommands`.
   */
  roundUnsent = false;
  /** The transfer in progress. */
  transfer: Transfer | null = null;
  /** The final membership of a joint change, appended once the joint one commits. */
  pendingFinal: Membership | null = null;

  /** A leadership that starts at `now`, its first heartbeat due at `heartbeatDue`. */
  constructor(now: number, heartbeatDue: number) {
    this.leaderSince = now;
    this.heartbeatDue = heartbeatDue;
    this.roundSentAt.set(1, now);
  }

  /**
   * Keeps one progress per replication target: drops the others, and adds
   * the missing ones (in `targets` order) to be probed from `next`.
   */
  syncProgress(targets: ReadonlySet<NodeId>, next: number): void {
    for (const id of [...this.progress.keys()]) if (!targets.has(id)) this.progress.delete(id);
    for (const id of targets) {
      if (!this.progress.has(id)) this.progress.set(id, new ReplicationProgress(id, next));
    }
  }

  /**
   * The time by which a quorum must have acknowledged a round sent since
   * taking office (check-quorum), given the maximum election timeout.
   */
  checkQuorumDeadline(electionTimeoutMax: number): number {
    return Math.max(this.quorumAckAt, this.leaderSince) + electionTimeoutMax;
  }

  /** Every read still waiting (for a round, then for the first commit). */
  pendingReads(): { readonly token: number; readonly peer?: boolean }[] {
    return [...this.reads, ...this.readsAwaitingRound, ...this.readsAwaitingCommit];
  }
}
