import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { EmptyMembership, InProgress, LearnerNotFound } from "../../src/errors.ts";
import { learnersOf, votersOf } from "../../src/types.ts";

test("runtime/membership: addLearner (blocking) returns once the learner holds the log", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    for (let i = 0; i < 20; i++) await c.node(leader).clientWrite(kvSet(`k${i}`, enc("v")));
    await c.startNode(4);
    const { logId } = await c.node(leader).addLearner(4, { addr: "n4" });
    const m = c.node(leader).metrics.current;
    assert.deepEqual(learnersOf(m.membership.membership), [4]);
    assert.ok((m.replication!.get(4)!.matched?.index ?? 0) >= logId.index, "learner caught up");
    await c.node(4).metrics.wait({ timeout: 5000 }).appliedAtLeast(logId.index);
    assert.equal(dec(c.machines.get(4)!.get("k19")), "v");
    assert.equal(c.node(4).metrics.current.state, "learner");
  } finally {
    await c.shutdown();
  }
});

test("runtime/membership: replace all voters {1,2,3} -> {2,3,4} under writes", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.startNode(4);
    await c.node(leader).addLearner(4, { addr: "n4" });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) writes.push(c.node(leader).clientWrite(kvSet(`w${i}`, enc("1"))));
    const logId = await c.node(leader).changeMembership({
      type: "replace-all-voters",
      ids: [2, 3, 4],
    });
    await Promise.allSettled(writes);
    const m = c.node(leader).metrics.current;
    assert.deepEqual(m.membership.membership.configs, [[2, 3, 4]], "final, not joint");
    assert.equal(m.membership.logId?.index, logId.index);
    assert.ok(!m.membership.membership.nodes.has(1), "without retain, node 1 leaves");
    // If 1 led, it steps down once the final config commits; the others elect among themselves.
    const newLeader = await c.waitLeader(5000, [2, 3, 4]);
    assert.ok([2, 3, 4].includes(newLeader));
    const r = await c.node(newLeader).clientWrite(kvSet("after", enc("ok")));
    for (const id of [2, 3, 4]) {
      await c.node(id).metrics.wait({ timeout: 5000 }).appliedAtLeast(r.logId.index);
      assert.equal(dec(c.machines.get(id)!.get("after")), "ok");
    }
  } finally {
    await c.shutdown();
  }
});

test("runtime/membership: remove a voter with retain keeps it as a learner", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const victim = [1, 2, 3].find((x) => x !== leader)!;
    await c.node(leader).changeMembership({ type: "remove-voters", ids: [victim] }, {
      retain: true,
    });
    const mm = c.node(leader).metrics.current.membership.membership;
    assert.deepEqual(votersOf(mm), [1, 2, 3].filter((x) => x !== victim));
    assert.deepEqual(learnersOf(mm), [victim]);
    await c.node(victim).metrics.wait({ timeout: 5000 }).role("learner");
  } finally {
    await c.shutdown();
  }
});

test("runtime/membership: errors for invalid changes leave the membership as it was", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    const before = raft.metrics.current.membership;
    await assert.rejects(
      raft.changeMembership({ type: "add-voter-ids", ids: [7] }),
      LearnerNotFound,
    );
    await assert.rejects(
      raft.changeMembership({ type: "remove-voters", ids: [1, 2, 3] }),
      EmptyMembership,
    );
    assert.equal(raft.metrics.current.membership, before);
    // A second change while one is in flight is refused.
    await c.startNode(4);
    const first = raft.changeMembership({
      type: "add-voters",
      nodes: new Map([[4, { addr: "" }]]),
    });
    await assert.rejects(
      raft.changeMembership({ type: "remove-voters", ids: [2] }),
      InProgress,
    );
    await first;
    assert.deepEqual(votersOf(raft.metrics.current.membership.membership), [1, 2, 3, 4]);
  } finally {
    await c.shutdown();
  }
});

test("runtime/metrics: subscribe sees role changes; wait times out with Timeout", async () => {
  const c = new RuntimeCluster();
  try {
    await c.start([1, 2, 3]);
    const seen: string[] = [];
    const off = c.node(1).metrics.subscribe((m) => seen.push(m.state));
    await c.node(1).initialize([1, 2, 3]);
    const leader = await c.waitLeader();
    off();
    const n = seen.length;
    assert.ok(seen.includes(leader === 1 ? "leader" : "follower"), `saw ${seen}`);
    await c.node(leader).clientWrite(kvSet("x", enc("1")));
    assert.equal(seen.length, n, "unsubscribed listener is not called");
    await assert.rejects(
      c.node(1).metrics.wait({ timeout: 30 }).appliedAtLeast(1_000_000),
      (e: unknown) => e instanceof Error && e.name === "Timeout",
    );
  } finally {
    await c.shutdown();
  }
});

test("runtime/config: with elections disabled no node campaigns until triggered", async () => {
  const c = new RuntimeCluster({
    electionTimeoutMin: 30,
    electionTimeoutMax: 60,
    heartbeatInterval: 10,
    enableElect: false,
    leaseMargin: 5,
  });
  try {
    await c.start([1, 2, 3]);
    for (const id of [1, 2, 3]) {
      // initialize() campaigns at once on the initializing node; disable the others' timers.
      await c.node(id).runtimeConfig.elect(false);
    }
    await c.node(2).initialize([1, 2, 3]);
    await c.waitLeader();
    const leader = [1, 2, 3].find((id) => c.node(id).metrics.current.state === "leader")!;
    await c.stop(leader);
    await new Promise((r) => setTimeout(r, 200));
    const rest = [1, 2, 3].filter((x) => x !== leader);
    for (const id of rest) assert.notEqual(c.node(id).metrics.current.state, "leader");
    await c.node(rest[0]!).trigger.elect();
    const now = await c.waitLeader(5000, rest);
    assert.equal(now, rest[0]);
  } finally {
    await c.shutdown();
  }
});

test("runtime/membership: a change asked for the moment a node becomes leader waits for its first entry to commit, not InProgress", async () => {
  const c = new RuntimeCluster();
  try {
    const first = await c.bootstrap([1, 2, 3]);
    await c.startNode(4);
    const next = [1, 2, 3].find((id) => id !== first)!;
    await c.node(first).trigger.transferLeader(next);
    const raft = c.node(next);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
    const m = raft.metrics.current;
    assert.ok(
      m.committed === null || m.committed.term < m.currentTerm,
      "the new leader's first entry is not committed yet",
    );
    const { logId } = await raft.addLearner(4, { addr: "n4" });
    assert.equal(logId.term, m.currentTerm);
    assert.deepEqual(learnersOf(raft.metrics.current.membership.membership), [4]);
  } finally {
    await c.shutdown();
  }
});
