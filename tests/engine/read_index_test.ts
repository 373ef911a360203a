// Linearizable reads on the engine: ReadIndex rounds, the leader lease, reads on
// followers and learners, and reads failing when the leader steps down.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  type Envelope,
  hold,
  release,
  TEST_CONFIG,
  TestCluster,
  type TestNode,
} from "./_cluster.ts";
import type { EngineConfig } from "../../src/engine/commands.ts";
import { membershipOf, type NodeId } from "../../src/types.ts";

const st = (c: TestCluster, id: NodeId) => c.node(id).engine.status();
const cfg = (over: Partial<EngineConfig>): EngineConfig => ({ ...TEST_CONFIG, ...over });

const ackTo = (id: NodeId) => (e: Envelope) => e.to === id && e.message.type === "append-response";

function replicatesSince(n: TestNode, mark: number) {
  return n.commands.slice(mark).flatMap((c) => c.type === "replicate" ? [c] : []);
}

function elected(config: EngineConfig = TEST_CONFIG, ids = [1, 2, 3]): TestCluster {
  const c = new TestCluster(ids, config);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  c.advance(TEST_CONFIG.heartbeatInterval);
  return c;
}

// ---- ReadIndex --------------------------------------------------------------------

test("engine/read-index: a read waits for a quorum round; lost acks leave it pending", () => {
  const c = elected();
  const held = hold(c, ackTo(1));
  c.node(1).engine.read([1], "read-index");
  c.run();
  assert.equal(c.node(1).readsReady.has(1), false);
  assert.equal(c.node(1).readsFailed.has(1), false);
  assert.equal(held.length, 2);
  release(c, held);
  assert.equal(c.node(1).readsReady.get(1), 1);
});

test("engine/read-index: dropped acks never serve the read; a later acknowledged round does", () => {
  const c = elected();
  c.dropIf = ackTo(1);
  c.node(1).engine.read([1], "read-index");
  c.run();
  assert.equal(c.node(1).readsReady.has(1), false);
  c.dropIf = null;
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(c.node(1).readsReady.get(1), 1);
});

test("engine/read-index: acks of a round sent before the read do not serve it", () => {
  const c = elected();
  const leader = c.node(1);
  leader.engine.triggerHeartbeat();
  c.process();
  assert.equal(c.queue.length, 2);
  c.deliverOne();
  c.deliverOne();
  // The two acks of the earlier round are queued; now the read arrives.
  assert.equal(c.queue.filter((e) => e.message.type === "append-response").length, 2);
  leader.engine.read([7], "read-index");
  c.process();
  c.deliverOne();
  c.deliverOne();
  assert.equal(leader.readsReady.has(7), false);
  c.run();
  assert.equal(leader.readsReady.get(7), 1);
});

test("engine/read-index: the read is served at the commit index it found on arrival", () => {
  const c = elected();
  const held = hold(c, ackTo(1));
  c.propose(1, 10, 11, 12);
  assert.equal(st(c, 1).committed?.index, 1);
  c.node(1).engine.read([1], "read-index");
  c.run();
  // Entry acks (older round) come first and commit 2..4; then the read's round is acked.
  release(c, held);
  assert.equal(st(c, 1).committed?.index, 4);
  assert.equal(c.node(1).readsReady.get(1), 1);
  c.node(1).engine.read([2], "read-index");
  c.run();
  assert.equal(c.node(1).readsReady.get(2), 4);
});

test("engine/read-index: reads asked together share one heartbeat round", () => {
  const c = elected();
  const leader = c.node(1);
  const mark = leader.commands.length;
  leader.engine.read([1, 2, 3], "read-index");
  c.process();
  const sent = replicatesSince(leader, mark);
  assert.deepEqual(sent.map((r) => r.to).sort(), [2, 3]);
  assert.equal(new Set(sent.map((r) => r.plan.round)).size, 1);
  c.run();
  assert.deepEqual([1, 2, 3].map((t) => leader.readsReady.get(t)), [1, 1, 1]);
});

test("engine/read-index: reads asked separately before an ack are all served", () => {
  const c = elected();
  const leader = c.node(1);
  leader.engine.read([1], "read-index");
  c.process();
  leader.engine.read([2], "read-index");
  c.process();
  leader.engine.read([3], "read-index");
  c.run();
  assert.deepEqual([1, 2, 3].map((t) => leader.readsReady.get(t)), [1, 1, 1]);
  assert.equal(leader.readsFailed.size, 0);
});

test("engine/read-index: reads arriving while the last reads' round is in flight share the next round", () => {
  const c = elected();
  const leader = c.node(1);
  const held = hold(c, ackTo(1));
  let mark = leader.commands.length;
  leader.engine.read([1], "read-index");
  c.run();
  const first = replicatesSince(leader, mark);
  assert.equal(first.length, 2, "the first read starts a round");
  mark = leader.commands.length;
  for (const t of [2, 3, 4]) {
    leader.engine.read([t], "read-index"); // each in a turn of its own
    c.run();
  }
  assert.equal(replicatesSince(leader, mark).length, 0, "no round per read while one is in flight");
  assert.equal(leader.readsReady.size, 0);
  // Answers to the first round: read 1 is served, and reads 2-4 get one new round.
  mark = leader.commands.length;
  c.dropIf = null;
  c.queue.unshift(...held.splice(0));
  c.deliverOne();
  c.deliverOne();
  c.process();
  const second = hold(c, ackTo(1));
  c.run();
  assert.equal(leader.readsReady.get(1), 1);
  const next = replicatesSince(leader, mark);
  assert.equal(next.length, 2);
  assert.equal(new Set(next.map((r) => r.plan.round)).size, 1);
  assert.ok(next[0]!.plan.round > first[0]!.plan.round);
  assert.equal(leader.readsReady.has(2), false, "not before its own round is acknowledged");
  release(c, second);
  assert.deepEqual([2, 3, 4].map((t) => leader.readsReady.get(t)), [1, 1, 1]);
});

test("engine/read-index: reads waiting for the next round fail when the leader steps down", () => {
  const c = elected();
  const leader = c.node(1);
  hold(c, ackTo(1));
  leader.engine.read([1], "read-index");
  c.run();
  leader.engine.read([2], "read-index");
  c.run();
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  assert.notEqual(st(c, 1).role, "leader");
  assert.equal(leader.readsFailed.get(1)?.kind, "quorum-lost");
  assert.equal(leader.readsFailed.get(2)?.kind, "quorum-lost");
  assert.equal(leader.readsReady.size, 0);
});

test("engine/read-index: a single voter serves ReadIndex at once, without messages", () => {
  const c = new TestCluster([1]);
  c.elect(1);
  assert.equal(st(c, 1).committed?.index, 1);
  const mark = c.node(1).commands.length;
  c.node(1).engine.read([1], "read-index");
  c.process();
  assert.equal(c.node(1).readsReady.get(1), 1);
  assert.equal(replicatesSince(c.node(1), mark).length, 0);
  assert.equal(c.queue.length, 0);
});

test("engine/read-index: a new leader holds reads until its blank entry commits", () => {
  const c = new TestCluster([1, 2, 3]);
  const held = hold(c, ackTo(1));
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).committed, null);
  c.node(1).engine.read([1], "read-index");
  c.node(1).engine.read([2], "lease");
  c.run();
  assert.equal(c.node(1).readsReady.size, 0);
  assert.equal(c.node(1).readsFailed.size, 0);
  release(c, held);
  assert.equal(c.node(1).readsReady.get(1), 1);
  assert.equal(c.node(1).readsReady.get(2), 1);
});

test("engine/read-index: a minority of voters plus a learner cannot serve a read", () => {
  const c = new TestCluster([1, 2, 3, 4], TEST_CONFIG, {
    membership: membershipOf([1, 2, 3], [4]),
  });
  c.elect(1);
  c.advance(TEST_CONFIG.heartbeatInterval);
  c.cut(1, 2);
  c.cut(1, 3);
  const mark = c.delivered.length;
  c.node(1).engine.read([1], "read-index");
  c.run();
  assert.ok(c.delivered.slice(mark).some((e) => e.from === 4 && e.to === 1));
  assert.equal(c.node(1).readsReady.has(1), false);
  c.heal();
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(c.node(1).readsReady.get(1), 1);
});

test("engine/read-index: works with one follower of two down", () => {
  const c = elected();
  c.isolate(3);
  c.propose(1, 5);
  c.node(1).engine.read([1], "read-index");
  c.run();
  assert.equal(c.node(1).readsReady.get(1), 2);
});

// ---- failures ------------------------------------------------------------------------

test("engine/read-index: a read on a follower fails with not-leader and the leader's id", () => {
  const c = elected();
  c.node(2).engine.read([1], "read-index");
  c.node(2).engine.read([2], "lease");
  c.process();
  assert.deepEqual(c.node(2).readsFailed.get(1), { kind: "not-leader", leaderId: 1 });
  assert.deepEqual(c.node(2).readsFailed.get(2), { kind: "not-leader", leaderId: 1 });
  assert.equal(c.node(2).readsReady.size, 0);
});

test("engine/read-index: a read with no known leader fails with a null leader id", () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(1).engine.read([1], "read-index");
  c.process();
  assert.deepEqual(c.node(1).readsFailed.get(1), { kind: "not-leader", leaderId: null });
});

test("engine/read-index: a read on a learner fails with not-leader", () => {
  const c = new TestCluster([1, 2, 3, 4], TEST_CONFIG, {
    membership: membershipOf([1, 2, 3], [4]),
  });
  c.elect(1);
  c.node(4).engine.read([1], "read-index");
  c.process();
  assert.deepEqual(c.node(4).readsFailed.get(1), { kind: "not-leader", leaderId: 1 });
});

test("engine/read-index: pending reads fail with quorum-lost when check-quorum deposes the leader; later ones with not-leader", () => {
  const c = elected();
  c.isolate(1);
  c.node(1).engine.read([1, 2], "read-index");
  c.run();
  assert.equal(c.node(1).readsFailed.size, 0);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.notEqual(st(c, 1).role, "leader");
  assert.equal(st(c, 1).roleReason, "check-quorum");
  for (const token of [1, 2]) {
    assert.deepEqual(c.node(1).readsFailed.get(token), { kind: "quorum-lost", acked: [1] });
  }
  assert.equal(c.node(1).readsReady.size, 0);
  c.node(1).engine.read([4], "read-index");
  c.run();
  assert.deepEqual(c.node(1).readsFailed.get(4), { kind: "not-leader", leaderId: null });
});

test("engine/read-index: quorum-lost names the voters the deposed leader still heard from", () => {
  const c = elected(TEST_CONFIG, [1, 2, 3, 4, 5]);
  // Only 2's answers reach 1: two of five voters, no quorum.
  c.dropIf = (e) => ackTo(1)(e) && e.from !== 2;
  c.node(1).engine.read([1], "read-index");
  c.run();
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).roleReason, "check-quorum");
  assert.deepEqual(c.node(1).readsFailed.get(1), { kind: "quorum-lost", acked: [1, 2] });
});

test("engine/read-index: pending reads fail when a newer leader's heartbeat arrives", () => {
  const c = elected(cfg({ checkQuorum: false }));
  c.isolate(1);
  c.node(1).engine.read([1], "read-index");
  c.run();
  c.isolated.delete(2);
  c.isolated.delete(3);
  c.elect(2);
  assert.equal(st(c, 2).role, "leader");
  assert.equal(st(c, 2).term, 2);
  c.propose(2, 9);
  assert.equal(c.node(1).readsFailed.size, 0);
  c.heal();
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(st(c, 1).role, "follower");
  assert.deepEqual(c.node(1).readsFailed.get(1), { kind: "not-leader", leaderId: 2 });
  assert.equal(c.node(1).readsReady.has(1), false);
});

test("engine/read-index: reads waiting for the blank entry fail when the new leader steps down", () => {
  const c = new TestCluster([1, 2, 3]);
  c.dropIf = ackTo(1);
  c.elect(1);
  c.node(1).engine.read([1], "read-index");
  c.node(1).engine.read([2], "lease");
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.notEqual(st(c, 1).role, "leader");
  assert.equal(c.node(1).readsFailed.get(1)?.kind, "quorum-lost");
  assert.equal(c.node(1).readsFailed.get(2)?.kind, "quorum-lost");
  assert.equal(c.node(1).readsReady.size, 0);
});

// ---- lease ------------------------------------------------------------------------

test("engine/lease-read: served at once, without a round, while the lease holds", () => {
  const c = elected();
  c.propose(1, 3);
  assert.equal(st(c, 1).leaseValid, true);
  const leader = c.node(1);
  const mark = leader.commands.length;
  leader.engine.read([1], "lease");
  c.process();
  assert.equal(leader.readsReady.get(1), 2);
  assert.equal(replicatesSince(leader, mark).length, 0);
});

test("engine/lease-read: once electionTimeoutMin - leaseMargin passes unacked, a lease read waits for a round, then is served", () => {
  const c = elected();
  const sentAt = st(c, 1).quorumAckAt!;
  assert.equal(sentAt, c.now);
  c.dropIf = ackTo(1);
  const lease = TEST_CONFIG.electionTimeoutMin - TEST_CONFIG.leaseMargin;
  c.advance(lease - 10);
  assert.equal(st(c, 1).leaseValid, true);
  c.node(1).engine.read([1], "lease");
  c.process();
  assert.equal(c.node(1).readsReady.get(1), 1);
  c.advance(10);
  assert.equal(st(c, 1).leaseValid, false);
  assert.equal(st(c, 1).role, "leader");
  const mark = c.node(1).commands.length;
  c.node(1).engine.read([2], "lease");
  c.process();
  assert.equal(c.node(1).readsFailed.has(2), false, "not refused");
  assert.equal(c.node(1).readsReady.has(2), false, "not served without a round");
  assert.ok(replicatesSince(c.node(1), mark).length > 0, "a round went out for it");
  c.dropIf = null;
  c.run();
  assert.equal(c.node(1).readsReady.get(2), 1);
  assert.equal(st(c, 1).leaseValid, true, "the round renewed the lease");
});

test("engine/lease-read: the lease renews once acks resume", () => {
  const c = elected();
  c.dropIf = ackTo(1);
  c.advance(TEST_CONFIG.electionTimeoutMin);
  assert.equal(st(c, 1).leaseValid, false);
  c.dropIf = null;
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(st(c, 1).leaseValid, true);
  c.node(1).engine.read([1], "lease");
  c.process();
  assert.equal(c.node(1).readsReady.get(1), 1);
});

test("engine/lease-read: with checkQuorum off the lease never holds; lease reads take a round", () => {
  const c = elected(cfg({ checkQuorum: false }));
  assert.equal(st(c, 1).leaseValid, false);
  const mark = c.node(1).commands.length;
  c.node(1).engine.read([1], "lease");
  c.node(1).engine.read([2], "read-index");
  c.run();
  assert.ok(replicatesSince(c.node(1), mark).length > 0);
  assert.equal(c.node(1).readsReady.get(1), 1);
  assert.equal(c.node(1).readsReady.get(2), 1);
  assert.equal(c.node(1).readsFailed.size, 0);
});

test("engine/lease-read: a single voter's lease stays valid across many timeouts", () => {
  const c = new TestCluster([1]);
  c.elect(1);
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).leaseValid, true);
  c.node(1).engine.read([1], "lease");
  c.process();
  assert.equal(c.node(1).readsReady.get(1), 1);
});

test("engine/lease-read: a follower's status never reports a valid lease", () => {
  const c = elected();
  assert.equal(st(c, 2).leaseValid, false);
  assert.equal(st(c, 2).quorumAckAt, null);
});
