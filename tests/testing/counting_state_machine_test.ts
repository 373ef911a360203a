// The counting state machine of benchmarks (testing/counting_state_machine.ts).
import { blank, normal, rejection } from "../_entries.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { membershipOf } from "../../src/types.ts";
import { CountingStateMachine } from "../../testing/counting_state_machine.ts";
import { bytesToStream } from "../../src/byte_stream.ts";

/** Small chunks, so state machines see a snapshot in several pieces. */
const streamOf = (b: Uint8Array): ReadableStream<Uint8Array> => bytesToStream(b, 7);

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
