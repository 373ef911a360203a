import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftEngine } from "../../src/engine/engine.ts";
import type { Command, EngineConfig, EngineRandom } from "../../src/engine/commands.ts";
import type { RaftMessage, VoteRequest, VoteResponse } from "../../src/messages.ts";
import {
  type LogId,
  membershipOf,
  type NodeId,
  type StoredMembership,
  type Vote,
} from "../../src/types.ts";
import { TEST_CONFIG, TestCluster, type TestNode } from "./_cluster.ts";

// ---- helpers ------------------------------------------------------------------

const NO_ELECT: EngineConfig = { ...TEST_CONFIG, enableElect: false };
/** What storage recovers for a node of the {1,2,3} harness cluster: its initial membership. */
const MEMBERS_123: StoredMembership[] = [{ logId: null, membership: membershipOf([1, 2, 3]) }];

function vote(term: number, votedFor: NodeId | null = null, committed = false): Vote {
  return { term, votedFor, committed };
}

function voteReq(
  term: number,
  candidateId: NodeId,
  lastLogId: LogId | null,
  type: "vote" | "pre-vote" = "vote",
  transfer = false,
): VoteRequest {
  return { type, term, candidateId, lastLogId, transfer, clusterId: "" };
}

/** Hands `message` from `from` to `to` directly, then executes `to`'s commands. */
function deliver(c: TestCluster, from: NodeId, to: NodeId, message: RaftMessage): number {
  const token = c.nextToken++;
  c.replyTo.set(token, from);
  c.node(to).engine.receive(from, message, token);
  c.process();
  return token;
}

/** The reply a node emitted for `token`, if any. */
function replyFor(n: TestNode, token: number): RaftMessage | undefined {
  for (const cmd of n.commands) {
    if (cmd.type === "reply" && cmd.token === token) return cmd.message;
  }
  return undefined;
}

function voteReply(n: TestNode, token: number): VoteResponse {
  const r = replyFor(n, token);
  assert.ok(r !== undefined, "a reply was emitted");
  assert.ok(r.type === "vote-response" || r.type === "pre-vote-response", r.type);
  return r as VoteResponse;
}

function st(c: TestCluster, id: NodeId) {
  return c.node(id).engine.status();
}

/** Sent vote requests (not pre-votes) among `cmds`. */
function voteSends(cmds: readonly Command[]): Command[] {
  return cmds.filter((x) => x.type === "send" && x.message.type === "vote");
}

// ---- scenario 1: basic election ------------------------------------------------------

test("engine/election: basic election elects node 1 at term 1 and commits its blank entry", () => {
  const c = new TestCluster([1, 2, 3]);
  for (const id of [1, 2, 3]) assert.equal(st(c, id).term, 0);
  c.elect(1);
  const s1 = st(c, 1);
  assert.equal(s1.role, "leader");
  assert.equal(s1.term, 1);
  assert.equal(s1.leaderId, 1);
  for (const id of [2, 3]) {
    const s = st(c, id);
    assert.equal(s.role, "follower", `node ${id}`);
    assert.equal(s.term, 1);
    assert.equal(s.vote.votedFor, 1);
    assert.equal(s.leaderId, 1);
    assert.deepEqual(c.node(id).durableVote.votedFor, 1, "the vote is durable");
    assert.equal(c.node(id).durableVote.term, 1);
  }
  for (const id of [1, 2, 3]) {
    const n = c.node(id);
    assert.deepEqual(n.terms(), [1], `log of ${id}`);
    assert.deepEqual(n.engine.status().committed, { term: 1, index: 1 }, `commit of ${id}`);
    assert.deepEqual(n.applied.map((e) => [e.index, e.term, e.type]), [[1, 1, "blank"]]);
  }
  assert.deepEqual([...c.leadersByTerm.keys()], [1]);
  c.assertElectionSafety();
});

// ---- scenario 2: split vote ----------------------------------------------------------

/** Elects 1, isolates it, lets the followers' lease and 1's quorum lapse, splits 2 and 3. */
function splitVote(): TestCluster {
  const c = new TestCluster([1, 2, 3], NO_ELECT);
  c.elect(1);
  c.isolate(1);
  c.advance(310);
  assert.equal(st(c, 1).role, "follower", "1 stepped down without a quorum");
  c.node(2).engine.triggerElect();
  c.node(3).engine.triggerElect();
  c.run();
  return c;
}

test("engine/election: simultaneous campaigns split the vote: no leader in that term", () => {
  const c = splitVote();
  for (const id of [2, 3]) {
    const s = st(c, id);
    assert.equal(s.term, 2, `node ${id}`);
    assert.equal(s.role, "candidate");
    assert.equal(s.preCandidate, false);
    assert.equal(s.vote.votedFor, id, "voted for itself, refused the other");
  }
  assert.deepEqual(c.leaders(), []);
  assert.equal(c.leadersByTerm.has(2), false);
});

test("engine/election: after a split vote a later campaign elects exactly one leader", () => {
  const c = splitVote();
  c.elect(2);
  assert.deepEqual(c.leaders(), [2]);
  assert.equal(st(c, 2).term, 3);
  assert.equal(st(c, 3).term, 3);
  assert.equal(st(c, 3).leaderId, 2);
  c.assertElectionSafety();
});

test("engine/election: after a split vote randomized timeouts converge on one leader", () => {
  const c = splitVote();
  c.node(2).engine.setElectEnabled(true);
  c.node(3).engine.setElectEnabled(true);
  c.advance(3000);
  const leaders = c.leaders().filter((id) => id !== 1);
  assert.equal(leaders.length, 1);
  const t = st(c, leaders[0]!).term;
  assert.ok(t >= 3);
  for (const id of [2, 3]) assert.equal(st(c, id).term, t);
  c.assertElectionSafety();
});

// ---- scenario 3: vote restriction ------------------------------------------------------

/** Node 1 holds [1, 1] at term 1; asks it for a vote from 2 at term 2. */
function askVoter(last: LogId | null, type: "vote" | "pre-vote" = "vote") {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    logs: new Map([[1, [1, 1]]]),
    votes: new Map([[1, vote(1)]]),
  });
  const token = deliver(c, 2, 1, voteReq(2, 2, last, type));
  return { c, reply: voteReply(c.node(1), token) };
}

test("engine/election: a voter at (2,1) grants candidates at (2,1), (3,1) and (1,2)", () => {
  for (
    const last of [{ term: 1, index: 2 }, { term: 1, index: 3 }, { term: 2, index: 1 }]
  ) {
    const { c, reply } = askVoter(last);
    const label = `candidate last ${JSON.stringify(last)}`;
    assert.equal(reply.type, "vote-response");
    assert.equal(reply.granted, true, label);
    assert.equal(reply.term, 2, label);
    assert.deepEqual(st(c, 1).vote, vote(2, 2), label);
    assert.deepEqual(c.node(1).durableVote, vote(2, 2), label);
  }
});

test("engine/election: a voter at (2,1) refuses candidates at (1,1) and with an empty log", () => {
  for (const last of [{ term: 1, index: 1 }, null]) {
    const { c, reply } = askVoter(last);
    const label = `candidate last ${JSON.stringify(last)}`;
    assert.equal(reply.granted, false, label);
    assert.equal(reply.term, 2, label);
    const s = st(c, 1);
    assert.equal(s.term, 2, "adopts the higher term");
    assert.equal(s.vote.votedFor, null, "but votes for nobody");
    assert.deepEqual(c.node(1).terms(), [1, 1], "log untouched");
  }
});

test("engine/election: pre-vote applies the same log restriction and changes nothing", () => {
  const cases: [LogId | null, boolean][] = [
    [{ term: 1, index: 2 }, true],
    [{ term: 1, index: 3 }, true],
    [{ term: 2, index: 1 }, true],
    [{ term: 1, index: 1 }, false],
  ];
  for (const [last, granted] of cases) {
    const { c, reply } = askVoter(last, "pre-vote");
    assert.equal(reply.type, "pre-vote-response");
    assert.equal(reply.granted, granted, JSON.stringify(last));
    assert.deepEqual(st(c, 1).vote, vote(1), "term and vote unchanged");
    assert.equal(c.node(1).commands.some((x) => x.type === "save-vote"), false);
  }
});

test("engine/election: having voted for A in term T a voter refuses B in T, and re-grants A", () => {
  const c = new TestCluster([1, 2, 3]);
  const a = deliver(c, 2, 1, voteReq(1, 2, null));
  assert.equal(voteReply(c.node(1), a).granted, true);
  const b = deliver(c, 3, 1, voteReq(1, 3, null));
  const rb = voteReply(c.node(1), b);
  assert.equal(rb.granted, false);
  assert.equal(rb.term, 1);
  assert.deepEqual(st(c, 1).vote, vote(1, 2));
  const again = deliver(c, 2, 1, voteReq(1, 2, null));
  assert.equal(voteReply(c.node(1), again).granted, true, "a retried request is granted again");
});

test("engine/election: the vote survives a crash: after restart B is still refused in T", () => {
  const c = new TestCluster([1, 2, 3]);
  const a = deliver(c, 2, 1, voteReq(1, 2, null));
  assert.equal(voteReply(c.node(1), a).granted, true);
  assert.deepEqual(c.node(1).durableVote, vote(1, 2));
  c.node(1).crashAndRestart(c.now, MEMBERS_123);
  assert.equal(st(c, 1).role, "follower");
  assert.deepEqual(st(c, 1).vote, vote(1, 2), "recovered from storage");
  const b = deliver(c, 3, 1, voteReq(1, 3, null));
  const rb = voteReply(c.node(1), b);
  assert.equal(rb.granted, false);
  assert.equal(rb.term, 1);
  assert.deepEqual(st(c, 1).vote, vote(1, 2));
  assert.deepEqual(c.node(1).durableVote, vote(1, 2));
  // Also a full campaign by 3 in the same term cannot collect node 1's vote.
  const a2 = deliver(c, 2, 1, voteReq(1, 2, null));
  assert.equal(voteReply(c.node(1), a2).granted, true);
});

test("engine/election: a vote request of an older term is refused with the voter's term", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, { votes: new Map([[1, vote(5)]]) });
  const t = deliver(c, 2, 1, voteReq(4, 2, { term: 3, index: 9 }));
  const r = voteReply(c.node(1), t);
  assert.equal(r.granted, false);
  assert.equal(r.term, 5);
  assert.deepEqual(st(c, 1).vote, vote(5));
});

// ---- scenario 5: step-down on a higher term from every message type -------------------

/** A 3-node cluster whose leader is 1 at term 1. */
function leaderAtTerm1(config: EngineConfig = TEST_CONFIG): TestCluster {
  const c = new TestCluster([1, 2, 3], config);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
  return c;
}

function assertSteppedDownTo2(c: TestCluster, leaderId: NodeId | null = null): void {
  const s = st(c, 1);
  assert.equal(s.role, "follower");
  assert.equal(s.term, 2);
  assert.equal(s.leaderId, leaderId);
  assert.equal(c.node(1).durableVote.term, 2, "the new term is persisted");
  assert.equal(s.replication.size, 0, "leader state dropped");
}

test("engine/election: a leader steps down on an append request of a higher term", () => {
  const c = leaderAtTerm1();
  const t = deliver(c, 2, 1, {
    clusterId: "",
    type: "append",
    term: 2,
    leaderId: 2,
    prevLogId: { term: 1, index: 1 },
    entries: [],
    leaderCommit: 1,
    round: 1,
  });
  assertSteppedDownTo2(c, 2);
  const r = replyFor(c.node(1), t);
  assert.ok(r?.type === "append-response" && r.success && r.term === 2);
});

test("engine/election: a leader steps down on an append response of a higher term", () => {
  const c = leaderAtTerm1();
  c.node(1).engine.receive(2, {
    type: "append-response",
    term: 2,
    round: 1,
    success: false,
    index: 1,
    hintTerm: 0,
    hintIndex: 0,
  });
  c.process();
  assertSteppedDownTo2(c);
});

test("engine/election: a leader steps down on a vote request of a higher term (no check-quorum)", () => {
  const c = leaderAtTerm1({ ...TEST_CONFIG, checkQuorum: false });
  const t = deliver(c, 2, 1, voteReq(2, 2, { term: 1, index: 1 }));
  assertSteppedDownTo2(c);
  assert.equal(voteReply(c.node(1), t).granted, true);
  assert.equal(st(c, 1).vote.votedFor, 2);
});

test("engine/election: with check-quorum a leader steps down on a transfer vote request", () => {
  const c = leaderAtTerm1();
  const t = deliver(c, 2, 1, voteReq(2, 2, { term: 1, index: 1 }, "vote", true));
  assertSteppedDownTo2(c);
  assert.equal(voteReply(c.node(1), t).granted, true);
});

test("engine/election: with check-quorum a leader in its lease ignores a plain higher-term vote", () => {
  const c = leaderAtTerm1();
  const t = deliver(c, 2, 1, voteReq(2, 2, { term: 1, index: 1 }));
  const r = voteReply(c.node(1), t);
  assert.equal(r.granted, false);
  assert.equal(r.term, 1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
});

test("engine/election: a pre-vote request of a higher term never deposes a leader", () => {
  const c = leaderAtTerm1({ ...TEST_CONFIG, checkQuorum: false });
  const t = deliver(c, 2, 1, voteReq(2, 2, { term: 1, index: 1 }, "pre-vote"));
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
  assert.equal(voteReply(c.node(1), t).type, "pre-vote-response");
});

test("engine/election: a leader steps down on a vote response of a higher term", () => {
  const c = leaderAtTerm1();
  c.node(1).engine.receive(3, { type: "vote-response", term: 2, granted: false });
  c.process();
  assertSteppedDownTo2(c);
});

test("engine/election: a leader steps down on a pre-vote rejection carrying a higher term", () => {
  const c = leaderAtTerm1();
  c.node(1).engine.receive(3, { type: "pre-vote-response", term: 2, granted: false });
  c.process();
  assertSteppedDownTo2(c);
});

test("engine/election: a granted pre-vote response does not change a leader's term", () => {
  const c = leaderAtTerm1();
  c.node(1).engine.receive(3, { type: "pre-vote-response", term: 2, granted: true });
  c.process();
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
});

test("engine/election: a leader steps down on a timeout-now response of a higher term", () => {
  const c = leaderAtTerm1();
  c.node(1).engine.receive(2, { type: "timeout-now-response", term: 2, accepted: false });
  c.process();
  assertSteppedDownTo2(c);
});

test("engine/election: a timeout-now request of a higher term is refused and changes nothing", () => {
  // A real leader of a newer term sends appends before any TimeoutNow: one that comes
  // first is forged (or stale), and must not depose the leader nor raise its term.
  const c = leaderAtTerm1();
  const t = deliver(c, 2, 1, { clusterId: "", type: "timeout-now", term: 2, leaderId: 2 });
  const s = st(c, 1);
  assert.equal(s.role, "leader");
  assert.equal(s.term, 1);
  assert.equal(c.node(1).durableVote.term, 1);
  assert.deepEqual(replyFor(c.node(1), t), {
    type: "timeout-now-response",
    term: 1,
    accepted: false,
  });
});

test("engine/election: a candidate steps down on an append request of its own term", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, preVote: false });
  c.isolate(1);
  c.node(1).engine.triggerElect();
  c.run();
  assert.equal(st(c, 1).role, "candidate");
  assert.equal(st(c, 1).term, 1);
  c.heal();
  deliver(c, 2, 1, {
    clusterId: "",
    type: "append",
    term: 1,
    leaderId: 2,
    prevLogId: null,
    entries: [],
    leaderCommit: 0,
    round: 1,
  });
  const s = st(c, 1);
  assert.equal(s.role, "follower");
  assert.equal(s.term, 1);
  assert.equal(s.leaderId, 2);
});

// ---- scenario 8: newer uncommitted entries overwritten --------------------------------

test("engine/election: n1 campaigns twice, wins at term 3 and overwrites n3's term-2 entry", () => {
  const c = new TestCluster([1, 2, 3, 4, 5], TEST_CONFIG, {
    logs: new Map([[1, [1]], [2, [1]], [3, [2]]]),
    votes: new Map([
      [1, vote(1)],
      [2, vote(1)],
      [3, vote(2, 3)],
      [4, vote(2, 3)],
      [5, vote(2, 3)],
    ]),
  });
  c.elect(1);
  assert.deepEqual(c.leaders(), [], "first campaign fails");
  assert.equal(st(c, 1).term, 2, "and teaches n1 the current term");
  c.elect(1);
  assert.deepEqual(c.leaders(), [1]);
  assert.equal(st(c, 1).term, 3);
  for (const id of [1, 2, 3, 4, 5]) {
    const n = c.node(id);
    assert.deepEqual(n.terms(), [1, 3], `log of ${id}`);
    assert.equal(n.engine.status().term, 3, `term of ${id}`);
    assert.deepEqual(n.engine.status().committed, { term: 3, index: 2 }, `commit of ${id}`);
  }
  const truncates = c.node(3).commands.filter((x) => x.type === "truncate-log");
  assert.deepEqual(truncates.map((x) => x.type === "truncate-log" && x.since), [1]);
  for (const id of [1, 2, 4, 5]) {
    assert.equal(c.node(id).commands.some((x) => x.type === "truncate-log"), false, `node ${id}`);
  }
  c.assertElectionSafety();
});

// ---- scenario 11: pre-vote prevents disruption ------------------------------------------

test("engine/election: with pre-vote an isolated node's term stays put and the leader keeps leading", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, { seed: 11 });
  c.elect(1);
  c.propose(1, 1);
  c.isolate(3);
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 3).term, 1, "pre-vote never raised 3's term");
  assert.ok(
    c.node(3).commands.some((x) => x.type === "send" && x.message.type === "pre-vote"),
    "3 did try to campaign",
  );
  c.heal();
  c.propose(1, 2);
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  assert.deepEqual(c.leaders(), [1]);
  for (const id of [1, 2, 3]) assert.equal(st(c, id).term, 1, `term of ${id}`);
  assert.deepEqual([...c.leadersByTerm.keys()], [1]);
  assert.deepEqual(c.node(3).terms(), c.node(1).terms());
});

test("engine/election: without pre-vote an isolated node's term rises and deposes the leader", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, preVote: false }, { seed: 11 });
  c.elect(1);
  c.isolate(3);
  c.propose(1, 1); // 3 falls behind, so it cannot win itself
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  const t3 = st(c, 3).term;
  assert.ok(t3 > 2, `3's term rose to ${t3}`);
  assert.deepEqual(c.leaders(), [1], "1 led throughout the isolation");
  assert.equal(st(c, 1).term, 1);
  c.heal();
  c.advance(10 * TEST_CONFIG.electionTimeoutMax);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  const s = st(c, leaders[0]!);
  assert.ok(s.term > t3, `new leader at ${s.term} > ${t3}`);
  assert.notEqual(leaders[0], 3, "3's log is behind");
  assert.ok(
    c.node(1).commands.some((x) => x.type === "save-vote" && x.vote.term >= t3),
    "1 adopted 3's term",
  );
  c.assertElectionSafety();
});

// ---- scenario 12: pre-vote with a lagging log --------------------------------------------

test("engine/election: a node with a lagging log cannot win a pre-vote; an up-to-date one can", () => {
  const c = new TestCluster([1, 2, 3], NO_ELECT);
  c.elect(1);
  c.cut(1, 3);
  c.propose(1, 7);
  assert.deepEqual(c.node(2).terms(), [1, 1]);
  assert.deepEqual(c.node(3).terms(), [1]);
  c.heal();
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  c.elect(3);
  assert.deepEqual(c.leaders(), []);
  assert.equal(st(c, 3).term, 1, "a failed pre-vote raises no term");
  assert.equal(st(c, 2).term, 1);
  assert.equal(voteSends(c.node(3).commands).length, 0, "no real election started");
  c.elect(2);
  assert.deepEqual(c.leaders(), [2]);
  assert.equal(st(c, 2).term, 2);
  assert.deepEqual(c.node(3).terms(), [1, 1, 2]);
  assert.deepEqual(st(c, 3).committed, { term: 2, index: 3 });
});

// ---- randomized election timeouts --------------------------------------------------------

test("engine/election: the election deadline is drawn from [min, max] inclusive", () => {
  const calls: [number, number][] = [];
  const make = (pick: (min: number, max: number) => number) => {
    const random: EngineRandom = {
      int: (min, max) => {
        calls.push([min, max]);
        return pick(min, max);
      },
    };
    return new RaftEngine({
      id: 1,
      config: TEST_CONFIG,
      random,
      now: 1000,
      memberships: [{ logId: null, membership: membershipOf([1, 2, 3]) }],
    });
  };
  const low = make((min) => min);
  assert.equal(low.nextDeadline(), 1150);
  const high = make((_, max) => max - 1);
  assert.equal(high.nextDeadline(), 1300);
  assert.deepEqual(calls[0], [150, 301], "max is inclusive: the draw is [150, 301)");
  high.tick(1299);
  assert.deepEqual(high.takeCommands(), [], "no campaign before the deadline");
  high.tick(1300);
  const sent = high.takeCommands().filter((x) => x.type === "send");
  assert.deepEqual(sent.map((x) => x.type === "send" && [x.to, x.message.type]), [
    [2, "pre-vote"],
    [3, "pre-vote"],
  ]);
});

test("engine/election: campaign times are randomized within [min, max] and differ by seed", () => {
  const intervals: number[] = [];
  const firstBySeed: number[] = [];
  for (let seed = 1; seed <= 8; seed++) {
    const c = new TestCluster([1, 2, 3], TEST_CONFIG, { seed });
    for (const id of [1, 2, 3]) c.isolate(id);
    const times = new Map<NodeId, number[]>([[1, [0]], [2, [0]], [3, [0]]]);
    const seen = new Map<NodeId, number>([[1, 0], [2, 0], [3, 0]]);
    while (c.now < 2000) {
      c.advance(1, 1);
      for (const id of [1, 2, 3]) {
        const cmds = c.node(id).commands;
        const fresh = cmds.slice(seen.get(id));
        seen.set(id, cmds.length);
        if (fresh.some((x) => x.type === "send" && x.message.type === "pre-vote")) {
          times.get(id)!.push(c.now);
        }
      }
    }
    for (const ts of times.values()) {
      assert.ok(ts.length >= 7, `campaigned ${ts.length - 1} times`);
      for (let i = 1; i < ts.length; i++) intervals.push(ts[i]! - ts[i - 1]!);
    }
    firstBySeed.push(times.get(1)![1]!);
  }
  for (const d of intervals) assert.ok(d >= 150 && d <= 300, `interval ${d}`);
  assert.ok(new Set(intervals).size >= 30, "many distinct timeouts");
  assert.ok(Math.max(...intervals) - Math.min(...intervals) >= 100, "spread over the range");
  assert.ok(new Set(firstBySeed).size >= 4, `first campaign by seed: ${firstBySeed}`);
});

// ---- durability ordering of votes ----------------------------------------------------------

test("engine/election: a candidate sends vote requests only after its own vote is flushed", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, preVote: false });
  const n = c.node(1);
  n.autoFlush = false;
  n.engine.triggerElect();
  c.run();
  assert.ok(n.commands.some((x) => x.type === "save-vote" && x.vote.term === 1));
  assert.equal(voteSends(n.commands).length, 0, "nothing sent before the vote is durable");
  assert.equal(c.delivered.length, 0);
  assert.equal(st(c, 1).role, "candidate");
  n.flush();
  c.run();
  assert.deepEqual(
    voteSends(n.commands).map((x) => x.type === "send" && x.to),
    [2, 3],
  );
  assert.equal(st(c, 1).role, "leader");
});

test("engine/election: pre-votes go out at once but the election waits for the durable vote", () => {
  const c = new TestCluster([1, 2, 3]);
  const n = c.node(1);
  n.autoFlush = false;
  n.engine.triggerElect();
  c.run();
  const preVotes = n.commands.filter((x) => x.type === "send" && x.message.type === "pre-vote");
  assert.equal(preVotes.length, 2);
  assert.equal(st(c, 1).term, 1, "won the pre-vote, raised the term");
  assert.equal(voteSends(n.commands).length, 0);
  assert.deepEqual(n.durableVote.term, 0);
  n.flush();
  c.run();
  assert.equal(voteSends(n.commands).length, 2);
});

test("engine/election: a candidate does not count its own vote until it is durable", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, preVote: false });
  const n = c.node(1);
  n.autoFlush = false;
  n.engine.triggerElect();
  c.process();
  // Grants from both peers (e.g. answering a retransmission) do not suffice without its own.
  n.engine.receive(2, { type: "vote-response", term: 1, granted: true });
  n.engine.receive(3, { type: "vote-response", term: 1, granted: true });
  c.process();
  assert.equal(st(c, 1).role, "candidate");
  n.flush();
  c.process();
  assert.equal(st(c, 1).role, "leader");
});

test("engine/election: a vote reply is emitted only once the vote is durable", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, preVote: false });
  c.isolate(3);
  const voter = c.node(2);
  voter.autoFlush = false;
  c.elect(1);
  assert.deepEqual(voter.vote, vote(1, 1), "written");
  assert.deepEqual(voter.durableVote, vote(0), "not durable");
  assert.equal(voter.commands.some((x) => x.type === "reply"), false);
  assert.equal(st(c, 1).role, "candidate");
  voter.flush();
  c.run();
  assert.equal(st(c, 1).role, "leader");
  const replies = voter.commands.filter((x) => x.type === "reply");
  assert.ok(replies[0]?.type === "reply" && replies[0].message.type === "vote-response");
});

test("engine/election: a voter that crashes before its vote is durable never answered it", () => {
  const c = new TestCluster([1, 2, 3], { ...TEST_CONFIG, preVote: false });
  c.isolate(3);
  const voter = c.node(2);
  voter.autoFlush = false;
  c.elect(1);
  voter.crashAndRestart(c.now, MEMBERS_123);
  voter.autoFlush = true;
  c.run();
  assert.deepEqual(st(c, 2).vote, vote(0));
  assert.equal(st(c, 1).role, "candidate", "1 never got the vote");
  // After restart it may vote for anybody in term 1: it promised nothing.
  const t = deliver(c, 3, 2, voteReq(1, 3, null));
  assert.equal(voteReply(voter, t).granted, true);
});

// ---- single node, initialize ------------------------------------------------------------------

test("engine/election: a single-node cluster elects itself and commits", () => {
  const c = new TestCluster([1]);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 1 });
  const r = c.propose(1, 5, 6);
  assert.deepEqual(r, { ok: true, term: 1, firstIndex: 2 });
  assert.deepEqual(st(c, 1).committed, { term: 1, index: 3 });
  assert.deepEqual(c.node(1).applied.map((e) => e.index), [1, 2, 3]);
  assert.equal(c.node(1).commands.some((x) => x.type === "send" || x.type === "replicate"), false);
});

test("engine/election: a single-node cluster elects itself on its election timeout", () => {
  const c = new TestCluster([1]);
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  assert.equal(st(c, 1).role, "leader");
  assert.equal(st(c, 1).term, 1);
  c.advance(2000);
  assert.equal(st(c, 1).role, "leader", "check-quorum keeps a single voter leading");
  assert.equal(st(c, 1).term, 1);
});

function blankEngine(id: NodeId, init: { vote?: Vote } = {}): RaftEngine {
  return new RaftEngine({
    id,
    config: TEST_CONFIG,
    random: { int: (min) => min },
    now: 0,
    ...init,
  });
}

/** Flushes every storage command until the engine emits no more. */
function settle(e: RaftEngine): Command[] {
  const all: Command[] = [];
  for (let i = 0; i < 20; i++) {
    const cmds = e.takeCommands();
    if (cmds.length === 0) break;
    all.push(...cmds);
    let io = 0;
    for (const x of cmds) if ("io" in x) io = x.io;
    if (io > 0) e.flushed(io);
  }
  return all;
}

test("engine/election: initialize a single voter: membership at (0,1), leader at term 1", () => {
  const e = blankEngine(1);
  assert.equal(e.status().role, "learner");
  const r = e.initialize(membershipOf([1]));
  assert.deepEqual(r, { ok: true, logId: { term: 0, index: 1 } });
  const cmds = settle(e);
  const first = cmds.find((x) => x.type === "append-log");
  assert.ok(first?.type === "append-log");
  assert.deepEqual(first.entries.map((x) => [x.index, x.term, x.type]), [[1, 0, "membership"]]);
  const s = e.status();
  assert.equal(s.role, "leader");
  assert.equal(s.term, 1);
  assert.deepEqual(e.logIds(), [{ term: 0, index: 1 }, { term: 1, index: 2 }]);
  assert.deepEqual(s.committed, { term: 1, index: 2 });
  assert.ok(cmds.some((x) => x.type === "apply" && x.first === 1 && x.last.index === 2));
});

test("engine/election: initialize refuses an already-initialized node", () => {
  const e = blankEngine(1);
  assert.equal(e.initialize(membershipOf([1, 2, 3])).ok, true);
  const again = e.initialize(membershipOf([1, 2, 3]));
  assert.ok(!again.ok && again.reason === "already-initialized");
  // A node with a term, or with a membership recovered from storage, is initialized too.
  const voted = blankEngine(1, { vote: vote(3) });
  const r2 = voted.initialize(membershipOf([1]));
  assert.ok(!r2.ok && r2.reason === "already-initialized");
  assert.deepEqual(voted.takeCommands(), []);
  const c = new TestCluster([1, 2, 3]);
  const r3 = c.node(1).engine.initialize(membershipOf([1, 2, 3]));
  assert.ok(!r3.ok && r3.reason === "already-initialized");
});

test("engine/election: initialize refuses a membership without this node, changing nothing", () => {
  const e = blankEngine(1);
  const r = e.initialize(membershipOf([2, 3]));
  assert.ok(!r.ok && r.reason === "not-in-members");
  assert.deepEqual(e.takeCommands(), []);
  assert.deepEqual(e.logIds(), []);
  assert.equal(e.status().role, "learner");
  assert.equal(e.initialize(membershipOf([1, 2])).ok, true, "still blank: can initialize");
});

test("engine/election: initialized as a learner, a node does not campaign", () => {
  const e = blankEngine(4);
  assert.equal(e.initialize(membershipOf([1, 2, 3], [4])).ok, true);
  const cmds = settle(e);
  assert.equal(cmds.some((x) => x.type === "send" || x.type === "save-vote"), false);
  assert.equal(e.status().role, "learner");
  assert.equal(e.nextDeadline(), Infinity);
  e.tick(10_000);
  assert.deepEqual(e.takeCommands(), []);
});
