// Check-quorum (a leader that hears from no majority steps down) and the
// election deadline, on the synchronous TestCluster. The vote lease (scenario
// 13), one-way isolation (14) and the restarted follower (22) are scripts in
// testdata/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TEST_CONFIG, TestCluster } from "./_cluster.ts";
import type { EngineConfig } from "../../src/engine/commands.ts";
import { membershipOf, type NodeId } from "../../src/types.ts";

const st = (c: TestCluster, id: NodeId) => c.node(id).engine.status();

const cfg = (over: Partial<EngineConfig>): EngineConfig => ({ ...TEST_CONFIG, ...over });

/** A 3-node cluster with 1 elected at term 1 and one heartbeat round done. */
function elected(config: EngineConfig = TEST_CONFIG): TestCluster {
  const c = new TestCluster([1, 2, 3], config);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  c.advance(50);
  return c;
}

// ---- check-quorum ---------------------------------------------------------------

test("engine/check-quorum: an isolated leader steps down after electionTimeoutMax, keeping its term", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMax - 10);
  assert.equal(st(c, 1).role, "leader");
  c.advance(10);
  const s = st(c, 1);
  assert.equal(s.role, "follower");
  assert.equal(s.term, 1);
  assert.equal(s.leaderId, null);
});

test("engine/check-quorum: a leader whose acks are all lost (inbound cut) steps down", () => {
  const c = elected();
  c.cuts.add("2>1");
  c.cuts.add("3>1");
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  assert.notEqual(st(c, 1).role, "leader");
});

test("engine/check-quorum: with checkQuorum off an isolated leader keeps leading", () => {
  const c = elected(cfg({ checkQuorum: false }));
  c.isolate(1);
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
});

test("engine/check-quorum: a leader with one follower of two keeps leading for many timeouts", () => {
  const c = elected();
  c.isolate(3);
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(st(c, 1).term, 1);
  assert.equal(st(c, 2).term, 1);
  assert.equal(st(c, 3).term, 1);
  assert.ok(st(c, 1).quorumAckAt! >= c.now - TEST_CONFIG.heartbeatInterval);
});

test("engine/check-quorum: learner acks do not keep a leader in office", () => {
  const c = new TestCluster([1, 2, 3, 4], TEST_CONFIG, {
    membership: membershipOf([1, 2, 3], [4]),
  });
  c.elect(1);
  assert.equal(st(c, 4).role, "learner");
  c.cut(1, 2);
  c.cut(1, 3);
  const mark = c.delivered.length;
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  assert.notEqual(st(c, 1).role, "leader");
  // The learner was still acknowledging rounds all along.
  const acks = c.delivered.slice(mark).filter((e) =>
    e.from === 4 && e.to === 1 && e.message.type === "append-response"
  );
  assert.ok(acks.length >= 4);
});

test("engine/check-quorum: ticking only at nextDeadline() steps an isolated leader down on time", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.isolate(1);
  const e = c.node(1).engine;
  for (let i = 0; i < 100 && e.status().role === "leader"; i++) {
    const d = e.nextDeadline();
    assert.ok(d > c.now && d <= c.now + TEST_CONFIG.heartbeatInterval, `deadline ${d} at ${c.now}`);
    c.now = d;
    e.tick(d);
    c.run();
  }
  assert.equal(e.status().role, "follower");
  assert.equal(c.now, TEST_CONFIG.electionTimeoutMax);
});

test("engine/lease: ticking a follower at nextDeadline() starts its campaign", () => {
  const c = new TestCluster([1, 2, 3]);
  const e = c.node(2).engine;
  const d = e.nextDeadline();
  assert.ok(d >= TEST_CONFIG.electionTimeoutMin && d <= TEST_CONFIG.electionTimeoutMax);
  e.tick(d - 1);
  assert.equal(e.status().role, "follower");
  e.tick(d);
  assert.equal(e.status().role, "candidate");
  assert.equal(e.status().preCandidate, true);
  assert.equal(e.status().term, 0);
});
