/**
 * The {@linkcode SnapshotStore} interface: durable storage of a node's
 * current snapshot, written as it streams and read back as a stream, so a
 * snapshot of any size is never held whole in memory. Implementation:
 * `FileSnapshotStore` (`@x/raft/adapters/file-snapshot-store`, Deno and Bun);
 * conformance suite: `SNAPSHOT_STORE_CASES` (`@x/raft/testing`).
 *
 * Contract:
 * - `write(meta, data)` resolves only once the new snapshot is complete and
 *   durable, and is then what `current()` returns. Until then `current()`
 *   returns the previous snapshot, which is deleted only after the new one
 *   is durable. A crash at any moment leaves the old snapshot or the new
 *   one, never a torn one; a write whose `data` stream errors (or that fails
 *   to write) rejects with `StorageError` and leaves the previous snapshot
 *   current.
 * - Writes are serialized: a `write` called while another is in progress
 *   starts after it settles; the last one to complete is current.
 * - What is read back is checked: damaged or foreign storage gives a
 *   `StorageError` — when the store is opened, or, for damage only a full
 *   read can see, by erroring the stream `open()` returns at the end of the
 *   data instead of closing it. A reader must therefore treat the bytes as
 *   confirmed only once the stream closes normally.
 * - A stream already reading when a newer snapshot replaces its own keeps
 *   reading the old bytes to the end; a stale handle (from `current()` before
 *   the replacement) opened after it errors with `StorageError`. It never
 *   yields another snapshot's bytes.
 *
 * @module
 */

import type { Snapshot } from "./storage.ts";
import type { SnapshotMeta } from "./types.ts";

/**
 * A snapshot held by a {@linkcode SnapshotStore}: a {@linkcode Snapshot}
 * (so a state machine can hand it out as is from `currentSnapshot()`) that
 * also knows its size.
 *
 * @example
 * ```ts
 * import type { StoredSnapshot } from "./snapshot_store.ts";
 * import type { Snapshot } from "./storage.ts";
 * function share(s: StoredSnapshot): Snapshot {
 *   console.log(`snapshot ${s.meta.snapshotId}: ${s.size} bytes`);
 *   return s;
 * }
 * ```
 */
export interface StoredSnapshot extends Snapshot {
  /** The data's length in bytes (metadata and framing excluded). */
  readonly size: number;
}

/**
 * Durable storage of the current snapshot: see the module documentation for
 * the contract.
 *
 * @example
 * ```ts
 * import type { SnapshotStore } from "./snapshot_store.ts";
 * import { bytesToStream, readAllBytes } from "./byte_stream.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * async function roundTrip(store: SnapshotStore): Promise<void> {
 *   const meta = {
 *     lastLogId: { term: 1, index: 10 },
 *     lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
 *     snapshotId: "1-10-0",
 *   };
 *   await store.write(meta, bytesToStream(new Uint8Array(100), 16));
 *   const snap = await store.current();
 *   console.assert(snap?.size === 100);
 *   console.assert((await readAllBytes(snap!.open())).length === 100);
 * }
 * ```
 */
export interface SnapshotStore {
  /**
   * The current snapshot, or `null` when none was ever written. Each call
   * returns a handle whose `open()` streams the data from the start.
   */
  current(): Promise<StoredSnapshot | null>;
  /**
   * Writes a snapshot from a stream of chunks as they come (built locally or
   * received from the leader) and makes it current. Resolves once it is
   * complete, durable and current; rejects with `StorageError` (the previous
   * snapshot still current) if `data` errors or the write fails.
   */
  write(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void>;
  /**
   * Releases the store: a write in progress is abandoned (its `data` stream
   * cancelled, its promise rejected) and later calls reject. Streams already
   * open may still be read.
   */
  close(): Promise<void>;
}
