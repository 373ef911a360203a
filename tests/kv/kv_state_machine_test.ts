// The key-value state machine (kv/kv_state_machine.ts).
import { blank, ids, normal, rejection } from "../_entries.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { bytesToStream, readAllBytes } from "../../src/byte_stream.ts";
import type { Snapshot } from "../../src/storage.ts";
import type { SnapshotMeta } from "../../src/types.ts";
import { membershipOf } from "../../src/types.ts";
import { kvDelete, kvSet, MemoryStateMachine } from "../../kv/mod.ts";

const text = new TextEncoder();
const untext = new TextDecoder();

const bytesOf = (s: Snapshot): Promise<Uint8Array> => readAllBytes(s.open());
/** Small chunks, so state machines see a snapshot in several pieces. */
const streamOf = (b: Uint8Array): ReadableStream<Uint8Array> => bytesToStream(b, 7);

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
  const sm = new MemoryStateMachine({ recordApplyLog: true });
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

  const b = new MemoryStateMachine({ recordApplyLog: true });
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
  const sm = new MemoryStateMachine({ recordApplyLog: true });
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

test("memory state machine: records no apply log unless asked (it would grow with every entry)", async () => {
  const sm = new MemoryStateMachine();
  await sm.apply([blank(1, 1), normal(1, 2, kvSet("k", "v"))]);
  assert.equal(sm.appliedCount, 2);
  assert.throws(() => sm.applyLog, /recordApplyLog/);
  assert.throws(() => sm.crash().applyLog, /recordApplyLog/, "a restart keeps the choice");
  const recorded = new MemoryStateMachine({ recordApplyLog: true });
  await recorded.apply([blank(1, 1)]);
  assert.equal(ids(recorded.applyLog), "1-1");
  assert.equal(recorded.crash().applyLog.length, 0);
});
