/**
 * The HTTP transport of `@x/raft`: {@linkcode raftRoutes} serves a node's
 * Raft RPCs as Hono routes, {@linkcode HttpNetwork} sends them with `fetch`.
 * Messages travel as CBOR (`application/cbor`). Kept out of the main entry
 * point so the core does not depend on Hono.
 *
 * @example
 * ```ts
 * import { HttpNetwork, raftRoutes } from "./mod.ts";
 * import { Raft } from "../runtime/raft.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryStateMachine } from "../../kv/mod.ts";
 *
 * const raft = await Raft.create({
 *   id: 1,
 *   logStore: new MemoryLogStore(),
 *   stateMachine: new MemoryStateMachine(),
 *   network: new HttpNetwork({ timeout: 500 }),
 * });
 * const app = raftRoutes(raft); // serve app.fetch on the address peers know for node 1
 * const res = await app.request("/raft/unknown", { method: "POST" });
 * console.assert(res.status === 404);
 * await raft.shutdown();
 * ```
 *
 * @module
 */

export * from "./raft_routes.ts";
export * from "./http_network.ts";
export * from "./admin_routes.ts";
export * from "./prometheus_metrics.ts";
