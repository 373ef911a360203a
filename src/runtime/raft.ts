/**
 * `Raft`: the public handle of one node. It drives the pure engine with
 * injected storage, network, clock and randomness: everything that arrives
 * in one turn of the event loop goes to the engine as one batch, and the
 * commands it emits are executed with as few storage writes and messages as
 * possible.
 *
 * This file holds the public API, the turn loop and the command dispatcher.
 * The parts the loop drives live beside it, each owning what it must settle
 * on shutdown: log I/O (`log_io.ts`), client writes (`client_writes.ts`),
 * pending reads (`pending_reads.ts`), the apply/snapshot worker
 * (`apply_worker.ts`), the sender to peers (`peer_sender.ts`), peer requests
 * awaiting the engine (`peer_requests.ts`), administrative waiters
 * (`admin_waiters.ts`); engine refusals become errors in `engine_errors.ts`.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { Config } from "../config.ts";
import type { Command } from "../engine/commands.ts";
import type { RaftEngine } from "../engine/engine.ts";
import {
  ApplyError,
  InternalError,
  InvalidArgument,
  LogDiverged,
  NotInitialized,
  PayloadTooLarge,
  PreconditionFailed,
  type RaftError,
  RaftError as RaftErrorClass,
  ShuttingDown,
  StorageError,
  Timeout,
  Unreachable,
} from "../errors.ts";
import type {
  AppendRequest,
  AppendResponse,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  RaftRequest,
  RaftResponse,
  ReadIndexRequest,
  TimeoutNowRequest,
  TimeoutNowResponse,
  VoteRequest,
  VoteResponse,
} from "../messages.ts";
// Named by {@linkcode} in the docs of the public API below.
// deno-lint-ignore no-unused-vars
import type { AlreadyInitialized, ClusterMismatch, EmptyMembership } from "../errors.ts";
// deno-lint-ignore no-unused-vars
import type { ForwardToLeader, InProgress, LearnerNotFound } from "../errors.ts";
// deno-lint-ignore no-unused-vars
import type { NotInMembers, QuorumNotEnough } from "../errors.ts";
// deno-lint-ignore no-unused-vars
import type { Aborted, OutcomeUnknown } from "../errors.ts";
import type { RaftNetwork } from "../network.ts";
import { bytesToStream } from "../byte_stream.ts";
import type { Random } from "../random.ts";
import type { LogStore, StateMachine } from "../storage.ts";
import type { LogId, Membership, NodeId, RaftNode, SnapshotMeta } from "../types.ts";
import { isNodeId } from "../types.ts";
import { DurableWaiters, MembershipWaiters } from "./admin_waiters.ts";
import { ApplyWorker } from "./apply_worker.ts";
import { type ChangeMembers, changeTarget, initialMembership } from "./change_members.ts";
import { type CallOptions, checkCallOptions, withCallOptions } from "./call_options.ts";
import {
  type ClientWriteResult,
  ClientWrites,
  type ExpectedLeader,
  type Proposal,
} from "./client_writes.ts";
import { adminError, forwardToLeader, readError, refusalError } from "./engine_errors.ts";
import { DeadlineTimer } from "./deadline_timer.ts";
import { assertNever, unexpected } from "./exhaustive.ts";
import { type Logger, nodeLogger, SILENT } from "./logger.ts";
import { answeredType, answerOutcome, type RaftCounters, RpcStats } from "./counters.ts";
import { type LeaderChange, LeaderWatch } from "./leader_changes.ts";
import { LogIo } from "./log_io.ts";
import { metricsOf, MetricsWatch, type RaftMetrics } from "./metrics.ts";
import { PeerRequests } from "./peer_requests.ts";
import { PeerSender } from "./peer_sender.ts";
import { PendingReads, type ReadPolicy } from "./pending_reads.ts";
import { recover, type Recovered } from "./recovery.ts";
import { describeMembership, StateChanges } from "./state_changes.ts";
import { endSpan, spanError, startSpan, type Tracer } from "./tracer.ts";
import { YieldGuard } from "./yield_guard.ts";

export type { ClientWriteResult, ExpectedLeader } from "./client_writes.ts";
export type { CallOptions } from "./call_options.ts";
export type { Logger } from "./logger.ts";
export type { Span, SpanAttributes, SpanError, SpanName, Tracer } from "./tracer.ts";
export type { RaftCounters } from "./counters.ts";
export type { LeaderChange } from "./leader_changes.ts";
export type { ReadPolicy } from "./pending_reads.ts";

/**
 * Options of a client write: how long to wait ({@linkcode CallOptions}),
 * and the leader it must be proposed by (`ifLeader`, openraft's
 * `with_leader`): if this node is not leader `id` in `term` when the write
 * is proposed, it rejects with {@linkcode PreconditionFailed} and nothing is
 * written.
 *
 * @example
 * ```ts
 * import type { WriteOptions } from "./raft.ts";
 * const options: WriteOptions = { timeout: 2000, ifLeader: { id: 1, term: 4 } };
 * ```
 */
export interface WriteOptions extends CallOptions {
  /** Write only if this is still the leader (and its term) when proposed. */
  readonly ifLeader?: ExpectedLeader;
}

/**
 * The outcome of one write of {@linkcode Raft.clientWriteEach}, or of a
 * fire-and-forget write ({@linkcode Raft.clientWriteFF}): its result, or
 * the error it failed with.
 *
 * @example
 * ```ts
 * import type { WriteOutcome } from "./raft.ts";
 * function describe(o: WriteOutcome<string>): string {
 *   return o.ok ? `at ${o.result.logId.index}` : o.error.code;
 * }
 * ```
 */
export type WriteOutcome<R> =
  | { readonly ok: true; readonly result: ClientWriteResult<R> }
  | { readonly ok: false; readonly error: RaftError };

/**
 * Options of a membership change: `retain` keeps removed voters as
 * learners; `ifMembership` (openraft's `change_membership_if`) makes the
 * change only if the effective membership is still the one at that log id
 * (from `metrics.current.membership.logId`), else it rejects with
 * {@linkcode PreconditionFailed}; plus how long to wait.
 *
 * @example
 * ```ts
 * import type { MembershipOptions } from "./raft.ts";
 * const options: MembershipOptions = { retain: true, ifMembership: { term: 2, index: 7 } };
 * ```
 */
export interface MembershipOptions extends CallOptions {
  /** Removed voters stay as learners (default false). */
  readonly retain?: boolean;
  /** Change only if the effective membership is the one at this log id. */
  readonly ifMembership?: LogId | null;
}

/**
 * What a node is made of.
 *
 * @example
 * ```ts
 * import type { RaftOptions } from "./raft.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryStateMachine } from "../../kv/mod.ts";
 * import { MemoryNetwork } from "../../testing/memory_network.ts";
 * const options: RaftOptions<Uint8Array | null> = {
 *   id: 1,
 *   logStore: new MemoryLogStore(),
 *   stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * };
 * ```
 */
export interface RaftOptions<R> {
  /** This node's id. */
  readonly id: NodeId;
  /** Options; missing ones take the defaults of `DEFAULT_CONFIG`. */
  readonly config?: Partial<Config>;
  /** Durable vote and log. */
  readonly logStore: LogStore;
  /** The application's state machine. */
  readonly stateMachine: StateMachine<R>;
  /** How to reach other nodes. */
  readonly network: RaftNetwork;
  /** Time source; default the system clock. */
  readonly clock?: Clock;
  /** Election jitter; default seeded from crypto.getRandomValues. */
  readonly random?: Random;
  /**
   * Logging hook; default silent. Called at every state change an operator
   * wants in a log (role, term and leader changes with the reason,
   * membership changes, snapshots built, sent and installed with their
   * bytes and ms, storage failures, peers becoming unreachable and coming
   * back); every record carries the node's `id` and `cluster` (the
   * `clusterName` option). `consoleLogger()` writes them as JSON lines.
   * A hook that throws is ignored.
   */
  readonly logger?: Logger;
  /**
   * Span hooks (see {@linkcode Tracer}): elections, replication requests,
   * snapshot builds and transfers, membership changes. Default none: then
   * nothing is built for them.
   */
  readonly tracer?: Tracer;
}

/**
 * One Raft node.
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
 * await raft.metrics.wait({ timeout: 5000 }).role("leader");
 * await raft.shutdown();
 * ```
 */
export class Raft<R = unknown> {
  /** This node's id. */
  readonly id: NodeId;
  /** The resolved configuration. */
  readonly config: Config;
  /** Current metrics, subscriptions and waits. */
  readonly metrics: MetricsWatch;
  /** Manual triggers. */
  readonly trigger: {
    /** Campaign now (if a voter and not leading). */
    elect(): Promise<void>;
    /** Leader: send a heartbeat round now. */
    heartbeat(): Promise<void>;
    /**
     * Hand leadership to `to`: resolves once started; see
     * `metrics.wait().leader(to)`. `options` bound the wait.
     */
    transferLeader(to: NodeId, options?: CallOptions): Promise<void>;
    /**
     * Build a snapshot of the applied state now; resolves with its metadata.
     * The log is then purged up to it, keeping `maxInSnapshotLogsToKeep`
     * entries. Rejects with {@linkcode NotInitialized} before the node has
     * a membership (there is nothing to snapshot).
     */
    snapshot(): Promise<SnapshotMeta>;
    /**
     * Purge the log up to `upTo`, bounded by the current snapshot and the
     * applied index; resolves with the log id purged up to, or `null`.
     */
    purgeLog(upTo: number): Promise<LogId | null>;
  };
  /** Switches that change behaviour at run time. */
  readonly runtimeConfig: {
    /** Campaign on election timeout (default on). */
    elect(enabled: boolean): Promise<void>;
    /** Send heartbeats (default on). */
    heartbeat(enabled: boolean): Promise<void>;
  };

  readonly #engine: RaftEngine;
  readonly #clock: Clock;
  readonly #logStore: LogStore;
  readonly #logger: Logger;
  readonly #tracer: Tracer | null;
  /** Role, term, leader and membership changes for the logger and tracer (`null`: neither). */
  readonly #changes: StateChanges | null;
  /** RPCs received, by type and outcome. */
  readonly #rpcsReceived = new RpcStats();
  readonly #io: LogIo;
  readonly #random: Random;
  readonly #timer: DeadlineTimer;
  readonly #writes: ClientWrites<R>;
  readonly #reads: PendingReads;
  readonly #apply: ApplyWorker<R>;
  readonly #sender: PeerSender;
  readonly #requests = new PeerRequests();
  readonly #membershipWaiters = new MembershipWaiters();
  /** `initialize` calls waiting for their membership entry to be durable. */
  readonly #durableWaiters = new DurableWaiters();

  #inbox: (() => void)[] = [];
  #scheduled = false;
  /** Set while a turn executes the engine's commands. */
  #inTurn = false;
  /** The clock's reading at the start of the current (or last) turn. */
  #turnNow = 0;
  /** The clock, cheaply: the turn's reading while a turn executes, else a fresh one. */
  readonly #timeFn = (): number => this.#inTurn ? this.#turnNow : this.#clock.now();
  #stopped = false;
  #fatal: StorageError | InternalError | ApplyError | LogDiverged | null = null;
  /** Tokens for the engine: peer requests and reads. */
  #nextToken = 1;
  #nodes = new Map<NodeId, RaftNode>();
  #membershipLogId: LogId | null | undefined = undefined;
  #membership: Membership | null = null;
  #lastRole = "";
  /** Append requests received (a counter). */
  #appendsReceived = 0;
  /** Peers found with a log that went backwards (a counter). */
  #logReversions = 0;
  /** Follower reads confirmed through the leader (a counter). */
  #followerReads = 0;
  readonly #leaders: LeaderWatch;
  /** {@linkcode Raft.onStopped} listeners, until the node stops. */
  readonly #stopListeners = new Set<(error: RaftError) => void>();
  /** Why the node stopped, once it did and its listeners were told. */
  #stoppedWith: RaftError | null = null;
  readonly #turnFn = (): void => this.#turn();
  /** Decides when a turn must be a macrotask, so that I/O waiting on the event loop runs. */
  readonly #yields: YieldGuard;
  readonly #macrotaskTurnFn = (): void => {
    this.#yields.macrotask();
    this.#turn();
  };
  readonly #buildFn = (): RaftMetrics => this.#buildMetrics();

  private constructor(opts: RaftOptions<R>, node: Recovered) {
    this.id = opts.id;
    this.config = node.config;
    this.#clock = node.clock;
    this.#logStore = opts.logStore;
    const logger = opts.logger === undefined
      ? SILENT
      : nodeLogger(opts.logger, { id: opts.id, cluster: node.config.clusterName });
    this.#logger = logger;
    const tracer = opts.tracer ?? null;
    this.#tracer = tracer;
    this.#changes = opts.logger !== undefined || tracer !== null
      ? new StateChanges(opts.logger !== undefined ? logger : null, tracer)
      : null;
    this.#leaders = new LeaderWatch((e) =>
      logger.error("onLeaderChange listener threw", { error: String(e) })
    );
    const engine = node.engine;
    this.#engine = engine;
    this.#random = node.random;
    this.#timer = new DeadlineTimer(node.clock, () => this.#schedule());
    this.#yields = new YieldGuard(node.clock);
    const io = new LogIo(
      opts.logStore,
      // A store that completes synchronously reports during the turn's #execute: the engine
      // takes it at once and the turn runs the commands it emits.
      (io) => this.#inTurn ? engine.flushed(io) : this.#post(() => engine.flushed(io)),
      (op, e) => this.#fail(op, e),
      undefined,
      () => node.clock.now(),
      this.#timeFn,
      { clock: node.clock },
    );
    this.#io = io;
    const nodes = () => this.#nodes;
    const writes = new ClientWrites<R>({
      propose: (payloads) => engine.propose(payloads),
      leaderId: () => engine.leaderId,
      term: () => engine.term,
      isLeader: () => engine.role === "leader",
      nodes,
      maxBatches: node.config.maxInflight,
      wake: () => this.#schedule(),
    });
    this.#writes = writes;
    const reads = new PendingReads(node.clock, {
      read: (tokens, policy) => engine.read(tokens, policy),
      readFromLeader: (tokens) => this.#readFromLeader(tokens),
      nextToken: () => this.#nextToken++,
      error: (reason) =>
        readError(reason, {
          nodes: this.#nodes,
          membership: () => engine.effectiveMembership().membership,
        }),
    });
    this.#reads = reads;
    this.#apply = new ApplyWorker<R>(
      {
        stateMachine: opts.stateMachine,
        io,
        engine,
        writes,
        reads,
        logger,
        tracer,
        now: () => node.clock.now(),
        config: node.config,
        post: (fn) => this.#post(fn),
        call: (fn) => this.#call(fn),
        fail: (op, e) => this.#fail(op, e),
        applyFailed: (first, e) => this.#stop(new ApplyError(first, e)),
        unusable: () => this.#unusable(),
        onApplied: () => this.metrics.invalidate(this.#buildFn),
      },
      node.appliedIndex,
      node.snapshotIndex,
    );
    this.#sender = new PeerSender({
      network: opts.network,
      io,
      stateMachine: opts.stateMachine,
      logger,
      tracer,
      now: () => node.clock.now(),
      time: this.#timeFn,
      snapshotChunkSize: node.config.snapshotChunkSize,
      maxAppendBytes: node.config.maxAppendBytes,
      node: (id) => this.#nodes.get(id) ?? { addr: "" },
      received: (from, res, sentAt) =>
        this.#post(() => {
          this.#sender.answered(res, sentAt, this.#turnNow);
          engine.receive(from, res);
        }),
      unreachable: (peer) => this.#post(() => engine.unreachable(peer)),
    });
    this.#syncNodes();
    this.metrics = new MetricsWatch(this.#buildMetrics(), node.clock);
    this.trigger = {
      elect: () => this.#call(() => engine.triggerElect()),
      heartbeat: () => this.#call(() => engine.triggerHeartbeat()),
      transferLeader: (to, options) => this.#transferLeader(to, options),
      snapshot: () => {
        const err = this.#notReady();
        return err !== null ? Promise.reject(err) : this.#apply.buildSnapshot();
      },
      purgeLog: (upTo) => {
        if (!Number.isSafeInteger(upTo) || upTo < 0) {
          return Promise.reject(
            new InvalidArgument("upTo", `purgeLog takes a log index, got ${upTo}`),
          );
        }
        return this.#call(() => engine.purgeLog(upTo));
      },
    };
    this.runtimeConfig = {
      elect: (enabled) => this.#call(() => engine.setElectEnabled(enabled)),
      heartbeat: (enabled) => this.#call(() => engine.setHeartbeatEnabled(enabled)),
    };
  }

  /**
   * Starts a node: recovers its vote, log, commit index and the state
   * machine's applied state from storage, and re-applies committed entries
   * the state machine lacks. A log that does not hold the last entry of the
   * state machine's snapshot (a crash between installing a snapshot and
   * purging the log) is replaced by the snapshot: dropped and purged up to
   * it. Rejects with `ConfigError` for bad options and `StorageError` if
   * storage cannot be read.
   */
  static create<R>(opts: RaftOptions<R>): Promise<Raft<R>> {
    return recover(opts, (node) => {
      const raft = new Raft<R>(opts, node);
      raft.#schedule();
      return raft;
    });
  }

  // ---- application API ---------------------------------------------------------

  /**
   * Initializes a new cluster with `members` (ids, or ids with addresses) as
   * its voters, and gives it an identity: a random cluster id (or
   * `options.clusterId`), kept in every membership of the cluster and carried
   * by every Raft request, so that nodes of different clusters refuse each
   * other ({@linkcode ClusterMismatch}) rather than merge. Call it on one
   * node; the others join when the cluster adds them. (To initialize every
   * node at once instead, give each the same members and the same
   * `clusterId`.) Resolves once the initial membership is durable: a crash
   * after that does not lose it. Rejects with {@linkcode AlreadyInitialized}
   * if this node has any log or vote, and {@linkcode NotInMembers} if it is
   * not among `members`.
   */
  initialize(
    members: readonly NodeId[] | ReadonlyMap<NodeId, RaftNode>,
    options?: { clusterId?: string },
  ): Promise<void>;
  async initialize(
    members: readonly NodeId[] | ReadonlyMap<NodeId, RaftNode>,
    options: { clusterId?: string } = {},
  ): Promise<void> {
    const membership = initialMembership(members, options.clusterId, this.#random);
    const durable = await this.#call(() => {
      const r = this.#engine.initialize(membership);
      if (r.ok) return this.#durableWaiters.wait(r.logId?.index ?? 1);
      throw adminError(r, {
        nodes: this.#nodes,
        status: this.#engine.status(),
        proposed: membership,
      });
    });
    await durable;
  }

  /**
   * Whether this node has a log, a vote or a membership (it was initialized
   * or joined, or took part in an election): exactly when
   * {@linkcode initialize} would refuse with {@linkcode AlreadyInitialized}.
   */
  isInitialized(): boolean {
    return this.#engine.initialized;
  }

  /**
   * Replicates `command` and applies it; resolves with its log id and the
   * state machine's response once applied here. Rejects with
   * {@linkcode ForwardToLeader} on a non-leader, {@linkcode NotInitialized}
   * before the node has a membership, {@linkcode PayloadTooLarge} for a
   * command over `maxPayloadBytes`, {@linkcode PreconditionFailed} when
   * `options.ifLeader` does not hold, {@linkcode Timeout} / {@linkcode Aborted}
   * when `options.timeout` / `options.signal` end the wait (their `logId`
   * is set when the write is in the log and may still take effect, `null`
   * when it was withdrawn unwritten), {@linkcode OutcomeUnknown} when this
   * node can no longer learn the outcome.
   */
  clientWrite(command: Uint8Array, options?: WriteOptions): Promise<ClientWriteResult<R>> {
    const err = this.#checkWrite(command, options, "clientWrite");
    if (err !== null) return Promise.reject(err);
    if (options === undefined) {
      const result = this.#writes.add(command);
      this.#schedule();
      return result;
    }
    return this.#boundedWrite(command, options, "clientWrite");
  }

  /**
   * A barrier (openraft's `write_blank`, hashicorp's `Barrier`): appends a
   * blank entry of the current term and resolves with its log id once it
   * is applied here — so everything committed before the call is applied
   * too. Rejects like {@linkcode clientWrite}.
   */
  async writeBlank(options?: CallOptions): Promise<LogId> {
    const err = this.#checkWrite(null, options, "writeBlank");
    if (err !== null) throw err;
    if (options === undefined) {
      const result = this.#writes.add(null);
      this.#schedule();
      return (await result).logId;
    }
    return (await this.#boundedWrite(null, options, "writeBlank")).logId;
  }

  /**
   * Fire-and-forget write (openraft's `client_write_ff`): proposes
   * `command` without a promise; `callback`, when given, is called once
   * with the outcome (also for a command refused at once, in a later
   * microtask). Never an unhandled rejection; a callback that throws is
   * logged, not rethrown.
   */
  clientWriteFF(command: Uint8Array, callback?: (outcome: WriteOutcome<R>) => void): void {
    const err = this.#checkWrite(command, undefined, "clientWriteFF");
    const report = callback === undefined ? null : this.#reporter(callback);
    if (err !== null) {
      if (report !== null) queueMicrotask(() => report({ ok: false, error: err }));
      return;
    }
    this.#writes.enqueue({
      data: command,
      term: 0,
      index: 0,
      ifLeader: null,
      withdrawn: false,
      resolve: report === null ? _ignore : (result) => report({ ok: true, result }),
      reject: report === null ? _ignore : (e) => report({ ok: false, error: _raftError(e) }),
    });
    this.#schedule();
  }

  /**
   * Writes several commands as one batch (consecutive entries); resolves with
   * every result in order, or rejects with the first failure — the others'
   * outcomes are then lost: use {@linkcode clientWriteEach} to learn each.
   * The commands are checked first: if any is not a `Uint8Array` or is over
   * `maxPayloadBytes` ({@linkcode PayloadTooLarge}), none is written.
   * `options` bound the whole batch's wait.
   */
  clientWriteMany(
    commands: readonly Uint8Array[],
    options?: WriteOptions,
  ): Promise<ClientWriteResult<R>[]> {
    const err = this.#checkBatch(commands, options, "clientWriteMany");
    if (err !== null) return Promise.reject(err);
    if (options === undefined) return Promise.all(commands.map((c) => this.clientWrite(c)));
    const proposals: Proposal<R>[] = [];
    const ifLeader = options.ifLeader ?? null;
    return withCallOptions(
      this.#clock,
      "clientWriteMany",
      options,
      () => {
        const all = Promise.all(
          commands.map((data) =>
            new Promise<ClientWriteResult<R>>((resolve, reject) => {
              const p = { data, term: 0, index: 0, ifLeader, withdrawn: false, resolve, reject };
              proposals.push(p);
              this.#writes.enqueue(p);
            })
          ),
        );
        this.#schedule();
        return all;
      },
      () => {
        let last: LogId | null = null;
        for (const p of proposals) last = this.#writes.withdraw(p) ?? last;
        return last;
      },
    );
  }

  /**
   * Writes several commands as one batch (consecutive entries) and resolves
   * with each one's outcome, in order — never rejects. A command refused
   * at once (not a `Uint8Array`, too large) fails alone; `options` apply to
   * each write.
   */
  async clientWriteEach(
    commands: readonly Uint8Array[],
    options?: WriteOptions,
  ): Promise<WriteOutcome<R>[]> {
    if (!Array.isArray(commands)) {
      throw new InvalidArgument("commands", "clientWriteEach takes an array of Uint8Array");
    }
    return await Promise.all(commands.map((c) =>
      this.clientWrite(c, options).then(
        (result): WriteOutcome<R> => ({ ok: true, result }),
        (e): WriteOutcome<R> => ({ ok: false, error: _raftError(e) }),
      )
    ));
  }

  /**
   * Makes a following local read linearizable, and waits until the state
   * machine has applied up to the read index; resolves with that index.
   * `policy` says how ({@linkcode ReadPolicy}): `read-index` (default) and
   * `lease` confirm leadership on the leader (`lease` without a round while
   * the leader lease holds, with one when it does not); `follower` works on
   * any member (followers and learners): it asks the leader for the read
   * index with one request (reads arriving in one turn share it), then waits
   * to have applied it here; on the leader it is a `read-index` read. Rejects with
   * {@linkcode ForwardToLeader} on a non-leader (`read-index`, `lease`) or
   * when no leader is known or the leader refuses (`follower`),
   * {@linkcode QuorumNotEnough} when check-quorum deposed this leader while
   * the read waited (no majority answered for an election timeout),
   * {@linkcode Unreachable} (the network's error as its `cause`) when the
   * leader cannot be asked (`follower`),
   * {@linkcode NotInitialized} before the node has a membership,
   * {@linkcode Timeout} after `timeout` ms (default four maximum election
   * timeouts), {@linkcode Aborted} when `signal` aborts. A read changes
   * nothing: its errors' `logId` is `null`.
   */
  ensureLinearizable(options?: { policy?: ReadPolicy } & CallOptions): Promise<number>;
  ensureLinearizable(
    options: { policy?: ReadPolicy } & CallOptions = {},
  ): Promise<number> {
    const err = this.#notReady() ?? checkCallOptions(options);
    if (err !== null) return Promise.reject(err);
    const policy = options.policy ?? "read-index";
    if (policy !== "read-index" && policy !== "lease" && policy !== "follower") {
      return Promise.reject(
        new InvalidArgument("policy", `unknown read policy ${String(policy)}`),
      );
    }
    const timeout = options.timeout ?? this.config.electionTimeoutMax * 4;
    const start = () => {
      const index = this.#reads.add(policy, timeout);
      this.#schedule();
      return index;
    };
    if (options.signal === undefined) return start();
    return withCallOptions(this.#clock, "ensureLinearizable", { signal: options.signal }, start);
  }

  /**
   * Adds `id` at `node` as a learner. With `blocking` (default), resolves once
   * the learner holds the log up to the entry that added it; rejects with
   * {@linkcode ClusterMismatch} if the node refuses this cluster's requests
   * (it belongs to another cluster: wipe it, or give it a new id, first),
   * and with {@linkcode ForwardToLeader} if this node stops being leader
   * before the learner caught up (the learner was added; the new leader
   * replicates to it). The catch-up wait is bounded by `timeout` (default
   * 30 s, {@linkcode Timeout} with the membership entry's `logId`: the
   * learner stays added) and `signal`.
   */
  addLearner(
    id: NodeId,
    node: RaftNode,
    options?: { blocking?: boolean } & CallOptions,
  ): Promise<{ logId: LogId }>;
  addLearner(
    id: NodeId,
    node: RaftNode,
    options: { blocking?: boolean } & CallOptions = {},
  ): Promise<{ logId: LogId }> {
    if (!isNodeId(id)) return Promise.reject(new InvalidArgument("id", `invalid node id ${id}`));
    const err = this.#notReady() ?? checkCallOptions(options);
    if (err !== null) return Promise.reject(err);
    let added: LogId | null = null;
    const start = async () => {
      const logId = await this.changeMembership({
        type: "add-nodes",
        nodes: new Map([[id, node]]),
      });
      added = logId;
      if (options.blocking ?? true) await this.#learnerCaughtUp(id, logId, options.timeout);
      return { logId };
    };
    if (options.signal === undefined) return start();
    return withCallOptions(
      this.#clock,
      "addLearner",
      { signal: options.signal },
      start,
      () => added,
    );
  }

  async #learnerCaughtUp(id: NodeId, logId: LogId, timeout = 30_000): Promise<void> {
    const target = logId.index;
    const caughtUp = (m: RaftMetrics) => (m.replication?.get(id)?.matched?.index ?? 0) >= target;
    try {
      await this.metrics.wait({ timeout }).metrics(
        (m) => caughtUp(m) || m.state !== "leader" || this.#sender.refusal(id) !== undefined,
        `learner ${id} caught up`,
      );
    } catch (e) {
      if (e instanceof Timeout) {
        throw new Timeout(`addLearner: learner ${id} catching up`, timeout, { logId });
      }
      throw e;
    }
    const refused = this.#sender.refusal(id);
    if (refused !== undefined) throw refused;
    if (this.#engine.role !== "leader") {
      throw forwardToLeader(this.#engine.leaderId, this.#nodes);
    }
  }

  /**
   * Changes the membership by joint consensus (two steps when voters
   * change); resolves with the log id of the final configuration once it is
   * committed. With `retain`, removed voters stay as learners. Rejects with
   * {@linkcode InProgress} while another change runs, {@linkcode EmptyMembership},
   * {@linkcode LearnerNotFound}, {@linkcode ForwardToLeader},
   * {@linkcode NotInitialized}, {@linkcode InvalidArgument} (e.g. removing
   * a voter with `remove-nodes`), {@linkcode PreconditionFailed} when
   * `ifMembership` is not the effective membership's log id,
   * {@linkcode Timeout} / {@linkcode Aborted} when `timeout` / `signal` end
   * the wait (with the change's `logId` once it is in the log: it may still
   * complete), {@linkcode OutcomeUnknown} when this node lost leadership.
   */
  changeMembership(change: ChangeMembers, options?: MembershipOptions): Promise<LogId>;
  changeMembership(
    change: ChangeMembers,
    options: MembershipOptions = {},
  ): Promise<LogId> {
    const err = this.#notReady() ?? checkCallOptions(options);
    if (err !== null) return Promise.reject(err);
    const retain = options.retain ?? false;
    const ifMembership = options.ifMembership;
    let appended: LogId | null = null;
    let withdrawn = false;
    const start = async () => {
      await this.#termCommitted(options.timeout);
      return await new Promise<LogId>((resolve, reject) => {
        this.#post(() => {
          if (withdrawn) return;
          try {
            const st = this.#engine.status();
            if (ifMembership !== undefined) {
              const actual = st.membership.logId;
              if (
                (ifMembership?.index ?? 0) !== (actual?.index ?? 0) ||
                (ifMembership?.term ?? 0) !== (actual?.term ?? 0)
              ) {
                throw new PreconditionFailed("membership", ifMembership, actual);
              }
            }
            const target = changeTarget(st, change, retain, this.#nodes);
            const r = this.#engine.changeMembership(target);
            if (!r.ok) throw adminError(r, { nodes: this.#nodes, status: st });
            const logId = r.logId ?? { term: st.term, index: 0 };
            appended = r.logId;
            if (this.#tracer === null) {
              this.#membershipWaiters.add({ logId, resolve, reject });
              return;
            }
            const span = startSpan(this.#tracer, "raft.membership_change", {
              "raft.change": change.type,
              "raft.from": describeMembership(st.membership.membership),
              "raft.to": describeMembership(target),
              "raft.term": st.term,
            });
            this.#membershipWaiters.add({
              logId,
              resolve: (id) => {
                endSpan(span, { "raft.log_index": id.index });
                resolve(id);
              },
              reject: (e) => {
                endSpan(span, { "raft.log_index": logId.index }, spanError(e));
                reject(e);
              },
            });
          } catch (e) {
            reject(e);
          }
        });
      });
    };
    if (options.timeout === undefined && options.signal === undefined) return start();
    return withCallOptions(this.#clock, "changeMembership", options, start, () => {
      withdrawn = true;
      return appended;
    });
  }

  /**
   * A leader changes the membership only once an entry of its term is
   * committed (the blank entry it appends when elected): until then the
   * engine refuses with {@linkcode InProgress}. A change asked for in that
   * moment — right after `metrics.wait().role("leader")` — waits for it
   * instead (at most `timeout`, default four maximum election timeouts;
   * then the engine's answer stands). A node that is not the leader does
   * not wait: it answers {@linkcode ForwardToLeader}.
   */
  async #termCommitted(timeout = this.config.electionTimeoutMax * 4): Promise<void> {
    const ready = (m: RaftMetrics) =>
      m.state !== "leader" || (m.committed !== null && m.committed.term === m.currentTerm);
    if (ready(this.metrics.current)) return;
    try {
      await this.metrics.wait({ timeout }).metrics(ready, "an entry of this term committed");
    } catch (e) {
      if (!(e instanceof Timeout)) throw e;
    }
  }

  /** Why a call that needs a membership cannot be made now, or `null`. */
  #notReady(): RaftError | null {
    return this.#unusable() ?? (this.#engine.initialized ? null : new NotInitialized());
  }

  /** Why a write (`null`: a blank entry) cannot be queued, or `null`. */
  #checkWrite(
    command: Uint8Array | null,
    options: WriteOptions | undefined,
    action: string,
  ): RaftError | null {
    const err = this.#notReady();
    if (err !== null) return err;
    if (command !== null) {
      if (!(command instanceof Uint8Array)) {
        return new InvalidArgument("command", `${action} takes the command as a Uint8Array`);
      }
      if (command.byteLength > this.config.maxPayloadBytes) {
        return new PayloadTooLarge(command.byteLength, this.config.maxPayloadBytes);
      }
    }
    if (options === undefined) return null;
    const ifLeader = options.ifLeader;
    if (
      ifLeader !== undefined &&
      (typeof ifLeader !== "object" || ifLeader === null || !isNodeId(ifLeader.id) ||
        !Number.isSafeInteger(ifLeader.term))
    ) {
      return new InvalidArgument("ifLeader", "ifLeader must be { id: NodeId, term: number }");
    }
    return checkCallOptions(options);
  }

  /** Why a batch cannot be queued, or `null` (every command is checked). */
  #checkBatch(
    commands: readonly Uint8Array[],
    options: WriteOptions | undefined,
    action: string,
  ): RaftError | null {
    const err = this.#notReady();
    if (err !== null) return err;
    if (!Array.isArray(commands)) {
      return new InvalidArgument("commands", `${action} takes an array of Uint8Array`);
    }
    for (const command of commands) {
      const e = this.#checkWrite(command, undefined, action);
      if (e !== null) return e;
    }
    return options === undefined ? null : this.#checkWrite(null, options, action);
  }

  /** A write bounded by `options`: withdrawn if it times out (or aborts) while queued. */
  #boundedWrite(
    data: Uint8Array | null,
    options: WriteOptions,
    action: string,
  ): Promise<ClientWriteResult<R>> {
    const ifLeader = options.ifLeader ?? null;
    let proposal: Proposal<R> | null = null;
    return withCallOptions(
      this.#clock,
      action,
      options,
      () =>
        new Promise<ClientWriteResult<R>>((resolve, reject) => {
          const p = { data, term: 0, index: 0, ifLeader, withdrawn: false, resolve, reject };
          proposal = p;
          this.#writes.enqueue(p);
          this.#schedule();
        }),
      () => proposal === null ? null : this.#writes.withdraw(proposal),
    );
  }

  /** Calls `callback` with an outcome; a callback that throws is logged. */
  #reporter(
    callback: (outcome: WriteOutcome<R>) => void,
  ): (outcome: WriteOutcome<R>) => void {
    return (outcome) => {
      try {
        callback(outcome);
      } catch (e) {
        this.#logger.error("clientWriteFF callback threw", { error: String(e) });
      }
    };
  }

  /**
   * Calls `listener` whenever this node's view of the leadership changes:
   * the term, the leader it knows of (`null` during an election) or its own
   * role. Cheap: compared once per turn, no metrics built. Returns the
   * function that removes the listener. A listener that throws is logged.
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
   * const leaders: (number | null)[] = [];
   * const off = raft.onLeaderChange(({ leaderId }) => leaders.push(leaderId));
   * await raft.initialize([1]);
   * await raft.metrics.wait({ timeout: 5000 }).leader(1);
   * off();
   * console.assert(leaders.includes(1));
   * await raft.shutdown();
   * ```
   */
  onLeaderChange(listener: (change: LeaderChange) => void): () => void {
    return this.#leaders.listen(listener);
  }

  /**
   * Calls `listener` once when this node stops: with the
   * {@linkcode StorageError}, {@linkcode ApplyError}, {@linkcode LogDiverged}
   * or {@linkcode InternalError} that stopped it, or with
   * {@linkcode ShuttingDown} once {@linkcode Raft.shutdown} has finished
   * (storage closed). On a node already stopped, `listener` is called at
   * once. Cheap: nothing is built or compared while the node runs (a
   * `metrics.subscribe` listener costs a metrics object per turn). Returns
   * the function that removes the listener. A listener that throws is
   * logged.
   *
   * @example
   * ```ts
   * import { Raft } from "./raft.ts";
   * import { MemoryLogStore } from "../../adapters/memory.ts";
   * import { MemoryStateMachine } from "../../kv/mod.ts";
   * import { MemoryNetwork } from "../../testing/memory_network.ts";
   *
   * const raft = await Raft.create({
   *   id: 1,
   *   logStore: new MemoryLogStore(),
   *   stateMachine: new MemoryStateMachine(),
   *   network: new MemoryNetwork().client(1),
   * });
   * const why: string[] = [];
   * raft.onStopped((error) => why.push(error.code));
   * await raft.shutdown();
   * console.assert(why.join() === "ShuttingDown");
   * ```
   */
  onStopped(listener: (error: RaftError) => void): () => void {
    const stopped = this.#stoppedWith;
    if (stopped !== null) {
      this.#tellStopped(listener, stopped);
      return () => {};
    }
    this.#stopListeners.add(listener);
    return () => {
      this.#stopListeners.delete(listener);
    };
  }

  #tellStopped(listener: (error: RaftError) => void, error: RaftError): void {
    try {
      listener(error);
    } catch (e) {
      this.#logger.error("onStopped listener threw", { error: String(e) });
    }
  }

  /** Tells the {@linkcode onStopped} listeners, once, why the node stopped. */
  #announceStop(error: RaftError): void {
    if (this.#stoppedWith !== null) return;
    this.#stoppedWith = error;
    const listeners = [...this.#stopListeners];
    this.#stopListeners.clear();
    for (const l of listeners) this.#tellStopped(l, error);
  }

  /**
   * What this node counted since it started: elections started, leader
   * changes, proposals (and those pending), appends sent and received,
   * snapshots sent, installed and built (and their bytes), RPCs sent and
   * received by type and outcome, RPC and storage append latency
   * histograms. Plain counters and fixed-bucket arrays, read on demand.
   */
  counters(): RaftCounters {
    return {
      electionsStarted: this.#engine.electionsStarted,
      leaderChanges: this.#leaders.leaderChanges,
      proposals: this.#writes.proposed,
      appendsSent: this.#sender.appendsSent,
      appendsReceived: this.#appendsReceived,
      snapshotsSent: this.#sender.snapshotsSent,
      snapshotsInstalled: this.#apply.snapshotsInstalled,
      snapshotsBuilt: this.#apply.snapshotsBuilt,
      logReversions: this.#logReversions,
      followerReads: this.#followerReads,
      pendingProposals: this.#writes.pending,
      snapshotBytes: {
        built: this.#apply.snapshotBytesBuilt,
        sent: this.#sender.snapshotBytesSent,
        installed: this.#apply.snapshotBytesInstalled,
      },
      rpcsSent: this.#sender.rpcs.sentCounts(),
      rpcsReceived: this.#rpcsReceived.receivedCounts(),
      rpcDuration: this.#sender.rpcs.durations(),
      storageAppendDuration: this.#io.appendSeconds.snapshot(),
    };
  }

  // ---- RPC handlers (called by the transport) -------------------------------------

  /**
   * Handles any Raft request from a peer; `data` carries an install-snapshot
   * request's bytes.
   */
  handle(
    request: RaftRequest,
    data?: ReadableStream<Uint8Array> | Uint8Array,
  ): Promise<RaftResponse> {
    switch (request.type) {
      case "append":
        this.#appendsReceived++;
        return this.#request(request.leaderId, request);
      case "vote":
      case "pre-vote":
        return this.#request(request.candidateId, request);
      case "timeout-now":
        return this.#request(request.leaderId, request);
      case "read-index":
        return this.#request(request.readerId, request);
      case "install-snapshot":
        if (data === undefined) {
          return Promise.reject(
            new InvalidArgument("data", "an install-snapshot request needs its bytes"),
          );
        }
        return this.handleInstallSnapshot(request, data);
      default:
        return Promise.reject(unexpected(request, "not a Raft request"));
    }
  }

  /** Handles an AppendEntries request from the leader. */
  handleAppend(request: AppendRequest): Promise<AppendResponse> {
    this.#appendsReceived++;
    return this.#request(request.leaderId, request) as Promise<AppendResponse>;
  }

  /** Handles a vote request from a candidate. */
  handleVote(request: VoteRequest): Promise<VoteResponse> {
    return this.#request(request.candidateId, request) as Promise<VoteResponse>;
  }

  /** Handles a pre-vote request from a would-be candidate. */
  handlePreVote(request: VoteRequest): Promise<VoteResponse> {
    return this.#request(request.candidateId, request) as Promise<VoteResponse>;
  }

  /**
   * Handles a snapshot from the leader: `data` is its bytes (a stream of
   * chunks, or all at once). Resolves once it is installed (or refused).
   */
  async handleInstallSnapshot(
    request: InstallSnapshotRequest,
    data: ReadableStream<Uint8Array> | Uint8Array,
  ): Promise<InstallSnapshotResponse> {
    // The bytes stay in the stream (back-pressuring the sender) until the install's
    // turn comes; a refused snapshot's stream is cancelled.
    const stream = data instanceof Uint8Array ? bytesToStream(data, 1 << 20) : data;
    return await new Promise((resolve, reject) => {
      const err = this.#unusable();
      if (err !== null) {
        void stream.cancel().catch(() => {});
        return reject(err);
      }
      const token = this.#nextToken++;
      this.#apply.holdSnapshot(token, stream);
      this.#requests.add(token, {
        type: "install-snapshot",
        resolve: (m) => {
          this.#apply.dropSnapshot(token);
          resolve(m as InstallSnapshotResponse);
        },
        reject,
      });
      this.#post(() => this.#engine.receive(request.leaderId, request, token));
    });
  }

  /** Handles the leader's TimeoutNow (leadership transfer). */
  handleTimeoutNow(request: TimeoutNowRequest): Promise<TimeoutNowResponse> {
    return this.#request(request.leaderId, request) as Promise<TimeoutNowResponse>;
  }

  /**
   * Stops the node: timers stop, outgoing calls to peers (requests and
   * snapshot transfers) are aborted through their `AbortSignal`, pending
   * requests reject with {@linkcode ShuttingDown}, queued storage writes
   * finish, storage closes.
   */
  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#timer.stop();
    this.#changes?.close("ShuttingDown");
    const err = new ShuttingDown();
    // Outgoing calls (requests, snapshot transfers) are aborted, not left running.
    this.#sender.close(err);
    this.#yields.stop();
    this.#rejectAll(err);
    await this.#io.idle();
    await this.#logStore.close();
    this.metrics.publish(this.#buildMetrics());
    this.#announceStop(err);
  }

  // ---- the loop --------------------------------------------------------------------

  #post(fn: () => void): void {
    this.#inbox.push(fn);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    // While a snapshot is built (its I/O waits on the event loop), turns that have run
    // back to back as microtasks for a while give way: this one goes through a timer.
    if (this.#yields.shouldYield(this.#apply.building)) {
      this.#clock.setTimer(0, this.#macrotaskTurnFn);
      return;
    }
    queueMicrotask(this.#turnFn);
  }

  #call<T>(fn: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      const err = this.#unusable();
      if (err !== null) return reject(err);
      this.#post(() => {
        try {
          resolve(fn());
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  #request(from: NodeId, request: RaftRequest): Promise<RaftResponse> {
    return new Promise((resolve, reject) => {
      const err = this.#unusable();
      if (err !== null) return reject(err);
      const token = this.#nextToken++;
      this.#requests.add(token, { type: request.type, resolve, reject });
      this.#post(() => this.#engine.receive(from, request, token));
    });
  }

  #turn(): void {
    this.#scheduled = false;
    if (this.#stopped) return;
    try {
      this.#runTurn();
    } catch (e) {
      // Nothing a peer or a client sends can get here (input is checked, sends that throw
      // are failed sends): this is a broken invariant. Stop this node, keep the process.
      this.#stop(new InternalError("turn", e));
    }
  }

  #runTurn(): void {
    const engine = this.#engine;
    const now = this.#clock.now();
    this.#turnNow = now;
    engine.tick(now);
    while (this.#inbox.length > 0) {
      const inbox = this.#inbox;
      this.#inbox = [];
      for (const fn of inbox) fn();
    }
    if (this.#writes.hasQueued && this.#writes.mayPropose) this.#writes.propose();
    if (this.#reads.hasQueued) this.#reads.start();
    this.#inTurn = true;
    try {
      for (let c = engine.takeCommands(); c.length > 0; c = engine.takeCommands()) {
        // Messages first, then storage (see LogIo.hold): a synchronous store's fsync starts
        // once this batch's sends are out; what it makes durable comes in the next batch.
        this.#io.hold();
        try {
          this.#execute(c);
        } finally {
          this.#io.release();
        }
      }
    } finally {
      this.#inTurn = false;
    }
    if (this.#stopped) return;
    this.#timer.arm(engine.nextDeadline());
    if (this.#durableWaiters.pending) {
      this.#durableWaiters.release(this.#engine.status().durable?.index ?? 0);
    }
    this.#publish();
  }

  /** Executes the engine's commands, in order. */
  #execute(commands: Command[]): void {
    for (const c of commands) {
      if (this.#stopped) return; // a storage failure during the turn stops the node
      switch (c.type) {
        case "save-vote":
        case "append-log":
        case "truncate-log":
        case "purge-log":
          this.#io.submit(c);
          break;
        case "send":
          this.#sender.send(c.to, c.message);
          break;
        case "replicate":
          // A commit-only update for an idle peer is not sent: the next append (under
          // load, at once) or heartbeat (when idle, within heartbeatInterval) carries it.
          // Clients are answered by the leader; followers apply a little later when idle.
          if (c.lazy !== true) this.#sender.replicate(c.to, c.plan);
          break;
        case "reply":
          this.#rpcsReceived.received(answeredType(c.message.type), answerOutcome(c.message));
          this.#requests.take(c.token)?.resolve(c.message);
          break;
        case "refuse": {
          const r = this.#requests.take(c.token);
          if (r !== undefined) {
            this.#rpcsReceived.received(r.type, "refused");
            this.#apply.dropSnapshot(c.token);
            r.reject(refusalError(c.refusal));
          }
          break;
        }
        case "apply":
          this.#apply.apply(c.first, c.last);
          break;
        case "install-snapshot":
          this.#apply.install(c.token, c.meta);
          break;
        case "send-snapshot":
          void this.#sender.sendSnapshot(c.to, c.term, c.leaderId, c.clusterId);
          break;
        case "read-ready":
          this.#reads.ready(c.token, c.index, this.#apply.appliedIndex);
          break;
        case "read-failed":
          this.#reads.failed(c.token, c.reason);
          break;
        case "membership-done":
          this.#membershipWaiters.done(c.logId);
          break;
        case "fatal":
          // A leader's append contradicts this node's committed log: stop, truncate nothing.
          this.#stop(new LogDiverged(c.reason));
          return;
        case "peer-log-reverted":
          this.#logReversions++;
          this.#logger.warn(
            c.reset
              ? `peer ${c.peer}'s log went backwards (data lost?): replicating to it again ` +
                "from the start (allowLogReversion)"
              : `peer ${c.peer}'s log went backwards (data lost?): it stays stuck until the ` +
                "leader changes; see allowLogReversion",
            { peer: c.peer, matched: c.matched, index: c.index, reset: c.reset },
          );
          break;
        default:
          assertNever(c);
      }
    }
  }

  /**
   * Follower reads: on the leader, ReadIndex reads; elsewhere one
   * `read-index` request to the leader for all of `tokens`, whose answer
   * (the read index) each read then waits to have applied.
   */
  #readFromLeader(tokens: readonly number[]): void {
    const engine = this.#engine;
    const reads = this.#reads;
    if (engine.role === "leader") {
      engine.read(tokens, "read-index");
      return;
    }
    const leaderId = engine.leaderId;
    if (leaderId === null || leaderId === this.id) {
      for (const t of tokens) reads.failed(t, { kind: "not-leader", leaderId: null });
      return;
    }
    const request: ReadIndexRequest = {
      type: "read-index",
      clusterId: engine.effectiveMembership().membership.clusterId,
      term: engine.term,
      readerId: this.id,
    };
    this.#sender.request(leaderId, request).then(
      (res) =>
        this.#post(() => {
          const index = res.type === "read-index-response" ? res.index : null;
          if (index === null) {
            const leader = res.type === "read-index-response" ? res.leaderId : null;
            for (const t of tokens) reads.failed(t, { kind: "not-leader", leaderId: leader });
            return;
          }
          this.#followerReads += tokens.length;
          const applied = this.#apply.appliedIndex;
          for (const t of tokens) reads.ready(t, index, applied);
        }),
      (e) =>
        this.#post(() => {
          // One error for "the leader could not be asked", whatever the network: its own
          // error is the cause (HttpNetwork rejects with Unreachable already).
          const err = e instanceof Unreachable ? e : new Unreachable(leaderId, { cause: e });
          for (const t of tokens) reads.rejected(t, err);
        }),
    );
  }

  async #transferLeader(to: NodeId, options?: CallOptions): Promise<void> {
    if (!isNodeId(to)) throw new InvalidArgument("to", `invalid node id ${to}`);
    const err = this.#notReady() ?? checkCallOptions(options);
    if (err !== null) throw err;
    let withdrawn = false;
    const r = await withCallOptions(
      this.#clock,
      "transferLeader",
      options,
      () => this.#call(() => withdrawn ? null : this.#engine.transferLeader(to)),
      () => {
        withdrawn = true;
        return null;
      },
    );
    if (r === null || r.ok) return;
    throw adminError(r, { nodes: this.#nodes, status: this.#engine.status() });
  }

  // ---- stopping ----------------------------------------------------------------------

  #unusable(): RaftError | null {
    if (this.#fatal !== null) return this.#fatal;
    if (this.#stopped) return new ShuttingDown();
    return null;
  }

  #fail(operation: string, error: unknown): void {
    this.#stop(new StorageError(operation, error));
  }

  /** Stops the node for good on a fatal error: every call rejects with it from now on. */
  #stop(fatal: StorageError | InternalError | ApplyError | LogDiverged): void {
    if (this.#fatal !== null) return;
    this.#fatal = fatal;
    const cause = fatal.cause;
    this.#logger.error(
      fatal instanceof StorageError
        ? "storage failed: node stopped"
        : fatal instanceof ApplyError
        ? "the state machine's apply failed: node stopped"
        : fatal instanceof LogDiverged
        ? "log diverged below the commit index: node stopped"
        : "internal error: node stopped",
      { operation: fatal.operation, code: fatal.code, error: String(cause ?? fatal.message) },
    );
    this.#changes?.close(fatal.code);
    this.#stopped = true;
    this.#timer.stop();
    this.#sender.close(fatal);
    this.#yields.stop();
    this.#rejectAll(this.#fatal);
    this.metrics.publish(this.#buildMetrics());
    this.#announceStop(fatal);
  }

  /** Settles everything pending, each part in turn (shutdown, fatal error). */
  #rejectAll(err: RaftError): void {
    this.#writes.rejectAll(err);
    this.#reads.rejectAll(err);
    this.#requests.rejectAll(err);
    this.#membershipWaiters.rejectAll(err);
    this.#durableWaiters.rejectAll(err);
    this.#apply.close();
  }

  // ---- membership and metrics --------------------------------------------------------

  /** Refreshes the node addresses when the effective membership changed; says whether it did. */
  #syncNodes(): boolean {
    const mem = this.#engine.effectiveMembership();
    if (this.#membershipLogId === mem.logId) return false;
    this.#membershipLogId = mem.logId;
    this.#nodes = new Map(mem.membership.nodes);
    const previous = this.#membership;
    this.#membership = mem.membership;
    if (previous !== null && this.#changes !== null) {
      this.#changes.membership(previous, mem.membership, mem.logId);
    }
    return true;
  }

  /**
   * This node left the cluster, or lost leadership: what is not committed yet
   * is decided by another leader now (kept or overwritten), which this node
   * may never learn. Committed writes are still answered by the apply worker.
   */
  #abandonUncommittedWrites(): void {
    if (this.#engine.role === "leader") return; // It still decides until the change commits.
    const committed = this.#engine.status().committed?.index ?? 0;
    this.#writes.abandon(committed + 1, Infinity);
  }

  #publish(): void {
    const engine = this.#engine;
    this.#leaders.check(engine.term, engine.leaderId, engine.role);
    if (this.#changes !== null) {
      this.#changes.check(
        engine.term,
        engine.role,
        engine.preCandidate,
        engine.leaderId,
        engine.roleReason,
      );
    }
    if (this.#syncNodes() && !this.#nodes.has(this.id)) this.#abandonUncommittedWrites();
    if (
      this.#engine.role !== this.#lastRole &&
      (!this.#nodes.has(this.id) || this.#lastRole === "leader")
    ) {
      this.#abandonUncommittedWrites();
    }
    if (this.#engine.role === this.#lastRole) {
      // Built only when read or listened to: most turns change nothing anybody looks at.
      this.metrics.invalidate(this.#buildFn);
      return;
    }
    const m = this.#buildMetrics();
    if (m.state !== this.#lastRole) {
      this.#lastRole = m.state;
      if (m.state !== "leader" && this.#membershipWaiters.pending) {
        // The change's entries are in the log: another leader may finish it, or drop it.
        this.#membershipWaiters.outcomeUnknown(m.currentLeader);
      }
    }
    this.metrics.publish(m);
  }

  #buildMetrics(): RaftMetrics {
    return metricsOf(this.#engine.status(), {
      id: this.id,
      stopped: this.#stopped,
      fatal: this.#fatal,
      clock: this.#clock,
      lagThreshold: this.config.replicationLagThreshold,
    });
  }
}

function _ignore(): void {}

/** `e` as a RaftError: every failure of a write is one; anything else is a bug. */
function _raftError(e: unknown): RaftError {
  return e instanceof RaftErrorClass ? e : new InternalError("clientWrite", e);
}
