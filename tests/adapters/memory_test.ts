import { test } from "node:test";
import { bytesToStream, readAllBytes } from "../../src/byte_stream.ts";
import type { Snapshot } from "../../src/storage.ts";
import assert from "node:assert/strict";
import {
  CountingStateMachine,
  decodeKvCommand,
  kvCas,
  kvDelete,
  kvSet,
  MemoryLogStore,
  MemoryStateMachine,
} from "../../adapters/memory.ts";
import { LOG_STORE_CASES } from "../../testing/log_store_conformance.ts";
import type { Entry, LogId, SnapshotMeta } from "../../src/types.ts";
import { membershipOf } from "../../src/types.ts";

const text = new TextEncoder();
const untext = new TextDecoder();

function blank(term: number, index: number): Entry {
  return { term, index, type: "blank" };
}

function normal(term: number, index: number, data: Uint8Array = new Uint8Array([index])): Entry {
  return { term, index, type: "normal", data };
}

function ids(entries: readonly Entry[] | readonly LogId[]): string {
  return entries.map((e) => `${e.term}-${e.index}`).join(",");
}

async function rejection(p: unknown): Promise<Error> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof Error, `rejected with a non-Error: ${String(e)}`);
    return e;
  }
  assert.fail("expected a rejection");
}

// ------------------------------------------------------- conformance suite

for (const c of LOG_STORE_CASES) {
  test(`memory log store: conformance (sync always): ${c.name}`, () =>
    c.run(
      () => Promise.resolve(new MemoryLogStore()),
      (closed) => Promise.resolve((closed as MemoryLogStore).crash()),
    ));
}

for (const c of LOG_STORE_CASES) {
  test(`memory log store: conformance (sync manual, synced before reopen): ${c.name}`, () =>
    c.run(
      () => Promise.resolve(new MemoryLogStore({ syncMode: "manual" })),
      (closed) => {
        const store = closed as MemoryLogStore;
        store.sync();
        return Promise.resolve(store.crash());
      },
    ));
}

// ------------------------------------------------------------ log store

const bytesOf = (s: Snapshot): Promise<Uint8Array> => readAllBytes(s.open());
/** Small chunks, so state machines see a snapshot in several pieces. */
const streamOf = (b: Uint8Array): ReadableStream<Uint8Array> => bytesToStream(b, 7);

test("memory log store: writes complete on return (undefined), reads settle asynchronously", async () => {
  const store = new MemoryLogStore();
  // "always" mode: a write is durable when the call returns, and says so by returning no
  // promise (the runtime continues in the same turn).
  assert.equal(store.append([blank(1, 1)]), undefined);
  assert.equal(store.contents("durable").entries.length, 1);
  let settled = false;
  const p = store.logState().then(() => settled = true);
  assert.equal(settled, false);
  await p;
  assert.equal(settled, true);
  // A contract violation rejects rather than throwing synchronously.
  const bad = store.append([blank(1, 5)]);
  assert.ok(bad instanceof Promise);
  await rejection(bad);
  // "manual" mode: writes return a promise (durable only at sync()).
  const manual = new MemoryLogStore({ syncMode: "manual" });
  assert.ok(manual.append([blank(1, 1)]) instanceof Promise);
});

test("memory log store: sync always makes every write durable at once", async () => {
  const store = new MemoryLogStore();
  await store.saveVote({ term: 2, votedFor: 1, committed: false });
  await store.append([blank(1, 1), normal(2, 2)]);
  assert.equal(store.unsynced, 0);
  assert.deepEqual(store.durableVote, { term: 2, votedFor: 1, committed: false });
  assert.equal(ids(store.durableEntries()), "1-1,2-2");
  const restarted = store.crash();
  assert.deepEqual(await restarted.readVote(), { term: 2, votedFor: 1, committed: false });
  assert.equal(ids(await restarted.entries(1, 2)), "1-1,2-2");
});

test("memory log store: manual sync keeps writes readable but not durable until sync()", async () => {
  const store = new MemoryLogStore({ syncMode: "manual" });
  await store.saveVote({ term: 1, votedFor: 2, committed: false });
  await store.append([blank(1, 1), normal(1, 2)]);
  await store.saveCommitted({ term: 1, index: 1 });
  // Reads see the written layer.
  assert.deepEqual(await store.readVote(), { term: 1, votedFor: 2, committed: false });
  assert.equal(ids(await store.entries(1, 10)), "1-1,1-2");
  assert.deepEqual(await store.readCommitted(), { term: 1, index: 1 });
  // Nothing is durable yet.
  assert.equal(store.unsynced, 3);
  assert.equal(store.durableVote, null);
  assert.deepEqual(store.durableEntries(), []);
  assert.deepEqual(store.contents("durable"), {
    vote: null,
    entries: [],
    lastPurged: null,
    lastLogId: null,
    committed: null,
  });
  store.sync();
  assert.equal(store.unsynced, 0);
  assert.equal(store.contents("durable").vote?.votedFor, 2);
  assert.equal(ids(store.durableEntries()), "1-1,1-2");
  assert.deepEqual(store.contents("durable").committed, { term: 1, index: 1 });
});

test("memory log store: crash() keeps exactly the synced state, in every kind of write", async () => {
  const store = new MemoryLogStore({ syncMode: "manual" });
  await store.saveVote({ term: 1, votedFor: 1, committed: true });
  await store.append([blank(1, 1), normal(1, 2), normal(1, 3), normal(1, 4)]);
  await store.saveCommitted({ term: 1, index: 2 });
  store.sync();
  // Unsynced: a new vote, a truncate, an append, a purge, a commit.
  await store.saveVote({ term: 2, votedFor: 3, committed: false });
  await store.truncate(3);
  await store.append([normal(2, 3)]);
  await store.purge({ term: 1, index: 2 });
  await store.saveCommitted({ term: 2, index: 3 });
  assert.deepEqual(store.contents(), {
    vote: { term: 2, votedFor: 3, committed: false },
    entries: [normal(2, 3)],
    lastPurged: { term: 1, index: 2 },
    lastLogId: { term: 2, index: 3 },
    committed: { term: 2, index: 3 },
  });

  const restarted = store.crash();
  assert.equal(restarted.syncMode, "manual");
  assert.deepEqual(await restarted.readVote(), { term: 1, votedFor: 1, committed: true });
  assert.deepEqual(await restarted.logState(), {
    lastPurged: null,
    lastLogId: { term: 1, index: 4 },
  });
  assert.equal(ids(await restarted.entries(1, 10)), "1-1,1-2,1-3,1-4");
  assert.deepEqual(await restarted.readCommitted(), { term: 1, index: 2 });
  // The restarted store is manual too: its own writes wait for its sync().
  await restarted.truncate(4);
  assert.equal(restarted.durableEntries().length, 4);
  const again = restarted.crash();
  assert.equal(ids(await again.entries(1, 10)), "1-1,1-2,1-3,1-4");
});

test("memory log store: a partly synced sequence keeps the synced prefix only", async () => {
  const store = new MemoryLogStore({ syncMode: "manual" });
  await store.append([blank(1, 1)]);
  store.sync();
  await store.append([normal(1, 2)]);
  store.sync();
  await store.append([normal(1, 3)]);
  const restarted = store.crash();
  assert.equal(ids(await restarted.entries(1, 10)), "1-1,1-2");
});

test("memory log store: the crashed instance rejects every later call", async () => {
  const store = new MemoryLogStore();
  await store.append([blank(1, 1)]);
  const restarted = store.crash();
  assert.equal(store.closed, true);
  assert.equal(restarted.closed, false);
  assert.match((await rejection(store.append([blank(1, 2)]))).message, /closed/);
  await rejection(store.readVote());
  await rejection(store.entries(1, 1));
  // The new store is independent of the dead one.
  await restarted.append([blank(1, 2)]);
  assert.equal(store.writtenEntries().length, 0);
  assert.equal(restarted.writtenEntries().length, 2);
});

test("memory log store: close() rejects later calls and is idempotent", async () => {
  const store = new MemoryLogStore();
  await store.close();
  await store.close();
  await rejection(store.logState());
  await rejection(store.saveVote({ term: 1, votedFor: null, committed: false }));
  assert.equal(store.calls.close, 2);
});

test("memory log store: failNext() rejects the next call of that operation only, without effect", async () => {
  const store = new MemoryLogStore();
  const boom = new Error("disk on fire");
  store.failNext("append", boom);
  await store.saveVote({ term: 1, votedFor: null, committed: false }); // other ops unaffected
  const err = await rejection(store.append([blank(1, 1)]));
  assert.equal(err, boom);
  assert.deepEqual(store.writtenEntries(), []);
  await store.append([blank(1, 1)]); // the next one succeeds
  assert.equal(store.writtenEntries().length, 1);
});

test("memory log store: failNext() queues failures and has a default error", async () => {
  const store = new MemoryLogStore();
  store.failNext("saveVote");
  store.failNext("saveVote");
  store.failNext("entries");
  const first = await rejection(store.saveVote({ term: 1, votedFor: 1, committed: false }));
  assert.match(first.message, /injected failure of saveVote/);
  await rejection(store.saveVote({ term: 1, votedFor: 1, committed: false }));
  await store.saveVote({ term: 1, votedFor: 1, committed: false });
  await rejection(store.entries(1, 1));
  assert.deepEqual(await store.entries(1, 1), []);
  assert.equal(store.calls.saveVote, 3);
  assert.equal(store.calls.entries, 2);
});

test("memory log store: append rejects entries that do not continue the log", async () => {
  const store = new MemoryLogStore();
  assert.match((await rejection(store.append([blank(1, 2)]))).message, /expected index 1.*gap/);
  await store.append([blank(2, 1), blank(2, 2)]);
  assert.match(
    (await rejection(store.append([blank(2, 2)]))).message,
    /expected index 3.*truncate/,
  );
  assert.match((await rejection(store.append([blank(1, 3)]))).message, /lower term/);
  await rejection(store.append([blank(2, 3), blank(1, 4)]));
  await rejection(store.append([blank(2, 3), blank(2, 5)]));
  await rejection(store.append([{ term: 2, index: 3, type: "normal" } as unknown as Entry]));
  await rejection(store.append([{ term: -1, index: 3, type: "blank" }]));
  // Nothing of the rejected batches was written.
  assert.equal(ids(store.writtenEntries()), "2-1,2-2");
  await store.append([]); // empty: a no-op
  await store.append([blank(2, 3)]);
});

test("memory log store: append after purge must continue from the purge point", async () => {
  const store = new MemoryLogStore();
  await store.purge({ term: 3, index: 10 });
  await rejection(store.append([blank(3, 10)]));
  await rejection(store.append([blank(2, 11)]));
  await store.append([blank(3, 11)]);
  assert.deepEqual((await store.logState()).lastLogId, { term: 3, index: 11 });
});

test("memory log store: truncate bounds", async () => {
  const store = new MemoryLogStore();
  await store.append([blank(1, 1), blank(1, 2), blank(1, 3), blank(1, 4)]);
  await store.purge({ term: 1, index: 2 });
  assert.match((await rejection(store.truncate(2))).message, /purge point/);
  await rejection(store.truncate(0));
  await rejection(store.truncate(1.5));
  await store.truncate(10); // beyond the last: nothing to do
  assert.equal(ids(store.writtenEntries()), "1-3,1-4");
  await store.truncate(3);
  assert.deepEqual(await store.logState(), {
    lastPurged: { term: 1, index: 2 },
    lastLogId: { term: 1, index: 2 },
  });
});

test("memory log store: purge bounds", async () => {
  const store = new MemoryLogStore();
  await store.append([blank(1, 1), blank(1, 2), blank(2, 3), blank(2, 4)]);
  assert.match((await rejection(store.purge({ term: 1, index: 3 }))).message, /conflicts/);
  await rejection(store.purge({ term: 1, index: 9 })); // beyond, but a lower term than the last
  await rejection(store.purge({ term: 1, index: 0 }));
  await store.purge({ term: 1, index: 2 });
  assert.match((await rejection(store.purge({ term: 1, index: 1 }))).message, /below/);
  await rejection(store.purge({ term: 2, index: 2 }));
  await store.purge({ term: 1, index: 2 }); // the same point again: a no-op
  await store.purge({ term: 2, index: 4 });
  assert.deepEqual(await store.logState(), {
    lastPurged: { term: 2, index: 4 },
    lastLogId: { term: 2, index: 4 },
  });
  await rejection(store.purge({ term: 1, index: 6 })); // term lower than the purge point's
});

test("memory log store: a vote never goes back", async () => {
  const store = new MemoryLogStore();
  await store.saveVote({ term: 2, votedFor: null, committed: false });
  await store.saveVote({ term: 2, votedFor: 1, committed: false });
  await store.saveVote({ term: 2, votedFor: 1, committed: false }); // same: fine
  assert.match(
    (await rejection(store.saveVote({ term: 2, votedFor: 3, committed: false }))).message,
    /already has a vote for 1/,
  );
  await rejection(store.saveVote({ term: 2, votedFor: null, committed: false }));
  await store.saveVote({ term: 2, votedFor: 1, committed: true });
  await rejection(store.saveVote({ term: 2, votedFor: 1, committed: false }));
  assert.match(
    (await rejection(store.saveVote({ term: 1, votedFor: 1, committed: false }))).message,
    /goes back/,
  );
  await store.saveVote({ term: 3, votedFor: 2, committed: false });
  assert.deepEqual(store.vote, { term: 3, votedFor: 2, committed: false });
});

test("memory log store: entries() validates and clamps its range", async () => {
  const store = new MemoryLogStore();
  await store.append([blank(1, 1), blank(1, 2), blank(1, 3)]);
  await rejection(store.entries(Number.NaN, 3));
  await rejection(store.entries(1, Infinity));
  assert.equal(ids(await store.entries(-5, 2)), "1-1,1-2");
  assert.equal(ids(await store.entries(2, 99)), "1-2,1-3");
  assert.deepEqual(await store.entries(3, 2), []);
});

test("memory log store: inspection does not expose internal state", async () => {
  const store = new MemoryLogStore();
  await store.append([blank(1, 1)]);
  await store.saveVote({ term: 1, votedFor: 1, committed: false });
  store.writtenEntries().push(blank(1, 2));
  store.durableEntries().length = 0;
  store.contents().entries.length = 0;
  const vote = store.vote;
  assert.ok(vote !== null);
  (vote as { term: number }).term = 99;
  assert.equal(store.writtenEntries().length, 1);
  assert.equal(store.vote?.term, 1);
  const calls = store.calls as Record<string, number>;
  calls.append = 99;
  assert.equal(store.calls.append, 1);
});

test("memory log store: calls counts every operation", async () => {
  const store = new MemoryLogStore();
  await store.append([blank(1, 1)]);
  await store.append([blank(1, 2)]);
  await store.entries(1, 2);
  await store.logState();
  await rejection(store.append([blank(1, 9)]));
  assert.equal(store.calls.append, 3);
  assert.equal(store.calls.entries, 1);
  assert.equal(store.calls.logState, 1);
  assert.equal(store.calls.truncate, 0);
});

test("memory log store: rejects an unknown sync mode", () => {
  assert.throws(
    () => new MemoryLogStore({ syncMode: "sometimes" as unknown as "manual" }),
    RangeError,
  );
});

// ------------------------------------------------------------ kv commands

test("kv commands: kvSet and kvDelete encode to a documented binary layout", () => {
  assert.deepEqual(
    kvSet("ab", new Uint8Array([9, 8])),
    new Uint8Array([1, 0, 0, 0, 2, 97, 98, 9, 8]),
  );
  assert.deepEqual(kvSet("k", "é"), new Uint8Array([1, 0, 0, 0, 1, 107, 0xc3, 0xa9]));
  assert.deepEqual(kvDelete("ab"), new Uint8Array([2, 0, 0, 0, 2, 97, 98]));
  assert.deepEqual(kvSet("", new Uint8Array()), new Uint8Array([1, 0, 0, 0, 0]));
});

test("kv commands: decodeKvCommand round-trips and rejects other bytes", () => {
  const key = "ключ/🔑";
  const value = new Uint8Array(300).map((_, i) => i & 0xff);
  const set = decodeKvCommand(kvSet(key, value));
  assert.ok(set !== null && set.op === "set");
  assert.equal(set.key, key);
  assert.deepEqual(set.value, value);
  assert.deepEqual(decodeKvCommand(kvDelete(key)), { op: "delete", key });
  assert.equal(decodeKvCommand(new Uint8Array()), null);
  assert.equal(decodeKvCommand(new Uint8Array([1, 0, 0])), null);
  assert.equal(decodeKvCommand(new Uint8Array([3, 0, 0, 0, 0])), null); // unknown tag
  assert.equal(decodeKvCommand(new Uint8Array([1, 0, 0, 0, 9, 97])), null); // key too long
  assert.equal(decodeKvCommand(new Uint8Array([2, 0, 0, 0, 1, 97, 0])), null); // trailing bytes
  assert.equal(decodeKvCommand(new Uint8Array([1, 0, 0, 0, 1, 0xff])), null); // bad UTF-8
});

test("kv commands: decoding works on a view into a larger buffer", () => {
  const inner = kvSet("x", "yz");
  const big = new Uint8Array(inner.length + 7);
  big.set(inner, 3);
  const cmd = decodeKvCommand(big.subarray(3, 3 + inner.length));
  assert.ok(cmd !== null && cmd.op === "set");
  assert.equal(cmd.key, "x");
  assert.equal(untext.decode(cmd.value), "yz");
});

// ---------------------------------------------------- MemoryStateMachine

test("memory state machine: apply returns previous values and undefined for blank/membership", async () => {
  const sm = new MemoryStateMachine();
  const m = membershipOf([1, 2, 3]);
  const out = await sm.apply([
    blank(1, 1),
    { term: 1, index: 2, type: "membership", membership: m },
    normal(1, 3, kvSet("a", "1")),
    normal(1, 4, kvSet("a", "2")),
    normal(1, 5, kvDelete("a")),
    normal(1, 6, kvDelete("a")),
    normal(1, 7, text.encode("not a command")),
  ]);
  assert.equal(out.length, 7);
  assert.equal(out[0], undefined);
  assert.equal(out[1], undefined);
  assert.equal(out[2], null);
  assert.equal(untext.decode(out[3]!), "1");
  assert.equal(untext.decode(out[4]!), "2");
  assert.equal(out[5], null);
  assert.equal(out[6], null);
  assert.equal(sm.get("a"), null);
  assert.equal(sm.size, 0);
  const state = await sm.appliedState();
  assert.deepEqual(state.lastApplied, { term: 1, index: 7 });
  assert.deepEqual(state.membership.logId, { term: 1, index: 2 });
  assert.equal(state.membership.membership, m);
});

test("memory state machine: exactly-once bookkeeping and order checks", async () => {
  const sm = new MemoryStateMachine();
  await sm.apply([blank(1, 1), normal(1, 2, kvSet("k", "v"))]);
  await sm.apply([normal(2, 3, kvSet("k", "w"))]);
  assert.equal(sm.appliedCount, 3);
  assert.equal(ids(sm.applyLog), "1-1,1-2,2-3");
  // Re-applying, skipping or regressing the term rejects and applies nothing.
  assert.match(
    (await rejection(sm.apply([normal(2, 3, kvSet("k", "x"))]))).message,
    /exactly once/,
  );
  await rejection(sm.apply([normal(2, 5, kvSet("k", "x"))]));
  await rejection(sm.apply([normal(1, 4, kvSet("k", "x"))]));
  await rejection(sm.apply([normal(2, 4, kvSet("k", "x")), normal(2, 6, kvSet("k", "y"))]));
  assert.equal(sm.appliedCount, 3);
  assert.equal(untext.decode(sm.get("k")!), "w");
  assert.deepEqual(await sm.apply([]), []);
  // A fresh state machine must start at index 1.
  await rejection(new MemoryStateMachine().apply([blank(1, 2)]));
});

test("memory state machine: stored values are copies, independent of the log's bytes", async () => {
  const sm = new MemoryStateMachine();
  const cmd = kvSet("k", "abc");
  await sm.apply([normal(1, 1, cmd)]);
  cmd.fill(0);
  assert.equal(untext.decode(sm.get("k")!), "abc");
  sm.get("k")!.fill(0);
  assert.equal(untext.decode(sm.get("k")!), "abc");
});

test("memory state machine: snapshot round trip restores map, lastApplied and membership", async () => {
  const a = new MemoryStateMachine();
  const m = membershipOf([1, 2], [3]);
  await a.apply([
    { term: 1, index: 1, type: "membership", membership: m },
    normal(1, 2, kvSet("b", "2")),
    normal(2, 3, kvSet("a", new Uint8Array([0, 255]))),
    normal(2, 4, kvSet("", "empty key")),
  ]);
  const snap = await a.buildSnapshot();
  assert.deepEqual(snap.meta.lastLogId, { term: 2, index: 4 });
  assert.deepEqual(snap.meta.lastMembership.logId, { term: 1, index: 1 });
  assert.equal(snap.meta.snapshotId, "2-4-1");
  assert.equal((await a.currentSnapshot())?.meta, snap.meta);

  const b = new MemoryStateMachine();
  await b.installSnapshot(snap.meta, snap.open());
  assert.deepEqual(b.pairs(), a.pairs());
  assert.deepEqual(b.lastApplied, { term: 2, index: 4 });
  const state = await b.appliedState();
  assert.deepEqual(state.membership.logId, { term: 1, index: 1 });
  assert.equal(state.membership.membership, m);
  assert.equal((await b.currentSnapshot())?.meta, snap.meta);
  assert.equal(b.appliedCount, 0);
  // It continues from the snapshot.
  await rejection(b.apply([normal(2, 4, kvSet("x", "1"))]));
  assert.deepEqual(await b.apply([normal(2, 5, kvSet("a", "new"))]), [new Uint8Array([0, 255])]);
  assert.equal(ids(b.applyLog), "2-5");
});

test("memory state machine: snapshots are deterministic and ids count up", async () => {
  const a = new MemoryStateMachine();
  const b = new MemoryStateMachine();
  await a.apply([normal(1, 1, kvSet("x", "1")), normal(1, 2, kvSet("y", "2"))]);
  await b.apply([normal(1, 1, kvSet("y", "2")), normal(1, 2, kvSet("x", "1"))]);
  const sa = await a.buildSnapshot();
  const sb = await b.buildSnapshot();
  assert.deepEqual(await bytesOf(sa), await bytesOf(sb));
  assert.equal((await a.buildSnapshot()).meta.snapshotId, "1-2-2");
  const empty = await new MemoryStateMachine().buildSnapshot();
  assert.equal(empty.meta.snapshotId, "0-0-1");
  assert.equal(empty.meta.lastLogId, null);
  const c = new MemoryStateMachine();
  await c.installSnapshot(empty.meta, empty.open());
  assert.equal(c.lastApplied, null);
});

test("memory state machine: installSnapshot rejects bad data, mismatched meta and older snapshots", async () => {
  const a = new MemoryStateMachine();
  await a.apply([normal(1, 1, kvSet("x", "1")), normal(1, 2, kvSet("y", "2"))]);
  const snap = await a.buildSnapshot();
  const target = new MemoryStateMachine();
  const data = await bytesOf(snap);
  await rejection(target.installSnapshot(snap.meta, streamOf(data.subarray(0, data.length - 1))));
  await rejection(target.installSnapshot(snap.meta, streamOf(new Uint8Array([1, 2, 3]))));
  const trailing = new Uint8Array(data.length + 1);
  trailing.set(data);
  await rejection(target.installSnapshot(snap.meta, streamOf(trailing)));
  const otherMeta: SnapshotMeta = { ...snap.meta, lastLogId: { term: 1, index: 3 } };
  assert.match((await rejection(target.installSnapshot(otherMeta, snap.open()))).message, /meta/);
  assert.equal(target.lastApplied, null);
  // Older than what is applied.
  await a.apply([normal(1, 3, kvSet("z", "3"))]);
  assert.match((await rejection(a.installSnapshot(snap.meta, snap.open()))).message, /older/);
  assert.equal(a.size, 3);
});

test("memory state machine: crash() restarts from the current snapshot", async () => {
  const sm = new MemoryStateMachine();
  assert.equal(sm.crash().lastApplied, null);
  await sm.apply([normal(1, 1, kvSet("a", "1"))]);
  const snap = await sm.buildSnapshot();
  await sm.apply([normal(1, 2, kvSet("b", "2"))]);
  const restarted = sm.crash();
  assert.deepEqual(restarted.lastApplied, { term: 1, index: 1 });
  assert.equal(untext.decode(restarted.get("a")!), "1");
  assert.equal(restarted.get("b"), null);
  assert.equal((await restarted.currentSnapshot())?.meta.snapshotId, snap.meta.snapshotId);
  assert.equal(restarted.applyLog.length, 0);
  await restarted.apply([normal(1, 2, kvSet("b", "2"))]);
  assert.deepEqual(restarted.pairs(), sm.pairs());
  // Its next snapshot id does not repeat one already used.
  assert.equal((await restarted.buildSnapshot()).meta.snapshotId, "1-2-2");
});

// ---------------------------------------------------- CountingStateMachine

test("counting state machine: counts normal entries and returns the running count", async () => {
  const sm = new CountingStateMachine();
  const m = membershipOf([1]);
  const out = await sm.apply([
    blank(1, 1),
    normal(1, 2),
    { term: 1, index: 3, type: "membership", membership: m },
    normal(1, 4),
  ]);
  assert.deepEqual(out, [undefined, 1, undefined, 2]);
  assert.deepEqual(await sm.apply([normal(2, 5)]), [3]);
  assert.equal(sm.count, 3);
  const state = await sm.appliedState();
  assert.deepEqual(state.lastApplied, { term: 2, index: 5 });
  assert.deepEqual(state.membership.logId, { term: 1, index: 3 });
  await rejection(sm.apply([normal(2, 5)]));
  await rejection(sm.apply([normal(2, 7)]));
  await rejection(sm.apply([normal(2, 6), normal(2, 8)]));
  assert.equal(sm.count, 3);
});

test("counting state machine: snapshot round trip", async () => {
  const a = new CountingStateMachine();
  await a.apply([normal(1, 1), normal(1, 2)]);
  const snap = await a.buildSnapshot();
  assert.equal(snap.meta.snapshotId, "1-2-1");
  assert.equal((await a.currentSnapshot())?.meta, snap.meta);
  const b = new CountingStateMachine();
  await b.installSnapshot(snap.meta, snap.open());
  assert.equal(b.count, 2);
  assert.deepEqual((await b.appliedState()).lastApplied, { term: 1, index: 2 });
  assert.deepEqual(await b.apply([normal(1, 3)]), [3]);
  await rejection(b.installSnapshot(snap.meta, streamOf(new Uint8Array(3))));
});

test("kv commands: kvCas swaps only from the expected value and returns what it found", async () => {
  const sm = new MemoryStateMachine();
  const txt = (b: Uint8Array | null | undefined) => b == null ? null : new TextDecoder().decode(b);
  const out = await sm.apply([
    normal(1, 1, kvCas("k", null, "a")), // absent -> a
    normal(1, 2, kvCas("k", "x", "b")), // refused: holds a
    normal(1, 3, kvCas("k", "a", "c")), // a -> c
  ]);
  assert.deepEqual(out.map(txt), [null, "a", "a"]);
  assert.equal(txt(sm.get("k")), "c");
  assert.deepEqual(decodeKvCommand(kvCas("k", null, "v")), {
    op: "cas",
    key: "k",
    expected: null,
    value: new TextEncoder().encode("v"),
  });
  const bad = kvCas("k", "e", "v");
  assert.equal(decodeKvCommand(bad.subarray(0, 8)), null, "a truncated header is no command");
});
