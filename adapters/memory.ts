/**
 * In-memory storage for tests, simulations, benchmarks and examples:
 *
 * - {@linkcode MemoryLogStore}, a {@linkcode LogStore} that can hold writes
 *   back until {@linkcode MemoryLogStore.sync} (`syncMode: "manual"`) and
 *   simulate a crash that loses them ({@linkcode MemoryLogStore.crash}), with
 *   fault injection ({@linkcode MemoryLogStore.failNext}) and strict checks
 *   of how it is called;
 * - {@linkcode MemoryStateMachine}, an example key-value state machine whose
 *   commands are made by {@linkcode kvSet} and {@linkcode kvDelete};
 * - {@linkcode CountingStateMachine}, which only counts, for benchmarks.
 *
 * Nothing here survives the process. Entries and payload bytes are stored by
 * reference, not copied: they must not be mutated after being handed over.
 *
 * @example
 * ```ts
 * import { kvSet, MemoryLogStore, MemoryStateMachine } from "./memory.ts";
 * const store = new MemoryLogStore();
 * await store.append([{ term: 1, index: 1, type: "normal", data: kvSet("a", "1") }]);
 * const sm = new MemoryStateMachine();
 * await sm.apply(await store.entries(1, 1));
 * console.assert(new TextDecoder().decode(sm.get("a")!) === "1");
 * ```
 *
 * @module
 */

import type { AppliedState, LogState, LogStore, Snapshot, StateMachine } from "../src/storage.ts";
import { checkApplyOrder, snapshotOfBytes } from "../src/storage.ts";
import { readAllBytes } from "../src/byte_stream.ts";
import {
  compareLogId,
  EMPTY_MEMBERSHIP,
  type Entry,
  type LogId,
  type SnapshotMeta,
  type StoredMembership,
  type Vote,
} from "../src/types.ts";

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
   * @param options `syncMode` (default `"always"`)
   */
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

// -------------------------------------------------------------- kv commands

const _SET = 1;
const _DELETE = 2;
const _CAS = 3;
const _encoder = new TextEncoder();
const _decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A decoded {@linkcode MemoryStateMachine} command.
 *
 * @example
 * ```ts
 * import { decodeKvCommand, kvDelete, type KvCommand } from "./memory.ts";
 * const cmd: KvCommand | null = decodeKvCommand(kvDelete("a"));
 * console.assert(cmd?.op === "delete" && cmd.key === "a");
 * ```
 */
export type KvCommand =
  | { readonly op: "set"; readonly key: string; readonly value: Uint8Array }
  | { readonly op: "delete"; readonly key: string }
  | {
    readonly op: "cas";
    readonly key: string;
    readonly expected: Uint8Array | null;
    readonly value: Uint8Array;
  };

function _kvHeader(tag: number, key: string, extra: number): { bytes: Uint8Array; at: number } {
  if (typeof key !== "string") throw new TypeError("kv key must be a string");
  const k = _encoder.encode(key);
  const bytes = new Uint8Array(5 + k.length + extra);
  bytes[0] = tag;
  new DataView(bytes.buffer).setUint32(1, k.length);
  bytes.set(k, 5);
  return { bytes, at: 5 + k.length };
}

/**
 * Encodes a command that sets `key` to `value` (bytes, or a string stored as
 * UTF-8). Layout: `[1, keyLength (u32 BE), key (UTF-8), value...]`.
 *
 * @example
 * ```ts
 * import { kvSet, MemoryStateMachine } from "./memory.ts";
 * const sm = new MemoryStateMachine();
 * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("k", new Uint8Array([1, 2])) }]);
 * console.assert(sm.get("k")?.length === 2);
 * ```
 */
export function kvSet(key: string, value: Uint8Array | string): Uint8Array {
  const v = typeof value === "string" ? _encoder.encode(value) : value;
  if (!(v instanceof Uint8Array)) throw new TypeError("kv value must be bytes or a string");
  const { bytes, at } = _kvHeader(_SET, key, v.length);
  bytes.set(v, at);
  return bytes;
}

/**
 * Encodes a compare-and-set: `key` becomes `value` only if its current value
 * is `expected` (`null`: absent). Applying it returns the value found, so the
 * swap happened exactly when that equals `expected`.
 *
 * @example
 * ```ts
 * import { kvCas, kvSet, MemoryStateMachine } from "./memory.ts";
 * const sm = new MemoryStateMachine();
 * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("k", "a") }]);
 * await sm.apply([{ term: 1, index: 2, type: "normal", data: kvCas("k", "a", "b") }]);
 * console.assert(new TextDecoder().decode(sm.get("k")!) === "b");
 * ```
 */
export function kvCas(
  key: string,
  expected: Uint8Array | string | null,
  value: Uint8Array | string,
): Uint8Array {
  const e = typeof expected === "string" ? _encoder.encode(expected) : expected;
  const v = typeof value === "string" ? _encoder.encode(value) : value;
  if (!(v instanceof Uint8Array) || (e !== null && !(e instanceof Uint8Array))) {
    throw new TypeError("kv values must be bytes or strings");
  }
  const elen = e === null ? 0 : e.length;
  const { bytes, at } = _kvHeader(_CAS, key, 5 + elen + v.length);
  bytes[at] = e === null ? 0 : 1;
  new DataView(bytes.buffer).setUint32(at + 1, elen);
  if (e !== null) bytes.set(e, at + 5);
  bytes.set(v, at + 5 + elen);
  return bytes;
}

/**
 * Encodes a command that deletes `key`. Layout: `[2, keyLength (u32 BE), key (UTF-8)]`.
 *
 * @example
 * ```ts
 * import { kvDelete, kvSet, MemoryStateMachine } from "./memory.ts";
 * const sm = new MemoryStateMachine();
 * const [, previous] = await sm.apply([
 *   { term: 1, index: 1, type: "normal", data: kvSet("k", "v") },
 *   { term: 1, index: 2, type: "normal", data: kvDelete("k") },
 * ]);
 * console.assert(previous instanceof Uint8Array && sm.get("k") === null);
 * ```
 */
export function kvDelete(key: string): Uint8Array {
  return _kvHeader(_DELETE, key, 0).bytes;
}

/**
 * Decodes a command made by {@linkcode kvSet} or {@linkcode kvDelete};
 * `null` if the bytes are not one. A set's `value` is a view into `bytes`.
 *
 * @example
 * ```ts
 * import { decodeKvCommand, kvSet } from "./memory.ts";
 * const cmd = decodeKvCommand(kvSet("a", "1"));
 * console.assert(cmd?.op === "set" && cmd.key === "a" && cmd.value.length === 1);
 * console.assert(decodeKvCommand(new Uint8Array([9])) === null);
 * ```
 */
export function decodeKvCommand(bytes: Uint8Array): KvCommand | null {
  if (!(bytes instanceof Uint8Array) || bytes.length < 5) return null;
  const tag = bytes[0];
  if (tag !== _SET && tag !== _DELETE && tag !== _CAS) return null;
  const keyLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  if (5 + keyLength > bytes.length) return null;
  let key: string;
  try {
    key = _decoder.decode(bytes.subarray(5, 5 + keyLength));
  } catch {
    return null;
  }
  if (tag === _DELETE) return bytes.length === 5 + keyLength ? { op: "delete", key } : null;
  if (tag === _CAS) {
    const at = 5 + keyLength;
    if (bytes.length < at + 5) return null;
    const flag = bytes[at];
    const elen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at + 1);
    if ((flag !== 0 && flag !== 1) || (flag === 0 && elen !== 0)) return null;
    if (at + 5 + elen > bytes.length) return null;
    return {
      op: "cas",
      key,
      expected: flag === 0 ? null : bytes.subarray(at + 5, at + 5 + elen),
      value: bytes.subarray(at + 5 + elen),
    };
  }
  return { op: "set", key, value: bytes.subarray(5 + keyLength) };
}

function _sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// ------------------------------------------------------------ state machines

const _INITIAL_MEMBERSHIP: StoredMembership = Object.freeze({
  logId: null,
  membership: EMPTY_MEMBERSHIP,
});

const _SNAPSHOT_VERSION = 1;

/** `[version u8, hasLastLogId u8, term f64, index f64, count u32, (keyLen u32, key, valLen u32, val)*]` */
function _encodeKvSnapshot(
  lastLogId: LogId | null,
  map: ReadonlyMap<string, Uint8Array>,
): Uint8Array {
  const keys = [...map.keys()].sort();
  const encodedKeys = keys.map((k) => _encoder.encode(k));
  let size = 1 + 1 + 8 + 8 + 4;
  for (let i = 0; i < keys.length; i++) {
    size += 8 + encodedKeys[i]!.length + map.get(keys[i]!)!.length;
  }
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint8(0, _SNAPSHOT_VERSION);
  view.setUint8(1, lastLogId === null ? 0 : 1);
  view.setFloat64(2, lastLogId?.term ?? 0);
  view.setFloat64(10, lastLogId?.index ?? 0);
  view.setUint32(18, keys.length);
  let at = 22;
  for (let i = 0; i < keys.length; i++) {
    const k = encodedKeys[i]!;
    const v = map.get(keys[i]!)!;
    view.setUint32(at, k.length);
    bytes.set(k, at + 4);
    at += 4 + k.length;
    view.setUint32(at, v.length);
    bytes.set(v, at + 4);
    at += 4 + v.length;
  }
  return bytes;
}

function _decodeKvSnapshot(
  data: Uint8Array,
): { lastLogId: LogId | null; map: Map<string, Uint8Array> } {
  const bad = (why: string): Error => new Error(`MemoryStateMachine: invalid snapshot: ${why}`);
  if (!(data instanceof Uint8Array) || data.length < 22) throw bad("too short");
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint8(0) !== _SNAPSHOT_VERSION) throw bad(`unknown version ${view.getUint8(0)}`);
  const has = view.getUint8(1);
  const term = view.getFloat64(2);
  const index = view.getFloat64(10);
  if (has > 1 || !_isTerm(term) || !_isTerm(index)) throw bad("malformed last log id");
  const count = view.getUint32(18);
  const map = new Map<string, Uint8Array>();
  let at = 22;
  const take = (): Uint8Array => {
    if (at + 4 > data.length) throw bad("truncated");
    const n = view.getUint32(at);
    if (at + 4 + n > data.length) throw bad("truncated");
    const out = data.slice(at + 4, at + 4 + n);
    at += 4 + n;
    return out;
  };
  for (let i = 0; i < count; i++) {
    let key: string;
    try {
      key = _decoder.decode(take());
    } catch (e) {
      throw e instanceof Error && e.message.startsWith("MemoryStateMachine") ? e : bad("bad key");
    }
    map.set(key, take());
  }
  if (at !== data.length) throw bad("trailing bytes");
  if (map.size !== count) throw bad("duplicate keys");
  return { lastLogId: has === 1 ? { term, index } : null, map };
}

/**
 * An example state machine: a map from string keys to byte values, driven by
 * commands made with {@linkcode kvSet} and {@linkcode kvDelete}. Applying a
 * command returns the key's previous value (`null` if it had none);
 * applying bytes that are not a kv command changes nothing and returns
 * `null` (deterministically, on every replica). Blank and membership entries
 * return `undefined`; a membership entry becomes the applied membership.
 *
 * For tests it checks that entries are applied in order and exactly once
 * (an out-of-order batch rejects and applies nothing), and records every
 * applied log id in {@linkcode MemoryStateMachine.applyLog}.
 *
 * Snapshots serialize the map (keys sorted, so equal states give equal
 * bytes) and the last applied log id; ids are `${term}-${index}-${counter}`.
 *
 * @example
 * ```ts
 * import { kvSet, MemoryStateMachine } from "./memory.ts";
 * const a = new MemoryStateMachine();
 * const [previous] = await a.apply([{ term: 1, index: 1, type: "normal", data: kvSet("x", "1") }]);
 * console.assert(previous === null);
 * const snapshot = await a.buildSnapshot();
 * const b = new MemoryStateMachine();
 * await b.installSnapshot(snapshot.meta, snapshot.open());
 * console.assert(new TextDecoder().decode(b.get("x")!) === "1");
 * ```
 */
export class MemoryStateMachine implements StateMachine<Uint8Array | null> {
  #map = new Map<string, Uint8Array>();
  #lastApplied: LogId | null = null;
  #membership: StoredMembership = _INITIAL_MEMBERSHIP;
  #snapshot: { meta: SnapshotMeta; bytes: Uint8Array } | null = null;
  #counter = 0;
  #appliedCount = 0;
  #applyLog: LogId[] = [];

  /**
   * How many entries (of every type) `apply` has applied on this instance.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * const sm = new MemoryStateMachine();
   * await sm.apply([{ term: 1, index: 1, type: "blank" }]);
   * console.assert(sm.appliedCount === 1);
   * ```
   */
  get appliedCount(): number {
    return this.#appliedCount;
  }

  /**
   * The log id of every entry `apply` has applied on this instance, in
   * order (entries covered by an installed snapshot are not in it).
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * const sm = new MemoryStateMachine();
   * await sm.apply([{ term: 1, index: 1, type: "blank" }, { term: 2, index: 2, type: "blank" }]);
   * console.assert(sm.applyLog.map((id) => id.index).join() === "1,2");
   * ```
   */
  get applyLog(): readonly LogId[] {
    return this.#applyLog;
  }

  /**
   * The last applied log id, or `null`.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * console.assert(new MemoryStateMachine().lastApplied === null);
   * ```
   */
  get lastApplied(): LogId | null {
    return _idOrNull(this.#lastApplied);
  }

  /**
   * How many keys are set.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * console.assert(new MemoryStateMachine().size === 0);
   * ```
   */
  get size(): number {
    return this.#map.size;
  }

  /**
   * A copy of the value of `key`, or `null`.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * console.assert(new MemoryStateMachine().get("missing") === null);
   * ```
   */
  get(key: string): Uint8Array | null {
    return this.#map.get(key)?.slice() ?? null;
  }

  /**
   * Every key and (a copy of its) value, sorted by key: compare replicas with it.
   *
   * @example
   * ```ts
   * import { kvSet, MemoryStateMachine } from "./memory.ts";
   * const sm = new MemoryStateMachine();
   * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("b", "2") }]);
   * console.assert(sm.pairs()[0]?.[0] === "b");
   * ```
   */
  pairs(): [string, Uint8Array][] {
    return [...this.#map.keys()].sort().map((k) => [k, this.#map.get(k)!.slice()]);
  }

  /**
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * const s = await new MemoryStateMachine().appliedState();
   * console.assert(s.lastApplied === null && s.membership.logId === null);
   * ```
   */
  appliedState(): Promise<AppliedState> {
    return Promise.resolve({
      lastApplied: _idOrNull(this.#lastApplied),
      membership: this.#membership,
    });
  }

  /**
   * Applies entries and returns the responses synchronously (an array, not a
   * promise); rejects, applying none, unless they continue from the last
   * applied entry (index + 1, terms not decreasing).
   *
   * @example
   * ```ts
   * import { kvSet, MemoryStateMachine } from "./memory.ts";
   * const sm = new MemoryStateMachine();
   * const out = await sm.apply([
   *   { term: 1, index: 1, type: "blank" },
   *   { term: 1, index: 2, type: "normal", data: kvSet("a", "x") },
   *   { term: 1, index: 3, type: "normal", data: kvSet("a", "y") },
   * ]);
   * console.assert(out[0] === undefined && out[1] === null && out[2]?.[0] === 120); // "x"
   * ```
   */
  apply(
    entries: readonly Entry[],
  ): Promise<(Uint8Array | null | undefined)[]> | (Uint8Array | null | undefined)[] {
    try {
      checkApplyOrder("MemoryStateMachine", this.#lastApplied, entries);
    } catch (e) {
      return Promise.reject(e);
    }
    const out: (Uint8Array | null | undefined)[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const id = { term: e.term, index: e.index };
      if (e.type === "normal") {
        const cmd = decodeKvCommand(e.data);
        if (cmd === null) {
          out[i] = null;
        } else {
          const prev = this.#map.get(cmd.key) ?? null;
          out[i] = prev;
          if (cmd.op === "set") this.#map.set(cmd.key, cmd.value.slice());
          else if (cmd.op === "delete") this.#map.delete(cmd.key);
          else if (_sameBytes(prev, cmd.expected)) this.#map.set(cmd.key, cmd.value.slice());
        }
      } else {
        if (e.type === "membership") this.#membership = { logId: id, membership: e.membership };
        out[i] = undefined;
      }
      this.#lastApplied = id;
      this.#applyLog.push(id);
      this.#appliedCount++;
    }
    return out;
  }

  /**
   * Serializes the applied state; it becomes the current snapshot.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * const sm = new MemoryStateMachine();
   * await sm.apply([{ term: 2, index: 1, type: "blank" }]);
   * const s = await sm.buildSnapshot();
   * console.assert(s.meta.snapshotId === "2-1-1" && s.meta.lastLogId?.index === 1);
   * ```
   */
  buildSnapshot(): Promise<Snapshot> {
    const last = _idOrNull(this.#lastApplied);
    const meta: SnapshotMeta = {
      lastLogId: last,
      lastMembership: this.#membership,
      snapshotId: `${last?.term ?? 0}-${last?.index ?? 0}-${++this.#counter}`,
    };
    const bytes = _encodeKvSnapshot(last, this.#map);
    this.#snapshot = { meta, bytes };
    return Promise.resolve(snapshotOfBytes(meta, bytes));
  }

  /**
   * Replaces the state with a snapshot's (built by a `MemoryStateMachine`);
   * it becomes the current snapshot. Rejects malformed data, data whose last
   * log id differs from `meta.lastLogId`, and a snapshot older than what is
   * applied.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * const source = new MemoryStateMachine();
   * await source.apply([{ term: 1, index: 1, type: "blank" }]);
   * const snap = await source.buildSnapshot();
   * const target = new MemoryStateMachine();
   * await target.installSnapshot(snap.meta, snap.open());
   * console.assert(target.lastApplied?.index === 1);
   * ```
   */
  async installSnapshot(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    this.#install(meta, await readAllBytes(data));
  }

  #install(meta: SnapshotMeta, data: Uint8Array): void {
    const decoded = _decodeKvSnapshot(data);
    if (compareLogId(decoded.lastLogId, meta.lastLogId) !== 0) {
      throw new Error(
        `MemoryStateMachine.installSnapshot: the data covers ${_fmt(decoded.lastLogId)} ` +
          `but the meta says ${_fmt(meta.lastLogId)}`,
      );
    }
    if (compareLogId(meta.lastLogId, this.#lastApplied) < 0) {
      throw new Error(
        `MemoryStateMachine.installSnapshot: snapshot ${_fmt(meta.lastLogId)} is older than ` +
          `the last applied ${_fmt(this.#lastApplied)}`,
      );
    }
    this.#map = decoded.map;
    this.#lastApplied = _idOrNull(meta.lastLogId);
    this.#membership = meta.lastMembership;
    this.#snapshot = { meta, bytes: data };
  }

  /**
   * The snapshot last built or installed, or `null`.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./memory.ts";
   * console.assert(await new MemoryStateMachine().currentSnapshot() === null);
   * ```
   */
  currentSnapshot(): Promise<Snapshot | null> {
    const s = this.#snapshot;
    return Promise.resolve(s === null ? null : snapshotOfBytes(s.meta, s.bytes));
  }

  /**
   * Simulates a restart where snapshots are durable and the live state is
   * not: returns a new state machine holding the current snapshot's state
   * (or an empty one), with that snapshot as its current snapshot and an
   * empty apply log. This instance is left as it is.
   *
   * @example
   * ```ts
   * import { kvSet, MemoryStateMachine } from "./memory.ts";
   * const sm = new MemoryStateMachine();
   * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("a", "1") }]);
   * await sm.buildSnapshot();
   * await sm.apply([{ term: 1, index: 2, type: "normal", data: kvSet("b", "2") }]);
   * const restarted = sm.crash();
   * console.assert(restarted.lastApplied?.index === 1 && restarted.get("b") === null);
   * ```
   */
  crash(): MemoryStateMachine {
    const next = new MemoryStateMachine();
    next.#counter = this.#counter;
    if (this.#snapshot !== null) next.#install(this.#snapshot.meta, this.#snapshot.bytes);
    return next;
  }
}

/**
 * A state machine that only counts the normal entries it applies, for
 * benchmarks: each normal entry returns the count including itself. Blank
 * and membership entries return `undefined` (membership entries become the
 * applied membership). Its snapshot is the count (8 bytes).
 *
 * @example
 * ```ts
 * import { CountingStateMachine } from "./memory.ts";
 * const sm = new CountingStateMachine();
 * const out = await sm.apply([
 *   { term: 1, index: 1, type: "blank" },
 *   { term: 1, index: 2, type: "normal", data: new Uint8Array(16) },
 * ]);
 * console.assert(out[1] === 1 && sm.count === 1);
 * ```
 */
export class CountingStateMachine implements StateMachine<number> {
  #count = 0;
  #lastApplied: LogId | null = null;
  #membership: StoredMembership = _INITIAL_MEMBERSHIP;
  #snapshot: { meta: SnapshotMeta; bytes: Uint8Array } | null = null;
  #counter = 0;

  /**
   * How many normal entries are applied (including those covered by an
   * installed snapshot).
   *
   * @example
   * ```ts
   * import { CountingStateMachine } from "./memory.ts";
   * console.assert(new CountingStateMachine().count === 0);
   * ```
   */
  get count(): number {
    return this.#count;
  }

  /**
   * @example
   * ```ts
   * import { CountingStateMachine } from "./memory.ts";
   * console.assert((await new CountingStateMachine().appliedState()).lastApplied === null);
   * ```
   */
  appliedState(): Promise<AppliedState> {
    return Promise.resolve({
      lastApplied: _idOrNull(this.#lastApplied),
      membership: this.#membership,
    });
  }

  /**
   * Counts the normal entries, answering synchronously (an array); rejects,
   * applying none, unless the entries continue from the last applied one.
   *
   * @example
   * ```ts
   * import { CountingStateMachine } from "./memory.ts";
   * const sm = new CountingStateMachine();
   * const [n] = await sm.apply([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
   * console.assert(n === 1);
   * ```
   */
  apply(entries: readonly Entry[]): Promise<(number | undefined)[]> | (number | undefined)[] {
    const last = entries[entries.length - 1];
    if (last === undefined) return [];
    const first = entries[0]!;
    const expected = (this.#lastApplied?.index ?? 0) + 1;
    if (first.index !== expected || last.index !== expected + entries.length - 1) {
      try {
        checkApplyOrder("CountingStateMachine", this.#lastApplied, entries);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const out: (number | undefined)[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type === "normal") out[i] = ++this.#count;
      else {
        if (e.type === "membership") {
          this.#membership = { logId: { term: e.term, index: e.index }, membership: e.membership };
        }
        out[i] = undefined;
      }
    }
    this.#lastApplied = { term: last.term, index: last.index };
    return out;
  }

  /**
   * @example
   * ```ts
   * import { CountingStateMachine } from "./memory.ts";
   * import { readAllBytes } from "../src/byte_stream.ts";
   * const s = await new CountingStateMachine().buildSnapshot();
   * console.assert((await readAllBytes(s.open())).byteLength === 8);
   * ```
   */
  buildSnapshot(): Promise<Snapshot> {
    const last = _idOrNull(this.#lastApplied);
    const data = new Uint8Array(8);
    new DataView(data.buffer).setFloat64(0, this.#count);
    const meta: SnapshotMeta = {
      lastLogId: last,
      lastMembership: this.#membership,
      snapshotId: `${last?.term ?? 0}-${last?.index ?? 0}-${++this.#counter}`,
    };
    this.#snapshot = { meta, bytes: data };
    return Promise.resolve(snapshotOfBytes(meta, data));
  }

  /**
   * @example
   * ```ts
   * import { CountingStateMachine } from "./memory.ts";
   * const a = new CountingStateMachine();
   * await a.apply([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
   * const snap = await a.buildSnapshot();
   * const b = new CountingStateMachine();
   * await b.installSnapshot(snap.meta, snap.open());
   * console.assert(b.count === 1);
   * ```
   */
  async installSnapshot(meta: SnapshotMeta, stream: ReadableStream<Uint8Array>): Promise<void> {
    const data = await readAllBytes(stream);
    if (data.byteLength !== 8) {
      throw new Error("CountingStateMachine: invalid snapshot: not 8 bytes");
    }
    const count = new DataView(data.buffer, data.byteOffset, 8).getFloat64(0);
    if (!_isTerm(count)) throw new Error("CountingStateMachine: invalid snapshot: bad count");
    this.#count = count;
    this.#lastApplied = _idOrNull(meta.lastLogId);
    this.#membership = meta.lastMembership;
    this.#snapshot = { meta, bytes: data };
  }

  /**
   * @example
   * ```ts
   * import { CountingStateMachine } from "./memory.ts";
   * console.assert(await new CountingStateMachine().currentSnapshot() === null);
   * ```
   */
  currentSnapshot(): Promise<Snapshot | null> {
    const s = this.#snapshot;
    return Promise.resolve(s === null ? null : snapshotOfBytes(s.meta, s.bytes));
  }
}
