/**
 * Executes the engine's storage commands against a {@linkcode LogStore}:
 * strictly in order, one call at a time, merging consecutive appends that
 * queued up meanwhile into one call (group commit). Keeps the most recent
 * entries in memory so replication and apply rarely read the store.
 * Times append calls (with their fsync: the store's promise settles once
 * durable) into a fixed-bucket histogram: every call that completes
 * asynchronously (real I/O: two clock readings are nothing beside it), and
 * one synchronous call in 8 (a synchronous store, such as the memory one,
 * appends in microseconds: reading the clock around each would cost a
 * share of the write).
 *
 * @module
 */

import type { Command } from "../engine/commands.ts";
import type { LogStore } from "../storage.ts";
import type { Entry, LogId } from "../types.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import { Histogram, STORAGE_SECONDS_BUCKETS } from "./counters.ts";
import { assertNever } from "./exhaustive.ts";

type StorageCommand = Extract<Command, { io: number }>;

/**
 * The storage executor of one node.
 */
export class LogIo {
  readonly #store: LogStore;
  readonly #onFlushed: (io: number) => void;
  readonly #onError: (operation: string, error: unknown) => void;
  #queue: StorageCommand[] = [];
  /** The batch being executed, and the position of its next command. */
  #batch: StorageCommand[] | null = null;
  #at = 0;
  #op = "";
  /** A commit index waiting to be saved. */
  #committed: LogId | undefined = undefined;
  #running = false;
  #failed = false;
  #idle: (() => void)[] = [];
  /** Recent entries: `#cache[i]` has index `#cacheFirst + i`. */
  #cache: Entry[] = [];
  #cacheFirst = 1;
  readonly #cacheLimit: number;
  readonly #now: () => number;
  readonly #startTime: () => number;
  /** When the append call in progress started (ms), or -1. */
  #appendStart = -1;
  /** Append calls so far (every 8th is timed even when it completes synchronously). */
  #appendCalls = 0;
  /** The append call in progress is timed with the clock on both sides. */
  #timed = false;
  /** Durations of the store's append calls, seconds. */
  readonly appendSeconds: Histogram = new Histogram(STORAGE_SECONDS_BUCKETS);
  /** Spaces commit-index saves (see {@linkcode LogIoOptions}); `null`: every idle moment. */
  readonly #spacing: { readonly clock: Clock; readonly interval: number } | null;
  #committedSavedAt = -Infinity;
  #commitTimer: TimerHandle | null = null;
  /** `idle()` was asked for: a waiting commit index is saved at once. */
  #flushCommitted = false;
  /** Between `hold()` and `release()`: commands queue up but no store call starts. */
  #held = false;

  /**
   * @param store the log store
   * @param onFlushed called with the last command number made durable
   * @param onError called once when a storage call fails (fatal)
   * @param cacheLimit how many recent entries to keep in memory
   * @param now the node's clock, ms (when an append call ends)
   * @param startTime the clock as cheaply as possible, ms (when an append call starts:
   *   the node passes its turn's reading while a turn runs)
   * @param options how often the commit index is saved
   */
  constructor(
    store: LogStore,
    onFlushed: (io: number) => void,
    onError: (operation: string, error: unknown) => void,
    cacheLimit = 50_000,
    now: () => number = () => performance.now(),
    startTime: () => number = now,
    options: LogIoOptions = {},
  ) {
    this.#spacing = options.clock === undefined
      ? null
      : { clock: options.clock, interval: options.commitSaveInterval ?? 100 };
    this.#now = now;
    this.#startTime = startTime;
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
    if (!this.#running && !this.#held) this.#run();
  }

  /**
   * Until {@linkcode release}, submitted commands wait (the cache reflects
   * them at once). The node holds its storage while it executes one batch
   * of the engine's commands, so that with a store that writes
   * synchronously (bun:sqlite: the fsync on the event loop) the batch's
   * append requests are on their way to the followers before the leader's
   * own fsync starts, and the two fsyncs overlap. Whatever must be durable
   * before it goes out (votes, a follower's answers), the engine emits only
   * once storage reported it durable.
   */
  hold(): void {
    this.#held = true;
  }

  /** Starts what was submitted since {@linkcode hold}. */
  release(): void {
    this.#held = false;
    if (!this.#running && (this.#queue.length > 0 || this.#committed !== undefined)) this.#run();
  }

  /**
   * Remembers the commit index in the store after the queued writes, never
   * concurrently with them; saves that pile up meanwhile collapse into the
   * latest. Best effort: the store need not make it durable, and a failure
   * is ignored.
   */
  saveCommitted(committed: LogId): void {
    if (this.#failed) return;
    this.#committed = committed;
    if (!this.#running && !this.#held) this.#run();
  }

  /**
   * Resolves once every queued command has been executed, a commit index
   * waiting for its turn (see {@linkcode LogIoOptions}) included.
   */
  idle(): Promise<void> {
    if (this.#committed !== undefined && !this.#failed) {
      this.#flushCommitted = true;
      if (!this.#running) this.#run();
    }
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

  /**
   * Whether the waiting commit index must wait (then a timer is armed to
   * save it once the interval since the last save has passed); records the
   * save otherwise.
   */
  #deferCommitted(): boolean {
    const spacing = this.#spacing;
    if (spacing === null) return false;
    if (this.#commitTimer !== null) {
      if (!this.#flushCommitted) return true;
      spacing.clock.clearTimer(this.#commitTimer);
      this.#commitTimer = null;
    }
    const now = spacing.clock.now();
    const wait = this.#committedSavedAt + spacing.interval - now;
    if (wait > 0 && !this.#flushCommitted) {
      this.#commitTimer = spacing.clock.setTimer(wait, () => {
        this.#commitTimer = null;
        if (!this.#running && !this.#failed) this.#run();
      });
      return true;
    }
    this.#flushCommitted = false;
    this.#committedSavedAt = now;
    return false;
  }

  /**
   * Runs queued commands until the queue is empty or a store call is still
   * pending (then resumes when it settles). A store that completes a write
   * synchronously (returns `undefined`) is driven without a promise, and
   * `onFlushed` is called before `submit` returns.
   */
  #run(): void {
    this.#running = true;
    for (;;) {
      let batch = this.#batch;
      if (batch === null) {
        if (this.#failed) break;
        if (this.#queue.length === 0) {
          // Idle: save the latest commit index, if one is waiting (a hint: failures ignored),
          // unless one was saved less than the interval ago: then a timer saves it later.
          const committed = this.#committed;
          if (committed === undefined) break;
          if (this.#deferCommitted()) break;
          this.#committed = undefined;
          let saving: Promise<void> | void;
          try {
            saving = this.#store.saveCommitted(committed);
          } catch {
            continue;
          }
          if (saving !== undefined) {
            saving.then(this.#resume, this.#resume);
            return;
          }
          continue;
        }
        batch = this.#batch = this.#queue;
        this.#queue = [];
        this.#at = 0;
      }
      if (this.#at >= batch.length) {
        this.#batch = null;
        this.#onFlushed(batch[batch.length - 1]!.io);
        continue;
      }
      let pending: Promise<void> | void;
      try {
        pending = this.#call(batch);
      } catch (e) {
        this.#fail(e);
        break;
      }
      if (pending !== undefined) {
        pending.then(this.#resume, this.#failFn);
        return;
      }
      // Completed synchronously: only a sampled call is timed.
      if (this.#appendStart >= 0) {
        if (this.#timed) this.#appended();
        else this.#appendStart = -1;
      }
    }
    this.#running = false;
    const waiters = this.#idle;
    this.#idle = [];
    for (const w of waiters) w();
  }

  readonly #resume = (): void => {
    if (this.#appendStart >= 0) this.#appended();
    this.#run();
  };
  readonly #failFn = (e: unknown): void => {
    this.#fail(e);
    this.#run();
  };

  /** The append call in progress completed: its duration goes to the histogram. */
  #appended(): void {
    this.appendSeconds.observe((this.#now() - this.#appendStart) / 1000);
    this.#appendStart = -1;
  }

  #fail(e: unknown): void {
    this.#appendStart = -1;
    this.#failed = true;
    this.#batch = null;
    this.#onError(this.#op, e);
  }

  /** Starts the store call for the commands at `#at` (moving past them). */
  #call(batch: StorageCommand[]): Promise<void> | void {
    const i = this.#at;
    const cmd = batch[i]!;
    switch (cmd.type) {
      case "append-log": {
        // Group commit: merge consecutive appends into one durable write.
        let j = i + 1;
        while (j < batch.length && batch[j]!.type === "append-log") j++;
        this.#at = j;
        this.#op = "append";
        this.#timed = (++this.#appendCalls & 7) === 0;
        this.#appendStart = this.#timed ? this.#now() : this.#startTime();
        if (j === i + 1) return this.#store.append(cmd.entries);
        const all: Entry[] = [];
        for (let k = i; k < j; k++) {
          for (const e of (batch[k] as { entries: readonly Entry[] }).entries) all.push(e);
        }
        return this.#store.append(all);
      }
      case "save-vote":
        this.#at = i + 1;
        this.#op = "saveVote";
        return this.#store.saveVote(cmd.vote);
      case "truncate-log":
        this.#at = i + 1;
        this.#op = "truncate";
        return this.#store.truncate(cmd.since);
      case "purge-log":
        this.#at = i + 1;
        this.#op = "purge";
        return this.#store.purge(cmd.upTo);
      default:
        return assertNever(cmd);
    }
  }
}

/**
 * How a {@linkcode LogIo} saves the commit index. With a `clock`, at most
 * one save per `commitSaveInterval` ms (default 100): the commit index is a
 * hint for recovery (entries up to it are applied on start before a leader
 * is heard from), and saving it at every idle moment cost a second fsync
 * per write under light load. Without a clock, at every idle moment.
 *
 * @example
 * ```ts
 * import type { LogIoOptions } from "./log_io.ts";
 * import { SystemClock } from "../clock.ts";
 * const options: LogIoOptions = { clock: new SystemClock(), commitSaveInterval: 100 };
 * ```
 */
export interface LogIoOptions {
  /** The node's clock (its timers save a commit index that had to wait). */
  readonly clock?: Clock;
  /** The least time between two saves of the commit index, ms. Default 100. */
  readonly commitSaveInterval?: number;
}
