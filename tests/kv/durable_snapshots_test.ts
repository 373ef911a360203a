// MemoryStateMachine with a durable snapshot store (MemoryStateMachine.open)
// and durable nodes over openNodeStorage: real files under os.tmpdir().
import { blank, normal } from "../_entries.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToStream, readAllBytes } from "../../src/byte_stream.ts";
import { Raft } from "../../src/runtime/raft.ts";
import type { Config } from "../../src/config.ts";
import type { NodeId } from "../../src/types.ts";
import { membershipOf } from "../../src/types.ts";
import { SeededRandom } from "../../src/random.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { openFileSnapshotStore } from "../../adapters/file_snapshot_store.ts";
import { type NodeStorage, openNodeStorage } from "../../adapters/mod.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";

const text = new TextEncoder();
const untext = new TextDecoder();

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "raft-durable-sm-"));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const valueOf = (sm: MemoryStateMachine, key: string): string | null => {
  const v = sm.get(key);
  return v === null ? null : untext.decode(v);
};

// ------------------------------------------------------- the state machine

test("durable state machine: open restores the map, last applied, membership and id counter", async () => {
  await withDir(async (dir) => {
    const store = await openFileSnapshotStore(dir);
    const sm = await MemoryStateMachine.open(store);
    assert.equal(sm.lastApplied, null);
    assert.equal(await sm.currentSnapshot(), null);
    const m = membershipOf([1, 2]);
    await sm.apply([
      blank(1, 1),
      { term: 1, index: 2, type: "membership", membership: m },
      normal(1, 3, kvSet("a", "1")),
      normal(1, 4, kvSet("b", new Uint8Array(200_000).fill(7))),
    ]);
    const built = await sm.buildSnapshot();
    assert.equal(built.meta.snapshotId, "1-4-1");
    const current = await sm.currentSnapshot();
    assert.equal(current?.meta.snapshotId, "1-4-1");
    // The stored bytes are exactly what a memory-only state machine builds.
    const plain = new MemoryStateMachine();
    await plain.installSnapshot(built.meta, built.open());
    assert.deepEqual(
      await readAllBytes(current!.open()),
      await readAllBytes((await plain.buildSnapshot()).open()),
    );
    await sm.apply([normal(1, 5, kvSet("a", "2"))]); // not in the snapshot
    await store.close();

    const again = await openFileSnapshotStore(dir);
    const restored = await MemoryStateMachine.open(again);
    assert.deepEqual(restored.lastApplied, { term: 1, index: 4 });
    assert.equal(valueOf(restored, "a"), "1");
    assert.equal(restored.get("b")?.length, 200_000);
    assert.deepEqual((await restored.appliedState()).membership.logId, { term: 1, index: 2 });
    assert.equal((await restored.buildSnapshot()).meta.snapshotId, "1-4-2");
    assert.throws(() => restored.crash(), /has a store/);
    await again.close();
  });
});

test("durable state machine: installSnapshot persists the leader's bytes; a bad one leaves the store as it was", async () => {
  await withDir(async (dir) => {
    const leader = new MemoryStateMachine();
    await leader.apply([blank(2, 1), normal(2, 2, kvSet("k", "v")), normal(2, 3, kvSet("z", "9"))]);
    const snap = await leader.buildSnapshot();
    const bytes = await readAllBytes(snap.open());

    const store = await openFileSnapshotStore(dir);
    const sm = await MemoryStateMachine.open(store);
    await sm.installSnapshot(snap.meta, bytesToStream(bytes, 5));
    assert.equal(valueOf(sm, "k"), "v");
    assert.equal((await store.current())?.meta.snapshotId, snap.meta.snapshotId);

    // Truncated data, data claiming another log id, trailing bytes: rejected; store unchanged.
    const bad = [
      bytes.subarray(0, bytes.length - 1),
      (() => {
        const b = bytes.slice();
        new DataView(b.buffer).setFloat64(10, 99);
        return b;
      })(),
      new Uint8Array([...bytes, 0]),
    ];
    for (const b of bad) {
      const meta = { ...snap.meta, snapshotId: "other" };
      await assert.rejects(
        sm.installSnapshot(meta, bytesToStream(b, 4)),
        /invalid snapshot|covers/,
      );
      assert.equal((await store.current())?.meta.snapshotId, snap.meta.snapshotId);
    }
    // Older than what is applied: rejected, its stream cancelled.
    await sm.apply([normal(2, 4, kvSet("k", "w"))]);
    await assert.rejects(sm.installSnapshot(snap.meta, bytesToStream(bytes, 4)), /older/);
    assert.equal(valueOf(sm, "k"), "w");
    await store.close();

    const again = await openFileSnapshotStore(dir);
    const restored = await MemoryStateMachine.open(again);
    assert.deepEqual(restored.lastApplied, { term: 2, index: 3 });
    assert.deepEqual(restored.pairs(), leader.pairs());
    await again.close();
  });
});

// ------------------------------------------------------------ durable nodes

const CONFIG: Partial<Config> = {
  electionTimeoutMin: 60,
  electionTimeoutMax: 120,
  heartbeatInterval: 15,
  leaseMargin: 10,
  snapshotPolicy: { kind: "logs-since-last", logs: 50 },
  maxInSnapshotLogsToKeep: 5,
};

interface DurableNode {
  raft: Raft<Uint8Array | null>;
  sm: MemoryStateMachine;
  storage: NodeStorage;
}

async function startDurable(
  net: MemoryNetwork,
  id: NodeId,
  dir: string,
  config: Partial<Config> = CONFIG,
): Promise<DurableNode> {
  const storage = await openNodeStorage({ path: dir });
  const sm = await MemoryStateMachine.open(storage.snapshotStore!);
  const raft = await Raft.create({
    id,
    config,
    logStore: storage.logStore,
    stateMachine: sm,
    network: net.client(id),
    random: new SeededRandom(id),
  });
  net.register(id, (_from, req, data) => raft.handle(req, data));
  return { raft, sm, storage };
}

async function stop(node: DurableNode): Promise<void> {
  await node.raft.shutdown();
  await node.storage.close();
}

/** Writes `n` values over `keys` keys; returns the expected final map. */
async function writeMany(
  raft: Raft<Uint8Array | null>,
  n: number,
  keys: number,
  from = 0,
): Promise<Map<string, string>> {
  const expected = new Map<string, string>();
  for (let i = from; i < from + n; i += 10) {
    const batch: Uint8Array[] = [];
    for (let j = i; j < Math.min(i + 10, from + n); j++) {
      const key = `k${j % keys}`;
      expected.set(key, `v${j}`);
      batch.push(kvSet(key, `v${j}`));
    }
    await raft.clientWriteMany(batch);
  }
  return expected;
}

function assertHolds(sm: MemoryStateMachine, expected: Map<string, string>): void {
  for (const [k, v] of expected) assert.equal(valueOf(sm, k), v, `key ${k}`);
}

test("durable node: restarts from its snapshot plus the log tail, with every acknowledged write; the log was purged", async () => {
  await withDir(async (dir) => {
    const net = new MemoryNetwork({ random: new SeededRandom(1) });
    let node = await startDurable(net, 1, dir);
    await node.raft.initialize([1]);
    await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
    const expected = await writeMany(node.raft, 333, 20);
    const last = node.raft.metrics.current.lastApplied!.index;
    // (Under Bun the snapshot's file writes may finish only once the writes stop.)
    await node.raft.metrics.wait({ timeout: 5000 }).metrics((m) => m.purged !== null);
    await stop(node);

    const storage = await openNodeStorage({ path: dir });
    const purged = (await storage.logStore.logState()).lastPurged?.index ?? 0;
    const snapshot = await storage.snapshotStore!.current();
    await storage.close();
    const snapIndex = snapshot!.meta.lastLogId!.index;
    assert.ok(snapIndex >= 50 && snapIndex <= last, `snapshot at ${snapIndex}, last ${last}`);
    // Purged behind a durable snapshot (keeping 5 entries); perhaps behind an older one
    // if the node stopped between a snapshot's write and its purge.
    assert.ok(purged >= 45 && purged <= snapIndex - 5, `purged ${purged}, snapshot ${snapIndex}`);

    net.unregister(1);
    node = await startDurable(net, 1, dir);
    assert.deepEqual(node.sm.lastApplied?.index, snapIndex, "restored from the snapshot");
    await node.raft.metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    assert.equal(node.sm.appliedCount, node.raft.metrics.current.lastApplied!.index - snapIndex);
    assertHolds(node.sm, expected);
    // And it keeps going.
    await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
    const more = await writeMany(node.raft, 20, 20, 333);
    assertHolds(node.sm, more);
    await stop(node);
  });
});

test("durable node: a crash between writing the snapshot and purging the log recovers every write", async () => {
  await withDir(async (dir) => {
    const net = new MemoryNetwork({ random: new SeededRandom(2) });
    const config = { ...CONFIG, snapshotPolicy: { kind: "never" } as const };
    let node = await startDurable(net, 1, dir, config);
    await node.raft.initialize([1]);
    await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
    const first = await writeMany(node.raft, 120, 15);
    // The snapshot is durable, but the runtime never hears of it: the node
    // "crashes" before telling the engine, so the log is not purged.
    const snap = await node.sm.buildSnapshot();
    const second = await writeMany(node.raft, 40, 15, 120);
    const last = node.raft.metrics.current.lastApplied!.index;
    await stop(node);

    const storage = await openNodeStorage({ path: dir });
    assert.equal((await storage.logStore.logState()).lastPurged, null, "nothing purged");
    await storage.close();

    net.unregister(1);
    node = await startDurable(net, 1, dir, config);
    const snapIndex = snap.meta.lastLogId!.index;
    assert.equal(node.sm.lastApplied?.index, snapIndex);
    await node.raft.metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    assert.equal(node.sm.appliedCount, node.raft.metrics.current.lastApplied!.index - snapIndex);
    assertHolds(node.sm, new Map([...first, ...second]));
    await stop(node);
  });
});

test("durable node: a learner persists the snapshot the leader sends and recovers from it after a restart", async () => {
  await withDir(async (dir) => {
    const net = new MemoryNetwork({ random: new SeededRandom(3) });
    const leader = await startDurable(net, 1, join(dir, "n1"));
    await leader.raft.initialize([1]);
    await leader.raft.metrics.wait({ timeout: 5000 }).role("leader");
    const expected = await writeMany(leader.raft, 200, 12);
    await leader.raft.metrics.wait({ timeout: 5000 }).metrics((m) => m.purged !== null);
    const purged = leader.raft.metrics.current.purged!.index;

    let learner = await startDurable(net, 2, join(dir, "n2"));
    await leader.raft.addLearner(2, { addr: "mem://2" });
    const target = leader.raft.metrics.current.lastApplied!.index;
    await learner.raft.metrics.wait({ timeout: 5000 }).appliedAtLeast(target);
    assertHolds(learner.sm, expected);
    const installed = await learner.storage.snapshotStore!.current();
    assert.ok(installed !== null, "the learner's store holds the leader's snapshot");
    const installedIndex = installed.meta.lastLogId!.index;
    assert.ok(installedIndex > purged, `snapshot at ${installedIndex}, leader purged ${purged}`);
    assert.ok(net.counts("install-snapshot").delivered > 0, "sent by InstallSnapshot");
    await stop(learner);
    net.unregister(2);

    learner = await startDurable(net, 2, join(dir, "n2"));
    assert.ok((learner.sm.lastApplied?.index ?? 0) >= installedIndex, "restored from the snapshot");
    await learner.raft.metrics.wait({ timeout: 5000 }).appliedAtLeast(target);
    assertHolds(learner.sm, expected);
    await stop(learner);
    await stop(leader);
  });
});

test("openNodeStorage: memory has no snapshot store; a path has one in <path>/snapshots", async () => {
  const mem = await openNodeStorage({ kind: "memory" });
  assert.equal(mem.snapshotStore, null);
  await mem.logStore.append([blank(1, 1)]);
  await mem.close();
  await withDir(async (dir) => {
    const s = await openNodeStorage({ path: dir });
    await s.snapshotStore!.write(
      {
        lastLogId: null,
        lastMembership: { logId: null, membership: membershipOf([1]) },
        snapshotId: "x",
      },
      bytesToStream(text.encode("abc"), 2),
    );
    await s.close();
    const direct = await openFileSnapshotStore(join(dir, "snapshots"));
    assert.equal((await direct.current())?.meta.snapshotId, "x");
    await direct.close();
  });
});
