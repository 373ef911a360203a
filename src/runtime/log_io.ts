/**
 * Executes the engine's storage commands against a {@linkcode LogStore}:
 * strictly in order, one call at a time, merging consecutive appends that
 * queued up meanwhile into one call (group commit). Keeps the most recent
 * entries in memory so replication and apply rarely read the store.
 *
 * @module
 */

import type { Command } from "../engine/commands.ts";
import type { LogStore } from "../storage.ts";
import type { Entry } from "../types.ts";

type StorageCommand = Extract<Command, { io: number }>;

/**
 * The storage executor of one node.
 *
 * @example
 * ```ts ignore
 * const io = new LogIo(store, (io) => engine.flushed(io), (e) => fail(e));
 * io.submit(command);
 * ```
 */
export class LogIo {
  readonly #store: LogStore;
  readonly #onFlushed: (io: number) => void;
  readonly #onError: (operation: string, error: unknown) => void;
  #queue: StorageCommand[] = [];
  #running = false;
  #failed = false;
  #idle: (() => void)[] = [];
  /** Recent entries: `#cache[i]` has index `#cacheFirst + i`. */
  #cache: Entry[] = [];
  #cacheFirst = 1;
  readonly #cacheLimit: number;

  /**
   * @param store the log store
   * @param onFlushed called with the last command number made durable
   * @param onError called once when a storage call fails (fatal)
   * @param cacheLimit how many recent entries to keep in memory
   */
  constructor(
    store: LogStore,
    onFlushed: (io: number) => void,
    onError: (operation: string, error: unknown) => void,
    cacheLimit = 50_000,
  ) {
    this.#store = store;
    this.#onFlushed = onFlushed;
    this.#onError = onError;
    this.#cacheLimit = cacheLimit;
  }

  /** Queues a storage command. The cache reflects it at once. */
  submit(cmd: StorageCommand): void {
    if (this.#failed) return;
    if (cmd.type === "append-log") this.#cacheAppend(cmd.entries);
    else if (cmd.type === "truncate-log") this.#cacheTruncate(cmd.since);
    else if (cmd.type === "purge-log") this.#cachePurge(cmd.upTo.index);
    this.#queue.push(cmd);
    if (!this.#running) void this.#run();
  }

  /** Resolves once every queued command has been executed. */
  idle(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Entries `from..to` (inclusive), from the cache when it has them all. */
  async entries(from: number, to: number): Promise<Entry[]> {
    if (to < from) return [];
    const cached = this.cached(from, to);
    if (cached !== null) return cached;
    const out = await this.#store.entries(from, to);
    if (out.length !== to - from + 1) {
      throw new RangeError(`log store returned ${out.length} entries for ${from}..${to}`);
    }
    return out;
  }

  /** Entries `from..to` if all are cached, else `null`. */
  cached(from: number, to: number): Entry[] | null {
    const end = this.#cacheFirst + this.#cache.length - 1;
    if (from < this.#cacheFirst || to > end) return null;
    return this.#cache.slice(from - this.#cacheFirst, to - this.#cacheFirst + 1);
  }

  /** Drops cached entries below `index` (they are applied and replicated). */
  releaseBelow(index: number): void {
    const n = Math.min(index - this.#cacheFirst, this.#cache.length);
    if (n <= 0) return;
    this.#cache.splice(0, n);
    this.#cacheFirst += n;
  }

  #cacheAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    if (first.index !== this.#cacheFirst + this.#cache.length) {
      this.#cache = [];
      this.#cacheFirst = first.index;
    }
    for (const e of entries) this.#cache.push(e);
    // Trim in bulk once the cache holds twice the limit: O(1) amortized per entry
    // (trimming a few entries per append would move the whole array each time).
    const over = this.#cache.length - this.#cacheLimit;
    if (over >= this.#cacheLimit) {
      this.#cache.splice(0, over);
      this.#cacheFirst += over;
    }
  }

  #cacheTruncate(since: number): void {
    if (since < this.#cacheFirst) {
      this.#cache = [];
      this.#cacheFirst = since;
    } else {
      this.#cache.length = Math.min(this.#cache.length, since - this.#cacheFirst);
    }
  }

  #cachePurge(upTo: number): void {
    const end = this.#cacheFirst + this.#cache.length - 1;
    if (upTo >= end) {
      this.#cache = [];
      this.#cacheFirst = upTo + 1;
    } else {
      this.releaseBelow(upTo + 1);
    }
  }

  async #run(): Promise<void> {
    this.#running = true;
    while (this.#queue.length > 0 && !this.#failed) {
      const batch = this.#queue;
      this.#queue = [];
      let i = 0;
      let op = "";
      try {
        while (i < batch.length) {
          const cmd = batch[i]!;
          if (cmd.type === "append-log") {
            // Group commit: merge consecutive appends into one durable write.
            let j = i + 1;
            while (j < batch.length && batch[j]!.type === "append-log") j++;
            op = "append";
            if (j === i + 1) await this.#store.append(cmd.entries);
            else {
              const all: Entry[] = [];
              for (let k = i; k < j; k++) {
                for (const e of (batch[k] as { entries: readonly Entry[] }).entries) all.push(e);
              }
              await this.#store.append(all);
            }
            i = j;
          } else if (cmd.type === "save-vote") {
            op = "saveVote";
            await this.#store.saveVote(cmd.vote);
            i++;
          } else if (cmd.type === "truncate-log") {
            op = "truncate";
            await this.#store.truncate(cmd.since);
            i++;
          } else {
            op = "purge";
            await this.#store.purge(cmd.upTo);
            i++;
          }
        }
      } catch (e) {
        this.#failed = true;
        this.#onError(op, e);
        break;
      }
      this.#onFlushed(batch[batch.length - 1]!.io);
    }
    this.#running = false;
    const waiters = this.#idle;
    this.#idle = [];
    for (const w of waiters) w();
  }
}
