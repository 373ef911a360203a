/**
 * A conformance suite for {@linkcode LogStore} implementations: every case
 * opens a fresh store, exercises one part of the contract, closes the store,
 * and throws an `Error` describing the first mismatch. It depends on no test
 * framework; run each case as one test of yours.
 *
 * Cases whose `requiresReopen` is `true` check durability across close and
 * reopen and need the `reopen` argument: given a closed store, open a new one
 * on the same storage (skip them for a store without persistence).
 *
 * @example Running the suite with `node:test` (under Deno or Bun)
 * ```ts ignore
 * import { test } from "node:test";
 * import { LOG_STORE_CASES } from "@x/raft/testing";
 * import { MemoryLogStore } from "@x/raft/adapters/memory";
 *
 * for (const c of LOG_STORE_CASES) {
 *   test(`memory log store: ${c.name}`, () =>
 *     c.run(
 *       () => Promise.resolve(new MemoryLogStore()),
 *       (closed) => Promise.resolve((closed as MemoryLogStore).crash()),
 *     ));
 * }
 * ```
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
