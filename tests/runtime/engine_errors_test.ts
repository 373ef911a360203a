// engine_errors: every refusal the engine can give maps to the RaftError the API documents.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { AdminResult } from "../../src/engine/commands.ts";
import {
  AlreadyInitialized,
  ClusterMismatch,
  EmptyMembership,
  ForwardToLeader,
  InProgress,
  InternalError,
  InvalidMessage,
  LearnerNotFound,
  NotAMember,
  NotInMembers,
  QuorumNotEnough,
} from "../../src/errors.ts";
import {
  adminError,
  forwardToLeader,
  proposeError,
  readError,
  refusalError,
} from "../../src/runtime/engine_errors.ts";
import { membershipOf, type NodeId, type RaftNode } from "../../src/types.ts";

const nodes = new Map<NodeId, RaftNode>([[1, { addr: "a1" }], [2, { addr: "a2" }]]);
const effective = { logId: { term: 3, index: 9 }, membership: membershipOf([1, 2, 3], [4]) };
const committed = { logId: { term: 2, index: 4 }, membership: membershipOf([1, 2, 3]) };
const status = { membership: effective, committedMembership: committed };

test("engine errors: ForwardToLeader names the leader and its address when known", () => {
  const e = forwardToLeader(2, nodes);
  assert.equal(e.leaderId, 2);
  assert.deepEqual(e.leaderNode, { addr: "a2" });
  assert.equal(forwardToLeader(7, nodes).leaderNode, null);
  assert.equal(forwardToLeader(null, nodes).leaderId, null);
});

test("engine errors: a refused proposal forwards to the leader (none while transferring)", () => {
  const notLeader = proposeError({ ok: false, reason: "not-leader", leaderId: 1 }, nodes);
  assert.ok(notLeader instanceof ForwardToLeader);
  assert.equal(notLeader.leaderId, 1);
  const transferring = proposeError({ ok: false, reason: "transferring", leaderId: 1 }, nodes);
  assert.equal(transferring.leaderId, null);
});

test("engine errors: every administrative refusal", () => {
  type Refused = Extract<AdminResult, { ok: false }>;
  const map = (r: Refused, proposed?: ReturnType<typeof membershipOf>) =>
    adminError(r, proposed === undefined ? { nodes, status } : { nodes, status, proposed });

  const fwd = map({ ok: false, reason: "not-leader", leaderId: 2 });
  assert.ok(fwd instanceof ForwardToLeader && fwd.leaderId === 2);
  assert.ok(
    map({ ok: false, reason: "already-initialized", leaderId: null }) instanceof
      AlreadyInitialized,
  );
  const inProgress = map({ ok: false, reason: "in-progress", leaderId: 1 });
  assert.ok(inProgress instanceof InProgress);
  assert.deepEqual(inProgress.committed, committed.logId);
  assert.deepEqual(inProgress.effective, effective.logId);
  assert.ok(map({ ok: false, reason: "empty-membership", leaderId: 1 }) instanceof EmptyMembership);
  assert.ok(map({ ok: false, reason: "invalid", leaderId: 1 }) instanceof InternalError);

  // A transfer to a non-voter names the effective membership's voters.
  const notVoter = map({ ok: false, reason: "not-voter", leaderId: 1, nodeId: 4 });
  assert.ok(notVoter instanceof NotInMembers);
  assert.equal(notVoter.nodeId, 4);
  assert.deepEqual(notVoter.members, [1, 2, 3]);
  // An initialize that leaves this node out names the proposed membership's voters.
  const notIn = map(
    { ok: false, reason: "not-in-members", leaderId: null, nodeId: 9 },
    membershipOf([5, 6]),
  );
  assert.ok(notIn instanceof NotInMembers);
  assert.equal(notIn.nodeId, 9);
  assert.deepEqual(notIn.members, [5, 6]);

  const learner = map({ ok: false, reason: "learner-not-found", leaderId: 1, nodeId: 8 });
  assert.ok(learner instanceof LearnerNotFound);
  assert.equal(learner.nodeId, 8);
});

test("engine errors: failed reads", () => {
  let looked = 0;
  const context = {
    nodes,
    membership: () => {
      looked++;
      return effective.membership;
    },
  };
  const fwd = readError({ kind: "not-leader", leaderId: 1 }, context);
  assert.ok(fwd instanceof ForwardToLeader && fwd.leaderId === 1);
  assert.equal(looked, 0, "the membership is only looked up for a lost quorum");
  const e = readError({ kind: "quorum-lost", acked: [3, 1] }, context);
  assert.ok(e instanceof QuorumNotEnough);
  assert.equal(e.cluster, "[1, 2, 3]");
  assert.deepEqual(e.got, [3, 1], "the voters that answered, as the engine lists them");
  assert.match(e.message, /got \[3, 1\]/);
});

test("engine errors: refused peer requests", () => {
  const mismatch = refusalError({ kind: "cluster-mismatch", expected: "a", got: "b", from: 5 });
  assert.ok(mismatch instanceof ClusterMismatch);
  assert.deepEqual([mismatch.expected, mismatch.got, mismatch.from], ["a", "b", 5]);
  const tooHigh = refusalError({ kind: "term-too-high", term: 99, max: 10 });
  assert.ok(tooHigh instanceof InvalidMessage);
  assert.match(tooHigh.reason, /term 99 exceeds .* 10/);
  const gone = refusalError({ kind: "not-a-member", from: 4 });
  assert.ok(gone instanceof NotAMember);
  assert.equal(gone.nodeId, 4);
  assert.deepEqual(gone.toJSON(), { code: "NotAMember", message: gone.message, nodeId: 4 });
});
