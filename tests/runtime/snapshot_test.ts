import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, FAST, RuntimeCluster, sleep } from "./_cluster.ts";
import { InvalidArgument } from "../../src/errors.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { type Entry, membershipOf, type NodeId } from "../../src/types.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { formatViolation, Simulator } from "../../testing/simulator.ts";

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
    await assert.rejects(c.node(leader).trigger.purgeLog(-1), InvalidArgument);
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
    assert.equal(c.node(lagging).counters().snapshotsInstalled, 1);
    // The leader counts the transfer once the follower's answer is back.
    for (let i = 0; i < 200 && c.node(leader).counters().snapshotsSent === 0; i++) await sleep(5);
    assert.equal(c.node(leader).counters().snapshotsSent, 1);
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

/**
 * Starts node 1 (the single voter of `MEMBERS`) on a log store holding `log` and a state machine
 * that applied `applied` and snapshotted them: what a crash between the snapshot install and the
 * log's purge leaves behind.
 */
async function restartOn(log: Entry[], applied: Entry[]) {
  const sm = new MemoryStateMachine();
  await sm.apply(applied);
  await sm.buildSnapshot();
  const store = new MemoryLogStore();
  await store.append(log);
  const raft = await Raft.create({
    id: 1,
    config: NO_AUTO,
    logStore: store,
    stateMachine: sm,
    network: new MemoryNetwork().client(1),
  });
  return { raft, store, sm };
}

const MEMBERS: Entry = { term: 1, index: 1, type: "membership", membership: membershipOf([1]) };
const put = (term: number, index: number, key: string): Entry => ({
  term,
  index,
  type: "normal",
  data: kvSet(key, enc(`${term}-${index}`)),
});

test("runtime/snapshot: a restart whose log stops short of the state machine's snapshot catches the log up", async () => {
  // A crash after the state machine installed a snapshot but before the log was purged up to it
  // (they are separate stores): the log ends at 2, the snapshot at 5.
  const { raft, store } = await restartOn([MEMBERS, put(1, 2, "a")], [
    MEMBERS,
    put(1, 2, "a"),
    put(1, 3, "b"),
    put(1, 4, "c"),
    put(1, 5, "d"),
  ]);
  try {
    const m = raft.metrics.current;
    assert.deepEqual([m.purged?.index, m.snapshot?.index, m.lastApplied?.index], [5, 5, 5]);
    assert.equal(m.committed?.index, 5, "what the snapshot holds is committed");
    assert.equal(m.lastLogIndex, 5);
    assert.deepEqual(store.contents().lastPurged, { term: 1, index: 5 });
    assert.equal(store.contents().entries.length, 0);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
    const w = await raft.clientWrite(kvSet("e", enc("1")));
    assert.ok(w.logId.index > 5);
  } finally {
    await raft.shutdown();
  }
});

test("runtime/snapshot: a restart whose log conflicts with the snapshot drops the conflicting log", async () => {
  // The log holds entries of a lost term (3-2, 4-2); the snapshot, from the leader that
  // replaced them, ends at 3-3.
  const { raft, store, sm } = await restartOn(
    [MEMBERS, put(1, 2, "a"), put(2, 3, "x"), put(2, 4, "y")],
    [MEMBERS, put(1, 2, "a"), put(3, 3, "b")],
  );
  try {
    const m = raft.metrics.current;
    assert.deepEqual(m.purged, { term: 3, index: 3 });
    assert.equal(m.lastLogIndex, 3, "4-2 is gone with the rest of the lost term");
    assert.equal(m.committed?.index, 3);
    assert.equal(store.contents().entries.length, 0);
    assert.equal(dec(sm.get("b")), "3-3");
  } finally {
    await raft.shutdown();
  }
});

test("regression: a node restarted between a snapshot install and the purge (seed 4627)", async () => {
  // Found by seed 4627: node 4 restarted with its state machine at 54 (an installed snapshot)
  // and an empty log: the engine started with commit 0 < applied 54.
  const r = await new Simulator({ seed: 4627, steps: 3000 }).run();
  assert.ok(r.ok, r.violation === null ? "" : formatViolation(r.violation));
});
