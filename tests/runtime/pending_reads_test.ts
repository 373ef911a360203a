// PendingReads: queued reads handed to the engine in one call per policy, confirmed or
// failed by token, held until the state machine applies up to their index, timeouts,
// rejectAll.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import type { ReadFailure } from "../../src/engine/commands.ts";
import { QuorumNotEnough, ShuttingDown, Timeout } from "../../src/errors.ts";
import { PendingReads, type ReadHost, type ReadPolicy } from "../../src/runtime/pending_reads.ts";

class Host implements ReadHost {
  token = 100;
  readonly calls: { tokens: number[]; policy: ReadPolicy }[] = [];
  readonly reasons: ReadFailure[] = [];
  read(tokens: readonly number[], policy: ReadPolicy): void {
    this.calls.push({ tokens: [...tokens], policy });
  }
  readFromLeader(tokens: readonly number[]): void {
    this.calls.push({ tokens: [...tokens], policy: "follower" });
  }
  nextToken(): number {
    return this.token++;
  }
  error(reason: ReadFailure): QuorumNotEnough {
    this.reasons.push(reason);
    return new QuorumNotEnough("[1, 2, 3]", [1]);
  }
}

type Outcome = { ok: true; index: number } | { ok: false; error: unknown };

function track(p: Promise<number>): Outcome[] {
  const out: Outcome[] = [];
  p.then((index) => out.push({ ok: true, index }), (error) => out.push({ ok: false, error }));
  return out;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

test("pending reads: one engine call per policy, tokens in queue order", () => {
  const clock = new ManualClock();
  const host = new Host();
  const reads = new PendingReads(clock, host);
  assert.equal(reads.hasQueued, false);
  reads.add("read-index", 1000);
  reads.add("lease", 1000);
  reads.add("read-index", 1000);
  assert.equal(reads.hasQueued, true);
  reads.start();
  assert.equal(reads.hasQueued, false);
  assert.deepEqual(host.calls, [
    { tokens: [100, 102], policy: "read-index" },
    { tokens: [101], policy: "lease" },
  ]);
  reads.start(); // nothing queued: no call
  assert.equal(host.calls.length, 2);
});

test("pending reads: follower reads of one turn go to the leader in one call; a failure to ask rejects them", async () => {
  const clock = new ManualClock();
  const host = new Host();
  const reads = new PendingReads(clock, host);
  const a = track(reads.add("follower", 1000));
  reads.add("read-index", 1000);
  const b = track(reads.add("follower", 1000));
  reads.start();
  assert.deepEqual(host.calls, [
    { tokens: [101], policy: "read-index" },
    { tokens: [100, 102], policy: "follower" },
  ]);
  reads.ready(100, 5, 7);
  reads.rejected(102, new ShuttingDown());
  reads.rejected(100, new ShuttingDown()); // already settled: ignored
  await settle();
  assert.deepEqual(a, [{ ok: true, index: 5 }]);
  assert.equal(b.length, 1);
  assert.ok(!b[0]!.ok && b[0]!.error instanceof ShuttingDown);
});

test("pending reads: a confirmed read resolves once the state machine applied its index", async () => {
  const clock = new ManualClock();
  const host = new Host();
  const reads = new PendingReads(clock, host);
  const a = track(reads.add("read-index", 1000));
  const b = track(reads.add("read-index", 1000));
  const c = track(reads.add("read-index", 1000));
  reads.start();
  reads.ready(100, 5, 5); // applied already
  reads.ready(101, 8, 5);
  reads.ready(102, 9, 5);
  reads.ready(999, 1, 5); // unknown token: ignored
  await settle();
  assert.deepEqual(a, [{ ok: true, index: 5 }]);
  assert.deepEqual(b, []);
  reads.release(7);
  await settle();
  assert.deepEqual(b, []);
  reads.release(8);
  await settle();
  assert.deepEqual(b, [{ ok: true, index: 8 }]);
  assert.deepEqual(c, []);
  reads.release(20);
  await settle();
  assert.deepEqual(c, [{ ok: true, index: 9 }]);
  assert.equal(clock.pending, 0, "every read's timer is cleared once it resolves");
});

test("pending reads: a failed read rejects with the host's error; unknown tokens build none", async () => {
  const clock = new ManualClock();
  const host = new Host();
  const reads = new PendingReads(clock, host);
  const a = track(reads.add("lease", 1000));
  reads.start();
  reads.failed(555, { kind: "quorum-lost", acked: [1] });
  assert.deepEqual(host.reasons, []);
  reads.failed(100, { kind: "quorum-lost", acked: [1] });
  reads.ready(100, 3, 10); // already settled: ignored
  await settle();
  assert.deepEqual(host.reasons, [{ kind: "quorum-lost", acked: [1] }]);
  assert.equal(a.length, 1);
  assert.ok(!a[0]!.ok && a[0]!.error instanceof QuorumNotEnough);
  assert.equal(clock.pending, 0);
});

test("pending reads: a read not served within its timeout rejects with Timeout", async () => {
  const clock = new ManualClock();
  const host = new Host();
  const reads = new PendingReads(clock, host);
  const a = track(reads.add("read-index", 50));
  reads.start();
  clock.advance(49);
  await settle();
  assert.equal(a.length, 0);
  clock.advance(1);
  await settle();
  assert.equal(a.length, 1);
  assert.ok(!a[0]!.ok && a[0]!.error instanceof Timeout);
});

test("pending reads: rejectAll settles queued, confirming and applying reads", async () => {
  const clock = new ManualClock();
  const host = new Host();
  const reads = new PendingReads(clock, host);
  const confirming = track(reads.add("read-index", 1000));
  const applying = track(reads.add("read-index", 1000));
  reads.start();
  reads.ready(101, 9, 1);
  const queued = track(reads.add("lease", 1000));
  const err = new ShuttingDown();
  reads.rejectAll(err);
  await settle();
  for (const out of [confirming, applying, queued]) {
    assert.deepEqual(out, [{ ok: false, error: err }]);
  }
  assert.equal(reads.hasQueued, false);
  assert.equal(clock.pending, 0);
  reads.release(100);
  reads.ready(100, 1, 100);
  await settle();
  for (const out of [confirming, applying, queued]) assert.equal(out.length, 1);
});
