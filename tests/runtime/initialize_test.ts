// `initialize` acknowledges nothing before it is durable (issue 12, item 2: a node
// initialized, crashed before its sync, and restarted with an empty log).
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { MemoryStateMachine } from "../../kv/mod.ts";
import { ShuttingDown } from "../../src/errors.ts";
import { Raft } from "../../src/runtime/raft.ts";
import type { Entry } from "../../src/types.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { FAST } from "./_cluster.ts";

/** A memory store whose appends finish only when `release()` is called. */
class HeldAppends extends MemoryLogStore {
  #held: (() => void)[] = [];
  holding = true;

  override append(entries: readonly Entry[]): Promise<void> {
    if (!this.holding) return Promise.resolve(super.append(entries));
    return new Promise((resolve, reject) => {
      this.#held.push(() => Promise.resolve(super.append(entries)).then(resolve, reject));
    });
  }

  get waiting(): number {
    return this.#held.length;
  }

  release(): void {
    this.holding = false;
    for (const run of this.#held.splice(0)) run();
  }
}

function tick(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

test("runtime/initialize: resolves only once the first membership entry is durable", async () => {
  const store = new HeldAppends();
  const raft = await Raft.create({
    id: 1,
    config: FAST,
    logStore: store,
    stateMachine: new MemoryStateMachine(),
    network: new MemoryNetwork().client(1),
  });
  try {
    let settled = false;
    const init = raft.initialize([1]).then(() => (settled = true));
    for (let i = 0; i < 5; i++) await tick();
    assert.equal(store.waiting, 1, "the entry is being written");
    assert.equal(settled, false, "not acknowledged before it is durable");
    assert.equal((await store.logState()).lastLogId, null);
    store.release();
    await init;
    const [first] = await store.entries(1, 1);
    assert.equal(first?.type, "membership");
  } finally {
    await raft.shutdown();
  }
});

test("runtime/initialize: a node stopped before the entry is durable rejects; called again after restart it forms the cluster", async () => {
  const store = new HeldAppends({ syncMode: "manual" });
  const net = new MemoryNetwork();
  const first = await Raft.create({
    id: 1,
    config: FAST,
    logStore: store,
    stateMachine: new MemoryStateMachine(),
    network: net.client(1),
  });
  const init = first.initialize([1]);
  for (let i = 0; i < 5; i++) await tick();
  const stopped = first.shutdown();
  await assert.rejects(init, ShuttingDown);
  store.release();
  await stopped;
  const restarted = store.crash();
  assert.equal((await restarted.logState()).lastLogId, null, "nothing was durable");
  const again = await Raft.create({
    id: 1,
    config: FAST,
    logStore: restarted,
    stateMachine: new MemoryStateMachine(),
    network: net.client(1),
  });
  try {
    assert.equal(again.isInitialized(), false);
    await again.initialize([1]);
    restarted.sync();
    await again.metrics.wait({ timeout: 5000 }).role("leader");
    const [entry] = await restarted.crash().entries(1, 1);
    assert.equal(entry?.type, "membership", "the membership survives a crash now");
  } finally {
    await again.shutdown();
  }
});
