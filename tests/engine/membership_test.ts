// Membership changes on the synchronous TestCluster: refusals, reverts and
// recovery, joint-config quorums for check-quorum and reads, the
// membership/replication view of status(), and randomized churn. Scenarios 15
// (joint consensus), 16 (removing the leader), 17 (learners) and 24 (removed
// follower) are scripts in testdata/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { hold, TEST_CONFIG, TestCluster, type TestNode } from "./_cluster.ts";
import type { EngineConfig } from "../../src/engine/commands.ts";
import type { Membership, NodeId, RaftNode } from "../../src/types.ts";
import { membershipOf } from "../../src/types.ts";
import { SeededRandom } from "../../src/random.ts";

const st = (c: TestCluster, id: NodeId) => c.node(id).engine.status();
const cfg = (over: Partial<EngineConfig>): EngineConfig => ({ ...TEST_CONFIG, ...over });
const configsOf = (c: TestCluster, id: NodeId) => st(c, id).membership.membership.configs;
const committedConfigsOf = (c: TestCluster, id: NodeId) =>
  st(c, id).committedMembership.membership.configs;

function campaignSends(n: TestNode): number {
  return n.commands.filter((c) =>
    c.type === "send" && (c.message.type === "vote" || c.message.type === "pre-vote")
  ).length;
}

function replicatesTo(n: TestNode, to: NodeId, since = 0): number {
  return n.commands.slice(since).filter((c) => c.type === "replicate" && c.to === to).length;
}

/** Voters `voters`, learners `learners`, all present from the start; 1 elected. */
function elected(
  voters: NodeId[] = [1, 2, 3],
  learners: NodeId[] = [],
  config: EngineConfig = TEST_CONFIG,
): TestCluster {
  const c = new TestCluster([...voters, ...learners], config, {
    membership: membershipOf(voters, learners),
  });
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  c.advance(TEST_CONFIG.heartbeatInterval);
  return c;
}

/** {1,2,3} with 1 leading, then node 4 added (blank) as a learner through a change. */
function withNewLearner4(): TestCluster {
  const c = elected();
  c.addNode(4);
  const r = c.node(1).engine.changeMembership(membershipOf([1, 2, 3], [4]));
  assert.deepEqual(r, { ok: true, logId: { term: 1, index: 2 } });
  c.run();
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(st(c, 1).committed?.index, 2);
  assert.deepEqual(c.node(4).terms(), [1, 1]);
  assert.equal(st(c, 4).role, "learner");
  assert.deepEqual(c.node(1).membershipsDone, [{ term: 1, index: 2 }]);
  return c;
}

// ---- errors --------------------------------------------------------------------------

test("engine/membership: on a follower, refused with not-leader and the leader id", () => {
  const c = elected();
  assert.deepEqual(c.node(2).engine.changeMembership(membershipOf([1, 2])), {
    ok: false,
    reason: "not-leader",
    leaderId: 1,
  });
});

test("engine/membership: a second change while one is uncommitted is refused with in-progress", () => {
  const c = elected([1, 2, 3], [4]);
  c.dropIf = (e) => e.to !== 1;
  assert.equal(c.node(1).engine.changeMembership(membershipOf([1, 2, 3, 4])).ok, true);
  c.run();
  const before = c.node(1).terms();
  assert.deepEqual(c.node(1).engine.changeMembership(membershipOf([1, 2])), {
    ok: false,
    reason: "in-progress",
    leaderId: 1,
  });
  assert.deepEqual(c.node(1).engine.changeMembership(membershipOf([1, 2, 3])), {
    ok: false,
    reason: "in-progress",
    leaderId: 1,
  });
  assert.deepEqual(c.node(1).terms(), before);
});

test("engine/membership: refused with in-progress while the final config of a change is uncommitted", () => {
  const c = elected([1, 2, 3], [4]);
  const held = hold(c, (e) => e.message.type === "append-response" && e.message.index >= 3);
  c.node(1).engine.changeMembership(membershipOf([1, 2, 3, 4]));
  c.run();
  assert.equal(st(c, 1).committed?.index, 2);
  assert.deepEqual(configsOf(c, 1), [[1, 2, 3, 4]]);
  assert.equal(c.node(1).engine.changeMembership(membershipOf([1, 2, 3])).ok, false);
  c.dropIf = null;
  c.queue.push(...held.splice(0));
  c.run();
  assert.equal(st(c, 1).committed?.index, 3);
  const r = c.node(1).engine.changeMembership(membershipOf([1, 2, 3]));
  assert.deepEqual(r, { ok: true, logId: { term: 1, index: 4 } });
});

test("engine/membership: an empty voter set is refused with empty-membership", () => {
  const c = elected();
  assert.deepEqual(c.node(1).engine.changeMembership(membershipOf([], [2])), {
    ok: false,
    reason: "empty-membership",
    leaderId: 1,
  });
  assert.deepEqual(configsOf(c, 1), [[1, 2, 3]]);
});

test("engine/membership: a voter missing from nodes is refused with learner-not-found", () => {
  const c = elected();
  const nodes = new Map<NodeId, RaftNode>([[1, { addr: "" }], [2, { addr: "" }]]);
  const target: Membership = { configs: [[1, 2, 5]], nodes, clusterId: "" };
  assert.deepEqual(c.node(1).engine.changeMembership(target), {
    ok: false,
    reason: "learner-not-found",
    leaderId: 1,
    nodeId: 5,
  });
  assert.deepEqual(c.node(1).terms(), [1]);
});

test("engine/membership: a joint target is refused and changes nothing", () => {
  const c = elected();
  const m = membershipOf([1, 2, 3, 4]);
  const target: Membership = { configs: [[1, 2, 3], [1, 2, 3, 4]], nodes: m.nodes, clusterId: "" };
  assert.equal(c.node(1).engine.changeMembership(target).ok, false);
  assert.deepEqual(c.node(1).terms(), [1]);
});

test("engine/membership: a change before the new leader committed its blank entry is in-progress", () => {
  const c = new TestCluster([1, 2, 3]);
  const held = hold(c, (e) => e.to === 1 && e.message.type === "append-response");
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).committed, null);
  assert.deepEqual(c.node(1).engine.changeMembership(membershipOf([1, 2])), {
    ok: false,
    reason: "in-progress",
    leaderId: 1,
  });
  c.dropIf = null;
  c.queue.push(...held.splice(0));
  c.run();
  assert.equal(c.node(1).engine.changeMembership(membershipOf([1, 2])).ok, true);
});

// ---- recovery and reverts -----------------------------------------------------------

test("engine/membership: an appended config takes effect at once and is reverted when truncated", () => {
  const c = elected([1, 2, 3], [], cfg({ checkQuorum: false }));
  c.isolate(1);
  c.addNode(4);
  assert.equal(c.node(1).engine.changeMembership(membershipOf([1, 2, 3], [4])).ok, true);
  assert.equal(st(c, 1).membership.membership.nodes.has(4), true);
  assert.deepEqual(st(c, 1).membership.logId, { term: 1, index: 2 });
  c.isolated.clear();
  c.isolate(1);
  c.elect(2);
  assert.equal(st(c, 2).role, "leader");
  c.advance(TEST_CONFIG.heartbeatInterval);
  c.heal();
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(st(c, 1).role, "follower");
  assert.deepEqual(c.node(1).terms(), [1, 2]);
  assert.equal(st(c, 1).membership.logId, null);
  assert.equal(st(c, 1).membership.membership.nodes.has(4), false);
});

test("engine/membership: a new leader that finds a committed joint config finishes the change", () => {
  const c = elected([1, 2, 3], [4]);
  // Drop every append carrying index 3 (the final config): only the joint one gets out.
  c.dropIf = (e) => e.message.type === "append" && e.message.entries.some((x) => x.index === 3);
  c.node(1).engine.changeMembership(membershipOf([2, 3, 4]));
  c.run();
  assert.equal(st(c, 1).committed?.index, 2);
  assert.deepEqual(configsOf(c, 2), [[1, 2, 3], [2, 3, 4]]);
  c.dropIf = null;
  c.isolate(1);
  c.advance(5 * TEST_CONFIG.electionTimeoutMax);
  const leaders = c.leaders().filter((id) => id !== 1);
  assert.equal(leaders.length, 1);
  const l = leaders[0]!;
  assert.deepEqual(configsOf(c, l), [[2, 3, 4]]);
  assert.deepEqual(committedConfigsOf(c, l), [[2, 3, 4]]);
  assert.equal(c.node(l).membershipsDone.length, 1);
  for (const id of [2, 3, 4]) assert.deepEqual(configsOf(c, id), [[2, 3, 4]], `node ${id}`);
});

// ---- status view -------------------------------------------------------------------

test("engine/status: replication shows each peer's matched log id on the leader", () => {
  const c = elected([1, 2, 3], [4]);
  c.dropIf = (e) => e.to === 3;
  c.propose(1, 1, 2, 3);
  const s = st(c, 1);
  assert.deepEqual([...s.replication.keys()].sort(), [2, 3, 4]);
  assert.deepEqual(s.replication.get(2)?.matched, { term: 1, index: 4 });
  assert.deepEqual(s.replication.get(4)?.matched, { term: 1, index: 4 });
  assert.deepEqual(s.replication.get(3)?.matched, { term: 1, index: 1 });
  assert.equal(s.replication.get(2)?.state, "pipeline");
  assert.equal(s.replication.get(2)?.inflight, 0);
  assert.equal(s.replication.get(3)?.inflight, 1);
  assert.equal(st(c, 2).replication.size, 0);
});

test("engine/status: committedMembership lags the effective membership during a change", () => {
  const c = elected([1, 2, 3], [4]);
  const held = hold(c, (e) => e.to !== 1);
  c.node(1).engine.changeMembership(membershipOf([1, 2, 3, 4]));
  c.run();
  let s = st(c, 1);
  assert.deepEqual(s.membership.logId, { term: 1, index: 2 });
  assert.deepEqual(s.membership.membership.configs, [[1, 2, 3], [1, 2, 3, 4]]);
  assert.equal(s.committedMembership.logId, null);
  assert.deepEqual(s.committedMembership.membership.configs, [[1, 2, 3]]);
  c.dropIf = null;
  c.queue.push(...held.splice(0));
  c.run();
  s = st(c, 1);
  assert.deepEqual(s.membership.logId, { term: 1, index: 3 });
  assert.deepEqual(s.committedMembership.logId, { term: 1, index: 3 });
  assert.deepEqual(s.committedMembership.membership.configs, [[1, 2, 3, 4]]);
});

// ---- more joint-config behaviour -----------------------------------------------------

test("engine/membership: check-quorum in a joint config needs a majority of both sets", () => {
  const c = withNewLearner4();
  const held = hold(c, (e) => e.to === 3 || e.to === 4);
  c.node(1).engine.changeMembership(membershipOf([2, 3, 4]));
  c.run();
  assert.deepEqual(configsOf(c, 1), [[1, 2, 3], [2, 3, 4]]);
  // 2 keeps acknowledging: {1,2} is a majority of {1,2,3} but {2} is none of {2,3,4}.
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  assert.notEqual(st(c, 1).role, "leader");
  assert.ok(held.length > 0);
});

test("engine/membership: ReadIndex in a joint config needs a majority of both sets", () => {
  const c = withNewLearner4();
  c.dropIf = (e) => e.to === 3 || e.to === 4;
  c.node(1).engine.changeMembership(membershipOf([2, 3, 4]));
  c.run();
  c.node(1).engine.read([1], "read-index");
  c.run();
  assert.equal(c.node(1).readsReady.has(1), false);
  c.dropIf = (e) => e.to === 3;
  c.node(1).engine.unreachable(4);
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.equal(c.node(1).readsReady.has(1), true);
});

test("engine/membership: removing a learner stops replication to it once committed", () => {
  const c = elected([1, 2, 3], [4]);
  const r = c.node(1).engine.changeMembership(membershipOf([1, 2, 3]));
  assert.deepEqual(r, { ok: true, logId: { term: 1, index: 2 } });
  c.run();
  assert.deepEqual(c.node(1).membershipsDone, [{ term: 1, index: 2 }]);
  assert.equal(st(c, 1).replication.has(4), false);
  const mark = c.node(1).commands.length;
  c.propose(1, 1);
  c.advance(5 * TEST_CONFIG.electionTimeoutMax);
  assert.equal(replicatesTo(c.node(1), 4, mark), 0);
  assert.equal(campaignSends(c.node(4)), 0);
});

test("engine/membership: replacing every voter {1,2,3} → {4,5,6} commits and hands over", () => {
  const c = elected([1, 2, 3], [4, 5, 6]);
  const r = c.node(1).engine.changeMembership(membershipOf([4, 5, 6]));
  assert.deepEqual(r, { ok: true, logId: { term: 1, index: 2 } });
  c.run();
  assert.deepEqual(c.node(1).membershipsDone, [{ term: 1, index: 3 }]);
  for (const id of [1, 2, 3]) assert.equal(st(c, id).role, "learner", `node ${id}`);
  for (const id of [4, 5, 6]) assert.equal(st(c, id).role, "follower", `node ${id}`);
  c.advance(5 * TEST_CONFIG.electionTimeoutMax);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  assert.ok([4, 5, 6].includes(leaders[0]!));
  // The removed nodes may pre-vote (they never learn the final config committed)
  // but they never lead again nor unseat the new leader.
  const term = st(c, leaders[0]!).term;
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.deepEqual(c.leaders(), leaders);
  assert.equal(st(c, leaders[0]!).term, term);
  for (const [t, set] of c.leadersByTerm) {
    if (t > 1) { for (const id of set) assert.ok([4, 5, 6].includes(id), `${id} led term ${t}`); }
  }
  c.assertElectionSafety();
});

test("engine/membership: a joint config with disjoint sets needs the new set's majority too", () => {
  const c = elected([1, 2, 3], [4, 5, 6]);
  c.dropIf = (e) => e.to === 5 || e.to === 6;
  c.node(1).engine.changeMembership(membershipOf([4, 5, 6]));
  c.run();
  // 1, 2, 3 and 4 hold the joint entry: all of the old set, one of the new.
  assert.equal(st(c, 1).replication.get(4)?.matched?.index, 2);
  assert.equal(st(c, 1).committed?.index, 1);
  assert.equal(st(c, 1).role, "leader");
});

test("engine/membership: a learner's next deadline is never; a voter's is its election deadline", () => {
  const c = elected([1, 2, 3], [4]);
  assert.equal(c.node(4).engine.nextDeadline(), Infinity);
  const d = c.node(2).engine.nextDeadline();
  assert.ok(d > c.now && d <= c.now + TEST_CONFIG.electionTimeoutMax);
  assert.ok(c.node(1).engine.nextDeadline() <= c.now + TEST_CONFIG.heartbeatInterval);
});

// ---- randomized membership churn ------------------------------------------------------

/**
 * Random voter-set changes, proposals, message delivery, time and isolation on
 * five nodes (every node stays a member: voters or learners). Checks election
 * safety, that applied entries agree at every index, that committed entries
 * never change, and that the cluster converges once healed.
 */
function membershipChurn(seed: number): void {
  const rnd = new SeededRandom(seed);
  const all = [1, 2, 3, 4, 5];
  const c = new TestCluster(all, cfg({ maxPayloadEntries: 4, maxInflight: 4 }), {
    seed,
    membership: membershipOf([1, 2, 3], [4, 5]),
  });
  c.elect(1);
  let changes = 0;
  let payloadId = 0;
  let isolatedUntil = -1;
  /** (index → term) of every entry ever seen committed on any node. */
  const committed = new Map<number, number>();
  const checkCommitted = (): void => {
    for (const n of c.nodes.values()) {
      const s = n.engine.status();
      const upTo = s.committed?.index ?? 0;
      for (let i = 1; i <= upTo; i++) {
        const t = n.log[i - 1]!.term;
        const seen = committed.get(i);
        if (seen === undefined) committed.set(i, t);
        else assert.equal(t, seen, `seed ${seed}: node ${n.id} committed index ${i} changed term`);
      }
    }
  };
  for (let step = 0; step < 2500; step++) {
    const r = rnd.int(0, 100);
    const leader = c.leaders()[0];
    if (r < 20 && leader !== undefined) {
      c.node(leader).engine.propose([new Uint8Array([payloadId++ & 255])]);
      c.process();
    } else if (r < 24 && leader !== undefined) {
      const voters = all.filter(() => rnd.int(0, 2) === 0);
      if (voters.length === 0) voters.push(all[rnd.int(0, all.length)]!);
      const res = c.node(leader).engine.changeMembership(
        membershipOf(voters, all.filter((id) => !voters.includes(id))),
      );
      if (res.ok) changes++;
      c.process();
    } else if (r < 85) {
      for (let k = rnd.int(1, 6); k > 0; k--) c.deliverOne();
    } else {
      c.now += 10;
      for (const n of c.nodes.values()) n.engine.tick(c.now);
      c.process();
      if (isolatedUntil >= 0 && c.now >= isolatedUntil) {
        c.heal();
        isolatedUntil = -1;
      } else if (isolatedUntil < 0 && rnd.int(0, 30) === 0) {
        c.isolate(all[rnd.int(0, all.length)]!);
        isolatedUntil = c.now + rnd.int(100, 1000);
      }
    }
    if (step % 25 === 0) checkCommitted();
  }
  c.heal();
  c.run();
  c.advance(5 * TEST_CONFIG.electionTimeoutMax);
  for (const l of c.leaders()) for (const id of all) c.node(l).engine.unreachable(id);
  c.advance(5 * TEST_CONFIG.electionTimeoutMax);
  checkCommitted();
  c.assertElectionSafety();
  assert.ok(changes >= 5, `seed ${seed}: only ${changes} changes`);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1, `seed ${seed}: leaders ${leaders}`);
  const ref = c.node(leaders[0]!);
  // Applied entries agree at every index on every node (state machine safety).
  for (const n of c.nodes.values()) {
    for (let i = 0; i < Math.min(n.applied.length, ref.applied.length); i++) {
      const a = n.applied[i]!;
      const b = ref.applied[i]!;
      assert.equal(a.index, i + 1);
      assert.deepEqual(
        [a.term, a.type],
        [b.term, b.type],
        `seed ${seed}: node ${n.id} at ${i + 1}`,
      );
    }
    assert.deepEqual(n.terms(), ref.terms(), `seed ${seed}: node ${n.id} log`);
  }
}

for (const seed of [21, 22, 23, 24, 25]) {
  test(`engine/membership: random voter changes under faults keep safety and converge (seed ${seed})`, () => {
    membershipChurn(seed);
  });
}

test("engine/membership: a node its own latest config drops still campaigns while others need its vote", () => {
  // {1,2} → {2,3}: 1 leads, the joint config commits, 1 appends the final {2,3}
  // but nobody else gets it; then 1 loses its quorum and steps down. 2 and 3
  // hold the joint config, whose {1,2} half needs 1's vote; 1's log is longer,
  // so only 1 can win (Raft thesis §4.2.2): it must campaign.
  const c = elected([1, 2], [3]);
  c.dropIf = (e) => e.message.type === "append" && e.message.entries.some((x) => x.index === 3);
  assert.equal(c.node(1).engine.changeMembership(membershipOf([2, 3])).ok, true);
  c.run();
  assert.equal(st(c, 1).committed?.index, 2);
  assert.deepEqual(configsOf(c, 1), [[2, 3]]);
  assert.deepEqual(configsOf(c, 2), [[1, 2], [2, 3]]);
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).role, "learner");
  c.heal();
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  assert.ok([2, 3].includes(leaders[0]!));
  for (const id of [2, 3]) {
    assert.deepEqual(configsOf(c, id), [[2, 3]], `node ${id}`);
    assert.deepEqual(committedConfigsOf(c, id), [[2, 3]], `node ${id}`);
  }
  c.assertElectionSafety();
});

test("engine/membership: after a restart that lost the commit index, a node dropped by an unfinished change still campaigns", () => {
  // 3 joins {2} as a voter, takes over, then starts removing itself ({2,3} → {2}).
  // The joint config commits; the final {2} reaches nobody; 3 steps down and
  // restarts, forgetting its commit index. 2 holds the joint config, whose
  // {2,3} half needs 3's vote, and 3's log is longer: only 3 can win.
  const c = new TestCluster([2, 3], TEST_CONFIG, { membership: membershipOf([2], [3]) });
  c.elect(2);
  assert.equal(c.node(2).engine.changeMembership(membershipOf([2, 3])).ok, true);
  c.run();
  assert.deepEqual(committedConfigsOf(c, 2), [[2, 3]]);
  assert.equal(c.node(2).engine.transferLeader(3).ok, true);
  c.run();
  assert.equal(st(c, 3).role, "leader");
  c.advance(TEST_CONFIG.heartbeatInterval);
  const final = st(c, 3).lastLogId!.index + 2;
  c.dropIf = (e) => e.message.type === "append" && e.message.entries.some((x) => x.index === final);
  assert.equal(c.node(3).engine.changeMembership(membershipOf([2], [3])).ok, true);
  c.run();
  assert.deepEqual(configsOf(c, 3), [[2]]);
  assert.deepEqual(configsOf(c, 2), [[2, 3], [2]]);
  c.isolate(3);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 3).role, "learner");
  c.node(3).crashAndRestart(c.now, [{ logId: null, membership: membershipOf([2], [3]) }]);
  assert.equal(st(c, 3).committed, null);
  c.heal();
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.deepEqual(c.leaders(), [2]);
  assert.deepEqual(committedConfigsOf(c, 2), [[2]]);
  assert.deepEqual(c.node(3).terms(), c.node(2).terms());
  c.assertElectionSafety();
});
