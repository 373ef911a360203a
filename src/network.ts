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
  /**
   * Sends `request` to `target` (at `node.addr`) and resolves with its
   * response: every request type but `install-snapshot` — appends, votes,
   * pre-votes, TimeoutNow, and the `read-index` request of a follower read
   * (answered by a `read-index-response`). An implementation that routes by
   * `request.type` (as `HttpNetwork` and the test kit's `MemoryNetwork` do)
   * carries a new request type without changes.
   */
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
