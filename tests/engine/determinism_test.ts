import { test } from "node:test";
import assert from "node:assert/strict";
import type { EngineConfig } from "../../src/engine/commands.ts";
import { membershipOf, type NodeId } from "../../src/types.ts";
import { TEST_CONFIG, TestCluster } from "./_cluster.ts";

/** JSON of every command every node emitted, with Maps and byte arrays spelled out. */
function transcript(c: TestCluster): string {
  const all: Record<string, unknown> = {};
  for (const n of c.nodes.values()) all[n.id] = n.commands;
  return JSON.stringify(all, (_key, value) => {
    if (value instanceof Map) return { map: [...value.entries()] };
    if (value instanceof Uint8Array) return { bytes: [...value] };
    return value;
  });
}

function leaderOf(c: TestCluster): NodeId | undefined {
  return c.leaders().sort((a, b) =>
    c.node(b).engine.status().term - c.node(a).engine.status().term
  )[0];
}

/**
 * A scripted run: elections on timeouts, proposals, a leader partition, a
 * one-way cut, heals, reads and a follower crash, all in virtual time.
 */
function scriptedRun(seed: number, config: EngineConfig = TEST_CONFIG): TestCluster {
  const c = new TestCluster([1, 2, 3, 4, 5], config, { seed });
  let payload = 0;
  let token = 1;
  const proposeOnLeader = (count: number): void => {
    const l = leaderOf(c);
    if (l === undefined) return;
    for (let i = 0; i < count; i++) c.propose(l, payload++ & 0xff);
  };
  c.advance(400);
  proposeOnLeader(3);
  const first = leaderOf(c);
  if (first !== undefined) {
    c.node(first).engine.read([token++], "read-index");
    c.isolate(first);
  }
  c.advance(700);
  proposeOnLeader(4);
  c.heal();
  c.advance(300);
  const l = leaderOf(c);
  const other = l === 1 ? 2 : 1;
  if (l !== undefined) c.cuts.add(`${l}>${other}`);
  proposeOnLeader(2);
  c.advance(600);
  c.heal();
  c.node(4).crashAndRestart(c.now, [{ logId: null, membership: membershipOf([1, 2, 3, 4, 5]) }]);
  c.advance(500);
  proposeOnLeader(5);
  const last = leaderOf(c);
  if (last !== undefined) c.node(last).engine.read([token++, token++], "lease");
  c.advance(500);
  return c;
}

test("engine/determinism: the same seed and events give the same command sequence", () => {
  const a = scriptedRun(42);
  const b = scriptedRun(42);
  const ta = transcript(a);
  assert.equal(transcript(b), ta);
  // The run did exercise the protocol: several terms, commits on every node.
  const terms = [...a.leadersByTerm.keys()];
  assert.ok(terms.length >= 2, `leaders in terms ${terms}`);
  for (const n of a.nodes.values()) {
    assert.ok(n.applied.length >= 5, `node ${n.id} applied ${n.applied.length}`);
    assert.ok(n.commands.length > 20);
  }
  a.assertElectionSafety();
});

test("engine/determinism: a different seed gives a different command sequence", () => {
  const base = transcript(scriptedRun(42));
  let differing = 0;
  for (const seed of [43, 44, 45]) if (transcript(scriptedRun(seed)) !== base) differing++;
  assert.equal(differing, 3);
});

test("engine/determinism: repeated runs agree for several seeds and configurations", () => {
  const configs: EngineConfig[] = [
    TEST_CONFIG,
    { ...TEST_CONFIG, preVote: false },
    { ...TEST_CONFIG, checkQuorum: false, maxPayloadEntries: 2, maxInflight: 2 },
  ];
  for (const config of configs) {
    for (const seed of [1, 7]) {
      assert.equal(
        transcript(scriptedRun(seed, config)),
        transcript(scriptedRun(seed, config)),
        `seed ${seed}, ${JSON.stringify(config)}`,
      );
    }
  }
});

test("engine/determinism: a run uses neither Math.random nor the clock", () => {
  const mathRandom = Math.random;
  const dateNow = Date.now;
  const perfNow = performance.now;
  let calls = 0;
  Math.random = () => {
    calls++;
    return mathRandom();
  };
  Date.now = () => {
    calls++;
    return dateNow();
  };
  performance.now = () => {
    calls++;
    return perfNow.call(performance);
  };
  let c: TestCluster;
  try {
    c = scriptedRun(5);
  } finally {
    Math.random = mathRandom;
    Date.now = dateNow;
    performance.now = perfNow;
  }
  assert.equal(calls, 0);
  assert.ok(c.leadersByTerm.size >= 1);
});
