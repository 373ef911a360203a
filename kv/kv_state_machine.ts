/**
 * {@linkcode MemoryStateMachine}: a replicated key-value map kept in memory,
 * the state machine of the example node and of the simulator, and a model for
 * writing your own. Its commands are made by `kvSet`, `kvCas` and `kvDelete`
 * (`kv_command.ts`); its snapshot is the whole map.
 *
 * Nothing here survives the process unless snapshots are durable: give it a
 * {@linkcode SnapshotStore} with {@linkcode MemoryStateMachine.open} and it
 * writes every snapshot there (streamed), restores the map from the stored
 * snapshot when opened, and the runtime re-applies only the log after it.
 * Payload bytes are copied on apply.
 *
 * @example
 * ```ts
 * import { MemoryStateMachine } from "./mod.ts";
 * import { kvSet } from "./mod.ts";
 * const sm = new MemoryStateMachine();
 * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("a", "1") }]);
 * console.assert(new TextDecoder().decode(sm.get("a")!) === "1");
 * ```
 *
 * @module
 */

import type { AppliedState, Snapshot, StateMachine } from "../src/storage.ts";
import { checkApplyOrder, snapshotOfBytes } from "../src/storage.ts";
import { readAllBytes } from "../src/byte_stream.ts";
import type { SnapshotStore } from "../src/snapshot_store.ts";
import {
  compareLogId,
  EMPTY_MEMBERSHIP,
  type Entry,
  type LogId,
  type SnapshotMeta,
  type StoredMembership,
} from "../src/types.ts";
import { decodeKvCommand } from "./kv_command.ts";

const _encoder = new TextEncoder();
const _decoder = new TextDecoder("utf-8", { fatal: true });

function _idOrNull(id: LogId | null): LogId | null {
  return id === null ? null : { term: id.term, index: id.index };
}

function _fmt(id: LogId | null): string {
  return id === null ? "none" : `${id.term}-${id.index}`;
}

function _isTerm(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function _sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

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

const _STREAM_CHUNK = 64 * 1024;

/**
 * The bytes `_encodeKvSnapshot` would return, as a stream of chunks of about
 * `_STREAM_CHUNK` bytes encoded as they are pulled, from `map` (which the
 * caller must not change afterwards: a frozen copy).
 */
function _kvSnapshotStream(
  lastLogId: LogId | null,
  map: ReadonlyMap<string, Uint8Array>,
): ReadableStream<Uint8Array> {
  const keys = [...map.keys()].sort();
  let i = 0;
  let headerSent = false;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      const parts: Uint8Array[] = [];
      let size = 0;
      if (!headerSent) {
        const head = new Uint8Array(22);
        const view = new DataView(head.buffer);
        view.setUint8(0, _SNAPSHOT_VERSION);
        view.setUint8(1, lastLogId === null ? 0 : 1);
        view.setFloat64(2, lastLogId?.term ?? 0);
        view.setFloat64(10, lastLogId?.index ?? 0);
        view.setUint32(18, keys.length);
        parts.push(head);
        size += head.length;
        headerSent = true;
      }
      while (i < keys.length && size < _STREAM_CHUNK) {
        const k = _encoder.encode(keys[i]!);
        const v = map.get(keys[i]!)!;
        const rec = new Uint8Array(8 + k.length + v.length);
        const view = new DataView(rec.buffer);
        view.setUint32(0, k.length);
        rec.set(k, 4);
        view.setUint32(4 + k.length, v.length);
        rec.set(v, 8 + k.length);
        parts.push(rec);
        size += rec.length;
        i++;
      }
      if (size > 0) {
        const out = parts.length === 1 ? parts[0]! : new Uint8Array(size);
        if (parts.length > 1) {
          let at = 0;
          for (const p of parts) {
            out.set(p, at);
            at += p.length;
          }
        }
        controller.enqueue(out);
      }
      if (i >= keys.length) controller.close();
    },
  }, { highWaterMark: 0 });
}

/**
 * Decodes a snapshot as its chunks pass (the same checks as
 * `_decodeKvSnapshot`): `push` each chunk, then `finish()` returns the
 * result or throws. Only the record being decoded is buffered.
 *
 * Linear in the snapshot's size whatever its chunking: chunks are kept in a
 * list until the bytes the next step needs are there (the header; then a
 * record's key length, its value length, its whole bytes), and only then
 * joined, once. A value of any size arriving in small chunks is copied a
 * bounded number of times, not once per chunk.
 */
class _KvSnapshotDecoder {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  /** Bytes that must be buffered before decoding can make progress. */
  #need = 22;
  #state: "header" | "records" | "done" = "header";
  #count = 0;
  #lastLogId: LogId | null = null;
  readonly map: Map<string, Uint8Array> = new Map();

  static #bad(why: string): Error {
    return new Error(`MemoryStateMachine: invalid snapshot: ${why}`);
  }

  push(chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array)) throw _KvSnapshotDecoder.#bad("a chunk is not bytes");
    if (chunk.length === 0) return;
    if (this.#state === "done") throw _KvSnapshotDecoder.#bad("trailing bytes");
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < this.#need) return;
    const buf = this.#join();
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let at = 0;
    if (this.#state === "header") {
      const version = view.getUint8(0);
      if (version !== _SNAPSHOT_VERSION) {
        throw _KvSnapshotDecoder.#bad(`unknown version ${version}`);
      }
      const has = view.getUint8(1);
      const term = view.getFloat64(2);
      const index = view.getFloat64(10);
      if (has > 1 || !_isTerm(term) || !_isTerm(index)) {
        throw _KvSnapshotDecoder.#bad("malformed last log id");
      }
      this.#lastLogId = has === 1 ? { term, index } : null;
      this.#count = view.getUint32(18);
      this.#state = this.#count === 0 ? "done" : "records";
      at = 22;
    }
    let need = 0;
    while (this.#state === "records") {
      if (at + 4 > buf.length) {
        need = 4;
        break;
      }
      const kn = view.getUint32(at);
      if (at + 8 + kn > buf.length) {
        need = 8 + kn;
        break;
      }
      const vn = view.getUint32(at + 4 + kn);
      if (at + 8 + kn + vn > buf.length) {
        need = 8 + kn + vn;
        break;
      }
      let key: string;
      try {
        key = _decoder.decode(buf.subarray(at + 4, at + 4 + kn));
      } catch {
        throw _KvSnapshotDecoder.#bad("bad key");
      }
      if (this.map.has(key)) throw _KvSnapshotDecoder.#bad("duplicate keys");
      this.map.set(key, buf.slice(at + 8 + kn, at + 8 + kn + vn));
      at += 8 + kn + vn;
      if (this.map.size === this.#count) this.#state = "done";
    }
    if (this.#state === "done" && at < buf.length) throw _KvSnapshotDecoder.#bad("trailing bytes");
    // Keep the unfinished record's bytes (a copy, so a large joined buffer is not retained).
    const rest = at === buf.length ? null : buf.slice(at);
    this.#chunks = rest === null ? [] : [rest];
    this.#buffered = rest === null ? 0 : rest.length;
    this.#need = need;
  }

  /** The buffered chunks as one array (the chunk itself when there is one). */
  #join(): Uint8Array {
    const chunks = this.#chunks;
    this.#chunks = [];
    if (chunks.length === 1) return chunks[0]!;
    const buf = new Uint8Array(this.#buffered);
    let at = 0;
    for (const c of chunks) {
      buf.set(c, at);
      at += c.length;
    }
    return buf;
  }

  finish(): { lastLogId: LogId | null; map: Map<string, Uint8Array> } {
    if (this.#state === "header") throw _KvSnapshotDecoder.#bad("too short");
    if (this.#state !== "done") throw _KvSnapshotDecoder.#bad("truncated");
    return { lastLogId: this.#lastLogId, map: this.map };
  }
}

async function _decodeStream(
  stream: ReadableStream<Uint8Array>,
): Promise<{ lastLogId: LogId | null; map: Map<string, Uint8Array> }> {
  const decoder = new _KvSnapshotDecoder();
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      decoder.push(value);
    }
  } catch (e) {
    await reader.cancel(e).catch(() => {});
    throw e;
  }
  return decoder.finish();
}

function _checkCovers(decoded: LogId | null, meta: SnapshotMeta): void {
  if (compareLogId(decoded, meta.lastLogId) !== 0) {
    throw new Error(
      `MemoryStateMachine.installSnapshot: the data covers ${_fmt(decoded)} ` +
        `but the meta says ${_fmt(meta.lastLogId)}`,
    );
  }
}

/** The counter part of a `${term}-${index}-${counter}` snapshot id (0 if none). */
function _counterOf(snapshotId: string): number {
  const n = Number(snapshotId.split("-")[2]);
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

/**
 * Options of a {@linkcode MemoryStateMachine}.
 *
 * @example
 * ```ts
 * import { MemoryStateMachine, type MemoryStateMachineOptions } from "./mod.ts";
 * const options: MemoryStateMachineOptions = { recordApplyLog: true };
 * console.assert(new MemoryStateMachine(options).applyLog.length === 0);
 * ```
 */
export interface MemoryStateMachineOptions {
  /** Record every applied log id in `applyLog` (for tests). Default `false`. */
  readonly recordApplyLog?: boolean;
}

/**
 * An example state machine: a map from string keys to byte values, driven by
 * commands made with {@linkcode kvSet} and {@linkcode kvDelete}. Applying a
 * command returns the key's previous value (`null` if it had none);
 * applying bytes that are not a kv command changes nothing and returns
 * `null` (deterministically, on every replica). Blank and membership entries
 * return `undefined`; a membership entry becomes the applied membership.
 *
 * It checks that entries are applied in order and exactly once (an
 * out-of-order batch rejects and applies nothing). For tests, created with
 * `{ recordApplyLog: true }`, it also records every applied log id in
 * {@linkcode MemoryStateMachine.applyLog} (off by default: the record grows
 * with every entry — a node recording it grew by about 100 MB in a
 * 10-minute run at 3,000 writes per second).
 *
 * Snapshots serialize the map (keys sorted, so equal states give equal
 * bytes) and the last applied log id; ids are `${term}-${index}-${counter}`.
 * They are kept in memory, or, opened with {@linkcode MemoryStateMachine.open},
 * in a durable {@linkcode SnapshotStore}.
 *
 * @example
 * ```ts
 * import { kvSet, MemoryStateMachine } from "./mod.ts";
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
  #store: SnapshotStore | null = null;
  #counter = 0;
  #appliedCount = 0;
  /** Every applied log id, when recorded (`recordApplyLog`); else `null`. */
  #applyLog: LogId[] | null;

  /**
   * An empty state machine.
   *
   * @param options `recordApplyLog`: record every applied log id in
   *   {@linkcode MemoryStateMachine.applyLog} (for tests; default off)
   */
  constructor(options: MemoryStateMachineOptions = {}) {
    this.#applyLog = options.recordApplyLog === true ? [] : null;
  }

  /**
   * A state machine whose snapshots are durable in `store`: restores the map,
   * the last applied log id and the membership from `store.current()` (read
   * as a stream; an empty state when the store has none), so a restarted
   * node re-applies only the log after it. Then `buildSnapshot` writes each
   * snapshot to the store (streamed from a frozen copy of the map, never
   * encoded whole) and resolves once it is durable — so the runtime purges
   * the log only behind a durable snapshot; `installSnapshot` streams the
   * leader's bytes into the store, decoding them as they pass, and adopts
   * them once they are durable; `currentSnapshot` is the store's current one.
   *
   * The store stays the caller's: close it after the node shuts down.
   *
   * @throws {StorageError} (from the store) if the stored snapshot cannot be
   * read; `Error` if its data is not a `MemoryStateMachine` snapshot.
   *
   * @example
   * ```ts
   * import { mkdtemp, rm } from "node:fs/promises";
   * import { tmpdir } from "node:os";
   * import { join } from "node:path";
   * import { kvSet, MemoryStateMachine } from "./mod.ts";
   * import { openFileSnapshotStore } from "../adapters/file_snapshot_store.ts";
   *
   * const dir = await mkdtemp(join(tmpdir(), "kv-sm-"));
   * const store = await openFileSnapshotStore(dir);
   * const sm = await MemoryStateMachine.open(store);
   * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("a", "1") }]);
   * await sm.buildSnapshot(); // durable when it resolves
   * await store.close();
   *
   * const reopened = await openFileSnapshotStore(dir);
   * const restored = await MemoryStateMachine.open(reopened);
   * console.assert(restored.lastApplied?.index === 1);
   * console.assert(new TextDecoder().decode(restored.get("a")!) === "1");
   * await reopened.close();
   * await rm(dir, { recursive: true });
   * ```
   */
  static async open(
    store: SnapshotStore,
    options: MemoryStateMachineOptions = {},
  ): Promise<MemoryStateMachine> {
    const sm = new MemoryStateMachine(options);
    const current = await store.current();
    if (current !== null) {
      const decoded = await _decodeStream(current.open());
      _checkCovers(decoded.lastLogId, current.meta);
      sm.#map = decoded.map;
      sm.#lastApplied = _idOrNull(current.meta.lastLogId);
      sm.#membership = current.meta.lastMembership;
      sm.#counter = _counterOf(current.meta.snapshotId);
    }
    sm.#store = store;
    return sm;
  }

  /**
   * How many entries (of every type) `apply` has applied on this instance.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./mod.ts";
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
   * order (entries covered by an installed snapshot are not in it). Only
   * for a state machine created with `{ recordApplyLog: true }`: otherwise
   * reading it throws (an empty record would make a test's checks vacuous).
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./mod.ts";
   * const sm = new MemoryStateMachine({ recordApplyLog: true });
   * await sm.apply([{ term: 1, index: 1, type: "blank" }, { term: 2, index: 2, type: "blank" }]);
   * console.assert(sm.applyLog.map((id) => id.index).join() === "1,2");
   * ```
   */
  get applyLog(): readonly LogId[] {
    if (this.#applyLog === null) {
      throw new Error(
        "MemoryStateMachine.applyLog: not recorded; create the state machine with " +
          "{ recordApplyLog: true }",
      );
    }
    return this.#applyLog;
  }

  /**
   * The last applied log id, or `null`.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./mod.ts";
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
   * import { MemoryStateMachine } from "./mod.ts";
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
   * import { MemoryStateMachine } from "./mod.ts";
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
   * import { kvSet, MemoryStateMachine } from "./mod.ts";
   * const sm = new MemoryStateMachine();
   * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("b", "2") }]);
   * console.assert(sm.pairs()[0]?.[0] === "b");
   * ```
   */
  pairs(): [string, Uint8Array][] {
    return [...this.#map.keys()].sort().map((k) => [k, this.#map.get(k)!.slice()]);
  }

  /**
   * The last applied log id and the membership in effect.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./mod.ts";
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
   * import { kvSet, MemoryStateMachine } from "./mod.ts";
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
      this.#applyLog?.push(id);
      this.#appliedCount++;
    }
    return out;
  }

  /**
   * Serializes the applied state; it becomes the current snapshot. With a
   * store ({@linkcode MemoryStateMachine.open}), the state as of the call is
   * streamed into the store and this resolves once it is durable.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./mod.ts";
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
    if (this.#store !== null) return this.#buildDurable(this.#store, meta);
    const bytes = _encodeKvSnapshot(last, this.#map);
    this.#snapshot = { meta, bytes };
    return Promise.resolve(snapshotOfBytes(meta, bytes));
  }

  async #buildDurable(store: SnapshotStore, meta: SnapshotMeta): Promise<Snapshot> {
    // Values are never changed in place (apply sets copies), so a shallow copy is a frozen state.
    const frozen = new Map(this.#map);
    await store.write(meta, _kvSnapshotStream(meta.lastLogId, frozen));
    const current = await store.current();
    if (current?.meta.snapshotId === meta.snapshotId) return current;
    // A newer snapshot (installed meanwhile) replaced it: hand out this one's state.
    return { meta, open: () => _kvSnapshotStream(meta.lastLogId, frozen) };
  }

  /**
   * Replaces the state with a snapshot's (built by a `MemoryStateMachine`);
   * it becomes the current snapshot. Rejects malformed data, data whose last
   * log id differs from `meta.lastLogId`, and a snapshot older than what is
   * applied. With a store ({@linkcode MemoryStateMachine.open}), the bytes
   * stream into the store as they arrive, decoded (and checked) on the way;
   * the state is replaced once the store holds them durably; a rejected
   * snapshot leaves the store's previous one current.
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./mod.ts";
   * const source = new MemoryStateMachine();
   * await source.apply([{ term: 1, index: 1, type: "blank" }]);
   * const snap = await source.buildSnapshot();
   * const target = new MemoryStateMachine();
   * await target.installSnapshot(snap.meta, snap.open());
   * console.assert(target.lastApplied?.index === 1);
   * ```
   */
  async installSnapshot(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    if (this.#store === null) return this.#install(meta, await readAllBytes(data));
    try {
      this.#checkNotOlder(meta);
    } catch (e) {
      await data.cancel(e).catch(() => {});
      throw e;
    }
    const decoder = new _KvSnapshotDecoder();
    let invalid: unknown = null;
    const checked = data.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          try {
            decoder.push(chunk);
          } catch (e) {
            throw (invalid = e);
          }
          controller.enqueue(chunk);
        },
        flush() {
          try {
            _checkCovers(decoder.finish().lastLogId, meta);
          } catch (e) {
            throw (invalid = e);
          }
        },
      }),
    );
    try {
      await this.#store.write(meta, checked);
    } catch (e) {
      // The decoder's own error says more than the store's wrapping of it.
      throw invalid ?? e;
    }
    this.#checkNotOlder(meta);
    this.#map = decoder.map;
    this.#lastApplied = _idOrNull(meta.lastLogId);
    this.#membership = meta.lastMembership;
  }

  #checkNotOlder(meta: SnapshotMeta): void {
    if (compareLogId(meta.lastLogId, this.#lastApplied) < 0) {
      throw new Error(
        `MemoryStateMachine.installSnapshot: snapshot ${_fmt(meta.lastLogId)} is older than ` +
          `the last applied ${_fmt(this.#lastApplied)}`,
      );
    }
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
   * The snapshot last built or installed, or `null`; with a store, the
   * store's current snapshot (streamed from it).
   *
   * @example
   * ```ts
   * import { MemoryStateMachine } from "./mod.ts";
   * console.assert(await new MemoryStateMachine().currentSnapshot() === null);
   * ```
   */
  currentSnapshot(): Promise<Snapshot | null> {
    if (this.#store !== null) return this.#store.current();
    const s = this.#snapshot;
    return Promise.resolve(s === null ? null : snapshotOfBytes(s.meta, s.bytes));
  }

  /**
   * Simulates a restart where snapshots are durable and the live state is
   * not: returns a new state machine holding the current snapshot's state
   * (or an empty one), with that snapshot as its current snapshot and an
   * empty apply log. This instance is left as it is. Not for a state machine
   * with a store: restart it with {@linkcode MemoryStateMachine.open} instead.
   *
   * @example
   * ```ts
   * import { kvSet, MemoryStateMachine } from "./mod.ts";
   * const sm = new MemoryStateMachine();
   * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("a", "1") }]);
   * await sm.buildSnapshot();
   * await sm.apply([{ term: 1, index: 2, type: "normal", data: kvSet("b", "2") }]);
   * const restarted = sm.crash();
   * console.assert(restarted.lastApplied?.index === 1 && restarted.get("b") === null);
   * ```
   */
  crash(): MemoryStateMachine {
    if (this.#store !== null) {
      throw new Error("MemoryStateMachine.crash: this one has a store; reopen it with open(store)");
    }
    const next = new MemoryStateMachine({ recordApplyLog: this.#applyLog !== null });
    next.#counter = this.#counter;
    if (this.#snapshot !== null) next.#install(this.#snapshot.meta, this.#snapshot.bytes);
    return next;
  }
}
