import { test } from "node:test";
import assert from "node:assert/strict";
import { LeaderState } from "../../src/engine/leader_state.ts";

test("leader state: a new leadership starts at round 1, sent when it took office", () => {
  const leader = new LeaderState(1000, 1050);
  assert.equal(leader.round, 1);
  assert.equal(leader.roundSentAt.get(1), 1000);
  assert.equal(leader.quorumRound, 0);
  assert.equal(leader.quorumAckAt, -Infinity);
  assert.equal(leader.leaderSince, 1000);
  assert.equal(leader.heartbeatDue, 1050);
  assert.equal(leader.progress.size, 0);
  assert.equal(leader.transfer, null);
  assert.equal(leader.pendingFinal, null);
});

test("leader state: syncProgress keeps existing progress, drops the others, adds in order", () => {
  const leader = new LeaderState(0, 50);
  leader.syncProgress(new Set([3, 2]), 5);
  assert.deepEqual([...leader.progress.keys()], [3, 2]);
  const three = leader.progress.get(3)!;
  three.onMatch(4);
  leader.syncProgress(new Set([4, 3]), 9);
  assert.deepEqual([...leader.progress.keys()], [3, 4]);
  assert.equal(leader.progress.get(3), three, "an existing peer keeps its progress");
  assert.equal(leader.progress.get(4)!.next, 9);
});

test("leader state: the check-quorum deadline counts from office until a quorum acks", () => {
  const leader = new LeaderState(100, 150);
  assert.equal(leader.checkQuorumDeadline(300), 400);
  leader.quorumAckAt = 250;
  assert.equal(leader.checkQuorumDeadline(300), 550);
});

test("leader state: pending reads are listed waiting-for-a-round first", () => {
  const leader = new LeaderState(0, 50);
  leader.reads.push({ token: 2, index: 7, round: 3 });
  leader.readsAwaitingCommit.push({ token: 1, policy: "lease" });
  leader.reads.push({ token: 4, index: 7, round: 4 });
  assert.deepEqual(leader.pendingReads().map((r) => r.token), [2, 4, 1]);
});
