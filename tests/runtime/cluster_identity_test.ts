// Every cluster has an identity (issue 12, item 4): nodes of different clusters refuse
// each other, so two clusters never merge and no acknowledged write is lost that way.
import { PEER_TERM_SLACK } from "../../src/engine/peer_checks.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, FAST, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { ClusterMismatch, InvalidArgument, InvalidMessage } from "../../src/errors.ts";
import { MAX_PEER_TERM } from "../../src/types.ts";

test("runtime/cluster id: initialize gives the cluster a random id, kept by every member and change", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const id = c.node(leader).metrics.current.membership.membership.clusterId;
    assert.match(id, /^[0-9a-f]{32}$/);
    await c.node(leader).changeMembership({ type: "remove-voters", ids: [3] });
    for (const n of [1, 2, 3]) {
      await c.node(n).metrics.wait({ timeout: 5000 }).metrics(
        (m) => m.membership.membership.clusterId === id && m.lastLogIndex >= 3,
        "membership replicated",
      );
    }
    // Another cluster (node 4's random source differs from every node's above).
    const other = new RuntimeCluster();
    await other.start([1, 2, 3, 4]);
    await other.node(4).initialize([4]);
    assert.match(other.node(4).metrics.current.membership.membership.clusterId, /^[0-9a-f]{32}$/);
    assert.notEqual(other.node(4).metrics.current.membership.membership.clusterId, id);
    await other.shutdown();
  } finally {
    await c.shutdown();
  }
});

test("runtime/cluster id: initialize takes a given id, and refuses a malformed one", async () => {
  const c = new RuntimeCluster();
  try {
    await c.start([1, 2]);
    await assert.rejects(c.node(1).initialize([1], { clusterId: "" }), InvalidArgument);
    await assert.rejects(c.node(1).initialize([1], { clusterId: "a b" }), InvalidArgument);
    assert.equal(c.node(1).isInitialized(), false, "a refused call changes nothing");
    // Every node initialized with the same members and the same id: one cluster.
    await Promise.all([
      c.node(1).initialize([1, 2], { clusterId: "prod-eu-1" }),
      c.node(2).initialize([1, 2], { clusterId: "prod-eu-1" }),
    ]);
    await c.waitLeader();
    assert.equal(c.node(2).metrics.current.membership.membership.clusterId, "prod-eu-1");
  } finally {
    await c.shutdown();
  }
});

test("runtime/cluster id: three single-node clusters do not merge; no acknowledged write is lost", async () => {
  // The reported failure: each node initialized alone writes k at the same log id (1,3);
  // node 1 adds 2 and 3; log matching passed because the ids coincide; after node 1 died
  // a read returned another cluster's value.
  const c = new RuntimeCluster();
  try {
    await c.start([1, 2, 3]);
    for (const id of [1, 2, 3] as const) {
      await c.node(id).initialize([id]);
      await c.node(id).metrics.wait({ timeout: 5000 }).role("leader");
      const r = await c.node(id).clientWrite(kvSet("k", ["one", "two", "three"][id - 1]!));
      assert.deepEqual(r.logId, { term: 1, index: 3 });
    }
    const err = await c.node(1).addLearner(2, { addr: "" }, { timeout: 5000 }).catch((e) => e);
    assert.ok(err instanceof ClusterMismatch, `got ${err}`);
    assert.equal(err.from, 1);
    assert.equal(err.expected, c.node(2).metrics.current.membership.membership.clusterId);
    assert.equal(err.got, c.node(1).metrics.current.membership.membership.clusterId);
    // Node 2 kept its own log and value; it never took node 1's entries.
    assert.equal(dec(c.machines.get(2)!.get("k")), "two");
    assert.deepEqual(c.node(2).metrics.current.membership.membership.configs, [[2]]);
    // Node 3 refuses node 1's votes too: making it a voter cannot commit.
    await c.node(1).addLearner(3, { addr: "" }, { blocking: false });
    const change = c.node(1).changeMembership({ type: "add-voter-ids", ids: [3] });
    const outcome = await Promise.race([
      change.then(() => "committed", (e) => e),
      new Promise((r) => setTimeout(() => r("pending"), 600)),
    ]);
    assert.notEqual(outcome, "committed");
    assert.equal(dec(c.machines.get(3)!.get("k")), "three");
    assert.equal(dec(c.machines.get(1)!.get("k")), "one");
    await c.stop(1);
    change.catch(() => {});
  } finally {
    await c.shutdown();
  }
});

test("runtime/cluster id: a blank node joins the cluster that adds it and takes its id", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.startNode(4);
    await c.node(leader).addLearner(4, { addr: "" }, { timeout: 5000 });
    const id = c.node(leader).metrics.current.membership.membership.clusterId;
    assert.equal(c.node(4).metrics.current.membership.membership.clusterId, id);
  } finally {
    await c.shutdown();
  }
});

test("runtime/cluster id: a request of another cluster or a forged huge term is refused with a RaftError", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const before = c.node(follower).metrics.current;
    const wrong = await c.node(follower).handle({
      type: "timeout-now",
      term: before.currentTerm,
      leaderId: leader,
      clusterId: "someone-else",
    }).catch((e) => e);
    assert.ok(wrong instanceof ClusterMismatch);
    const huge = await c.node(follower).handle({
      type: "append",
      term: MAX_PEER_TERM + PEER_TERM_SLACK + 1,
      leaderId: 9,
      prevLogId: null,
      entries: [],
      leaderCommit: 0,
      round: 1,
      clusterId: before.membership.membership.clusterId,
    }).catch((e) => e);
    assert.ok(huge instanceof InvalidMessage, `got ${huge}`);
    const after = c.node(follower).metrics.current;
    assert.equal(after.currentTerm, before.currentTerm);
    assert.equal(after.state, "follower");
    assert.equal(await c.waitLeader(), leader);
  } finally {
    await c.shutdown();
  }
});
