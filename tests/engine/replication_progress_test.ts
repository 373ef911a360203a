import { test } from "node:test";
import assert from "node:assert/strict";
import { ReplicationProgress } from "../../src/engine/replication_progress.ts";

/** A peer in pipeline state with match `match` (next = match + 1, nothing in flight). */
function pipelining(match: number): ReplicationProgress {
  const p = new ReplicationProgress(2, match + 1);
  p.onMatch(match);
  return p;
}

test("engine/replication_progress: a new peer probes from next with nothing in flight", () => {
  const p = new ReplicationProgress(2, 11);
  assert.equal(p.id, 2);
  assert.equal(p.state, "probe");
  assert.equal(p.next, 11);
  assert.equal(p.match, 0);
  assert.equal(p.canSend(64), true);
});

test("engine/replication_progress: probe allows one request in flight", () => {
  const p = new ReplicationProgress(2, 5);
  p.onSent(7);
  assert.equal(p.probeInflight, true);
  assert.equal(p.canSend(64), false);
  assert.equal(p.next, 5, "probing does not move next on send");
  assert.deepEqual(p.inflight, []);
});

test("engine/replication_progress: a match switches probe to pipeline from match + 1", () => {
  const p = new ReplicationProgress(2, 5);
  p.onSent(7);
  assert.equal(p.onMatch(7), true);
  assert.equal(p.state, "pipeline");
  assert.equal(p.match, 7);
  assert.equal(p.next, 8);
  assert.equal(p.probeInflight, false);
  assert.deepEqual(p.inflight, []);
  assert.equal(p.canSend(1), true);
});

test("engine/replication_progress: a match of 0 (empty follower) still starts pipelining", () => {
  const p = new ReplicationProgress(2, 1);
  p.onSent(3);
  assert.equal(p.onMatch(0), false, "match did not grow");
  assert.equal(p.state, "pipeline");
  assert.equal(p.next, 1);
});

test("engine/replication_progress: match never decreases", () => {
  const p = pipelining(10);
  assert.equal(p.onMatch(4), false);
  assert.equal(p.match, 10);
  assert.equal(p.next, 11);
  assert.equal(p.onMatch(10), false);
  assert.equal(p.onMatch(12), true);
  assert.equal(p.match, 12);
  // Also when a stale success arrives while probing.
  p.becomeProbe(20);
  assert.equal(p.onMatch(3), false);
  assert.equal(p.match, 12);
  assert.ok(p.next >= 13);
});

test("engine/replication_progress: pipeline window counts requests up to maxInflight", () => {
  const p = pipelining(0);
  p.onSent(3);
  p.onSent(6);
  assert.deepEqual(p.inflight, [3, 6]);
  assert.equal(p.next, 7);
  assert.equal(p.canSend(3), true);
  p.onSent(9);
  assert.equal(p.canSend(3), false, "window full");
  assert.equal(p.next, 10);
  // Acks free the requests they cover, in order.
  p.onMatch(6);
  assert.deepEqual(p.inflight, [9]);
  assert.equal(p.canSend(3), true);
  assert.equal(p.next, 10, "next stays past what is in flight");
  p.onMatch(9);
  assert.deepEqual(p.inflight, []);
});

test("engine/replication_progress: an ack in the middle of a request keeps it in flight", () => {
  const p = pipelining(0);
  p.onSent(5);
  p.onSent(10);
  p.onMatch(7);
  assert.deepEqual(p.inflight, [10]);
  assert.equal(p.match, 7);
});

test("engine/replication_progress: stale rejects are ignored while pipelining", () => {
  const p = pipelining(10);
  p.onSent(15);
  assert.equal(p.onReject(10, 3), false, "rejected at match: stale");
  assert.equal(p.onReject(4, 1), false, "rejected below match: stale");
  assert.equal(p.state, "pipeline");
  assert.equal(p.next, 16);
  assert.deepEqual(p.inflight, [15]);
});

test("engine/replication_progress: a real reject while pipelining falls back to probe", () => {
  const p = pipelining(10);
  p.onSent(15);
  p.onSent(20);
  assert.equal(p.onReject(15, 13), true);
  assert.equal(p.state, "probe");
  assert.equal(p.next, 13);
  assert.deepEqual(p.inflight, []);
  assert.equal(p.probeInflight, false);
  assert.equal(p.canSend(64), true);
});

test("engine/replication_progress: stale rejects are ignored while probing", () => {
  const p = new ReplicationProgress(2, 11);
  p.onSent(11);
  assert.equal(p.onReject(7, 3), false, "not the probe in flight (prev 10)");
  assert.equal(p.onReject(12, 3), false);
  assert.equal(p.next, 11);
  assert.equal(p.probeInflight, true);
  assert.equal(p.onReject(10, 4), true);
  assert.equal(p.next, 4);
  assert.equal(p.probeInflight, false);
  // The same rejection delivered twice is now stale.
  p.onSent(4);
  assert.equal(p.onReject(10, 4), false);
  assert.equal(p.next, 4);
});

test("engine/replication_progress: a reject never moves next below match + 1 or past the rejected index", () => {
  const p = pipelining(8);
  p.onSent(12);
  assert.equal(p.onReject(12, 2), true, "hint below match");
  assert.equal(p.next, 9);
  const q = new ReplicationProgress(2, 11);
  q.onSent(11);
  assert.equal(q.onReject(10, 50), true, "hint past the rejected index");
  assert.equal(q.next, 10);
});

test("engine/replication_progress: becomeProbe clears the window and keeps next above match", () => {
  const p = pipelining(10);
  p.onSent(20);
  p.onSent(30);
  p.becomeProbe();
  assert.equal(p.state, "probe");
  assert.equal(p.next, 11);
  assert.deepEqual(p.inflight, []);
  assert.equal(p.canSend(64), true);
  p.becomeProbe(3);
  assert.equal(p.next, 11, "never below match + 1");
  p.becomeProbe(25);
  assert.equal(p.next, 25);
  assert.equal(p.match, 10);
});
