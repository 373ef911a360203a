// Leadership transfer (TimeoutNow) on the synchronous TestCluster: the lease
// around a transfer, reads, refused TimeoutNows and a far-behind target.
// Scenario 19 (leadership transfer) is a script in testdata/.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  hold,
  inject,
  release,
  replyOf,
  TEST_CONFIG,
  TestCluster,
  type TestNode,
} from "./_cluster.ts";
import { membershipOf, type NodeId } from "../../src/types.ts";

const st = (c: TestCluster, id: NodeId) => c.node(id).engine.status();

function timeoutNowsSent(n: TestNode): NodeId[] {
  return n.commands.flatMap((c) =>
    c.type === "send" && c.message.type === "timeout-now" ? [c.to] : []
  );
}

function elected(ids = [1, 2, 3], learners: NodeId[] = []): TestCluster {
  const c = new TestCluster(ids, TEST_CONFIG, {
    membership: membershipOf(ids.filter((id) => !learners.includes(id)), learners),
  });
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  c.advance(TEST_CONFIG.heartbeatInterval);
  return c;
}

test("engine/transfer: the lease is void while TimeoutNow is out; a lease read takes a round", () => {
  const c = elected();
  assert.equal(st(c, 1).leaseValid, true);
  const held = hold(c, (e) => e.message.type === "timeout-now");
  c.node(1).engine.transferLeader(2);
  c.run();
  assert.equal(held.length, 1);
  assert.equal(st(c, 1).leaseValid, false);
  c.node(1).engine.read([1], "lease");
  c.process();
  assert.equal(c.node(1).readsReady.has(1), false, "not served on the void lease");
  c.run();
  // The followers acknowledged a round sent after the read arrived (still term 1).
  assert.equal(c.node(1).readsReady.get(1), st(c, 1).committed?.index);
  assert.equal(c.node(1).readsFailed.size, 0);
});

test("engine/transfer: after giving up on a sent TimeoutNow, the lease stays void for the term; ReadIndex works", () => {
  const c = elected();
  c.isolate(2);
  c.node(1).engine.transferLeader(2);
  c.run();
  assert.deepEqual(timeoutNowsSent(c.node(1)), [2]);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).transferTo, null);
  assert.equal(st(c, 1).leaseValid, false);
  c.advance(5 * TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).leaseValid, false);
  c.node(1).engine.read([1], "read-index");
  c.run();
  assert.equal(c.node(1).readsReady.get(1), 1);
});

test("engine/transfer: giving up before TimeoutNow was sent leaves the lease intact", () => {
  const c = elected();
  c.dropIf = (e) => e.from === 2 && e.message.type === "append-response";
  c.propose(1, 1);
  c.node(1).engine.transferLeader(2);
  c.run();
  assert.deepEqual(timeoutNowsSent(c.node(1)), []);
  assert.equal(st(c, 1).leaseValid, true);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).transferTo, null);
  assert.deepEqual(timeoutNowsSent(c.node(1)), []);
  assert.equal(st(c, 1).leaseValid, true);
  assert.equal(st(c, 1).term, 1);
});

test("engine/transfer: the old leader's pending reads fail when the target takes over", () => {
  const c = elected();
  c.dropIf = (e) => e.to === 1 && e.message.type === "append-response";
  c.node(1).engine.read([1], "read-index");
  c.run();
  c.dropIf = null;
  c.node(1).engine.transferLeader(2);
  c.run();
  assert.equal(st(c, 2).role, "leader");
  assert.equal(c.node(1).readsFailed.get(1)?.kind, "not-leader");
  assert.equal(c.node(1).readsReady.has(1), false);
});

test("engine/transfer: TimeoutNow of a stale term, from a non-leader, or to a learner is refused", () => {
  const c = elected([1, 2, 3, 4], [4]);
  const t1 = inject(c, 1, 2, { clusterId: "", type: "timeout-now", term: 0, leaderId: 1 });
  const t2 = inject(c, 3, 2, { clusterId: "", type: "timeout-now", term: 1, leaderId: 3 });
  const t3 = inject(c, 1, 4, { clusterId: "", type: "timeout-now", term: 1, leaderId: 1 });
  c.process();
  assert.deepEqual(replyOf(c.node(2), t1), {
    type: "timeout-now-response",
    term: 1,
    accepted: false,
  });
  assert.deepEqual(replyOf(c.node(2), t2), {
    type: "timeout-now-response",
    term: 1,
    accepted: false,
  });
  assert.deepEqual(replyOf(c.node(4), t3), {
    type: "timeout-now-response",
    term: 1,
    accepted: false,
  });
  c.run();
  assert.deepEqual(c.leaders(), [1]);
  for (const id of [1, 2, 3, 4]) assert.equal(st(c, id).term, 1, `node ${id}`);
});

test("engine/transfer: a far-behind target is caught up over several batches first", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, maxPayloadEntries: 2 });
  c.elect(1);
  c.advance(TEST_CONFIG.heartbeatInterval);
  c.isolate(2);
  for (let i = 0; i < 7; i++) c.propose(1, i);
  c.heal();
  c.node(1).engine.unreachable(2);
  assert.deepEqual(c.node(2).terms(), [1]);
  c.node(1).engine.transferLeader(2);
  c.run();
  assert.deepEqual(timeoutNowsSent(c.node(1)), [2]);
  assert.equal(st(c, 2).role, "leader");
  assert.deepEqual(c.node(2).terms(), [1, 1, 1, 1, 1, 1, 1, 1, 2]);
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(st(c, 3).committed?.index, 9);
});

test("engine/transfer: a TimeoutNow delivered after the transfer was abandoned cannot yield a stale lease read", () => {
  const c = elected();
  const held = hold(c, (e) => e.message.type === "timeout-now");
  assert.equal(c.node(1).engine.transferLeader(2).ok, true);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).transferTo, null);
  c.advance(2 * TEST_CONFIG.heartbeatInterval);
  assert.equal(held.length, 1);
  // The old TimeoutNow finally arrives; voters skip their lease for it.
  c.cuts.add("2>1");
  c.cuts.add("3>1");
  release(c, held);
  assert.equal(st(c, 2).role, "leader");
  assert.equal(st(c, 2).term, 2);
  c.propose(2, 42);
  assert.equal(st(c, 2).committed?.index, 3);
  // 1 has not heard of term 2 yet: it must not serve a lease read from its old state.
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).leaseValid, false);
  c.node(1).engine.read([1], "lease");
  c.run();
  // Its round reaches 2 and 3, whose answers (of term 2) never come back: the read waits.
  assert.equal(c.node(1).readsReady.has(1), false);
  assert.equal(c.node(1).readsFailed.has(1), false);
  c.cuts.clear();
  c.advance(TEST_CONFIG.heartbeatInterval);
  // 1 hears of term 2 and steps down: the read fails, never served from the old state.
  assert.equal(st(c, 1).role, "follower");
  assert.equal(c.node(1).readsReady.has(1), false);
  assert.equal(c.node(1).readsFailed.get(1)?.kind, "not-leader");
});
