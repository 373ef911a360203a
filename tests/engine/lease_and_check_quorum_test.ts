// Scenarios 13 (vote lease), 14 (one-way isolation), 22 (restarted follower) and
// check-quorum, on the synchronous TestCluster.
import { test } from "node:test";
import assert from "node:assert/strict";
import { inject, replyOf, TEST_CONFIG, TestCluster, type TestNode } from "./_cluster.ts";
import type { EngineConfig } from "../../src/engine/commands.ts";
import type { VoteRequest } from "../../src/messages.ts";
import { type LogId, membershipOf, type NodeId } from "../../src/types.ts";

const st = (c: TestCluster, id: NodeId) => c.node(id).engine.status();

function voteReq(
  type: "vote" | "pre-vote",
  term: number,
  candidateId: NodeId,
  lastLogId: LogId | null,
  transfer = false,
): VoteRequest {
  return { type, term, candidateId, lastLogId, transfer, clusterId: "" };
}

/** Count of vote or pre-vote requests a node has sent so far. */
function campaignSends(n: TestNode, type?: "vote" | "pre-vote"): number {
  return n.commands.filter((c) =>
    c.type === "send" &&
    (type === undefined
      ? c.message.type === "vote" || c.message.type === "pre-vote"
      : c.message.type === type)
  ).length;
}

const cfg = (over: Partial<EngineConfig>): EngineConfig => ({ ...TEST_CONFIG, ...over });

/** A 3-node cluster with 1 elected at term 1 and one heartbeat round done. */
function elected(config: EngineConfig = TEST_CONFIG): TestCluster {
  const c = new TestCluster([1, 2, 3], config);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  c.advance(50);
  return c;
}

const storedMembership = (voters: NodeId[]) => [{ logId: null, membership: membershipOf(voters) }];

// ---- 13. vote lease -----------------------------------------------------------

test("engine/lease: a voter that heard from the leader refuses a higher-term vote and keeps its term", () => {
  const c = elected();
  const tok = inject(c, 9, 2, voteReq("vote", 5, 9, st(c, 2).lastLogId));
  c.process();
  assert.deepEqual(replyOf(c.node(2), tok), { type: "vote-response", term: 1, granted: false });
  const s = st(c, 2);
  assert.equal(s.term, 1);
  assert.equal(s.vote.votedFor, 1);
  assert.equal(s.role, "follower");
  assert.equal(s.leaderId, 1);
});

test("engine/lease: a voter that heard from the leader refuses a pre-vote without changing anything", () => {
  const c = elected();
  const tok = inject(c, 9, 3, voteReq("pre-vote", 2, 9, st(c, 3).lastLogId));
  c.process();
  assert.deepEqual(replyOf(c.node(3), tok), {
    type: "pre-vote-response",
    term: 1,
    granted: false,
  });
  assert.equal(st(c, 3).term, 1);
  assert.equal(st(c, 3).vote.votedFor, 1);
});

test("engine/lease: the leader itself refuses a higher-term vote and keeps leading", () => {
  const c = elected();
  const tok = inject(c, 9, 1, voteReq("vote", 4, 9, st(c, 1).lastLogId));
  c.process();
  assert.deepEqual(replyOf(c.node(1), tok), { type: "vote-response", term: 1, granted: false });
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
});

test("engine/lease: the vote is refused just inside electionTimeoutMin of silence and granted at it", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.node(1).engine.setHeartbeatEnabled(false);
  c.node(2).engine.setElectEnabled(false);
  c.node(3).engine.setElectEnabled(false);
  c.advance(TEST_CONFIG.electionTimeoutMin - 10);
  const last = st(c, 2).lastLogId;
  const t1 = inject(c, 9, 2, voteReq("vote", 2, 9, last));
  c.process();
  assert.deepEqual(replyOf(c.node(2), t1), { type: "vote-response", term: 1, granted: false });
  assert.equal(st(c, 2).term, 1);
  c.advance(10);
  const t2 = inject(c, 9, 2, voteReq("vote", 2, 9, last));
  c.process();
  assert.deepEqual(replyOf(c.node(2), t2), { type: "vote-response", term: 2, granted: true });
  assert.deepEqual(st(c, 2).vote, { term: 2, votedFor: 9, committed: false });
});

test("engine/lease: a pre-vote is granted after leader silence, still without changing the term", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.node(1).engine.setHeartbeatEnabled(false);
  c.node(2).engine.setElectEnabled(false);
  c.node(3).engine.setElectEnabled(false);
  c.advance(TEST_CONFIG.electionTimeoutMin);
  const tok = inject(c, 9, 2, voteReq("pre-vote", 2, 9, st(c, 2).lastLogId));
  c.process();
  assert.deepEqual(replyOf(c.node(2), tok), {
    type: "pre-vote-response",
    term: 2,
    granted: true,
  });
  assert.deepEqual(st(c, 2).vote, { term: 1, votedFor: 1, committed: true });
});

test("engine/lease: a leader-requested election (transfer flag) bypasses the lease", () => {
  const c = elected();
  const tok = inject(c, 9, 2, voteReq("vote", 2, 9, st(c, 2).lastLogId, true));
  c.process();
  assert.deepEqual(replyOf(c.node(2), tok), { type: "vote-response", term: 2, granted: true });
  assert.equal(st(c, 2).term, 2);
});

test("engine/lease: a campaign against a live leader fails; after the leader goes silent one succeeds", () => {
  const c = elected();
  c.advance(60);
  c.elect(3);
  c.advance(50);
  assert.deepEqual(c.leaders(), [1]);
  for (const id of [1, 2, 3]) assert.equal(st(c, id).term, 1, `node ${id}`);
  c.isolate(1);
  c.advance(3 * TEST_CONFIG.electionTimeoutMax);
  const leaders = c.leaders().filter((id) => id !== 1);
  assert.equal(leaders.length, 1);
  assert.equal(st(c, leaders[0]!).term, 2);
  c.heal();
  c.advance(100);
  assert.deepEqual(c.leaders(), leaders);
  assert.equal(st(c, 1).term, 2);
  assert.equal(st(c, 1).leaderId, leaders[0]);
  c.assertElectionSafety();
});

test("engine/lease: without pre-vote the candidate's term rises but voters in lease keep theirs", () => {
  const c = elected(cfg({ preVote: false }));
  c.elect(3);
  assert.equal(st(c, 3).term, 2);
  assert.equal(st(c, 3).role, "candidate");
  assert.equal(campaignSends(c.node(3), "vote"), 2);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
  assert.equal(st(c, 2).term, 1);
  assert.equal(st(c, 2).vote.votedFor, 1);
});

test("engine/lease: with checkQuorum off there is no vote lease", () => {
  const c = elected(cfg({ checkQuorum: false }));
  const tok = inject(c, 9, 2, voteReq("vote", 2, 9, st(c, 2).lastLogId));
  c.process();
  assert.deepEqual(replyOf(c.node(2), tok), { type: "vote-response", term: 2, granted: true });
  assert.equal(st(c, 2).term, 2);
});

test("engine/lease: a vote in lease is refused even with a longer log (lease wins over log)", () => {
  const c = elected();
  const tok = inject(c, 9, 2, voteReq("vote", 7, 9, { term: 6, index: 50 }));
  c.process();
  assert.equal((replyOf(c.node(2), tok) as { granted: boolean }).granted, false);
  assert.equal(st(c, 2).term, 1);
});

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

// ---- 14. one-way isolation ------------------------------------------------------

test("engine/one-way: a follower that hears heartbeats but cannot send never campaigns", () => {
  const c = elected();
  c.cuts.add("3>1");
  c.cuts.add("3>2");
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.equal(campaignSends(c.node(3)), 0);
  assert.equal(st(c, 3).role, "follower");
  assert.equal(st(c, 3).term, 1);
  assert.equal(st(c, 3).leaderId, 1);
  assert.deepEqual(c.leaders(), [1]);
});

test("engine/one-way: a follower that receives nothing but can send campaigns (pre-vote, term kept)", () => {
  const c = elected();
  c.cuts.add("1>3");
  c.cuts.add("2>3");
  c.advance(4 * TEST_CONFIG.electionTimeoutMax);
  assert.ok(campaignSends(c.node(3), "pre-vote") >= 2);
  assert.equal(campaignSends(c.node(3), "vote"), 0);
  assert.equal(st(c, 3).term, 1);
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(st(c, 1).term, 1);
  assert.equal(st(c, 2).term, 1);
});

test("engine/one-way: without pre-vote the deaf follower's term rises, the leader is undisturbed", () => {
  const c = elected(cfg({ preVote: false }));
  c.cuts.add("1>3");
  c.cuts.add("2>3");
  c.advance(4 * TEST_CONFIG.electionTimeoutMax);
  assert.ok(st(c, 3).term > 1);
  assert.ok(campaignSends(c.node(3), "vote") >= 2);
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(st(c, 1).term, 1);
  assert.equal(st(c, 2).term, 1);
  assert.equal(st(c, 2).vote.votedFor, 1);
});

test("engine/one-way: after a one-way cut heals the follower catches up with the leader's log", () => {
  const c = elected();
  c.cuts.add("3>1");
  for (let i = 0; i < 5; i++) c.propose(1, i);
  c.advance(200);
  assert.equal(st(c, 1).committed?.index, 6);
  assert.equal(st(c, 1).replication.get(3)?.matched?.index, 1);
  c.heal();
  // The harness drops silently; a runtime reports the requests whose answers were lost.
  c.node(1).engine.unreachable(3);
  c.advance(100);
  assert.deepEqual(c.node(3).terms(), c.node(1).terms());
  assert.equal(st(c, 3).committed?.index, 6);
  assert.equal(st(c, 1).replication.get(3)?.matched?.index, 6);
});

// ---- 22. restarted follower -------------------------------------------------------

test("engine/restart: a restarted follower campaigns within one election timeout when there is no leader", () => {
  const c = elected();
  c.node(2).engine.setElectEnabled(false);
  c.node(3).engine.setElectEnabled(false);
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMax - 50);
  assert.equal(st(c, 2).term, 1);
  c.node(2).crashAndRestart(c.now, storedMembership([1, 2, 3]));
  assert.equal(st(c, 2).role, "follower");
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 2).role, "leader");
  assert.equal(st(c, 2).term, 2);
  assert.equal(st(c, 3).leaderId, 2);
});

test("engine/restart: a restarted follower does not disrupt a healthy leader", () => {
  const c = elected();
  c.propose(1, 7);
  c.node(3).crashAndRestart(c.now, storedMembership([1, 2, 3]));
  assert.deepEqual(st(c, 3).vote, { term: 1, votedFor: 1, committed: true });
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(campaignSends(c.node(3)), 0);
  assert.equal(st(c, 3).term, 1);
  assert.equal(st(c, 3).leaderId, 1);
  assert.deepEqual(c.node(3).terms(), [1, 1]);
});

test("engine/restart: a restarted follower kept apart for long returns without raising terms (pre-vote)", () => {
  const c = elected();
  c.isolate(3);
  c.node(3).crashAndRestart(c.now, storedMembership([1, 2, 3]));
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.ok(campaignSends(c.node(3), "pre-vote") > 0);
  c.heal();
  c.advance(200);
  assert.deepEqual(c.leaders(), [1]);
  for (const id of [1, 2, 3]) assert.equal(st(c, id).term, 1, `node ${id}`);
  assert.equal(st(c, 3).leaderId, 1);
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
