/**
 * {@linkcode onNodeStopped}: notices a node that stopped by itself — its
 * storage failed (a full disk, a Deno KV database opened by another
 * process) or an internal error stopped it — so the process can exit
 * instead of staying up answering 503.
 *
 * @module
 */

import type { RaftError } from "../src/errors.ts";
import type { Raft } from "../src/runtime/raft.ts";

/**
 * Calls `handler` once when `raft` stops, with the error that stopped it
 * (`StorageError`, `ApplyError`, `LogDiverged`, `InternalError`, or
 * `ShuttingDown` when it was shut down without one): {@linkcode Raft.onStopped},
 * which costs nothing while the node runs (watching `raft.metrics` instead
 * would build a metrics object on every turn). Returns a function that stops
 * watching: call it before shutting the node down yourself.
 *
 * @example
 * ```ts
 * import { onNodeStopped } from "./node_stopped.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { MemoryNetwork } from "../testing/memory_network.ts";
 *
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * const seen: string[] = [];
 * onNodeStopped(raft, (e) => seen.push(e.code));
 * await raft.shutdown();
 * console.assert(seen.join() === "ShuttingDown");
 * ```
 */
export function onNodeStopped<R>(raft: Raft<R>, handler: (error: RaftError) => void): () => void {
  return raft.onStopped(handler);
}
