/**
 * The engine's view of the log: which term each index holds, without the
 * entries themselves (they live in the store). Kept as a list of term runs,
 * so memory is O(terms), not O(entries).
 *
 * @module
 */

import type { LogId } from "../types.ts";

/**
 * Term runs of a log: `starts[i]` is the first entry of a run of equal terms.
 * Entries after `purged` up to `last` are present; `purged` itself is known
 * by id only (it may be the last entry of a snapshot).
 *
 * @example
 * ```ts
 * import { LogView } from "./log_view.ts";
 * const log = LogView.fromLogIds([{ term: 1, index: 1 }, { term: 1, index: 2 }, { term: 3, index: 3 }]);
 * log.termAt(2); // 1
 * log.lastLogId(); // { term: 3, index: 3 }
 * ```
 */
export class LogView {
  #purged: LogId | null;
  #starts: LogId[] = [];
  #lastIndex: number;

  /** An empty log whose entries up to `purged` are gone (compacted). */
  constructor(purged: LogId | null = null) {
    this.#purged = purged;
    this.#lastIndex = purged?.index ?? 0;
  }

  /**
   * Builds a view from consecutive log ids (after `purged`, if given).
   *
   * @example
   * ```ts
   * import { LogView } from "./log_view.ts";
   * LogView.fromLogIds([{ term: 2, index: 6 }], { term: 1, index: 5 }).firstIndex(); // 6
   * ```
   */
  static fromLogIds(ids: readonly LogId[], purged: LogId | null = null): LogView {
    const view = new LogView(purged);
    view.append(ids);
    return view;
  }

  /** The last purged (compacted) log id, or `null`. */
  purged(): LogId | null {
    return this.#purged;
  }

  /** Index of the first present entry (`purged.index + 1`). */
  firstIndex(): number {
    return (this.#purged?.index ?? 0) + 1;
  }

  /** Index of the last entry, or of the purge point when empty; 0 for a blank log. */
  lastIndex(): number {
    return this.#lastIndex;
  }

  /** The last log id, or `null` for a blank log. */
  lastLogId(): LogId | null {
    if (this.#starts.length === 0) return this.#purged;
    return { term: this.#starts[this.#starts.length - 1]!.term, index: this.#lastIndex };
  }

  /** Term of the last entry, 0 for a blank log. */
  lastTerm(): number {
    return this.lastLogId()?.term ?? 0;
  }

  /**
   * The term at `index`: known for the purge point and every present entry;
   * `undefined` below the purge point or past the end. Index 0 has term 0.
   */
  termAt(index: number): number | undefined {
    if (index === 0) return 0;
    const purged = this.#purged;
    if (purged !== null && index === purged.index) return purged.term;
    if (index < this.firstIndex() || index > this.#lastIndex) return undefined;
    const run = this.#runAt(index);
    return this.#starts[run]!.term;
  }

  /** The log id at `index`, or `null` where {@linkcode termAt} is undefined or index is 0. */
  logIdAt(index: number): LogId | null {
    if (index === 0) return null;
    const term = this.termAt(index);
    return term === undefined ? null : { term, index };
  }

  /** Whether the log holds exactly `id` (`null` always matches: the start of the log). */
  matches(id: LogId | null): boolean {
    if (id === null) return true;
    return this.termAt(id.index) === id.term;
  }

  /** First present index holding `term`, or `undefined`. */
  firstIndexOfTerm(term: number): number | undefined {
    const purged = this.#purged;
    for (const s of this.#starts) if (s.term === term) return s.index;
    if (purged !== null && purged.term === term) return purged.index;
    return undefined;
  }

  /** Last index holding `term`, or `undefined` if no entry has it. */
  lastIndexOfTerm(term: number): number | undefined {
    for (let i = this.#starts.length - 1; i >= 0; i--) {
      const s = this.#starts[i]!;
      if (s.term === term) {
        const next = this.#starts[i + 1];
        return next === undefined ? this.#lastIndex : next.index - 1;
      }
      if (s.term < term) break;
    }
    const purged = this.#purged;
    if (purged !== null && purged.term === term) return purged.index;
    return undefined;
  }

  /**
   * Where `entries` (consecutive, as an append request carries them) first
   * differ from this log: the position of the first entry the log does not
   * hold — a different term at its index, or past the end. Entries at or
   * below the purge point count as held (they are committed). Returns
   * `entries.length` when the log holds them all. A follower truncates only
   * from that entry on: entries that match are never dropped.
   *
   * @example
   * ```ts
   * import { LogView } from "./log_view.ts";
   * const log = LogView.fromLogIds([{ term: 1, index: 1 }, { term: 1, index: 2 }]);
   * log.firstNotHeld([{ term: 1, index: 2 }, { term: 2, index: 3 }]); // 1: index 3 is new
   * log.firstNotHeld([{ term: 2, index: 2 }]); // 0: a conflict at index 2
   * log.firstNotHeld([{ term: 1, index: 1 }]); // 1: all held
   * ```
   */
  firstNotHeld(entries: readonly LogId[]): number {
    const purgedIndex = this.#purged?.index ?? 0;
    let i = 0;
    for (; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.index <= purgedIndex) continue;
      if (e.index > this.#lastIndex || this.termAt(e.index) !== e.term) break;
    }
    return i;
  }

  /**
   * Appends entries, which must continue the log: consecutive indexes from
   * `lastIndex() + 1` and non-decreasing terms. Throws otherwise (a bug).
   */
  append(ids: readonly LogId[]): void {
    let lastTerm = this.lastTerm();
    for (const id of ids) {
      if (id.index !== this.#lastIndex + 1) {
        throw new RangeError(`log append at ${id.index}, expected ${this.#lastIndex + 1}`);
      }
      if (id.term < lastTerm) throw new RangeError(`log term ${id.term} after ${lastTerm}`);
      if (this.#starts.length === 0 || id.term !== lastTerm) {
        this.#starts.push({ term: id.term, index: id.index });
      }
      this.#lastIndex = id.index;
      lastTerm = id.term;
    }
  }

  /** Removes every entry at or after `since` (which must be after the purge point). */
  truncate(since: number): void {
    if (since < this.firstIndex()) throw new RangeError(`truncate at ${since} below first index`);
    if (since > this.#lastIndex) return;
    while (this.#starts.length > 0 && this.#starts[this.#starts.length - 1]!.index >= since) {
      this.#starts.pop();
    }
    this.#lastIndex = since - 1;
  }

  /**
   * Forgets entries up to and including `upTo`. When `upTo` is past the end
   * (a snapshot newer than the log), the log becomes empty at `upTo`.
   */
  purge(upTo: LogId): void {
    if (this.#purged !== null && upTo.index <= this.#purged.index) return;
    if (upTo.index >= this.#lastIndex) {
      this.#starts = [];
      this.#lastIndex = upTo.index;
      this.#purged = upTo;
      return;
    }
    const drop = this.#runAt(upTo.index);
    const rest = this.#starts.slice(drop);
    rest[0] = { term: rest[0]!.term, index: upTo.index + 1 };
    // The run containing upTo may end exactly at upTo: then the next run starts later.
    if (rest.length > 1 && rest[1]!.index === upTo.index + 1) rest.shift();
    this.#starts = rest;
    this.#purged = upTo;
  }

  /** Every present log id, in order (for tests and small logs). */
  logIds(): LogId[] {
    const out: LogId[] = [];
    for (let i = this.firstIndex(); i <= this.#lastIndex; i++) {
      out.push({ term: this.termAt(i)!, index: i });
    }
    return out;
  }

  #runAt(index: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid]!.index <= index) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
