/**
 * {@linkcode prometheusMetrics}: a node's metrics in the Prometheus text
 * exposition format 0.0.4, for `GET /metrics` (serve it with
 * {@linkcode PROMETHEUS_CONTENT_TYPE}). Every family has `# HELP` and
 * `# TYPE`; names have the `raft_` prefix and their unit; labels have a
 * bounded cardinality (a role, a peer id of the membership).
 *
 * ```text
 * raft_node_id                        gauge   this node's id
 * raft_term                           gauge   current term
 * raft_state{state}                   gauge   1 for the node's role, 0 for the others
 * raft_has_leader                     gauge   1 when the node knows a leader
 * raft_leader_id                      gauge   the leader's id (absent when none)
 * raft_last_log_index                 gauge   index of the last log entry
 * raft_committed_index                gauge   last committed index
 * raft_applied_index                  gauge   last applied index
 * raft_snapshot_index                 gauge   last index in the current snapshot
 * raft_purged_index                   gauge   last purged index
 * raft_membership_voters              gauge   voters in the effective membership
 * raft_membership_learners            gauge   learners in the effective membership
 * raft_membership_joint               gauge   1 while a joint membership is in effect
 * raft_replication_matched_index{peer} gauge  leader only: last index stored on the peer
 * raft_replication_lag_entries{peer}  gauge   leader only: entries the peer is behind
 * raft_replication_ack_age_seconds{peer} gauge leader only: since the peer last answered
 * raft_quorum_ack_age_seconds         gauge   leader only: since a quorum last acknowledged it
 * raft_stopped_by_error{code}         gauge   1 when a fatal error stopped the node
 * raft_elections_started_total        counter elections this node started
 * raft_leader_changes_total           counter times this node learned of a new leader
 * raft_proposals_total                counter entries proposed as leader
 * raft_append_requests_sent_total     counter append requests sent (heartbeats included)
 * raft_append_requests_received_total counter append requests received (heartbeats included)
 * raft_snapshots_built_total          counter snapshots the state machine built
 * raft_snapshots_sent_total           counter snapshots sent to peers
 * raft_snapshots_installed_total      counter snapshots received and installed
 * raft_log_reversions_total           counter peers found with a log that went backwards
 * raft_follower_reads_total           counter follower reads confirmed through the leader
 * raft_snapshot_bytes_total{kind}     counter bytes of snapshots built, sent, installed
 * raft_proposals_pending              gauge   writes not answered yet (queued or in the log)
 * raft_rpcs_sent_total{type,outcome}  counter RPCs sent, by type and outcome
 * raft_rpcs_received_total{type,outcome} counter RPCs received, by type and answer
 * raft_rpc_duration_seconds{type}     histogram RPCs sent: from the send to the answer or failure
 * raft_storage_append_duration_seconds histogram log store append calls (fsync included)
 * process_resident_memory_bytes       gauge   with the `memory` option
 * process_heap_used_bytes             gauge   with the `memory` option
 * process_heap_total_bytes            gauge   with the `memory` option
 * ```
 *
 * The counters are those of `raft.counters()`, when the node has them
 * (each is left out when absent). Building it reads `raft.metrics.current`
 * and the counters once: no work per log entry, nothing kept between
 * scrapes.
 *
 * @module
 */

import type { RaftMetrics, ServerState } from "../runtime/metrics.ts";
import {
  type HistogramSnapshot,
  RPC_OUTCOMES,
  RPC_TYPES,
  type RpcCounts,
  type RpcType,
} from "../runtime/counters.ts";
import { learnersOf, votersOf } from "../types.ts";

/**
 * The `Content-Type` of the text exposition format 0.0.4.
 *
 * @example
 * ```ts
 * import { PROMETHEUS_CONTENT_TYPE } from "./prometheus_metrics.ts";
 * const headers = { "content-type": PROMETHEUS_CONTENT_TYPE };
 * console.assert(headers["content-type"].startsWith("text/plain"));
 * ```
 */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * The process's memory, in bytes, as `Deno.memoryUsage()` and Node's or
 * Bun's `process.memoryUsage()` report it.
 *
 * @example
 * ```ts
 * import type { ProcessMemory } from "./prometheus_metrics.ts";
 * const m: ProcessMemory = { rss: 50e6, heapTotal: 20e6, heapUsed: 10e6 };
 * ```
 */
export interface ProcessMemory {
  /** Resident set size. */
  readonly rss: number;
  /** Heap allocated by the JavaScript engine. */
  readonly heapTotal: number;
  /** Heap in use. */
  readonly heapUsed: number;
}

/**
 * Options of {@linkcode prometheusMetrics}.
 *
 * @example
 * ```ts
 * import type { PrometheusOptions } from "./prometheus_metrics.ts";
 * const options: PrometheusOptions = {
 *   memory: () => ({ rss: 50e6, heapTotal: 20e6, heapUsed: 10e6 }),
 * };
 * ```
 */
export interface PrometheusOptions {
  /**
   * Reads the process's memory (e.g. `() => Deno.memoryUsage()`); the
   * `process_*` families are left out without it, or when it throws.
   */
  readonly memory?: () => ProcessMemory;
}

/**
 * The event counters {@linkcode prometheusMetrics} exposes, as a node's
 * `counters()` reports them (each optional: those absent are left out).
 *
 * @example
 * ```ts
 * import type { PrometheusCounters } from "./prometheus_metrics.ts";
 * const c: PrometheusCounters = { electionsStarted: 1, leaderChanges: 1 };
 * ```
 */
export interface PrometheusCounters {
  /** Elections this node started. */
  readonly electionsStarted?: number;
  /** Times this node learned of a new leader. */
  readonly leaderChanges?: number;
  /** Entries proposed as leader. */
  readonly proposals?: number;
  /** Append requests sent. */
  readonly appendsSent?: number;
  /** Append requests received. */
  readonly appendsReceived?: number;
  /** Snapshots built. */
  readonly snapshotsBuilt?: number;
  /** Snapshots sent to peers. */
  readonly snapshotsSent?: number;
  /** Snapshots received and installed. */
  readonly snapshotsInstalled?: number;
  /** Peers found with a log that went backwards. */
  readonly logReversions?: number;
  /** Follower reads confirmed through the leader. */
  readonly followerReads?: number;
  /** Writes not answered yet. */
  readonly pendingProposals?: number;
  /** Bytes of snapshots built, sent and installed. */
  readonly snapshotBytes?: {
    readonly built: number;
    readonly sent: number;
    readonly installed: number;
  };
  /** RPCs sent, by type and outcome. */
  readonly rpcsSent?: RpcCounts;
  /** RPCs received, by type and outcome. */
  readonly rpcsReceived?: RpcCounts;
  /** Latency of the RPCs sent, by type. */
  readonly rpcDuration?: Readonly<Record<RpcType, HistogramSnapshot>>;
  /** Duration of the log store's append calls. */
  readonly storageAppendDuration?: HistogramSnapshot;
}

/** The plain counter families: name, field, help. */
const COUNTERS: readonly (readonly [string, _NumberField, string])[] = [
  ["raft_elections_started_total", "electionsStarted", "Elections this node started."],
  ["raft_leader_changes_total", "leaderChanges", "Times this node learned of a new leader."],
  ["raft_proposals_total", "proposals", "Entries this node proposed as leader."],
  [
    "raft_append_requests_sent_total",
    "appendsSent",
    "Append requests sent to peers (heartbeats included).",
  ],
  [
    "raft_append_requests_received_total",
    "appendsReceived",
    "Append requests received from leaders (heartbeats included).",
  ],
  ["raft_snapshots_built_total", "snapshotsBuilt", "Snapshots the state machine built."],
  ["raft_snapshots_sent_total", "snapshotsSent", "Snapshots sent to peers (transfer completed)."],
  [
    "raft_snapshots_installed_total",
    "snapshotsInstalled",
    "Snapshots received and installed into the state machine.",
  ],
  [
    "raft_log_reversions_total",
    "logReversions",
    "As leader: peers found with a log that went backwards (see allowLogReversion).",
  ],
  [
    "raft_follower_reads_total",
    "followerReads",
    "Follower reads this node confirmed through the leader.",
  ],
];

/** The fields of {@linkcode PrometheusCounters} that are numbers. */
type _NumberField = {
  [K in keyof PrometheusCounters]-?: NonNullable<PrometheusCounters[K]> extends number ? K
    : never;
}[keyof PrometheusCounters];

/**
 * What {@linkcode prometheusMetrics} reads; a `Raft` satisfies it.
 *
 * @example
 * ```ts
 * import type { MetricsSource } from "./prometheus_metrics.ts";
 * import type { Raft } from "../runtime/raft.ts";
 * const source = (raft: Raft<unknown>): MetricsSource => raft;
 * ```
 */
export interface MetricsSource {
  /** The node's metrics. */
  readonly metrics: { readonly current: RaftMetrics };
  /** The node's event counters, if it has them. */
  counters?(): PrometheusCounters;
}

/** Every role, in the order `raft_state` lists them. */
const STATES: readonly ServerState[] = ["leader", "follower", "candidate", "learner", "shutdown"];

/**
 * The metrics of `raft` in the Prometheus text exposition format 0.0.4
 * (the families are listed in the module doc).
 *
 * @example
 * ```ts
 * import { prometheusMetrics } from "./prometheus_metrics.ts";
 * import { Raft } from "../runtime/raft.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryStateMachine } from "../../kv/mod.ts";
 * import { MemoryNetwork } from "../../testing/memory_network.ts";
 *
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * const text = prometheusMetrics(raft);
 * console.assert(text.includes("\nraft_has_leader 0\n"));
 * await raft.shutdown();
 * ```
 */
export function prometheusMetrics(raft: MetricsSource, options?: PrometheusOptions): string;
export function prometheusMetrics(raft: MetricsSource, options: PrometheusOptions = {}): string {
  const m = raft.metrics.current;
  const out: string[] = [];
  const family = (name: string, type: "gauge" | "counter" | "histogram", help: string): void => {
    out.push(`# HELP ${name} ${_escapeHelp(help)}`, `# TYPE ${name} ${type}`);
  };
  const gauge = (name: string, help: string, value: number): void => {
    family(name, "gauge", help);
    out.push(`${name} ${_value(value)}`);
  };
  const histogram = (name: string, labels: string, h: HistogramSnapshot): void => {
    let cumulative = 0;
    for (let i = 0; i < h.bounds.length; i++) {
      cumulative += h.counts[i] ?? 0;
      out.push(`${name}_bucket{${labels}le="${_value(h.bounds[i]!)}"} ${cumulative}`);
    }
    out.push(`${name}_bucket{${labels}le="+Inf"} ${h.count}`);
    const plain = labels === "" ? "" : `{${labels.slice(0, -1)}}`;
    out.push(`${name}_sum${plain} ${_value(h.sum)}`, `${name}_count${plain} ${h.count}`);
  };
  const byTypeAndOutcome = (name: string, help: string, counts: RpcCounts | undefined): void => {
    if (counts === undefined) return;
    family(name, "counter", help);
    for (const type of RPC_TYPES) {
      for (const outcome of RPC_OUTCOMES) {
        const n = counts[type]?.[outcome] ?? 0;
        out.push(`${name}{type="${type}",outcome="${outcome}"} ${_value(n)}`);
      }
    }
  };

  gauge("raft_node_id", "The id of this node.", m.id);
  gauge("raft_term", "The current term.", m.currentTerm);
  family("raft_state", "gauge", "The role of this node: 1 for its role, 0 for the others.");
  for (const s of STATES) out.push(`raft_state{state="${s}"} ${m.state === s ? 1 : 0}`);
  gauge(
    "raft_has_leader",
    "1 when this node knows a leader, else 0.",
    m.currentLeader !== null ? 1 : 0,
  );
  family("raft_leader_id", "gauge", "The id of the leader this node knows of (absent when none).");
  if (m.currentLeader !== null) out.push(`raft_leader_id ${_value(m.currentLeader)}`);
  gauge("raft_last_log_index", "Index of the last log entry (0 for none).", m.lastLogIndex);
  gauge("raft_committed_index", "Last committed log index.", _index(m.committed));
  gauge(
    "raft_applied_index",
    "Last log index applied to the state machine.",
    _index(m.lastApplied),
  );
  gauge("raft_snapshot_index", "Last log index in the current snapshot.", _index(m.snapshot));
  gauge("raft_purged_index", "Last purged log index.", _index(m.purged));

  const membership = m.membership.membership;
  gauge(
    "raft_membership_voters",
    "Voters in the effective membership.",
    votersOf(membership).length,
  );
  gauge(
    "raft_membership_learners",
    "Learners in the effective membership.",
    learnersOf(membership).length,
  );
  gauge(
    "raft_membership_joint",
    "1 while a joint (two-config) membership is in effect, else 0.",
    membership.configs.length > 1 ? 1 : 0,
  );

  family(
    "raft_replication_matched_index",
    "gauge",
    "Leader only: the last log index known stored on each peer.",
  );
  const replication = m.replication === null ? [] : [...m.replication];
  for (const [peer, r] of replication) {
    out.push(`raft_replication_matched_index{peer="${peer}"} ${_value(_index(r.matched))}`);
  }
  family(
    "raft_replication_lag_entries",
    "gauge",
    "Leader only: entries each peer is behind the leader's last log index.",
  );
  for (const [peer, r] of replication) {
    out.push(`raft_replication_lag_entries{peer="${peer}"} ${_value(r.lag)}`);
  }
  family(
    "raft_replication_ack_age_seconds",
    "gauge",
    "Leader only: seconds since each peer last answered this leader (absent if it never did).",
  );
  for (const [peer, r] of replication) {
    const ms = (r as { readonly millisSinceAck?: number | null }).millisSinceAck;
    if (typeof ms === "number") {
      out.push(`raft_replication_ack_age_seconds{peer="${peer}"} ${_value(ms / 1000)}`);
    }
  }
  family(
    "raft_quorum_ack_age_seconds",
    "gauge",
    "Leader only: seconds since a quorum last acknowledged this leader.",
  );
  if (m.millisSinceQuorumAck !== null) {
    out.push(`raft_quorum_ack_age_seconds ${_value(m.millisSinceQuorumAck / 1000)}`);
  }
  family(
    "raft_stopped_by_error",
    "gauge",
    "1, labelled with the error code, when a fatal error stopped the node (absent otherwise).",
  );
  if (m.storageError !== null) {
    out.push(`raft_stopped_by_error{code="${_escapeLabel(m.storageError.code)}"} 1`);
  }

  const counters = typeof raft.counters === "function" ? raft.counters() : {};
  for (const [name, field, help] of COUNTERS) {
    const n = counters[field];
    if (typeof n !== "number") continue;
    family(name, "counter", help);
    out.push(`${name} ${_value(n)}`);
  }
  if (counters.snapshotBytes !== undefined) {
    family(
      "raft_snapshot_bytes_total",
      "counter",
      "Bytes of snapshots: built (when the state machine gives their size), sent, installed.",
    );
    for (const kind of ["built", "sent", "installed"] as const) {
      out.push(`raft_snapshot_bytes_total{kind="${kind}"} ${_value(counters.snapshotBytes[kind])}`);
    }
  }
  if (typeof counters.pendingProposals === "number") {
    gauge(
      "raft_proposals_pending",
      "Writes not answered yet: queued, or proposed and waiting to be applied.",
      counters.pendingProposals,
    );
  }
  byTypeAndOutcome(
    "raft_rpcs_sent_total",
    "RPCs sent to peers, by type and outcome (ok, rejected, refused, error).",
    counters.rpcsSent,
  );
  byTypeAndOutcome(
    "raft_rpcs_received_total",
    "RPCs received from peers, by type and how this node answered (ok, rejected, refused).",
    counters.rpcsReceived,
  );
  if (counters.rpcDuration !== undefined) {
    family(
      "raft_rpc_duration_seconds",
      "histogram",
      "RPCs sent: seconds from the send to the answer or failure, by type.",
    );
    for (const type of RPC_TYPES) {
      const h = counters.rpcDuration[type];
      if (h !== undefined) histogram("raft_rpc_duration_seconds", `type="${type}",`, h);
    }
  }
  if (counters.storageAppendDuration !== undefined) {
    family(
      "raft_storage_append_duration_seconds",
      "histogram",
      "Seconds each log store append call took (the write and its fsync).",
    );
    histogram("raft_storage_append_duration_seconds", "", counters.storageAppendDuration);
  }

  const memory = _memory(options.memory);
  if (memory !== null) {
    gauge("process_resident_memory_bytes", "Resident memory size in bytes.", memory.rss);
    gauge("process_heap_used_bytes", "JavaScript heap in use, in bytes.", memory.heapUsed);
    gauge("process_heap_total_bytes", "JavaScript heap allocated, in bytes.", memory.heapTotal);
  }
  out.push("");
  return out.join("\n");
}

function _memory(read: (() => ProcessMemory) | undefined): ProcessMemory | null {
  if (read === undefined) return null;
  try {
    return read();
  } catch {
    return null;
  }
}

function _index(id: { readonly index: number } | null): number {
  return id?.index ?? 0;
}

/** A sample value: Prometheus spells the non-finite ones `NaN`, `+Inf`, `-Inf`. */
function _value(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

function _escapeHelp(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function _escapeLabel(text: string): string {
  return text.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
}
