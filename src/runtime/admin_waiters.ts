/**
 * Administrative calls waiting for the log: membership changes waiting for
 * their final configuration to commit ({@linkcode MembershipWaiters}), and
 * `initialize` calls waiting for the initial membership to be durable
 * ({@linkcode DurableWaiters}).
 *
 * @module
 */

import { OutcomeUnknown } from "../errors.ts";
import type { LogId, NodeId } from "../types.ts";

interface MembershipWaiter {
  readonly logId: LogId;
  resolve(logId: LogId): void;
  reject(e: unknown): void;
}

/**
 * Membership changes waiting for their final configuration to commit.
 *
 * @example
 * ```ts
 * import { MembershipWaiters } from "./admin_waiters.ts";
 * const waiters = new MembershipWaiters();
 * const done = new Promise((resolve, reject) => {
 *   waiters.add({ logId: { term: 2, index: 9 }, resolve, reject });
 * });
 * waiters.done({ term: 2, index: 9 }); // `done` resolves with that log id
 * await done;
 * ```
 */
export class MembershipWaiters {
  #waiters: MembershipWaiter[] = [];

  /** Whether any change waits. */
  get pending(): boolean {
    return this.#waiters.length > 0;
  }

  /** Adds a change whose final configuration is the entry `waiter.logId`. */
  add(waiter: MembershipWaiter): void {
    this.#waiters.push(waiter);
  }

  /** The configuration at `logId` committed: resolves the changes it completes. */
  done(logId: LogId): void {
    const done = this.#waiters.filter((w) => w.logId.index <= logId.index);
    this.#waiters = this.#waiters.filter((w) => w.logId.index > logId.index);
    for (const w of done) w.resolve(logId);
  }

  /**
   * This node lost leadership: every change is in the log, for another
   * leader (`leaderId`) to finish or drop; they reject with {@linkcode OutcomeUnknown}.
   */
  outcomeUnknown(leaderId: NodeId | null): void {
    for (const w of this.#waiters) w.reject(new OutcomeUnknown(w.logId, leaderId));
    this.#waiters = [];
  }

  /** Rejects every change with `err` (shutdown, fatal error). */
  rejectAll(err: unknown): void {
    for (const w of this.#waiters) w.reject(err);
    this.#waiters = [];
  }
}

/**
 * Calls waiting for the log to be durable up to an index (`initialize`).
 *
 * @example
 * ```ts
 * import { DurableWaiters } from "./admin_waiters.ts";
 * const waiters = new DurableWaiters();
 * const durable = waiters.wait(1);
 * waiters.release(1); // `durable` resolves
 * await durable;
 * ```
 */
export class DurableWaiters {
  #waiters: { index: number; resolve(): void; reject(e: unknown): void }[] = [];

  /** Whether any call waits. */
  get pending(): boolean {
    return this.#waiters.length > 0;
  }

  /** Resolves once the log is durable up to `index` (see {@linkcode release}). */
  wait(index: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ index, resolve, reject });
    });
  }

  /** The log is durable up to `durable`: resolves the calls it covers. */
  release(durable: number): void {
    const ready = this.#waiters.filter((w) => w.index <= durable);
    if (ready.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => w.index > durable);
    for (const w of ready) w.resolve();
  }

  /** Rejects every call with `err` (shutdown, fatal error). */
  rejectAll(err: unknown): void {
    for (const w of this.#waiters) w.reject(err);
    this.#waiters = [];
  }
}
