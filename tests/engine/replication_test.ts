// Log replication on the synchronous TestCluster: the follower's consistency
// check and hints, durable acks, batching, pipelining, heartbeats, and lost,
// late or stale messages. Scenarios 4, 6, 7, 9, 10 and 20 (stale term, log
// divergence, Figure 8, check-quorum, reads on a stale leader, reordered
// appends) are scripts in testdata/.
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

/** Data bytes of applied normal entries. */
function appliedData(n: TestNode): number[] {
  return n.applied.flatMap((e) => e.type === "normal" ? [e.data[0]!] : []);
}

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

// ---- lost, late and stale messages --------------------------------------------------------

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
