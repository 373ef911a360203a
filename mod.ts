/**
 * `@x/raft`: Raft consensus for Deno and Bun, with openraft's feature set.
 *
 * The protocol lives in a pure, synchronous, deterministic engine; a runtime
 * drives it with injected storage, network, clock and randomness. This module
 * is the public API: plain data ({@linkcode LogId}, {@linkcode Entry},
 * {@linkcode Membership}, the RPC messages), configuration
 * ({@linkcode resolveConfig}), typed errors ({@linkcode RaftError} and its
 * subclasses), the injectable {@linkcode Clock} and {@linkcode Random}, and the
 * CBOR codec ({@linkcode encodeMessage}, {@linkcode decodeMessage}, …).
 *
 * @example
 * ```ts
 * import { membershipOf, resolveConfig, votersOf } from "./mod.ts";
 * const config = resolveConfig({ clusterName: "kv", heartbeatInterval: 100 });
 * const membership = membershipOf([1, 2, 3], [4]);
 * console.assert(config.electionTimeoutMin === 150 && votersOf(membership).length === 3);
 * ```
 *
 * @module
 */

export * from "./src/types.ts";
export * from "./src/messages.ts";
export * from "./src/config.ts";
export * from "./src/errors.ts";
export * from "./src/random.ts";
export * from "./src/clock.ts";
export * from "./src/codec.ts";
export * from "./src/storage.ts";
export * from "./src/snapshot_store.ts";
export * from "./src/network.ts";
export * from "./src/byte_stream.ts";
export * from "./src/command_codec.ts";
export { Raft } from "./src/runtime/raft.ts";
export { TypedClient } from "./src/runtime/typed_client.ts";
export type { TypedClientNode } from "./src/runtime/typed_client.ts";
export type {
  CallOptions,
  ClientWriteResult,
  ExpectedLeader,
  LeaderChange,
  Logger,
  MembershipOptions,
  RaftCounters,
  RaftOptions,
  ReadPolicy,
  Span,
  SpanAttributes,
  SpanError,
  SpanName,
  Tracer,
  WriteOptions,
  WriteOutcome,
} from "./src/runtime/raft.ts";
export { consoleLogger, isLogLevel, LOG_LEVELS } from "./src/runtime/console_logger.ts";
export type { ConsoleLoggerOptions, LogLevel } from "./src/runtime/console_logger.ts";
export {
  Histogram,
  RPC_OUTCOMES,
  RPC_SECONDS_BUCKETS,
  RPC_TYPES,
  STORAGE_SECONDS_BUCKETS,
} from "./src/runtime/counters.ts";
export type { HistogramSnapshot, RpcCounts, RpcOutcome, RpcType } from "./src/runtime/counters.ts";
export { MetricsWatch, Wait } from "./src/runtime/metrics.ts";
export type { RaftMetrics, ReplicationMetrics, ServerState } from "./src/runtime/metrics.ts";
export { applyChange } from "./src/runtime/change_members.ts";
export { APPEND_FRAMING_BYTES } from "./src/runtime/append_batches.ts";
export type { ChangeMembers } from "./src/runtime/change_members.ts";
export { RaftEngine } from "./src/engine/engine.ts";
export type { EngineStatus, PeerStatus } from "./src/engine/engine.ts";
export type {
  AdminResult,
  AppendPlan,
  Command,
  EngineConfig,
  EngineInit,
  EngineRandom,
  FatalReason,
  ProposeResult,
  ReadFailure,
  Refusal,
} from "./src/engine/commands.ts";
export type { Role, RoleReason } from "./src/engine/engine_core.ts";
