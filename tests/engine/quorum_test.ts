import { test } from "node:test";
import assert from "node:assert/strict";
import { hasQuorum, quorumValue } from "../../src/engine/quorum.ts";
import type { NodeId } from "../../src/types.ts";

/** Every subset of `ids`. */
function subsets(ids: NodeId[]): NodeId[][] {
  const out: NodeId[][] = [];
  for (let mask = 0; mask < 1 << ids.length; mask++) {
    out.push(ids.filter((_, i) => (mask & (1 << i)) !== 0));
  }
  return out;
}

test("engine/quorum: hasQuorum with 1 voter needs that voter", () => {
  assert.equal(hasQuorum([[1]], new Set([1])), true);
  assert.equal(hasQuorum([[1]], new Set()), false);
  assert.equal(hasQuorum([[1]], new Set([2, 3])), false);
});

test("engine/quorum: hasQuorum with 2 voters needs both", () => {
  assert.equal(hasQuorum([[1, 2]], new Set([1, 2])), true);
  assert.equal(hasQuorum([[1, 2]], new Set([1])), false);
  assert.equal(hasQuorum([[1, 2]], new Set([2])), false);
});

test("engine/quorum: hasQuorum with 3 voters needs any 2", () => {
  assert.equal(hasQuorum([[1, 2, 3]], new Set([1, 3])), true);
  assert.equal(hasQuorum([[1, 2, 3]], new Set([2, 3])), true);
  assert.equal(hasQuorum([[1, 2, 3]], new Set([3])), false);
});

test("engine/quorum: hasQuorum with 4 voters needs 3 (half is not a majority)", () => {
  assert.equal(hasQuorum([[1, 2, 3, 4]], new Set([1, 2])), false);
  assert.equal(hasQuorum([[1, 2, 3, 4]], new Set([3, 4])), false);
  assert.equal(hasQuorum([[1, 2, 3, 4]], new Set([1, 2, 4])), true);
});

test("engine/quorum: hasQuorum agrees with the majority rule on every subset of 1..6 voters", () => {
  for (let n = 1; n <= 6; n++) {
    const voters = Array.from({ length: n }, (_, i) => i + 1);
    for (const s of subsets(voters)) {
      assert.equal(hasQuorum([voters], new Set(s)), s.length * 2 > n, `${n} voters, {${s}}`);
    }
  }
});

test("engine/quorum: hasQuorum with 5 voters needs 3", () => {
  const c = [[1, 2, 3, 4, 5]];
  assert.equal(hasQuorum(c, new Set([1, 2])), false);
  assert.equal(hasQuorum(c, new Set([2, 4, 5])), true);
});

test("engine/quorum: joint config needs a majority of each set", () => {
  const joint = [[1, 2, 3], [2, 3, 4]];
  assert.equal(hasQuorum(joint, new Set([1, 2])), false, "new set {2,3,4} holds only 2");
  assert.equal(hasQuorum(joint, new Set([1, 4])), false, "each set has one");
  assert.equal(hasQuorum(joint, new Set([2, 3])), true);
  assert.equal(hasQuorum(joint, new Set([1, 2, 4])), true);
  const disjoint = [[1, 2, 3], [4, 5, 6]];
  assert.equal(hasQuorum(disjoint, new Set([1, 2, 3])), false, "old majority only");
  assert.equal(hasQuorum(disjoint, new Set([4, 5, 6])), false, "new majority only");
  assert.equal(hasQuorum(disjoint, new Set([1, 2, 4, 5])), true);
});

test("engine/quorum: ids outside every voter set (learners) are not counted", () => {
  assert.equal(hasQuorum([[1, 2, 3]], new Set([1, 4, 5, 6])), false);
  assert.equal(hasQuorum([[1, 2, 3], [2, 3, 4]], new Set([2, 5, 6, 7])), false);
  assert.equal(quorumValue([[1, 2, 3]], (id) => id === 4 ? 100 : id === 1 ? 9 : 0), 0);
});

test("engine/quorum: empty config list or an empty voter set decides nothing", () => {
  assert.equal(hasQuorum([], new Set([1, 2, 3])), false);
  assert.equal(hasQuorum([[]], new Set([1])), false);
  assert.equal(hasQuorum([[1], []], new Set([1])), false);
  assert.equal(quorumValue([], () => 5), 0);
  assert.equal(quorumValue([[]], () => 5), 0);
  assert.equal(quorumValue([[1], []], () => 5), 0);
});

test("engine/quorum: quorumValue is the value a majority reached, for 1..5 voters", () => {
  const v = new Map([[1, 10], [2, 8], [3, 6], [4, 4], [5, 2]]);
  const valueOf = (id: NodeId) => v.get(id) ?? 0;
  assert.equal(quorumValue([[1]], valueOf), 10);
  assert.equal(quorumValue([[1, 2]], valueOf), 8);
  assert.equal(quorumValue([[1, 2, 3]], valueOf), 8);
  assert.equal(quorumValue([[1, 2, 3, 4]], valueOf), 6);
  assert.equal(quorumValue([[1, 2, 3, 4, 5]], valueOf), 6);
  // Order of ids must not matter.
  assert.equal(quorumValue([[5, 3, 1, 4, 2]], valueOf), 6);
  assert.equal(quorumValue([[4, 5]], valueOf), 2);
});

test("engine/quorum: quorumValue matches hasQuorum of the voters at or above it", () => {
  // Exhaustive over small value assignments: the result r is reached by a
  // majority, and r + 1 is not.
  const voters = [1, 2, 3, 4];
  for (let code = 0; code < 4 ** voters.length; code++) {
    const vals = voters.map((_, i) => Math.floor(code / 4 ** i) % 4);
    const valueOf = (id: NodeId) => vals[id - 1]!;
    for (const set of [voters, [1, 2, 3], [2, 3], [4]]) {
      const r = quorumValue([set], valueOf);
      const atLeast = (x: number) => new Set(set.filter((id) => valueOf(id) >= x));
      assert.equal(hasQuorum([set], atLeast(r)), true, `${vals} ${set} r=${r}`);
      assert.equal(hasQuorum([set], atLeast(r + 1)), false, `${vals} ${set} r+1`);
    }
  }
});

test("engine/quorum: quorumValue of a joint config is the lower of both majorities", () => {
  const v = new Map([[1, 9], [2, 9], [3, 1], [4, 1], [5, 1]]);
  const valueOf = (id: NodeId) => v.get(id) ?? 0;
  // Old {1,2,3} reached 9; new {3,4,5} only 1: the joint value is 1.
  assert.equal(quorumValue([[1, 2, 3], [3, 4, 5]], valueOf), 1);
  assert.equal(quorumValue([[3, 4, 5], [1, 2, 3]], valueOf), 1);
  assert.equal(quorumValue([[1, 2, 3], [1, 2, 4]], valueOf), 9);
});
