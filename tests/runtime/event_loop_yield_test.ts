// A client looping on `await raft.clientWrite(…)` against a durable node must not starve the
// event loop: with bun:sqlite (synchronous) and the in-memory state machine every turn is a
// microtask, and the snapshot's file I/O would never run. Snapshots are built, and the log
// purged, during such a loop (on Deno with Deno KV as well).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { Raft } from "../../src/runtime/raft.ts";
import { openNodeStorage } from "../../adapters/mod.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { ManualClock } from "../../src/clock.ts";
import { YieldGuard } from "../../src/runtime/yield_guard.ts";

test("event loop: a tight clientWrite loop on a durable node builds snapshots and purges the log meanwhile", async () => {
  const dir = mkdtempSync(`${tmpdir()}/raft-yield-`);
  const storage = await openNodeStorage({ path: dir });
  try {
    const stateMachine = await MemoryStateMachine.open(storage.snapshotStore!);
    const net = new MemoryNetwork();
    const raft = await Raft.create({
      id: 1,
      logStore: storage.logStore,
      stateMachine,
      network: net.client(1),
      config: {
        snapshotPolicy: { kind: "logs-since-last", logs: 50 },
        maxInSnapshotLogsToKeep: 10,
      },
    });
    net.register(1, (_from, request, data) => raft.handle(request, data));
    try {
      await raft.initialize([1]);
      await raft.metrics.wait({ timeout: 5000 }).role("leader");
      const seen = { snapshot: 0, purged: 0 };
      // Nothing in this loop waits for a macrotask: only the node can let the event loop run.
      for (let i = 0; i < 400; i++) {
        await raft.clientWrite(kvSet(`k${i % 20}`, `v${i}`));
        const m = raft.metrics.current;
        seen.snapshot = Math.max(seen.snapshot, m.snapshot?.index ?? 0);
        seen.purged = Math.max(seen.purged, m.purged?.index ?? 0);
      }
      assert.ok(
        seen.snapshot >= 200,
        `snapshots were built during the loop (up to ${seen.snapshot})`,
      );
      assert.ok(seen.purged > 0, `the log was purged during the loop (up to ${seen.purged})`);
      const stored = await storage.snapshotStore!.current();
      assert.ok((stored?.meta.lastLogId?.index ?? 0) >= seen.snapshot, "and they are in the store");
      // Once the loop stops, the policy is checked again: the last entries get their snapshot.
      const last = raft.metrics.current.lastLogIndex;
      await raft.metrics.wait({ timeout: 5000 }).metrics(
        (m) => (m.snapshot?.index ?? 0) > last - 50,
        "a snapshot within 50 entries of the end",
      );
    } finally {
      await raft.shutdown();
    }
  } finally {
    await storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("event loop: the yield guard asks for a macrotask only while work waits and none ran", () => {
  const clock = new ManualClock();
  const guard = new YieldGuard(clock, 5);
  assert.equal(guard.shouldYield(false), false, "nothing waits: never");
  assert.equal(guard.shouldYield(true), false, "starts waiting");
  clock.advance(5);
  assert.equal(guard.shouldYield(true), false, "starts watching");
  // Turns keep running without a macrotask (the clock moves, its timers do not fire).
  let now = clock.now();
  const stalled = { now: () => now };
  const watched = new YieldGuard(
    { now: stalled.now, setTimer: () => ({ active: true }), clearTimer: () => {} },
    5,
  );
  assert.equal(watched.shouldYield(true), false, "work starts waiting");
  now += 4;
  assert.equal(watched.shouldYield(true), false, "waiting 4 ms: nothing yet");
  assert.equal(watched.shouldYield(false), false, "done waiting: the watch resets");
  assert.equal(watched.shouldYield(true), false, "waiting again");
  now += 5;
  assert.equal(watched.shouldYield(true), false, "waiting 5 ms: now watching for macrotasks");
  now += 4;
  assert.equal(watched.shouldYield(true), false, "4 ms: not yet");
  now += 1;
  assert.equal(watched.shouldYield(true), true, "5 ms without a macrotask: yield");
  watched.macrotask();
  assert.equal(watched.shouldYield(true), false, "a turn ran as a macrotask");
  // With a clock whose timers fire (the event loop runs), the probe keeps it from yielding.
  clock.advance(10);
  assert.equal(guard.shouldYield(true), false);
  clock.advance(10);
  assert.equal(guard.shouldYield(true), false);
  guard.stop();
  assert.equal(guard.shouldYield(true), false, "stopped: never");
});
