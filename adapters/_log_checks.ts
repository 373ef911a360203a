/**
 * What the durable log stores share (private to adapters/): the in-memory
 * picture of a store's small state and the argument checks of every
 * {@linkcode LogStore} call, identical to `MemoryLogStore`'s so that all
 * adapters accept and reject the same calls, with the same messages.
 *
 * @module
 */

import type { LogStore } from "../src/storage.ts";
import type { Entry, LogId, Vote } from "../src/types.ts";

/**
 * A store's small state, kept in memory by a durable adapter and always
 * equal to what is durable (it is updated only after a write completed).
 */
export class LogMeta {
  vote: Vote | null = null;
  /** The last purged id, or `null`. */
  purged: LogId | null = null;
  /** The last entry present (above the purge point), or `null` if there is none. */
  last: LogId | null = null;
  committed: LogId | null = null;

  get purgedIndex(): number {
    return this.purged?.index ?? 0;
  }

  /** Index of the last entry present, else of the purge point, else 0. */
  get lastIndex(): number {
    return this.last?.index ?? this.purgedIndex;
  }

  /** The last log id present, else the last purged one, else `null`. */
  lastLogId(): LogId | null {
    return copyId(this.last ?? this.purged);
  }
}

/** A fresh copy of a log id (or `null`). */
export function copyId(id: LogId | null): LogId | null {
  return id === null ? null : { term: id.term, index: id.index };
}

/** `term-index`, or `none`. */
export function fmtId(id: LogId | null): string {
  return id === null ? "none" : `${id.term}-${id.index}`;
}

function _isIndex(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n);
}

function _isTerm(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

/** Rejects a malformed log id (`what` names it in the message). */
export function checkLogId(name: string, op: string, id: LogId, what: string): void {
  if (
    id === null || typeof id !== "object" || !_isIndex(id.index) || id.index < 0 ||
    !_isTerm(id.term)
  ) {
    throw new TypeError(`${name}.${op}: malformed ${what} ${JSON.stringify(id)}`);
  }
}

/** Rejects a malformed vote, or one that goes back from `old`. */
export function checkVote(name: string, old: Vote | null, v: Vote): void {
  if (
    v === null || typeof v !== "object" || !_isTerm(v.term) ||
    !(v.votedFor === null || _isTerm(v.votedFor)) || typeof v.committed !== "boolean"
  ) {
    throw new TypeError(`${name}.saveVote: malformed vote ${JSON.stringify(v)}`);
  }
  if (old !== null && v.term === old.term) {
    if (old.votedFor !== null && v.votedFor !== old.votedFor) {
      throw new Error(
        `${name}.saveVote: term ${v.term} already has a vote for ${old.votedFor}, ` +
          `cannot vote for ${v.votedFor}`,
      );
    }
    if (old.committed && !v.committed) {
      throw new Error(`${name}.saveVote: the vote of term ${v.term} was committed`);
    }
  } else if (old !== null && v.term < old.term) {
    throw new Error(`${name}.saveVote: term goes back from ${old.term} to ${v.term}`);
  }
}

/** Rejects a range that is not two safe integers. */
export function checkRange(name: string, from: number, to: number): void {
  if (!_isIndex(from) || !_isIndex(to)) {
    throw new RangeError(`${name}.entries: bad range [${from}, ${to}]`);
  }
}

/**
 * Rejects entries that do not continue the log: the first index must be
 * the last index (or the purge point) + 1, indexes consecutive, terms not
 * decreasing, payloads well-formed.
 */
export function checkAppend(name: string, meta: LogMeta, entries: readonly Entry[]): void {
  if (!Array.isArray(entries)) throw new TypeError(`${name}.append: entries must be an array`);
  let index = meta.lastIndex;
  let term = meta.lastLogId()?.term ?? 0;
  for (const e of entries) {
    if (e === null || typeof e !== "object" || !_isIndex(e.index) || !_isTerm(e.term)) {
      throw new TypeError(`${name}.append: malformed entry ${String(e)}`);
    }
    if (e.index !== index + 1) {
      throw new Error(
        `${name}.append: entry ${e.term}-${e.index} does not continue the log: ` +
          `expected index ${index + 1}` +
          (e.index <= index ? " (truncate conflicting entries first)" : " (gap)"),
      );
    }
    if (e.term < term) {
      throw new Error(
        `${name}.append: entry ${e.term}-${e.index} has a lower term than ` +
          `the entry before it (${term})`,
      );
    }
    if (
      !(e.type === "blank" || (e.type === "normal" && e.data instanceof Uint8Array) ||
        (e.type === "membership" && typeof e.membership === "object" && e.membership !== null))
    ) {
      throw new TypeError(`${name}.append: entry ${e.term}-${e.index} has a malformed payload`);
    }
    index = e.index;
    term = e.term;
  }
}

/**
 * Rejects `since` at or below the purge point; returns whether there is
 * anything to delete (`false`: beyond the last entry, a no-op).
 */
export function checkTruncate(name: string, meta: LogMeta, since: number): boolean {
  if (!_isIndex(since) || since < 1) {
    throw new RangeError(`${name}.truncate: bad index ${since}`);
  }
  if (since <= meta.purgedIndex) {
    throw new Error(
      `${name}.truncate: index ${since} is at or below the purge point ${fmtId(meta.purged)}`,
    );
  }
  return since <= meta.lastIndex;
}

/**
 * First check of a purge, before the entry at `upTo.index` is looked up:
 * rejects a malformed id and one below the purge point; returns `false` for
 * the purge point itself (a no-op).
 */
export function checkPurgeStart(name: string, meta: LogMeta, upTo: LogId): boolean {
  if (
    upTo === null || typeof upTo !== "object" || !_isIndex(upTo.index) || upTo.index < 1 ||
    !_isTerm(upTo.term)
  ) {
    throw new TypeError(`${name}.purge: malformed log id ${JSON.stringify(upTo)}`);
  }
  const old = meta.purged;
  if (old !== null && (upTo.index < old.index || upTo.term < old.term)) {
    throw new Error(`${name}.purge: ${fmtId(upTo)} is below the purge point ${fmtId(old)}`);
  }
  if (old !== null && upTo.index === old.index) {
    if (upTo.term !== old.term) {
      throw new Error(`${name}.purge: ${fmtId(upTo)} conflicts with the purge point ${fmtId(old)}`);
    }
    return false;
  }
  return true;
}

/**
 * Second check of a purge: `term` is the term of the entry at `upTo.index`,
 * or `undefined` if there is none (beyond the last entry).
 */
export function checkPurgeTerm(
  name: string,
  meta: LogMeta,
  upTo: LogId,
  term: number | undefined,
): void {
  if (term !== undefined && term !== upTo.term) {
    throw new Error(
      `${name}.purge: ${fmtId(upTo)} conflicts with the entry ${term}-${upTo.index} ` +
        `(truncate the conflicting entries first)`,
    );
  }
  if (term === undefined) {
    const last = meta.lastLogId();
    if (last !== null && upTo.term < last.term) {
      throw new Error(
        `${name}.purge: ${fmtId(upTo)} is beyond the last entry ${fmtId(last)} ` +
          `but has a lower term`,
      );
    }
  }
}

/** The error of a call on a closed store. */
export function closedError(name: string, op: keyof LogStore): Error {
  return new Error(`${name}.${op}: the store is closed`);
}

/**
 * The error of a call on a store whose earlier write failed: it names that
 * failure (its first line; the whole error is the `cause`), which says why —
 * fencing, a full disk —, since the caller may see this error first.
 */
export function failedStoreError(name: string, op: keyof LogStore, failed: unknown): Error {
  const message = (failed instanceof Error ? failed.message : String(failed)).split("\n")[0]!;
  return new Error(
    `${name}.${op}: an earlier write failed (${message.slice(0, 300)}); reopen the store`,
    { cause: failed },
  );
}
