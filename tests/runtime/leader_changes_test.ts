// onLeaderChange, counters read on demand, metrics waits by name, per-follower ack time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { enc, RuntimeCluster, sleep } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import type { LeaderChange } from "../../src/runtime/raft.ts";
import { LeaderWatch } from "../../src/runtime/leader_changes.ts";

test("leader watch: listeners hear each change once; a throwing listener is reported", () => {
  const errors: unknown[] = [];
  const watch = new LeaderWatch((e) => errors.push(e));
  const seen: LeaderChange[] = [];
  const off = watch.listen((c) => seen.push(c));
  watch.listen(() => {
    throw new Error("listener bug");
  });
  watch.check(1, null, "candidate");
  watch.check(1, null, "candidate");
  watch.check(1, 1, "leader");
  watch.check(2, 1, "leader"); // same leader, new term: a change
  off();
  watch.check(3, 2, "follower");
  assert.deepEqual(seen.map((c) => [c.term, c.leaderId, c.role]), [
    [1, null, "candidate"],
    [1, 1, "leader"],
    [2, 1, "leader"],
  ]);
  assert.equal(watch.leaderChanges, 3);
  assert.equal(errors.length, 4);
});

test("runtime/onLeaderChange: every node hears the new leader after a transfer", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const target = [1, 2, 3].find((x) => x !== leader)!;
    const heard = new Map<number, LeaderChange[]>();
    const offs = [1, 2, 3].map((id) => {
      heard.set(id, []);
      return c.node(id).onLeaderChange((ch) => heard.get(id)!.push(ch));
    });
    await c.node(leader).trigger.transferLeader(target);
    await c.waitLeader();
    await sleep(30);
    for (const id of [1, 2, 3]) {
      const last = heard.get(id)!.at(-1);
      assert.equal(last?.leaderId, target, `node ${id} heard the new leader`);
      assert.equal(last?.role, id === target ? "leader" : "follower");
    }
    for (const off of offs) off();
    const counters = c.node(target).counters();
    assert.ok(counters.electionsStarted >= 1);
    assert.ok(counters.leaderChanges >= 2, "the first leader, then itself");
  } finally {
    await c.shutdown();
  }
});

test("runtime/counters and waits: proposals, appends, snapshots; committed, snapshot, purged, vote", async () => {
  const c = new RuntimeCluster({
    electionTimeoutMin: 60,
    electionTimeoutMax: 120,
    heartbeatInterval: 15,
    leaseMargin: 10,
    maxInSnapshotLogsToKeep: 0,
  });
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    const follower = c.node([1, 2, 3].find((x) => x !== leader)!);
    const before = raft.counters();
    let last = 0;
    for (let i = 0; i < 5; i++) {
      last = (await raft.clientWrite(kvSet(`k${i}`, enc("v")))).logId.index;
    }
    await raft.writeBlank();
    const after = raft.counters();
    assert.equal(after.proposals - before.proposals, 6);
    assert.ok(after.appendsSent > before.appendsSent);
    assert.ok(follower.counters().appendsReceived > 0);
    await follower.metrics.wait({ timeout: 5000 }).committedAtLeast(last);
    const meta = await raft.trigger.snapshot();
    await raft.metrics.wait({ timeout: 5000 }).snapshotAtLeast(meta.lastLogId!.index);
    await raft.metrics.wait({ timeout: 5000 }).purgedAtLeast(meta.lastLogId!.index);
    assert.equal(raft.counters().snapshotsBuilt, 1);
    const term = raft.metrics.current.currentTerm;
    await follower.metrics.wait({ timeout: 5000 }).vote(term);
    await raft.metrics.wait({ timeout: 5000 }).vote(term, leader);
    const acks = raft.metrics.current.replication!;
    for (const [id, r] of acks) {
      if (id === leader) continue;
      assert.ok(r.millisSinceAck !== null && r.millisSinceAck >= 0 && r.millisSinceAck < 5000);
    }
  } finally {
    await c.shutdown();
  }
});

test("runtime/metrics: a peer further behind than replicationLagThreshold is lagging", async () => {
  const c = new RuntimeCluster({
    electionTimeoutMin: 60,
    electionTimeoutMax: 120,
    heartbeatInterval: 15,
    leaseMargin: 10,
    replicationLagThreshold: 5,
  });
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    const [cut, live] = [1, 2, 3].filter((x) => x !== leader) as [number, number];
    c.net.isolate(cut);
    for (let i = 0; i < 10; i++) await raft.clientWrite(kvSet(`k${i}`, enc("v")));
    const m = raft.metrics.current.replication!;
    assert.ok(m.get(cut)!.lag > 5 && m.get(cut)!.lagging, "the cut-off follower lags");
    assert.ok(!m.get(live)!.lagging, "the live follower does not");
    c.net.heal();
    await raft.metrics.wait({ timeout: 5000 }).metrics(
      (x) => x.replication?.get(cut)?.lagging === false,
      "the follower caught up",
    );
  } finally {
    c.net.heal();
    await c.shutdown();
  }
});
