import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, FAST, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../adapters/memory.ts";
import type { NodeId } from "../../src/types.ts";

const NO_AUTO = { ...FAST, snapshotPolicy: { kind: "never" } as const, maxInSnapshotLogsToKeep: 0 };

async function writeMany(c: RuntimeCluster, leader: NodeId, n: number, prefix = "k") {
  let last = 0;
  for (let i = 0; i < n; i++) {
    last = (await c.node(leader).clientWrite(kvSet(`${prefix}${i}`, enc(String(i))))).logId.index;
  }
  return last;
}

test("runtime/snapshot: trigger.snapshot builds a snapshot and purges the log behind it", async () => {
  const c = new RuntimeCluster({ ...NO_AUTO, maxInSnapshotLogsToKeep: 3 });
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const last = await writeMany(c, leader, 20);
    await c.node(leader).metrics.wait().appliedAtLeast(last);
    const meta = await c.node(leader).trigger.snapshot();
    assert.equal(meta.lastLogId?.index, last);
    const m = await c.node(leader).metrics.wait().metrics((m) => m.purged !== null, "purged");
    assert.deepEqual(m.snapshot, meta.lastLogId);
    assert.equal(m.purged?.index, last - 3, "keeps maxInSnapshotLogsToKeep entries");
    assert.equal((await c.stores.get(leader)!.logState()).lastPurged?.index, last - 3);
    // purgeLog is bounded by the snapshot.
    assert.deepEqual(await c.node(leader).trigger.purgeLog(last + 100), meta.lastLogId);
    await assert.rejects(c.node(leader).trigger.purgeLog(-1), TypeError);
  } finally {
    await c.shutdown();
  }
});

test("runtime/snapshot: scenario 18 - a follower behind the purge point is sent the snapshot", async () => {
  const c = new RuntimeCluster(NO_AUTO);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const lagging = [1, 2, 3].find((x) => x !== leader)!;
    c.net.isolate(lagging);
    const last = await writeMany(c, leader, 101);
    await c.node(leader).trigger.snapshot();
    const purged = await c.node(leader).metrics.wait().metrics((m) => m.purged !== null, "purged");
    assert.equal(purged.purged?.index, last);
    c.net.heal();
    const f = await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    assert.equal(f.snapshot?.index, last, "the follower installed the leader's snapshot");
    const sm = c.machines.get(lagging)!;
    for (let i = 0; i < 101; i++) assert.equal(dec(sm.get(`k${i}`)), String(i));
    // Replication resumes after the snapshot.
    const w = await c.node(leader).clientWrite(kvSet("after", enc("yes")));
    await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(w.logId.index);
    assert.equal(dec(sm.get("after")), "yes");
  } finally {
    await c.shutdown();
  }
});

test("runtime/snapshot: a restart from snapshot plus the remaining log rebuilds the same state", async () => {
  const c = new RuntimeCluster({ ...NO_AUTO, maxInSnapshotLogsToKeep: 5 });
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const node = [1, 2, 3].find((x) => x !== leader)!;
    await writeMany(c, leader, 30, "a");
    const mid = await writeMany(c, leader, 1, "m");
    await c.node(node).metrics.wait().appliedAtLeast(mid);
    await c.node(node).trigger.snapshot();
    const last = await writeMany(c, leader, 10, "b");
    await c.node(node).metrics.wait().appliedAtLeast(last);
    const before = c.machines.get(node)!.pairs();
    await c.stop(node);
    const restarted = await c.startNode(node, true);
    const m = await restarted.metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    assert.equal(m.snapshot?.index, mid, "recovered the snapshot");
    assert.equal(m.purged?.index, mid - 5);
    assert.deepEqual(c.machines.get(node)!.pairs(), before);
  } finally {
    await c.shutdown();
  }
});

test("runtime/snapshot: the logs-since-last policy builds snapshots by itself", async () => {
  const c = new RuntimeCluster({
    ...FAST,
    snapshotPolicy: { kind: "logs-since-last", logs: 40 },
    maxInSnapshotLogsToKeep: 10,
  });
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const last = await writeMany(c, leader, 100);
    for (const id of [1, 2, 3]) {
      const m = await c.node(id).metrics.wait({ timeout: 5000 }).metrics(
        (m) => (m.snapshot?.index ?? 0) >= 40 && (m.lastApplied?.index ?? 0) >= last,
        "a snapshot",
      );
      assert.ok(m.purged !== null && m.purged.index <= m.snapshot!.index - 10);
    }
  } finally {
    await c.shutdown();
  }
});
