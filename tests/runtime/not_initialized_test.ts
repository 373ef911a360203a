// Before `initialize` a node refuses what needs a membership with NotInitialized (not
// ForwardToLeader), and isInitialized() agrees with what `initialize` would refuse.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { MemoryStateMachine } from "../../kv/mod.ts";
import { AlreadyInitialized, ForwardToLeader, NotInitialized } from "../../src/errors.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { enc, FAST, RuntimeCluster, sleep } from "./_cluster.ts";

test("runtime/not initialized: writes, reads, changes and snapshots reject with NotInitialized", async () => {
  const raft = await Raft.create({
    id: 1,
    config: FAST,
    logStore: new MemoryLogStore(),
    stateMachine: new MemoryStateMachine(),
    network: new MemoryNetwork().client(1),
  });
  try {
    assert.equal(raft.isInitialized(), false);
    await assert.rejects(raft.clientWrite(enc("x")), NotInitialized);
    await assert.rejects(raft.clientWriteMany([enc("x")]), NotInitialized);
    await assert.rejects(raft.writeBlank(), NotInitialized);
    await assert.rejects(raft.ensureLinearizable(), NotInitialized);
    await assert.rejects(
      raft.changeMembership({ type: "add-voter-ids", ids: [2] }),
      NotInitialized,
    );
    await assert.rejects(raft.addLearner(2, { addr: "n2" }), NotInitialized);
    await assert.rejects(raft.trigger.snapshot(), NotInitialized);
    await assert.rejects(raft.trigger.transferLeader(2), NotInitialized);
    const each = await raft.clientWriteEach([enc("x")]);
    assert.equal(each[0]!.ok ? "ok" : each[0]!.error.code, "NotInitialized");
    const ff = await new Promise<string>((resolve) =>
      raft.clientWriteFF(enc("x"), (o) => resolve(o.ok ? "ok" : o.error.code))
    );
    assert.equal(ff, "NotInitialized");
    assert.equal(raft.metrics.current.lastLogIndex, 0, "nothing was written");
    await raft.initialize([1]);
    assert.equal(raft.isInitialized(), true);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
    assert.equal((await raft.clientWrite(enc("x"))).logId.index, 3);
  } finally {
    await raft.shutdown();
  }
});

test("runtime/not initialized: a node with only a vote is initialized (initialize refuses it)", async () => {
  const store = new MemoryLogStore();
  await store.saveVote({ term: 3, votedFor: 2, committed: false });
  const raft = await Raft.create({
    id: 1,
    config: { ...FAST, enableElect: false },
    logStore: store,
    stateMachine: new MemoryStateMachine(),
    network: new MemoryNetwork().client(1),
  });
  try {
    assert.equal(raft.isInitialized(), true);
    await assert.rejects(raft.initialize([1]), AlreadyInitialized);
    // Initialized but no leader known: a write is forwarded, not refused as uninitialized.
    await assert.rejects(raft.clientWrite(enc("x")), ForwardToLeader);
  } finally {
    await raft.shutdown();
  }
});

test("runtime/addLearner: blocking rejects when this node stops leading before the learner caught up", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.startNode(4);
    c.net.isolate(4); // the learner never catches up
    const adding = c.node(leader).addLearner(4, { addr: "n4" }, { timeout: 20_000 });
    const outcome = adding.then(() => "resolved", (e: unknown) => e);
    await c.node(leader).metrics.wait({ timeout: 5000 }).metrics(
      (m) =>
        m.membership.membership.nodes.has(4) && (m.committed?.index ?? 0) >=
          (m.membership.logId?.index ?? Infinity),
      "learner 4 added and committed",
    );
    await sleep(20);
    await c.node(leader).trigger.transferLeader([1, 2, 3].find((x) => x !== leader)!);
    const err = await outcome;
    assert.ok(err instanceof ForwardToLeader, `rejects, got ${String(err)}`);
  } finally {
    await c.shutdown();
  }
});
