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
 * `bun:sqlite` is loaded with a dynamic `import()` when a store is opened,
 * so this module can be type-checked and loaded by Deno (where opening
 * rejects). Its calls are synchronous: a commit blocks the event loop for
 * its fsync. The promises settle as microtasks.
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

/// <reference types="./bun_sqlite.d.ts" />

import { ConfigError } from "../src/errors.ts";
import { decodeEntry, decodeVote, encodeEntry, encodeVote } from "../src/codec.ts";
import type { LogState, LogStore } from "../src/storage.ts";
import type { Entry, LogId, Vote } from "../src/types.ts";
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

type _Sqlite = Awaited<ReturnType<typeof _loadSqlite>>;
type _Database = InstanceType<_Sqlite["Database"]>;
type _Statement = ReturnType<_Database["prepare"]>;

const _NAME = "BunSqliteLogStore";
const _FORMAT = 1;
/** Entries read per query. */
const _READ_BATCH = 1000;

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

/**
 * Loads bun:sqlite. Its types come from ./bun_sqlite.d.ts: Deno type-checks
 * this module but never runs this import (`open` rejects first).
 */
function _loadSqlite(): Promise<typeof import("bun:sqlite")> {
  if (!("Bun" in globalThis)) {
    return Promise.reject(
      new Error(
        `${_NAME} needs Bun (bun:sqlite), and this is not Bun: under Deno use DenoKvLogStore ` +
          '("@x/raft/adapters/deno-kv"), or openStorage ("@x/raft/adapters"), which picks ' +
          "the runtime's store",
      ),
    );
  }
  return import("bun:sqlite");
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
 *   console.assert(hooks.crashAfterRows === null && hooks.pragma("synchronous") === 2);
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
  /** The value of a PRAGMA of the store's connection. */
  pragma(name: string): unknown;
}

const _hooks = new WeakMap<BunSqliteLogStore, BunSqliteTestHooks>();
/** Each store's connection, for the test hooks. */
const _dbs = new WeakMap<BunSqliteLogStore, _Database>();

/** The error of an append interrupted by the test hook. */
class _SimulatedCrash extends Error {}

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
        const db = _dbs.get(store);
        if (db === undefined || !/^[a-z_]+$/.test(name)) throw new RangeError(`bad pragma ${name}`);
        return _row(db.query(`PRAGMA ${name}`).get(), name)[name];
      },
    };
    _hooks.set(store, h);
  }
  return h;
}

/**
 * A {@linkcode LogStore} on `bun:sqlite`: one transaction per write (group
 * commit), WAL with `synchronous=FULL`, an exclusive lock on the file.
 * Validates its calls exactly as `MemoryLogStore` does. See the module
 * documentation for the schema.
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
  readonly #db: _Database;
  readonly #meta: LogMeta;
  readonly #insert: _Statement;
  readonly #range: _Statement;
  readonly #termAt: _Statement;
  readonly #deleteFrom: _Statement;
  readonly #deleteUpTo: _Statement;
  readonly #setState: _Statement;
  readonly #deleteState: _Statement;
  readonly #appendTx: (entries: readonly Entry[], encoded: Uint8Array[]) => void;
  readonly #purgeTx: (upTo: LogId) => void;
  #closed = false;
  #failed: unknown = undefined;

  private constructor(db: _Database, meta: LogMeta) {
    this.#db = db;
    this.#meta = meta;
    _dbs.set(this, db);
    this.#insert = db.prepare("INSERT INTO raft_log (idx, term, entry) VALUES (?, ?, ?)");
    this.#range = db.prepare(
      "SELECT idx, entry FROM raft_log WHERE idx >= ? AND idx <= ? ORDER BY idx",
    );
    this.#termAt = db.prepare("SELECT term FROM raft_log WHERE idx = ?");
    this.#deleteFrom = db.prepare("DELETE FROM raft_log WHERE idx >= ?");
    this.#deleteUpTo = db.prepare("DELETE FROM raft_log WHERE idx <= ?");
    this.#setState = db.prepare(
      "INSERT OR REPLACE INTO raft_state (name, term, idx, data) VALUES (?, ?, ?, ?)",
    );
    this.#deleteState = db.prepare("DELETE FROM raft_state WHERE name = ?");
    this.#appendTx = db.transaction((entries: readonly Entry[], encoded: Uint8Array[]) => {
      const hooks = _hooks.get(this);
      const crashAfter = hooks?.crashAfterRows ?? null;
      const insert = this.#insert;
      for (let i = 0; i < entries.length; i++) {
        if (crashAfter !== null && i === crashAfter) {
          hooks!.crashAfterRows = null;
          throw new _SimulatedCrash(`${_NAME}: simulated crash`);
        }
        const e = entries[i]!;
        insert.run(e.index, e.term, encoded[i]!);
      }
    });
    this.#purgeTx = db.transaction((upTo: LogId) => {
      this.#deleteUpTo.run(upTo.index);
      this.#setState.run("purged", upTo.term, upTo.index, null);
    });
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
    const { Database } = await _loadSqlite();
    const db = new Database(path, { create: true });
    try {
      try {
        db.exec("PRAGMA locking_mode = EXCLUSIVE");
        db.exec("PRAGMA journal_mode = WAL");
        db.exec("PRAGMA synchronous = FULL");
        db.exec("BEGIN IMMEDIATE");
      } catch (e) {
        if (e instanceof Error && /locked|busy/i.test(e.message)) {
          throw new Error(`${_NAME}.open: ${path} is in use by another store (${e.message})`, {
            cause: e,
          });
        }
        throw e;
      }
      try {
        BunSqliteLogStore.#setUp(db, path);
        db.exec("COMMIT");
      } catch (e) {
        db.exec("ROLLBACK");
        throw e;
      }
      const mode = _row(db.query("PRAGMA journal_mode").get(), "journal_mode").journal_mode;
      const sync = _row(db.query("PRAGMA synchronous").get(), "synchronous").synchronous;
      if (String(mode).toLowerCase() !== "wal" || sync !== 2) {
        throw new Error(
          `${_NAME}.open: ${path}: expected journal_mode=wal and synchronous=FULL (2), ` +
            `got ${String(mode)} and ${String(sync)}`,
        );
      }
      return new BunSqliteLogStore(db, BunSqliteLogStore.#readMeta(db));
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Creates the schema of a new database; checks the version of an existing one. */
  static #setUp(db: _Database, path: string): void {
    const version = _row(db.query("PRAGMA user_version").get(), "user_version").user_version;
    if (version !== 0 && version !== _FORMAT) {
      throw new Error(
        `${_NAME}.open: ${path} holds layout version ${String(version)}; ` +
          `this version reads ${_FORMAT}`,
      );
    }
    db.exec(
      "CREATE TABLE IF NOT EXISTS raft_log " +
        "(idx INTEGER PRIMARY KEY, term INTEGER NOT NULL, entry BLOB NOT NULL)",
    );
    db.exec(
      "CREATE TABLE IF NOT EXISTS raft_state " +
        "(name TEXT PRIMARY KEY, term INTEGER, idx INTEGER, data BLOB) WITHOUT ROWID",
    );
    if (version === 0) db.exec(`PRAGMA user_version = ${_FORMAT}`);
  }

  static #readMeta(db: _Database): LogMeta {
    const meta = new LogMeta();
    for (const raw of db.query("SELECT name, term, idx, data FROM raft_state").all()) {
      const row = _row(raw, "a raft_state row");
      const id = (): LogId => {
        if (!_isInt(row.term) || !_isInt(row.idx)) throw _corrupt(`${row.name} is not a log id`);
        return { term: row.term, index: row.idx };
      };
      if (row.name === "vote") meta.vote = decodeVote(_bytes(row.data, "the vote"));
      else if (row.name === "purged") meta.purged = id();
      else if (row.name === "committed") meta.committed = id();
    }
    const stats = _row(
      db.query("SELECT count(*) AS n, min(idx) AS lo, max(idx) AS hi FROM raft_log").get(),
      "the log's extent",
    );
    if (stats.n !== 0) {
      const { n, lo, hi } = stats;
      if (!_isInt(n) || !_isInt(lo) || !_isInt(hi)) throw _corrupt("bad log extent");
      if (lo !== meta.purgedIndex + 1 || hi - lo + 1 !== n) {
        throw _corrupt(
          `the log holds ${n} entries from ${lo} to ${hi} after the purge point ` +
            `${fmtId(meta.purged)}`,
        );
      }
      const term = _row(db.query("SELECT term FROM raft_log WHERE idx = ?").get(hi), "last").term;
      if (!_isInt(term)) throw _corrupt(`entry ${hi} has no term`);
      meta.last = { term, index: hi };
    }
    return meta;
  }

  // ------------------------------------------------------------ plumbing

  /**
   * Finalizes the statements and closes the connection: SQLite keeps a
   * connection with live statements open (and its exclusive lock held).
   */
  #release(): void {
    for (
      const s of [
        this.#insert,
        this.#range,
        this.#termAt,
        this.#deleteFrom,
        this.#deleteUpTo,
        this.#setState,
        this.#deleteState,
      ]
    ) s.finalize();
    this.#db.close(true);
  }

  /** The rejection a call meets instead of running: the store is closed or failed. */
  #refusal(op: keyof LogStore): Promise<never> | null {
    if (this.#closed) return Promise.reject(closedError(_NAME, op));
    if (this.#failed !== undefined) {
      return Promise.reject(failedStoreError(_NAME, op, this.#failed));
    }
    return null;
  }

  #run<T>(op: keyof LogStore, body: () => T): Promise<T> {
    const refused = this.#refusal(op);
    if (refused !== null) return refused;
    try {
      return Promise.resolve(body());
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * A write: SQLite commits it (synchronous FULL) before returning, so
   * success is `undefined` — durable on return, no promise (the `LogStore`
   * contract's synchronous form). Failures come as a rejected promise.
   */
  #runWrite(op: keyof LogStore, body: () => void): Promise<void> | void {
    const refused = this.#refusal(op);
    if (refused !== null) return refused;
    try {
      body();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Runs one write transaction: a failure leaves the store failed. */
  #write(body: () => void): void {
    try {
      body();
    } catch (e) {
      if (!this.#closed) this.#failed = e;
      throw e;
    }
    const hooks = _hooks.get(this);
    if (hooks !== undefined) hooks.transactions++;
  }

  #read(lo: number, hi: number): Entry[] {
    const out: Entry[] = [];
    for (let from = lo; from <= hi; from += _READ_BATCH) {
      const to = Math.min(hi, from + _READ_BATCH - 1);
      for (const raw of this.#range.all(from, to)) {
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
  saveVote(vote: Vote): Promise<void> | void {
    return this.#runWrite("saveVote", () => {
      checkVote(_NAME, this.#meta.vote, vote);
      const v: Vote = Object.freeze({
        term: vote.term,
        votedFor: vote.votedFor,
        committed: vote.committed,
      });
      this.#write(() => this.#setState.run("vote", null, null, encodeVote(v)));
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
    return this.#run("entries", () => {
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
  append(entries: readonly Entry[]): Promise<void> | void {
    return this.#runWrite("append", () => {
      checkAppend(_NAME, this.#meta, entries);
      const last = entries[entries.length - 1];
      if (last === undefined) return;
      // Encoded before the transaction: an entry the codec refuses rejects the call cleanly.
      const encoded = entries.map(encodeEntry);
      try {
        this.#write(() => this.#appendTx(entries, encoded));
      } catch (e) {
        if (e instanceof _SimulatedCrash) {
          this.#closed = true;
          this.#release();
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
  truncate(since: number): Promise<void> | void {
    return this.#runWrite("truncate", () => {
      const meta = this.#meta;
      if (!checkTruncate(_NAME, meta, since)) return;
      const keep = since - 1;
      let last: LogId | null = null;
      if (keep > meta.purgedIndex) {
        const term = _row(this.#termAt.get(keep), `entry ${keep}`).term;
        if (!_isInt(term)) throw _corrupt(`entry ${keep} has no term`);
        last = { term, index: keep };
      }
      this.#write(() => this.#deleteFrom.run(since));
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
  purge(upTo: LogId): Promise<void> | void {
    return this.#runWrite("purge", () => {
      const meta = this.#meta;
      if (!checkPurgeStart(_NAME, meta, upTo)) return;
      const lastIndex = meta.last?.index ?? 0;
      let term: number | undefined;
      if (upTo.index <= lastIndex) {
        const t = _row(this.#termAt.get(upTo.index), `entry ${upTo.index}`).term;
        if (!_isInt(t)) throw _corrupt(`entry ${upTo.index} has no term`);
        term = t;
      }
      checkPurgeTerm(_NAME, meta, upTo, term);
      const purged: LogId = Object.freeze({ term: upTo.term, index: upTo.index });
      this.#write(() => this.#purgeTx(purged));
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
  saveCommitted(committed: LogId | null): Promise<void> | void {
    return this.#runWrite("saveCommitted", () => {
      if (committed !== null) checkLogId(_NAME, "saveCommitted", committed, "log id");
      const c = committed === null ? null : Object.freeze(copyId(committed)!);
      this.#write(() => {
        if (c === null) this.#deleteState.run("committed");
        else this.#setState.run("committed", c.term, c.index, null);
      });
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
   * Closes the database, releasing its lock. Later calls reject; closing
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
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    try {
      this.#release();
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }
}
