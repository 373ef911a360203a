/**
 * What a leader knows about replicating to one peer: how far the peer
 * matches, what to send next, and how much is in flight.
 *
 * - `probe`: the match point is unknown; one request at a time, and a
 *   rejection moves `next` back using the follower's conflict hint.
 * - `pipeline`: the match point is known; up to `maxInflight` requests are
 *   in flight, each ending at an index recorded in `inflight`.
 * - `snapshot`: the entries the peer needs are purged; a snapshot is being
 *   sent, and nothing else until it is answered (or fails).
 *
 * @module
 */

import type { NodeId } from "../types.ts";

/**
 * Replication state of one peer, owned by the leader's engine.
 *
 * @example
 * ```ts
 * import { ReplicationProgress } from "./replication_progress.ts";
 * const p = new ReplicationProgress(2, 11);
 * p.state; // "probe"
 * p.onMatch(10);
 * p.state; // "pipeline"
 * ```
 */
export class ReplicationProgress {
  /** The peer. */
  readonly id: NodeId;
  /** Highest index known to be durably stored by the peer, matching the leader. */
  match = 0;
  /** Next index to send. */
  next: number;
  /** Probing or pipelining. */
  state: "probe" | "pipeline" | "snapshot" = "probe";
  /** In probe state: a request is in flight. */
  probeInflight = false;
  /** In pipeline state: the last index of each request in flight, ascending. */
  inflight: number[] = [];
  /** Highest heartbeat round the peer acknowledged. */
  ackedRound = 0;
  /** When the peer last answered a request of this leader (engine time; `-Infinity`: never). */
  ackedAt = -Infinity;
  /**
   * In pipeline state: when the oldest request in flight was sent, or last
   * acknowledged progress. A peer whose requests stay unacknowledged for an
   * election timeout is probed again (requests lost without a failure report).
   */
  progressAt = 0;
  /** Commit index the latest request let the peer use (capped at the entries it covered). */
  sentCommit = 0;
  /**
   * The leader's heartbeat round when `match` last grew: a request of a
   * later round was sent after the peer held `match`, so its rejection at
   * or below `match` means the peer's log went backwards.
   */
  matchRound = 0;
  /** The peer's log went backwards and was reported (reported once while stuck). */
  reverted = false;

  /** A peer about to be probed from `next`. */
  constructor(id: NodeId, next: number) {
    this.id = id;
    this.next = next;
  }

  /**
   * Records that the peer matches up to `index`. Returns whether `match`
   * grew. Never moves `match` backwards.
   */
  onMatch(index: number): boolean {
    const grew = index > this.match;
    if (grew) this.match = index;
    // While a snapshot is in flight only its answer moves the peer on.
    if (this.state === "snapshot") return grew;
    if (this.state === "probe") {
      this.state = "pipeline";
      this.probeInflight = false;
      this.inflight = [];
      this.next = this.match + 1;
    } else {
      let k = 0;
      while (k < this.inflight.length && this.inflight[k]! <= index) k++;
      if (k > 0) this.inflight.splice(0, k);
      if (this.next <= this.match) this.next = this.match + 1;
    }
    return grew;
  }

  /**
   * Handles a rejection of the request whose previous index was `rejected`.
   * Returns `false` for a stale rejection (ignored); otherwise switches to
   * probing from `next`, never below `match + 1`.
   */
  onReject(rejected: number, next: number): boolean {
    if (this.state === "snapshot") return false;
    if (this.state === "pipeline") {
      if (rejected <= this.match) return false;
    } else if (rejected !== this.next - 1) {
      return false;
    }
    this.becomeProbe(Math.max(this.match + 1, Math.min(next, rejected)));
    return true;
  }

  /** Starts probing from `next` (after a rejection or an unreachable peer). */
  becomeProbe(next: number = this.match + 1): void {
    this.state = "probe";
    this.next = Math.max(next, this.match + 1);
    this.probeInflight = false;
    this.inflight = [];
  }

  /**
   * The peer's log went backwards (`allowLogReversion`): forgets its match
   * and probes it from `next` (at least 1), as a new peer.
   */
  resetMatch(next: number, round: number): void {
    this.match = 0;
    this.matchRound = round;
    this.reverted = false;
    this.becomeProbe(Math.max(1, next));
  }

  /** Starts sending a snapshot; appends wait until it is answered. */
  becomeSnapshot(): void {
    this.state = "snapshot";
    this.probeInflight = false;
    this.inflight = [];
  }

  /** The peer installed a snapshot ending at `index` (or refused: `index` = its match). */
  onSnapshotDone(index: number): boolean {
    const grew = index > this.match;
    if (grew) this.match = index;
    this.state = "pipeline";
    this.inflight = [];
    this.next = this.match + 1;
    return grew;
  }

  /** Whether another request may be sent now. */
  canSend(maxInflight: number): boolean {
    if (this.state === "snapshot") return false;
    return this.state === "probe" ? !this.probeInflight : this.inflight.length < maxInflight;
  }

  /** Records a request ending at `last` as sent. */
  onSent(last: number): void {
    if (this.state === "probe") {
      this.probeInflight = true;
    } else {
      this.inflight.push(last);
      this.next = last + 1;
    }
  }
}
