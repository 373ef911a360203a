// Follower reads (issue 17, item 5): ensureLinearizable({ policy: "follower" }) on a
// follower or learner asks the leader for a read index with one request (shared by the
// reads of one turn), then waits until it has applied that index.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, FAST, RuntimeCluster, sleep } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import {
  ForwardToLeader,
  InvalidArgument,
  NotInitialized,
  Timeout,
  Unreachable,
} from "../../src/errors.ts";

test("runtime/follower reads: a follower read sees every write acknowledged before it started", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const sm = c.machines.get(follower)!;
    c.net.resetCounts();
    for (let i = 0; i < 20; i++) {
      const w = await c.node(leader).clientWrite(kvSet("k", `v${i}`));
      const index = await c.node(follower).ensureLinearizable({ policy: "follower" });
      assert.ok(index >= w.logId.index, `read index ${index} < write ${w.logId.index}`);
      assert.equal(dec(sm.get("k")), `v${i}`, "the follower's state has the write");
    }
    assert.equal(c.net.counts("read-index").delivered, 20, "one request per read here");
    assert.equal(c.node(follower).counters().followerReads, 20);
    // On the leader the same call is a ReadIndex read: no request.
    await c.node(leader).ensureLinearizable({ policy: "follower" });
    assert.equal(c.net.counts("read-index").sent, 20);
  } finally {
    await c.shutdown();
  }
});

test("runtime/follower reads: the reads of one turn share one request to the leader; a learner reads too", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.startNode(4);
    await c.node(leader).addLearner(4, { addr: "" });
    const w = await c.node(leader).clientWrite(kvSet("x", "1"));
    c.net.resetCounts();
    const reads = [];
    for (let i = 0; i < 8; i++) reads.push(c.node(4).ensureLinearizable({ policy: "follower" }));
    const indexes = await Promise.all(reads);
    assert.ok(indexes.every((i) => i >= w.logId.index));
    assert.equal(c.net.counts("read-index").sent, 1, "one request for the eight reads");
    assert.equal(dec(c.machines.get(4)!.get("x")), "1");
  } finally {
    await c.shutdown();
  }
});

test("runtime/follower reads: rejected when no leader is known, when the leader cannot confirm, and on bad input", async () => {
  const c = new RuntimeCluster();
  try {
    const blank = new RuntimeCluster();
    await blank.start([9]);
    await assert.rejects(blank.node(9).ensureLinearizable({ policy: "follower" }), NotInitialized);
    await blank.shutdown();
    const leader = await c.bootstrap([1, 2, 3]);
    await assert.rejects(
      c.node(leader).ensureLinearizable({ policy: "nearest" as "follower" }),
      InvalidArgument,
    );
    const [a, b] = [1, 2, 3].filter((id) => id !== leader);
    // The leader is cut off from both followers: it cannot confirm a read; the followers
    // elect a new leader, whose reads then succeed.
    c.net.isolate(leader);
    const stale = c.node(a!).ensureLinearizable({ policy: "follower", timeout: 2000 })
      .then(() => "resolved", (e) => e);
    const outcome = await stale;
    assert.ok(
      outcome instanceof ForwardToLeader || outcome instanceof Timeout ||
        outcome instanceof Unreachable,
      String(outcome),
    );
    const next = await c.waitLeader(5000, [a!, b!]);
    assert.notEqual(next, leader);
    await c.node(next).clientWrite(kvSet("after", "1"));
    const other = next === a ? b! : a!;
    await c.node(other).ensureLinearizable({ policy: "follower" });
    assert.equal(dec(c.machines.get(other)!.get("after")), "1");
    // A node that knows no leader refuses at once.
    c.net.heal();
    c.net.isolate(other);
    await c.node(other).metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.currentLeader === null,
      "no leader known",
    );
    await assert.rejects(
      c.node(other).ensureLinearizable({ policy: "follower" }),
      (e) => e instanceof ForwardToLeader && e.leaderId === null,
    );
  } finally {
    await c.shutdown();
  }
});

test("runtime/follower reads: a follower's read waits until it has applied the read index", async () => {
  const c = new RuntimeCluster({ ...FAST, heartbeatInterval: 40 });
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    // Hold the follower's appends with entries (heartbeats pass): it does not hold the
    // write when the read starts.
    let holding = true;
    const raft = c.node(follower);
    c.net.unregister(follower);
    c.net.register(
      follower,
      (_from, req, data) =>
        holding && req.type === "append" && req.entries.length > 0
          ? Promise.reject(new Error("held"))
          : raft.handle(req, data),
    );
    const w = await c.node(leader).clientWrite(kvSet("late", "yes"));
    assert.equal(c.machines.get(follower)!.get("late"), null);
    let done = false;
    const read = c.node(follower).ensureLinearizable({ policy: "follower", timeout: 5000 })
      .then((i) => {
        done = true;
        return i;
      });
    await sleep(100);
    assert.equal(done, false, "not before the follower applied the write");
    holding = false;
    const index = await read;
    assert.ok(index >= w.logId.index);
    assert.equal(dec(c.machines.get(follower)!.get("late")), "yes");
  } finally {
    await c.shutdown();
  }
});
