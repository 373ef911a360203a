/**
 * Linearizable reads on their way: queued until the next turn hands them to
 * the engine (one batch per policy), then waiting, by token, for the engine
 * to confirm leadership (`read-ready`) or give up (`read-failed`), and last
 * waiting for the state machine to apply up to the read index.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { ReadFailure } from "../engine/commands.ts";
import { type RaftError, Timeout } from "../errors.ts";

/**
 * How a linearizable read is confirmed:
 *
 * - `read-index` (on the leader): a quorum round started after the read
 *   arrived confirms leadership; the read index is the commit index then.
 * - `lease` (on the leader): no round while the leader lease holds — cheaper,
 *   but relies on bounded clock drift (`leaseMargin`); when it does not hold
 *   (it lapsed, or a transfer voided it), a `read-index` read instead.
 * - `follower` (on any member, learners included): the node asks the leader
 *   for a read index with one `read-index` request (the reads that arrive in
 *   one turn share it; the leader confirms it with its ReadIndex round), then
 *   waits until it has applied that index. On the leader it is a `read-index`
 *   read.
 *
 * @example
 * ```ts
 * import type { ReadPolicy } from "./pending_reads.ts";
 * const p: ReadPolicy = "lease";
 * ```
 */
export type ReadPolicy = "read-index" | "lease" | "follower";

interface ReadRequest {
  readonly policy: ReadPolicy;
  resolve(index: number): void;
  reject(e: unknown): void;
}

/**
 * What the pending reads need from their node.
 */
export interface ReadHost {
  /** Hands reads to the engine (its `read`). */
  read(tokens: readonly number[], policy: "read-index" | "lease"): void;
  /**
   * Confirms follower reads through the leader (one request for all of
   * `tokens`); answers with {@linkcode PendingReads.ready},
   * {@linkcode PendingReads.failed} or {@linkcode PendingReads.rejected}.
   */
  readFromLeader(tokens: readonly number[]): void;
  /** A fresh token for the engine (shared with the node's other requests). */
  nextToken(): number;
  /** The error a failed read rejects with. */
  error(reason: ReadFailure): RaftError;
}

/**
 * The pending linearizable reads of one node.
 */
export class PendingReads {
  readonly #clock: Clock;
  readonly #host: ReadHost;
  /** Reads not handed to the engine yet. */
  #queued: ReadRequest[] = [];
  /** Reads the engine is confirming, by token. */
  readonly #confirming = new Map<number, ReadRequest>();
  /** Confirmed reads waiting for the state machine to apply up to their index. */
  #awaitingApply: { index: number; read: ReadRequest }[] = [];

  /**
   * @param clock for the reads' timeouts
   * @param host what the reads need from their node
   */
  constructor(clock: Clock, host: ReadHost) {
    this.#clock = clock;
    this.#host = host;
  }

  /**
   * Queues a read; resolves with its read index once the state machine has
   * applied up to it, rejects with {@linkcode Timeout} after `timeout` ms.
   */
  add(policy: ReadPolicy, timeout: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimer(timeout, () => {
        reject(new Timeout("ensureLinearizable", timeout));
      });
      this.#queued.push({
        policy,
        resolve: (i) => {
          this.#clock.clearTimer(timer);
          resolve(i);
        },
        reject: (e) => {
          this.#clock.clearTimer(timer);
          reject(e);
        },
      });
    });
  }

  /** Whether reads wait to be handed to the engine. */
  get hasQueued(): boolean {
    return this.#queued.length > 0;
  }

  /** Hands the queued reads on: one call per policy. */
  start(): void {
    const readIndex: number[] = [];
    const lease: number[] = [];
    const follower: number[] = [];
    for (const r of this.#queued) {
      const token = this.#host.nextToken();
      this.#confirming.set(token, r);
      (r.policy === "lease" ? lease : r.policy === "follower" ? follower : readIndex).push(token);
    }
    this.#queued = [];
    if (readIndex.length > 0) this.#host.read(readIndex, "read-index");
    if (lease.length > 0) this.#host.read(lease, "lease");
    if (follower.length > 0) this.#host.readFromLeader(follower);
  }

  /**
   * The engine confirmed read `token` at `index`: it resolves now if the
   * state machine applied that far (`appliedIndex`), else once it has.
   */
  ready(token: number, index: number, appliedIndex: number): void {
    const r = this.#confirming.get(token);
    if (r === undefined) return;
    this.#confirming.delete(token);
    if (appliedIndex >= index) r.resolve(index);
    else this.#awaitingApply.push({ index, read: r });
  }

  /** The engine could not serve read `token`: it rejects with the reason's error. */
  failed(token: number, reason: ReadFailure): void {
    const r = this.#confirming.get(token);
    if (r === undefined) return;
    this.#confirming.delete(token);
    r.reject(this.#host.error(reason));
  }

  /** Read `token` could not be confirmed (the leader could not be asked): it rejects with `err`. */
  rejected(token: number, err: RaftError): void {
    const r = this.#confirming.get(token);
    if (r === undefined) return;
    this.#confirming.delete(token);
    r.reject(err);
  }

  /** The state machine applied up to `appliedIndex`: resolves the reads it covers. */
  release(appliedIndex: number): void {
    if (this.#awaitingApply.length === 0) return;
    const ready = this.#awaitingApply.filter((r) => r.index <= appliedIndex);
    if (ready.length === 0) return;
    this.#awaitingApply = this.#awaitingApply.filter((r) => r.index > appliedIndex);
    for (const r of ready) r.read.resolve(r.index);
  }

  /** Rejects every read, wherever it waits, with `err` (shutdown, fatal error). */
  rejectAll(err: unknown): void {
    for (const r of this.#queued) r.reject(err);
    this.#queued = [];
    for (const r of this.#confirming.values()) r.reject(err);
    this.#confirming.clear();
    for (const r of this.#awaitingApply) r.read.reject(err);
    this.#awaitingApply = [];
  }
}
