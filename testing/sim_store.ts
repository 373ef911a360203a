/**
 * Storage for simulated nodes: {@linkcode SimLogStore} is a
 * {@linkcode LogStore} with an fsync latency. It wraps a
 * {@linkcode MemoryLogStore} in `syncMode: "manual"`: a write is visible to
 * reads at once, becomes durable at the next (randomly delayed) sync, and
 * only then resolves. So a crash loses exactly the writes the node was never
 * told were done — the {@linkcode LogStore} contract, with the widest
 * window a real disk allows. Deliberately broken modes
 * ({@linkcode SimStoreFault}) break that contract, for tests that check the
 * simulator catches what follows.
 *
 * It also keeps the terms of its entries (as written and as durable) for
 * invariant checks that must not copy whole logs at every step.
 *
 * @module
 */

import { MemoryLogStore } from "../adapters/memory.ts";
import type { Clock, TimerHandle } from "../src/clock.ts";
import type { Random } from "../src/random.ts";
import type { LogState, LogStore } from "../src/storage.ts";
import type { Entry, LogId, NodeId, Vote } from "../src/types.ts";

/**
 * A deliberate storage bug, for testing the simulator:
 * - `"none"`: a correct store (writes resolve once durable);
 * - `"ack-before-sync"`: writes resolve at once but become durable only at
 *   the next sync, so a crash loses acknowledged writes;
 * - `"drop-vote"`: `saveVote` resolves without storing anything.
 *
 * @example
 * ```ts
 * import type { SimStoreFault } from "./sim_store.ts";
 * const fault: SimStoreFault = "drop-vote";
 * ```
 */
export type SimStoreFault = "none" | "ack-before-sync" | "drop-vote";

/**
 * What a {@linkcode SimLogStore} reports to the simulator while it is used.
 *
 * @example
 * ```ts
 * import type { SimStoreObserver } from "./sim_store.ts";
 * const quiet: SimStoreObserver = { appended() {}, truncated() {}, saved() {}, rejected() {} };
 * ```
 */
export interface SimStoreObserver {
  /** Entries were written (accepted by the store), after `prevTerm` at the index before them. */
  appended(node: NodeId, entries: readonly Entry[], prevTerm: number | undefined): void;
  /** Entries from `since` on were removed; `removed[k]` is the term of index `since + k`. */
  truncated(node: NodeId, since: number, removed: readonly number[], vote: Vote | null): void;
  /** A vote was written (accepted by the store). */
  saved(node: NodeId, vote: Vote): void;
  /** The store refused a call: the caller broke the contract. */
  rejected(node: NodeId, operation: string, error: unknown): void;
}

/**
 * Options of a {@linkcode SimLogStore}.
 *
 * @example
 * ```ts
 * import { ManualClock } from "../src/clock.ts";
 * import { SeededRandom } from "../src/random.ts";
 * import type { SimLogStoreOptions } from "./sim_store.ts";
 * const options: SimLogStoreOptions = {
 *   node: 1, clock: new ManualClock(), random: new SeededRandom(1), fsyncMaxMs: 2,
 * };
 * ```
 */
export interface SimLogStoreOptions {
  /** The node it belongs to (for the observer). */
  readonly node: NodeId;
  /** Times the syncs. */
  readonly clock: Clock;
  /** Draws each sync's latency. */
  readonly random: Random;
  /**
   * Latency of a sync, drawn uniformly from [0, fsyncMaxMs] ms. `0` makes a
   * synchronous store (like bun:sqlite): each write is durable when the call
   * returns, which says so by returning `undefined`.
   */
  readonly fsyncMaxMs: number;
  /** A deliberate bug; default `"none"`. */
  readonly fault?: SimStoreFault;
  /** Told about writes; default: nobody. */
  readonly observer?: SimStoreObserver;
}

/** Terms of a log: `terms[k]` is the term of index `purgedIndex + 1 + k`. */
class _Terms {
  purgedIndex = 0;
  purgedTerm = 0;
  terms: number[] = [];

  clone(): _Terms {
    const c = new _Terms();
    c.purgedIndex = this.purgedIndex;
    c.purgedTerm = this.purgedTerm;
    c.terms = this.terms.slice();
    return c;
  }

  get lastIndex(): number {
    return this.purgedIndex + this.terms.length;
  }

  /** The term at `index`: 0 for index 0, `undefined` if absent (or purged, except the purge point). */
  termAt(index: number): number | undefined {
    if (index === this.purgedIndex) return index === 0 ? 0 : this.purgedTerm;
    if (index < this.purgedIndex) return undefined;
    return this.terms[index - this.purgedIndex - 1];
  }

  apply(op: _MirrorOp): void {
    switch (op.kind) {
      case "append":
        for (const t of op.terms) this.terms.push(t);
        return;
      case "truncate": {
        const keep = Math.max(0, op.since - this.purgedIndex - 1);
        if (keep < this.terms.length) this.terms.length = keep;
        return;
      }
      case "purge": {
        const drop = op.upTo.index - this.purgedIndex;
        if (drop >= this.terms.length) this.terms = [];
        else if (drop > 0) this.terms.splice(0, drop);
        this.purgedIndex = op.upTo.index;
        this.purgedTerm = op.upTo.term;
        return;
      }
    }
  }
}

type _MirrorOp =
  | { readonly kind: "append"; readonly terms: readonly number[] }
  | { readonly kind: "truncate"; readonly since: number }
  | { readonly kind: "purge"; readonly upTo: LogId };

/** Rejects the writes a crash interrupted. */
class _Crashed extends Error {
  constructor() {
    super("SimLogStore: the node crashed before this write was durable");
  }
}

/**
 * A {@linkcode LogStore} with fsync latency for simulations; see the module
 * documentation. Read the state with {@linkcode SimLogStore.termAt},
 * {@linkcode SimLogStore.lastIndex}, {@linkcode SimLogStore.vote} and their
 * durable counterparts; simulate a crash with {@linkcode SimLogStore.crash}.
 *
 * @example
 * ```ts
 * import { ManualClock } from "../src/clock.ts";
 * import { SeededRandom } from "../src/random.ts";
 * import { SimLogStore } from "./sim_store.ts";
 * const clock = new ManualClock();
 * const store = new SimLogStore({ node: 1, clock, random: new SeededRandom(1), fsyncMaxMs: 2 });
 * const write = store.append([{ term: 1, index: 1, type: "blank" }]);
 * console.assert(store.lastIndex() === 1 && store.lastIndex("durable") === 0);
 * clock.advance(2); // the sync
 * await write;
 * console.assert(store.lastIndex("durable") === 1);
 * ```
 */
export class SimLogStore implements LogStore {
  #inner: MemoryLogStore;
  readonly #opts: SimLogStoreOptions;
  readonly #fault: SimStoreFault;
  #written: _Terms;
  #durable: _Terms;
  #pending: _MirrorOp[] = [];
  #waiting: { resolve(): void; reject(e: unknown): void }[] = [];
  #sync: TimerHandle | null = null;
  #dead = false;
  #closed = false;
  #syncs = 0;
  /** `${index}/${term}` → the sync that last made that entry durable. */
  readonly #madeDurable = new Map<string, number>();

  /**
   * Creates a {@linkcode SimLogStore}.
   *
   * @param options clock, randomness, latency, fault and observer
   */
  constructor(options: SimLogStoreOptions) {
    if (!(options.fsyncMaxMs >= 0)) throw new RangeError("fsyncMaxMs must be ≥ 0");
    this.#opts = options;
    this.#fault = options.fault ?? "none";
    this.#inner = new MemoryLogStore({ syncMode: "manual" });
    this.#durable = new _Terms();
    this.#written = new _Terms();
  }

  /** The wrapped store (manual sync): its `contents("durable")` is what a crash keeps. */
  get inner(): MemoryLogStore {
    return this.#inner;
  }

  /** The term at `index` as written (default) or durable; see the module doc. */
  termAt(index: number, layer: "written" | "durable" = "written"): number | undefined {
    return (layer === "durable" ? this.#durable : this.#written).termAt(index);
  }

  /** The last index as written (default) or durable (the purge point if empty). */
  lastIndex(layer: "written" | "durable" = "written"): number {
    return (layer === "durable" ? this.#durable : this.#written).lastIndex;
  }

  /** The purge point as written (default) or durable. */
  purgedIndex(layer: "written" | "durable" = "written"): number {
    return (layer === "durable" ? this.#durable : this.#written).purgedIndex;
  }

  /** The vote as written (default) or durable. */
  vote(layer: "written" | "durable" = "written"): Vote | null {
    return layer === "durable" ? this.inner.durableVote : this.inner.vote;
  }

  /** How many syncs this store (this incarnation) has done. */
  get syncs(): number {
    return this.#syncs;
  }

  /**
   * The number of the last sync that made entry `term`-`index` durable
   * (`undefined` if none did, in this incarnation).
   */
  madeDurableAt(index: number, term: number): number | undefined {
    return this.#madeDurable.get(`${index}/${term}`);
  }

  /** Writes waiting for the next sync. */
  get unsynced(): number {
    return this.inner.unsynced;
  }

  /**
   * Simulates a crash: what is not durable is lost — unless `persistPending`,
   * which makes every write durable first (a crash right after the disk
   * finished, before the node heard). Interrupted writes reject; this store
   * is dead. Returns a store holding the durable state.
   */
  crash(persistPending = false): SimLogStore {
    if (persistPending) this.#syncNow(false);
    this.#dead = true;
    if (this.#sync !== null) this.#opts.clock.clearTimer(this.#sync);
    this.#sync = null;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.reject(new _Crashed());
    this.#pending = [];
    const next = new SimLogStore(this.#opts);
    next.#inner = this.#inner.crash();
    next.#durable = this.#durable.clone();
    next.#written = this.#durable.clone();
    return next;
  }

  // ---- LogStore -----------------------------------------------------------------

  readVote(): Promise<Vote | null> {
    return this.#read("readVote", this.inner.readVote());
  }

  saveVote(vote: Vote): Promise<void> | void {
    if (this.#fault === "drop-vote") return Promise.resolve();
    return this.#writeOp(
      "saveVote",
      () => this.inner.saveVote(vote),
      () => this.#opts.observer?.saved(this.#opts.node, vote),
    );
  }

  logState(): Promise<LogState> {
    return this.#read("logState", this.inner.logState());
  }

  entries(from: number, to: number): Promise<Entry[]> {
    return this.#read("entries", this.inner.entries(from, to));
  }

  append(entries: readonly Entry[]): Promise<void> | void {
    const prevTerm = entries.length > 0 ? this.#written.termAt(entries[0]!.index - 1) : undefined;
    return this.#writeOp("append", () => this.inner.append(entries), () => {
      this.#mirror({ kind: "append", terms: entries.map((e) => e.term) });
      this.#opts.observer?.appended(this.#opts.node, entries, prevTerm);
    });
  }

  truncate(since: number): Promise<void> | void {
    const w = this.#written;
    const from = Math.max(since, w.purgedIndex + 1);
    const removed = w.terms.slice(from - w.purgedIndex - 1);
    return this.#writeOp("truncate", () => this.inner.truncate(since), () => {
      this.#mirror({ kind: "truncate", since });
      this.#opts.observer?.truncated(this.#opts.node, from, removed, this.inner.vote);
    });
  }

  purge(upTo: LogId): Promise<void> | void {
    return this.#writeOp("purge", () => this.inner.purge(upTo), () => {
      this.#mirror({ kind: "purge", upTo: { term: upTo.term, index: upTo.index } });
    });
  }

  saveCommitted(committed: LogId | null): Promise<void> {
    // Need not be durable: resolves at once, synced with the next sync.
    const p = Promise.resolve(this.inner.saveCommitted(committed));
    this.#scheduleSync();
    return this.#read("saveCommitted", p);
  }

  readCommitted(): Promise<LogId | null> {
    return this.#read("readCommitted", this.inner.readCommitted());
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.inner.close();
  }

  // ---- internals ----------------------------------------------------------------

  #read<T>(op: string, p: Promise<T>): Promise<T> {
    return p.catch((e) => {
      if (!this.#dead && !this.#closed) this.#opts.observer?.rejected(this.#opts.node, op, e);
      throw e;
    });
  }

  /** Calls `call` (which writes synchronously); `accepted` runs if it wrote. */
  #writeOp(
    op: string,
    call: () => Promise<void> | void,
    accepted: (() => void) | null,
  ): Promise<void> | void {
    const before = this.inner.unsynced;
    const p = Promise.resolve(call());
    const wrote = this.inner.unsynced > before;
    if (wrote) accepted?.();
    if (wrote && this.#opts.fsyncMaxMs === 0 && this.#fault === "none") {
      // A synchronous store: durable on return (with everything written before it).
      this.#syncNow(true);
      return;
    }
    const done = this.#read(op, p);
    if (this.#fault === "ack-before-sync") {
      this.#scheduleSync();
      return done;
    }
    const durable = new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }));
    this.#scheduleSync();
    return Promise.all([done, durable]).then(() => {});
  }

  #mirror(op: _MirrorOp): void {
    this.#written.apply(op);
    this.#pending.push(op);
  }

  #scheduleSync(): void {
    if (this.#sync !== null || this.#dead) return;
    const o = this.#opts;
    const latency = o.fsyncMaxMs === 0 ? 0 : o.random.next() * o.fsyncMaxMs;
    this.#sync = o.clock.setTimer(latency, () => {
      this.#sync = null;
      this.#syncNow(true);
    });
  }

  #syncNow(resolve: boolean): void {
    this.inner.sync();
    const n = ++this.#syncs;
    for (const op of this.#pending) {
      if (op.kind === "append") {
        let index = this.#durable.lastIndex;
        for (const t of op.terms) this.#madeDurable.set(`${++index}/${t}`, n);
      }
      this.#durable.apply(op);
    }
    this.#pending = [];
    if (!resolve) return;
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const w of waiting) w.resolve();
  }
}
