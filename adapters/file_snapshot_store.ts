/**
 * A durable {@linkcode SnapshotStore} in a directory of files, on
 * `node:fs/promises` (Deno and Bun alike).
 *
 * One file per snapshot, `snap-<seq>.snap` (`seq` grows by one per write):
 *
 * ```text
 * header   "RAFTSNAP"  version u32  metaLength u32  meta  headerCrc u32
 *          (meta = encodeSnapshotMeta(meta); headerCrc = CRC-32 of all before it)
 * data     the snapshot's bytes, as streamed
 * trailer  dataLength u64  dataCrc u32  "RAFTSEND"
 *          (integers little-endian; dataCrc = CRC-32 of the data)
 * ```
 *
 * A write streams into `snap-<seq>.tmp` (created exclusively) through a
 * 1 MiB buffer, adds the trailer, `sync()`s and closes the file, renames it to
 * `snap-<seq>.snap`, fsyncs the directory — from then on it is current and
 * `write` resolves — and only then deletes the older `.snap` files. A crash
 * before the rename leaves a `.tmp`, which the next open deletes; a crash
 * after it leaves the new file (complete: it was synced before the rename)
 * and perhaps older ones, which the next open deletes. So the store holds the
 * old snapshot or the new one, never a torn one.
 *
 * Checks. At open, the newest `.snap` file's header and trailer are checked
 * (cost: two small reads): magic, version, header CRC (which covers the
 * metadata), metadata decoding, trailer magic, and that the data length
 * matches the file's size (truncation). A file that fails any of them is a
 * `StorageError` naming the file and the reason — never an empty store. The
 * data's CRC is checked as it is read: the stream `open()` returns computes
 * it over the chunks and, if it does not match, errors with `StorageError`
 * instead of delivering the last chunk and closing. Checking the data at
 * open as well costs one full read of the snapshot (~0.4 s per 256 MiB
 * here, CRC-32 running at ~800–900 MiB/s): opt in with
 * `{ verifyOnOpen: true }`. Files not named `snap-<n>.snap`/`.tmp` are left
 * alone, so the directory may be shared (a node's data directory).
 *
 * One store per directory at a time (not enforced: the data directory's log
 * store already allows only one process). A write still reading its stream
 * when the store is closed is abandoned; one past that point completes.
 *
 * @example
 * ```ts
 * import { openFileSnapshotStore } from "./file_snapshot_store.ts";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const store = await openFileSnapshotStore(await mkdtemp(join(tmpdir(), "snapshots-")));
 * const snap = await store.current(); // null, or { meta, size, open() }
 * console.assert(snap === null);
 * await store.close();
 * ```
 *
 * @module
 */

import { mkdir, open, readdir, rename, unlink } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { join } from "node:path";
import { decodeSnapshotMeta, encodeSnapshotMeta } from "../src/codec.ts";
import { ConfigError, StorageError } from "../src/errors.ts";
import type { SnapshotStore, StoredSnapshot } from "../src/snapshot_store.ts";
import type { SnapshotMeta } from "../src/types.ts";
import { crc32 } from "./_crc32.ts";

/**
 * The format version {@linkcode FileSnapshotStore} writes (and the only one
 * it reads).
 *
 * @example
 * ```ts
 * import { SNAPSHOT_FILE_VERSION } from "./file_snapshot_store.ts";
 * console.assert(SNAPSHOT_FILE_VERSION === 1);
 * ```
 */
export const SNAPSHOT_FILE_VERSION: number = 1;

/**
 * Options of {@linkcode openFileSnapshotStore}.
 *
 * @example
 * ```ts
 * import type { FileSnapshotStoreOptions } from "./file_snapshot_store.ts";
 * const options: FileSnapshotStoreOptions = { verifyOnOpen: true, readChunkSize: 256 * 1024 };
 * ```
 */
export interface FileSnapshotStoreOptions {
  /**
   * Also check the current snapshot's data CRC when opening (one full read
   * of it). Default `false`: the data is checked as it is read.
   */
  readonly verifyOnOpen?: boolean;
  /** Size of the chunks `open()` streams, in bytes. Default 1 MiB. */
  readonly readChunkSize?: number;
}

const _MAGIC = new TextEncoder().encode("RAFTSNAP");
const _END_MAGIC = new TextEncoder().encode("RAFTSEND");
const _FIXED_HEADER = 16; // magic, version, metaLength
const _TRAILER = 20; // dataLength u64, dataCrc u32, end magic
const _MAX_META = 64 * 1024 * 1024;
const _WRITE_BUFFER = 1024 * 1024;
const _NAME = /^snap-(\d{1,15})\.(snap|tmp)$/;

/** Where a snapshot's data lies in its file, and its CRC. */
interface _Layout {
  readonly seq: number;
  readonly path: string;
  readonly meta: SnapshotMeta;
  readonly dataStart: number;
  readonly size: number;
  readonly dataCrc: number;
}

function _fail(operation: string, message: string, cause?: unknown): StorageError {
  return new StorageError(
    operation,
    new Error(message, cause === undefined ? undefined : { cause }),
  );
}

function _errorCode(e: unknown): string | undefined {
  return typeof e === "object" && e !== null && "code" in e
    ? String((e as { code: unknown }).code)
    : undefined;
}

function _same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Reads exactly `length` bytes at `position`; fewer means the file is shorter. */
async function _readAt(fh: FileHandle, length: number, position: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(out, got, length - got, position + got);
    if (bytesRead === 0) throw new Error(`unexpected end of file at byte ${position + got}`);
    got += bytesRead;
  }
  return out;
}

async function _writeAt(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/** fsyncs a directory, so that a rename or create in it is durable. */
async function _syncDir(dir: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(dir, "r");
  } catch (e) {
    // Platforms that cannot open a directory (Windows) have no directory fsync.
    if (_errorCode(e) === "EISDIR" || _errorCode(e) === "EPERM") return;
    throw e;
  }
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Checks a snapshot file's header and trailer; throws a `StorageError` saying what is wrong. */
async function _readLayout(path: string, seq: number): Promise<_Layout> {
  const what = `snapshot file ${path}`;
  let fh: FileHandle;
  try {
    fh = await open(path, "r");
  } catch (e) {
    throw _fail("snapshot open", `${what}: cannot be opened`, e);
  }
  try {
    const fileSize = (await fh.stat()).size;
    if (fileSize < _FIXED_HEADER + 4 + _TRAILER) {
      throw _fail(
        "snapshot open",
        `${what} is not a snapshot file or is truncated: ${fileSize} bytes is shorter than any snapshot`,
      );
    }
    const fixed = await _readAt(fh, _FIXED_HEADER, 0);
    if (!_same(fixed.subarray(0, 8), _MAGIC)) {
      throw _fail("snapshot open", `${what} is not a snapshot file (wrong magic)`);
    }
    const view = new DataView(fixed.buffer);
    const version = view.getUint32(8, true);
    if (version !== SNAPSHOT_FILE_VERSION) {
      throw _fail(
        "snapshot open",
        `${what} has format version ${version}; this library reads version ${SNAPSHOT_FILE_VERSION}`,
      );
    }
    const metaLength = view.getUint32(12, true);
    const dataStart = _FIXED_HEADER + metaLength + 4;
    if (metaLength > _MAX_META || dataStart + _TRAILER > fileSize) {
      throw _fail(
        "snapshot open",
        `${what} is corrupt or truncated: its metadata length (${metaLength}) does not fit the file (${fileSize} bytes)`,
      );
    }
    const rest = await _readAt(fh, metaLength + 4, _FIXED_HEADER);
    const metaBytes = rest.subarray(0, metaLength);
    const stored = new DataView(rest.buffer).getUint32(metaLength, true);
    if (crc32(metaBytes, crc32(fixed)) !== stored) {
      throw _fail("snapshot open", `${what} is corrupt: header checksum mismatch`);
    }
    let meta: SnapshotMeta;
    try {
      meta = decodeSnapshotMeta(metaBytes);
    } catch (e) {
      throw _fail("snapshot open", `${what} is corrupt: its metadata does not decode`, e);
    }
    const trailer = await _readAt(fh, _TRAILER, fileSize - _TRAILER);
    if (!_same(trailer.subarray(12), _END_MAGIC)) {
      throw _fail("snapshot open", `${what} is truncated or corrupt: no trailer at its end`);
    }
    const t = new DataView(trailer.buffer);
    const size = Number(t.getBigUint64(0, true));
    if (dataStart + size + _TRAILER !== fileSize) {
      throw _fail(
        "snapshot open",
        `${what} is truncated or corrupt: its trailer records ${size} data bytes, the file holds ${
          fileSize - dataStart - _TRAILER
        }`,
      );
    }
    return { seq, path, meta, dataStart, size, dataCrc: t.getUint32(8, true) };
  } catch (e) {
    if (e instanceof StorageError) throw e;
    throw _fail("snapshot open", `${what}: cannot be read`, e);
  } finally {
    await fh.close();
  }
}

/** A stream of a snapshot file's data, checking its CRC at the end. */
function _dataStream(layout: _Layout, chunkSize: number): ReadableStream<Uint8Array> {
  let fh: FileHandle | null = null;
  let cancelled = false;
  // The open or read in progress: a cancel that arrives meanwhile closes the
  // file once it is done (closing a handle under a pending read, or never
  // closing one whose open was still pending, makes Bun kill the process when
  // the handle is garbage-collected).
  let busy: Promise<unknown> = Promise.resolve();
  let position = layout.dataStart;
  let remaining = layout.size;
  let crc = 0;
  const release = async (): Promise<void> => {
    const f = fh;
    fh = null;
    await f?.close().catch(() => {});
  };
  const cancel = async (): Promise<void> => {
    cancelled = true;
    await busy.catch(() => {});
    await release();
  };
  return new ReadableStream<Uint8Array>({
    async start() {
      const opening = open(layout.path, "r");
      busy = opening;
      try {
        fh = await opening;
      } catch (e) {
        throw _fail(
          "snapshot read",
          _errorCode(e) === "ENOENT"
            ? `snapshot ${layout.meta.snapshotId} (${layout.path}) was replaced by a newer one`
            : `snapshot file ${layout.path}: cannot be opened`,
          e,
        );
      }
      if (cancelled) await release();
    },
    async pull(controller) {
      try {
        if (fh === null || cancelled) throw new Error("the stream is closed");
        const n = Math.min(chunkSize, remaining);
        const reading = n === 0 ? Promise.resolve(new Uint8Array(0)) : _readAt(fh, n, position);
        busy = reading;
        const chunk = await reading;
        if (cancelled) {
          await release();
          return;
        }
        crc = crc32(chunk, crc);
        position += n;
        remaining -= n;
        if (remaining === 0) {
          if (crc !== layout.dataCrc) {
            throw _fail(
              "snapshot read",
              `snapshot file ${layout.path} is corrupt: data checksum mismatch`,
            );
          }
          await release();
          if (n > 0) controller.enqueue(chunk);
          controller.close();
          return;
        }
        controller.enqueue(chunk);
      } catch (e) {
        await release();
        throw e instanceof StorageError
          ? e
          : _fail("snapshot read", `snapshot file ${layout.path}: cannot be read`, e);
      }
    },
    cancel,
  }, { highWaterMark: 1 });
}

/**
 * A {@linkcode SnapshotStore} in a directory: see the module documentation
 * for the file format, the write protocol and the checks. Open one with
 * {@linkcode openFileSnapshotStore} (or `FileSnapshotStore.open`).
 *
 * @example
 * ```ts
 * import { mkdtemp, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { FileSnapshotStore } from "./file_snapshot_store.ts";
 * import { bytesToStream, readAllBytes } from "../src/byte_stream.ts";
 * import { EMPTY_MEMBERSHIP } from "../src/types.ts";
 *
 * const dir = await mkdtemp(join(tmpdir(), "snapshots-"));
 * const store = await FileSnapshotStore.open(dir);
 * const meta = {
 *   lastLogId: { term: 1, index: 10 },
 *   lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
 *   snapshotId: "1-10-0",
 * };
 * await store.write(meta, bytesToStream(new Uint8Array(1000), 64)); // durable and current
 * const snap = await store.current(); // { meta, size, open() }
 * console.assert(snap?.size === 1000 && (await readAllBytes(snap.open())).length === 1000);
 * await store.close();
 * await rm(dir, { recursive: true });
 * ```
 */
export class FileSnapshotStore implements SnapshotStore {
  /** The directory the store keeps its files in. */
  readonly dir: string;
  readonly #chunkSize: number;
  #current: _Layout | null;
  #nextSeq: number;
  #queue: Promise<void> = Promise.resolve();
  #active: ReadableStreamDefaultReader<Uint8Array> | null = null;
  #closed = false;

  private constructor(dir: string, chunkSize: number, current: _Layout | null, nextSeq: number) {
    this.dir = dir;
    this.#chunkSize = chunkSize;
    this.#current = current;
    this.#nextSeq = nextSeq;
  }

  /**
   * Opens the store in `dir` (created if missing): deletes what crashed
   * writes left (`.tmp` files) and superseded snapshots, and checks the
   * current snapshot's file (see the module documentation).
   *
   * @throws {StorageError} if the current snapshot's file is damaged or not a
   * snapshot file, or the directory cannot be read.
   *
   * @example
   * ```ts
   * import { FileSnapshotStore } from "./file_snapshot_store.ts";
   * async function openChecked(dir: string): Promise<FileSnapshotStore> {
   *   return await FileSnapshotStore.open(dir, { verifyOnOpen: true }); // reads the data once
   * }
   * ```
   */
  static open(dir: string, options?: FileSnapshotStoreOptions): Promise<FileSnapshotStore>;
  static async open(
    dir: string,
    options: FileSnapshotStoreOptions = {},
  ): Promise<FileSnapshotStore> {
    if (typeof dir !== "string" || dir === "") {
      throw new ConfigError(
        "dir",
        "openFileSnapshotStore: dir must be a non-empty string (a directory)",
      );
    }
    const chunkSize = options.readChunkSize ?? 1024 * 1024;
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
      throw new ConfigError(
        "readChunkSize",
        `openFileSnapshotStore: readChunkSize must be a positive integer, got ${chunkSize}`,
      );
    }
    let names: string[];
    try {
      await mkdir(dir, { recursive: true });
      names = await readdir(dir);
    } catch (e) {
      throw _fail("snapshot open", `snapshot directory ${dir}: cannot be read`, e);
    }
    const snaps: number[] = [];
    let maxSeq = 0;
    try {
      for (const name of names) {
        const m = _NAME.exec(name);
        if (m === null) continue;
        const seq = Number(m[1]);
        maxSeq = Math.max(maxSeq, seq);
        if (m[2] === "tmp") await unlink(join(dir, name)); // a write cut short
        else snaps.push(seq);
      }
    } catch (e) {
      throw _fail("snapshot open", `snapshot directory ${dir}: cannot delete a leftover file`, e);
    }
    snaps.sort((a, b) => b - a);
    let current: _Layout | null = null;
    const newest = snaps[0];
    if (newest !== undefined) {
      current = await _readLayout(join(dir, `snap-${newest}.snap`), newest);
      if (options.verifyOnOpen === true) {
        const reader = _dataStream(current, chunkSize).getReader();
        while (!(await reader.read()).done) { /* the stream checks the CRC */ }
      }
      try {
        // Superseded by the newest, which is complete (written before its rename).
        for (const seq of snaps.slice(1)) await unlink(join(dir, `snap-${seq}.snap`));
      } catch (e) {
        throw _fail("snapshot open", `snapshot directory ${dir}: cannot delete an old snapshot`, e);
      }
    }
    return new FileSnapshotStore(dir, chunkSize, current, maxSeq + 1);
  }

  /**
   * The current snapshot, or `null`. `open()` on it streams the data from
   * the start, checking its CRC at the end.
   *
   * @example
   * ```ts
   * import type { FileSnapshotStore } from "./file_snapshot_store.ts";
   * import type { StateMachine } from "../src/storage.ts";
   * async function restore(store: FileSnapshotStore, sm: StateMachine): Promise<void> {
   *   const snap = await store.current();
   *   if (snap !== null) await sm.installSnapshot(snap.meta, snap.open());
   * }
   * ```
   */
  current(): Promise<StoredSnapshot | null> {
    if (this.#closed) return Promise.reject(this.#closedError("snapshot current"));
    const layout = this.#current;
    if (layout === null) return Promise.resolve(null);
    const chunkSize = this.#chunkSize;
    return Promise.resolve({
      meta: layout.meta,
      size: layout.size,
      open: () => _dataStream(layout, chunkSize),
    });
  }

  /**
   * Streams `data` to a new file and makes it current once durable, then
   * deletes the previous snapshot. Writes are serialized (one after another,
   * in call order).
   *
   * @throws {StorageError} if `data` errors, the meta does not encode, the
   * write fails, or the store is closed; the previous snapshot stays current
   * and the partial file is deleted.
   *
   * @example
   * ```ts
   * import type { FileSnapshotStore } from "./file_snapshot_store.ts";
   * import type { StateMachine } from "../src/storage.ts";
   * async function persist(store: FileSnapshotStore, sm: StateMachine): Promise<void> {
   *   const snapshot = await sm.buildSnapshot();
   *   await store.write(snapshot.meta, snapshot.open()); // durable and current
   * }
   * ```
   */
  write(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    const run = this.#queue.then(() => this.#write(meta, data));
    this.#queue = run.then(() => {}, () => {});
    return run;
  }

  /**
   * Closes the store: a write in progress is abandoned (its stream
   * cancelled, its promise rejected, its file deleted) and queued ones
   * rejected. Streams already open may still be read.
   *
   * @example
   * ```ts
   * import type { FileSnapshotStore } from "./file_snapshot_store.ts";
   * async function stop(store: FileSnapshotStore): Promise<void> {
   *   await store.close(); // a write still reading its stream rejects
   * }
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#active?.cancel(this.#closedError("snapshot write")).catch(() => {});
    await this.#queue;
  }

  #closedError(operation: string): StorageError {
    return _fail(operation, `the snapshot store in ${this.dir} is closed`);
  }

  async #write(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    if (this.#closed) {
      const e = this.#closedError("snapshot write");
      await data.cancel(e).catch(() => {});
      throw e;
    }
    const seq = this.#nextSeq++;
    const tmp = join(this.dir, `snap-${seq}.tmp`);
    const path = join(this.dir, `snap-${seq}.snap`);
    let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
    let fh: FileHandle | null = null;
    let layout: _Layout;
    try {
      reader = data.getReader();
      this.#active = reader;
      const metaBytes = encodeSnapshotMeta(meta);
      const header = new Uint8Array(_FIXED_HEADER + metaBytes.length + 4);
      const hv = new DataView(header.buffer);
      header.set(_MAGIC, 0);
      hv.setUint32(8, SNAPSHOT_FILE_VERSION, true);
      hv.setUint32(12, metaBytes.length, true);
      header.set(metaBytes, _FIXED_HEADER);
      hv.setUint32(header.length - 4, crc32(header.subarray(0, header.length - 4)), true);
      fh = await open(tmp, "wx");
      await _writeAt(fh, header, 0);
      let position = header.length;
      let size = 0;
      let crc = 0;
      const buffer = new Uint8Array(_WRITE_BUFFER);
      let buffered = 0;
      const flush = async (): Promise<void> => {
        if (buffered === 0) return;
        await _writeAt(fh!, buffer.subarray(0, buffered), position);
        position += buffered;
        buffered = 0;
      };
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!(value instanceof Uint8Array)) {
          throw new TypeError(`snapshot data chunks must be Uint8Array, got ${typeof value}`);
        }
        crc = crc32(value, crc);
        size += value.length;
        if (buffered + value.length <= buffer.length) {
          buffer.set(value, buffered);
          buffered += value.length;
          if (buffered === buffer.length) await flush();
        } else {
          await flush();
          if (value.length >= buffer.length) {
            await _writeAt(fh, value, position);
            position += value.length;
          } else {
            buffer.set(value, 0);
            buffered = value.length;
          }
        }
      }
      if (this.#closed) throw new Error(`the snapshot store in ${this.dir} was closed`);
      await flush();
      const trailer = new Uint8Array(_TRAILER);
      const tv = new DataView(trailer.buffer);
      tv.setBigUint64(0, BigInt(size), true);
      tv.setUint32(8, crc, true);
      trailer.set(_END_MAGIC, 12);
      await _writeAt(fh, trailer, position);
      await fh.sync();
      const f = fh;
      fh = null;
      await f.close();
      await rename(tmp, path);
      await _syncDir(this.dir);
      layout = { seq, path, meta, dataStart: header.length, size, dataCrc: crc };
    } catch (e) {
      await fh?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      await reader?.cancel(e).catch(() => {});
      throw e instanceof StorageError ? e : _fail(
        "snapshot write",
        `snapshot ${meta?.snapshotId} was not written` +
          (e instanceof Error ? `: ${e.message}` : ""),
        e,
      );
    } finally {
      this.#active = null;
      reader?.releaseLock();
    }
    const previous = this.#current;
    this.#current = layout;
    // The new snapshot is durable: the old files may go. A failure here
    // leaves a superseded file, which the next open deletes.
    if (previous !== null) await unlink(previous.path).catch(() => {});
  }
}

/**
 * Opens (creating it if missing) a {@linkcode FileSnapshotStore} in `dir`.
 * Use a directory of its own or a node's data directory: it only touches
 * files named `snap-<n>.snap` and `snap-<n>.tmp`.
 *
 * @throws {StorageError} if the current snapshot's file is damaged or is not
 * a snapshot file.
 *
 * @example
 * ```ts
 * import { mkdtemp, rm } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * import { openFileSnapshotStore } from "./file_snapshot_store.ts";
 * const dir = await mkdtemp(join(tmpdir(), "node-1-"));
 * const store = await openFileSnapshotStore(dir);
 * const snap = await store.current();
 * console.log(snap === null ? "no snapshot" : `${snap.meta.snapshotId}: ${snap.size} bytes`);
 * await store.close();
 * await rm(dir, { recursive: true });
 * ```
 */
export function openFileSnapshotStore(
  dir: string,
  options?: FileSnapshotStoreOptions,
): Promise<FileSnapshotStore> {
  return FileSnapshotStore.open(dir, options);
}
