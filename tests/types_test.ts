import { test } from "node:test";
import assert from "node:assert/strict";
import {
  compareLogId,
  EMPTY_MEMBERSHIP,
  INITIAL_VOTE,
  isNodeId,
  isVoter,
  learnersOf,
  type LogId,
  logId,
  logIdEquals,
  type Membership,
  membershipOf,
  votersOf,
} from "../src/types.ts";

test("types: isNodeId accepts non-negative safe integers only", () => {
  for (const ok of [0, 1, 42, Number.MAX_SAFE_INTEGER]) assert.equal(isNodeId(ok), true, `${ok}`);
  for (
    const bad of [-1, 1.5, NaN, Infinity, Number.MAX_SAFE_INTEGER + 1, "1", null, undefined, 1n, {}]
  ) {
    assert.equal(isNodeId(bad), false, String(bad));
  }
});

test("types: logId builds a LogId", () => {
  assert.deepEqual(logId(2, 7), { term: 2, index: 7 });
});

test("types: compareLogId orders by term, then index", () => {
  assert.ok(compareLogId(logId(2, 1), logId(1, 9)) > 0);
  assert.ok(compareLogId(logId(1, 9), logId(2, 1)) < 0);
  assert.ok(compareLogId(logId(1, 2), logId(1, 3)) < 0);
  assert.ok(compareLogId(logId(1, 3), logId(1, 2)) > 0);
  assert.equal(compareLogId(logId(3, 3), logId(3, 3)), 0);
});

test("types: compareLogId sorts null (the empty log) first", () => {
  assert.equal(compareLogId(null, null), 0);
  assert.ok(compareLogId(null, logId(0, 1)) < 0);
  assert.ok(compareLogId(logId(0, 1), null) > 0);
  const ids: (LogId | null)[] = [logId(2, 5), null, logId(1, 7), logId(2, 3), logId(1, 1)];
  assert.deepEqual(ids.sort(compareLogId), [
    null,
    logId(1, 1),
    logId(1, 7),
    logId(2, 3),
    logId(2, 5),
  ]);
});

test("types: logIdEquals compares by value, null included", () => {
  assert.equal(logIdEquals(logId(1, 2), { term: 1, index: 2 }), true);
  assert.equal(logIdEquals(logId(1, 2), logId(1, 3)), false);
  assert.equal(logIdEquals(logId(1, 2), logId(2, 2)), false);
  assert.equal(logIdEquals(null, null), true);
  assert.equal(logIdEquals(null, logId(0, 0)), false);
  assert.equal(logIdEquals(logId(0, 0), null), false);
});

test("types: membershipOf sorts and de-duplicates voters and records learners", () => {
  const m = membershipOf([3, 1, 2, 3], [5, 4]);
  assert.deepEqual(m.configs, [[1, 2, 3]]);
  assert.deepEqual([...m.nodes.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5]);
  assert.deepEqual(m.nodes.get(4), { addr: "" });
});

test("types: membershipOf takes addresses from the map", () => {
  const m = membershipOf(
    [1, 2],
    [3],
    new Map([[1, { addr: "http://a" }], [3, { addr: "http://c" }]]),
  );
  assert.deepEqual(m.nodes.get(1), { addr: "http://a" });
  assert.deepEqual(m.nodes.get(2), { addr: "" });
  assert.deepEqual(m.nodes.get(3), { addr: "http://c" });
});

test("types: votersOf is the ascending union of every voter set", () => {
  assert.deepEqual(votersOf(membershipOf([2, 1])), [1, 2]);
  const joint: Membership = {
    configs: [[1, 2, 3], [3, 4, 5]],
    nodes: new Map([1, 2, 3, 4, 5, 6].map((id) => [id, { addr: "" }])),
    clusterId: "",
  };
  assert.deepEqual(votersOf(joint), [1, 2, 3, 4, 5]);
  assert.deepEqual(votersOf(EMPTY_MEMBERSHIP), []);
});

test("types: learnersOf lists nodes in no voter set, ascending", () => {
  assert.deepEqual(learnersOf(membershipOf([1], [5, 2])), [2, 5]);
  assert.deepEqual(learnersOf(membershipOf([1, 2])), []);
  const joint: Membership = {
    configs: [[1, 2], [2, 3]],
    nodes: new Map([4, 3, 2, 1].map((id) => [id, { addr: "" }])),
    clusterId: "",
  };
  assert.deepEqual(learnersOf(joint), [4]);
  assert.deepEqual(learnersOf(EMPTY_MEMBERSHIP), []);
});

test("types: isVoter is true in any voter set, false for learners and strangers", () => {
  const joint: Membership = {
    configs: [[1, 2], [2, 3]],
    nodes: new Map([1, 2, 3, 4].map((id) => [id, { addr: "" }])),
    clusterId: "",
  };
  assert.equal(isVoter(joint, 1), true);
  assert.equal(isVoter(joint, 2), true);
  assert.equal(isVoter(joint, 3), true);
  assert.equal(isVoter(joint, 4), false, "learner");
  assert.equal(isVoter(joint, 9), false, "not a member");
  assert.equal(isVoter(EMPTY_MEMBERSHIP, 1), false);
});

test("types: INITIAL_VOTE and EMPTY_MEMBERSHIP are the frozen empty values", () => {
  assert.deepEqual(INITIAL_VOTE, { term: 0, votedFor: null, committed: false });
  assert.ok(Object.isFrozen(INITIAL_VOTE));
  assert.ok(Object.isFrozen(EMPTY_MEMBERSHIP));
  assert.equal(EMPTY_MEMBERSHIP.configs.length, 0);
  assert.equal(EMPTY_MEMBERSHIP.nodes.size, 0);
});
