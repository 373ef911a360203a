/**
 * Byte streams, the shape snapshots travel in: reading a stream into one
 * array, and streaming an array in chunks.
 *
 * @module
 */
import { InvalidArgument } from "./errors.ts";

/**
 * Reads a stream of byte chunks into one array.
 *
 * @example
 * ```ts
 * import { readAllBytes } from "./byte_stream.ts";
 * const bytes = await readAllBytes(new Blob([new Uint8Array([1, 2])]).stream());
 * console.assert(bytes.length === 2);
 * ```
 */
export async function readAllBytes(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/**
 * Streams `bytes` in chunks of at most `chunkSize` bytes (views, not copies).
 *
 * @example
 * ```ts
 * import { bytesToStream, readAllBytes } from "./byte_stream.ts";
 * const back = await readAllBytes(bytesToStream(new Uint8Array(10), 3));
 * console.assert(back.length === 10);
 * ```
 */
export function bytesToStream(bytes: Uint8Array, chunkSize: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.byteLength) {
        controller.close();
        return;
      }
      const end = Math.min(bytes.byteLength, at + chunkSize);
      controller.enqueue(bytes.subarray(at, end));
      at = end;
    },
  });
}

/**
 * Re-cuts a byte stream into chunks of exactly `size` bytes (the last may be
 * shorter). At most one chunk is buffered at a time, so memory stays bounded
 * whatever the source's chunking.
 *
 * @example
 * ```ts
 * import { bytesToStream, rechunk } from "./byte_stream.ts";
 * const sizes: number[] = [];
 * for await (const c of rechunk(bytesToStream(new Uint8Array(10), 3), 4)) sizes.push(c.length);
 * console.assert(sizes.join() === "4,4,2");
 * ```
 */
export function rechunk(
  source: ReadableStream<Uint8Array>,
  size: number,
): ReadableStream<Uint8Array> {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new InvalidArgument("size", `chunk size must be a positive integer, got ${size}`);
  }
  const reader = source.getReader();
  let pending: Uint8Array | null = null; // unconsumed rest of the last source chunk
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let out: Uint8Array | null = null;
      let filled = 0;
      while (filled < size) {
        if (pending === null || pending.byteLength === 0) {
          const { done, value } = await reader.read();
          if (done) break;
          pending = value;
          continue;
        }
        if (out === null && filled === 0 && pending.byteLength >= size) {
          // Fast path: a whole chunk inside the pending bytes, as a view.
          controller.enqueue(pending.subarray(0, size));
          pending = pending.subarray(size);
          return;
        }
        out ??= new Uint8Array(size);
        const n = Math.min(size - filled, pending.byteLength);
        out.set(pending.subarray(0, n), filled);
        filled += n;
        pending = pending.subarray(n);
      }
      if (filled > 0) controller.enqueue(out!.subarray(0, filled));
      if (filled < size) controller.close();
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}
