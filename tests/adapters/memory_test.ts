import { test } from "node:test";
import { blank, ids, normal, rejection } from "../_entries.ts";
import assert from "node:assert/strict";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { LOG_STORE_CASES } from "../../testing/log_store_conformance.ts";
import type { Entry } from "../../src/types.ts";

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
