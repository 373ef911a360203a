/**
 * The apply/snapshot worker of a node: applies committed entries to the
 * state machine in chunks and installs received snapshots, strictly in the
 * order the engine asked for them; answers the client writes and releases
 * the reads each step covers; builds snapshots (on demand, and when the
 * snapshot policy says enough entries were applied since the last: checked
 * as applies finish and again when a build ends) and has the log purged
 * behind them. The state machine does one thing at a time: a snapshot is
 * built between two applies (or installs), and no apply starts until the
 * build's promise settles. It runs synchronously while the log cache
 * holds the entries and the state machine answers with an array, and waits
 * for whatever returns a promise.
 *
 * @module
 */

import type { Config } from "../config.ts";
import type { RaftEngine } from "../engine/engine.ts";
import { type RaftError, ShuttingDown } from "../errors.ts";
import type { Snapshot, StateMachine } from "../storage.ts";
import type { Entry, LogId, SnapshotMeta } from "../types.ts";
import type { ClientWrites } from "./client_writes.ts";
import { countBytes } from "./byte_count.ts";
import type { Logger } from "./logger.ts";
import type { LogIo } from "./log_io.ts";
import type { PendingReads } from "./pending_reads.ts";
import { endSpan, type Span, spanError, startSpan, type Tracer } from "./tracer.ts";

/**
 * Entries read (and applied) at once while applying or recovering.
 *
 * @example
 * ```ts
 * import { CHUNK } from "./apply_worker.ts";
 * const chunks = Math.ceil(2500 / CHUNK); // 3
 * ```
 */
export const CHUNK = 1000;

/** Committed entries to apply: `first` moves on as chunks are applied. */
interface ApplyRange {
  readonly type: "apply";
  first: number;
  readonly last: LogId;
}

/** A received snapshot to install, its bytes held under the request's token. */
interface Install {
  readonly type: "install";
  readonly token: number;
  readonly meta: SnapshotMeta;
}

/**
 * What the worker needs from its node.
 */
export interface ApplyHost<R> {
  /** The application's state machine. */
  readonly stateMachine: StateMachine<R>;
  /** The log, to read entries from (and to remember the commit index in). */
  readonly io: LogIo;
  /** Told what was applied, installed and built. */
  readonly engine: RaftEngine;
  /** Answered as their entries are applied. */
  readonly writes: ClientWrites<R>;
  /** Released as the applied index moves. */
  readonly reads: PendingReads;
  /** Logging hook. */
  readonly logger: Logger;
  /** Span hooks, or `null`. */
  readonly tracer: Tracer | null;
  /** The node's clock, ms (snapshot durations). */
  now(): number;
  /** The snapshot policy and how many entries to keep behind a snapshot. */
  readonly config: Pick<Config, "snapshotPolicy" | "maxInSnapshotLogsToKeep" | "purgeBatchSize">;
  /** Runs `fn` in the node's next turn. */
  post(fn: () => void): void;
  /** Runs `fn` in the node's next turn; resolves with its result. */
  call<T>(fn: () => T): Promise<T>;
  /** Stops the node: storage failed (or the state machine, outside `apply`). */
  fail(operation: string, error: unknown): void;
  /** Stops the node: the state machine's `apply` failed on the batch from `first`. */
  applyFailed(first: LogId | null, error: unknown): void;
  /** Why the node cannot take calls now (stopped, failed), or `null`. */
  unusable(): RaftError | null;
  /** The applied index moved (metrics are stale). */
  onApplied(): void;
}

/**
 * The apply/snapshot worker of one node.
 */
export class ApplyWorker<R> {
  readonly #host: ApplyHost<R>;
  #queue: (ApplyRange | Install)[] = [];
  /** Received snapshot streams, by request token, until installed (or refused). */
  readonly #snapshotData = new Map<number, ReadableStream<Uint8Array>>();
  #building: Promise<SnapshotMeta> | null = null;
  #snapshotIndex: number;
  #applying = false;
  /** The state machine is building a snapshot: no apply or install starts. */
  #smBuilding = false;
  /** A build waiting for the apply in progress to finish its step. */
  #pauseWaiters: { resolve(): void; reject(e: unknown): void }[] = [];
  #appliedIndex: number;
  #closed = false;
  /** Snapshots installed (a counter). */
  snapshotsInstalled = 0;
  /** Snapshots built (a counter). */
  snapshotsBuilt = 0;
  /** Bytes of the snapshots installed (a counter). */
  snapshotBytesInstalled = 0;
  /** Bytes of the snapshots built, of those whose size is known (a counter). */
  snapshotBytesBuilt = 0;

  /**
   * @param host what the worker needs from its node
   * @param appliedIndex the state machine's last applied index
   * @param snapshotIndex the last index of the state machine's current snapshot
   */
  constructor(host: ApplyHost<R>, appliedIndex: number, snapshotIndex: number) {
    this.#host = host;
    this.#appliedIndex = appliedIndex;
    this.#snapshotIndex = snapshotIndex;
  }

  /** Whether a snapshot is being built. */
  get building(): boolean {
    return this.#building !== null;
  }

  /** The last index the state machine applied (or installed a snapshot up to). */
  get appliedIndex(): number {
    return this.#appliedIndex;
  }

  /** Applies the committed entries `first` to `last`, after everything queued before. */
  apply(first: number, last: LogId): void {
    this.#queue.push({ type: "apply", first, last });
    if (!this.#applying) this.#run();
  }

  /** Installs the snapshot held under `token`, after everything queued before. */
  install(token: number, meta: SnapshotMeta): void {
    this.#queue.push({ type: "install", token, meta });
    if (!this.#applying) this.#run();
  }

  /**
   * Holds a received snapshot's bytes under its request's token until its
   * install (they stay in the stream, back-pressuring the sender).
   */
  holdSnapshot(token: number, stream: ReadableStream<Uint8Array>): void {
    this.#snapshotData.set(token, stream);
  }

  /** Cancels the snapshot stream held under `token`, if still held (refused, answered). */
  dropSnapshot(token: number): void {
    const unread = this.#snapshotData.get(token);
    if (unread === undefined) return;
    this.#snapshotData.delete(token);
    void unread.cancel().catch(() => {});
  }

  /** Stops the worker (shutdown, fatal error): cancels every held snapshot stream. */
  close(): void {
    this.#closed = true;
    const err = this.#host.unusable() ?? new ShuttingDown();
    for (const w of this.#pauseWaiters.splice(0)) w.reject(err);
    for (const token of [...this.#snapshotData.keys()]) this.dropSnapshot(token);
  }

  /**
   * Applies queued ranges (in chunks) and installs received snapshots, in
   * order. Runs synchronously while the cache has the entries and the state
   * machine answers with an array; waits for whatever returns a promise, then
   * resumes.
   */
  #run(): void {
    this.#applying = true;
    try {
      while (!this.#closed) {
        if (this.#smBuilding || this.#pauseWaiters.length > 0) {
          // A snapshot build goes between two steps; the build resumes the queue.
          this.#grantPause();
          break;
        }
        if (this.#queue.length === 0) break;
        const item = this.#queue[0]!;
        if (item.type === "install") {
          this.#queue.shift();
          this.#install(item.token, item.meta).then(this.#resume, this.#failed);
          return;
        }
        // Entries a snapshot installed meanwhile already holds are not applied again: a
        // follower may accept appends (and apply commands) while a snapshot it is installing
        // is queued ahead of them.
        if (item.last.index <= this.#appliedIndex) {
          this.#queue.shift();
          continue;
        }
        if (item.first <= this.#appliedIndex) item.first = this.#appliedIndex + 1;
        const from = item.first;
        const to = Math.min(item.last.index, from + CHUNK - 1);
        const cached = this.#host.io.cached(from, to);
        const pending = cached !== null
          ? this.#applyChunk(item, cached)
          : this.#host.io.entries(from, to).then(
            (entries) => this.#applyChunk(item, entries),
            (e) => {
              throw new _StepFailed("entries", e);
            },
          );
        if (pending !== undefined) {
          pending.then(this.#resume, this.#failed);
          return;
        }
      }
    } catch (e) {
      this.#reportFailure(e);
    }
    this.#applying = false;
  }

  readonly #resume = (): void => this.#run();
  readonly #failed = (e: unknown): void => {
    this.#reportFailure(e);
    this.#applying = false;
  };

  /** Stops the node: with an `ApplyError` when `apply` failed, else a storage error. */
  #reportFailure(e: unknown): void {
    if (e instanceof _StepFailed) {
      if (e.operation === "apply") this.#host.applyFailed(e.first, e.cause);
      else this.#host.fail(e.operation, e.cause);
    } else {
      this.#host.fail("apply", e);
    }
  }

  /** Lets the waiting build start: nothing is applied until it ends. */
  #grantPause(): void {
    if (this.#pauseWaiters.length === 0) return;
    this.#smBuilding = true;
    for (const w of this.#pauseWaiters.splice(0)) w.resolve();
  }

  /** Resolves once no apply or install is in progress, and holds further ones. */
  #pauseApply(): Promise<void> {
    if (!this.#applying) {
      this.#smBuilding = true;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => this.#pauseWaiters.push({ resolve, reject }));
  }

  /** The build ended: applies and installs go on. */
  #resumeApply(): void {
    this.#smBuilding = false;
    if (!this.#applying && this.#queue.length > 0) this.#run();
  }

  /** Applies `entries` (the head of `item`): synchronously if the state machine does. */
  #applyChunk(item: ApplyRange, entries: Entry[]): Promise<void> | undefined {
    const first = entries.length > 0 ? { term: entries[0]!.term, index: entries[0]!.index } : null;
    let responses: Promise<(R | undefined)[]> | (R | undefined)[];
    try {
      responses = this.#host.stateMachine.apply(entries);
    } catch (e) {
      throw new _StepFailed("apply", e, first);
    }
    if (Array.isArray(responses)) {
      this.#applied(item, entries, responses);
      return undefined;
    }
    return responses.then(
      (r) => this.#applied(item, entries, r),
      (e) => {
        throw new _StepFailed("apply", e, first);
      },
    );
  }

  /** Answers the writes of an applied chunk and moves `item` past it. */
  #applied(item: ApplyRange, entries: Entry[], responses: readonly (R | undefined)[]): void {
    const host = this.#host;
    host.writes.applied(entries, responses);
    const lastEntry = entries[entries.length - 1]!;
    const appliedId = { term: lastEntry.term, index: lastEntry.index };
    this.#appliedIndex = appliedId.index;
    // Emits no command: no turn of its own needed.
    host.engine.applied(appliedId);
    host.onApplied();
    host.reads.release(this.#appliedIndex);
    item.first = appliedId.index + 1;
    if (item.first > item.last.index) {
      this.#queue.shift();
      host.io.saveCommitted(item.last);
      this.#maybeSnapshot();
    }
  }

  /** Installs a received snapshot into the state machine, in apply order. */
  async #install(token: number, meta: SnapshotMeta): Promise<void> {
    const host = this.#host;
    const stream = this.#snapshotData.get(token);
    if (stream === undefined) return; // The request was abandoned (shutdown).
    this.#snapshotData.delete(token);
    const index = meta.lastLogId?.index ?? 0;
    const start = host.now();
    let bytes = 0;
    const span: Span | null = host.tracer === null ? null : startSpan(
      host.tracer,
      "raft.snapshot.install",
      { "raft.snapshot_id": meta.snapshotId, "raft.snapshot_index": index },
    );
    try {
      await host.stateMachine.installSnapshot(
        meta,
        stream.pipeThrough(countBytes((n) => bytes += n)),
      );
    } catch (e) {
      const ms = Math.round(host.now() - start);
      host.logger.warn("cannot install snapshot", {
        snapshotId: meta.snapshotId,
        index,
        bytes,
        ms,
        error: String(e),
      });
      if (span !== null) endSpan(span, { "raft.bytes": bytes }, spanError(e));
      host.post(() => host.engine.snapshotInstallFailed(token));
      return;
    }
    this.snapshotsInstalled++;
    this.snapshotBytesInstalled += bytes;
    host.logger.info("snapshot installed", {
      snapshotId: meta.snapshotId,
      index,
      bytes,
      ms: Math.round(host.now() - start),
    });
    if (span !== null) endSpan(span, { "raft.bytes": bytes });
    this.#appliedIndex = Math.max(this.#appliedIndex, index);
    this.#snapshotIndex = Math.max(this.#snapshotIndex, index);
    // Proposals at or below the snapshot can no longer be told apart: their outcome is
    // unknown to this node (another leader decided them).
    host.writes.abandon(-Infinity, index);
    host.post(() => host.engine.snapshotInstalled(token));
    host.reads.release(this.#appliedIndex);
  }

  /** Builds a snapshot when the policy says enough entries were applied since the last. */
  #maybeSnapshot(): void {
    const policy = this.#host.config.snapshotPolicy;
    if (policy.kind !== "logs-since-last" || this.#building !== null || this.#closed) return;
    if (this.#appliedIndex - this.#snapshotIndex < policy.logs) return;
    this.buildSnapshot().catch((e) => {
      this.#host.logger.warn("snapshot failed", { error: String(e) });
    });
  }

  /**
   * Builds a snapshot of the applied state (or joins the one being built),
   * tells the engine, and has the log purged up to it, keeping
   * `maxInSnapshotLogsToKeep` entries; resolves with its metadata.
   */
  buildSnapshot(): Promise<SnapshotMeta> {
    const host = this.#host;
    const err = host.unusable();
    if (err !== null) return Promise.reject(err);
    if (this.#building !== null) return this.#building;
    const start = host.now();
    let span: Span | null = null;
    const building = (async () => {
      try {
        // Never overlaps an apply or an install (the StateMachine contract).
        await this.#pauseApply();
        if (host.tracer !== null) {
          span = startSpan(host.tracer, "raft.snapshot.build", {
            "raft.applied_index": this.#appliedIndex,
          });
        }
        let snap: Snapshot;
        try {
          snap = await host.stateMachine.buildSnapshot();
        } finally {
          this.#resumeApply();
        }
        this.snapshotsBuilt++;
        const meta = snap.meta;
        const index = meta.lastLogId?.index ?? 0;
        const size = typeof snap.size === "number" && snap.size >= 0 ? snap.size : null;
        if (size !== null) this.snapshotBytesBuilt += size;
        const ms = Math.round(host.now() - start);
        host.logger.info("snapshot built", {
          snapshotId: meta.snapshotId,
          index,
          ...(size !== null ? { bytes: size } : {}),
          ms,
        });
        if (span !== null) {
          endSpan(span, {
            "raft.snapshot_id": meta.snapshotId,
            "raft.snapshot_index": index,
            ...(size !== null ? { "raft.bytes": size } : {}),
          });
          span = null;
        }
        if (index > this.#snapshotIndex) this.#snapshotIndex = index;
        const keep = host.config.maxInSnapshotLogsToKeep;
        await host.call(() => {
          host.engine.snapshotBuilt(meta);
          // Purged only once `purgeBatchSize` entries can go at once.
          const upTo = index - keep;
          if (upTo > 0 && upTo - host.engine.purgedIndex >= host.config.purgeBatchSize) {
            host.engine.purgeLog(upTo);
          }
        });
        return meta;
      } catch (e) {
        if (span !== null) endSpan(span, undefined, spanError(e));
        throw e;
      } finally {
        this.#building = null;
      }
    })();
    // Entries applied while it was built may already call for the next one: the policy is
    // otherwise checked only as applies finish, and a node may be idle by then.
    building.then(() => this.#maybeSnapshot(), () => {});
    this.#building = building;
    return building;
  }
}

/** A step of the worker failed: `apply` itself, or reading its entries. */
class _StepFailed {
  constructor(
    readonly operation: "apply" | "entries",
    readonly cause: unknown,
    readonly first: LogId | null = null,
  ) {}
}
