/**
 * What a node sends its peers: requests (votes, TimeoutNow), appends built
 * from the engine's replication plans, and snapshots streamed to peers whose
 * entries are purged. Appends whose entries must be read from the store are
 * chained per peer, so that each peer receives its appends in order; a
 * heartbeat never waits behind such a read. Responses and failures go back
 * to the engine through the host. A peer that refuses this node as another
 * cluster's is logged once and remembered, for `addLearner` to report; one
 * that holds this node for removed from its cluster (`NotAMember`, HTTP 410)
 * is logged once, as an error, until it accepts a request again (the node
 * goes on: it may be added back). A peer that stops answering is logged
 * once (`peer unreachable`, a warning) and again once it answers (`peer
 * reachable again`, with how long it was down): one line per transition,
 * not per failed send. Every RPC is counted by type and outcome, with its
 * latency ({@linkcode RpcStats}); with a tracer, each append is a
 * `raft.replicate` span and each snapshot transfer a `raft.snapshot.send` span.
 * Every call carries the sender's `AbortSignal`: {@linkcode PeerSender.close}
 * (the node shuts down) aborts whatever is still in flight — requests,
 * snapshot transfers — and nothing is sent after it.
 *
 * @module
 */

import type { AppendPlan } from "../engine/commands.ts";
import { ClusterMismatch, NotAMember } from "../errors.ts";
import type { InstallSnapshotRequest, RaftRequest, RaftResponse } from "../messages.ts";
import type { RaftNetwork, SendOptions } from "../network.ts";
import { rechunk } from "../byte_stream.ts";
import type { StateMachine } from "../storage.ts";
import type { Entry, NodeId, RaftNode } from "../types.ts";
import { isNodeId } from "../types.ts";
import { appendRequests } from "./append_batches.ts";
import { countBytes } from "./byte_count.ts";
import {
  answeredType,
  answerOutcome,
  type RpcOutcome,
  RpcStats,
  type RpcType,
} from "./counters.ts";
import type { Logger } from "./logger.ts";
import type { LogIo } from "./log_io.ts";
import { endSpan, type Span, spanError, startSpan, type Tracer } from "./tracer.ts";

/**
 * What the sender needs from its node.
 */
export interface SenderHost {
  /** How to reach peers. */
  readonly network: RaftNetwork;
  /** The log, to read the entries of an append. */
  readonly io: LogIo;
  /** Where the snapshot to send comes from. */
  readonly stateMachine: Pick<StateMachine<unknown>, "currentSnapshot">;
  /** Logging hook. */
  readonly logger: Logger;
  /** Span hooks, or `null` (then nothing is built for them). */
  readonly tracer: Tracer | null;
  /** The node's clock, ms (transfer durations, down time). */
  now(): number;
  /**
   * The clock as cheaply as possible, ms: the current turn's reading while
   * a turn runs (when requests are sent), else a fresh one.
   */
  time(): number;
  /** Size of the chunks a snapshot is sent in. */
  readonly snapshotChunkSize: number;
  /** Largest append request, in bytes as encoded (a plan's entries are cut to fit). */
  readonly maxAppendBytes: number;
  /** The address of a peer. */
  node(id: NodeId): RaftNode;
  /**
   * A peer answered the request sent at `sentAt` (`time()`): hand the
   * response to the engine, in a turn that first counts it
   * ({@linkcode PeerSender.answered} with the turn's time).
   */
  received(from: NodeId, response: RaftResponse, sentAt: number): void;

  /** A peer could not be reached (an append or a snapshot failed): tell the engine. */
  unreachable(peer: NodeId): void;
}

/**
 * The sending side of one node.
 */
export class PeerSender {
  readonly #host: SenderHost;
  /** Per peer, the last append waiting for a store read (appends to a peer go in order). */
  readonly #chains = new Map<NodeId, Promise<void>>();
  /** Peers a snapshot is being sent to. */
  readonly #sendingSnapshot = new Set<NodeId>();
  /** Append requests sent (a counter). */
  appendsSent = 0;
  /** Snapshot transfers completed (a counter). */
  snapshotsSent = 0;
  /** Bytes of the snapshots sent (completed transfers; a counter). */
  snapshotBytesSent = 0;
  /** RPCs sent, by type and outcome, and their latency. */
  readonly rpcs: RpcStats = new RpcStats();
  /** Peers that stopped answering, and since when (ms): logged once until they answer. */
  readonly #down = new Map<NodeId, number>();
  /** Peers that refused this node's requests as another cluster's, and why. */
  readonly #refusedBy = new Map<NodeId, ClusterMismatch>();
  /** Peers that refused this node's requests as not a member of their cluster. */
  readonly #goneFor = new Set<NodeId>();
  /** Aborted by `close`: every call in flight is given its signal. */
  readonly #abort = new AbortController();
  /** The options of every call (one object: nothing allocated per send). */
  readonly #options: SendOptions = { signal: this.#abort.signal };

  /** @param host what the sender needs from its node */
  constructor(host: SenderHost) {
    this.#host = host;
  }

  /**
   * Why `peer` refuses this node's requests (it belongs to another cluster),
   * if it did the last time it answered.
   */
  refusal(peer: NodeId): ClusterMismatch | undefined {
    return this.#refusedBy.get(peer);
  }

  /**
   * Stops sending: aborts every call in flight (with `reason`, e.g. a
   * `ShuttingDown`) — requests and snapshot transfers — and sends nothing
   * more. Idempotent.
   */
  close(reason?: unknown): void {
    if (!this.#abort.signal.aborted) this.#abort.abort(reason);
  }

  /** Whether {@linkcode PeerSender.close} was called. */
  get closed(): boolean {
    return this.#abort.signal.aborted;
  }

  /**
   * Sends `message` to `to`; its response goes to the engine. A failed
   * append makes the peer unreachable for the engine. Nothing once closed.
   */
  send(to: NodeId, message: RaftRequest): void {
    if (this.closed) return;
    const host = this.#host;
    const node = host.node(to);
    let sent: Promise<RaftResponse>;
    if (message.type === "append") this.appendsSent++;
    const tracer = host.tracer;
    const span = tracer !== null && message.type === "append"
      ? startSpan(tracer, "raft.replicate", {
        "raft.peer": to,
        "raft.term": message.term,
        "raft.prev_index": message.prevLogId?.index ?? 0,
        "raft.entries": message.entries.length,
      })
      : null;
    // The turn's clock reading (no clock read of its own): the latency is counted in the turn
    // that handles the answer, with that turn's reading.
    const start = host.time();
    try {
      sent = host.network.send(to, node, message, this.#options);
    } catch (e) {
      // A network that throws instead of rejecting: a failed send all the same.
      sent = Promise.reject(e);
    }
    sent.then(
      (res) => {
        if (this.#refusedBy.size > 0) this.#refusedBy.delete(to);
        if (this.#goneFor.size > 0) this.#goneFor.delete(to);
        if (this.#down.size > 0) this.#answered(to);
        if (span !== null) _endReplicate(span, res);
        host.received(to, res, start);
      },
      (e) => {
        if (span !== null) endSpan(span, undefined, spanError(e));
        if (this.closed) return; // aborted by close: nobody is listening any more
        const refused = this.#noteRefusal(to, e);
        // Counted at once (a fresh clock reading: failures are not the hot path), without a
        // turn of their own: counting must not change when the node's turns run.
        this.failed(message.type, refused ? "refused" : "error", start, host.time());
        if (!refused) this.#unanswered(to, message.type, e);
        if (message.type === "append") host.unreachable(to);
      },
    );
  }

  /**
   * Counts an answer to a request sent at `sentAt`, in the turn that hands
   * it to the engine (`now`: that turn's clock reading).
   */
  answered(response: RaftResponse, sentAt: number, now: number): void {
    this.rpcs.sent(answeredType(response.type), answerOutcome(response), (now - sentAt) / 1000);
  }

  /** Counts a request sent at `sentAt` that got no answer (`now`: the clock's reading). */
  failed(type: RpcType, outcome: RpcOutcome, sentAt: number, now: number): void {
    this.rpcs.sent(type, outcome, (now - sentAt) / 1000);
  }

  /** A request to `to` failed: logged once, when the peer stops answering. */
  #unanswered(to: NodeId, type: string, e: unknown): void {
    if (this.#down.has(to)) return;
    this.#down.set(to, this.#host.now());
    this.#host.logger.warn("peer unreachable", { peer: to, request: type, error: String(e) });
  }

  /** `to` answered: logged once if it had stopped answering. */
  #answered(to: NodeId): void {
    const since = this.#down.get(to);
    if (since === undefined) return;
    this.#down.delete(to);
    this.#host.logger.info("peer reachable again", {
      peer: to,
      downMs: Math.round(this.#host.now() - since),
    });
  }

  /**
   * Sends `message` to `to` and returns its response (for the caller, not
   * the engine: a follower read's `read-index` request). Rejects with what
   * the network rejected with, or with the reason {@linkcode PeerSender.close}
   * was given once closed.
   */
  request(to: NodeId, message: RaftRequest): Promise<RaftResponse> {
    if (this.closed) return Promise.reject(this.#abort.signal.reason);
    const host = this.#host;
    let sent: Promise<RaftResponse>;
    const start = host.now();
    try {
      sent = host.network.send(to, host.node(to), message, this.#options);
    } catch (e) {
      sent = Promise.reject(e);
    }
    return sent.then(
      (res) => {
        this.rpcs.sent(message.type, answerOutcome(res), (host.now() - start) / 1000);
        if (this.#refusedBy.size > 0) this.#refusedBy.delete(to);
        if (this.#goneFor.size > 0) this.#goneFor.delete(to);
        if (this.#down.size > 0) this.#answered(to);
        return res;
      },
      (e) => {
        if (!this.closed) {
          const refused = this.#noteRefusal(to, e);
          this.rpcs.sent(message.type, refused ? "refused" : "error", (host.now() - start) / 1000);
          if (!refused) this.#unanswered(to, message.type, e);
        }
        throw e;
      },
    );
  }

  /**
   * Whether `e` says `to` refused this node as another cluster's, or as not
   * a member of its cluster; logs it (as an error, once until the peer
   * accepts again) and remembers it.
   */
  #noteRefusal(to: NodeId, e: unknown): boolean {
    const gone = notAMemberOf(e);
    if (gone !== null) {
      if (!this.#goneFor.has(to)) {
        this.#goneFor.add(to);
        this.#host.logger.error(
          `peer ${to} says this node is not a member of its cluster`,
          { peer: to, error: gone.message },
        );
      }
      return true;
    }
    const mismatch = clusterMismatchOf(e);
    if (mismatch === null) return false;
    if (!this.#refusedBy.has(to)) {
      this.#host.logger.error(
        "peer belongs to another cluster: it refuses this node's requests",
        { peer: to, error: mismatch.message },
      );
    }
    this.#refusedBy.set(to, mismatch);
    return true;
  }

  /**
   * Sends the append `plan` describes, reading its entries when they are not
   * cached: as one request, or as several consecutive ones, in order, when
   * its entries exceed `maxAppendBytes`.
   */
  replicate(to: NodeId, plan: AppendPlan): void {
    const io = this.#host.io;
    // A heartbeat (no entries) is never delayed behind a pending store read: its
    // prevLogId is the peer's known match point, so overtaking an append is harmless.
    if (plan.last < plan.first) {
      this.send(to, appendRequests(plan, [], this.#host.maxAppendBytes)[0]!);
      return;
    }
    if (!this.#chains.has(to)) {
      const cached = io.cached(plan.first, plan.last);
      if (cached !== null) {
        this.#sendEntries(to, plan, cached);
        return;
      }
    }
    // Entries must come from the store: keep this peer's requests in order behind the read.
    const prev = this.#chains.get(to) ?? Promise.resolve();
    const next: Promise<void> = prev.then(async () => {
      const entries = await io.entries(plan.first, plan.last);
      this.#sendEntries(to, plan, entries);
    }).catch((e) => {
      this.#host.logger.warn("cannot read entries to replicate", { peer: to, error: String(e) });
      this.#host.unreachable(to);
    });
    this.#chains.set(to, next);
    void next.then(() => {
      if (this.#chains.get(to) === next) this.#chains.delete(to);
    });
  }

  /** Sends `entries` (those `plan` names) in requests of at most `maxAppendBytes`. */
  #sendEntries(to: NodeId, plan: AppendPlan, entries: readonly Entry[]): void {
    for (const request of appendRequests(plan, entries, this.#host.maxAppendBytes)) {
      this.send(to, request);
    }
  }

  /**
   * Streams the current snapshot to `to` (a peer whose entries are purged),
   * unless one is already on its way there.
   */
  async sendSnapshot(
    to: NodeId,
    term: number,
    leaderId: NodeId,
    clusterId: string,
  ): Promise<void> {
    if (this.#sendingSnapshot.has(to) || this.closed) return;
    this.#sendingSnapshot.add(to);
    const host = this.#host;
    const sentAt = host.time();
    const start = host.now();
    let bytes = 0;
    let span: Span | null = null;
    let snapshotId = "";
    let index = 0;
    try {
      const snap = await host.stateMachine.currentSnapshot();
      if (this.closed) return; // closed meanwhile: not opened, nothing to release
      if (snap === null) throw new RangeError("no snapshot to send");
      snapshotId = snap.meta.snapshotId;
      index = snap.meta.lastLogId?.index ?? 0;
      if (host.tracer !== null) {
        span = startSpan(host.tracer, "raft.snapshot.send", {
          "raft.peer": to,
          "raft.term": term,
          "raft.snapshot_id": snapshotId,
          "raft.snapshot_index": index,
        });
      }
      const request: InstallSnapshotRequest = {
        type: "install-snapshot",
        term,
        leaderId,
        meta: snap.meta,
        clusterId,
      };
      const node = host.node(to);
      const data = rechunk(snap.open(), host.snapshotChunkSize).pipeThrough(
        countBytes((n) => bytes += n),
      );
      const res = await host.network.installSnapshot(to, node, request, data, this.#options);
      const ms = host.now() - start;
      this.snapshotsSent++;
      this.snapshotBytesSent += bytes;
      this.#refusedBy.delete(to);
      this.#goneFor.delete(to);
      if (this.#down.size > 0) this.#answered(to);
      host.logger.info("snapshot sent", {
        peer: to,
        snapshotId,
        index,
        bytes,
        ms: Math.round(ms),
      });
      if (span !== null) endSpan(span, { "raft.bytes": bytes });
      host.received(to, res, sentAt);
    } catch (e) {
      if (span !== null) endSpan(span, { "raft.bytes": bytes }, spanError(e));
      if (this.closed) return;
      const refused = this.#noteRefusal(to, e);
      const ms = host.now() - start;
      this.failed("install-snapshot", refused ? "refused" : "error", sentAt, host.time());
      if (!refused) {
        host.logger.warn("snapshot transfer failed", {
          peer: to,
          snapshotId,
          index,
          bytes,
          ms: Math.round(ms),
          error: String(e),
        });
        this.#unanswered(to, "install-snapshot", e);
      }
      host.unreachable(to);
    } finally {
      this.#sendingSnapshot.delete(to);
    }
  }
}

/** Ends a `raft.replicate` span with the peer's answer. */
function _endReplicate(span: Span, res: RaftResponse): void {
  if (res.type !== "append-response") return endSpan(span);
  endSpan(span, {
    "raft.success": res.success,
    "raft.index": res.index,
    "raft.peer_term": res.term,
  });
}

/**
 * The {@linkcode ClusterMismatch} a failed send carries (itself, or as its
 * cause), if any.
 *
 * @example
 * ```ts
 * import { clusterMismatchOf } from "./peer_sender.ts";
 * import { ClusterMismatch, Unreachable } from "../errors.ts";
 * const e = new Unreachable(2, { cause: new ClusterMismatch("a1", "b2", 2) });
 * console.assert(clusterMismatchOf(e)?.got === "b2");
 * ```
 */
export function clusterMismatchOf(e: unknown): ClusterMismatch | null {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 3; x = x.cause, depth++) {
    if (x instanceof ClusterMismatch) return x;
    const f = x as Error & { code?: unknown; expected?: unknown; got?: unknown; from?: unknown };
    if (
      f.code === "ClusterMismatch" && typeof f.expected === "string" &&
      typeof f.got === "string" && isNodeId(f.from)
    ) {
      return new ClusterMismatch(f.expected, f.got, f.from);
    }
  }
  return null;
}

/**
 * The {@linkcode NotAMember} a failed send carries (itself, or as its
 * cause: `HttpNetwork` turns a 410 into `Unreachable` with it), if any.
 *
 * @example
 * ```ts
 * import { notAMemberOf } from "./peer_sender.ts";
 * import { NotAMember, Unreachable } from "../errors.ts";
 * const e = new Unreachable(2, { cause: new NotAMember(3) });
 * console.assert(notAMemberOf(e)?.nodeId === 3);
 * ```
 */
export function notAMemberOf(e: unknown): NotAMember | null {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 3; x = x.cause, depth++) {
    if (x instanceof NotAMember) return x;
    const f = x as Error & { code?: unknown; nodeId?: unknown };
    if (f.code === "NotAMember" && isNodeId(f.nodeId)) return new NotAMember(f.nodeId);
  }
  return null;
}
