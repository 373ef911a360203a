// Scenario 21: crash durability. Storage writes are held back (autoFlush = false)
// and crashAndRestart keeps only what was durable; nothing non-durable may have
// been acknowledged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inject, replyOf, TEST_CONFIG, TestCluster } from "./_cluster.ts";
import type { RaftMessage, VoteRequest } from "../../src/messages.ts";
import { INITIAL_VOTE, type LogId, membershipOf, type NodeId, type Vote } from "../../src/types.ts";

const st = (c: TestCluster, id: NodeId) => c.node(id).engine.status();
const stored = (voters: NodeId[]) => [{ logId: null, membership: membershipOf(voters) }];

function vote(term: number, candidateId: NodeId, lastLogId: LogId | null, transfer = false) {
  const m: VoteRequest = { type: "vote", term, candidateId, lastLogId, transfer, clusterId: "" };
  return m;
}

/** Every message `from` has put on the wire (delivered, dropped or still queued) of `type`. */
function sent(c: TestCluster, from: NodeId, type: RaftMessage["type"]): RaftMessage[] {
  const n = c.node(from);
  const out: RaftMessage[] = [];
  for (const cmd of n.commands) {
    if (cmd.type === "reply" && cmd.message.type === type) out.push(cmd.message);
    if (cmd.type === "send" && cmd.message.type === type) out.push(cmd.message);
  }
  return out;
}

function elected(ids = [1, 2, 3]): TestCluster {
  const c = new TestCluster(ids);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  c.advance(TEST_CONFIG.heartbeatInterval);
  return c;
}

// ---- votes -----------------------------------------------------------------------

test("engine/durability: a vote is answered only once durable; a crash before the flush loses it unanswered", () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(2).autoFlush = false;
  c.node(3).autoFlush = false;
  c.elect(1);
  assert.equal(st(c, 1).role, "candidate");
  assert.equal(st(c, 1).term, 1);
  // Both voters wrote their vote for 1 but nothing is durable: no vote went out.
  for (const id of [2, 3]) {
    const n = c.node(id);
    assert.deepEqual(n.vote, { term: 1, votedFor: 1, committed: false }, `node ${id}`);
    assert.deepEqual(n.durableVote, INITIAL_VOTE);
    assert.equal(sent(c, id, "vote-response").length, 0, `node ${id}`);
  }
  c.node(2).crashAndRestart(c.now, stored([1, 2, 3]));
  assert.deepEqual(st(c, 2).vote, INITIAL_VOTE);
  assert.equal(st(c, 2).term, 0);
  c.run();
  assert.equal(st(c, 1).role, "candidate");
  assert.deepEqual(c.leaders(), []);
});

test("engine/durability: after losing an unflushed vote the node may vote again in that term", () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(2).autoFlush = false;
  const t1 = inject(c, 7, 2, vote(1, 7, null));
  c.process();
  assert.equal(replyOf(c.node(2), t1), undefined);
  c.node(2).crashAndRestart(c.now, stored([1, 2, 3]));
  c.node(2).autoFlush = true;
  const t2 = inject(c, 8, 2, vote(1, 8, null));
  c.process();
  assert.deepEqual(replyOf(c.node(2), t2), { type: "vote-response", term: 1, granted: true });
  assert.deepEqual(c.node(2).durableVote, { term: 1, votedFor: 8, committed: false });
});

test("engine/durability: the vote reply is released by the flush that makes the vote durable", () => {
  const c = new TestCluster([1, 2, 3]);
  const n = c.node(2);
  n.autoFlush = false;
  const tok = inject(c, 7, 2, vote(3, 7, null));
  c.process();
  assert.equal(replyOf(n, tok), undefined);
  assert.ok(n.pendingIo.length >= 1);
  const saveAt = n.commands.findIndex((x) => x.type === "save-vote");
  n.flush();
  c.process();
  assert.deepEqual(replyOf(n, tok), { type: "vote-response", term: 3, granted: true });
  const replyAt = n.commands.findIndex((x) => x.type === "reply" && x.token === tok);
  assert.ok(saveAt >= 0 && replyAt > saveAt);
});

test("engine/durability: a node that acked a vote then crashed refuses another candidate in that term", () => {
  const c = new TestCluster([1, 2, 3]);
  const t1 = inject(c, 7, 2, vote(1, 7, null));
  c.process();
  assert.deepEqual(replyOf(c.node(2), t1), { type: "vote-response", term: 1, granted: true });
  c.node(2).crashAndRestart(c.now, stored([1, 2, 3]));
  assert.deepEqual(st(c, 2).vote, { term: 1, votedFor: 7, committed: false });
  const t2 = inject(c, 8, 2, vote(1, 8, null));
  const t3 = inject(c, 8, 2, vote(1, 8, null, true));
  const t4 = inject(c, 7, 2, vote(1, 7, null));
  c.process();
  assert.deepEqual(replyOf(c.node(2), t2), { type: "vote-response", term: 1, granted: false });
  assert.deepEqual(replyOf(c.node(2), t3), { type: "vote-response", term: 1, granted: false });
  assert.deepEqual(replyOf(c.node(2), t4), { type: "vote-response", term: 1, granted: true });
  assert.deepEqual(st(c, 2).vote, { term: 1, votedFor: 7, committed: false });
});

test("engine/durability: a voter of the elected leader refuses a rival of the same term after a restart", () => {
  const c = elected();
  c.node(2).crashAndRestart(c.now, stored([1, 2, 3]));
  assert.deepEqual(st(c, 2).vote, { term: 1, votedFor: 1, committed: true });
  const tok = inject(c, 3, 2, vote(1, 3, st(c, 2).lastLogId));
  c.process();
  assert.deepEqual(replyOf(c.node(2), tok), { type: "vote-response", term: 1, granted: false });
  assert.equal(st(c, 2).vote.votedFor, 1);
});

test("engine/durability: a candidate asks for votes only after its own vote is durable", () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(1).autoFlush = false;
  c.elect(1);
  assert.equal(st(c, 1).role, "candidate");
  assert.equal(st(c, 1).term, 1);
  assert.equal(sent(c, 1, "vote").length, 0);
  c.node(1).flush();
  c.run();
  assert.equal(sent(c, 1, "vote").length, 2);
  assert.equal(st(c, 1).role, "leader");
});

test("engine/durability: a candidate that crashes before its vote is durable restarts at the old term", () => {
  const c = new TestCluster([1, 2, 3]);
  c.node(1).autoFlush = false;
  c.elect(1);
  assert.equal(st(c, 1).term, 1);
  c.node(1).crashAndRestart(c.now, stored([1, 2, 3]));
  assert.deepEqual(st(c, 1).vote, INITIAL_VOTE);
  assert.equal(st(c, 1).role, "follower");
  assert.equal(st(c, 2).term, 0);
  assert.equal(st(c, 3).term, 0);
});

// ---- appends ---------------------------------------------------------------------

test("engine/durability: appended entries are acked only once durable; a crash before the flush loses them", () => {
  const c = elected();
  const n2 = c.node(2);
  n2.autoFlush = false;
  const acksBefore = sent(c, 2, "append-response").length;
  c.propose(1, 1, 2);
  c.propose(1, 3);
  assert.deepEqual(n2.terms(), [1, 1, 1, 1]);
  assert.deepEqual(n2.durableLog.map((e) => e.term), [1]);
  const acks = sent(c, 2, "append-response").slice(acksBefore);
  assert.equal(acks.length, 0);
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 1);
  assert.equal(st(c, 1).committed?.index, 4); // 1 and 3 made it durable
  n2.crashAndRestart(c.now, stored([1, 2, 3]));
  assert.deepEqual(n2.terms(), [1]);
  assert.deepEqual(st(c, 2).lastLogId, { term: 1, index: 1 });
  assert.deepEqual(st(c, 2).vote, { term: 1, votedFor: 1, committed: true });
  assert.equal(st(c, 2).committed, null);
  // It rejoins and catches up (the runtime reports the unanswered requests).
  n2.autoFlush = true;
  c.node(1).engine.unreachable(2);
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.deepEqual(n2.terms(), [1, 1, 1, 1]);
  assert.equal(st(c, 2).committed?.index, 4);
  assert.deepEqual(n2.applied.map((e) => e.index), [1, 2, 3, 4]);
});

test("engine/durability: the ack released by a flush reports the durable index", () => {
  const c = elected();
  const n2 = c.node(2);
  n2.autoFlush = false;
  c.dropIf = (e) => e.to === 3;
  c.propose(1, 1, 2, 3);
  assert.equal(st(c, 1).committed?.index, 1);
  n2.flush();
  c.run();
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 4);
  assert.equal(st(c, 1).committed?.index, 4);
});

test("engine/durability: a leader does not count its own entries until they are durable", () => {
  const c = elected();
  c.node(1).autoFlush = false;
  c.node(2).autoFlush = false;
  c.propose(1, 5);
  assert.equal(st(c, 1).replication.get(3)?.matched?.index, 2);
  assert.equal(st(c, 1).committed?.index, 1);
  c.node(1).flush();
  c.run();
  assert.equal(st(c, 1).committed?.index, 2);
});

test("engine/durability: a leader commits on followers' durable acks but applies only what it holds durably", () => {
  const c = elected();
  c.node(1).autoFlush = false;
  c.propose(1, 5);
  assert.equal(st(c, 1).committed?.index, 2);
  assert.deepEqual(st(c, 1).applied, { term: 1, index: 1 });
  assert.equal(c.node(1).applied.length, 1);
  c.node(1).flush();
  c.run();
  assert.deepEqual(st(c, 1).applied, { term: 1, index: 2 });
  assert.deepEqual(c.node(1).applied.map((e) => e.index), [1, 2]);
});

test("engine/durability: a follower applies committed entries only once they are durable locally", () => {
  const c = elected();
  const n3 = c.node(3);
  n3.autoFlush = false;
  c.propose(1, 1);
  c.propose(1, 2);
  // The second request told 3 that index 2 committed, but 3 holds 2 only in memory.
  assert.equal(st(c, 3).committed?.index, 2);
  assert.deepEqual(n3.applied.map((e) => e.index), [1]);
  n3.flush();
  c.run();
  assert.deepEqual(n3.applied.map((e) => e.index), [1, 2, 3]);
});

test("engine/durability: a leader crash keeps only its durable entries, term and vote", () => {
  const c = elected();
  c.propose(1, 1);
  c.node(1).autoFlush = false;
  c.isolate(1);
  c.propose(1, 2, 3);
  assert.deepEqual(c.node(1).terms(), [1, 1, 1, 1]);
  c.node(1).crashAndRestart(c.now, stored([1, 2, 3]));
  assert.deepEqual(c.node(1).terms(), [1, 1]);
  assert.deepEqual(st(c, 1).lastLogId, { term: 1, index: 2 });
  assert.deepEqual(st(c, 1).vote, { term: 1, votedFor: 1, committed: true });
  assert.equal(st(c, 1).role, "follower");
});

test("engine/durability: an unflushed truncation is undone by a crash, and nothing was acked", () => {
  const votes = new Map<NodeId, Vote>([1, 2, 3].map((id) => [id, {
    term: 3,
    votedFor: null,
    committed: false,
  }]));
  const logs = new Map<NodeId, number[]>([[1, [1, 1, 3]], [2, [1, 1, 3]], [3, [1, 1, 2, 2]]]);
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, { logs, votes });
  const n3 = c.node(3);
  n3.autoFlush = false;
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 4);
  // 3's rejection waits for its vote to be durable; flush that, then hold again.
  assert.deepEqual(n3.terms(), [1, 1, 2, 2]);
  n3.flush();
  c.run();
  // 3 took the leader's entries in memory: truncated at 3 and appended.
  assert.deepEqual(n3.terms(), [1, 1, 3, 4]);
  assert.deepEqual(n3.durableLog.map((e) => e.term), [1, 1, 2, 2]);
  assert.ok(n3.pendingIo.some((x) => x.type === "truncate-log"));
  const successes = sent(c, 3, "append-response").filter((m) =>
    m.type === "append-response" && m.success
  );
  assert.equal(successes.length, 0);
  n3.crashAndRestart(c.now, stored([1, 2, 3]));
  assert.deepEqual(n3.terms(), [1, 1, 2, 2]);
  assert.deepEqual(st(c, 3).lastLogId, { term: 2, index: 4 });
  assert.deepEqual(st(c, 3).vote, { term: 4, votedFor: 1, committed: true });
  n3.autoFlush = true;
  c.node(1).engine.unreachable(3);
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.deepEqual(n3.terms(), [1, 1, 3, 4]);
  assert.equal(st(c, 3).term, 4);
});

test("engine/durability: a follower that crashes after flushing keeps its log and vote, and re-applies once", () => {
  const c = elected();
  c.propose(1, 1, 2);
  c.propose(1, 3);
  c.advance(TEST_CONFIG.heartbeatInterval);
  const before = c.node(3).terms();
  c.node(3).crashAndRestart(c.now, stored([1, 2, 3]));
  assert.deepEqual(c.node(3).terms(), before);
  assert.deepEqual(st(c, 3).vote, { term: 1, votedFor: 1, committed: true });
  assert.deepEqual(st(c, 3).lastLogId, { term: 1, index: 4 });
  c.propose(1, 4);
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.deepEqual(c.node(3).terms(), [1, 1, 1, 1, 1]);
  assert.deepEqual(c.node(3).applied.map((e) => e.index), [1, 2, 3, 4, 5]);
  assert.equal(st(c, 1).replication.get(3)?.matched?.index, 5);
});

test("engine/durability: a term raised by a newer leader's request is durable before the answer", () => {
  const c = elected();
  const n3 = c.node(3);
  n3.autoFlush = false;
  const tok = inject(c, 9, 3, {
    clusterId: "",
    type: "append",
    term: 5,
    leaderId: 9,
    prevLogId: { term: 1, index: 1 },
    entries: [],
    leaderCommit: 1,
    round: 1,
  });
  c.process();
  assert.equal(st(c, 3).term, 5);
  assert.equal(replyOf(n3, tok), undefined);
  n3.crashAndRestart(c.now, stored([1, 2, 3]));
  assert.equal(st(c, 3).term, 1);
});

test("engine/durability: a single voter becomes leader only once its own vote is durable", () => {
  const c = new TestCluster([1]);
  c.node(1).autoFlush = false;
  c.elect(1);
  assert.equal(st(c, 1).role, "candidate");
  assert.equal(st(c, 1).term, 1);
  c.node(1).flush();
  c.run();
  assert.equal(st(c, 1).role, "leader");
});

test("engine/durability: a config in the durable log is effective after a restart; a lost one is not", () => {
  const c = new TestCluster([1, 2, 3, 4], TEST_CONFIG, {
    membership: membershipOf([1, 2, 3], [4]),
  });
  c.elect(1);
  c.advance(TEST_CONFIG.heartbeatInterval);
  const n3 = c.node(3);
  c.node(1).engine.changeMembership(membershipOf([1, 2, 3, 4]));
  c.run();
  assert.deepEqual(st(c, 3).membership.membership.configs, [[1, 2, 3, 4]]);
  n3.crashAndRestart(c.now, [{ logId: null, membership: membershipOf([1, 2, 3], [4]) }]);
  assert.deepEqual(st(c, 3).membership.membership.configs, [[1, 2, 3, 4]]);
  assert.deepEqual(st(c, 3).membership.logId, { term: 1, index: 3 });
  // Now a change that 3 holds only in memory when it crashes.
  n3.autoFlush = false;
  c.node(1).engine.changeMembership(membershipOf([1, 2, 3]));
  c.run();
  assert.notDeepEqual(st(c, 3).membership.membership.configs, [[1, 2, 3, 4]]);
  assert.ok(st(c, 3).membership.logId!.index > 3);
  n3.crashAndRestart(c.now, [{ logId: null, membership: membershipOf([1, 2, 3], [4]) }]);
  assert.deepEqual(st(c, 3).membership.membership.configs, [[1, 2, 3, 4]]);
});
