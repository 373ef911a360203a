/**
 * A workaround, private to `node/`: a {@linkcode SnapshotStore} whose data
 * streams are never cancelled while the underlying stream is still opening.
 *
 * `FileSnapshotStore`'s data stream opens its file in `start()`; a `cancel()`
 * that arrives before that open finished (a snapshot transfer to a peer that
 * refuses the connection at once) finds no handle to close, and the handle
 * opened afterwards is never closed. Bun ends the process when it
 * garbage-collects an unclosed `FileHandle`. This wrapper opens the stream on
 * the first read only and lets a cancel wait for a read in progress. Remove
 * it once the store's stream handles a cancel during its start.
 *
 * @module
 */

import type { SnapshotStore, StoredSnapshot } from "../src/snapshot_store.ts";

/** `store`, with data streams that open lazily and cancel only between reads. */
export function guardSnapshotStore(store: SnapshotStore): SnapshotStore {
  return {
    current: async (): Promise<StoredSnapshot | null> => {
      const snap = await store.current();
      if (snap === null) return null;
      return { meta: snap.meta, size: snap.size, open: () => _lazy(() => snap.open()) };
    },
    write: (meta, data) => store.write(meta, data),
    close: () => store.close(),
  };
}

function _lazy(open: () => ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let reading: Promise<unknown> = Promise.resolve();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      reader ??= open().getReader();
      const read = reader.read();
      reading = read.catch(() => {});
      const { done, value } = await read;
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      await reading;
      await reader?.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
