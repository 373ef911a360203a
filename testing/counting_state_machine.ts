/**
 * {@linkcode CountingStateMachine}: a state machine that only counts, for
 * benchmarks and tests whose commands do not matter.
 *
 * @module
 */

import type { AppliedState, Snapshot, StateMachine } from "../src/storage.ts";
import { checkApplyOrder, snapshotOfBytes } from "../src/storage.ts";
import { readAllBytes } from "../src/byte_stream.ts";
import {
  EMPTY_MEMBERSHIP,
  type Entry,
  type LogId,
  type SnapshotMeta,
  type StoredMembership,
} from "../src/types.ts";

const _INITIAL_MEMBERSHIP: StoredMembership = Object.freeze({
  logId: null,
  membership: EMPTY_MEMBERSHIP,
});

function _idOrNull(id: LogId | null): LogId | null {
  return id === null ? null : { term: id.term, index: id.index };
}

function _isTerm(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/**
 * A state machine that only counts the normal entries it applies, for
 * benchmarks: each normal entry returns the count including itself. Blank
 * and membership entries return `undefined` (membership entries become the
 * applied membership). Its snapshot is the count (8 bytes).
 *
 * @example
 * ```ts
 * import { CountingStateMachine } from "./counting_state_machine.ts";
 * const sm = new CountingStateMachine();
 * const out = await sm.apply([
 *   { term: 1, index: 1, type: "blank" },
 *   { term: 1, index: 2, type: "normal", data: new Uint8Array(16) },
 * ]);
 * console.assert(out[1] === 1 && sm.count === 1);
 * ```
 */
export class CountingStateMachine implements StateMachine<number> {
  #count = 0;
  #lastApplied: LogId | null = null;
  #membership: StoredMembership = _INITIAL_MEMBERSHIP;
  #snapshot: { meta: SnapshotMeta; bytes: Uint8Array } | null = null;
  #counter = 0;

  /**
   * How many normal entries are applied (including those covered by an
   * installed snapshot).
   *
   * @example
   * ```ts
   * import { CountingStateMachine } from "./counting_state_machine.ts";
   * console.assert(new CountingStateMachine().count === 0);
   * ```
   */
  get count(): number {
    return this.#count;
  }

  /**
   * The last applied log id and the membership in effect.
   *
   * @example
   * ```ts
   * import { CountingStateMachine } from "./counting_state_machine.ts";
   * console.assert((await new CountingStateMachine().appliedState()).lastApplied === null);
   * ```
   */
  appliedState(): Promise<AppliedState> {
    return Promise.resolve({
      lastApplied: _idOrNull(this.#lastApplied),
      membership: this.#membership,
    });
  }

  /**
   * Counts the normal entries, answering synchronously (an array); rejects,
   * applying none, unless the entries continue from the last applied one.
   *
   * @example
   * ```ts
   * import { CountingStateMachine } from "./counting_state_machine.ts";
   * const sm = new CountingStateMachine();
   * const [n] = await sm.apply([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
   * console.assert(n === 1);
   * ```
   */
  apply(entries: readonly Entry[]): Promise<(number | undefined)[]> | (number | undefined)[] {
    const last = entries[entries.length - 1];
    if (last === undefined) return [];
    const first = entries[0]!;
    const expected = (this.#lastApplied?.index ?? 0) + 1;
    if (first.index !== expected || last.index !== expected + entries.length - 1) {
      try {
        checkApplyOrder("CountingStateMachine", this.#lastApplied, entries);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    const out: (number | undefined)[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type === "normal") out[i] = ++this.#count;
      else {
        if (e.type === "membership") {
          this.#membership = { logId: { term: e.term, index: e.index }, membership: e.membership };
        }
        out[i] = undefined;
      }
    }
    this.#lastApplied = { term: last.term, index: last.index };
    return out;
  }

  /**
   * Captures the count and the last applied log id.
   *
   * @example
   * ```ts
   * import { CountingStateMachine } from "./counting_state_machine.ts";
   * import { readAllBytes } from "../src/byte_stream.ts";
   * const s = await new CountingStateMachine().buildSnapshot();
   * console.assert((await readAllBytes(s.open())).byteLength === 8);
   * ```
   */
  buildSnapshot(): Promise<Snapshot> {
    const last = _idOrNull(this.#lastApplied);
    const data = new Uint8Array(8);
    new DataView(data.buffer).setFloat64(0, this.#count);
    const meta: SnapshotMeta = {
      lastLogId: last,
      lastMembership: this.#membership,
      snapshotId: `${last?.term ?? 0}-${last?.index ?? 0}-${++this.#counter}`,
    };
    this.#snapshot = { meta, bytes: data };
    return Promise.resolve(snapshotOfBytes(meta, data));
  }

  /**
   * Replaces the count and the applied state with the snapshot's (a big-endian float64).
   *
   * @example
   * ```ts
   * import { CountingStateMachine } from "./counting_state_machine.ts";
   * const a = new CountingStateMachine();
   * await a.apply([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
   * const snap = await a.buildSnapshot();
   * const b = new CountingStateMachine();
   * await b.installSnapshot(snap.meta, snap.open());
   * console.assert(b.count === 1);
   * ```
   */
  async installSnapshot(meta: SnapshotMeta, stream: ReadableStream<Uint8Array>): Promise<void> {
    const data = await readAllBytes(stream);
    if (data.byteLength !== 8) {
      throw new Error("CountingStateMachine: invalid snapshot: not 8 bytes");
    }
    const count = new DataView(data.buffer, data.byteOffset, 8).getFloat64(0);
    if (!_isTerm(count)) throw new Error("CountingStateMachine: invalid snapshot: bad count");
    this.#count = count;
    this.#lastApplied = _idOrNull(meta.lastLogId);
    this.#membership = meta.lastMembership;
    this.#snapshot = { meta, bytes: data };
  }

  /**
   * The last snapshot built or installed, or `null`.
   *
   * @example
   * ```ts
   * import { CountingStateMachine } from "./counting_state_machine.ts";
   * console.assert(await new CountingStateMachine().currentSnapshot() === null);
   * ```
   */
  currentSnapshot(): Promise<Snapshot | null> {
    const s = this.#snapshot;
    return Promise.resolve(s === null ? null : snapshotOfBytes(s.meta, s.bytes));
  }
}
