// Regression: a node whose writes all complete in microtasks (a synchronous
// log store — MemoryLogStore, or bun:sqlite — and a client in the same process
// writing back-to-back) never completed a durable snapshot while the writes
// went on: the snapshot store's file I/O waited for a macrotask turn that never
// came, so nothing was purged. The runtime's YieldGuard
// (src/runtime/yield_guard.ts) now lets one turn through a timer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { openFileSnapshotStore } from "../../adapters/file_snapshot_store.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";

test("durable snapshots complete while a client writes back-to-back on a synchronous log store", async () => {
  const dir = await mkdtemp(join(tmpdir(), "raft-starve-"));
  const store = await openFileSnapshotStore(dir);
  const raft = await Raft.create({
    id: 1,
    config: { snapshotPolicy: { kind: "logs-since-last", logs: 1000 }, maxInSnapshotLogsToKeep: 5 },
    logStore: new MemoryLogStore(),
    stateMachine: await MemoryStateMachine.open(store),
    network: new MemoryNetwork().client(1),
  });
  try {
    await raft.initialize([1]);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
    for (let b = 1; b <= 100; b++) {
      await raft.clientWriteMany(Array.from({ length: 100 }, (_, i) => kvSet(`k${i}`, `v${b}`)));
    }
    // 10,000 entries at one snapshot per 1,000: several should be durable, the log purged.
    const m = raft.metrics.current;
    assert.ok(m.snapshot !== null, `applied ${m.lastApplied?.index}, no snapshot completed`);
    assert.ok(m.purged !== null);
  } finally {
    await raft.shutdown();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
});
