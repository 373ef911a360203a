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

/**
 * Reads a request's whole body, or returns the number of bytes seen once
 * they exceed `max` (reading no further). A declared `content-length` over
 * `max` is refused unread; the bytes are counted in any case, since a
 * sender may declare less than it sends. A body whose length is declared
 * within `max` is read in one native call ({@linkcode readDeclared}); only
 * a body of undeclared length goes through a stream reader.
 *
 * @example
 * ```ts
 * import { readBody } from "./_bytes.ts";
 * const body = await readBody(new Request("http://x/", { method: "POST", body: "abc" }), 2);
 * console.assert(body === 3);
 * ```
 */
export async function readBody(req: Request, max: number): Promise<Uint8Array | number> {
  const declared = Number(req.headers.get("content-length") ?? NaN);
  if (declared > max) {
    await req.body?.cancel().catch(() => {});
    return declared;
  }
  if (declared >= 0) {
    // Without touching `req.body`: on Deno the getter builds a stream.
    const bytes = await readDeclared(req);
    return bytes.byteLength > max ? bytes.byteLength : bytes;
  }
  const stream = req.body;
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return total;
    }
    chunks.push(value);
  }
  return chunks.length === 0 ? new Uint8Array(0) : concatChunks(chunks, total);
}

/**
 * The whole body of `message` (a request or a response whose length is
 * declared) in one native call. Reading a small body through a stream
 * reader costs several promise turns and, on Bun, the Web Streams
 * machinery: it was ~11% of a Bun leader's CPU under load.
 *
 * Over a socket the server reads exactly the declared length (HTTP/1.1
 * framing), so the body is bounded by it; callers still check the length
 * they get, for a message built in process.
 *
 * @example
 * ```ts
 * import { readDeclared } from "./_bytes.ts";
 * const bytes = await readDeclared(new Response("abc"));
 * console.assert(bytes.length === 3);
 * ```
 */
export async function readDeclared(message: Request | Response): Promise<Uint8Array> {
  return new Uint8Array(await message.arrayBuffer());
}
