/**
 * How a {@linkcode Raft} node reaches its peers. The HTTP transport
 * (`transport/`) and the in-process network (`testing/`) implement it.
 *
 * @module
 */

import type {
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  RaftRequest,
  RaftResponse,
} from "./messages.ts";
import type { NodeId, RaftNode } from "./types.ts";

/**
 * Options of one RPC.
 *
 * @example
 * ```ts
 * import type { SendOptions } from "./network.ts";
 * const opts: SendOptions = { signal: AbortSignal.timeout(500) };
 * ```
 */
export interface SendOptions {
  /** Aborts the call (timeout, shutdown). */
  readonly signal?: AbortSignal;
}

/**
 * Sends Raft requests to other nodes. A rejected promise means the target
 * could not be reached (or did not answer in time); the runtime retries.
 *
 * @example
 * ```ts
 * import type { RaftNetwork } from "./network.ts";
 * const silent: RaftNetwork = {
 *   send: () => Promise.reject(new Error("unreachable")),
 *   installSnapshot: () => Promise.reject(new Error("unreachable")),
 * };
 * ```
 */
export interface RaftNetwork {
  /** Sends `request` to `target` (at `node.addr`) and resolves with its response. */
  send(
    target: NodeId,
    node: RaftNode,
    request: RaftRequest,
    options?: SendOptions,
  ): Promise<RaftResponse>;
  /**
   * Sends a snapshot: `request` carries its metadata, `data` its bytes, as a
   * stream of chunks (read it once, as it is sent). Resolves with the
   * target's answer.
   */
  installSnapshot(
    target: NodeId,
    node: RaftNode,
    request: InstallSnapshotRequest,
    data: ReadableStream<Uint8Array>,
    options?: SendOptions,
  ): Promise<InstallSnapshotResponse>;
}

/**
 * Reads a stream of byte chunks into one array.
 *
 * @example
 * ```ts
 * import { readAllBytes } from "./network.ts";
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
 * import { bytesToStream, readAllBytes } from "./network.ts";
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
