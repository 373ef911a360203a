// A follower whose log went backwards (wiped, or a store that lost what it acknowledged):
// without allowLogReversion the leader reports it once and the follower stays stuck (it
// never sends below a peer's match); with it, the leader resets the peer's progress and
// repairs it (issue 17, item 9).
import { test } from "node:test";
import assert from "node:assert/strict";
import { INITIAL_VOTE } from "../../src/types.ts";
import type { EngineConfig } from "../../src/engine/commands.ts";
import { hold, TEST_CONFIG, TestCluster, type TestNode } from "./_cluster.ts";

/** A cluster of 3 led by 1 with a few entries everywhere, then node 3's data wiped. */
function wipedFollower(config: EngineConfig): TestCluster {
  const c = new TestCluster([1, 2, 3], config);
  c.elect(1);
  c.propose(1, 1, 2, 3);
  c.run();
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.deepEqual(c.node(3).terms(), c.node(1).terms());
  const matched = c.node(1).engine.status().replication.get(3)?.matched?.index ?? 0;
  assert.ok(matched >= 4, `matched ${matched}`);
  wipe(c.node(3), c.now);
  return c;
}

function wipe(n: TestNode, now: number): void {
  n.log = [];
  n.durableLog = [];
  n.vote = INITIAL_VOTE;
  n.durableVote = INITIAL_VOTE;
  n.applied = [];
  n.crashAndRestart(now, []);
}

test("engine/log reversion: off (default), a wiped follower is reported once and stays stuck", () => {
  const c = wipedFollower(TEST_CONFIG);
  for (let i = 0; i < 5; i++) c.advance(TEST_CONFIG.heartbeatInterval);
  const leader = c.node(1);
  assert.deepEqual(c.node(3).terms(), [], "never repaired: the leader sends above its match");
  assert.equal(leader.reversions.length, 1, "reported once, not at every heartbeat");
  const r = leader.reversions[0]!;
  assert.equal(r.peer, 3);
  assert.equal(r.reset, false);
  assert.ok(r.index <= r.matched && r.matched >= 4);
  // The cluster goes on with the two others.
  c.propose(1, 9);
  c.run();
  assert.equal(leader.engine.status().committed?.index, leader.engine.status().lastLogId?.index);
});

test("engine/log reversion: on, the leader resets the peer's progress and repairs it", () => {
  const c = wipedFollower({ ...TEST_CONFIG, allowLogReversion: true });
  for (let i = 0; i < 3; i++) c.advance(TEST_CONFIG.heartbeatInterval);
  const leader = c.node(1);
  assert.equal(leader.reversions.length, 1);
  assert.equal(leader.reversions[0]!.reset, true);
  assert.deepEqual(c.node(3).terms(), leader.terms(), "repaired");
  const s = leader.engine.status();
  assert.deepEqual(s.replication.get(3)?.matched, s.lastLogId);
  c.propose(1, 9);
  c.run();
  c.advance(TEST_CONFIG.heartbeatInterval);
  assert.deepEqual(c.node(3).terms(), leader.terms());
  assert.equal(leader.reversions.length, 1, "a repaired peer is not reported again");
});

test("engine/log reversion: a healthy follower's late rejection of an overtaken request is not a reversion", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, allowLogReversion: true });
  c.elect(1);
  c.advance(TEST_CONFIG.heartbeatInterval);
  // The leader's appends with entries to 3 are lost: 3 falls behind.
  c.dropIf = (e) =>
    e.from === 1 && e.to === 3 && e.message.type === "append" && e.message.entries.length > 0;
  c.propose(1, 1, 2);
  c.run();
  // The next append to 3 does not continue its log: its rejection is held back.
  const held = hold(
    c,
    (e) => e.from === 3 && e.message.type === "append-response" && !e.message.success,
  );
  c.propose(1, 3);
  c.run();
  assert.ok(held.length >= 1, "3 rejected an append");
  c.dropIf = null;
  // Without an answer the leader probes 3 again after an election timeout: 3 catches up.
  c.advance(TEST_CONFIG.electionTimeoutMax * 2);
  const leader = c.node(1);
  assert.deepEqual(c.node(3).terms(), leader.terms());
  // The old rejection arrives now, below 3's match: it proves nothing, and changes nothing.
  for (const e of held) c.queue.push(e);
  c.run();
  assert.deepEqual(leader.reversions, []);
  const s = leader.engine.status();
  assert.deepEqual(s.replication.get(3)?.matched, s.lastLogId);
});
