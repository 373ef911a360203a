/**
 * The worker thread of `BunSqliteLogStore` (adapters/bun_sqlite.ts; private,
 * Bun only): it owns the store's one SQLite connection and runs every
 * statement, so that a commit's fsync blocks this thread, not the event
 * loop of the store's owner. It opens the database (`open`), then serves
 * requests one at a time, in the order they arrive, each answered once its
 * statements ran: a write's answer means its transaction committed
 * (`synchronous=FULL`: durable). It checks nothing: the store validates
 * every call, keeps the small state in memory and turns the raw rows this
 * worker returns into entries.
 *
 * @module
 */

/// <reference types="./bun_sqlite.d.ts" />

import { isMainThread } from "node:worker_threads";

/** What the store asks of its worker (`id` pairs the request with its reply). */
export type BunSqliteRequest =
  & { readonly id: number }
  & (
    | { readonly op: "open"; readonly path: string }
    | { readonly op: "read"; readonly lo: number; readonly hi: number }
    | { readonly op: "termAt"; readonly index: number }
    | {
      readonly op: "append";
      /** Per entry: its index, its term and where its encoding ends in `data`. */
      readonly indexes: readonly number[];
      readonly terms: readonly number[];
      readonly ends: readonly number[];
      /** The encoded entries, one after the other. */
      readonly data: ArrayBuffer;
      /** Test hook: abandon the transaction after inserting this many rows. */
      readonly crashAfterRows: number | null;
    }
    | { readonly op: "truncate"; readonly since: number }
    | { readonly op: "purge"; readonly term: number; readonly index: number }
    | { readonly op: "saveVote"; readonly data: Uint8Array }
    | {
      readonly op: "saveCommitted";
      readonly committed: { readonly term: number; readonly index: number } | null;
    }
    | { readonly op: "pragma"; readonly name: string }
    | { readonly op: "close" }
  );

/** The worker's answer to one request. */
export type BunSqliteReply =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | {
    readonly id: number;
    readonly ok: false;
    readonly message: string;
    readonly name: string;
    /** The append was interrupted by the test hook: the database is closed. */
    readonly crashed: boolean;
  };

/** What `open` answers: the raw rows the store's small state is read from. */
export interface BunSqliteOpened {
  /** Every `raft_state` row. */
  readonly state: unknown[];
  /** `count(*) AS n, min(idx) AS lo, max(idx) AS hi` of `raft_log`. */
  readonly stats: unknown;
  /** The `term` row of the entry at `hi` (`null` if the log is empty). */
  readonly last: unknown;
}

const _NAME = "BunSqliteLogStore";
const _FORMAT = 1;
/** Entries read per query. */
const _READ_BATCH = 1000;

type _Database = InstanceType<typeof import("bun:sqlite").Database>;
type _Statement = ReturnType<_Database["prepare"]>;

/** The error of an append interrupted by the test hook. */
class _SimulatedCrash extends Error {}

function _row(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== "object") {
    throw new Error(`${_NAME}: the database is corrupt: ${what} is not a row`);
  }
  return v as Record<string, unknown>;
}

/** The open connection and its prepared statements. */
class _Connection {
  readonly db: _Database;
  readonly insert: _Statement;
  readonly range: _Statement;
  readonly termAt: _Statement;
  readonly deleteFrom: _Statement;
  readonly deleteUpTo: _Statement;
  readonly setState: _Statement;
  readonly deleteState: _Statement;
  readonly appendTx: (r: Extract<BunSqliteRequest, { op: "append" }>) => void;
  readonly purgeTx: (term: number, index: number) => void;

  constructor(db: _Database) {
    this.db = db;
    this.insert = db.prepare("INSERT INTO raft_log (idx, term, entry) VALUES (?, ?, ?)");
    this.range = db.prepare(
      "SELECT idx, entry FROM raft_log WHERE idx >= ? AND idx <= ? ORDER BY idx",
    );
    this.termAt = db.prepare("SELECT term FROM raft_log WHERE idx = ?");
    this.deleteFrom = db.prepare("DELETE FROM raft_log WHERE idx >= ?");
    this.deleteUpTo = db.prepare("DELETE FROM raft_log WHERE idx <= ?");
    this.setState = db.prepare(
      "INSERT OR REPLACE INTO raft_state (name, term, idx, data) VALUES (?, ?, ?, ?)",
    );
    this.deleteState = db.prepare("DELETE FROM raft_state WHERE name = ?");
    this.appendTx = db.transaction((r: Extract<BunSqliteRequest, { op: "append" }>) => {
      const insert = this.insert;
      let start = 0;
      for (let i = 0; i < r.indexes.length; i++) {
        if (r.crashAfterRows !== null && i === r.crashAfterRows) {
          throw new _SimulatedCrash(`${_NAME}: simulated crash`);
        }
        const end = r.ends[i]!;
        insert.run(r.indexes[i]!, r.terms[i]!, new Uint8Array(r.data, start, end - start));
        start = end;
      }
    });
    this.purgeTx = db.transaction((term: number, index: number) => {
      this.deleteUpTo.run(index);
      this.setState.run("purged", term, index, null);
    });
  }

  /**
   * Finalizes the statements and closes the connection: SQLite keeps a
   * connection with live statements open (and its exclusive lock held).
   */
  close(): void {
    for (
      const s of [
        this.insert,
        this.range,
        this.termAt,
        this.deleteFrom,
        this.deleteUpTo,
        this.setState,
        this.deleteState,
      ]
    ) s.finalize();
    this.db.close(true);
  }
}

/** Opens the database at `path`, sets it up and reads what the store's small state needs. */
async function _open(path: string): Promise<{ conn: _Connection; opened: BunSqliteOpened }> {
  const { Database } = await import("bun:sqlite");
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
      _setUp(db, path);
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
    const state = db.query("SELECT name, term, idx, data FROM raft_state").all();
    const stats = db.query("SELECT count(*) AS n, min(idx) AS lo, max(idx) AS hi FROM raft_log")
      .get();
    const hi = stats !== null && typeof stats === "object" && "hi" in stats ? stats.hi : null;
    const last = typeof hi === "number"
      ? db.query("SELECT term FROM raft_log WHERE idx = ?").get(hi)
      : null;
    return { conn: new _Connection(db), opened: { state, stats, last } };
  } catch (e) {
    db.close();
    throw e;
  }
}

/** Creates the schema of a new database; checks the version of an existing one. */
function _setUp(db: _Database, path: string): void {
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

/** The rows `(idx, entry)` with `lo <= idx <= hi`, in order, read in batches. */
function _read(conn: _Connection, lo: number, hi: number): unknown[] {
  const out: unknown[] = [];
  for (let from = lo; from <= hi; from += _READ_BATCH) {
    const to = Math.min(hi, from + _READ_BATCH - 1);
    for (const row of conn.range.all(from, to)) out.push(row);
  }
  return out;
}

let _conn: _Connection | null = null;

function _connection(): _Connection {
  if (_conn === null) throw new Error(`${_NAME}: the database is not open`);
  return _conn;
}

/** Runs one request; returns its answer's value. */
async function _serve(r: BunSqliteRequest): Promise<unknown> {
  switch (r.op) {
    case "open": {
      if (_conn !== null) throw new Error(`${_NAME}: the database is open already`);
      const { conn, opened } = await _open(r.path);
      _conn = conn;
      return opened;
    }
    case "read":
      return _read(_connection(), r.lo, r.hi);
    case "termAt":
      return _connection().termAt.get(r.index);
    case "append": {
      const conn = _connection();
      try {
        conn.appendTx(r);
      } catch (e) {
        if (e instanceof _SimulatedCrash) {
          _conn = null;
          conn.close();
        }
        throw e;
      }
      return undefined;
    }
    case "truncate":
      _connection().deleteFrom.run(r.since);
      return undefined;
    case "purge":
      _connection().purgeTx(r.term, r.index);
      return undefined;
    case "saveVote":
      _connection().setState.run("vote", null, null, r.data);
      return undefined;
    case "saveCommitted": {
      const c = r.committed;
      if (c === null) _connection().deleteState.run("committed");
      else _connection().setState.run("committed", c.term, c.index, null);
      return undefined;
    }
    case "pragma":
      return _row(_connection().db.query(`PRAGMA ${r.name}`).get(), r.name)[r.name];
    case "close": {
      const conn = _conn;
      _conn = null;
      conn?.close();
      return undefined;
    }
  }
}

/** The worker's side of its message channel. */
interface _Port {
  postMessage(message: BunSqliteReply): void;
  onmessage: ((event: MessageEvent<BunSqliteRequest>) => void) | null;
}

/** Requests wait here while an earlier one runs (only `open` awaits). */
let _chain: Promise<void> = Promise.resolve();

if (!isMainThread) {
  const port = globalThis as unknown as _Port;
  port.onmessage = (event) => {
    const r = event.data;
    _chain = _chain.then(async () => {
      let reply: BunSqliteReply;
      try {
        reply = { id: r.id, ok: true, value: await _serve(r) };
      } catch (e) {
        reply = {
          id: r.id,
          ok: false,
          message: e instanceof Error ? e.message : String(e),
          name: e instanceof Error ? e.name : "Error",
          crashed: e instanceof _SimulatedCrash,
        };
      }
      port.postMessage(reply);
    });
  };
}
