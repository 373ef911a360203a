// Follower reads, the leader's side (src/engine/read_index.ts): a peer's read-index
// request is served with the read index only while this node leads and a quorum confirms
// it, refused otherwise, and shares its quorum round with the other reads of the turn.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ReadIndexRequest, ReadIndexResponse } from "../../src/messages.ts";
import type { NodeId } from "../../src/types.ts";
import {
  hold,
  inject,
  release,
  replyOf,
  TEST_CONFIG,
  TestCluster,
  type TestNode,
} from "./_cluster.ts";

function cluster(): TestCluster {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG);
  c.elect(1);
  c.propose(1, 7, 8);
  c.run();
  c.advance(TEST_CONFIG.heartbeatInterval);
  return c;
}

function readIndex(term: number, readerId: NodeId): ReadIndexRequest {
  return { type: "read-index", clusterId: "", term, readerId };
}

function answerOf(n: TestNode, token: number): ReadIndexResponse | undefined {
  const r = replyOf(n, token);
  if (r === undefined) return undefined;
  assert.equal(r.type, "read-index-response");
  return r as ReadIndexResponse;
}

/** Heartbeats (appends without entries) the node has sent so far. */
function heartbeats(n: TestNode): number {
  let k = 0;
  for (const c of n.commands) if (c.type === "replicate" && c.plan.last < c.plan.first) k++;
  return k;
}

test("engine/follower read: the leader answers a read-index request with its commit index once a quorum confirmed it", () => {
  const c = cluster();
  const leader = c.node(1);
  const commit = leader.engine.status().committed!.index;
  const before = heartbeats(leader);
  // Node 3 cannot answer: the round needs node 2.
  c.isolate(3);
  const token = inject(c, 2, 1, readIndex(1, 2));
  assert.equal(answerOf(leader, token), undefined, "not before a round is acknowledged");
  c.run();
  assert.deepEqual(answerOf(leader, token), {
    type: "read-index-response",
    term: 1,
    index: commit,
    leaderId: 1,
  });
  assert.ok(heartbeats(leader) > before, "confirmed by a round sent after it arrived");
});

test("engine/follower read: without a quorum the read is never served; it is refused when the leader steps down", () => {
  const c = cluster();
  const leader = c.node(1);
  c.cut(1, 2);
  c.cut(1, 3);
  const token = c.nextToken++;
  c.replyTo.set(token, 2);
  leader.engine.receive(2, readIndex(1, 2), token);
  c.process();
  c.advance(TEST_CONFIG.electionTimeoutMin);
  assert.equal(answerOf(leader, token), undefined);
  c.advance(TEST_CONFIG.electionTimeoutMax * 2); // check-quorum: 1 steps down
  assert.notEqual(leader.engine.role, "leader");
  const answer = answerOf(leader, token);
  assert.equal(answer?.index, null);
});

test("engine/follower read: a node that does not lead refuses at once, naming the leader it knows", () => {
  const c = cluster();
  const follower = c.node(3);
  const token = inject(c, 2, 3, readIndex(1, 2));
  assert.deepEqual(answerOf(follower, token), {
    type: "read-index-response",
    term: 1,
    index: null,
    leaderId: 1,
  });
});

test("engine/follower read: term checks — a newer asker is refused (leadership unchanged), an older one served", () => {
  const c = cluster();
  const leader = c.node(1);
  const newer = inject(c, 2, 1, readIndex(2, 2));
  assert.deepEqual(answerOf(leader, newer), {
    type: "read-index-response",
    term: 1,
    index: null,
    leaderId: null,
  });
  assert.equal(leader.engine.role, "leader");
  assert.equal(leader.engine.term, 1, "a read request does not change the term");
  // An asker that has not caught up with the leader's term yet: served all the same (the
  // leader's own round vouches for the index).
  const older = inject(c, 2, 1, readIndex(0, 2));
  c.run();
  assert.equal(answerOf(leader, older)?.index, leader.engine.status().committed!.index);
});

test("engine/follower read: a new leader answers only once an entry of its term is committed", () => {
  const c = new TestCluster([1, 2, 3]);
  const held = hold(c, (e) => e.to === 1 && e.message.type === "append-response");
  c.elect(1);
  const leader = c.node(1);
  assert.equal(leader.engine.role, "leader");
  assert.equal(leader.engine.status().committed, null);
  const token = inject(c, 2, 1, readIndex(1, 2));
  c.run();
  assert.equal(answerOf(leader, token), undefined, "its commit index may be behind");
  release(c, held);
  c.run();
  const s = leader.engine.status();
  assert.equal(s.committed!.term, s.term);
  assert.equal(answerOf(leader, token)?.index, s.committed!.index);
});

test("engine/follower read: reads arriving in one turn share one quorum round", () => {
  const c = cluster();
  const leader = c.node(1);
  const before = heartbeats(leader);
  const t1 = c.nextToken++, t2 = c.nextToken++;
  c.replyTo.set(t1, 2);
  c.replyTo.set(t2, 3);
  leader.engine.receive(2, readIndex(1, 2), t1);
  leader.engine.receive(3, readIndex(1, 3), t2);
  leader.engine.read([500], "read-index");
  c.process();
  assert.equal(heartbeats(leader) - before, 2, "one round: one heartbeat per peer");
  c.run();
  const index = leader.engine.status().committed!.index;
  assert.equal(answerOf(leader, t1)?.index, index);
  assert.equal(answerOf(leader, t2)?.index, index);
  assert.equal(leader.readsReady.get(500), index);
  // A read after the round's messages left needs a round of its own.
  const t3 = inject(c, 2, 1, readIndex(1, 2));
  c.run();
  assert.equal(heartbeats(leader) - before, 4);
  assert.equal(answerOf(leader, t3)?.index, index);
});
