/**
 * Plain event counters of a node, read on demand (`Raft.counters()`): each
 * part of the node increments its own numbers; nothing is built until read.
 *
 * @module
 */

import type { RaftResponse } from "../messages.ts";

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
  /** Writes not answered yet: queued, or proposed and waiting to be applied (a gauge). */
  readonly pendingProposals: number;
  /**
   * Bytes of snapshots: `built` (of those whose `size` the state machine
   * gives), `sent` (completed transfers), `installed`.
   */
  readonly snapshotBytes: {
    readonly built: number;
    readonly sent: number;
    readonly installed: number;
  };
  /** RPCs sent to peers, by type and outcome. */
  readonly rpcsSent: RpcCounts;
  /** RPCs received from peers, by type and how this node answered. */
  readonly rpcsReceived: RpcCounts;
  /** Latency of the RPCs sent, from the send to the answer or failure, by type (seconds). */
  readonly rpcDuration: Readonly<Record<RpcType, HistogramSnapshot>>;
  /** Duration of the log store's append calls, fsync included (seconds). */
  readonly storageAppendDuration: HistogramSnapshot;
}

/**
 * The RPC types counted by type (`raft_rpcs_sent_total{type}`, …): the
 * requests of the Raft protocol.
 *
 * @example
 * ```ts
 * import { RPC_TYPES } from "./counters.ts";
 * console.assert(RPC_TYPES.includes("append"));
 * ```
 */
export const RPC_TYPES: readonly [
  "append",
  "vote",
  "pre-vote",
  "timeout-now",
  "install-snapshot",
  "read-index",
] = Object.freeze(
  ["append", "vote", "pre-vote", "timeout-now", "install-snapshot", "read-index"] as const,
);

/**
 * One of {@linkcode RPC_TYPES}.
 *
 * @example
 * ```ts
 * import type { RpcType } from "./counters.ts";
 * const t: RpcType = "vote";
 * ```
 */
export type RpcType = typeof RPC_TYPES[number];

/**
 * How an RPC ended: `ok` (answered, accepted or granted), `rejected`
 * (answered no: an append that did not match, a vote or TimeoutNow not
 * granted, a snapshot not installed), `refused` (refused unread: another
 * cluster, not a member, a forged term), `error` (no answer: unreachable,
 * timed out, failed).
 *
 * @example
 * ```ts
 * import { RPC_OUTCOMES } from "./counters.ts";
 * console.assert(RPC_OUTCOMES.length === 4);
 * ```
 */
export const RPC_OUTCOMES: readonly ["ok", "rejected", "refused", "error"] = Object.freeze(
  ["ok", "rejected", "refused", "error"] as const,
);

/**
 * One of {@linkcode RPC_OUTCOMES}.
 *
 * @example
 * ```ts
 * import type { RpcOutcome } from "./counters.ts";
 * const o: RpcOutcome = "error";
 * ```
 */
export type RpcOutcome = typeof RPC_OUTCOMES[number];

/**
 * Upper bounds (seconds) of the RPC latency histogram's buckets.
 *
 * @example
 * ```ts
 * import { RPC_SECONDS_BUCKETS } from "./counters.ts";
 * console.assert(RPC_SECONDS_BUCKETS[0]! < RPC_SECONDS_BUCKETS[1]!);
 * ```
 */
export const RPC_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
]);

/**
 * Upper bounds (seconds) of the storage append latency histogram's buckets.
 *
 * @example
 * ```ts
 * import { STORAGE_SECONDS_BUCKETS } from "./counters.ts";
 * console.assert(STORAGE_SECONDS_BUCKETS.at(-1) === 1);
 * ```
 */
export const STORAGE_SECONDS_BUCKETS: readonly number[] = Object.freeze([
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
]);

/**
 * A histogram read on demand: the bucket bounds (seconds), the count of
 * observations in each bucket (not cumulative; one more than the bounds:
 * the last is above every bound), their sum and their number.
 *
 * @example
 * ```ts
 * import type { HistogramSnapshot } from "./counters.ts";
 * const h: HistogramSnapshot = { bounds: [0.1, 1], counts: [3, 1, 0], sum: 0.9, count: 4 };
 * ```
 */
export interface HistogramSnapshot {
  /** Upper bounds of the buckets, ascending. */
  readonly bounds: readonly number[];
  /** Observations per bucket (`counts[bounds.length]`: above the last bound). */
  readonly counts: readonly number[];
  /** Sum of the observations. */
  readonly sum: number;
  /** Number of observations. */
  readonly count: number;
}

/**
 * A histogram with fixed buckets in a plain array: observing allocates
 * nothing.
 *
 * @example
 * ```ts
 * import { Histogram } from "./counters.ts";
 * const h = new Histogram([0.1, 1]);
 * h.observe(0.05);
 * h.observe(3);
 * const s = h.snapshot();
 * console.assert(s.counts.join() === "1,0,1" && s.count === 2);
 * ```
 */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /**
   * Creates a {@linkcode Histogram}.
   *
   * @param bounds upper bounds of the buckets, ascending
   */
  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  /** Counts one observation of `value` (seconds). */
  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  /** A copy of the histogram now. */
  snapshot(): HistogramSnapshot {
    return { bounds: this.#bounds, counts: [...this.#counts], sum: this.#sum, count: this.#count };
  }
}

/** Index of each RPC type in the counters' arrays. */
const _TYPE_INDEX: Readonly<Record<RpcType, number>> = {
  "append": 0,
  "vote": 1,
  "pre-vote": 2,
  "timeout-now": 3,
  "install-snapshot": 4,
  "read-index": 5,
};

/** Index of each outcome in the counters' arrays. */
const _OUTCOME_INDEX: Readonly<Record<RpcOutcome, number>> = {
  ok: 0,
  rejected: 1,
  refused: 2,
  error: 3,
};

/**
 * RPC counts by type and outcome, read on demand.
 *
 * @example
 * ```ts
 * import type { RpcCounts } from "./counters.ts";
 * function failedAppends(c: RpcCounts): number {
 *   return c.append.error;
 * }
 * ```
 */
export type RpcCounts = Readonly<Record<RpcType, Readonly<Record<RpcOutcome, number>>>>;

/**
 * The RPCs of one node: sent and received by type and outcome, and the
 * latency of those sent (from the send to the answer or failure), by
 * type. Plain arrays: counting allocates nothing.
 *
 * @example
 * ```ts
 * import { RpcStats } from "./counters.ts";
 * const rpcs = new RpcStats();
 * rpcs.sent("append", "ok", 0.002);
 * rpcs.received("vote", "rejected");
 * console.assert(rpcs.sentCounts().append.ok === 1 && rpcs.receivedCounts().vote.rejected === 1);
 * ```
 */
export class RpcStats {
  readonly #sent = new Array<number>(RPC_TYPES.length * RPC_OUTCOMES.length).fill(0);
  readonly #received = new Array<number>(RPC_TYPES.length * RPC_OUTCOMES.length).fill(0);
  readonly #durations: readonly Histogram[] = RPC_TYPES.map(() =>
    new Histogram(RPC_SECONDS_BUCKETS)
  );

  /** Counts an RPC sent, how it ended and how long that took (seconds). */
  sent(type: RpcType, outcome: RpcOutcome, seconds: number): void {
    const t = _TYPE_INDEX[type];
    this.#sent[t * RPC_OUTCOMES.length + _OUTCOME_INDEX[outcome]]!++;
    this.#durations[t]!.observe(seconds);
  }

  /** Counts an RPC received and how this node answered it. */
  received(type: RpcType, outcome: RpcOutcome): void {
    this.#received[_TYPE_INDEX[type] * RPC_OUTCOMES.length + _OUTCOME_INDEX[outcome]]!++;
  }

  /** RPCs sent, by type and outcome. */
  sentCounts(): RpcCounts {
    return _counts(this.#sent);
  }

  /** RPCs received, by type and outcome. */
  receivedCounts(): RpcCounts {
    return _counts(this.#received);
  }

  /** Latency of the RPCs sent, by type. */
  durations(): Readonly<Record<RpcType, HistogramSnapshot>> {
    const out = {} as Record<RpcType, HistogramSnapshot>;
    RPC_TYPES.forEach((t, i) => out[t] = this.#durations[i]!.snapshot());
    return out;
  }
}

function _counts(a: readonly number[]): RpcCounts {
  const out = {} as Record<RpcType, Record<RpcOutcome, number>>;
  RPC_TYPES.forEach((t, i) => {
    const row = {} as Record<RpcOutcome, number>;
    RPC_OUTCOMES.forEach((o, j) => row[o] = a[i * RPC_OUTCOMES.length + j]!);
    out[t] = row;
  });
  return out;
}

/**
 * The outcome of an answered RPC: `ok` when the answer is yes (an append
 * matched, a vote or pre-vote granted, a TimeoutNow accepted, a snapshot
 * response, a read index given), else `rejected`.
 *
 * @example
 * ```ts
 * import { answerOutcome } from "./counters.ts";
 * console.assert(answerOutcome({ type: "vote-response", term: 2, granted: false }) === "rejected");
 * ```
 */
export function answerOutcome(response: RaftResponse): RpcOutcome {
  switch (response.type) {
    case "append-response":
      return response.success ? "ok" : "rejected";
    case "vote-response":
    case "pre-vote-response":
      return response.granted ? "ok" : "rejected";
    case "timeout-now-response":
      return response.accepted ? "ok" : "rejected";
    case "install-snapshot-response":
      return "ok";
    case "read-index-response":
      return response.index !== null ? "ok" : "rejected";
  }
}

/**
 * The RPC type a response answers.
 *
 * @example
 * ```ts
 * import { answeredType } from "./counters.ts";
 * console.assert(answeredType("pre-vote-response") === "pre-vote");
 * ```
 */
export function answeredType(type: RaftResponse["type"]): RpcType {
  switch (type) {
    case "append-response":
      return "append";
    case "vote-response":
      return "vote";
    case "pre-vote-response":
      return "pre-vote";
    case "timeout-now-response":
      return "timeout-now";
    case "install-snapshot-response":
      return "install-snapshot";
    case "read-index-response":
      return "read-index";
  }
}
