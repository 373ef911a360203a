/**
 * In-memory storage for tests, simulations, benchmarks and examples:
 * {@linkcode MemoryLogStore}, a {@linkcode LogStore} that can hold writes
 * back until {@linkcode MemoryLogStore.sync} (`syncMode: "manual"`) and
 * simulate a crash that loses them ({@linkcode MemoryLogStore.crash}), with
 * fault injection ({@linkcode MemoryLogStore.failNext}) and strict checks of
 * how it is called. (The key-value state machine is in `@x/raft/kv`.)
 *
 * Nothing here survives the process. Entries and payload bytes are stored by
 * reference, not copied: they must not be mutated after being handed over.
 *
 * @example
 * ```ts
 * import { MemoryLogStore } from "./memory.ts";
 * const store = new MemoryLogStore();
 * await store.append([{ term: 1, index: 1, type: "blank" }]);
 * console.assert((await store.logState()).lastLogId?.index === 1);
 * ```
 *
 * @module
 */

import type { LogState, LogStore } from "../src/storage.ts";
import type { Entry, LogId, Vote } from "../src/types.ts";

// ------------------------------------------------------------------ log store

/**
 * When a {@linkcode MemoryLogStore} write becomes durable: `"always"` when
 * its promise resolves (the {@linkcode LogStore} contract), `"manual"` only
 * at the next {@linkcode MemoryLogStore.sync}.
 *
 * @example
 * ```ts
 * import { MemoryLogStore, type SyncMode } from "./memory.ts";
 * const mode: SyncMode = "manual";
 * const store = new MemoryLogStore({ syncMode: mode });
 * ```
 */
export type SyncMode = "always" | "manual";

/**
 * Options of a {@linkcode MemoryLogStore}.
 *
 * @example
 * ```ts
 * import type { MemoryLogStoreOptions } from "./memory.ts";
 * const options: MemoryLogStoreOptions = { syncMode: "manual" };
 * ```
 */
export interface MemoryLogStoreOptions {
  /** When writes become durable; default `"always"`. */
  readonly syncMode?: SyncMode;
}

/**
 * The name of a {@linkcode LogStore} method, for
 * {@linkcode MemoryLogStore.failNext} and {@linkcode MemoryLogStore.calls}.
 *
 * @example
 * ```ts
 * import type { LogStoreOperation } from "./memory.ts";
 * const op: LogStoreOperation = "append";
 * ```
 */
export type LogStoreOperation =
  | "readVote"
  | "saveVote"
  | "logState"
  | "entries"
  | "append"
  | "truncate"
  | "purge"
  | "saveCommitted"
  | "readCommitted"
  | "close";

/**
 * What a {@linkcode MemoryLogStore} holds in one layer (written or durable),
 * as returned by {@linkcode MemoryLogStore.contents}. Fresh arrays and ids.
 *
 * @example
 * ```ts
 * import { MemoryLogStore, type MemoryLogContents } from "./memory.ts";
 * const contents: MemoryLogContents = new MemoryLogStore().contents("durable");
 * console.assert(contents.entries.length === 0 && contents.vote === null);
 * ```
 */
export interface MemoryLogContents {
  /** The saved vote, or `null`. */
  readonly vote: Vote | null;
  /** Every entry present, in order. */
  readonly entries: Entry[];
  /** The last purged log id, or `null`. */
  readonly lastPurged: LogId | null;
  /** The last log id present, else the last purged one, else `null`. */
  readonly lastLogId: LogId | null;
  /** The saved commit index, or `null`. */
  readonly committed: LogId | null;
}

type _Op =
  | { readonly kind: "vote"; readonly vote: Vote }
  | { readonly kind: "append"; readonly entries: readonly Entry[] }
  | { readonly kind: "truncate"; readonly since: number }
  | { readonly kind: "purge"; readonly upTo: LogId }
  | { readonly kind: "committed"; readonly committed: LogId | null };

function _id(id: LogId): LogId {
  return { term: id.term, index: id.index };
}

function _idOrNull(id: LogId | null): LogId | null {
  return id === null ? null : { term: id.term, index: id.index };
}

function _fmt(id: LogId | null): string {
  return id === null ? "none" : `${id.term}-${id.index}`;
}

/** One layer of log state; `entries[i].index === purgedIndex + 1 + i`. */
class _LogData {
  vote: Vote | null = null;
  entries: Entry[] = [];
  lastPurged: LogId | null = null;
  committed: LogId | null = null;

  clone(): _LogData {
    const copy = new _LogData();
    copy.vote = this.vote;
    copy.entries = this.entries.slice();
    copy.lastPurged = this.lastPurged;
    copy.committed = this.committed;
    return copy;
  }

  get purgedIndex(): number {
    return this.lastPurged?.index ?? 0;
  }

  get lastIndex(): number {
    return this.purgedIndex + this.entries.length;
  }

  lastLogId(): LogId | null {
    const last = this.entries[this.entries.length - 1];
    return last !== undefined ? _id(last) : _idOrNull(this.lastPurged);
  }

  termAt(index: number): number | undefined {
    return this.entries[index - this.purgedIndex - 1]?.term;
  }

  apply(op: _Op): void {
    switch (op.kind) {
      case "vote":
        this.vote = op.vote;
        return;
      case "append":
        for (const e of op.entries) this.entries.push(e);
        return;
      case "truncate": {
        const keep = Math.max(0, op.since - this.purgedIndex - 1);
        if (keep < this.entries.length) this.entries.length = keep;
        return;
      }
      case "purge": {
        const drop = op.upTo.index - this.purgedIndex;
        if (drop >= this.entries.length) this.entries = [];
        else if (drop > 0) this.entries.splice(0, drop);
        this.lastPurged = op.upTo;
        return;
      }
      case "committed":
        this.committed = op.committed;
        return;
    }
  }

  contents(): MemoryLogContents {
    return {
      vote: this.vote === null ? null : { ...this.vote },
      entries: this.entries.slice(),
      lastPurged: _idOrNull(this.lastPurged),
      lastLogId: this.lastLogId(),
      committed: _idOrNull(this.committed),
    };
  }
}

function _isIndex(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n);
}

function _isTerm(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function _zeroCalls(): Record<LogStoreOperation, number> {
  return {
    readVote: 0,
    saveVote: 0,
    logState: 0,
    entries: 0,
    append: 0,
    truncate: 0,
    purge: 0,
    saveCommitted: 0,
    readCommitted: 0,
    close: 0,
  };
}

/**
 * An in-memory {@linkcode LogStore}.
 *
 * **Durability.** With `syncMode: "always"` (the default) every write is
 * durable when the call returns, and a successful write returns `undefined`
 * (the `LogStore` contract's synchronous form: the runtime continues in the
 * same turn; `await` works as well). With `syncMode: "manual"` writes go to
 * a *written* layer that reads see at once, and become *durable* only when
 * {@linkcode MemoryLogStore.sync} is called. {@linkcode MemoryLogStore.crash}
 * discards what is not durable, closes this store, and returns a new store
 * holding the durable state: restart a node from it.
 *
 * **Checks.** Calls that break the contract reject with an `Error` naming the
 * problem (a bug in the caller, not a storage failure): appending entries
 * that do not continue the log (the first index must be the last index + 1,
 * terms must not decrease); truncating at or below the purge point; purging
 * below the purge point or with a term that differs from the entry's at that
 * index (truncate the conflict first); a vote that goes back (lower term,
 * another candidate in the same term, or un-committing); any call after
 * `close()` or `crash()`.
 *
 * **Faults.** {@linkcode MemoryLogStore.failNext} makes the next call of an
 * operation reject, without effect.
 *
 * Writes never throw: a failed write returns a rejected promise. Promises
 * settle asynchronously (as microtasks), never via timers.
 *
 * @example
 * ```ts
 * import { MemoryLogStore } from "./memory.ts";
 * const store = new MemoryLogStore({ syncMode: "manual" });
 * await store.saveVote({ term: 1, votedFor: 2, committed: false });
 * store.sync();
 * await store.append([{ term: 1, index: 1, type: "blank" }]); // not synced
 * const restarted = store.crash();
 * console.assert((await restarted.readVote())?.votedFor === 2);
 * console.assert((await restarted.logState()).lastLogId === null);
 * ```
 */
export class MemoryLogStore implements LogStore {
  readonly #syncMode: SyncMode;
  #written: _LogData = new _LogData();
  /** The durable layer; the same object as `#written` in "always" mode. */
  #durable: _LogData;
  #pending: _Op[] = [];
  #closed = false;
  readonly #failures = new Map<LogStoreOperation, unknown[]>();
  readonly #calls: Record<LogStoreOperation, number> = _zeroCalls();

  /**
   * Creates a {@linkcode MemoryLogStore}.
   *
   * @param options `syncMode` (default `"always"`)
   */
  constructor(options?: MemoryLogStoreOptions);
  constructor(options: MemoryLogStoreOptions = {}) {
    const mode = options.syncMode ?? "always";
    if (mode !== "always" && mode !== "manual") {
      throw new RangeError(`syncMode must be "always" or "manual", got ${String(mode)}`);
    }
    this.#syncMode = mode;
    this.#durable = mode === "always" ? this.#written : new _LogData();
  }

  /**
   * When writes become durable.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * console.assert(new MemoryLogStore().syncMode === "always");
   * ```
   */
  get syncMode(): SyncMode {
    return this.#syncMode;
  }

  /**
   * Whether the store was closed (by `close()` or `crash()`).
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.close();
   * console.assert(store.closed);
   * ```
   */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * The vote as written (what `readVote` returns), or `null`.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.saveVote({ term: 3, votedFor: 1, committed: true });
   * console.assert(store.vote?.term === 3);
   * ```
   */
  get vote(): Vote | null {
    const v = this.#written.vote;
    return v === null ? null : { ...v };
  }

  /**
   * The durable vote: what a crash keeps.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore({ syncMode: "manual" });
   * await store.saveVote({ term: 3, votedFor: 1, committed: false });
   * console.assert(store.durableVote === null);
   * ```
   */
  get durableVote(): Vote | null {
    const v = this.#durable.vote;
    return v === null ? null : { ...v };
  }

  /**
   * How many writes are waiting for {@linkcode MemoryLogStore.sync} (always
   * 0 in `"always"` mode).
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore({ syncMode: "manual" });
   * await store.saveCommitted({ term: 1, index: 1 });
   * console.assert(store.unsynced === 1);
   * ```
   */
  get unsynced(): number {
    return this.#pending.length;
  }

  /**
   * How many times each operation was called (failed calls included): e.g.
   * to check that writes are batched.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.logState();
   * console.assert(store.calls.logState === 1 && store.calls.append === 0);
   * ```
   */
  get calls(): Readonly<Record<LogStoreOperation, number>> {
    return { ...this.#calls };
  }

  /**
   * Every entry as written (what reads see), in order.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.append([{ term: 1, index: 1, type: "blank" }]);
   * console.assert(store.writtenEntries().length === 1);
   * ```
   */
  writtenEntries(): Entry[] {
    return this.#written.entries.slice();
  }

  /**
   * Every durable entry: what a crash keeps.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore({ syncMode: "manual" });
   * await store.append([{ term: 1, index: 1, type: "blank" }]);
   * console.assert(store.durableEntries().length === 0);
   * store.sync();
   * console.assert(store.durableEntries().length === 1);
   * ```
   */
  durableEntries(): Entry[] {
    return this.#durable.entries.slice();
  }

  /**
   * Everything in one layer: `"written"` (default; what reads see) or
   * `"durable"` (what a crash keeps).
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.purge({ term: 2, index: 5 });
   * console.assert(store.contents().lastLogId?.index === 5);
   * ```
   */
  contents(layer: "written" | "durable" = "written"): MemoryLogContents {
    return (layer === "durable" ? this.#durable : this.#written).contents();
  }

  /**
   * Makes every write so far durable. A no-op in `"always"` mode. Works on
   * a closed store too (it acts on what was written before closing).
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore({ syncMode: "manual" });
   * await store.saveVote({ term: 1, votedFor: null, committed: false });
   * store.sync();
   * console.assert(store.durableVote?.term === 1 && store.unsynced === 0);
   * ```
   */
  sync(): void {
    for (const op of this.#pending) this.#durable.apply(op);
    this.#pending = [];
  }

  /**
   * Simulates a crash: discards every write not yet durable, closes this
   * store (its later calls reject), and returns a new store, in the same
   * sync mode, that holds exactly the durable state. Works on a closed store
   * too, which makes it the way to "reopen" a memory store.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.append([{ term: 1, index: 1, type: "blank" }]);
   * const reopened = store.crash();
   * console.assert((await reopened.logState()).lastLogId?.index === 1);
   * ```
   */
  crash(): MemoryLogStore {
    this.#closed = true;
    this.#pending = [];
    const next = new MemoryLogStore({ syncMode: this.#syncMode });
    if (this.#syncMode === "always") {
      next.#written = this.#durable;
      next.#durable = this.#durable;
    } else {
      next.#durable = this.#durable;
      next.#written = this.#durable.clone();
    }
    // This store is dead: give it empty layers so nothing is shared.
    this.#written = new _LogData();
    this.#durable = this.#syncMode === "always" ? this.#written : new _LogData();
    return next;
  }

  /**
   * Makes the next call of `op` reject with `error` (default: an `Error`
   * saying it was injected), without any effect. Calls queue up: two
   * `failNext("append")` fail the next two appends.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * store.failNext("saveVote", new Error("disk full"));
   * const failed = await Promise.resolve(store.saveVote({ term: 1, votedFor: 1, committed: false }))
   *   .then(() => false, () => true);
   * console.assert(failed && store.vote === null);
   * ```
   */
  failNext(op: LogStoreOperation, error?: unknown): void {
    const err = error ?? new Error(`MemoryLogStore: injected failure of ${op}`);
    const queue = this.#failures.get(op);
    if (queue === undefined) this.#failures.set(op, [err]);
    else queue.push(err);
  }

  /** Counts the call; the rejection it meets instead of running (closed, injected failure). */
  #refusal(op: LogStoreOperation): Promise<never> | null {
    this.#calls[op]++;
    if (this.#closed) {
      return Promise.reject(new Error(`MemoryLogStore.${op}: the store is closed`));
    }
    if (this.#failures.size > 0) {
      const queue = this.#failures.get(op);
      if (queue !== undefined) {
        const err = queue.shift();
        if (queue.length === 0) this.#failures.delete(op);
        return Promise.reject(err);
      }
    }
    return null;
  }

  #run<T>(op: LogStoreOperation, body: () => T): Promise<T> {
    const refused = this.#refusal(op);
    if (refused !== null) return refused;
    try {
      return Promise.resolve(body());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * A write: `undefined` when done and durable ("always" mode: no promise to
   * wait for), a promise in "manual" mode; failures always as a rejection.
   */
  #runWrite(op: LogStoreOperation, body: () => void): Promise<void> | void {
    const refused = this.#refusal(op);
    if (refused !== null) return refused;
    try {
      body();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#syncMode === "always" ? undefined : Promise.resolve();
  }

  #write(op: _Op): void {
    this.#written.apply(op);
    if (this.#syncMode === "manual") this.#pending.push(op);
  }

  /**
   * The saved vote, or `null` if none was ever saved.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * console.assert(await new MemoryLogStore().readVote() === null);
   * ```
   */
  readVote(): Promise<Vote | null> {
    return this.#run("readVote", () => this.vote);
  }

  /**
   * Saves the vote. Rejects a vote that goes back: a lower term, another
   * candidate in the same term, or `committed` reset in the same term.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.saveVote({ term: 1, votedFor: 2, committed: false });
   * ```
   */
  saveVote(vote: Vote): Promise<void> | void {
    return this.#runWrite("saveVote", () => {
      const v = vote;
      if (
        v === null || typeof v !== "object" || !_isTerm(v.term) ||
        !(v.votedFor === null || _isTerm(v.votedFor)) || typeof v.committed !== "boolean"
      ) {
        throw new TypeError(`MemoryLogStore.saveVote: malformed vote ${JSON.stringify(v)}`);
      }
      const old = this.#written.vote;
      if (old !== null && v.term === old.term) {
        if (old.votedFor !== null && v.votedFor !== old.votedFor) {
          throw new Error(
            `MemoryLogStore.saveVote: term ${v.term} already has a vote for ${old.votedFor}, ` +
              `cannot vote for ${v.votedFor}`,
          );
        }
        if (old.committed && !v.committed) {
          throw new Error(`MemoryLogStore.saveVote: the vote of term ${v.term} was committed`);
        }
      } else if (old !== null && v.term < old.term) {
        throw new Error(
          `MemoryLogStore.saveVote: term goes back from ${old.term} to ${v.term}`,
        );
      }
      this.#write({
        kind: "vote",
        vote: Object.freeze({ term: v.term, votedFor: v.votedFor, committed: v.committed }),
      });
    });
  }

  /**
   * Where the log stands: the last purged log id and the last log id.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const state = await new MemoryLogStore().logState();
   * console.assert(state.lastPurged === null && state.lastLogId === null);
   * ```
   */
  logState(): Promise<LogState> {
    return this.#run("logState", () => ({
      lastPurged: _idOrNull(this.#written.lastPurged),
      lastLogId: this.#written.lastLogId(),
    }));
  }

  /**
   * Entries with `from <= index <= to`, clamped to what exists: a new array
   * (the entry objects are the stored ones).
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.append([{ term: 1, index: 1, type: "blank" }, { term: 1, index: 2, type: "blank" }]);
   * console.assert((await store.entries(0, 100)).length === 2);
   * ```
   */
  entries(from: number, to: number): Promise<Entry[]> {
    return this.#run("entries", () => {
      if (!_isIndex(from) || !_isIndex(to)) {
        throw new RangeError(`MemoryLogStore.entries: bad range [${from}, ${to}]`);
      }
      const data = this.#written;
      const base = data.purgedIndex;
      const lo = Math.max(from, base + 1);
      const hi = Math.min(to, data.lastIndex);
      return lo > hi ? [] : data.entries.slice(lo - base - 1, hi - base);
    });
  }

  /**
   * Appends entries that continue the log: the first index is the last
   * index (or the purge point) + 1, indexes are consecutive, terms do not
   * decrease. An empty list is a no-op.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array([7]) }]);
   * const gap = await Promise.resolve(store.append([{ term: 1, index: 3, type: "blank" }]))
   *   .then(() => "ok", () => "rejected");
   * console.assert(gap === "rejected");
   * ```
   */
  append(entries: readonly Entry[]): Promise<void> | void {
    return this.#runWrite("append", () => {
      if (entries.length === 0) return;
      const data = this.#written;
      let index = data.lastIndex;
      let term = data.lastLogId()?.term ?? 0;
      for (const e of entries) {
        if (e === null || typeof e !== "object" || !_isIndex(e.index) || !_isTerm(e.term)) {
          throw new TypeError(`MemoryLogStore.append: malformed entry ${String(e)}`);
        }
        if (e.index !== index + 1) {
          throw new Error(
            `MemoryLogStore.append: entry ${e.term}-${e.index} does not continue the log: ` +
              `expected index ${index + 1}` +
              (e.index <= index ? " (truncate conflicting entries first)" : " (gap)"),
          );
        }
        if (e.term < term) {
          throw new Error(
            `MemoryLogStore.append: entry ${e.term}-${e.index} has a lower term than ` +
              `the entry before it (${term})`,
          );
        }
        if (
          !(e.type === "blank" || (e.type === "normal" && e.data instanceof Uint8Array) ||
            (e.type === "membership" && typeof e.membership === "object" && e.membership !== null))
        ) {
          throw new TypeError(
            `MemoryLogStore.append: entry ${e.term}-${e.index} has a malformed payload`,
          );
        }
        index = e.index;
        term = e.term;
      }
      this.#write({ kind: "append", entries: entries.slice() });
    });
  }

  /**
   * Deletes the entries with `index >= since`. Rejects `since` at or below
   * the purge point (purged entries are committed: never truncated); beyond
   * the last entry it is a no-op.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.append([{ term: 1, index: 1, type: "blank" }, { term: 1, index: 2, type: "blank" }]);
   * await store.truncate(2);
   * console.assert((await store.logState()).lastLogId?.index === 1);
   * ```
   */
  truncate(since: number): Promise<void> | void {
    return this.#runWrite("truncate", () => {
      if (!_isIndex(since) || since < 1) {
        throw new RangeError(`MemoryLogStore.truncate: bad index ${since}`);
      }
      const purged = this.#written.purgedIndex;
      if (since <= purged) {
        throw new Error(
          `MemoryLogStore.truncate: index ${since} is at or below the purge point ` +
            `${_fmt(this.#written.lastPurged)}`,
        );
      }
      if (since > this.#written.lastIndex) return;
      this.#write({ kind: "truncate", since });
    });
  }

  /**
   * Deletes the entries up to `upTo.index` and records `upTo` as purged; may
   * go beyond the last entry (after installing a snapshot), which empties the
   * log. Rejects going below the purge point, and a term that is not the
   * entry's at `upTo.index` (or lower than the last term, beyond the log).
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.append([{ term: 1, index: 1, type: "blank" }, { term: 1, index: 2, type: "blank" }]);
   * await store.purge({ term: 1, index: 1 });
   * console.assert((await store.entries(1, 2)).length === 1);
   * ```
   */
  purge(upTo: LogId): Promise<void> | void {
    return this.#runWrite("purge", () => {
      if (
        upTo === null || typeof upTo !== "object" || !_isIndex(upTo.index) || upTo.index < 1 ||
        !_isTerm(upTo.term)
      ) {
        throw new TypeError(`MemoryLogStore.purge: malformed log id ${JSON.stringify(upTo)}`);
      }
      const data = this.#written;
      const old = data.lastPurged;
      if (old !== null && (upTo.index < old.index || upTo.term < old.term)) {
        throw new Error(
          `MemoryLogStore.purge: ${_fmt(upTo)} is below the purge point ${_fmt(old)}`,
        );
      }
      if (old !== null && upTo.index === old.index) {
        if (upTo.term !== old.term) {
          throw new Error(
            `MemoryLogStore.purge: ${_fmt(upTo)} conflicts with the purge point ${_fmt(old)}`,
          );
        }
        return;
      }
      const term = data.termAt(upTo.index);
      if (term !== undefined && term !== upTo.term) {
        throw new Error(
          `MemoryLogStore.purge: ${_fmt(upTo)} conflicts with the entry ${term}-${upTo.index} ` +
            `(truncate the conflicting entries first)`,
        );
      }
      if (term === undefined) {
        const last = data.lastLogId();
        if (last !== null && upTo.term < last.term) {
          throw new Error(
            `MemoryLogStore.purge: ${_fmt(upTo)} is beyond the last entry ${_fmt(last)} ` +
              `but has a lower term`,
          );
        }
      }
      this.#write({ kind: "purge", upTo: Object.freeze(_id(upTo)) });
    });
  }

  /**
   * Remembers the commit index; under `syncMode: "manual"` it waits for `sync()`, like every write.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.saveCommitted({ term: 1, index: 4 });
   * console.assert((await store.readCommitted())?.index === 4);
   * ```
   */
  saveCommitted(committed: LogId | null): Promise<void> | void {
    return this.#runWrite("saveCommitted", () => {
      const c = committed === null ? null : _id(committed);
      this.#write({ kind: "committed", committed: c });
    });
  }

  /**
   * The last commit index given to `saveCommitted`, or `null`.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * console.assert(await new MemoryLogStore().readCommitted() === null);
   * ```
   */
  readCommitted(): Promise<LogId | null> {
    return this.#run("readCommitted", () => _idOrNull(this.#written.committed));
  }

  /**
   * Closes the store: later calls reject (except `close()` itself). What was
   * written stays inspectable, and {@linkcode MemoryLogStore.crash} reopens it.
   *
   * @example
   * ```ts
   * import { MemoryLogStore } from "./memory.ts";
   * const store = new MemoryLogStore();
   * await store.close();
   * await store.close(); // harmless
   * ```
   */
  close(): Promise<void> {
    if (this.#closed) {
      this.#calls.close++;
      return Promise.resolve();
    }
    return this.#run("close", () => {
      this.#closed = true;
    });
  }
}
