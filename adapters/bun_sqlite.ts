/**
 * A durable {@linkcode LogStore} on `bun:sqlite` (Bun only).
 *
 * The database runs with `journal_mode=WAL` and `synchronous=FULL` (with
 * `NORMAL`, a power loss can lose transactions already acknowledged), and
 * `locking_mode=EXCLUSIVE`: the first store to open a file holds it until
 * closed, and a second one (in this process or another) fails to open.
 *
 * ```text
 * raft_log    (idx INTEGER PRIMARY KEY, term INTEGER, entry BLOB)    entry = encodeEntry(e)
 * raft_state  (name TEXT PRIMARY KEY, term, idx, data)  one row each:
 *             'vote' (data = encodeVote(v)), 'purged' (term, idx), 'committed' (term, idx)
 * PRAGMA user_version = 1   (the layout version; another one is refused)
 * ```
 *
 * Every write is one transaction, so a crash keeps it whole or not at all:
 * an append of many entries is one `BEGIN`…`COMMIT` with a prepared
 * `INSERT` (group commit: one fsync per append, whatever its size); a purge
 * deletes the entries and records the purge point together.
 *
 * **A worker thread.** Each store runs its SQLite connection in a `Worker`
 * of its own (adapters/_bun_sqlite_worker.ts), which opens the database and
 * executes every statement, reads included: a commit's fsync blocks that
 * thread, not the event loop, which meanwhile serves the network. The store
 * keeps the small state (vote, purge point, last entry, commit index) in
 * memory and validates every call on the calling thread; it sends the
 * worker only the SQL work (an append as its encoded entries, in one
 * transferred buffer). Calls are served one at a time in call order; a
 * write's promise resolves once its transaction committed. After a write
 * fails, every later call rejects: close and reopen. `close()` waits for
 * the calls made before it, then closes the database and ends the worker.
 * The worker does not keep the process alive while no call is pending.
 *
 * `bun:sqlite` is loaded (in the worker) when a store is opened, so this
 * module can be type-checked and loaded by Deno (where opening rejects).
 *
 * @example
 * ```ts
 * import { BunSqliteLogStore } from "./bun_sqlite.ts";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
 *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
 *   const store = await BunSqliteLogStore.open(path);
 *   await store.append([{ term: 1, index: 1, type: "blank" }]);
 *   console.assert((await store.logState()).lastLogId?.index === 1);
 *   await store.close();
 * }
 * ```
 *
 * @module
 */

import { ConfigError } from "../src/errors.ts";
import { decodeEntry, decodeVote, encodeEntry, encodeVote } from "../src/codec.ts";
import type { LogState, LogStore } from "../src/storage.ts";
import type { Entry, LogId, Vote } from "../src/types.ts";
import type { BunSqliteReply, BunSqliteRequest } from "./_bun_sqlite_worker.ts";
import {
  checkAppend,
  checkLogId,
  checkPurgeStart,
  checkPurgeTerm,
  checkRange,
  checkTruncate,
  checkVote,
  closedError,
  copyId,
  failedStoreError,
  fmtId,
  LogMeta,
} from "./_log_checks.ts";

const _NAME = "BunSqliteLogStore";

function _corrupt(what: string): Error {
  return new Error(`${_NAME}: the database is corrupt: ${what}`);
}

function _isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function _row(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== "object") throw _corrupt(`${what} is not a row`);
  return v as Record<string, unknown>;
}

function _bytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw _corrupt(`${what} is not a blob`);
  return v;
}

function _rows(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw _corrupt(`${what} are not rows`);
  return v;
}

/** Rejects outside Bun (bun:sqlite); the worker loads bun:sqlite itself. */
function _needBun(): void {
  if (!("Bun" in globalThis)) {
    throw new Error(
      `${_NAME} needs Bun (bun:sqlite), and this is not Bun: under Deno use DenoKvLogStore ` +
        '("@x/raft/adapters/deno-kv"), or openStorage ("@x/raft/adapters"), which picks ' +
        "the runtime's store",
    );
  }
}

/** A request without its id (the link numbers it). */
type _Call = BunSqliteRequest extends infer R ? R extends unknown ? Omit<R, "id"> : never
  : never;

/** Bun's `Worker` can stop keeping the process alive (not in the Web API's types). */
interface _Refs {
  ref?(): void;
  unref?(): void;
}

/** An error the worker answered with. */
class _WorkerError extends Error {
  /** The append was interrupted by the test hook (the worker closed the database). */
  readonly crashed: boolean;
  constructor(message: string, name: string, crashed: boolean) {
    super(message);
    if (name !== "Error") this.name = name;
    this.crashed = crashed;
  }
}

/**
 * The store's worker thread and the requests it has not answered yet. The
 * worker keeps the process alive only while a request is pending (a store
 * left open does not hold the process, as a plain connection would not).
 */
class _WorkerLink {
  readonly #worker: Worker;
  readonly #pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: unknown): void }
  >();
  #next = 1;
  #dead: Error | null = null;

  constructor() {
    // Under JSR's npm compatibility the package is transpiled to .js files.
    const url = import.meta.url.endsWith(".js")
      ? new URL("./_bun_sqlite_worker.js", import.meta.url)
      : new URL("./_bun_sqlite_worker.ts", import.meta.url);
    this.#worker = new Worker(url, { type: "module" });
    (this.#worker as unknown as _Refs).unref?.();
    this.#worker.onmessage = (event: MessageEvent<BunSqliteReply>) => this.#answer(event.data);
    this.#worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      this.#die(new Error(`${_NAME}: its worker failed: ${event.message}`));
    };
    this.#worker.addEventListener(
      "close",
      () => this.#die(new Error(`${_NAME}: its worker exited`)),
    );
  }

  /** Sends a request; resolves with the worker's answer. */
  call(request: _Call, transfer: Transferable[] = []): Promise<unknown> {
    if (this.#dead !== null) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size === 0) (this.#worker as unknown as _Refs).ref?.();
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ ...request, id }, transfer);
    });
  }

  #answer(reply: BunSqliteReply): void {
    const p = this.#pending.get(reply.id);
    if (p === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0) (this.#worker as unknown as _Refs).unref?.();
    if (reply.ok) p.resolve(reply.value);
    else p.reject(new _WorkerError(reply.message, reply.name, reply.crashed));
  }

  /** Rejects every pending request with `error`, and every later one. */
  #die(error: Error): void {
    if (this.#dead !== null) return;
    this.#dead = error;
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    (this.#worker as unknown as _Refs).unref?.();
    for (const p of pending) p.reject(error);
  }

  /** Whether the worker is gone (ended, failed or exited): every call rejects. */
  get dead(): boolean {
    return this.#dead !== null;
  }

  /** Test hook: ends the worker abruptly, as if its thread died (its "close" event follows). */
  kill(): void {
    this.#worker.terminate();
  }

  /** Ends the worker (after `close`, or when the store gave up on it). */
  terminate(): void {
    this.#die(new Error(`${_NAME}: the store is closed`));
    this.#worker.terminate();
  }
}

/**
 * Test hooks of one store (see {@linkcode _testHooks}); not part of the API.
 *
 * @example
 * ```ts
 * import { _testHooks, BunSqliteLogStore } from "./bun_sqlite.ts";
 * import type { BunSqliteTestHooks } from "./bun_sqlite.ts";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
 *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
 *   const store = await BunSqliteLogStore.open(path);
 *   const hooks: BunSqliteTestHooks = _testHooks(store);
 *   console.assert(hooks.crashAfterRows === null && await hooks.pragma("synchronous") === 2);
 *   await store.close();
 * }
 * ```
 */
export interface BunSqliteTestHooks {
  /** Write transactions committed since the hooks were installed. */
  transactions: number;
  /**
   * When set, the next append "crashes" after inserting this many rows:
   * its transaction is abandoned (rolled back), the database closed, and
   * the append rejects; `null` (the default) never.
   */
  crashAfterRows: number | null;
  /** The value of a PRAGMA of the store's connection (read in its worker, in call order). */
  pragma(name: string): Promise<unknown>;
  /**
   * Ends the store's worker abruptly, as if its thread died: the calls it
   * has not answered reject, and the store is failed.
   */
  killWorker(): void;
}

const _hooks = new WeakMap<BunSqliteLogStore, BunSqliteTestHooks>();
/** Each store's worker, for the test hooks. */
const _links = new WeakMap<BunSqliteLogStore, _WorkerLink>();

/**
 * Installs (or returns) the test hooks of `store`: counts its write
 * transactions, reads its pragmas, and can interrupt an append. For the
 * adapter's own tests; not part of the API.
 *
 * @example
 * ```ts
 * import { _testHooks, BunSqliteLogStore } from "./bun_sqlite.ts";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
 *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
 *   const store = await BunSqliteLogStore.open(path);
 *   const hooks = _testHooks(store);
 *   await store.append([{ term: 1, index: 1, type: "blank" }, { term: 1, index: 2, type: "blank" }]);
 *   console.assert(hooks.transactions === 1); // one transaction per append
 *   await store.close();
 * }
 * ```
 */
export function _testHooks(store: BunSqliteLogStore): BunSqliteTestHooks {
  let h = _hooks.get(store);
  if (h === undefined) {
    h = {
      transactions: 0,
      crashAfterRows: null,
      pragma: (name) => {
        const link = _links.get(store);
        if (link === undefined || !/^[a-z_]+$/.test(name)) {
          return Promise.reject(new RangeError(`bad pragma ${name}`));
        }
        return link.call({ op: "pragma", name });
      },
      killWorker: () => _links.get(store)?.kill(),
    };
    _hooks.set(store, h);
  }
  return h;
}

/**
 * A {@linkcode LogStore} on `bun:sqlite`: one transaction per write (group
 * commit), WAL with `synchronous=FULL`, an exclusive lock on the file, the
 * connection in a worker thread. Validates its calls exactly as
 * `MemoryLogStore` does. See the module documentation for the schema.
 *
 * @example
 * ```ts
 * import { BunSqliteLogStore } from "./bun_sqlite.ts";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
 *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
 *   const store = await BunSqliteLogStore.open(path);
 *   await store.saveVote({ term: 1, votedFor: 1, committed: false });
 *   await store.close();
 *   const again = await BunSqliteLogStore.open(path); // the vote survived
 *   console.assert((await again.readVote())?.votedFor === 1);
 *   await again.close();
 * }
 * ```
 */
export class BunSqliteLogStore implements LogStore {
  readonly #link: _WorkerLink;
  readonly #meta: LogMeta;
  /** Settles when the last call made so far has been served. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  #failed: unknown = undefined;

  private constructor(link: _WorkerLink, meta: LogMeta) {
    this.#link = link;
    this.#meta = meta;
    _links.set(this, link);
  }

  /**
   * Opens (creating if needed) the store in the SQLite file at `path`.
   * Rejects outside Bun, for a file another store holds open, for a layout
   * version this one does not read, and for a corrupt state.
   *
   * @param path the database file (its directory must exist)
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   await store.saveVote({ term: 1, votedFor: 1, committed: false });
   *   await store.close();
   *   const again = await BunSqliteLogStore.open(path); // the vote survived
   *   console.assert((await again.readVote())?.votedFor === 1);
   *   await again.close();
   * }
   * ```
   */
  static async open(path: string): Promise<BunSqliteLogStore> {
    if (typeof path !== "string" || path === "") {
      throw new ConfigError("path", `${_NAME}.open: path must be a non-empty string`);
    }
    _needBun();
    const link = new _WorkerLink();
    let opened: unknown;
    try {
      opened = await link.call({ op: "open", path });
    } catch (e) {
      link.terminate();
      throw e;
    }
    try {
      return new BunSqliteLogStore(link, BunSqliteLogStore.#readMeta(opened));
    } catch (e) {
      await link.call({ op: "close" }).catch(() => {});
      link.terminate();
      throw e;
    }
  }

  /** The small state, from the rows the worker read at open. */
  static #readMeta(opened: unknown): LogMeta {
    const o = _row(opened, "the opened state");
    const meta = new LogMeta();
    for (const raw of _rows(o.state, "the raft_state rows")) {
      const row = _row(raw, "a raft_state row");
      const id = (): LogId => {
        if (!_isInt(row.term) || !_isInt(row.idx)) throw _corrupt(`${row.name} is not a log id`);
        return { term: row.term, index: row.idx };
      };
      if (row.name === "vote") meta.vote = decodeVote(_bytes(row.data, "the vote"));
      else if (row.name === "purged") meta.purged = id();
      else if (row.name === "committed") meta.committed = id();
    }
    const stats = _row(o.stats, "the log's extent");
    if (stats.n !== 0) {
      const { n, lo, hi } = stats;
      if (!_isInt(n) || !_isInt(lo) || !_isInt(hi)) throw _corrupt("bad log extent");
      if (lo !== meta.purgedIndex + 1 || hi - lo + 1 !== n) {
        throw _corrupt(
          `the log holds ${n} entries from ${lo} to ${hi} after the purge point ` +
            `${fmtId(meta.purged)}`,
        );
      }
      const term = _row(o.last, "last").term;
      if (!_isInt(term)) throw _corrupt(`entry ${hi} has no term`);
      meta.last = { term, index: hi };
    }
    return meta;
  }

  // ------------------------------------------------------------ plumbing

  /**
   * Serves a call in its turn: after every call made before it has been
   * served, and only if the store is neither closed nor failed.
   */
  #run<T>(op: keyof LogStore, body: () => Promise<T> | T): Promise<T> {
    const p = this.#queue.then(() => {
      if (this.#closed) throw closedError(_NAME, op);
      if (this.#failed !== undefined) throw failedStoreError(_NAME, op, this.#failed);
      return body();
    });
    this.#queue = p.catch(() => {});
    return p;
  }

  /** Runs one write transaction in the worker: a failure leaves the store failed. */
  async #write(request: _Call, transfer?: Transferable[]): Promise<void> {
    try {
      await this.#link.call(request, transfer);
    } catch (e) {
      if (!this.#closed) this.#failed = e;
      throw e;
    }
    const hooks = _hooks.get(this);
    if (hooks !== undefined) hooks.transactions++;
  }

  /** The term of the entry at `index` (which must be present). */
  async #termAt(index: number): Promise<number> {
    const term = _row(await this.#link.call({ op: "termAt", index }), `entry ${index}`).term;
    if (!_isInt(term)) throw _corrupt(`entry ${index} has no term`);
    return term;
  }

  async #read(lo: number, hi: number): Promise<Entry[]> {
    const rows = _rows(await this.#link.call({ op: "read", lo, hi }), "the raft_log rows");
    const out: Entry[] = [];
    for (const raw of rows) {
      const row = _row(raw, "a raft_log row");
      const index = lo + out.length;
      if (row.idx !== index) throw _corrupt(`entry ${index} is missing`);
      let e: Entry;
      try {
        e = decodeEntry(_bytes(row.entry, `entry ${index}`));
      } catch (err) {
        throw new Error(`${_NAME}: the database is corrupt: entry ${index}: ${String(err)}`, {
          cause: err,
        });
      }
      if (e.index !== row.idx) {
        throw _corrupt(`the entry stored at ${index} has index ${e.index}`);
      }
      out.push(e);
    }
    if (out.length !== hi - lo + 1) throw _corrupt(`entry ${lo + out.length} is missing`);
    return out;
  }

  // ---------------------------------------------------------------- API

  /**
   * The saved vote, or `null` if none was ever saved (kept in memory: no I/O).
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   console.assert(await store.readVote() === null); // none was ever saved
   *   await store.close();
   * }
   * ```
   */
  readVote(): Promise<Vote | null> {
    return this.#run("readVote", () => {
      const v = this.#meta.vote;
      return v === null ? null : { ...v };
    });
  }

  /**
   * Saves the vote durably. Rejects a vote that goes back: a lower term,
   * another candidate in the same term, or `committed` reset in the same term.
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   await store.saveVote({ term: 2, votedFor: 1, committed: false });
   *   console.assert((await store.readVote())?.votedFor === 1);
   *   await store.close();
   * }
   * ```
   */
  saveVote(vote: Vote): Promise<void> {
    return this.#run("saveVote", async () => {
      checkVote(_NAME, this.#meta.vote, vote);
      const v: Vote = Object.freeze({
        term: vote.term,
        votedFor: vote.votedFor,
        committed: vote.committed,
      });
      await this.#write({ op: "saveVote", data: encodeVote(v) });
      this.#meta.vote = v;
    });
  }

  /**
   * Where the log stands: the last purged id and the last id present (kept
   * in memory: no I/O).
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   await store.append([{ term: 1, index: 1, type: "blank" }]);
   *   const { lastPurged, lastLogId } = await store.logState();
   *   console.assert(lastPurged === null && lastLogId?.index === 1);
   *   await store.close();
   * }
   * ```
   */
  logState(): Promise<LogState> {
    return this.#run("logState", () => ({
      lastPurged: copyId(this.#meta.purged),
      lastLogId: this.#meta.lastLogId(),
    }));
  }

  /**
   * Entries with `from <= index <= to`, clamped to what exists, in a new array.
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   const blanks = [1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: "blank" as const }));
   *   await store.append(blanks);
   *   const head = await store.entries(1, 2);
   *   console.assert(head.length === 2 && head[1]?.index === 2);
   *   await store.close();
   * }
   * ```
   */
  entries(from: number, to: number): Promise<Entry[]> {
    return this.#run("entries", (): Entry[] | Promise<Entry[]> => {
      checkRange(_NAME, from, to);
      const meta = this.#meta;
      if (meta.last === null) return [];
      const lo = Math.max(from, meta.purgedIndex + 1);
      const hi = Math.min(to, meta.last.index);
      return lo > hi ? [] : this.#read(lo, hi);
    });
  }

  /**
   * Appends entries that continue the log (first index = last index + 1,
   * consecutive, terms not decreasing) in one transaction. An empty list is
   * a no-op.
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   await store.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array([1]) }]);
   *   console.assert((await store.logState()).lastLogId?.index === 1);
   *   await store.close();
   * }
   * ```
   */
  append(entries: readonly Entry[]): Promise<void> {
    return this.#run("append", async () => {
      checkAppend(_NAME, this.#meta, entries);
      const last = entries[entries.length - 1];
      if (last === undefined) return;
      // Encoded before the transaction: an entry the codec refuses rejects the call cleanly.
      const encoded = entries.map(encodeEntry);
      // One buffer for the worker, transferred rather than copied again.
      let size = 0;
      for (const b of encoded) size += b.length;
      const data = new Uint8Array(size);
      const ends: number[] = [];
      let at = 0;
      for (const b of encoded) {
        data.set(b, at);
        at += b.length;
        ends.push(at);
      }
      const hooks = _hooks.get(this);
      const crashAfterRows = hooks?.crashAfterRows ?? null;
      const request: _Call = {
        op: "append",
        indexes: entries.map((e) => e.index),
        terms: entries.map((e) => e.term),
        ends,
        data: data.buffer,
        crashAfterRows,
      };
      try {
        await this.#write(request, [data.buffer]);
      } catch (e) {
        if (e instanceof _WorkerError && e.crashed) {
          hooks!.crashAfterRows = null;
          this.#closed = true;
          this.#link.terminate(); // the worker closed the database
        }
        throw e;
      }
      this.#meta.last = { term: last.term, index: last.index };
    });
  }

  /**
   * Deletes the entries with `index >= since` in one statement. Rejects
   * `since` at or below the purge point; beyond the last entry it is a no-op.
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   const blanks = [1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: "blank" as const }));
   *   await store.append(blanks);
   *   await store.truncate(5); // keeps 1..4
   *   console.assert((await store.logState()).lastLogId?.index === 4);
   *   await store.close();
   * }
   * ```
   */
  truncate(since: number): Promise<void> {
    return this.#run("truncate", async () => {
      const meta = this.#meta;
      if (!checkTruncate(_NAME, meta, since)) return;
      const keep = since - 1;
      let last: LogId | null = null;
      if (keep > meta.purgedIndex) last = { term: await this.#termAt(keep), index: keep };
      await this.#write({ op: "truncate", since });
      meta.last = last;
    });
  }

  /**
   * Deletes the entries up to `upTo.index` and records `upTo` as purged, in
   * one transaction; may go beyond the last entry, which empties the log.
   * Rejects going below the purge point and a term that is not the entry's
   * at `upTo.index` (or lower than the last term, beyond the log).
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   const blanks = [1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: "blank" as const }));
   *   await store.append(blanks);
   *   await store.purge({ term: 1, index: 3 }); // keeps 4..5
   *   console.assert((await store.logState()).lastPurged?.index === 3);
   *   await store.close();
   * }
   * ```
   */
  purge(upTo: LogId): Promise<void> {
    return this.#run("purge", async () => {
      const meta = this.#meta;
      if (!checkPurgeStart(_NAME, meta, upTo)) return;
      const lastIndex = meta.last?.index ?? 0;
      const term = upTo.index <= lastIndex ? await this.#termAt(upTo.index) : undefined;
      checkPurgeTerm(_NAME, meta, upTo, term);
      const purged: LogId = Object.freeze({ term: upTo.term, index: upTo.index });
      await this.#write({ op: "purge", term: purged.term, index: purged.index });
      meta.purged = purged;
      if (upTo.index >= lastIndex) meta.last = null;
    });
  }

  /**
   * Saves the commit index (durably, though the contract does not require it).
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   const blanks = [1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: "blank" as const }));
   *   await store.append(blanks);
   *   await store.saveCommitted({ term: 1, index: 5 });
   *   console.assert((await store.readCommitted())?.index === 5);
   *   await store.close();
   * }
   * ```
   */
  saveCommitted(committed: LogId | null): Promise<void> {
    return this.#run("saveCommitted", async () => {
      if (committed !== null) checkLogId(_NAME, "saveCommitted", committed, "log id");
      const c = committed === null ? null : Object.freeze(copyId(committed)!);
      await this.#write({ op: "saveCommitted", committed: c });
      this.#meta.committed = c;
    });
  }

  /**
   * The last saved commit index, or `null` (kept in memory: no I/O).
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   console.assert(await store.readCommitted() === null);
   *   await store.close();
   * }
   * ```
   */
  readCommitted(): Promise<LogId | null> {
    return this.#run("readCommitted", () => copyId(this.#meta.committed));
  }

  /**
   * Closes the database once the calls made before it have been served,
   * releasing its lock, and ends the worker. Later calls reject; closing
   * again is harmless.
   *
   * @example
   * ```ts
   * import { BunSqliteLogStore } from "./bun_sqlite.ts";
   * import { mkdtemp } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * if ("Bun" in globalThis) { // bun:sqlite: Bun only (this example runs under `bun test`, not Deno)
   *   const path = join(await mkdtemp(join(tmpdir(), "raft-")), "raft-log.sqlite");
   *   const store = await BunSqliteLogStore.open(path);
   *   await store.close();
   * }
   * ```
   */
  close(): Promise<void> {
    const p = this.#queue.then(async () => {
      if (this.#closed) return;
      this.#closed = true;
      if (this.#link.dead) return; // its worker is gone, and the connection with it
      try {
        await this.#link.call({ op: "close" });
      } finally {
        this.#link.terminate();
      }
    });
    this.#queue = p.catch(() => {});
    return p;
  }
}
