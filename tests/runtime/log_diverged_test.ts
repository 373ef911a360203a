// A follower never truncates entries at or below its commit index: an append that
// conflicts with one proves that its data was replaced or that two clusters share an id,
// and the node stops with LogDiverged (issue 17, chaos finding wipe-init).
import { test } from "node:test";
import assert from "node:assert/strict";
import { enc, RuntimeCluster } from "./_cluster.ts";
import { LogDiverged } from "../../src/errors.ts";

test("runtime/log diverged: a node whose committed log differs from the leader's stops with LogDiverged, truncating nothing", async () => {
  const real = new RuntimeCluster();
  const rogue = new RuntimeCluster();
  try {
    await real.start([1, 2, 3]);
    await real.node(1).initialize([1, 2, 3], { clusterId: "shared" });
    let leader = await real.waitLeader();
    // A second term, so that the real log's terms differ from the rogue's below.
    const next = leader === 1 ? 2 : 1;
    await real.node(leader).trigger.transferLeader(next);
    leader = await real.waitLeader();
    assert.ok(real.node(leader).metrics.current.currentTerm >= 2);
    for (let i = 0; i < 3; i++) await real.node(leader).clientWrite(enc(`real-${i}`));
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const realLast = real.node(leader).metrics.current.lastLogIndex;
    await real.node(follower).metrics.wait({ timeout: 5000 }).appliedAtLeast(realLast);
    // The follower's data is wiped: it restarts alone with the same cluster id (an
    // operator re-running its --init command line) and commits writes of its own.
    await real.stop(follower);
    await rogue.start([follower]);
    const node = rogue.node(follower);
    await node.initialize([follower], { clusterId: "shared" });
    await rogue.waitLeader();
    for (let i = 0; i < realLast + 3; i++) await node.clientWrite(enc(`rogue-${i}`));
    const before = node.metrics.current;
    assert.equal(before.currentTerm, 1);
    assert.ok(before.committed!.index >= realLast);
    // It is reachable again at its old address: the real leader's appends reach it.
    real.net.register(follower, (_from, req, data) => node.handle(req, data));
    const m = await node.metrics.wait({ timeout: 5000 }).metrics(
      (x) => x.storageError !== null,
      "the node stopped",
    );
    assert.ok(m.storageError instanceof LogDiverged, String(m.storageError));
    const e = m.storageError;
    assert.ok(e.index <= before.committed!.index, `diverged at ${e.index}`);
    assert.equal(e.ownTerm, 1);
    assert.ok(e.leaderTerm >= 2);
    assert.equal(e.leaderId, leader);
    assert.match(e.message, /log diverged below the commit index/);
    assert.match(e.message, /data was replaced or two clusters share an id/);
    assert.equal(m.state, "shutdown");
    // Nothing was truncated or overwritten: the rogue log and state are as they were.
    assert.equal(m.lastLogIndex, before.lastLogIndex);
    assert.deepEqual(m.committed, before.committed);
    const stored = await rogue.stores.get(follower)!.entries(1, before.lastLogIndex);
    assert.ok(stored.every((x) => x.term <= 1), "no entry of the real cluster was stored");
    // Every call rejects with the fatal error from now on.
    await assert.rejects(node.clientWrite(enc("x")), LogDiverged);
    // The real cluster goes on.
    await real.node(leader).clientWrite(enc("after"));
  } finally {
    await rogue.shutdown();
    await real.shutdown();
  }
});
