// Elections on the synchronous TestCluster and on bare engines: randomized
// election deadlines, vote durability ordering, single-node clusters and
// initialize. Scenarios 1, 2, 3, 5, 8, 11 and 12 (basic election, split vote,
// vote restriction, step-down on a higher term, overwritten entries, pre-vote)
// are scripts in testdata/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RaftEngine } from "../../src/engine/engine.ts";
import type { Command, EngineRandom } from "../../src/engine/commands.ts";
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

// ---- randomized election timeouts --------------------------------------------------------

test("engine/election: the election deadline is drawn from [min, max), max exclusive as documented", () => {
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
  assert.equal(high.nextDeadline(), 1299);
  assert.deepEqual(calls[0], [150, 300], "max is exclusive: the draw is [150, 300)");
  high.tick(1298);
  assert.deepEqual(high.takeCommands(), [], "no campaign before the deadline");
  high.tick(1299);
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

test("engine/election: a single voter keeps leading after a tick that comes late (a stalled event loop)", () => {
  // Found by tests/adapters/snapshot_crash_test.ts under load: a single-node leader whose
  // tick came more than electionTimeoutMax after its last heartbeat round stepped down for
  // check-quorum, and its clients' writes were abandoned (OutcomeUnknown).
  const c = new TestCluster([1]);
  c.advance(TEST_CONFIG.electionTimeoutMax + 10);
  assert.equal(st(c, 1).role, "leader");
  c.advance(5 * TEST_CONFIG.electionTimeoutMax, 5 * TEST_CONFIG.electionTimeoutMax);
  assert.equal(st(c, 1).role, "leader");
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
