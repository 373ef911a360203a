/**
 * Byte streams, the shape snapshots travel in: reading a stream into one
 * array, and streaming an array in chunks.
 *
 * @module
 */

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
