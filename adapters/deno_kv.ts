/**
 * A durable {@linkcode LogStore} on Deno KV (Deno only; `"unstable": ["kv"]`
 * or `--unstable-kv`). Deno KV's local backend is SQLite in WAL mode with
 * `synchronous=FULL`: a committed atomic operation survives a crash or a
 * power loss.
 *
 * ```text
 * key                             value
 * ["raft", "format"]              1 (the layout version; another one is refused)
 * ["raft", "owner"]               a random id, rewritten by every open (see fencing)
 * ["raft", "vote"]                encodeVote(vote)                 (src/codec.ts)
 * ["raft", "purged"]              [term, index] of the last purged entry
 * ["raft", "committed"]           [term, index] of the saved commit index
 * ["raft", "last"]                [term, index] of the last entry: the log's end marker
 * ["raft", "log", index, chunk]   encodeEntry(entry), cut in 64 KiB chunks (0, 1, …)
 * ```
 *
 * **Group commit.** An append is written with as few atomic operations as
 * fit Deno KV's limits (1000 mutations and 800 KB per atomic, 64 KiB per
 * value): one for a typical batch, about one per 999 small entries or per
 * 780 KB of data otherwise.
 *
 * **Crash safety.** The log is the entries in `(purged.index, last.index]`;
 * keys outside that range are ignored by every read and deleted when the
 * store is opened. Every multi-atomic operation is ordered so that each
 * atomic, once committed, leaves a valid state:
 * - append writes entries in index order, and each atomic that completes an
 *   entry moves `last` to the last entry it completed, so an append cut short
 *   by a crash reads back as a shorter prefix of it (the chunks of a
 *   partially written entry lie beyond `last`);
 * - truncate moves `last` down (or deletes it) in its first atomic, then
 *   deletes the entries beyond it;
 * - purge writes `purged` (and deletes `last` if nothing remains) in its
 *   first atomic, with the first purged keys; the rest are deleted after it
 *   resolves, a few hundred keys per atomic, each taking its turn among the
 *   calls that come meanwhile (a purge of thousands of entries used to hold
 *   every append behind it for ~100 ms). Keys below `purged` that a crash or
 *   `close` left are deleted when the store is opened. The keys of entries
 *   appended since the open are computed (the store remembers which entries
 *   have more than one chunk), not listed: listing reads every value.
 *
 * **Fencing.** Opening a database rewrites `owner`, and every write of a
 * store checks it: if another store (in this process or another) opened the
 * same database later, the older one's writes reject instead of mixing two
 * logs. One store per database at a time.
 *
 * Calls are served one at a time in call order; the small state (vote, purge
 * point, end marker, commit index) is read once at open and kept in memory.
 * After a write fails, every later call rejects: close and reopen.
 *
 * @example
 * ```ts
 * import { DenoKvLogStore } from "./deno_kv.ts";
 * const store = await DenoKvLogStore.open(`${await Deno.makeTempDir()}/raft-log.kv`);
 * await store.append([{ term: 1, index: 1, type: "blank" }]);
 * console.assert((await store.logState()).lastLogId?.index === 1);
 * await store.close();
 * ```
 *
 * @module
 */

import { decodeEntry, decodeVote, encodeEntry, encodeVote } from "../src/codec.ts";
import { ConfigError, StorageError } from "../src/errors.ts";
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

const _NAME = "DenoKvLogStore";
const _FORMAT = 1;
const _P = "raft";
const _FORMAT_KEY: Deno.KvKey = [_P, "format"];
const _OWNER_KEY: Deno.KvKey = [_P, "owner"];
const _VOTE_KEY: Deno.KvKey = [_P, "vote"];
const _PURGED_KEY: Deno.KvKey = [_P, "purged"];
const _COMMITTED_KEY: Deno.KvKey = [_P, "committed"];
const _LAST_KEY: Deno.KvKey = [_P, "last"];
const _LOG: Deno.KvKey = [_P, "log"];

/** How long a commit is tried again while SQLite reports the database locked, ms. */
const _LOCKED_RETRY_MS = 5_000;

/** Largest value Deno KV stores. */
const _CHUNK = 65_536;
/** Mutations per atomic operation (Deno KV's limit). */
const _MAX_MUTATIONS = 1000;
/** Bytes of keys and values per atomic operation: below Deno KV's 819,200. */
const _MAX_BYTES = 780_000;
/** Generous size of one encoded key (a log key is about 30 bytes). */
const _KEY_BYTES = 48;
/** Room kept in every append atomic for the end marker. */
const _MARKER_BYTES = _KEY_BYTES + 32;
/** Entries read per round trip. */
const _READ_BATCH = 500;
/** Keys listed per round trip while deleting (their values are read too). */
const _DELETE_BATCH = 200;
/** Purged keys deleted per atomic after a purge resolved (between other calls). */
const _SWEEP_BATCH = 250;

/**
 * Commits `op`, again while SQLite answers "database is locked" (for up to
 * `_LOCKED_RETRY_MS`): another process writing the same file — a store being
 * fenced by this one's open, finishing a write — makes SQLite refuse a
 * read-then-write transaction at once, without its busy wait. A refused
 * commit wrote nothing; its checks are made again.
 */
async function _commitRetryingLocked(
  op: Deno.AtomicOperation,
): Promise<Deno.KvCommitResult | Deno.KvCommitError> {
  const deadline = performance.now() + _LOCKED_RETRY_MS;
  for (let pause = 1;; pause = Math.min(pause * 2, 100)) {
    try {
      return await op.commit();
    } catch (e) {
      const locked = e instanceof Error && e.message.includes("database is locked");
      if (!locked || performance.now() + pause > deadline) throw e;
    }
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

function _logKey(index: number, chunk?: number): Deno.KvKey {
  return chunk === undefined ? [_P, "log", index] : [_P, "log", index, chunk];
}

function _corrupt(what: string): Error {
  return new Error(`${_NAME}: the database is corrupt: ${what}`);
}

function _idValue(id: LogId): [number, number] {
  return [id.term, id.index];
}

function _idOf(value: unknown, what: string): LogId | null {
  if (value === null) return null;
  if (
    !Array.isArray(value) || value.length !== 2 || !Number.isSafeInteger(value[0]) ||
    !Number.isSafeInteger(value[1]) || value[0] < 0 || value[1] < 0
  ) {
    throw _corrupt(`${what} is not a log id`);
  }
  return { term: value[0], index: value[1] };
}

/**
 * Test hooks of one store (see {@linkcode _testHooks}); not part of the API.
 *
 * @example
 * ```ts
 * import { _testHooks, DenoKvLogStore } from "./deno_kv.ts";
 * import type { DenoKvTestHooks } from "./deno_kv.ts";
 * const store = await DenoKvLogStore.open(":memory:");
 * const hooks: DenoKvTestHooks = _testHooks(store);
 * console.assert(hooks.commits === 0 && hooks.crashAfterCommits === null);
 * await store.close();
 * ```
 */
export interface DenoKvTestHooks {
  /** Atomic operations committed since the hooks were installed. */
  commits: number;
  /**
   * When set, the store "crashes" once this many more atomic operations are
   * committed: it stops in the middle of the operation, closes its database
   * and rejects; `null` (the default) never.
   */
  crashAfterCommits: number | null;
}

const _hooks = new WeakMap<DenoKvLogStore, DenoKvTestHooks>();

/**
 * Installs (or returns) the test hooks of `store`: counts its atomic
 * commits, and can simulate a crash between two of them. For the adapter's
 * own tests; not part of the API.
 *
 * @example
 * ```ts
 * import { _testHooks, DenoKvLogStore } from "./deno_kv.ts";
 * const store = await DenoKvLogStore.open(":memory:");
 * const hooks = _testHooks(store);
 * await store.append([{ term: 1, index: 1, type: "blank" }]);
 * console.assert(hooks.commits > 0);
 * await store.close();
 * ```
 */
export function _testHooks(store: DenoKvLogStore): DenoKvTestHooks {
  let h = _hooks.get(store);
  if (h === undefined) {
    h = { commits: 0, crashAfterCommits: null };
    _hooks.set(store, h);
  }
  return h;
}

/**
 * What is missing when Deno KV is not available: the flag or the `deno.json`
 * setting that enables it (Deno KV is an unstable API).
 */
const _KV_DISABLED = "Deno KV is not enabled in this process (Deno.openKv is not a function): " +
  'run deno with --unstable-kv, or add "unstable": ["kv"] to your deno.json';

/**
 * Throws a {@linkcode StorageError} (operation `"open"`) saying how to
 * enable Deno KV — run with `--unstable-kv`, or add `"unstable": ["kv"]` to
 * `deno.json` — when `Deno.openKv` is missing (Deno without the flag, or
 * another runtime). {@linkcode DenoKvLogStore.open} and `openStorage` call
 * it before touching anything.
 *
 * @example
 * ```ts
 * import { requireDenoKv } from "./deno_kv.ts";
 * requireDenoKv(); // throws "… run deno with --unstable-kv, or add …" without the flag
 * ```
 */
export function requireDenoKv(): void {
  const deno = (globalThis as { Deno?: { openKv?: unknown } }).Deno;
  if (typeof deno?.openKv === "function") return;
  const what = deno === undefined
    ? "Deno KV needs Deno: this runtime has no Deno global"
    : _KV_DISABLED;
  throw new StorageError("open", new Error(what));
}

/** One atomic operation being filled, within Deno KV's limits. */
interface _Atomic {
  op: Deno.AtomicOperation;
  mutations: number;
  bytes: number;
}

/** Adds the deletion of `key` to `a`, counting it against the atomic's limits. */
function _delete(a: _Atomic, key: Deno.KvKey): void {
  a.op.delete(key);
  a.mutations++;
  a.bytes += _KEY_BYTES;
}

/**
 * A {@linkcode LogStore} on Deno KV: group commit, entries of any size
 * (chunked), crash-safe multi-atomic writes, fencing of a second opener.
 * Validates its calls exactly as `MemoryLogStore` does. See the module
 * documentation for the layout.
 *
 * @example
 * ```ts
 * import { DenoKvLogStore } from "./deno_kv.ts";
 * const path = `${await Deno.makeTempDir()}/raft-log.kv`;
 * const store = await DenoKvLogStore.open(path);
 * await store.saveVote({ term: 1, votedFor: 1, committed: false });
 * await store.close();
 * const again = await DenoKvLogStore.open(path); // the vote survived
 * console.assert((await again.readVote())?.votedFor === 1);
 * await again.close();
 * ```
 */
export class DenoKvLogStore implements LogStore {
  readonly #kv: Deno.Kv;
  /** Versionstamp of our `owner` key: every write checks it is still ours. */
  readonly #owner: string;
  readonly #meta: LogMeta;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  /** Purged keys may remain: a sweep is queued. */
  #sweeping = false;
  #failed: unknown = undefined;
  /** Every log key at or below this index is deleted (swept). */
  #sweptTo = 0;
  /**
   * The log's last index when the store was opened: the chunk counts of the
   * entries up to it are not known, so purging them lists their keys.
   */
  #openedLast = 0;
  /** No log key above this index exists. */
  #writtenTo = 0;
  /** The chunk count of each entry appended since the open that has more than one. */
  readonly #chunks = new Map<number, number>();

  private constructor(kv: Deno.Kv, owner: string, meta: LogMeta) {
    this.#kv = kv;
    this.#owner = owner;
    this.#meta = meta;
  }

  /**
   * Opens (creating if needed) the store in the Deno KV database at `path`,
   * and finishes what a crash interrupted (deletes entries outside the log).
   * Rejects for a database holding another layout version or a corrupt
   * state. While another process writes the same database (a store this
   * open fences, finishing a write), SQLite may refuse a commit at once with
   * "database is locked" (its busy wait does not cover that case): the
   * open's claim and every later commit are tried again, for up to 5 s.
   *
   * @param path the database file (its directory must exist)
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const path = `${await Deno.makeTempDir()}/raft-log.kv`;
   * const store = await DenoKvLogStore.open(path);
   * await store.saveVote({ term: 1, votedFor: 1, committed: false });
   * await store.close();
   * const again = await DenoKvLogStore.open(path); // the vote survived
   * console.assert((await again.readVote())?.votedFor === 1);
   * await again.close();
   * ```
   */
  static async open(path: string): Promise<DenoKvLogStore> {
    if (typeof path !== "string" || path === "") {
      throw new ConfigError("path", `${_NAME}.open: path must be a non-empty string`);
    }
    requireDenoKv();
    const kv = await Deno.openKv(path);
    try {
      const format = await kv.get(_FORMAT_KEY);
      if (format.versionstamp !== null && format.value !== _FORMAT) {
        throw new Error(
          `${_NAME}.open: ${path} holds layout version ${String(format.value)}; ` +
            `this version reads ${_FORMAT}`,
        );
      }
      // Claim the database first: from here on, an earlier store's writes fail,
      // so what is read next stays true.
      const claim = kv.atomic()
        .check(format)
        .set(_FORMAT_KEY, _FORMAT)
        .set(_OWNER_KEY, crypto.randomUUID());
      const claimed = await _commitRetryingLocked(claim);
      if (!claimed.ok) throw new Error(`${_NAME}.open: ${path} was opened concurrently`);
      const [vote, purged, last, committed] = await kv.getMany([
        _VOTE_KEY,
        _PURGED_KEY,
        _LAST_KEY,
        _COMMITTED_KEY,
      ]);
      const meta = new LogMeta();
      if (vote.value !== null) {
        if (!(vote.value instanceof Uint8Array)) throw _corrupt("the vote is not bytes");
        meta.vote = decodeVote(vote.value);
      }
      meta.purged = _idOf(purged.value, "the purge point");
      meta.last = _idOf(last.value, "the end marker");
      if (meta.last !== null && meta.last.index <= meta.purgedIndex) meta.last = null;
      meta.committed = _idOf(committed.value, "the commit index");
      const store = new DenoKvLogStore(kv, claimed.versionstamp, meta);
      await store.#recover();
      return store;
    } catch (e) {
      kv.close();
      throw e;
    }
  }

  /** Deletes keys outside the log left by an interrupted write, and checks the log's end. */
  async #recover(): Promise<void> {
    const meta = this.#meta;
    await this.#deleteListed(this.#atomic(), { prefix: _LOG, start: _logKey(meta.lastIndex + 1) });
    if (meta.purgedIndex > 0) {
      await this.#deleteListed(this.#atomic(), {
        prefix: _LOG,
        end: _logKey(meta.purgedIndex + 1),
      });
    }
    const last = meta.last;
    if (last !== null) {
      const [e] = await this.#read(last.index, last.index);
      if (e === undefined || e.term !== last.term) {
        throw _corrupt(`the last entry ${fmtId(last)} does not match the end marker`);
      }
    }
    this.#sweptTo = meta.purgedIndex;
    this.#openedLast = this.#writtenTo = meta.lastIndex;
  }

  // ------------------------------------------------------------ plumbing

  /** Runs `body` after every earlier call, unless the store is closed or failed. */
  #run<T>(op: keyof LogStore, body: () => Promise<T> | T): Promise<T> {
    const p = this.#queue.then(() => {
      if (this.#closed) throw closedError(_NAME, op);
      if (this.#failed !== undefined) {
        throw failedStoreError(_NAME, op, this.#failed);
      }
      return body();
    });
    this.#queue = p.catch(() => {});
    return p;
  }

  /** Runs the I/O of a write: a failure leaves the store failed. */
  async #io(body: () => Promise<void>): Promise<void> {
    try {
      await body();
    } catch (e) {
      if (!this.#closed) this.#failed = e;
      throw e;
    }
  }

  #atomic(): _Atomic {
    const op = this.#kv.atomic().check({ key: _OWNER_KEY, versionstamp: this.#owner });
    return { op, mutations: 0, bytes: 0 };
  }

  async #commit(a: _Atomic): Promise<void> {
    const r = await _commitRetryingLocked(a.op);
    if (!r.ok) {
      throw new Error(
        `${_NAME}: another store opened this database since this one was opened; ` +
          `this one can no longer write`,
      );
    }
    const hooks = _hooks.get(this);
    if (hooks !== undefined) {
      hooks.commits++;
      if (hooks.crashAfterCommits !== null && --hooks.crashAfterCommits <= 0) {
        hooks.crashAfterCommits = null;
        this.#closed = true;
        this.#kv.close();
        throw new Error(`${_NAME}: simulated crash`);
      }
    }
  }

  /**
   * Deletes every key `selector` lists, in atomics of at most 1000 mutations;
   * the first is `first` (with what it already holds), committed even if
   * nothing is listed when it holds something.
   */
  async #deleteListed(first: _Atomic, selector: Deno.KvListSelector): Promise<void> {
    let a = first;
    const keys = this.#kv.list(selector, { batchSize: _DELETE_BATCH });
    for await (const { key } of keys) {
      if (a.mutations >= _MAX_MUTATIONS || a.bytes + _KEY_BYTES > _MAX_BYTES) {
        await this.#commit(a);
        a = this.#atomic();
      }
      _delete(a, key);
    }
    if (a.mutations > 0) await this.#commit(a);
  }

  /** The entries `lo..hi` (all present by the caller's bounds). */
  async #read(lo: number, hi: number): Promise<Entry[]> {
    const out: Entry[] = [];
    if (lo > hi) return out;
    let index = -1;
    let parts: Uint8Array[] = [];
    const finish = (): void => {
      let bytes: Uint8Array;
      if (parts.length === 1) bytes = parts[0]!;
      else {
        let n = 0;
        for (const p of parts) n += p.length;
        bytes = new Uint8Array(n);
        n = 0;
        for (const p of parts) {
          bytes.set(p, n);
          n += p.length;
        }
      }
      let e: Entry;
      try {
        e = decodeEntry(bytes);
      } catch (err) {
        throw new Error(`${_NAME}: the database is corrupt: entry ${index}: ${String(err)}`, {
          cause: err,
        });
      }
      if (e.index !== index) throw _corrupt(`the entry stored at ${index} has index ${e.index}`);
      out.push(e);
    };
    const batchSize = Math.min(_READ_BATCH, hi - lo + 2);
    const rows = this.#kv.list<Uint8Array>({ start: _logKey(lo), end: _logKey(hi + 1) }, {
      batchSize,
    });
    for await (const { key, value } of rows) {
      const i = key[2];
      const chunk = key[3];
      if (typeof i !== "number" || typeof chunk !== "number") {
        throw _corrupt(`unexpected key ${String(key)}`);
      }
      if (i !== index) {
        if (index !== -1) finish();
        if (i !== lo + out.length) throw _corrupt(`entry ${lo + out.length} is missing`);
        index = i;
        parts = [];
      }
      if (chunk !== parts.length) throw _corrupt(`entry ${i} lacks chunk ${parts.length}`);
      if (!(value instanceof Uint8Array)) throw _corrupt(`entry ${i} is not bytes`);
      parts.push(value);
    }
    if (index !== -1) finish();
    if (out.length !== hi - lo + 1) throw _corrupt(`entry ${lo + out.length} is missing`);
    return out;
  }

  /** The term of the entry at `index`, which must be present. */
  async #termAt(index: number): Promise<number> {
    const [e] = await this.#read(index, index);
    return e!.term;
  }

  // ---------------------------------------------------------------- API

  /**
   * The saved vote, or `null` if none was ever saved (kept in memory: no I/O).
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * console.assert(await store.readVote() === null); // none was ever saved
   * await store.close();
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
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * await store.saveVote({ term: 2, votedFor: 1, committed: false });
   * console.assert((await store.readVote())?.votedFor === 1);
   * await store.close();
   * ```
   */
  saveVote(vote: Vote): Promise<void> {
    return this.#run("saveVote", () => {
      checkVote(_NAME, this.#meta.vote, vote);
      const v: Vote = Object.freeze({
        term: vote.term,
        votedFor: vote.votedFor,
        committed: vote.committed,
      });
      return this.#io(async () => {
        const a = this.#atomic();
        a.op.set(_VOTE_KEY, encodeVote(v));
        await this.#commit(a);
        this.#meta.vote = v;
      });
    });
  }

  /**
   * Where the log stands: the last purged id and the last id present (kept
   * in memory: no I/O).
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * await store.append([{ term: 1, index: 1, type: "blank" }]);
   * const { lastPurged, lastLogId } = await store.logState();
   * console.assert(lastPurged === null && lastLogId?.index === 1);
   * await store.close();
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
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * const blanks = [1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: "blank" as const }));
   * await store.append(blanks);
   * const head = await store.entries(1, 2);
   * console.assert(head.length === 2 && head[1]?.index === 2);
   * await store.close();
   * ```
   */
  entries(from: number, to: number): Promise<Entry[]> {
    return this.#run("entries", () => {
      checkRange(_NAME, from, to);
      const meta = this.#meta;
      if (meta.last === null) return [];
      return this.#read(Math.max(from, meta.purgedIndex + 1), Math.min(to, meta.last.index));
    });
  }

  /**
   * Appends entries that continue the log (first index = last index + 1,
   * consecutive, terms not decreasing), durably, in as few atomic operations
   * as Deno KV's limits allow. An empty list is a no-op.
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * await store.append([{ term: 1, index: 1, type: "normal", data: new Uint8Array([1]) }]);
   * console.assert((await store.logState()).lastLogId?.index === 1);
   * await store.close();
   * ```
   */
  append(entries: readonly Entry[]): Promise<void> {
    return this.#run("append", () => {
      checkAppend(_NAME, this.#meta, entries);
      const lastEntry = entries[entries.length - 1];
      if (lastEntry === undefined) return;
      // Encoded before any write: an entry the codec refuses rejects the call cleanly.
      const list = entries.slice();
      const encoded = list.map(encodeEntry);
      return this.#io(async () => {
        let a = this.#atomic();
        let completed: Entry | null = null;
        for (let k = 0; k < list.length; k++) {
          const e = list[k]!;
          const bytes = encoded[k]!;
          const chunks = Math.max(1, Math.ceil(bytes.length / _CHUNK));
          for (let c = 0; c < chunks; c++) {
            const part = chunks === 1
              ? bytes
              : bytes.subarray(c * _CHUNK, Math.min(bytes.length, (c + 1) * _CHUNK));
            const size = part.length + _KEY_BYTES;
            if (
              a.mutations + 1 > _MAX_MUTATIONS - 1 || a.bytes + size > _MAX_BYTES - _MARKER_BYTES
            ) {
              if (completed !== null) a.op.set(_LAST_KEY, _idValue(completed));
              await this.#commit(a);
              a = this.#atomic();
              completed = null;
            }
            a.op.set(_logKey(e.index, c), part);
            a.mutations++;
            a.bytes += size;
          }
          if (chunks > 1) this.#chunks.set(e.index, chunks);
          completed = e;
        }
        a.op.set(_LAST_KEY, _idValue(lastEntry));
        this.#writtenTo = Math.max(this.#writtenTo, lastEntry.index);
        await this.#commit(a);
        this.#meta.last = { term: lastEntry.term, index: lastEntry.index };
      });
    });
  }

  /**
   * Deletes the entries with `index >= since`, durably. Rejects `since` at
   * or below the purge point; beyond the last entry it is a no-op.
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * const blanks = [1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: "blank" as const }));
   * await store.append(blanks);
   * await store.truncate(5); // keeps 1..4
   * console.assert((await store.logState()).lastLogId?.index === 4);
   * await store.close();
   * ```
   */
  truncate(since: number): Promise<void> {
    return this.#run("truncate", () => {
      if (!checkTruncate(_NAME, this.#meta, since)) return;
      return this.#io(async () => {
        const meta = this.#meta;
        const keep = since - 1;
        const last = keep > meta.purgedIndex
          ? { term: await this.#termAt(keep), index: keep }
          : null;
        const a = this.#atomic();
        if (last !== null) a.op.set(_LAST_KEY, _idValue(last));
        else a.op.delete(_LAST_KEY);
        a.mutations++;
        a.bytes += _MARKER_BYTES;
        await this.#deleteListed(a, { prefix: _LOG, start: _logKey(since) });
        meta.last = last;
        this.#writtenTo = Math.min(this.#writtenTo, since - 1);
        for (const index of this.#chunks.keys()) if (index >= since) this.#chunks.delete(index);
      });
    });
  }

  /**
   * Deletes the entries up to `upTo.index` and records `upTo` as purged,
   * durably; may go beyond the last entry, which empties the log. Rejects
   * going below the purge point and a term that is not the entry's at
   * `upTo.index` (or lower than the last term, beyond the log).
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * const blanks = [1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: "blank" as const }));
   * await store.append(blanks);
   * await store.purge({ term: 1, index: 3 }); // keeps 4..5
   * console.assert((await store.logState()).lastPurged?.index === 3);
   * await store.close();
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
      const emptied = upTo.index >= lastIndex;
      await this.#io(async () => {
        const a = this.#atomic();
        a.op.set(_PURGED_KEY, _idValue(purged));
        a.mutations++;
        a.bytes += _MARKER_BYTES;
        if (emptied) _delete(a, _LAST_KEY);
        const more = await this.#deletePurged(a, upTo.index);
        meta.purged = purged;
        if (emptied) meta.last = null;
        if (more) this.#sweep();
      });
    });
  }

  /**
   * Adds the deletes of the next purged keys at or below index `upTo` to
   * `a` (up to {@linkcode _SWEEP_BATCH} entries' keys) and commits it;
   * returns whether keys may remain.
   *
   * Keys are deleted in index order. An entry appended since the open has
   * its keys computed (its chunk count is remembered): nothing is read.
   * Entries that were in the log when it was opened have their keys listed,
   * which reads their values too and cost more than the deletes themselves
   * (purging 5,000 entries: ~55 ms of CPU to list them, ~35 ms to delete).
   */
  async #deletePurged(a: _Atomic, upTo: number): Promise<boolean> {
    const from = this.#sweptTo;
    if (from < this.#openedLast && from < upTo) {
      const end = Math.min(upTo, this.#openedLast);
      let listed = 0;
      const keys = this.#kv.list({ prefix: _LOG, end: _logKey(end + 1) }, {
        limit: _SWEEP_BATCH,
        batchSize: _SWEEP_BATCH,
      });
      for await (const { key } of keys) {
        _delete(a, key);
        listed++;
      }
      await this.#commit(a);
      if (listed === _SWEEP_BATCH) return true;
      this.#swept(end);
      return end < upTo;
    }
    // Beyond what was ever written there are no keys to delete.
    const hi = Math.min(upTo, this.#writtenTo);
    let done = from;
    while (done < hi && done - from < _SWEEP_BATCH) {
      const chunks = this.#chunks.get(done + 1) ?? 1;
      if (a.mutations + chunks > _MAX_MUTATIONS || a.bytes + chunks * _KEY_BYTES > _MAX_BYTES) {
        if (done > from) break;
        // One entry with more chunks than an atomic takes: its keys, over several atomics.
        await this.#deleteListed(a, { prefix: _logKey(done + 1) });
        this.#swept(done + 1);
        return done + 1 < hi;
      }
      for (let c = 0; c < chunks; c++) _delete(a, _logKey(done + 1, c));
      done++;
    }
    await this.#commit(a);
    this.#swept(done < hi ? done : Math.max(from, upTo));
    return done < hi;
  }

  /** The keys at or below `index` are deleted. */
  #swept(index: number): void {
    if (index <= this.#sweptTo) return;
    this.#sweptTo = index;
    for (const i of this.#chunks.keys()) if (i <= index) this.#chunks.delete(i);
  }

  /** Queues the deletion of the next purged keys behind the calls made so far. */
  #sweep(): void {
    if (this.#sweeping) return;
    this.#sweeping = true;
    this.#run("purge", async () => {
      this.#sweeping = false;
      let more = false;
      await this.#io(async () => {
        more = await this.#deletePurged(this.#atomic(), this.#meta.purgedIndex);
      });
      if (more) this.#sweep();
    }).catch(() => {}); // closed meanwhile (the open deletes the rest), or failed (reported by the next call)
  }

  /**
   * Saves the commit index (durably, though the contract does not require it).
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * const blanks = [1, 2, 3, 4, 5].map((index) => ({ term: 1, index, type: "blank" as const }));
   * await store.append(blanks);
   * await store.saveCommitted({ term: 1, index: 5 });
   * console.assert((await store.readCommitted())?.index === 5);
   * await store.close();
   * ```
   */
  saveCommitted(committed: LogId | null): Promise<void> {
    return this.#run("saveCommitted", () => {
      if (committed !== null) checkLogId(_NAME, "saveCommitted", committed, "log id");
      const c = committed === null ? null : Object.freeze(copyId(committed)!);
      return this.#io(async () => {
        const a = this.#atomic();
        if (c === null) a.op.delete(_COMMITTED_KEY);
        else a.op.set(_COMMITTED_KEY, _idValue(c));
        await this.#commit(a);
        this.#meta.committed = c;
      });
    });
  }

  /**
   * The last saved commit index, or `null` (kept in memory: no I/O).
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * console.assert(await store.readCommitted() === null);
   * await store.close();
   * ```
   */
  readCommitted(): Promise<LogId | null> {
    return this.#run("readCommitted", () => copyId(this.#meta.committed));
  }

  /**
   * Closes the database once the calls before it finished. Later calls
   * reject; closing again is harmless.
   *
   * @example
   * ```ts
   * import { DenoKvLogStore } from "./deno_kv.ts";
   * const store = await DenoKvLogStore.open(":memory:");
   * await store.close();
   * ```
   */
  close(): Promise<void> {
    const p = this.#queue.then(() => {
      if (this.#closed) return;
      this.#closed = true;
      this.#kv.close();
    });
    this.#queue = p.catch(() => {});
    return p;
  }
}
