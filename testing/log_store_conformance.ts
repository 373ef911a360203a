/**
 * A conformance suite for {@linkcode LogStore} implementations: every case
 * opens a fresh store, exercises one part of the contract, closes the store,
 * and throws an `Error` describing the first mismatch. It depends on no test
 * framework; run each case as one test of yours.
 *
 * The cases cover, by name prefix: the initial state (`empty store:`), the
 * vote (`vote:`), appends and reads of every range (`append:`, `entries:`,
 * `writes:`, `reads during a pending write`), truncate and purge at every
 * boundary — the first entry, the middle, the last, one past it and far
 * beyond, the purge point itself — and appends after them (`truncate:`,
 * `purge:`, `purge then append:`), the commit index (`committed:`), the
 * calls a store must refuse without changing anything (gaps, overwrites,
 * lower terms, malformed entries, votes going back, conflicting purges,
 * truncating purged entries, bad ranges, calls after `close:`), and a seeded
 * run of 300 operations against a reference model (`model:`).
 *
 * Cases whose `requiresReopen` is `true` (`reopen:`) check durability across
 * close and reopen at every point of a log's life (empty, vote only, after
 * appends, truncates, purges, a purge of everything or beyond the last
 * entry, twice in a row, and the seeded run reopened every 20 steps) and
 * need the `reopen` argument: given a closed store, open a new one on the
 * same storage (skip them for a store without persistence). The commit
 * index need not be durable: after a reopen `readCommitted()` may return
 * `null`, but never another value.
 *
 * @module
 */

import type { LogStore } from "../src/storage.ts";
import type { Entry, LogId, Membership, RaftNode, Vote } from "../src/types.ts";

/**
 * Opens a fresh, empty store.
 *
 * @example
 * ```ts
 * import type { OpenLogStore } from "./log_store_conformance.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * const open: OpenLogStore = () => Promise.resolve(new MemoryLogStore());
 * ```
 */
export type OpenLogStore = () => Promise<LogStore>;

/**
 * Given a store that was closed, opens a new store on the same storage.
 *
 * @example
 * ```ts
 * import type { ReopenLogStore } from "./log_store_conformance.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * const reopen: ReopenLogStore = (closed) => Promise.resolve((closed as MemoryLogStore).crash());
 * ```
 */
export type ReopenLogStore = (closed: LogStore) => Promise<LogStore>;

/**
 * One conformance case.
 *
 * @example
 * ```ts
 * import { LOG_STORE_CASES, type LogStoreCase } from "./log_store_conformance.ts";
 * const first: LogStoreCase | undefined = LOG_STORE_CASES[0];
 * ```
 */
export interface LogStoreCase {
  /** What the case checks, e.g. `"vote: round-trips and is overwritten"`. */
  readonly name: string;
  /** Whether the case needs `reopen` (it throws without one). */
  readonly requiresReopen: boolean;
  /**
   * Runs the case: resolves if the store conforms, rejects with an `Error`
   * describing the first mismatch otherwise.
   */
  run(open: OpenLogStore, reopen?: ReopenLogStore): Promise<void>;
}

// ------------------------------------------------------------------ helpers

function _describe(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x instanceof Uint8Array) {
      const head = [...x.subarray(0, 8)].join(",");
      return `Uint8Array(${x.length})[${head}${x.length > 8 ? ",…" : ""}]`;
    }
    if (x instanceof Map) return { Map: [...x.entries()] };
    if (x === undefined) return "undefined";
    return x;
  }) ?? String(v);
}

function _equal(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) {
      return false;
    }
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map) || !(b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !_equal(v, b.get(k))) return false;
    return true;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => _equal(x, b[i]));
  }
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
    const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) =>
      _equal((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])
    );
  }
  return false;
}

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function checkEqual(actual: unknown, expected: unknown, what: string): void {
  if (!_equal(actual, expected)) {
    throw new Error(`${what}: expected ${_describe(expected)}, got ${_describe(actual)}`);
  }
}

/** The fields that matter of a membership, in a canonical form. */
function _membershipView(m: Membership): unknown {
  check(m !== null && typeof m === "object", "a membership entry lost its membership");
  check(m.nodes instanceof Map, "membership.nodes must come back as a Map");
  const nodes: [number, string][] = [...m.nodes.entries()]
    .map(([id, node]: [number, RaftNode]): [number, string] => [id, node.addr])
    .sort((x, y) => x[0] - y[0]);
  return { configs: m.configs.map((c) => [...c]), nodes, clusterId: m.clusterId };
}

/** The fields that matter of an entry, in a canonical form. */
function _entryView(e: Entry): unknown {
  const id = { term: e.term, index: e.index, type: e.type };
  switch (e.type) {
    case "blank":
      return id;
    case "normal":
      check(e.data instanceof Uint8Array, `entry ${e.index}: data must be a Uint8Array`);
      return { ...id, data: e.data };
    case "membership":
      return { ...id, membership: _membershipView(e.membership) };
    default:
      throw new Error(`entry has an unknown type: ${_describe(e)}`);
  }
}

function checkEntries(actual: Entry[], expected: readonly Entry[], what: string): void {
  check(Array.isArray(actual), `${what}: entries() must resolve to an array`);
  const a = actual.map((e) => ({ term: e.term, index: e.index }));
  const b = expected.map((e) => ({ term: e.term, index: e.index }));
  checkEqual(a, b, `${what} (log ids)`);
  for (let i = 0; i < expected.length; i++) {
    checkEqual(_entryView(actual[i]!), _entryView(expected[i]!), `${what}, entry ${i}`);
  }
}

function checkLogId(actual: LogId | null, expected: LogId | null, what: string): void {
  const view = (id: LogId | null): unknown =>
    id === null || id === undefined ? id : { term: id.term, index: id.index };
  checkEqual(view(actual), view(expected), what);
}

/** A write that must fail: by a rejected promise or by throwing (both count as failure). */
async function checkRejects(write: () => unknown, what: string): Promise<void> {
  let rejected = false;
  try {
    await write();
  } catch {
    rejected = true;
  }
  check(rejected, `${what}: expected a rejection, but it resolved`);
}

function blank(term: number, index: number): Entry {
  return { term, index, type: "blank" };
}

function normal(term: number, index: number, data?: Uint8Array): Entry {
  return { term, index, type: "normal", data: data ?? new Uint8Array([index & 0xff, term & 0xff]) };
}

/** Normal entries from `from` to `to`, all of `term`. */
function range(term: number, from: number, to: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(normal(term, i));
  return out;
}

async function withStore(open: OpenLogStore, body: (s: LogStore) => Promise<void>): Promise<void> {
  const store = await open();
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

function _case(
  name: string,
  body: (s: LogStore) => Promise<void>,
): LogStoreCase {
  return {
    name,
    requiresReopen: false,
    run: (open: OpenLogStore): Promise<void> => withStore(open, body),
  };
}

// -------------------------------------------------------------------- cases

const _cases: LogStoreCase[] = [
  _case("empty store: no vote, no entries, no committed, empty log state", async (s) => {
    checkEqual(await s.readVote(), null, "readVote() of an empty store");
    const state = await s.logState();
    checkLogId(state.lastPurged, null, "logState().lastPurged of an empty store");
    checkLogId(state.lastLogId, null, "logState().lastLogId of an empty store");
    checkEntries(await s.entries(1, 100), [], "entries(1, 100) of an empty store");
    checkEntries(await s.entries(0, 0), [], "entries(0, 0) of an empty store");
    checkLogId(await s.readCommitted(), null, "readCommitted() of an empty store");
  }),

  _case("vote: round-trips and is overwritten", async (s) => {
    const votes: Vote[] = [
      { term: 1, votedFor: null, committed: false },
      { term: 1, votedFor: 3, committed: false },
      { term: 1, votedFor: 3, committed: true },
      { term: 2, votedFor: 0, committed: false },
      { term: 9_007_199_254_740, votedFor: 12345, committed: true },
    ];
    for (const v of votes) {
      await s.saveVote(v);
      const back = await s.readVote();
      check(back !== null, `readVote() after saveVote(${_describe(v)}) returned null`);
      checkEqual(
        { term: back.term, votedFor: back.votedFor, committed: back.committed },
        v,
        "readVote() after saveVote()",
      );
    }
  }),

  _case("append: entries come back in order; ranges are clamped", async (s) => {
    const all = [...range(1, 1, 4), ...range(2, 5, 10)];
    await s.append(all.slice(0, 4));
    await s.append(all.slice(4));
    checkLogId((await s.logState()).lastLogId, { term: 2, index: 10 }, "lastLogId after append");
    checkLogId((await s.logState()).lastPurged, null, "lastPurged after append");
    checkEntries(await s.entries(1, 10), all, "entries(1, 10)");
    checkEntries(await s.entries(3, 5), all.slice(2, 5), "entries(3, 5)");
    checkEntries(await s.entries(7, 7), [all[6]!], "entries(7, 7)");
    checkEntries(await s.entries(10, 10), [all[9]!], "entries(10, 10)");
    checkEntries(await s.entries(0, 100), all, "entries(0, 100) (clamped)");
    checkEntries(await s.entries(8, 1000), all.slice(7), "entries(8, 1000) (clamped)");
    checkEntries(await s.entries(11, 20), [], "entries(11, 20) (beyond the last)");
    checkEntries(await s.entries(6, 5), [], "entries(6, 5) (empty range)");
  }),

  _case("append: a large batch in one call", async (s) => {
    const many = range(3, 1, 2000);
    await s.append(many);
    checkLogId((await s.logState()).lastLogId, { term: 3, index: 2000 }, "lastLogId");
    checkEntries(await s.entries(1, 2000), many, "entries(1, 2000)");
    checkEntries(await s.entries(1500, 1502), many.slice(1499, 1502), "entries(1500, 1502)");
  }),

  _case("append: payload bytes round-trip exactly", async (s) => {
    const every = new Uint8Array(256).map((_, i) => i);
    const big = new Uint8Array(1 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    // A view into a larger buffer: only the view's bytes must be stored.
    const backing = new Uint8Array(64).fill(0xee);
    backing.set([1, 2, 3, 4, 5], 10);
    const view = backing.subarray(10, 15);
    const entries = [
      normal(1, 1, every),
      normal(1, 2, new Uint8Array(0)),
      normal(1, 3, big),
      normal(1, 4, view),
    ];
    await s.append(entries);
    const back = await s.entries(1, 4);
    checkEntries(back, entries, "entries(1, 4)");
    for (const e of back) {
      check(e.type === "normal", `entry ${e.index} came back as ${e.type}`);
    }
    const last = back[3];
    check(last?.type === "normal" && last.data.length === 5, "a subarray payload grew or shrank");
  }),

  _case("append: blank and membership entries round-trip", async (s) => {
    const simple: Membership = {
      configs: [[1, 2, 3]],
      nodes: new Map([[1, { addr: "http://a:1" }], [2, { addr: "http://b:2" }], [3, {
        addr: "",
      }], [4, { addr: "http://learner" }]]),
      clusterId: "5f2c9a01d4e8b7c6a3f0e1d2c3b4a596",
    };
    const joint: Membership = {
      configs: [[1, 2, 3], [3, 4, 5]],
      nodes: new Map([1, 2, 3, 4, 5, 6].map((id) => [id, { addr: `node-${id}` }])),
      clusterId: "",
    };
    const entries: Entry[] = [
      { term: 0, index: 1, type: "membership", membership: simple },
      blank(1, 2),
      { term: 1, index: 3, type: "membership", membership: joint },
      normal(1, 4),
    ];
    await s.append(entries);
    checkEntries(await s.entries(1, 4), entries, "entries(1, 4)");
  }),

  _case("entries: the returned array belongs to the caller", async (s) => {
    const all = range(1, 1, 5);
    await s.append(all);
    const first = await s.entries(1, 5);
    first.length = 0;
    first.push(normal(9, 99));
    checkEntries(await s.entries(1, 5), all, "entries(1, 5) after mutating an earlier result");
  }),

  _case("truncate: at the middle, at the end, and everything", async (s) => {
    const all = range(1, 1, 10);
    await s.append(all);
    await s.truncate(6);
    checkLogId(
      (await s.logState()).lastLogId,
      { term: 1, index: 5 },
      "lastLogId after truncate(6)",
    );
    checkEntries(await s.entries(1, 10), all.slice(0, 5), "entries after truncate(6)");
    await s.truncate(5);
    checkLogId(
      (await s.logState()).lastLogId,
      { term: 1, index: 4 },
      "lastLogId after truncate(5)",
    );
    checkEntries(await s.entries(1, 10), all.slice(0, 4), "entries after truncate(5)");
    await s.truncate(1);
    checkLogId((await s.logState()).lastLogId, null, "lastLogId after truncate(1)");
    checkEntries(await s.entries(1, 10), [], "entries after truncate(1)");
    const again = [...range(2, 1, 3)];
    await s.append(again);
    checkEntries(await s.entries(1, 10), again, "entries appended after truncating everything");
  }),

  _case("truncate: then append entries of a newer term at the same indexes", async (s) => {
    await s.append(range(1, 1, 6));
    await s.truncate(4);
    const replacement = range(3, 4, 8);
    await s.append(replacement);
    checkLogId((await s.logState()).lastLogId, { term: 3, index: 8 }, "lastLogId");
    checkEntries(
      await s.entries(1, 8),
      [...range(1, 1, 3), ...replacement],
      "entries after replacing the suffix",
    );
  }),

  _case("purge: logState and entries below the purge point", async (s) => {
    const all = [...range(1, 1, 6), ...range(2, 7, 10)];
    await s.append(all);
    await s.purge({ term: 1, index: 4 });
    let state = await s.logState();
    checkLogId(state.lastPurged, { term: 1, index: 4 }, "lastPurged after purge(1-4)");
    checkLogId(state.lastLogId, { term: 2, index: 10 }, "lastLogId after purge(1-4)");
    checkEntries(await s.entries(1, 10), all.slice(4), "entries(1, 10) after purge(1-4)");
    checkEntries(await s.entries(1, 4), [], "entries(1, 4) after purge(1-4)");
    checkEntries(await s.entries(4, 5), [all[4]!], "entries(4, 5) after purge(1-4)");
    await s.purge({ term: 2, index: 10 });
    state = await s.logState();
    checkLogId(state.lastPurged, { term: 2, index: 10 }, "lastPurged after purging everything");
    checkLogId(
      state.lastLogId,
      { term: 2, index: 10 },
      "lastLogId of a log emptied by purge (must be the last purged id)",
    );
    checkEntries(await s.entries(1, 20), [], "entries after purging everything");
  }),

  _case("purge: beyond the last entry, then append after it", async (s) => {
    await s.append(range(1, 1, 3));
    await s.purge({ term: 2, index: 8 });
    const state = await s.logState();
    checkLogId(state.lastPurged, { term: 2, index: 8 }, "lastPurged after purge beyond the last");
    checkLogId(state.lastLogId, { term: 2, index: 8 }, "lastLogId after purge beyond the last");
    checkEntries(await s.entries(1, 20), [], "entries after purge beyond the last");
    const next = range(2, 9, 11);
    await s.append(next);
    checkLogId((await s.logState()).lastLogId, { term: 2, index: 11 }, "lastLogId after append");
    checkEntries(await s.entries(1, 20), next, "entries appended after the purge point");
  }),

  _case("purge: on an empty log, then append", async (s) => {
    await s.purge({ term: 4, index: 100 });
    checkLogId((await s.logState()).lastLogId, { term: 4, index: 100 }, "lastLogId");
    await s.append([normal(4, 101), blank(5, 102)]);
    checkEntries(await s.entries(0, 1000), [normal(4, 101), blank(5, 102)], "entries");
  }),

  _case("purge and truncate: truncating above the purge point keeps the purge point", async (s) => {
    await s.append(range(1, 1, 10));
    await s.purge({ term: 1, index: 4 });
    await s.truncate(8);
    let state = await s.logState();
    checkLogId(state.lastPurged, { term: 1, index: 4 }, "lastPurged after truncate(8)");
    checkLogId(state.lastLogId, { term: 1, index: 7 }, "lastLogId after truncate(8)");
    checkEntries(await s.entries(1, 10), range(1, 5, 7), "entries after truncate(8)");
    await s.truncate(5);
    state = await s.logState();
    checkLogId(state.lastPurged, { term: 1, index: 4 }, "lastPurged after truncate(5)");
    checkLogId(state.lastLogId, { term: 1, index: 4 }, "lastLogId when only purged entries remain");
    await s.append(range(2, 5, 6));
    checkEntries(await s.entries(1, 10), range(2, 5, 6), "entries appended after that");
  }),

  _case("committed: saveCommitted / readCommitted round-trip", async (s) => {
    checkLogId(await s.readCommitted(), null, "readCommitted() initially");
    await s.saveCommitted({ term: 1, index: 5 });
    checkLogId(await s.readCommitted(), { term: 1, index: 5 }, "readCommitted()");
    await s.saveCommitted({ term: 2, index: 7 });
    checkLogId(await s.readCommitted(), { term: 2, index: 7 }, "readCommitted() overwritten");
    await s.saveCommitted(null);
    checkLogId(await s.readCommitted(), null, "readCommitted() after saveCommitted(null)");
  }),

  _case("append: rejects a gap", async (s) => {
    await checkRejects(
      () => s.append([normal(1, 2)]),
      "append starting at index 2 to an empty log",
    );
    await s.append(range(1, 1, 3));
    await checkRejects(() => s.append([normal(1, 5)]), "append of index 5 after index 3");
    await checkRejects(
      () => s.append([normal(1, 4), normal(1, 6)]),
      "append of a batch with a gap inside (4, 6)",
    );
  }),

  _case("append: rejects overwriting entries without truncating them", async (s) => {
    await s.append(range(1, 1, 3));
    await checkRejects(
      () => s.append([normal(2, 3)]),
      "append of index 3 over an existing index 3",
    );
    await checkRejects(
      () => s.append([normal(2, 1)]),
      "append of index 1 over an existing index 1",
    );
  }),
];

_cases.push({
  name: "reopen: vote, entries, purge point and committed survive close and reopen",
  requiresReopen: true,
  async run(open: OpenLogStore, reopen?: ReopenLogStore): Promise<void> {
    check(reopen !== undefined, "this case needs a reopen function");
    const first = await open();
    const vote: Vote = { term: 3, votedFor: 2, committed: true };
    const payload = new Uint8Array(1000).map((_, i) => (i * 7) & 0xff);
    const kept = [normal(2, 5, payload), blank(3, 6), {
      term: 3,
      index: 7,
      type: "membership" as const,
      membership: {
        configs: [[1, 2]],
        nodes: new Map([[1, { addr: "x" }], [2, { addr: "y" }]]),
        clusterId: "c1",
      },
    }];
    try {
      await first.saveVote(vote);
      await first.append([...range(1, 1, 3), normal(2, 4)]);
      await first.append(kept);
      await first.append(range(3, 8, 9));
      await first.truncate(8);
      await first.purge({ term: 2, index: 4 });
      await first.saveCommitted({ term: 3, index: 6 });
    } finally {
      await first.close();
    }
    const second = await reopen(first);
    try {
      const back = await second.readVote();
      check(back !== null, "the vote was lost on reopen");
      checkEqual(
        { term: back.term, votedFor: back.votedFor, committed: back.committed },
        vote,
        "readVote() after reopen",
      );
      const state = await second.logState();
      checkLogId(state.lastPurged, { term: 2, index: 4 }, "lastPurged after reopen");
      checkLogId(state.lastLogId, { term: 3, index: 7 }, "lastLogId after reopen");
      checkEntries(await second.entries(1, 100), kept, "entries after reopen");
      // readCommitted need not be durable; if something is returned it must be right.
      const committed = await second.readCommitted();
      if (committed !== null) checkLogId(committed, { term: 3, index: 6 }, "readCommitted()");
      await second.append([blank(4, 8)]);
      checkLogId(
        (await second.logState()).lastLogId,
        { term: 4, index: 8 },
        "lastLogId after appending to the reopened store",
      );
    } finally {
      await second.close();
    }
  },
});

// ------------------------------------------------------- more helpers

const _ALL = Number.MAX_SAFE_INTEGER;

/** Ten entries: 1..4 of term 1, a blank of term 2 at 5, 6..10 of term 3. */
function ten(): Entry[] {
  return [...range(1, 1, 4), blank(2, 5), ...range(3, 6, 10)];
}

function _idOf(e: Entry | undefined): LogId | null {
  return e === undefined ? null : { term: e.term, index: e.index };
}

/** Everything a store holds, as plain comparable data. */
async function picture(s: LogStore): Promise<unknown> {
  const state = await s.logState();
  const vote = await s.readVote();
  const id = (x: LogId | null): unknown => x === null ? null : { term: x.term, index: x.index };
  return {
    vote: vote === null
      ? null
      : { term: vote.term, votedFor: vote.votedFor, committed: vote.committed },
    lastPurged: id(state.lastPurged),
    lastLogId: id(state.lastLogId),
    committed: id(await s.readCommitted()),
    entries: (await s.entries(0, _ALL)).map(_entryView),
  };
}

/** Checks the whole log: the purge point, the last log id and every entry present. */
async function checkLog(
  s: LogStore,
  purged: LogId | null,
  entries: readonly Entry[],
  what: string,
): Promise<void> {
  const state = await s.logState();
  checkLogId(state.lastPurged, purged, `${what}: lastPurged`);
  checkLogId(state.lastLogId, _idOf(entries[entries.length - 1]) ?? purged, `${what}: lastLogId`);
  checkEntries(await s.entries(0, _ALL), entries, `${what}: entries(0, MAX_SAFE_INTEGER)`);
}

/** A refused write: it must reject, and leave everything as it was. */
async function checkRefused(s: LogStore, write: () => unknown, what: string): Promise<void> {
  const before = await picture(s);
  await checkRejects(write, what);
  checkEqual(await picture(s), before, `the store after the refused ${what}`);
}

async function checkVote(s: LogStore, expected: Vote | null, what: string): Promise<void> {
  const v = await s.readVote();
  checkEqual(
    v === null ? null : { term: v.term, votedFor: v.votedFor, committed: v.committed },
    expected,
    what,
  );
}

/** Reads every range [from, to] with from, to in -1..max+2 and checks it against `present`. */
async function checkEveryRange(s: LogStore, present: readonly Entry[], max: number): Promise<void> {
  for (let from = -1; from <= max + 2; from++) {
    for (let to = -1; to <= max + 2; to++) {
      const expected = present.filter((e) => e.index >= from && e.index <= to);
      checkEntries(await s.entries(from, to), expected, `entries(${from}, ${to})`);
    }
  }
}

/**
 * A case that writes with `write`, checks with `verify` before closing, then
 * reopens and checks again with `verify`; `after` then writes more to the
 * reopened store and checks it.
 */
function _reopenCase(
  name: string,
  write: (s: LogStore) => Promise<void>,
  verify: (s: LogStore, when: string) => Promise<void>,
  after?: (s: LogStore) => Promise<void>,
): LogStoreCase {
  return {
    name,
    requiresReopen: true,
    async run(open: OpenLogStore, reopen?: ReopenLogStore): Promise<void> {
      check(reopen !== undefined, "this case needs a reopen function");
      const first = await open();
      try {
        await write(first);
        await verify(first, "before close");
      } finally {
        await first.close();
      }
      const second = await reopen(first);
      try {
        await verify(second, "after reopen");
        if (after !== undefined) await after(second);
      } finally {
        await second.close();
      }
    },
  };
}

/** A seeded PRNG (xorshift32): `rand(n)` is in `0..n-1`. */
function _prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

/** The reference model of a log store: what a conforming store holds. */
class _Model {
  vote: Vote | null = null;
  purged: LogId | null = null;
  /** The entries above the purge point. */
  entries: Entry[] = [];
  committed: LogId | null = null;

  get purgedIndex(): number {
    return this.purged?.index ?? 0;
  }
  get lastIndex(): number {
    return this.entries[this.entries.length - 1]?.index ?? this.purgedIndex;
  }
  lastLogId(): LogId | null {
    return _idOf(this.entries[this.entries.length - 1]) ?? this.purged;
  }
  termAt(index: number): number | undefined {
    return this.entries[index - this.purgedIndex - 1]?.term;
  }
}

/**
 * Runs `steps` seeded operations on the store and on a model: valid appends
 * (all entry types), truncates, purges (inside the log and beyond it), votes
 * and commit indexes, and invalid ones the store must refuse without effect;
 * checks the log state after every step and everything every 10 steps (and
 * after each reopen, every `reopenEvery` steps, when `reopen` is given).
 */
async function _modelRun(
  open: OpenLogStore,
  reopen: ReopenLogStore | undefined,
  seed: number,
  steps: number,
  reopenEvery: number,
): Promise<void> {
  const rand = _prng(seed);
  const m = new _Model();
  let s = await open();
  const membership: Membership = {
    configs: [[1, 2, 3]],
    nodes: new Map([1, 2, 3].map((id) => [id, { addr: `http://n${id}` }])),
    clusterId: "model",
  };
  const expectState = async (what: string): Promise<void> => {
    const state = await s.logState();
    checkLogId(state.lastPurged, m.purged, `${what}: lastPurged`);
    checkLogId(state.lastLogId, m.lastLogId(), `${what}: lastLogId`);
  };
  const expectAll = async (what: string): Promise<void> => {
    await expectState(what);
    await checkVote(s, m.vote, `${what}: readVote()`);
    checkLogId(await s.readCommitted(), m.committed, `${what}: readCommitted()`);
    checkEntries(await s.entries(0, _ALL), m.entries, `${what}: entries`);
  };
  try {
    for (let step = 1; step <= steps; step++) {
      const what = `step ${step} (seed ${seed})`;
      const op = rand(100);
      const lastTerm = m.lastLogId()?.term ?? 0;
      if (op < 40) {
        const term = lastTerm + (rand(4) === 0 ? 1 : 0);
        const batch: Entry[] = [];
        for (let i = 0, n = 1 + rand(rand(6) === 0 ? 40 : 6); i < n; i++) {
          const index = m.lastIndex + 1 + i;
          const kind = rand(12);
          if (kind === 0) batch.push(blank(term, index));
          else if (kind === 1) batch.push({ term, index, type: "membership", membership });
          else {
            const data = new Uint8Array(rand(48)).map(() => rand(256));
            batch.push(normal(term, index, data));
          }
        }
        await s.append(batch);
        m.entries.push(...batch);
      } else if (op < 52) {
        const since = m.purgedIndex + 1 + rand(m.lastIndex - m.purgedIndex + 2);
        await s.truncate(since);
        m.entries = m.entries.filter((e) => e.index < since);
      } else if (op < 64) {
        const index = m.purgedIndex + 1 + rand(m.lastIndex - m.purgedIndex + 2);
        const term = m.termAt(index) ?? lastTerm + rand(2);
        await s.purge({ term, index });
        m.purged = { term, index };
        m.entries = m.entries.filter((e) => e.index > index);
      } else if (op < 74) {
        const old = m.vote;
        const next: Vote = old === null || rand(3) === 0
          ? {
            term: (old?.term ?? 0) + 1,
            votedFor: rand(3) === 0 ? null : rand(5),
            committed: false,
          }
          : {
            term: old.term,
            votedFor: old.votedFor ?? rand(5),
            committed: old.committed || rand(2) === 0,
          };
        await s.saveVote(next);
        m.vote = next;
      } else if (op < 82) {
        const c = rand(4) === 0 ? null : { term: rand(5), index: rand(m.lastIndex + 1) };
        await s.saveCommitted(c);
        m.committed = c;
      } else if (op < 88) {
        // Invalid: an append with a gap after the last entry.
        await checkRefused(
          s,
          () => s.append([blank(lastTerm, m.lastIndex + 2)]),
          `${what}: append of index ${m.lastIndex + 2} after ${m.lastIndex}`,
        );
      } else if (op < 92 && m.purgedIndex > 0) {
        // Invalid: a truncate at the purge point.
        await checkRefused(
          s,
          () => s.truncate(m.purgedIndex),
          `${what}: truncate(${m.purgedIndex}) at the purge point`,
        );
      } else {
        const from = rand(m.lastIndex + 3);
        const to = from + rand(30);
        checkEntries(
          await s.entries(from, to),
          m.entries.filter((e) => e.index >= from && e.index <= to),
          `${what}: entries(${from}, ${to})`,
        );
      }
      await expectState(what);
      if (step % 10 === 0) await expectAll(what);
      if (reopen !== undefined && step % reopenEvery === 0) {
        await s.close();
        s = await reopen(s);
        // The commit index need not be durable: a store may forget it, never change it.
        const c = await s.readCommitted();
        if (c === null) m.committed = null;
        await expectAll(`${what}, after reopen`);
      }
    }
    await expectAll(`the end (seed ${seed})`);
  } finally {
    await s.close();
  }
}

// ---------------------------------------------------------- more cases

_cases.push(
  // -------------------------------------------------------------- vote
  _case("vote: refuses a vote that goes back, keeping the saved one", async (s) => {
    const saved: Vote = { term: 5, votedFor: 2, committed: true };
    await s.saveVote({ term: 5, votedFor: null, committed: false });
    await s.saveVote({ term: 5, votedFor: 2, committed: false });
    await s.saveVote(saved);
    await checkVote(s, saved, "readVote()");
    await checkRefused(
      s,
      () => s.saveVote({ term: 4, votedFor: 2, committed: true }),
      "saveVote of a lower term",
    );
    await checkRefused(
      s,
      () => s.saveVote({ term: 5, votedFor: 3, committed: true }),
      "saveVote for another candidate in the same term",
    );
    await checkRefused(
      s,
      () => s.saveVote({ term: 5, votedFor: null, committed: false }),
      "saveVote forgetting the vote of the term",
    );
    await checkRefused(
      s,
      () => s.saveVote({ term: 5, votedFor: 2, committed: false }),
      "saveVote un-committing the vote",
    );
    await checkVote(s, saved, "readVote() after the refused votes");
    await s.saveVote({ term: 6, votedFor: null, committed: false });
    await checkVote(s, { term: 6, votedFor: null, committed: false }, "readVote() of a newer term");
  }),
  _case(
    "vote: saving a vote leaves the log alone, and log writes leave the vote alone",
    async (s) => {
      const vote: Vote = { term: 3, votedFor: 1, committed: true };
      await s.append(ten());
      await s.saveCommitted({ term: 3, index: 7 });
      await s.saveVote(vote);
      await checkLog(s, null, ten(), "after saveVote");
      checkLogId(await s.readCommitted(), { term: 3, index: 7 }, "readCommitted() after saveVote");
      await s.truncate(9);
      await s.purge({ term: 1, index: 2 });
      await s.append([blank(4, 9)]);
      await s.saveCommitted(null);
      await checkVote(s, vote, "readVote() after append, truncate, purge and saveCommitted");
    },
  ),
  // ------------------------------------------------------ append / read
  _case("append: one entry at a time, logState follows every append", async (s) => {
    const all = ten();
    for (let i = 0; i < all.length; i++) {
      await s.append([all[i]!]);
      await checkLog(s, null, all.slice(0, i + 1), `after appending entry ${i + 1}`);
    }
  }),
  _case(
    "append: an empty batch changes nothing (empty log, after entries, after a purge)",
    async (s) => {
      await s.append([]);
      await checkLog(s, null, [], "after append([]) to an empty log");
      await s.append(ten());
      await s.append([]);
      await checkLog(s, null, ten(), "after append([]) to a log of 10");
      await s.purge({ term: 3, index: 10 });
      await s.append([]);
      await checkLog(s, { term: 3, index: 10 }, [], "after append([]) to a log emptied by purge");
    },
  ),
  _case("entries: every range [from, to] (-1..12) of a 10-entry log", async (s) => {
    await s.append(ten());
    await checkEveryRange(s, ten(), 10);
  }),
  _case(
    "entries: every range [from, to] (-1..12) of a log purged at 3 and truncated at 9",
    async (s) => {
      await s.append(ten());
      await s.purge({ term: 1, index: 3 });
      await s.truncate(9);
      await checkEveryRange(s, ten().slice(3, 8), 10);
    },
  ),
  _case("writes: each answers with undefined or a promise of undefined", async (s) => {
    const writes: [string, () => unknown][] = [
      ["saveVote", () => s.saveVote({ term: 1, votedFor: 1, committed: false })],
      ["append", () => s.append(ten())],
      ["truncate", () => s.truncate(9)],
      ["purge", () => s.purge({ term: 1, index: 2 })],
      ["saveCommitted", () => s.saveCommitted({ term: 1, index: 2 })],
    ];
    for (const [name, write] of writes) {
      const answer = write();
      if (answer !== undefined) {
        check(answer instanceof Promise, `${name} answered ${_describe(answer)}, not a promise`);
        checkEqual(await answer, undefined, `what the promise of ${name} resolves to`);
      }
    }
    await checkLog(s, { term: 1, index: 2 }, ten().slice(2, 8), "after the writes");
  }),
  _case("reads during a pending write see every write already answered", async (s) => {
    const all = ten();
    await s.append(all.slice(0, 5));
    await s.saveVote({ term: 2, votedFor: 1, committed: true });
    const pending = Promise.resolve(s.append(all.slice(5)));
    const [seen, vote, state] = await Promise.all([s.entries(1, 20), s.readVote(), s.logState()]);
    await pending;
    check(seen.length >= 5, `entries(1, 20) during an append saw ${seen.length} of the 5 answered`);
    checkEntries(seen, all.slice(0, seen.length), "entries(1, 20) during an append");
    checkEqual(vote?.votedFor, 1, "readVote() during an append");
    check((state.lastLogId?.index ?? 0) >= 5, "logState() during an append went back");
    const truncating = Promise.resolve(s.truncate(8));
    const during = await s.entries(1, 5);
    await truncating;
    checkEntries(during, all.slice(0, 5), "entries(1, 5) during a truncate above them");
    await checkLog(s, null, all.slice(0, 7), "after the truncate");
  }),
  // ------------------------------------------------------------ truncate
  _case("truncate: at the last entry removes only that entry", async (s) => {
    await s.append(ten());
    await s.truncate(10);
    await checkLog(s, null, ten().slice(0, 9), "after truncate(10)");
    await s.append([normal(4, 10)]);
    await checkLog(s, null, [...ten().slice(0, 9), normal(4, 10)], "after appending 4-10");
  }),
  _case("truncate: beyond the last entry changes nothing", async (s) => {
    await s.truncate(1);
    await checkLog(s, null, [], "after truncate(1) of an empty log");
    await s.append(ten());
    for (const since of [11, 12, 1000]) {
      await s.truncate(since);
      await checkLog(s, null, ten(), `after truncate(${since})`);
    }
    await s.purge({ term: 3, index: 12 });
    await s.truncate(13);
    await checkLog(s, { term: 3, index: 12 }, [], "after truncate(13) above a purge point of 12");
  }),
  _case(
    "truncate: repeated conflicts, each resolved by a truncate and newer entries",
    async (s) => {
      await s.append(ten());
      await s.truncate(8);
      const second = range(4, 8, 12);
      await s.append(second);
      await s.truncate(11);
      const third = [blank(5, 11), ...range(5, 12, 14)];
      await s.append(third);
      await s.truncate(6);
      const fourth = range(6, 6, 7);
      await s.append(fourth);
      await checkLog(s, null, [...ten().slice(0, 5), ...fourth], "after three rounds");
    },
  ),
  _case(
    "truncate: refuses an index at or below the purge point (and 0), changing nothing",
    async (s) => {
      await s.append(ten());
      await checkRefused(s, () => s.truncate(0), "truncate(0)");
      await s.purge({ term: 1, index: 4 });
      await checkRefused(s, () => s.truncate(4), "truncate(4) at the purge point 1-4");
      await checkRefused(s, () => s.truncate(1), "truncate(1) below the purge point 1-4");
      await s.truncate(5);
      await checkLog(s, { term: 1, index: 4 }, [], "after truncate(5)");
    },
  ),
  // --------------------------------------------------------------- purge
  _case("purge: the first entry only", async (s) => {
    await s.append(ten());
    await s.purge({ term: 1, index: 1 });
    await checkLog(s, { term: 1, index: 1 }, ten().slice(1), "after purge(1-1)");
    checkEntries(await s.entries(1, 1), [], "entries(1, 1) after purge(1-1)");
    checkEntries(await s.entries(2, 2), [ten()[1]!], "entries(2, 2) after purge(1-1)");
  }),
  _case("purge: up to the entry before the last leaves only the last", async (s) => {
    await s.append(ten());
    await s.purge({ term: 3, index: 9 });
    await checkLog(s, { term: 3, index: 9 }, ten().slice(9), "after purge(3-9)");
    await s.truncate(10);
    await checkLog(s, { term: 3, index: 9 }, [], "after truncate(10)");
  }),
  _case("purge: in steps (2, 5, 6, 10, 12), each moving the purge point", async (s) => {
    await s.append(ten());
    for (const id of [{ term: 1, index: 2 }, { term: 2, index: 5 }, { term: 3, index: 6 }]) {
      await s.purge(id);
      await checkLog(s, id, ten().slice(id.index), `after purge(${id.term}-${id.index})`);
    }
    await s.purge({ term: 3, index: 10 });
    await checkLog(s, { term: 3, index: 10 }, [], "after purge(3-10)");
    await s.purge({ term: 4, index: 12 });
    await checkLog(s, { term: 4, index: 12 }, [], "after purge(4-12)");
  }),
  _case(
    "purge then append: after purging up to the last entry, only its successor is taken",
    async (s) => {
      await s.append(ten());
      await s.purge({ term: 3, index: 10 });
      await checkRefused(s, () => s.append([normal(3, 10)]), "append of the purged index 10");
      await checkRefused(
        s,
        () => s.append([normal(3, 12)]),
        "append of index 12 after a purge at 10",
      );
      await checkRefused(
        s,
        () => s.append([normal(2, 11)]),
        "append of 2-11 after a purge at 3-10",
      );
      await s.append([normal(3, 11), blank(4, 12)]);
      await checkLog(
        s,
        { term: 3, index: 10 },
        [normal(3, 11), blank(4, 12)],
        "after appending 11-12",
      );
    },
  ),
  _case(
    "purge: refuses a term that conflicts with the entry at its index, changing nothing",
    async (s) => {
      await s.append(ten());
      await checkRefused(
        s,
        () => s.purge({ term: 2, index: 3 }),
        "purge(2-3) where entry 3 is 1-3",
      );
      await checkRefused(
        s,
        () => s.purge({ term: 2, index: 7 }),
        "purge(2-7) where entry 7 is 3-7",
      );
      await checkRefused(
        s,
        () => s.purge({ term: 2, index: 11 }),
        "purge(2-11) beyond a last entry of term 3",
      );
      await s.purge({ term: 2, index: 5 });
      await checkLog(s, { term: 2, index: 5 }, ten().slice(5), "after purge(2-5)");
    },
  ),
  _case(
    "purge: the purge point again is a no-op; going back or changing its term is refused",
    async (s) => {
      await s.append(ten());
      await s.purge({ term: 3, index: 7 });
      await s.purge({ term: 3, index: 7 });
      await checkLog(s, { term: 3, index: 7 }, ten().slice(7), "after purging 3-7 twice");
      await checkRefused(
        s,
        () => s.purge({ term: 1, index: 3 }),
        "purge(1-3) below the purge point 3-7",
      );
      await checkRefused(
        s,
        () => s.purge({ term: 4, index: 7 }),
        "purge(4-7) at the purge point 3-7",
      );
    },
  ),
  // ------------------------------------------------------------ committed
  _case("committed: independent of the log and the vote", async (s) => {
    await s.append(ten());
    await s.saveCommitted({ term: 3, index: 8 });
    await s.saveVote({ term: 3, votedFor: 1, committed: true });
    await s.purge({ term: 1, index: 4 });
    await s.truncate(10);
    await s.append([blank(4, 10)]);
    checkLogId(await s.readCommitted(), { term: 3, index: 8 }, "readCommitted() after log writes");
    await s.saveCommitted(null);
    checkLogId(await s.readCommitted(), null, "readCommitted() after saveCommitted(null)");
    await checkLog(s, { term: 1, index: 4 }, [...ten().slice(4, 9), blank(4, 10)], "the log");
  }),
  // ------------------------------------------------------ error reporting
  _case("append: rejects a term lower than the entry before it, changing nothing", async (s) => {
    await s.append(range(2, 1, 3));
    await checkRefused(s, () => s.append([normal(1, 4)]), "append of 1-4 after 2-3");
    await checkRefused(
      s,
      () => s.append([normal(3, 4), normal(2, 5)]),
      "a batch with 3-4 then 2-5",
    );
    await s.purge({ term: 5, index: 8 });
    await checkRefused(s, () => s.append([normal(4, 9)]), "append of 4-9 after a purge at 5-8");
    await s.append([normal(5, 9)]);
    await checkLog(s, { term: 5, index: 8 }, [normal(5, 9)], "after appending 5-9");
  }),
  _case("append: a refused batch writes none of its entries", async (s) => {
    await s.append(range(1, 1, 3));
    const good = range(1, 4, 6);
    await checkRefused(s, () => s.append([...good, normal(1, 8)]), "a batch with a gap after 6");
    await checkRefused(
      s,
      () => s.append([...good, normal(0, 7)]),
      "a batch ending in a lower term",
    );
    const noData = { term: 1, index: 7, type: "normal" } as unknown as Entry;
    await checkRefused(
      s,
      () => s.append([...good, noData]),
      "a batch ending in a normal entry without data",
    );
    const unknown = { term: 1, index: 7, type: "bogus" } as unknown as Entry;
    await checkRefused(
      s,
      () => s.append([...good, unknown]),
      "a batch ending in an entry of unknown type",
    );
    const fractional = { term: 1, index: 6.5, type: "blank" } as unknown as Entry;
    await checkRefused(s, () => s.append([fractional]), "append of an entry at index 6.5");
    await s.append(good);
    await checkLog(s, null, range(1, 1, 6), "after the valid batch");
  }),
  _case("entries: rejects a range that is not two safe integers", async (s) => {
    await s.append(ten());
    await checkRejects(() => s.entries(Number.NaN, 3), "entries(NaN, 3)");
    await checkRejects(() => s.entries(1, Infinity), "entries(1, Infinity)");
    await checkRejects(() => s.entries(1.5, 3), "entries(1.5, 3)");
    await checkRejects(() => s.entries(1, 2 ** 60), "entries(1, 2 ** 60)");
    checkEntries(await s.entries(1, 10), ten(), "entries(1, 10) afterwards");
  }),
  _case("close: every call after close rejects; a second close resolves", async (s) => {
    await s.append(ten());
    await s.close();
    await s.close();
    const calls: [string, () => unknown][] = [
      ["readVote", () => s.readVote()],
      ["saveVote", () => s.saveVote({ term: 1, votedFor: 1, committed: false })],
      ["logState", () => s.logState()],
      ["entries", () => s.entries(1, 10)],
      ["append", () => s.append([normal(3, 11)])],
      ["truncate", () => s.truncate(5)],
      ["purge", () => s.purge({ term: 1, index: 2 })],
      ["saveCommitted", () => s.saveCommitted(null)],
      ["readCommitted", () => s.readCommitted()],
    ];
    for (const [name, call] of calls) await checkRejects(call, `${name} after close`);
  }),
  // ---------------------------------------------------------------- model
  {
    name: "model: 300 seeded operations agree with a reference model after every step",
    requiresReopen: false,
    run: (open: OpenLogStore): Promise<void> => _modelRun(open, undefined, 0x5eed, 300, 0),
  },
  // --------------------------------------------------------------- reopen
  _reopenCase(
    "reopen: an empty store reopens empty",
    async () => {},
    async (s, when) => {
      await checkLog(s, null, [], when);
      await checkVote(s, null, `readVote() ${when}`);
    },
    async (s) => {
      await s.append([blank(1, 1)]);
      await checkLog(s, null, [blank(1, 1)], "after appending to the reopened store");
    },
  ),
  _reopenCase(
    "reopen: a vote alone survives, then later votes too",
    async (s) => {
      await s.saveVote({ term: 7, votedFor: 3, committed: false });
      await s.saveVote({ term: 7, votedFor: 3, committed: true });
    },
    async (s, when) => {
      await checkVote(s, { term: 7, votedFor: 3, committed: true }, `readVote() ${when}`);
      await checkLog(s, null, [], when);
    },
    async (s) => {
      await checkRefused(
        s,
        () => s.saveVote({ term: 6, votedFor: 3, committed: true }),
        "a lower term after reopen",
      );
      await s.saveVote({ term: 8, votedFor: null, committed: false });
      await checkVote(
        s,
        { term: 8, votedFor: null, committed: false },
        "a newer vote after reopen",
      );
    },
  ),
  _reopenCase(
    "reopen: entries appended one at a time survive, and appending continues",
    async (s) => {
      for (const e of ten()) await s.append([e]);
    },
    (s, when) => checkLog(s, null, ten(), when),
    async (s) => {
      await checkRefused(s, () => s.append([normal(3, 12)]), "append with a gap after reopen");
      await checkRefused(s, () => s.append([normal(3, 10)]), "append over 10 after reopen");
      await s.append([normal(3, 11)]);
      await checkLog(s, null, [...ten(), normal(3, 11)], "after appending 11");
    },
  ),
  _reopenCase(
    "reopen: a large entry and a large batch survive byte for byte",
    async (s) => {
      await s.append([normal(1, 1, _bigPayload(300_000, 1)), ...range(1, 2, 1500)]);
      await s.append([normal(2, 1501, _bigPayload(70_000, 2)), blank(2, 1502)]);
    },
    (s, when) =>
      checkLog(s, null, [
        normal(1, 1, _bigPayload(300_000, 1)),
        ...range(1, 2, 1500),
        normal(2, 1501, _bigPayload(70_000, 2)),
        blank(2, 1502),
      ], when),
  ),
  _reopenCase(
    "reopen: truncated entries stay gone; their replacements survive",
    async (s) => {
      await s.append(ten());
      await s.truncate(7);
      await s.append(range(4, 7, 8));
      await s.truncate(9);
    },
    (s, when) => checkLog(s, null, [...ten().slice(0, 6), ...range(4, 7, 8)], when),
    async (s) => {
      await s.truncate(8);
      await checkLog(s, null, [...ten().slice(0, 6), normal(4, 7)], "truncate(8) after reopen");
    },
  ),
  _reopenCase(
    "reopen: after truncating everything the log is empty and starts again at 1",
    async (s) => {
      await s.saveVote({ term: 5, votedFor: 1, committed: false });
      await s.append(ten());
      await s.truncate(1);
    },
    async (s, when) => {
      await checkLog(s, null, [], when);
      await checkVote(s, { term: 5, votedFor: 1, committed: false }, `readVote() ${when}`);
    },
    async (s) => {
      await s.append([blank(5, 1)]);
      await checkLog(s, null, [blank(5, 1)], "after appending 5-1");
    },
  ),
  _reopenCase(
    "reopen: the purge point and the entries after it survive",
    async (s) => {
      await s.append(ten());
      await s.purge({ term: 1, index: 3 });
      await s.purge({ term: 2, index: 5 });
    },
    (s, when) => checkLog(s, { term: 2, index: 5 }, ten().slice(5), when),
    async (s) => {
      await checkRefused(s, () => s.truncate(5), "truncate at the purge point after reopen");
      await s.purge({ term: 3, index: 8 });
      await checkLog(s, { term: 3, index: 8 }, ten().slice(8), "purge(3-8) after reopen");
    },
  ),
  _reopenCase(
    "reopen: a log emptied by purge keeps the purge point as its last log id",
    async (s) => {
      await s.append(ten());
      await s.purge({ term: 3, index: 10 });
    },
    (s, when) => checkLog(s, { term: 3, index: 10 }, [], when),
    async (s) => {
      await checkRefused(s, () => s.append([normal(3, 1)]), "append of index 1 after reopen");
      await s.append([normal(3, 11)]);
      await checkLog(s, { term: 3, index: 10 }, [normal(3, 11)], "after appending 11");
    },
  ),
  _reopenCase(
    "reopen: a purge beyond the last entry survives",
    async (s) => {
      await s.append(range(1, 1, 3));
      await s.purge({ term: 2, index: 50 });
    },
    (s, when) => checkLog(s, { term: 2, index: 50 }, [], when),
    async (s) => {
      await s.append([normal(2, 51)]);
      await checkLog(s, { term: 2, index: 50 }, [normal(2, 51)], "after appending 51");
    },
  ),
  _reopenCase(
    "reopen: after truncating everything above the purge point",
    async (s) => {
      await s.append(ten());
      await s.purge({ term: 1, index: 4 });
      await s.truncate(5);
    },
    (s, when) => checkLog(s, { term: 1, index: 4 }, [], when),
    async (s) => {
      await s.append([normal(6, 5)]);
      await checkLog(s, { term: 1, index: 4 }, [normal(6, 5)], "after appending 6-5");
    },
  ),
  _reopenCase(
    "reopen: the commit index, if kept, is the last saved (null included)",
    async (s) => {
      await s.append(ten());
      await s.saveCommitted({ term: 3, index: 9 });
      await s.saveCommitted(null);
    },
    async (s, when) => {
      checkLogId(await s.readCommitted(), null, `readCommitted() ${when}`);
      await checkLog(s, null, ten(), when);
    },
    async (s) => {
      await s.saveCommitted({ term: 3, index: 6 });
      checkLogId(await s.readCommitted(), { term: 3, index: 6 }, "readCommitted() after reopen");
    },
  ),
  {
    name: "reopen: twice, with writes in between",
    requiresReopen: true,
    async run(open: OpenLogStore, reopen?: ReopenLogStore): Promise<void> {
      check(reopen !== undefined, "this case needs a reopen function");
      let s = await open();
      const vote: Vote = { term: 4, votedFor: 2, committed: true };
      try {
        await s.append(ten());
        await s.close();
        s = await reopen(s);
        await s.saveVote(vote);
        await s.purge({ term: 1, index: 2 });
        await s.truncate(9);
        await s.close();
        s = await reopen(s);
        await checkVote(s, vote, "readVote() after the second reopen");
        await checkLog(s, { term: 1, index: 2 }, ten().slice(2, 8), "after the second reopen");
        await s.append([blank(4, 9)]);
        await s.close();
        s = await reopen(s);
        await checkLog(s, { term: 1, index: 2 }, [...ten().slice(2, 8), blank(4, 9)], "third");
      } finally {
        await s.close();
      }
    },
  },
  {
    name: "reopen: 300 seeded operations with a reopen every 20 steps agree with a model",
    requiresReopen: true,
    async run(open: OpenLogStore, reopen?: ReopenLogStore): Promise<void> {
      check(reopen !== undefined, "this case needs a reopen function");
      await _modelRun(open, reopen, 0xd00d, 300, 20);
    },
  },
);

/** `n` seeded bytes. */
function _bigPayload(n: number, seed: number): Uint8Array {
  const rand = _prng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rand(256);
  return out;
}

/**
 * The conformance cases, in order. Each opens its own store with `open` and
 * closes it at the end; they may run in any order.
 *
 * @example
 * ```ts
 * import { LOG_STORE_CASES } from "./log_store_conformance.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * for (const c of LOG_STORE_CASES) {
 *   if (c.requiresReopen) continue;
 *   await c.run(() => Promise.resolve(new MemoryLogStore()));
 * }
 * ```
 */
export const LOG_STORE_CASES: readonly LogStoreCase[] = Object.freeze(_cases);
