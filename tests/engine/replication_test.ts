import { test } from "node:test";
import assert from "node:assert/strict";
import type { AppendPlan, Command, EngineConfig } from "../../src/engine/commands.ts";
import type { AppendRequest, AppendResponse, RaftMessage } from "../../src/messages.ts";
import { type Entry, membershipOf, type NodeId, type Vote } from "../../src/types.ts";
import { type Envelope, TEST_CONFIG, TestCluster, type TestNode } from "./_cluster.ts";

// ---- helpers ------------------------------------------------------------------

const NO_ELECT: EngineConfig = { ...TEST_CONFIG, enableElect: false };

function vote(term: number, votedFor: NodeId | null = null): Vote {
  return { term, votedFor, committed: false };
}

function st(c: TestCluster, id: NodeId) {
  return c.node(id).engine.status();
}

/** Hands `message` from `from` to `to` directly, then executes `to`'s commands. */
function deliver(c: TestCluster, from: NodeId, to: NodeId, message: RaftMessage): number {
  const token = c.nextToken++;
  c.replyTo.set(token, from);
  c.node(to).engine.receive(from, message, token);
  c.process();
  return token;
}

/** Queues a copy of an envelope as a fresh request (a duplicate on the wire). */
function requeue(c: TestCluster, e: Envelope): void {
  const token = c.nextToken++;
  c.replyTo.set(token, e.from);
  c.queue.push({ ...e, token });
}

function replyFor(n: TestNode, token: number): RaftMessage | undefined {
  for (const cmd of n.commands) {
    if (cmd.type === "reply" && cmd.token === token) return cmd.message;
  }
  return undefined;
}

function appendReply(n: TestNode, token: number): AppendResponse {
  const r = replyFor(n, token);
  assert.ok(r?.type === "append-response", "an append response was emitted");
  return r;
}

function appendReq(
  term: number,
  leaderId: NodeId,
  prev: [term: number, index: number] | null,
  entryTerms: number[],
  leaderCommit: number,
): AppendRequest {
  const first = (prev?.[1] ?? 0) + 1;
  const entries: Entry[] = entryTerms.map((t, i) => ({ term: t, index: first + i, type: "blank" }));
  return {
    type: "append",
    term,
    leaderId,
    prevLogId: prev === null ? null : { term: prev[0], index: prev[1] },
    entries,
    leaderCommit,
    round: 1,
    clusterId: "",
  };
}

function truncations(n: TestNode, from = 0): number[] {
  return n.commands.slice(from).flatMap((x) => x.type === "truncate-log" ? [x.since] : []);
}

function plansTo(cmds: readonly Command[], to: NodeId): AppendPlan[] {
  return cmds.flatMap((x) => x.type === "replicate" && x.to === to ? [x.plan] : []);
}

function rejectsFrom(c: TestCluster, from: NodeId, to: NodeId): number {
  return c.delivered.filter((e) =>
    e.from === from && e.to === to && e.message.type === "append-response" &&
    !e.message.success
  ).length;
}

/** Data bytes of applied normal entries. */
function appliedData(n: TestNode): number[] {
  return n.applied.flatMap((e) => e.type === "normal" ? [e.data[0]!] : []);
}

/** No two nodes applied different entries at one index. */
function assertStateMachineSafety(c: TestCluster): void {
  const at = new Map<number, string>();
  for (const n of c.nodes.values()) {
    for (const e of n.applied) {
      const k = JSON.stringify([e.term, e.type, e.type === "normal" ? [...e.data] : null]);
      const prev = at.get(e.index);
      if (prev !== undefined) assert.equal(k, prev, `index ${e.index} on node ${n.id}`);
      else at.set(e.index, k);
    }
  }
}

// ---- scenario 4: stale term ignored -----------------------------------------------------

test("engine/replication: a leader at term 3 ignores an append of term 2 and answers term 3", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    votes: new Map([[1, vote(2)], [2, vote(2)], [3, vote(2)]]),
  });
  c.elect(1);
  c.propose(1, 5);
  assert.equal(st(c, 1).term, 3);
  const before = c.node(1).commands.length;
  const terms = c.node(1).terms();
  const t = deliver(c, 2, 1, appendReq(2, 2, null, [2, 2, 2], 3));
  const r = appendReply(c.node(1), t);
  assert.equal(r.success, false);
  assert.equal(r.term, 3);
  assert.deepEqual(c.node(1).terms(), terms);
  assert.deepEqual(terms, [3, 3]);
  const after = c.node(1).commands.slice(before);
  assert.equal(after.some((x) => x.type === "truncate-log" || x.type === "append-log"), false);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 3);
  assert.deepEqual(st(c, 1).committed, { term: 3, index: 2 });
});

test("engine/replication: a follower ignores an append of an older term, keeping its leader", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    votes: new Map([[1, vote(2)], [2, vote(2)], [3, vote(2)]]),
  });
  c.elect(1);
  const t = deliver(c, 3, 2, appendReq(2, 3, null, [2], 0));
  const r = appendReply(c.node(2), t);
  assert.equal(r.success, false);
  assert.equal(r.term, 3);
  assert.deepEqual(c.node(2).terms(), [3]);
  assert.equal(st(c, 2).leaderId, 1);
  assert.equal(st(c, 2).term, 3);
});

// ---- follower side: consistency check, hints, commit ------------------------------------

test("engine/replication: a follower rejects a gap with hint term 0 and its last index + 1", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    logs: new Map([[2, [1, 1, 2, 2, 2]]]),
    votes: new Map([[2, vote(2)]]),
  });
  const t = deliver(c, 1, 2, appendReq(3, 1, [3, 9], [3], 0));
  const r = appendReply(c.node(2), t);
  assert.deepEqual(
    [r.success, r.index, r.hintTerm, r.hintIndex, r.term],
    [false, 9, 0, 6, 3],
  );
  assert.deepEqual(c.node(2).terms(), [1, 1, 2, 2, 2]);
});

test("engine/replication: a follower rejects a conflict with its term there and that term's first index", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    logs: new Map([[2, [1, 1, 2, 2, 2]]]),
    votes: new Map([[2, vote(2)]]),
  });
  const t = deliver(c, 1, 2, appendReq(3, 1, [3, 4], [3], 0));
  const r = appendReply(c.node(2), t);
  assert.deepEqual([r.success, r.index, r.hintTerm, r.hintIndex], [false, 4, 2, 3]);
  assert.deepEqual(c.node(2).terms(), [1, 1, 2, 2, 2], "a rejection truncates nothing");
  assert.deepEqual(truncations(c.node(2)), []);
});

test("engine/replication: a follower appends only the new suffix of an overlapping request", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    logs: new Map([[2, [1, 1, 2, 2, 2]]]),
    votes: new Map([[2, vote(3)]]),
  });
  const before = c.node(2).commands.length;
  const t = deliver(c, 1, 2, appendReq(3, 1, [1, 2], [2, 2, 2, 3], 0));
  assert.deepEqual(appendReply(c.node(2), t).index, 6);
  const cmds = c.node(2).commands.slice(before);
  assert.deepEqual(truncations(c.node(2), before), [], "matching entries are kept");
  const appends = cmds.filter((x) => x.type === "append-log");
  assert.equal(appends.length, 1);
  assert.ok(appends[0]?.type === "append-log");
  assert.deepEqual(appends[0].entries.map((e) => [e.index, e.term]), [[6, 3]]);
  assert.deepEqual(c.node(2).terms(), [1, 1, 2, 2, 2, 3]);
});

test("engine/replication: a follower truncates at the first conflicting entry, not at prevLogId", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    logs: new Map([[2, [1, 1, 2, 2, 2]]]),
    votes: new Map([[2, vote(3)]]),
  });
  const before = c.node(2).commands.length;
  deliver(c, 1, 2, appendReq(3, 1, [1, 1], [1, 2, 3], 0));
  assert.deepEqual(truncations(c.node(2), before), [4]);
  assert.deepEqual(c.node(2).terms(), [1, 1, 2, 3]);
});

test("engine/replication: a follower's commit never passes the entries the leader vouched for", () => {
  // The follower holds stale term-2 entries past the point the leader checked.
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    logs: new Map([[2, [1, 1, 2, 2]]]),
    votes: new Map([[2, vote(2)]]),
  });
  const t = deliver(c, 1, 2, appendReq(3, 1, [1, 2], [], 3));
  assert.equal(appendReply(c.node(2), t).success, true);
  assert.deepEqual(st(c, 2).committed, { term: 1, index: 2 });
  assert.deepEqual(c.node(2).applied.map((e) => e.index), [1, 2]);
});

// ---- scenario 6: log divergence repair ---------------------------------------------------

const LEADER_LOG = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
const FOLLOWER_LOGS = new Map<NodeId, number[]>([
  [2, [1, 1, 1, 4, 4, 5, 5, 6, 6]],
  [3, [1, 1, 1, 4]],
  [4, [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6]],
  [5, [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7]],
  [6, [1, 1, 1, 4, 4, 4, 4]],
  [7, [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3]],
]);

function divergedCluster(): TestCluster {
  const ids = [1, 2, 3, 4, 5, 6, 7];
  const logs = new Map(FOLLOWER_LOGS);
  logs.set(1, LEADER_LOG);
  const c = new TestCluster(ids, TEST_CONFIG, {
    logs,
    votes: new Map(ids.map((id) => [id, vote(7)])),
  });
  c.elect(1);
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(st(c, 1).term, 8);
  return c;
}

test("engine/replication: divergent follower logs all end equal to the leader's", () => {
  const c = divergedCluster();
  const want = [...LEADER_LOG, 8];
  for (const n of c.nodes.values()) {
    assert.deepEqual(n.terms(), want, `log of ${n.id}`);
    assert.deepEqual(n.engine.status().committed, { term: 8, index: 11 }, `commit of ${n.id}`);
    assert.equal(n.engine.status().term, 8);
  }
  assert.deepEqual(truncations(c.node(1)), [], "a leader never truncates its own log");
});

test("engine/replication: conflicting suffixes are truncated at the first conflict only", () => {
  const c = divergedCluster();
  const want = new Map<NodeId, number[]>([[2, []], [3, []], [4, [11]], [5, [11]], [6, [6]], [
    7,
    [4],
  ]]);
  for (const [id, since] of want) {
    assert.deepEqual(truncations(c.node(id)), since, `truncations on ${id}`);
  }
  // The durable log never lost the matching prefix: e.g. node 6 kept 1..5.
  const n6 = c.node(6);
  const firstAppend = n6.commands.find((x) => x.type === "append-log");
  assert.ok(firstAppend?.type === "append-log");
  assert.equal(firstAppend.entries[0]!.index, 6);
});

test("engine/replication: backtracking uses the conflict hint: one round trip per term", () => {
  const c = divergedCluster();
  // Node 7 diverges over terms 2 and 3 (8 entries): at most 3 rejections.
  assert.ok(rejectsFrom(c, 7, 1) <= 3, `node 7: ${rejectsFrom(c, 7, 1)} rejections`);
  // Node 6 diverges over term 4 only; node 3 and 2 only lack entries.
  assert.ok(rejectsFrom(c, 6, 1) <= 2, `node 6: ${rejectsFrom(c, 6, 1)} rejections`);
  assert.ok(rejectsFrom(c, 3, 1) <= 1, `node 3: ${rejectsFrom(c, 3, 1)} rejections`);
  assert.ok(rejectsFrom(c, 2, 1) <= 1, `node 2: ${rejectsFrom(c, 2, 1)} rejections`);
  // Nodes 4 and 5 match at the leader's last entry: no rejection at all.
  assert.equal(rejectsFrom(c, 4, 1), 0);
  assert.equal(rejectsFrom(c, 5, 1), 0);
  const appendsTo7 = c.delivered.filter((e) => e.to === 7 && e.message.type === "append");
  assert.ok(appendsTo7.length <= 4, `${appendsTo7.length} append requests to node 7`);
});

// ---- scenario 7: Figure 8 ------------------------------------------------------------------

test("engine/replication: Figure 8 crafted: a quorum ack of older-term entries commits nothing", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    logs: new Map([[1, [1, 2]], [2, [1]], [3, [1]]]),
    votes: new Map([[1, vote(2, 1)], [2, vote(2)], [3, vote(2)]]),
  });
  c.dropIf = (e) => e.message.type === "append";
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 3);
  assert.deepEqual(c.node(1).terms(), [1, 2, 3]);
  c.isolate(2);
  c.isolate(3);
  const leader = c.node(1);
  const ack = (from: NodeId, index: number): void => {
    leader.engine.receive(from, {
      type: "append-response",
      term: 3,
      round: 1,
      success: true,
      index,
      hintTerm: 0,
      hintIndex: 0,
    });
    c.process();
  };
  ack(2, 2);
  assert.equal(st(c, 1).committed, null, "index 2 (term 2) on {1,2}: not committed");
  ack(3, 2);
  assert.equal(st(c, 1).committed, null, "index 2 (term 2) on all three: still not committed");
  assert.equal(leader.commands.some((x) => x.type === "apply"), false);
  assert.equal(leader.applied.length, 0);
  ack(2, 3);
  assert.deepEqual(st(c, 1).committed, { term: 3, index: 3 }, "the term-3 entry commits all");
  assert.deepEqual(leader.applied.map((e) => [e.index, e.term]), [[1, 1], [2, 2], [3, 3]]);
});

/**
 * The 5-node Figure 8 run. Returns the state where leader 1 (term 3) has
 * index 2 (term 1) on {1,2,3,4} but its own term-3 entry only on itself.
 */
function figure8(): TestCluster {
  const c = new TestCluster([1, 2, 3, 4, 5], { ...NO_ELECT, maxPayloadEntries: 1 });
  c.elect(1);
  // (a) 1 leads term 1 and replicates index 2 to 2 only.
  c.cut(1, 3);
  c.cut(1, 4);
  c.cut(1, 5);
  c.propose(1, 10);
  assert.deepEqual(c.node(2).terms(), [1, 1]);
  assert.deepEqual(c.node(3).terms(), [1]);
  // (b) 1 crashes; 5 wins term 2 with 3 and 4, appends its blank but replicates nothing.
  c.heal();
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMin + 10);
  c.dropIf = (e) => e.from === 5 && e.message.type === "append";
  c.elect(5);
  assert.equal(st(c, 5).role, "leader");
  assert.equal(st(c, 5).term, 2);
  assert.deepEqual(c.node(5).terms(), [1, 2]);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).role, "follower", "1 lost its quorum");
  // (c) 5 crashes; 1 comes back and wins term 3 (its first campaign learns term 2).
  c.heal();
  c.isolate(5);
  c.cut(1, 2);
  c.dropIf = (e) =>
    e.from === 1 && (e.to === 3 || e.to === 4) && e.message.type === "append" &&
    e.message.entries.some((x) => x.index === 3) && c.node(e.to).log.length >= 2;
  c.elect(1);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 3);
  assert.deepEqual(c.node(1).terms(), [1, 1, 3]);
  for (const id of [2, 3, 4]) assert.deepEqual(c.node(id).terms(), [1, 1], `log of ${id}`);
  return c;
}

test("engine/replication: Figure 8 run: an older-term entry on a majority is not committed", () => {
  const c = figure8();
  assert.equal(st(c, 1).replication.get(3)?.matched?.index, 2);
  assert.equal(st(c, 1).replication.get(4)?.matched?.index, 2);
  for (const id of [1, 2, 3, 4, 5]) {
    assert.ok((st(c, id).committed?.index ?? 0) <= 1, `commit of ${id}`);
    assert.deepEqual(appliedData(c.node(id)), [], `node ${id} applied nothing of index 2`);
  }
});

test("engine/replication: Figure 8 run: the uncommitted entry is overwritten by a newer leader", () => {
  const c = figure8();
  // (d) 1 crashes; 5 comes back and wins term 4 with 2, 3 and 4.
  c.heal();
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMin + 10);
  c.elect(5);
  if (st(c, 5).role !== "leader") c.elect(5); // the first campaign may only learn the term
  assert.equal(st(c, 5).role, "leader");
  const t = st(c, 5).term;
  assert.ok(t >= 4);
  for (const id of [2, 3, 4, 5]) {
    assert.deepEqual(c.node(id).terms(), [1, 2, t], `log of ${id}`);
    assert.deepEqual(st(c, id).committed, { term: t, index: 3 });
  }
  c.heal();
  c.advance(2 * TEST_CONFIG.electionTimeoutMax);
  assert.deepEqual(c.node(1).terms(), [1, 2, t], "1's log is repaired too");
  assert.deepEqual(truncations(c.node(1)), [2]);
  for (const id of [1, 2, 3, 4, 5]) {
    assert.deepEqual(appliedData(c.node(id)), [], `the term-1 entry was never applied on ${id}`);
  }
  assertStateMachineSafety(c);
  c.assertElectionSafety();
});

test("engine/replication: Figure 8 run: once its own entry is on a majority everything commits", () => {
  const c = figure8();
  // (e) 1 replicates an entry of term 3 to a majority instead.
  c.dropIf = null;
  c.propose(1, 11);
  assert.deepEqual(st(c, 1).committed, { term: 3, index: 4 });
  for (const id of [1, 3, 4]) {
    assert.deepEqual(c.node(id).terms(), [1, 1, 3, 3], `log of ${id}`);
    assert.deepEqual(appliedData(c.node(id)), [10, 11], `applied on ${id}`);
  }
  // 5 can no longer be elected: 3 and 4 hold the newer log.
  c.heal();
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  c.elect(5);
  c.elect(5);
  assert.notEqual(st(c, 5).role, "leader");
  assertStateMachineSafety(c);
});

// ---- scenario 9: check-quorum --------------------------------------------------------------

test("engine/replication: a leader without a quorum steps down; its minority writes are replaced", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, { seed: 9 });
  c.elect(1);
  c.propose(1, 1);
  c.isolate(1);
  const r = c.propose(1, 50, 51);
  assert.ok(r.ok, "still leader: accepted");
  assert.deepEqual(c.node(1).terms(), [1, 1, 1, 1]);
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  assert.notEqual(st(c, 1).role, "leader", "stepped down without a quorum");
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 2 }, "minority writes never commit");
  c.advance(1000);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  const l = leaders[0]!;
  assert.notEqual(l, 1);
  assert.ok(c.propose(l, 60).ok);
  c.heal();
  c.advance(1000);
  assert.deepEqual(c.leaders(), [l], "the healed node does not disrupt");
  const want = c.node(l).terms();
  assert.ok(want.length >= 4);
  for (const id of [1, 2, 3]) assert.deepEqual(c.node(id).terms(), want, `log of ${id}`);
  for (const id of [1, 2, 3]) {
    const data = appliedData(c.node(id));
    assert.deepEqual(data, [1, 60], `applied on ${id}`);
  }
  for (const n of c.nodes.values()) {
    assert.equal(n.log.some((e) => e.type === "normal" && e.data[0] === 50), false);
  }
  assertStateMachineSafety(c);
  c.assertElectionSafety();
});

// ---- scenario 10: reads on a stale leader ------------------------------------------------

/** 1 leads and commits x=1; partition {1}|{2,3}; 2 is elected and commits x=2. */
function staleLeader(): TestCluster {
  const c = new TestCluster([1, 2, 3], NO_ELECT);
  c.elect(1);
  c.propose(1, 1);
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMin + 10);
  c.elect(2);
  assert.ok(c.propose(2, 2).ok);
  assert.deepEqual(st(c, 2).committed, { term: 2, index: 4 });
  assert.equal(st(c, 1).role, "leader", "1 does not know yet");
  assert.equal(st(c, 1).term, 1);
  return c;
}

test("engine/replication: a ReadIndex read on a partitioned stale leader never becomes ready", () => {
  const c = staleLeader();
  const old = c.node(1);
  old.engine.read([101], "read-index");
  c.run();
  assert.equal(old.readsReady.has(101), false);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.notEqual(st(c, 1).role, "leader");
  assert.equal(old.readsReady.has(101), false);
  assert.equal(old.readsFailed.get(101)?.kind, "not-leader");
  c.heal();
  c.advance(500);
  assert.equal(old.readsReady.has(101), false, "never served, even after healing");
});

test("engine/replication: a lease read on a stale leader fails once another leader could exist", () => {
  const c = staleLeader();
  const old = c.node(1);
  old.engine.read([102], "lease");
  c.run();
  assert.equal(old.readsReady.has(102), false);
  assert.equal(old.readsFailed.get(102)?.kind, "lease-expired");
  assert.equal(st(c, 1).leaseValid, false);
});

test("engine/replication: a new leader serves ReadIndex only after an entry of its term commits", () => {
  const c = new TestCluster([1, 2, 3], NO_ELECT);
  c.elect(1);
  c.propose(1, 1);
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMin + 10);
  const held: Envelope[] = [];
  c.dropIf = (e) => {
    if (e.to !== 2 || e.message.type !== "append-response") return false;
    held.push(e);
    return true;
  };
  c.elect(2);
  assert.equal(st(c, 2).role, "leader");
  assert.deepEqual(st(c, 2).committed, { term: 1, index: 2 }, "only the old term's commit");
  assert.deepEqual(c.node(2).terms(), [1, 1, 2]);
  c.node(2).engine.read([7], "read-index");
  c.node(2).engine.read([8], "lease");
  c.run();
  assert.equal(c.node(2).readsReady.has(7), false, "no read before its own entry commits");
  assert.equal(c.node(2).readsReady.has(8), false);
  assert.equal(c.node(2).readsFailed.has(7), false, "the read waits, it is not failed");
  assert.ok(held.length > 0);
  c.dropIf = null;
  for (const e of held) c.queue.push(e);
  c.run();
  assert.deepEqual(st(c, 2).committed, { term: 2, index: 3 });
  assert.equal(c.node(2).readsReady.get(7), 3, "served at the new commit index");
  assert.equal(c.node(2).readsReady.get(8), 3);
});

// ---- durability of append acks -----------------------------------------------------------------

test("engine/replication: a follower acks appended entries only once they are durable", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  const f = c.node(2);
  f.autoFlush = false;
  c.propose(1, 9);
  assert.deepEqual(f.terms(), [1, 1], "written");
  assert.deepEqual(f.durableLog.map((e) => e.term), [1], "not durable");
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 1);
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 1 });
  const delivered = c.delivered.filter((e) => e.from === 2 && e.message.type === "append-response");
  assert.equal(
    delivered.every((e) => e.message.type === "append-response" && e.message.index < 2),
    true,
  );
  f.flush();
  c.run();
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 2);
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 2 });
});

test("engine/replication: a follower crashing before its write is durable never counted toward commit", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  const f = c.node(2);
  f.autoFlush = false;
  c.propose(1, 9);
  f.crashAndRestart(c.now, [{ logId: null, membership: membershipOf([1, 2, 3]) }]);
  assert.equal(st(c, 2).role, "follower");
  f.autoFlush = true;
  c.run();
  assert.deepEqual(f.terms(), [1], "the unflushed entry is gone");
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 1 });
  // The runtime reports the request that died with the follower; the leader resends.
  c.node(1).engine.unreachable(2);
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.deepEqual(f.terms(), [1, 1]);
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 2 });
  assert.deepEqual(appliedData(f), [9]);
});

test("engine/replication: a follower applies only what is both committed and durable", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.propose(1, 1);
  const f = c.node(3);
  f.autoFlush = false;
  c.propose(1, 2);
  c.advance(TEST_CONFIG.heartbeatInterval); // the commit index reaches 3
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 3 });
  assert.deepEqual(appliedData(f), [1], "entry 3 is not durable on 3 yet");
  f.flush();
  c.run();
  assert.deepEqual(appliedData(f), [1, 2]);
});

// ---- batching, pipelining, heartbeats --------------------------------------------------------

test("engine/replication: a batch of N proposals is one append and ceil(N / max) requests per peer", () => {
  for (const n of [1, 300, 301, 1000]) {
    const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, maxPayloadEntries: 300 });
    c.elect(1);
    assert.equal(st(c, 1).replication.get(2)?.state, "pipeline");
    const leader = c.node(1);
    const before = leader.commands.length;
    const payloads = Array.from({ length: n }, (_, i) => new Uint8Array([i & 0xff]));
    assert.deepEqual(leader.engine.propose(payloads), { ok: true, term: 1, firstIndex: 2 });
    c.process();
    const cmds = leader.commands.slice(before);
    const appends = cmds.filter((x) => x.type === "append-log");
    assert.equal(appends.length, 1, `N=${n}: one append`);
    assert.ok(appends[0]?.type === "append-log");
    assert.equal(appends[0].entries.length, n);
    for (const peer of [2, 3]) {
      const plans = plansTo(cmds, peer);
      assert.equal(plans.length, Math.ceil(n / 300), `N=${n}: requests to ${peer}`);
      let next = 2;
      for (const p of plans) {
        assert.equal(p.first, next, "consecutive ranges");
        assert.equal(p.prevLogId?.index, next - 1);
        assert.ok(p.last - p.first + 1 <= 300);
        next = p.last + 1;
      }
      assert.equal(next, n + 2, "covers the whole batch");
    }
    c.run();
    for (const id of [1, 2, 3]) {
      assert.deepEqual(st(c, id).committed, { term: 1, index: n + 1 }, `N=${n} commit of ${id}`);
      assert.equal(c.node(id).applied.length, n + 1);
    }
  }
});

test("engine/replication: the pipeline window holds at most maxInflight requests per peer", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, maxPayloadEntries: 100, maxInflight: 2 });
  c.elect(1);
  const leader = c.node(1);
  const before = leader.commands.length;
  leader.engine.propose(Array.from({ length: 1000 }, () => new Uint8Array([1])));
  c.process();
  assert.equal(plansTo(leader.commands.slice(before), 2).length, 2);
  assert.equal(st(c, 1).replication.get(2)?.inflight, 2);
  c.run();
  const plans = plansTo(leader.commands.slice(before), 2).filter((p) => p.last >= p.first);
  assert.equal(plans.length, 10, "the rest is sent as acks free the window");
  assert.deepEqual(st(c, 2).committed, { term: 1, index: 1001 });
  assert.equal(st(c, 1).replication.get(2)?.inflight, 0);
});

test("engine/replication: heartbeats carry the commit index to followers", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.dropIf = (e) => e.message.type === "append" && e.message.entries.length === 0;
  c.propose(1, 4);
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 2 });
  for (const id of [2, 3]) {
    assert.deepEqual(st(c, id).committed, { term: 1, index: 1 }, `${id} has not heard yet`);
  }
  c.dropIf = null;
  const before = c.node(1).commands.length;
  c.advance(TEST_CONFIG.heartbeatInterval);
  const beats = plansTo(c.node(1).commands.slice(before), 2);
  assert.ok(beats.length >= 1);
  assert.ok(beats.every((p) => p.last < p.first && p.leaderCommit === 2));
  for (const id of [2, 3]) {
    assert.deepEqual(st(c, id).committed, { term: 1, index: 2 }, `commit of ${id}`);
    assert.deepEqual(appliedData(c.node(id)), [4]);
  }
});

test("engine/replication: a leader sends heartbeats on its interval to every peer", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  const before = c.node(1).commands.length;
  c.advance(10 * TEST_CONFIG.heartbeatInterval);
  const cmds = c.node(1).commands.slice(before);
  for (const peer of [2, 3]) {
    const rounds = plansTo(cmds, peer).map((p) => p.round);
    assert.ok(rounds.length >= 9, `${rounds.length} heartbeats to ${peer}`);
    for (let i = 1; i < rounds.length; i++) assert.ok(rounds[i]! > rounds[i - 1]!, "rounds rise");
  }
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(st(c, 1).term, 1);
});

// ---- reordered, duplicated and stale messages (scenario 20 style) -------------------------

test("engine/replication: an older append delivered after a newer one truncates nothing", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  const seen: Envelope[] = [];
  c.dropIf = (e) => {
    if (e.to === 2 && e.message.type === "append" && e.message.entries.length > 0) seen.push(e);
    return false;
  };
  c.propose(1, 1);
  c.propose(1, 2);
  c.propose(1, 3);
  c.dropIf = null;
  assert.deepEqual(c.node(2).terms(), [1, 1, 1, 1]);
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 4);
  const before = c.node(2).commands.length;
  const old = seen.find((e) => e.message.type === "append" && e.message.entries[0]!.index === 2)!;
  requeue(c, old);
  c.run();
  assert.deepEqual(truncations(c.node(2), before), []);
  assert.equal(
    c.node(2).commands.slice(before).some((x) => x.type === "append-log"),
    false,
    "nothing rewritten",
  );
  assert.deepEqual(c.node(2).terms(), [1, 1, 1, 1]);
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 4, "match did not go back");
  assert.deepEqual(st(c, 2).committed, { term: 1, index: 4 });
});

test("engine/replication: reordered appends converge with a match index that never decreases", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  const leader = c.node(1);
  leader.engine.propose([new Uint8Array([1])]);
  c.process();
  leader.engine.propose([new Uint8Array([2])]);
  c.process();
  leader.engine.propose([new Uint8Array([3])]);
  c.process();
  // Deliver the requests to 2 newest first.
  const to2 = c.queue.filter((e) => e.to === 2);
  const rest = c.queue.filter((e) => e.to !== 2);
  assert.equal(to2.length, 3);
  c.queue = [...to2.reverse(), ...rest];
  let match = 0;
  let steps = 0;
  while (c.deliverOne()) {
    const m = st(c, 1).replication.get(2)?.matched?.index ?? 0;
    assert.ok(m >= match, `match went from ${match} to ${m}`);
    match = m;
    assert.ok(++steps < 1000);
  }
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.deepEqual(c.node(2).terms(), [1, 1, 1, 1]);
  assert.deepEqual(truncations(c.node(2)), []);
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 4);
  assert.deepEqual(appliedData(c.node(2)), [1, 2, 3]);
});

test("engine/replication: duplicated and stale append responses change nothing", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.propose(1, 1);
  c.propose(1, 2);
  const leader = c.node(1);
  const before = st(c, 1);
  assert.equal(before.replication.get(2)?.matched?.index, 3);
  const respond = (r: Partial<AppendResponse>) => {
    leader.engine.receive(2, {
      type: "append-response",
      term: 1,
      round: 1,
      success: true,
      index: 2,
      hintTerm: 0,
      hintIndex: 0,
      ...r,
    });
    c.run();
  };
  respond({ index: 2 }); // an old success
  respond({ index: 3 }); // a duplicate of the latest
  respond({ success: false, index: 1, hintIndex: 1 }); // a stale rejection below match
  const s = st(c, 1).replication.get(2);
  assert.equal(s?.matched?.index, 3);
  assert.equal(s?.state, "pipeline");
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 3 });
  // A success past the leader's log (not from this leader's log) is ignored too.
  respond({ index: 99 });
  assert.equal(st(c, 1).replication.get(2)?.matched?.index, 3);
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 3 });
});

test("engine/replication: a leader resumes a peer that was unreachable from its match point", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  c.propose(1, 1);
  c.propose(1, 2);
  assert.deepEqual(c.node(3).terms(), [1]);
  c.heal();
  c.node(1).engine.unreachable(3);
  assert.equal(st(c, 1).replication.get(3)?.state, "probe");
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.deepEqual(c.node(3).terms(), [1, 1, 1]);
  assert.equal(st(c, 1).replication.get(3)?.matched?.index, 3);
  assert.equal(st(c, 1).replication.get(3)?.state, "pipeline");
  assert.deepEqual(appliedData(c.node(3)), [1, 2]);
});

test("engine/replication: a late reply to an old term's request cannot confirm a ReadIndex round", () => {
  const c = new TestCluster([1, 2, 3], NO_ELECT);
  c.elect(1);
  c.advance(1000); // many heartbeat rounds at term 1
  const stash: Envelope[] = [];
  c.dropIf = (e) => {
    if (e.from !== 1 || e.to !== 3 || e.message.type !== "append" || stash.length > 0) {
      return false;
    }
    stash.push(e);
    return true;
  };
  c.advance(TEST_CONFIG.heartbeatInterval);
  c.dropIf = null;
  const late = stash[0]!.message as AppendRequest;
  assert.ok(late.round > 10, `round ${late.round}`);
  // 1 loses leadership to 2 (term 2), catches up, then wins again at term 3.
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMin + 10);
  c.elect(2);
  assert.equal(st(c, 2).role, "leader");
  c.heal();
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(st(c, 1).role, "follower");
  c.isolate(2);
  c.advance(TEST_CONFIG.electionTimeoutMin + 10);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 3);
  // Partition {1} | {2,3}. The old term-1 request reaches 3 late; 3's reply is delayed.
  c.heal();
  c.isolate(1);
  const token = deliver(c, 1, 3, late);
  const staleReply = appendReply(c.node(3), token);
  assert.equal(staleReply.term, 3);
  // 2 and 3 move on: 3 is elected at term 4 and commits x=2.
  c.advance(TEST_CONFIG.electionTimeoutMin + 10);
  c.elect(3);
  assert.equal(st(c, 3).role, "leader");
  assert.equal(st(c, 3).term, 4);
  assert.ok(c.propose(3, 2).ok);
  const newCommit = st(c, 3).committed!.index;
  assert.equal(st(c, 1).role, "leader", "1 has not noticed yet");
  // A read on 1 must not be confirmed by the reply 3 produced before the read arrived.
  c.node(1).engine.read([77], "read-index");
  c.process();
  // More reads push 1's round past the late reply's (rounds restart every term).
  for (let t = 78; t < 78 + late.round; t++) c.node(1).engine.read([t], "read-index");
  c.process();
  c.node(1).engine.receive(3, staleReply);
  c.process();
  const served = c.node(1).readsReady.get(77);
  assert.equal(served, undefined, `stale read served at ${served} < ${newCommit}`);
});

test("engine/replication: an ack of a round the leader never sent confirms no read", () => {
  const c = new TestCluster([1, 2, 3], NO_ELECT);
  c.elect(1);
  c.isolate(1);
  const leader = c.node(1);
  leader.engine.read([5], "read-index");
  c.process();
  for (const from of [2, 3]) {
    leader.engine.receive(from, {
      type: "append-response",
      term: 1,
      round: 1000,
      success: true,
      index: 1,
      hintTerm: 0,
      hintIndex: 0,
    });
  }
  c.process();
  leader.engine.read([6], "read-index");
  c.process();
  assert.equal(leader.readsReady.has(5), false);
  assert.equal(leader.readsReady.has(6), false);
});

test("engine/replication: a pipeline whose appends vanish silently recovers without an unreachable report", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  // Lose every append carrying entries to node 3, silently (no unreachable()).
  c.dropIf = (e) => e.to === 3 && e.message.type === "append" && e.message.entries.length > 0;
  for (let i = 0; i < 5; i++) c.propose(1, i);
  const last = c.node(1).engine.status().lastLogId!.index;
  assert.ok((c.node(3).engine.status().lastLogId?.index ?? 0) < last, "node 3 missed entries");
  c.dropIf = null;
  // No new proposals: only the heartbeat-driven recovery can bring node 3 up to date.
  c.advance(1000);
  assert.deepEqual(c.node(3).terms(), c.node(1).terms());
  assert.equal(c.node(3).engine.status().committed?.index, last);
});
