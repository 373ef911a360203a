/**
 * Metrics a node publishes after every turn of its loop, and the watcher
 * that lets applications subscribe to them or wait for a condition.
 *
 * @module
 */

import type { ApplyError, InternalError, LogDiverged, StorageError } from "../errors.ts";
import { Timeout } from "../errors.ts";
import type { Clock } from "../clock.ts";
import type { EngineStatus } from "../engine/engine.ts";
import type { LogId, NodeId, StoredMembership, Vote } from "../types.ts";
import { votersOf } from "../types.ts";

/**
 * A node's role as reported in metrics; `shutdown` once it stopped.
 *
 * @example
 * ```ts
 * import type { ServerState } from "./metrics.ts";
 * const s: ServerState = "leader";
 * ```
 */
export type ServerState = "learner" | "follower" | "candidate" | "leader" | "shutdown";

/**
 * Replication of one peer, on the leader.
 *
 * @example
 * ```ts
 * import type { ReplicationMetrics } from "./metrics.ts";
 * const r: ReplicationMetrics = {
 *   matched: { term: 1, index: 5 }, lag: 0, lagging: false, millisSinceAck: 12,
 * };
 * ```
 */
export interface ReplicationMetrics {
  /** Last log id known stored on the peer. */
  readonly matched: LogId | null;
  /** Entries the peer is behind the leader's last log index. */
  readonly lag: number;
  /** Whether `lag` exceeds the node's `replicationLagThreshold`. */
  readonly lagging: boolean;
  /**
   * Milliseconds since the peer last answered this leader (an append,
   * heartbeat or snapshot response), or `null` if it never did.
   */
  readonly millisSinceAck: number | null;
}

/**
 * A snapshot of a node's state.
 *
 * @example
 * ```ts
 * import type { RaftMetrics } from "./metrics.ts";
 * function isLeader(m: RaftMetrics): boolean { return m.state === "leader"; }
 * ```
 */
export interface RaftMetrics {
  /** This node. */
  readonly id: NodeId;
  /** Role, or `shutdown`. */
  readonly state: ServerState;
  /** Current term. */
  readonly currentTerm: number;
  /** Current vote. */
  readonly vote: Vote;
  /** The leader this node knows of, or `null`. */
  readonly currentLeader: NodeId | null;
  /** Last log id appended (not necessarily durable). */
  readonly lastLogId: LogId | null;
  /** Index of the last log entry (0 for an empty log). */
  readonly lastLogIndex: number;
  /** Last committed log id. */
  readonly committed: LogId | null;
  /** Last log id applied to the state machine. */
  readonly lastApplied: LogId | null;
  /** Last log id of the current snapshot. */
  readonly snapshot: LogId | null;
  /** Last purged log id. */
  readonly purged: LogId | null;
  /** The effective membership. */
  readonly membership: StoredMembership;
  /** Leader only: replication state of each peer; `null` elsewhere. */
  readonly replication: ReadonlyMap<NodeId, ReplicationMetrics> | null;
  /** Leader only: milliseconds since a quorum last acknowledged it. */
  readonly millisSinceQuorumAck: number | null;
  /**
   * The fatal error that stopped the node, if any: storage failed
   * ({@linkcode StorageError}), or an internal invariant broke
   * ({@linkcode InternalError}, a bug: the node stops rather than risk its data),
   * or the state machine's `apply` failed ({@linkcode ApplyError}), or a
   * leader's append contradicted this node's committed log ({@linkcode LogDiverged}).
   */
  readonly storageError: StorageError | InternalError | ApplyError | LogDiverged | null;
}

/**
 * The metrics of node `node.id` whose engine reports `status`: the role is
 * `shutdown` once the node stopped; replication is reported on a leader
 * only.
 */
export function metricsOf(
  status: EngineStatus,
  node: {
    readonly id: NodeId;
    readonly stopped: boolean;
    readonly fatal: StorageError | InternalError | ApplyError | LogDiverged | null;
    readonly clock: Clock;
    /** `replicationLagThreshold`: a peer further behind is `lagging`. */
    readonly lagThreshold: number;
  },
): RaftMetrics {
  const s = status;
  let replication: Map<NodeId, ReplicationMetrics> | null = null;
  const lastIndex = s.lastLogId?.index ?? 0;
  if (s.role === "leader") {
    replication = new Map();
    for (const [id, p] of s.replication) {
      const lag = lastIndex - (p.matched?.index ?? 0);
      replication.set(id, {
        matched: p.matched,
        lag,
        lagging: lag > node.lagThreshold,
        millisSinceAck: p.ackedAt === null ? null : node.clock.now() - p.ackedAt,
      });
    }
  }
  return {
    id: node.id,
    state: node.stopped ? "shutdown" : s.role,
    currentTerm: s.term,
    vote: s.vote,
    currentLeader: s.leaderId,
    lastLogId: s.lastLogId,
    lastLogIndex: lastIndex,
    committed: s.committed,
    lastApplied: s.applied,
    snapshot: s.snapshot?.lastLogId ?? null,
    purged: s.purged,
    membership: s.membership,
    replication,
    millisSinceQuorumAck: s.quorumAckAt === null ? null : node.clock.now() - s.quorumAckAt,
    storageError: node.fatal,
  };
}

/**
 * Waits for metrics to satisfy a condition, within a timeout. Each method
 * resolves with the first metrics that satisfy it (the current ones if they
 * already do) or rejects with {@linkcode Timeout}.
 *
 * @example
 * ```ts
 * import { Raft } from "./raft.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryStateMachine } from "../../kv/mod.ts";
 * import { MemoryNetwork } from "../../testing/memory_network.ts";
 *
 * const net = new MemoryNetwork();
 * const raft = await Raft.create({
 *   id: 1,
 *   logStore: new MemoryLogStore(),
 *   stateMachine: new MemoryStateMachine(),
 *   network: net.client(1),
 * });
 * net.register(1, (_from, req, data) => raft.handle(req, data));
 * await raft.initialize([1]);
 * await raft.metrics.wait({ timeout: 5000 }).leader(1);
 * await raft.metrics.wait({ timeout: 5000 }).appliedAtLeast(1); // the leader's blank entry
 * await raft.shutdown();
 * ```
 */
export class Wait {
  readonly #watch: MetricsWatch;
  readonly #timeout: number;

  /**
   * Creates a {@linkcode Wait}.
   *
   * @param watch the metrics source
   * @param timeout ms
   */
  constructor(watch: MetricsWatch, timeout: number) {
    this.#watch = watch;
    this.#timeout = timeout;
  }

  /** Until `predicate(metrics)` holds. */
  metrics(predicate: (m: RaftMetrics) => boolean, what = "metrics"): Promise<RaftMetrics> {
    return this.#watch.until(predicate, this.#timeout, what);
  }

  /** Until the node's role is `state`. */
  role(state: ServerState): Promise<RaftMetrics> {
    return this.metrics((m) => m.state === state, `role ${state}`);
  }

  /** Until the node knows a leader (or the given one). */
  leader(id?: NodeId): Promise<RaftMetrics> {
    return this.metrics(
      (m) => m.currentLeader !== null && (id === undefined || m.currentLeader === id),
      `leader ${id ?? "any"}`,
    );
  }

  /** Until the last log index is at least `index`. */
  logIndexAtLeast(index: number): Promise<RaftMetrics> {
    return this.metrics((m) => m.lastLogIndex >= index, `log index >= ${index}`);
  }

  /** Until the last applied index is at least `index`. */
  appliedAtLeast(index: number): Promise<RaftMetrics> {
    return this.metrics((m) => (m.lastApplied?.index ?? 0) >= index, `applied >= ${index}`);
  }

  /** Until the committed index is at least `index`. */
  committedAtLeast(index: number): Promise<RaftMetrics> {
    return this.metrics((m) => (m.committed?.index ?? 0) >= index, `committed >= ${index}`);
  }

  /** Until the current snapshot covers at least `index`. */
  snapshotAtLeast(index: number): Promise<RaftMetrics> {
    return this.metrics((m) => (m.snapshot?.index ?? 0) >= index, `snapshot >= ${index}`);
  }

  /** Until the log is purged up to at least `index`. */
  purgedAtLeast(index: number): Promise<RaftMetrics> {
    return this.metrics((m) => (m.purged?.index ?? 0) >= index, `purged >= ${index}`);
  }

  /**
   * Until the vote's term is at least `term`; with `votedFor`, until the
   * vote is exactly `votedFor` (`null`: none) in `term`.
   */
  vote(term: number, votedFor?: NodeId | null): Promise<RaftMetrics> {
    return this.metrics(
      (m) =>
        votedFor === undefined
          ? m.vote.term >= term
          : m.vote.term === term && m.vote.votedFor === votedFor,
      `vote term ${term}` + (votedFor === undefined ? "" : ` for ${votedFor}`),
    );
  }

  /** Until the effective membership's voters are exactly `voters`. */
  members(voters: Iterable<NodeId>): Promise<RaftMetrics> {
    const want = [...new Set(voters)].sort((a, b) => a - b).join(",");
    return this.metrics(
      (m) => votersOf(m.membership.membership).join(",") === want,
      `voters [${want}]`,
    );
  }
}

/**
 * Holds the latest metrics, notifies subscribers, and serves {@linkcode Wait}.
 *
 * @example
 * ```ts
 * import { Raft } from "./raft.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryStateMachine } from "../../kv/mod.ts";
 * import { MemoryNetwork } from "../../testing/memory_network.ts";
 *
 * const net = new MemoryNetwork();
 * const raft = await Raft.create({
 *   id: 1,
 *   logStore: new MemoryLogStore(),
 *   stateMachine: new MemoryStateMachine(),
 *   network: net.client(1),
 * });
 * net.register(1, (_from, req, data) => raft.handle(req, data));
 * const states: string[] = [];
 * const off = raft.metrics.subscribe((m) => states.push(m.state));
 * await raft.initialize([1]);
 * await raft.metrics.wait({ timeout: 5000 }).role("leader");
 * off();
 * console.assert(states.includes("leader"));
 * await raft.shutdown();
 * ```
 */
export class MetricsWatch {
  #current: RaftMetrics;
  readonly #listeners: Set<(m: RaftMetrics) => void> = new Set();
  readonly #clock: Clock;

  /** Starts with `initial`. */
  constructor(initial: RaftMetrics, clock: Clock) {
    this.#current = initial;
    this.#clock = clock;
  }

  #source: (() => RaftMetrics) | null = null;
  #dirty = false;

  /** The latest metrics. */
  get current(): RaftMetrics {
    if (this.#dirty) {
      this.#dirty = false;
      this.#current = this.#source!();
    }
    return this.#current;
  }

  /**
   * Runtime only: the metrics may have changed. They are rebuilt with
   * `source` at once when somebody listens, otherwise when next read.
   */
  invalidate(source: () => RaftMetrics): void {
    this.#source = source;
    if (this.#listeners.size > 0) this.publish(source());
    else this.#dirty = true;
  }

  /** Calls `listener` with every new metrics; returns a function that unsubscribes. */
  subscribe(listener: (m: RaftMetrics) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** A waiter whose conditions must hold within `timeout` ms (default 10 s). */
  wait(options?: { timeout?: number }): Wait;
  wait(options: { timeout?: number } = {}): Wait {
    return new Wait(this, options.timeout ?? 10_000);
  }

  /** Publishes new metrics (runtime only). */
  publish(m: RaftMetrics): void {
    this.#dirty = false;
    this.#current = m;
    for (const l of [...this.#listeners]) {
      try {
        l(m);
      } catch {
        // A listener's failure must not stop the node.
      }
    }
  }

  /** Resolves when `predicate` holds; rejects with Timeout after `timeout` ms. */
  until(
    predicate: (m: RaftMetrics) => boolean,
    timeout: number,
    what: string,
  ): Promise<RaftMetrics> {
    const now = this.current;
    if (predicate(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = this.#clock.setTimer(timeout, () => {
        off();
        reject(new Timeout(`wait for ${what}`, timeout));
      });
      const off = this.subscribe((m) => {
        if (!predicate(m)) return;
        off();
        this.#clock.clearTimer(timer);
        resolve(m);
      });
    });
  }
}
