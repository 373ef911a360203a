/**
 * Plain event counters of a node, read on demand (`Raft.counters()`): each
 * part of the node increments its own numbers; nothing is built until read.
 *
 * @module
 */

/**
 * What a node counted since it started (not persisted across restarts).
 *
 * @example
 * ```ts
 * import type { RaftCounters } from "./counters.ts";
 * function electionsPerLeader(c: RaftCounters): number {
 *   return c.electionsStarted / Math.max(1, c.leaderChanges);
 * }
 * ```
 */
export interface RaftCounters {
  /** Elections this node started (terms it campaigned in; pre-votes not counted). */
  readonly electionsStarted: number;
  /** Times this node learned of a new leader (a new term's, or another node). */
  readonly leaderChanges: number;
  /** Entries this node proposed as leader (client writes and blank barriers). */
  readonly proposals: number;
  /** Append requests (heartbeats included) sent to peers. */
  readonly appendsSent: number;
  /** Append requests (heartbeats included) received from leaders. */
  readonly appendsReceived: number;
  /** Snapshots sent to peers (the transfer completed). */
  readonly snapshotsSent: number;
  /** Snapshots received and installed into the state machine. */
  readonly snapshotsInstalled: number;
  /** Snapshots the state machine built. */
  readonly snapshotsBuilt: number;
  /**
   * As leader: peers found with a log that went backwards (data lost), each
   * counted once per leadership while stuck, or at every reset with
   * `allowLogReversion`.
   */
  readonly logReversions: number;
  /** Follower reads (`policy: "follower"`) this node confirmed through the leader. */
  readonly followerReads: number;
}
