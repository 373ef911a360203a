// The StateMachine contract the runtime enforces: a state machine behind the log's
// purge point is refused at create; buildSnapshot never overlaps apply.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { StateMachineBehindLog } from "../../src/errors.ts";
import { Raft } from "../../src/runtime/raft.ts";
import type { Snapshot } from "../../src/storage.ts";
import type { Entry } from "../../src/types.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { enc, FAST } from "./_cluster.ts";

test("runtime/create: a state machine behind the log's purge point is refused, naming the fix", async () => {
  const store = new MemoryLogStore();
  const first = await Raft.create({
    id: 1,
    config: { ...FAST, maxInSnapshotLogsToKeep: 0 },
    logStore: store,
    stateMachine: new MemoryStateMachine(),
    network: new MemoryNetwork().client(1),
  });
  await first.initialize([1]);
  await first.metrics.wait({ timeout: 5000 }).role("leader");
  for (let i = 0; i < 5; i++) await first.clientWrite(kvSet(`k${i}`, enc("v")));
  const meta = await first.trigger.snapshot();
  await first.metrics.wait({ timeout: 5000 }).metrics((m) => m.purged !== null, "purged");
  await first.shutdown();
  // The log survives; the state machine (in memory, no snapshot kept) does not.
  const err = await Raft.create({
    id: 1,
    config: FAST,
    logStore: store.crash(),
    stateMachine: new MemoryStateMachine(),
    network: new MemoryNetwork().client(1),
  }).then((r) => r.shutdown().then(() => "created"), (e: unknown) => e);
  assert.ok(err instanceof StateMachineBehindLog, String(err));
  assert.equal(err.applied, null);
  assert.equal(err.purged.index, meta.lastLogId?.index);
  assert.match(err.message, /must persist its snapshot/);
});

/** Applies asynchronously; records whether apply and buildSnapshot ever overlap. */
class OverlapWatch extends MemoryStateMachine {
  applying = 0;
  building = 0;
  overlaps = 0;
  builds = 0;
  override apply(entries: readonly Entry[]): Promise<(Uint8Array | null | undefined)[]> {
    if (this.building > 0) this.overlaps++;
    this.applying++;
    return new Promise((resolve, reject) => {
      setTimeout(() => {
        try {
          resolve(super.apply(entries) as (Uint8Array | null | undefined)[]);
        } catch (e) {
          reject(e);
        } finally {
          this.applying--;
        }
      }, 1);
    });
  }
  override async buildSnapshot(): Promise<Snapshot> {
    if (this.applying > 0) this.overlaps++;
    this.building++;
    this.builds++;
    try {
      await new Promise((r) => setTimeout(r, 3));
      return await super.buildSnapshot();
    } finally {
      this.building--;
    }
  }
}

test("runtime/state machine: buildSnapshot never overlaps an apply", async () => {
  const sm = new OverlapWatch();
  const raft = await Raft.create({
    id: 1,
    config: { ...FAST, snapshotPolicy: { kind: "logs-since-last", logs: 5 } },
    logStore: new MemoryLogStore(),
    stateMachine: sm,
    network: new MemoryNetwork().client(1),
  });
  try {
    await raft.initialize([1]);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 60; i++) {
      writes.push(raft.clientWrite(kvSet(`k${i % 7}`, enc(String(i)))));
      if (i % 10 === 0) writes.push(raft.trigger.snapshot());
      if (i % 3 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await Promise.all(writes);
    assert.ok(sm.builds >= 3, `snapshots were built (${sm.builds})`);
    assert.equal(sm.overlaps, 0);
  } finally {
    await raft.shutdown();
  }
});
