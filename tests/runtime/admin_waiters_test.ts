// MembershipWaiters and DurableWaiters: released by index, OutcomeUnknown on lost
// leadership, rejectAll.
import { test } from "node:test";
import assert from "node:assert/strict";
import { OutcomeUnknown, ShuttingDown } from "../../src/errors.ts";
import { DurableWaiters, MembershipWaiters } from "../../src/runtime/admin_waiters.ts";
import type { LogId } from "../../src/types.ts";

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

function change(waiters: MembershipWaiters, index: number, out: Map<number, unknown>) {
  waiters.add({
    logId: { term: 2, index },
    resolve: (logId: LogId) => out.set(index, logId),
    reject: (e: unknown) => out.set(index, e),
  });
}

test("membership waiters: a commit resolves the changes up to it; lost leadership the rest", () => {
  const waiters = new MembershipWaiters();
  const out = new Map<number, unknown>();
  assert.equal(waiters.pending, false);
  for (const i of [3, 5, 8]) change(waiters, i, out);
  assert.equal(waiters.pending, true);
  waiters.done({ term: 2, index: 5 });
  assert.deepEqual([...out.entries()], [[3, { term: 2, index: 5 }], [5, { term: 2, index: 5 }]]);
  waiters.outcomeUnknown(4);
  const e = out.get(8);
  assert.ok(e instanceof OutcomeUnknown);
  assert.deepEqual(e.logId, { term: 2, index: 8 });
  assert.equal(e.leaderId, 4);
  assert.equal(waiters.pending, false);
  change(waiters, 9, out);
  const err = new ShuttingDown();
  waiters.rejectAll(err);
  assert.equal(out.get(9), err);
  assert.equal(waiters.pending, false);
});

test("durable waiters: released once the log is durable up to their index", async () => {
  const waiters = new DurableWaiters();
  const done: number[] = [];
  const failed: unknown[] = [];
  for (const i of [1, 2, 3]) waiters.wait(i).then(() => done.push(i), (e) => failed.push(e));
  waiters.release(0);
  waiters.release(2);
  await settle();
  assert.deepEqual(done, [1, 2]);
  assert.equal(waiters.pending, true);
  const err = new ShuttingDown();
  waiters.rejectAll(err);
  await settle();
  assert.deepEqual(failed, [err]);
  assert.equal(waiters.pending, false);
});
