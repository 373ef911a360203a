/**
 * Client writes on their way through the log. A command waits in a queue
 * until the next turn proposes every queued command as one batch; each then
 * waits for its entry, by log index, until the apply worker answers it with
 * the state machine's response. A write whose index a new term reuses was
 * overwritten ({@linkcode ForwardToLeader}); one whose fate this node cannot
 * learn (it lost leadership or left the cluster, or a snapshot covered it)
 * is abandoned with {@linkcode OutcomeUnknown}.
 *
 * @module
 */

import type { ProposeResult } from "../engine/commands.ts";
import { OutcomeUnknown, PreconditionFailed } from "../errors.ts";
import type { Entry, LogId, NodeId } from "../types.ts";
import { forwardToLeader, type NodeAddresses, proposeError } from "./engine_errors.ts";

/**
 * The result of a client write: where the command went in the log and what
 * the state machine returned for it.
 *
 * @example
 * ```ts
 * import type { ClientWriteResult } from "./client_writes.ts";
 * const r: ClientWriteResult<number> = { logId: { term: 1, index: 3 }, response: 7 };
 * ```
 */
export interface ClientWriteResult<R> {
  /** The entry that holds the command. */
  readonly logId: LogId;
  /** The state machine's response. */
  readonly response: R;
}

/**
 * The leader a conditional write expects (openraft's `with_leader`): the
 * write is proposed only if this node is still leader `id` in `term`, else
 * it rejects with {@linkcode PreconditionFailed} and nothing is written.
 *
 * @example
 * ```ts
 * import type { ExpectedLeader } from "./client_writes.ts";
 * const expected: ExpectedLeader = { id: 1, term: 4 }; // e.g. from metrics.current
 * ```
 */
export interface ExpectedLeader {
  /** The leader's id. */
  readonly id: NodeId;
  /** The leader's term. */
  readonly term: number;
}

/**
 * A write waiting to be proposed, then for its entry to be applied.
 */
export interface Proposal<R> {
  /** The command, or `null` for a blank entry (a barrier). */
  readonly data: Uint8Array | null;
  /** The term it was proposed in (0 while queued). */
  term: number;
  /** The index it was proposed at (0 while queued). */
  index: number;
  /** The leader it must be proposed by, or `null`. */
  readonly ifLeader: ExpectedLeader | null;
  /** Withdrawn while queued (its caller stopped waiting): never proposed. */
  withdrawn: boolean;
  /** Called once with the result. */
  resolve(r: ClientWriteResult<R>): void;
  /** Called once with the error. */
  reject(e: unknown): void;
}

/**
 * What the client writes need from their node.
 */
export interface WriteHost {
  /** Proposes commands as consecutive entries (the engine's `propose`). */
  propose(payloads: readonly (Uint8Array | null)[]): ProposeResult;
  /** The known leader of the current term. */
  leaderId(): NodeId | null;
  /** The current term. */
  term(): number;
  /** Whether this node is the leader. */
  isLeader(): boolean;
  /** Node addresses, to name the leader with. */
  nodes(): NodeAddresses;
  /**
   * How many proposed batches may wait for their entries at once before
   * queued writes wait for the oldest to be applied (see
   * {@linkcode ClientWrites.mayPropose}); `Infinity`: never wait.
   */
  readonly maxBatches: number;
  /** A batch was applied while writes wait in the queue: run a turn to propose them. */
  wake(): void;
}

/**
 * The client writes of one node: queued commands, then proposals waiting
 * for their entries.
 */
export class ClientWrites<R> {
  readonly #host: WriteHost;
  /** Commands not proposed yet. */
  #queued: Proposal<R>[] = [];
  /** Proposals waiting for their entry: `#waiters[i]` waits for index `#waitFirst + i`. */
  #waiters: (Proposal<R> | undefined)[] = [];
  #waitFirst = 0;
  /** Slots before this one are all answered. */
  #waitHead = 0;
  /** Queued proposals withdrawn since the last proposal. */
  #withdrawn = 0;
  /** Queued proposals with a precondition since the last proposal. */
  #conditional = 0;
  /** Entries proposed so far (a counter). */
  proposed = 0;
  /** Proposed writes waiting for their entry to be applied. */
  #inLog = 0;
  /**
   * Batches proposed and not yet applied, oldest first: their term and last
   * index (see {@linkcode mayPropose}).
   */
  #batches: { term: number; last: number }[] = [];

  /** @param host what the writes need from their node */
  constructor(host: WriteHost) {
    this.#host = host;
  }

  /**
   * Queues `command` (`null`: a blank entry) for the next proposal; the
   * promise settles once its entry is applied (or once it is known it will
   * not be, or not here).
   */
  add(
    command: Uint8Array | null,
    ifLeader: ExpectedLeader | null = null,
  ): Promise<ClientWriteResult<R>> {
    return new Promise((resolve, reject) => {
      this.enqueue({
        data: command,
        term: 0,
        index: 0,
        ifLeader,
        withdrawn: false,
        resolve,
        reject,
      });
    });
  }

  /**
   * Queues a proposal whose callbacks the caller made (a fire-and-forget
   * write, or one its caller may withdraw: see {@linkcode withdraw}).
   */
  enqueue(p: Proposal<R>): void {
    if (p.ifLeader !== null) this.#conditional++;
    this.#queued.push(p);
  }

  /**
   * The caller of `p` stops waiting (timeout, abort). A queued proposal is
   * withdrawn: never proposed, and `null` is returned. A proposed one stays
   * in the log: its log id is returned (it may still take effect); it is
   * answered as usual, which the caller ignores.
   */
  withdraw(p: Proposal<R>): LogId | null {
    if (p.term === 0) {
      p.withdrawn = true;
      this.#withdrawn++;
      return null;
    }
    return { term: p.term, index: p.index };
  }

  /** Writes not answered yet: queued, or proposed and waiting to be applied. */
  get pending(): number {
    return this.#queued.length + this.#inLog;
  }

  /** Whether commands wait to be proposed. */
  get hasQueued(): boolean {
    return this.#queued.length > 0;
  }

  /**
   * Whether the queued writes may be proposed now: fewer than `maxBatches`
   * batches of this leader's term wait for their entries. Otherwise they
   * wait for the oldest batch to be applied (`wake` runs a turn then), and
   * every write that arrives meanwhile joins them: one batch, one log write
   * and one append request per peer for all of them. Over HTTP, writes
   * arrive in separate I/O callbacks, each followed by its own turn: without
   * this, each became a proposal of its own, and with a store that writes
   * synchronously (bun:sqlite) an fsync of its own. Batches of an earlier
   * term, or once this node no longer leads, do not hold writes back (their
   * proposal is refused at once).
   */
  get mayPropose(): boolean {
    const b = this.#batches;
    if (b.length < this.#host.maxBatches) return true;
    const term = this.#host.term();
    if (b[b.length - 1]!.term !== term || !this.#host.isLeader()) {
      this.#batches = [];
      return true;
    }
    return false;
  }

  /**
   * Proposes every queued command as one batch; refused, they all reject
   * with the refusal's error. Withdrawn ones are dropped, and those whose
   * expected leader is not this node's current one reject with
   * {@linkcode PreconditionFailed}.
   */
  propose(): void {
    let batch = this.#queued;
    this.#queued = [];
    if (this.#withdrawn > 0 || this.#conditional > 0) {
      batch = this.#screen(batch);
      if (batch.length === 0) return;
    }
    const r = this.#host.propose(batch.map((p) => p.data));
    if (!r.ok) {
      const err = proposeError(r, this.#host.nodes());
      for (const p of batch) p.reject(err);
      return;
    }
    this.proposed += batch.length;
    this.#addWaiters(r.firstIndex, r.term, batch);
    if (this.#host.maxBatches !== Infinity) {
      this.#batches.push({ term: r.term, last: r.firstIndex + batch.length - 1 });
    }
  }

  /** Drops withdrawn proposals and refuses those whose precondition fails. */
  #screen(batch: Proposal<R>[]): Proposal<R>[] {
    this.#withdrawn = 0;
    this.#conditional = 0;
    const leader = { id: this.#host.leaderId(), term: this.#host.term() };
    const kept: Proposal<R>[] = [];
    for (const p of batch) {
      if (p.withdrawn) continue;
      const want = p.ifLeader;
      if (want !== null && (want.id !== leader.id || want.term !== leader.term)) {
        p.reject(new PreconditionFailed("leader", { id: want.id, term: want.term }, leader));
        continue;
      }
      kept.push(p);
    }
    return kept;
  }

  #addWaiters(firstIndex: number, term: number, batch: Proposal<R>[]): void {
    const w = this.#waiters;
    if (this.#waitHead >= w.length) {
      this.#waiters = [];
      this.#waitHead = 0;
      this.#waitFirst = firstIndex;
    }
    const at = firstIndex - this.#waitFirst;
    // Indexes of a lost term reused by a new one: those proposals were overwritten. The
    // reused indexes may lie below the head (answered or empty slots): pop down to `at`.
    while (this.#waiters.length > Math.max(at, 0)) {
      const lost = this.#waiters.pop();
      if (lost === undefined) continue;
      this.#inLog--;
      lost.reject(forwardToLeader(this.#host.leaderId(), this.#host.nodes()));
    }
    if (at < 0) {
      this.#waitFirst = firstIndex;
      this.#waitHead = 0;
    } else if (this.#waitHead > this.#waiters.length) {
      this.#waitHead = this.#waiters.length;
    }
    while (this.#waiters.length < at) this.#waiters.push(undefined);
    let index = firstIndex;
    for (const p of batch) {
      p.term = term;
      p.index = index++;
      this.#waiters.push(p);
    }
    this.#inLog += batch.length;
  }

  /** Takes the proposal waiting for `index`, if any. */
  #take(index: number): Proposal<R> | undefined {
    const k = index - this.#waitFirst;
    const w = this.#waiters;
    if (k < this.#waitHead || k >= w.length) return undefined;
    const p = w[k];
    if (p !== undefined) this.#inLog--;
    w[k] = undefined;
    if (k === this.#waitHead) {
      let h = k + 1;
      while (h < w.length && w[h] === undefined) h++;
      this.#waitHead = h;
      if (h > 4096 && h * 2 > w.length) {
        this.#waiters = w.slice(h);
        this.#waitFirst += h;
        this.#waitHead = 0;
      }
    }
    return p;
  }

  /**
   * Answers the writes of applied `entries`: with the state machine's
   * response (`responses[i]` for `entries[i]`) when the entry is the
   * proposal's, with {@linkcode ForwardToLeader} when another term's entry
   * took its index.
   */
  applied(entries: readonly Entry[], responses: readonly (R | undefined)[]): void {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      const w = this.#take(e.index);
      if (w === undefined) continue;
      if (w.term === e.term) {
        w.resolve({ logId: { term: e.term, index: e.index }, response: responses[i] as R });
      } else {
        w.reject(forwardToLeader(this.#host.leaderId(), this.#host.nodes()));
      }
    }
    const last = entries[entries.length - 1];
    if (last !== undefined) this.#batchesDone(last.index);
  }

  /** Batches up to `index` are applied (or abandoned): queued writes may go. */
  #batchesDone(index: number): void {
    const b = this.#batches;
    if (b.length === 0 || b[0]!.last > index) return;
    let n = 1;
    while (n < b.length && b[n]!.last <= index) n++;
    b.splice(0, n);
    if (this.#queued.length > 0) this.#host.wake();
  }

  /**
   * Rejects the writes waiting for indexes `from` to `to` (inclusive) with
   * {@linkcode OutcomeUnknown}: another leader decides them, and this node
   * cannot tell what it decided.
   */
  abandon(from: number, to: number): void {
    const end = Math.min(to + 1, this.#waitFirst + this.#waiters.length);
    for (let i = Math.max(from, this.#waitFirst + this.#waitHead); i < end; i++) {
      const w = this.#take(i);
      w?.reject(new OutcomeUnknown({ term: w.term, index: i }, this.#host.leaderId()));
    }
    // Abandoned batches hold nothing back any more.
    if (this.#batches.length > 0) {
      this.#batches = [];
      if (this.#queued.length > 0) this.#host.wake();
    }
  }

  /** Rejects every write, queued or waiting, with `err` (shutdown, fatal error). */
  rejectAll(err: unknown): void {
    for (const p of this.#queued) p.reject(err);
    this.#queued = [];
    for (const p of this.#waiters) p?.reject(err);
    this.#waiters = [];
    this.#waitHead = 0;
    this.#inLog = 0;
    this.#batches = [];
  }
}
