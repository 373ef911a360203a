/**
 * `@x/raft/node`: the pieces of a deployable node, for any state machine.
 *
 * - {@linkcode parseNodeFlags} / {@linkcode NODE_HELP}: the flags (`--id`,
 *   `--addr`, `--data`, `--storage`, `--init`, `--join`, `--cluster-id`,
 *   `--secret`, `--client-token`, `--tls-*`, timing), each also a `RAFT_*`
 *   environment variable; a bad one throws {@linkcode FlagError};
 * - {@linkcode startNode}: storage, `Raft` over `HttpNetwork`, an HTTP(S)
 *   server with the Raft and admin routes, `/metrics` (Prometheus text),
 *   `/metrics.json`, the dashboard at `/` and the application's routes,
 *   `--init` / `--join` (`--init --join <the others>`: form the cluster
 *   only if none of them belongs to one), and a graceful `stop()` (a leader
 *   hands leadership over first);
 * - {@linkcode runNode}: the `main` of a node process (help, exit codes,
 *   signals, a node that stops by itself exits 1);
 * - the parts they are made of: {@linkcode serve}, {@linkcode joinCluster}
 *   (a voter that lost its data is refused: {@linkcode RejoinRefused}),
 *   {@linkcode probeCluster} (what `--init --join` asks before forming a
 *   cluster), {@linkcode handOverLeadership}, {@linkcode onNodeStopped},
 *   {@linkcode nodeMetrics}, {@linkcode dashboard} and its
 *   {@linkcode ClusterWatch} (server-sent events of the whole cluster).
 *
 * A whole replicated key-value server:
 *
 * ```ts
 * import { runNode } from "./mod.ts";
 * import { kvRoutes, MemoryStateMachine } from "../kv/mod.ts";
 *
 * // The main of kv.ts (it reads the flags and serves until a signal stops it).
 * async function main(): Promise<void> {
 *   await runNode({
 *     stateMachine: (snapshots) =>
 *       snapshots === null ? new MemoryStateMachine() : MemoryStateMachine.open(snapshots),
 *     routes: (raft, sm, flags) =>
 *       kvRoutes(raft, sm, flags.clientToken !== undefined ? { token: flags.clientToken } : {}),
 *   }, { name: "kv.ts" });
 * }
 * ```
 *
 * Runs under Deno and Bun (this module uses their servers and signals).
 *
 * @module
 */

export * from "./node_flags.ts";
export * from "./serve.ts";
export * from "./join_cluster.ts";
export * from "./leader_handover.ts";
export * from "./node_stopped.ts";
export * from "./node_metrics.ts";
export * from "./cluster_events.ts";
export * from "./dashboard.ts";
export * from "./start_node.ts";
export * from "./node_process.ts";
