// Scenario 19: leadership transfer (TimeoutNow), on the synchronous TestCluster.
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

test("engine/transfer: to an up-to-date voter completes at term + 1; the old leader follows", () => {
  const c = elected();
  c.propose(1, 5);
  assert.deepEqual(c.node(1).engine.transferLeader(2), { ok: true, logId: null });
  c.run();
  assert.equal(st(c, 2).role, "leader");
  assert.equal(st(c, 2).term, 2);
  assert.equal(st(c, 1).role, "follower");
  assert.equal(st(c, 1).term, 2);
  assert.equal(st(c, 1).leaderId, 2);
  assert.equal(st(c, 3).leaderId, 2);
  c.advance(TEST_CONFIG.heartbeatInterval);
  for (const id of [1, 2, 3]) {
    assert.deepEqual(c.node(id).terms(), [1, 1, 2], `node ${id}`);
    assert.equal(st(c, id).committed?.index, 3, `node ${id}`);
  }
  assert.deepEqual(c.leaders(), [2]);
  c.assertElectionSafety();
});

test("engine/transfer: sends TimeoutNow to the target only; the target skips pre-vote and flags its votes", () => {
  const c = elected();
  c.node(1).engine.transferLeader(3);
  c.run();
  assert.deepEqual(timeoutNowsSent(c.node(1)), [3]);
  const sends = c.node(3).commands.flatMap((x) => x.type === "send" ? [x.message] : []);
  assert.equal(sends.filter((m) => m.type === "pre-vote").length, 0);
  const votes = sends.filter((m) => m.type === "vote");
  assert.equal(votes.length, 2);
  for (const v of votes) assert.equal((v as { transfer: boolean }).transfer, true);
  assert.equal(st(c, 3).role, "leader");
});

test("engine/transfer: the new leader commits proposals on every node", () => {
  const c = elected();
  c.node(1).engine.transferLeader(2);
  c.run();
  const r = c.propose(2, 1, 2);
  assert.deepEqual(r, { ok: true, term: 2, firstIndex: 3 });
  c.advance(TEST_CONFIG.heartbeatInterval);
  for (const id of [1, 2, 3]) {
    assert.deepEqual(c.node(id).terms(), [1, 2, 2, 2], `node ${id}`);
    assert.equal(st(c, id).committed?.index, 4);
  }
});

test("engine/transfer: to a voter whose acks are held, TimeoutNow waits until they arrive", () => {
  const c = elected();
  const held = hold(c, (e) => e.from === 2 && e.message.type === "append-response");
  c.propose(1, 1, 2, 3);
  assert.equal(st(c, 1).committed?.index, 4);
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 1);
  assert.deepEqual(c.node(1).engine.transferLeader(2), { ok: true, logId: null });
  c.run();
  assert.deepEqual(timeoutNowsSent(c.node(1)), []);
  assert.equal(st(c, 1).transferTo, 2);
  assert.equal(st(c, 1).role, "leader");
  release(c, held);
  assert.deepEqual(timeoutNowsSent(c.node(1)), [2]);
  assert.equal(st(c, 2).role, "leader");
  assert.equal(st(c, 2).term, 2);
  assert.deepEqual(c.node(2).terms(), [1, 1, 1, 1, 2]);
});

test("engine/transfer: to a lagging voter, the leader sends the missing entries before TimeoutNow", () => {
  const c = elected();
  c.isolate(2);
  c.propose(1, 1, 2, 3);
  c.propose(1, 4);
  assert.equal(st(c, 1).committed?.index, 5);
  c.heal();
  c.node(1).engine.unreachable(2); // the runtime saw the requests to 2 fail
  assert.deepEqual(c.node(2).terms(), [1]);
  const mark = c.delivered.length;
  assert.deepEqual(c.node(1).engine.transferLeader(2), { ok: true, logId: null });
  c.run();
  const log = c.delivered.slice(mark);
  const tn = log.findIndex((e) => e.message.type === "timeout-now");
  const lastAppend = log.findIndex((e) =>
    e.to === 2 && e.message.type === "append" && e.message.entries.some((x) => x.index === 5)
  );
  assert.ok(lastAppend >= 0 && tn > lastAppend, `append at ${lastAppend}, timeout-now at ${tn}`);
  assert.equal(st(c, 2).role, "leader");
  assert.equal(st(c, 2).term, 2);
  assert.deepEqual(c.node(2).terms(), [1, 1, 1, 1, 1, 2]);
});

test("engine/transfer: to an unreachable voter gives up after electionTimeoutMax; the leader keeps leading", () => {
  const c = elected();
  c.isolate(2);
  assert.deepEqual(c.node(1).engine.transferLeader(2), { ok: true, logId: null });
  c.advance(TEST_CONFIG.electionTimeoutMax - 10);
  assert.equal(st(c, 1).transferTo, 2);
  assert.equal(c.propose(1, 1).ok, false);
  c.advance(10);
  assert.equal(st(c, 1).transferTo, null);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
  assert.deepEqual(c.propose(1, 2), { ok: true, term: 1, firstIndex: 2 });
  assert.equal(st(c, 1).committed?.index, 2);
});

test("engine/transfer: proposals are refused with 'transferring' while a transfer is pending", () => {
  const c = elected();
  const held = hold(c, (e) => e.message.type === "timeout-now");
  c.node(1).engine.transferLeader(3);
  c.run();
  assert.equal(held.length, 1);
  const before = c.node(1).terms();
  assert.deepEqual(c.propose(1, 9), { ok: false, reason: "transferring", leaderId: 1 });
  assert.deepEqual(c.node(1).terms(), before);
});

test("engine/transfer: to itself is an ok no-op", () => {
  const c = elected();
  assert.deepEqual(c.node(1).engine.transferLeader(1), { ok: true, logId: null });
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).transferTo, null);
  assert.deepEqual(timeoutNowsSent(c.node(1)), []);
  assert.equal(c.propose(1, 1).ok, true);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
});

test("engine/transfer: to a learner or a non-member is refused with not-voter", () => {
  const c = elected([1, 2, 3, 4], [4]);
  assert.deepEqual(c.node(1).engine.transferLeader(4), {
    ok: false,
    reason: "not-voter",
    leaderId: 1,
    nodeId: 4,
  });
  assert.deepEqual(c.node(1).engine.transferLeader(99), {
    ok: false,
    reason: "not-voter",
    leaderId: 1,
    nodeId: 99,
  });
  assert.equal(st(c, 1).transferTo, null);
  assert.equal(c.propose(1, 1).ok, true);
});

test("engine/transfer: on a follower is refused with not-leader and the leader's id", () => {
  const c = elected();
  assert.deepEqual(c.node(2).engine.transferLeader(3), {
    ok: false,
    reason: "not-leader",
    leaderId: 1,
  });
});

test("engine/transfer: the lease is void while TimeoutNow is out", () => {
  const c = elected();
  assert.equal(st(c, 1).leaseValid, true);
  const held = hold(c, (e) => e.message.type === "timeout-now");
  c.node(1).engine.transferLeader(2);
  c.run();
  assert.equal(held.length, 1);
  assert.equal(st(c, 1).leaseValid, false);
  c.node(1).engine.read([1], "lease");
  c.process();
  assert.deepEqual(c.node(1).readsFailed.get(1), { kind: "lease-expired" });
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
  c.process();
  assert.equal(c.node(1).readsReady.has(1), false);
  assert.deepEqual(c.node(1).readsFailed.get(1), { kind: "lease-expired" });
});
