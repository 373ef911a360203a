/**
 * Byte helpers shared by the transport's server and client.
 *
 * @module
 */

/**
 * `chunks` (of `total` bytes) as one array; the chunk itself when there is
 * only one.
 *
 * @example
 * ```ts
 * import { concatChunks } from "./_bytes.ts";
 * const all = concatChunks([new Uint8Array([1]), new Uint8Array([2, 3])], 3);
 * console.assert(all.length === 3 && all[2] === 3);
 * ```
 */
export function concatChunks(chunks: readonly Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
