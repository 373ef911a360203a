/**
 * {@linkcode countBytes}: the size of a snapshot as it streams by (sent or
 * installed), for logs and counters.
 *
 * @module
 */

/**
 * A pass-through stream that tells `count` the size of each chunk.
 *
 * @example
 * ```ts
 * import { countBytes } from "./byte_count.ts";
 * import { bytesToStream, readAllBytes } from "../byte_stream.ts";
 * let n = 0;
 * await readAllBytes(bytesToStream(new Uint8Array(10), 4).pipeThrough(countBytes((b) => n += b)));
 * console.assert(n === 10);
 * ```
 */
export function countBytes(
  count: (bytes: number) => void,
): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream({
    transform(chunk, controller) {
      count(chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
}
