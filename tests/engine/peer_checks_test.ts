// Checks every peer message passes first (src/engine/peer_checks.ts): the cluster id of
// every request, and terms no real cluster reaches. A refused request changes nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RaftMessage } from "../../src/messages.ts";
import { MAX_PEER_TERM, MAX_TERM, membershipOf, type NodeId } from "../../src/types.ts";
import { inject, replyOf, TEST_CONFIG, TestCluster } from "./_cluster.ts";
import { largestPeerTerm, PEER_TERM_SLACK } from "../../src/engine/peer_checks.ts";

const CLUSTER = "5f2c9a01d4e8b7c6";

function cluster(): TestCluster {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    membership: membershipOf([1, 2, 3], [], new Map(), CLUSTER),
  });
  c.elect(1);
  c.advance(TEST_CONFIG.heartbeatInterval);
  return c;
}

function refusalOf(c: TestCluster, id: NodeId, token: number) {
  for (const cmd of c.node(id).commands) {
    if (cmd.type === "refuse" && cmd.token === token) return cmd.refusal;
  }
  return undefined;
}

function snapshotState(c: TestCluster, id: NodeId) {
  const s = c.node(id).engine.status();
  return { role: s.role, term: s.term, leader: s.leaderId, log: c.node(id).terms() };
}

test("engine/peer checks: every request a node sends carries its cluster's id", () => {
  const c = cluster();
  c.propose(1, 7);
  c.node(1).engine.transferLeader(2);
  c.run();
  const requests = c.delivered.filter((e) =>
    e.message.type === "append" || e.message.type === "vote" ||
    e.message.type === "pre-vote" || e.message.type === "timeout-now"
  );
  assert.ok(requests.length > 0);
  const types = new Set(requests.map((e) => e.message.type));
  for (const t of ["append", "pre-vote", "vote", "timeout-now"]) {
    assert.ok(types.has(t as never), t);
  }
  for (const e of requests) {
    assert.equal((e.message as { clusterId: string }).clusterId, CLUSTER, e.message.type);
  }
});

test("engine/peer checks: a request of another cluster is refused and changes nothing", () => {
  const c = cluster();
  const requests: RaftMessage[] = [
    {
      type: "append",
      term: 9,
      leaderId: 7,
      prevLogId: null,
      entries: [{
        term: 9,
        index: 1,
        type: "membership",
        membership: membershipOf([7], [], new Map(), "other"),
      }],
      leaderCommit: 1,
      round: 1,
      clusterId: "other",
    },
    { type: "vote", term: 9, candidateId: 7, lastLogId: null, transfer: true, clusterId: "other" },
    { type: "pre-vote", term: 9, candidateId: 7, lastLogId: null, transfer: false, clusterId: "" },
    { type: "timeout-now", term: 1, leaderId: 1, clusterId: "other" },
  ];
  for (const to of [1, 2] as const) {
    for (const request of requests) {
      const before = snapshotState(c, to);
      const token = inject(c, 7, to, request);
      c.process();
      assert.deepEqual(refusalOf(c, to, token), {
        kind: "cluster-mismatch",
        expected: CLUSTER,
        got: request.type === "pre-vote" ? "" : "other",
        from: 7,
      }, `${request.type} to ${to}`);
      assert.equal(replyOf(c.node(to), token), undefined, "no reply besides the refusal");
      assert.deepEqual(snapshotState(c, to), before, `${request.type} to ${to} changed nothing`);
    }
  }
  c.run();
  assert.deepEqual(c.leaders(), [1]);
});

test("engine/peer checks: a blank node takes the id of the cluster that adds it, then refuses others", () => {
  const c = cluster();
  const fresh = c.addNode(4);
  // Another cluster's request reaches the blank node first: accepted (it belongs nowhere yet).
  const t0 = inject(c, 9, 4, {
    type: "pre-vote",
    term: 3,
    candidateId: 9,
    lastLogId: null,
    transfer: false,
    clusterId: "other",
  });
  c.process();
  assert.equal(refusalOf(c, 4, t0), undefined);
  assert.equal(replyOf(fresh, t0)?.type, "pre-vote-response");
  // Cluster CLUSTER adds node 4 as a learner: its first entry (the membership) carries the id.
  const r = c.node(1).engine.changeMembership(membershipOf([1, 2, 3], [4], new Map(), ""));
  assert.ok(r.ok);
  c.run();
  assert.equal(fresh.engine.effectiveMembership().membership.clusterId, CLUSTER);
  assert.deepEqual(fresh.terms(), c.node(1).terms());
  const t1 = inject(c, 9, 4, {
    type: "pre-vote",
    term: 3,
    candidateId: 9,
    lastLogId: null,
    transfer: false,
    clusterId: "other",
  });
  c.process();
  assert.equal(refusalOf(c, 4, t1)?.kind, "cluster-mismatch");
});

test("engine/peer checks: a membership change keeps the cluster id, even if the target has none", () => {
  const c = cluster();
  const r = c.node(1).engine.changeMembership(membershipOf([1, 2], [], new Map(), "changed"));
  assert.ok(r.ok);
  c.run();
  c.advance(TEST_CONFIG.heartbeatInterval * 3);
  for (const id of [1, 2, 3]) {
    assert.equal(c.node(id).engine.effectiveMembership().membership.clusterId, CLUSTER);
  }
  assert.deepEqual(c.node(1).engine.effectiveMembership().membership.configs, [[1, 2]]);
});

test("engine/peer checks: terms above the largest a peer may send are refused in requests and dropped in responses", () => {
  const c = cluster();
  const max = MAX_PEER_TERM + PEER_TERM_SLACK;
  assert.equal(largestPeerTerm(c.node(2).engine.status().term), max);
  const huge = max + 1;
  const before = snapshotState(c, 2);
  const token = inject(c, 1, 2, {
    type: "append",
    term: huge,
    leaderId: 1,
    prevLogId: null,
    entries: [],
    leaderCommit: 0,
    round: 1,
    clusterId: CLUSTER,
  });
  c.process();
  assert.deepEqual(refusalOf(c, 2, token), { kind: "term-too-high", term: huge, max });
  assert.deepEqual(snapshotState(c, 2), before);
  c.node(1).engine.receive(2, { type: "vote-response", term: huge, granted: false });
  c.process();
  assert.equal(c.node(1).engine.status().role, "leader");
  assert.equal(c.node(1).engine.status().term, 1);
  // The largest term a peer may send is taken as usual, and leaves room for elections.
  const t = inject(c, 3, 2, {
    type: "vote",
    term: MAX_PEER_TERM,
    candidateId: 3,
    lastLogId: c.node(3).engine.status().lastLogId,
    transfer: true,
    clusterId: CLUSTER,
  });
  c.process();
  assert.equal(refusalOf(c, 2, t), undefined);
  assert.equal(c.node(2).engine.status().term, MAX_PEER_TERM);
  assert.ok(MAX_TERM - MAX_PEER_TERM >= 2 ** 32);
});

test("engine/peer checks: a cluster pushed to MAX_PEER_TERM by one message still elects leaders above it, a lagging node included", () => {
  const c = cluster();
  c.propose(1, 2);
  c.run();
  // A forged append at the largest term a peer may send (from the leader's id) reaches 2 only.
  const last = c.node(2).engine.status().lastLogId;
  const token = inject(c, 1, 2, {
    type: "append",
    term: MAX_PEER_TERM,
    leaderId: 1,
    prevLogId: last,
    entries: [],
    leaderCommit: last?.index ?? 0,
    round: 1,
    clusterId: CLUSTER,
  });
  c.process();
  assert.equal(refusalOf(c, 2, token), undefined);
  assert.equal(c.node(2).engine.status().term, MAX_PEER_TERM);
  // 3 lags (hears nothing) while 1 and 2 elect leaders, term after term, above MAX_PEER_TERM.
  c.isolate(3);
  for (let i = 0; i < 3; i++) {
    c.advance(TEST_CONFIG.electionTimeoutMax * 4);
    c.run();
  }
  const leaders = c.leaders();
  assert.equal(leaders.length, 1, `one leader: ${leaders}`);
  const term = c.node(leaders[0]!).engine.status().term;
  assert.ok(term > MAX_PEER_TERM, `elected at ${term}`);
  // 3 comes back: it takes the leader's term and follows.
  c.heal();
  c.advance(TEST_CONFIG.electionTimeoutMax * 2);
  c.run();
  assert.equal(c.node(3).engine.status().leaderId, c.leaders()[0]);
  assert.ok(c.node(3).engine.status().term > MAX_PEER_TERM);
});

test("engine/peer checks: a node at MAX_TERM does not campaign (no term past it is ever made)", () => {
  const c = new TestCluster([1, 2, 3], TEST_CONFIG, {
    votes: new Map([[1, { term: MAX_TERM, votedFor: null, committed: false }]]),
  });
  c.isolate(2);
  c.isolate(3);
  c.node(1).engine.triggerElect();
  c.advance(TEST_CONFIG.electionTimeoutMax * 3);
  assert.equal(c.node(1).engine.status().term, MAX_TERM);
  assert.notEqual(c.node(1).engine.status().role, "leader");
  for (const e of c.delivered.concat(c.queue)) {
    assert.ok(e.message.term <= MAX_TERM, `${e.message.type} at term ${e.message.term}`);
  }
});

test("engine/transfer: a TimeoutNow is refused by a follower that knows no leader in its term", () => {
  const c = cluster();
  // Node 2 restarts: it keeps its term but knows no leader until the next append.
  c.node(2).crashAndRestart(c.now);
  const before = snapshotState(c, 2);
  const t = inject(c, 1, 2, { type: "timeout-now", term: 1, leaderId: 1, clusterId: CLUSTER });
  c.process();
  assert.deepEqual(replyOf(c.node(2), t), {
    type: "timeout-now-response",
    term: 1,
    accepted: false,
  });
  assert.deepEqual(snapshotState(c, 2), before);
});

test("engine/peer checks: an append whose entries conflict with committed ones stops the node (fatal log-diverged), truncating nothing", () => {
  const c = cluster();
  c.propose(1, 7, 8);
  c.run();
  c.advance(TEST_CONFIG.heartbeatInterval);
  const follower = c.node(2);
  const log = follower.terms();
  const commit = follower.engine.status().committed!;
  assert.ok(commit.index >= 3, `commit ${commit.index}`);
  // Same cluster, a newer term, claims to lead: replaces index 2 (committed) by an entry of
  // its own term — what a node of a second cluster sharing the id would send.
  const token = inject(c, 3, 2, {
    type: "append",
    term: 2,
    leaderId: 3,
    prevLogId: { term: 1, index: 1 },
    entries: [{ term: 2, index: 2, type: "normal", data: new Uint8Array([9]) }],
    leaderCommit: 0,
    round: 1,
    clusterId: CLUSTER,
  });
  c.process();
  const reply = replyOf(follower, token);
  assert.ok(reply === undefined || (reply.type === "append-response" && !reply.success));
  assert.deepEqual(follower.fatal, {
    kind: "log-diverged",
    index: 2,
    committed: commit.index,
    ownTerm: 1,
    leaderTerm: 2,
    leaderId: 3,
    term: 2,
  });
  assert.ok(
    !follower.commands.some((cmd) => cmd.type === "truncate-log"),
    "nothing is truncated",
  );
  assert.deepEqual(follower.terms(), log);
  assert.deepEqual(follower.engine.status().committed, commit);
  const second = follower.entry(2);
  assert.ok(!(second?.type === "normal" && second.data[0] === 9), "the forged entry is not stored");
});

test("engine/peer checks: a prevLogId that conflicts with a committed entry stops the node; above the commit index it is an ordinary rejection", () => {
  const c = cluster();
  c.propose(1, 7, 8);
  c.run();
  c.advance(TEST_CONFIG.heartbeatInterval);
  const follower = c.node(2);
  const log = follower.terms();
  const commit = follower.engine.status().committed!.index;
  // Above the commit index (a longer log of another term): rejected with a hint, not fatal.
  const above = inject(c, 3, 2, {
    type: "append",
    term: 2,
    leaderId: 3,
    prevLogId: { term: 2, index: commit + 5 },
    entries: [],
    leaderCommit: 0,
    round: 1,
    clusterId: CLUSTER,
  });
  c.process();
  const r = replyOf(follower, above);
  assert.ok(r?.type === "append-response" && !r.success);
  assert.equal(follower.fatal, null);
  // At the commit index, with another term: fatal.
  inject(c, 3, 2, {
    type: "append",
    term: 2,
    leaderId: 3,
    prevLogId: { term: 2, index: commit },
    entries: [{ term: 2, index: commit + 1, type: "blank" }],
    leaderCommit: commit + 1,
    round: 2,
    clusterId: CLUSTER,
  });
  c.process();
  assert.deepEqual(c.node(2).fatal, {
    kind: "log-diverged",
    index: commit,
    committed: commit,
    ownTerm: 1,
    leaderTerm: 2,
    leaderId: 3,
    term: 2,
  });
  assert.deepEqual(follower.terms(), log);
  assert.equal(follower.engine.status().committed!.index, commit);
});

// ---- senders that are not members (refused as `not-a-member`, HTTP 410) ------------------

test("engine/peer checks: a non-member's request that would be refused anyway is refused as not-a-member, changing nothing", () => {
  const c = cluster();
  c.propose(1, 3);
  c.run();
  c.advance(TEST_CONFIG.heartbeatInterval);
  const last = c.node(2).engine.status().lastLogId!;
  const older = { term: last.term, index: last.index - 1 };
  const requests: RaftMessage[] = [
    // An older log than 2's: a vote 2 would not grant (whatever its term), a pre-vote too.
    { type: "vote", term: 9, candidateId: 7, lastLogId: older, transfer: true, clusterId: CLUSTER },
    {
      type: "pre-vote",
      term: 2,
      candidateId: 7,
      lastLogId: null,
      transfer: false,
      clusterId: CLUSTER,
    },
    // As up to date, but 2 hears from its leader: its lease refuses.
    { type: "vote", term: 5, candidateId: 7, lastLogId: last, transfer: false, clusterId: CLUSTER },
    {
      type: "pre-vote",
      term: 2,
      candidateId: 7,
      lastLogId: last,
      transfer: false,
      clusterId: CLUSTER,
    },
    // An older term than 2's.
    {
      type: "append",
      term: 0,
      leaderId: 7,
      prevLogId: null,
      entries: [],
      leaderCommit: 0,
      round: 1,
      clusterId: CLUSTER,
    },
    { type: "timeout-now", term: 0, leaderId: 7, clusterId: CLUSTER },
  ];
  for (const request of requests) {
    const before = snapshotState(c, 2);
    const token = inject(c, 7, 2, request);
    c.process();
    assert.deepEqual(refusalOf(c, 2, token), { kind: "not-a-member", from: 7 }, request.type);
    assert.equal(replyOf(c.node(2), token), undefined);
    assert.deepEqual(snapshotState(c, 2), before, `${request.type} changed nothing`);
  }
  // A member's request that fails the same way is answered as usual (refused, not 410).
  const token = inject(c, 3, 2, {
    type: "pre-vote",
    term: 2,
    candidateId: 3,
    lastLogId: null,
    transfer: false,
    clusterId: CLUSTER,
  });
  c.process();
  assert.equal(refusalOf(c, 2, token), undefined);
  assert.equal(replyOf(c.node(2), token)?.type, "pre-vote-response");
});

test("engine/peer checks: a member the node has not heard of yet is not refused (its appends, its newer log's votes)", () => {
  const c = cluster();
  // 2 lags: it never hears of 4 being added (cut from 1 and 3, not from 4).
  c.cut(1, 2);
  c.cut(3, 2);
  const fresh = c.addNode(4);
  assert.ok(c.node(1).engine.changeMembership(membershipOf([1, 3], [4], new Map(), "")).ok);
  c.run();
  assert.ok(!c.node(2).engine.effectiveMembership().membership.nodes.has(4));
  const newer = fresh.engine.status().lastLogId;
  assert.ok(newer !== null && newer.index > c.node(2).engine.status().lastLogId!.index);
  // A vote from 4 with its newer log, at a higher term: handled by the protocol (granted).
  const vote = inject(c, 4, 2, {
    type: "vote",
    term: 5,
    candidateId: 4,
    lastLogId: newer,
    transfer: true,
    clusterId: CLUSTER,
  });
  c.process();
  assert.equal(refusalOf(c, 2, vote), undefined);
  // An append from 4 as leader of that term: handled too (2 answers it).
  const append = inject(c, 4, 2, {
    type: "append",
    term: 5,
    leaderId: 4,
    prevLogId: null,
    entries: [],
    leaderCommit: 0,
    round: 1,
    clusterId: CLUSTER,
  });
  c.process();
  assert.equal(refusalOf(c, 2, append), undefined);
  assert.equal(c.node(2).engine.status().leaderId, 4, "2 follows 4");
});

test("engine/peer checks: while a membership change is in flight nobody is refused as not-a-member", () => {
  const c = cluster();
  // 1 appends a configuration adding 4 but cannot commit it: 2 and 3 hear nothing.
  c.cut(1, 2);
  c.cut(1, 3);
  assert.ok(c.node(1).engine.changeMembership(membershipOf([1, 2, 3], [4], new Map(), "")).ok);
  c.process();
  const m = c.node(1).engine.status();
  assert.ok(m.committed!.index < c.node(1).engine.effectiveMembership().logId!.index);
  // Even a stale request of a stranger is left to the protocol (refused there, not 410).
  const token = inject(c, 7, 1, {
    type: "timeout-now",
    term: 0,
    leaderId: 7,
    clusterId: CLUSTER,
  });
  c.process();
  assert.equal(refusalOf(c, 1, token), undefined);
  assert.equal(c.node(1).engine.status().role, "leader", "and it changed nothing");
});
