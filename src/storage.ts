/**
 * The storage interfaces a {@linkcode Raft} node runs on: a durable
 * {@linkcode LogStore} for the vote and the log, and the application's
 * {@linkcode StateMachine}. Implementations: `adapters/memory.ts` (any
 * runtime), Deno KV and bun:sqlite (adapters/).
 *
 * Contract, which the runtime relies on for safety:
 * - Resolved means durable: after `saveVote` or `append` resolves, a crash
 *   loses nothing written by it.
 * - A write (`saveVote`, `append`, `truncate`, `purge`, `saveCommitted`) may
 *   instead return `undefined` — only when it is durable by the time it
 *   returns. Synchronous stores (in memory, bun:sqlite) do so and save the
 *   runtime a promise and an event-loop turn per write.
 * - Writes never overlap: the runtime issues them one at a time, in order,
 *   each after the previous one answered. Reads (`entries`, for replication
 *   and apply when the runtime's cache lacks them) may come while a write is
 *   pending; they must see every write already answered.
 * - A rejected promise (or an exception thrown by a write) is fatal: the
 *   node stops (StorageError) rather than continue with a half-written state.
 *
 * @module
 */

import { bytesToStream } from "./byte_stream.ts";
import type { Entry, LogId, SnapshotMeta, StoredMembership, Vote } from "./types.ts";

/**
 * Where the log stands: the last purged id and the last id present.
 *
 * @example
 * ```ts
 * import type { LogState } from "./storage.ts";
 * const s: LogState = { lastPurged: null, lastLogId: { term: 1, index: 3 } };
 * ```
 */
export interface LogState {
  /** The last purged (compacted) log id, or `null`. */
  readonly lastPurged: LogId | null;
  /** The last log id present, or the last purged one when the log is empty, or `null`. */
  readonly lastLogId: LogId | null;
}

/**
 * Durable storage of the vote and the log.
 *
 * Writes answer once durable: with a promise, or — for a store that is
 * durable when the call returns (in memory, bun:sqlite) — with `undefined`,
 * which lets the runtime carry on in the same event-loop turn. Writes never
 * overlap: the runtime waits for each before the next.
 *
 * @example
 * ```ts
 * import type { LogStore } from "./storage.ts";
 * async function lastIndex(store: LogStore): Promise<number> {
 *   return (await store.logState()).lastLogId?.index ?? 0;
 * }
 * ```
 */
export interface LogStore {
  /** The saved vote, or `null` if none was ever saved. */
  readVote(): Promise<Vote | null>;
  /** Saves the vote durably (`undefined`: durable already, see the module contract). */
  saveVote(vote: Vote): Promise<void> | void;
  /** Where the log stands. */
  logState(): Promise<LogState>;
  /**
   * Entries with `from <= index <= to`, in order. Every requested index
   * between the purge point and the last entry must be returned.
   */
  entries(from: number, to: number): Promise<Entry[]>;
  /** Appends consecutive entries after the last one, durably (or returns `undefined` once durable). */
  append(entries: readonly Entry[]): Promise<void> | void;
  /** Deletes every entry with `index >= since`, durably (or returns `undefined` once durable). */
  truncate(since: number): Promise<void> | void;
  /** Deletes every entry with `index <= upTo.index` and records `upTo` as purged. */
  purge(upTo: LogId): Promise<void> | void;
  /** Remembers the commit index (need not be durable; speeds up recovery). */
  saveCommitted(committed: LogId | null): Promise<void> | void;
  /** The last saved commit index, or `null`. */
  readCommitted(): Promise<LogId | null>;
  /** Releases resources. The store is not used afterwards. */
  close(): Promise<void>;
}

/**
 * What the state machine has applied, and the membership it last saw.
 *
 * @example
 * ```ts
 * import type { AppliedState } from "./storage.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * const s: AppliedState = { lastApplied: null, membership: { logId: null, membership: EMPTY_MEMBERSHIP } };
 * ```
 */
export interface AppliedState {
  /** The last applied log id, or `null`. */
  readonly lastApplied: LogId | null;
  /** The last membership applied (from a membership entry or a snapshot). */
  readonly membership: StoredMembership;
}

/**
 * A snapshot: its metadata and a way to read its bytes. `open()` returns a
 * new stream from the start each time (a snapshot may be sent to several
 * peers), so a large snapshot never has to be held in memory whole.
 *
 * @example
 * ```ts
 * import type { Snapshot } from "./storage.ts";
 * import { snapshotOfBytes } from "./storage.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * const snap: Snapshot = snapshotOfBytes(
 *   { lastLogId: null, lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP }, snapshotId: "s" },
 *   new Uint8Array([1, 2, 3]),
 * );
 * const reader = snap.open().getReader();
 * ```
 */
export interface Snapshot {
  /** What the snapshot covers. */
  readonly meta: SnapshotMeta;
  /** Streams the serialized state, from the start. */
  open(): ReadableStream<Uint8Array>;
  /**
   * Its size in bytes, when known without reading it (the node logs and
   * counts it for a built snapshot; sent and installed ones are counted
   * as they stream).
   */
  readonly size?: number;
}

/**
 * A {@linkcode Snapshot} over bytes held in memory, streamed in chunks of
 * `chunkSize` (views, not copies).
 *
 * @example
 * ```ts
 * import { snapshotOfBytes } from "./storage.ts";
 * import { readAllBytes } from "./byte_stream.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * const snap = snapshotOfBytes(
 *   { lastLogId: null, lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP }, snapshotId: "s" },
 *   new Uint8Array(10),
 *   4,
 * );
 * console.assert((await readAllBytes(snap.open())).length === 10);
 * ```
 */
export function snapshotOfBytes(
  meta: SnapshotMeta,
  bytes: Uint8Array,
  chunkSize?: number,
): Snapshot;
export function snapshotOfBytes(
  meta: SnapshotMeta,
  bytes: Uint8Array,
  chunkSize: number = 64 * 1024,
): Snapshot {
  return { meta, open: () => bytesToStream(bytes, chunkSize), size: bytes.byteLength };
}

/**
 * The application's replicated state. `R` is what applying a command returns
 * to the client that proposed it.
 *
 * The contract the runtime relies on:
 * - **apply**: called with committed entries, in log order, each exactly
 *   once (`checkApplyOrder` enforces it). Every entry advances the applied
 *   log id, blank and membership entries too: `appliedState()` must report
 *   the last entry applied, whatever its type, and the membership of the
 *   last membership entry applied (`entry.membership` with its log id).
 *   Answer `undefined` for blank and membership entries.
 * - **A command that throws stops every node.** The entry is committed: each
 *   node applies it, each `apply` throws, each node stops with `ApplyError`.
 *   Validate a command *before* proposing it (decode it and check it on the
 *   leader, rejecting the client's request), and make `apply` answer a
 *   command it cannot carry out (a failed compare-and-set, a missing key)
 *   with an error *response* — a value of `R` — never with a throw. Throw
 *   only when the state machine itself is broken (its storage failed).
 * - **installSnapshot** replaces the whole state with the snapshot's and
 *   must then report `meta.lastLogId` from `appliedState().lastApplied`, and
 *   `meta.lastMembership` as its membership; `currentSnapshot()` returns it.
 * - **buildSnapshot** captures the applied state. The runtime never calls it
 *   while an `apply` or `installSnapshot` is in progress, and starts no
 *   `apply` or `installSnapshot` until the promise it returns settles: the
 *   state does not move under it. Its `meta.lastLogId` and `lastMembership`
 *   are those of the applied state, and `snapshotId` must be unique among
 *   the snapshots of this node (e.g. `${term}-${index}-${counter}` or a
 *   random id): it tells a snapshot in transfer from a newer one.
 * - **Durability**: with a durable log store, the state machine must persist
 *   its snapshot (and report it from `currentSnapshot` and `appliedState`
 *   after a restart): the log is purged behind snapshots, so a state
 *   machine that restarts empty can never catch up and `Raft.create`
 *   refuses it (`StateMachineBehindLog`). One that restarts at its last
 *   snapshot re-applies the log from there.
 * - **Membership through JSON**: `Membership.nodes` is a `Map`, which
 *   `JSON.stringify` turns into `{}`. Persist snapshot metadata with
 *   `encodeSnapshotMeta` / `decodeSnapshotMeta` (exported from `@x/raft`),
 *   or convert the map to its entries yourself.
 *
 * @example
 * ```ts
 * import type { StateMachine } from "./storage.ts";
 * function responses<R>(sm: StateMachine<R>): StateMachine<R> { return sm; }
 * ```
 */
export interface StateMachine<R = unknown> {
  /** What is applied; read on start-up to skip re-applying. */
  appliedState(): Promise<AppliedState>;
  /**
   * Applies committed entries, in order, exactly once each, and returns one
   * response per entry (`undefined` for blank and membership entries) — as
   * a promise, or as the array itself when applied synchronously (which
   * saves the runtime a promise per batch). A failure (rejection or throw)
   * stops the node with `ApplyError` — and every other node that applies
   * the same entry: see the contract above.
   */
  apply(entries: readonly Entry[]): Promise<(R | undefined)[]> | (R | undefined)[];
  /**
   * Serializes the applied state as a snapshot; never called while an
   * `apply` or `installSnapshot` is in progress, and none starts until it
   * settles. `snapshotId` unique per node.
   */
  buildSnapshot(): Promise<Snapshot>;
  /**
   * Replaces the state with a snapshot's, reading its bytes from `data` (a
   * stream of chunks as they arrive from the leader). Afterwards
   * `appliedState()` reports `meta.lastLogId` and `meta.lastMembership`.
   */
  installSnapshot(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void>;
  /** The latest snapshot built or installed, or `null`. */
  currentSnapshot(): Promise<Snapshot | null>;
}

/**
 * Throws unless `entries` continue from `lastApplied`: consecutive indexes
 * from `lastApplied.index + 1`, terms not decreasing. A state machine calls
 * it at the top of `apply` to enforce "in order, exactly once"; `name`
 * prefixes the message.
 *
 * @example
 * ```ts
 * import { checkApplyOrder } from "./storage.ts";
 * checkApplyOrder("MySM", { term: 1, index: 4 }, [{ term: 1, index: 5, type: "blank" }]);
 * let refused = false;
 * try {
 *   checkApplyOrder("MySM", { term: 1, index: 4 }, [{ term: 1, index: 7, type: "blank" }]);
 * } catch {
 *   refused = true;
 * }
 * console.assert(refused);
 * ```
 */
export function checkApplyOrder(
  name: string,
  lastApplied: LogId | null,
  entries: readonly Entry[],
): void {
  let prev = lastApplied;
  for (const e of entries) {
    const expected = (prev?.index ?? 0) + 1;
    if (e.index !== expected || (prev !== null && e.term < prev.term)) {
      const last = prev === null ? "none" : `${prev.term}-${prev.index}`;
      throw new Error(
        `${name}.apply: entry ${e.term}-${e.index} does not follow the last applied ${last} ` +
          `(expected index ${expected}): entries must be applied in order, exactly once`,
      );
    }
    prev = e;
  }
}
