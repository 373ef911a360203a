// Storage that answers synchronously (a write returning undefined, apply returning an array)
// and storage that answers with promises are both first-class: the runtime takes the first in
// the same turn and waits for the second. Failures of either form stop the node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, FAST } from "./_cluster.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { ApplyError, StorageError } from "../../src/errors.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { SeededRandom } from "../../src/random.ts";
import type { LogStore, StateMachine } from "../../src/storage.ts";
import type { Entry, LogId, NodeId, Vote } from "../../src/types.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";

/** A memory log store whose writes answer with a promise (as a remote database would). */
class PromisingLogStore extends MemoryLogStore {
  override saveVote(vote: Vote): Promise<void> {
    return Promise.resolve(super.saveVote(vote));
  }
  override append(entries: readonly Entry[]): Promise<void> {
    return Promise.resolve(super.append(entries));
  }
  override truncate(since: number): Promise<void> {
    return Promise.resolve(super.truncate(since));
  }
  override purge(upTo: LogId): Promise<void> {
    return Promise.resolve(super.purge(upTo));
  }
  override saveCommitted(committed: LogId | null): Promise<void> {
    return Promise.resolve(super.saveCommitted(committed));
  }
}

/** A memory state machine that answers with a promise, after a macrotask. */
class PromisingStateMachine extends MemoryStateMachine {
  override apply(entries: readonly Entry[]): Promise<(Uint8Array | null | undefined)[]> {
    return new Promise((resolve) => setTimeout(resolve, 0)).then(() => super.apply(entries));
  }
}

type KvRaft = Raft<Uint8Array | null>;

async function start(
  net: MemoryNetwork,
  id: NodeId,
  logStore: LogStore,
  stateMachine: StateMachine<Uint8Array | null>,
): Promise<KvRaft> {
  const raft = await Raft.create({
    id,
    config: FAST,
    logStore,
    stateMachine,
    network: net.client(id),
    random: new SeededRandom(id),
  });
  net.register(id, (_from, req, data) => raft.handle(req, data));
  return raft;
}

async function waitLeader(nodes: KvRaft[]): Promise<KvRaft> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const leaders = nodes.filter((n) => n.metrics.current.state === "leader");
    if (leaders.length === 1) return leaders[0]!;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error("no leader within 5 s");
}

test("runtime: synchronous and promise-answering storage mix in one cluster", async () => {
  const net = new MemoryNetwork();
  const machines = [
    new MemoryStateMachine(),
    new PromisingStateMachine(),
    new MemoryStateMachine(),
  ];
  const nodes = [
    await start(net, 1, new PromisingLogStore(), machines[0]!),
    await start(net, 2, new MemoryLogStore(), machines[1]!),
    await start(net, 3, new MemoryLogStore(), machines[2]!),
  ];
  try {
    await nodes[0]!.initialize([1, 2, 3]);
    for (let round = 0; round < 2; round++) {
      const leader = await waitLeader(nodes);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => leader.clientWrite(kvSet(`k${i}`, enc(`${round}`)))),
      );
      for (const r of results) assert.equal(dec(r.response), round === 0 ? null : "0");
      const last = results[results.length - 1]!.logId.index;
      for (const n of nodes) await n.metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
      for (const sm of machines) assert.equal(dec(sm.get("k19")), `${round}`);
      // Hand leadership on, so the other kinds of storage lead the second round.
      if (round === 0) {
        const next = nodes.find((n) => n !== leader)!;
        await leader.trigger.transferLeader(next.id);
        await next.metrics.wait({ timeout: 5000 }).role("leader");
      }
    }
  } finally {
    for (const n of nodes) await n.shutdown();
  }
});

/** A log store whose next append throws (synchronously) instead of rejecting. */
class ThrowingLogStore extends MemoryLogStore {
  armed = false;
  override append(entries: readonly Entry[]): Promise<void> | void {
    if (this.armed) throw new Error("disk gone");
    return super.append(entries);
  }
}

test("runtime: a log store write that throws is fatal like a rejection", async () => {
  const net = new MemoryNetwork();
  const store = new ThrowingLogStore();
  const raft = await start(net, 1, store, new MemoryStateMachine());
  try {
    await raft.initialize([1]);
    await waitLeader([raft]);
    await raft.clientWrite(kvSet("a", enc("1")));
    store.armed = true;
    const err = await raft.clientWrite(kvSet("b", enc("1"))).then(
      () => assert.fail("the write succeeded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof StorageError);
    assert.equal(err.operation, "append");
    await assert.rejects(raft.clientWrite(kvSet("c", enc("1"))), StorageError);
    assert.equal(store.contents("durable").lastLogId?.index, 3, "nothing written after");
  } finally {
    await raft.shutdown();
  }
});

/** A state machine whose apply fails, by throwing or by rejecting. */
class FailingStateMachine extends MemoryStateMachine {
  mode: "ok" | "throw" | "reject" = "ok";
  override apply(
    entries: readonly Entry[],
  ): Promise<(Uint8Array | null | undefined)[]> | (Uint8Array | null | undefined)[] {
    if (this.mode === "throw") throw new Error("state machine broke");
    if (this.mode === "reject") return Promise.reject(new Error("state machine broke"));
    return super.apply(entries);
  }
}

for (const mode of ["throw", "reject"] as const) {
  test(`runtime: a state machine apply that fails (${mode}) stops the node`, async () => {
    const net = new MemoryNetwork();
    const sm = new FailingStateMachine();
    const raft = await start(net, 1, new MemoryLogStore(), sm);
    try {
      await raft.initialize([1]);
      await waitLeader([raft]);
      await raft.clientWrite(kvSet("a", enc("1")));
      sm.mode = mode;
      const err = await raft.clientWrite(kvSet("b", enc("1"))).then(
        () => assert.fail("the write succeeded"),
        (e: unknown) => e,
      );
      // Its own class (not a StorageError): the state machine failed, not the log store.
      assert.ok(err instanceof ApplyError, String(err));
      assert.equal(err.operation, "apply");
      assert.equal(err.first?.index, 4, "names the first entry of the failed batch");
      assert.ok(raft.metrics.current.storageError instanceof ApplyError);
      assert.equal(sm.get("b"), null);
    } finally {
      await raft.shutdown();
    }
  });
}

test("runtime: with a synchronous log store, a leader sends a write's append requests before its own append (the fsyncs overlap)", async () => {
  const events: string[] = [];
  /** A synchronous store that records each append's last index. */
  class RecordingLogStore extends MemoryLogStore {
    override append(entries: readonly Entry[]): Promise<void> | void {
      const last = entries[entries.length - 1];
      if (last !== undefined) events.push(`store ${last.index}`);
      return super.append(entries);
    }
  }
  const net = new MemoryNetwork();
  const client = net.client(1);
  const recording: typeof client = {
    send(target, node, request, options) {
      if (request.type === "append" && request.entries.length > 0) {
        events.push(`send ${request.entries[request.entries.length - 1]!.index}`);
      }
      return client.send(target, node, request, options);
    },
    installSnapshot: (...args) => client.installSnapshot(...args),
  };
  const leader = await Raft.create({
    id: 1,
    config: FAST,
    logStore: new RecordingLogStore(),
    stateMachine: new MemoryStateMachine(),
    network: recording,
    random: new SeededRandom(1),
  });
  net.register(1, (_from, req, data) => leader.handle(req, data));
  const others = [
    await start(net, 2, new MemoryLogStore(), new MemoryStateMachine()),
    await start(net, 3, new MemoryLogStore(), new MemoryStateMachine()),
  ];
  try {
    await leader.initialize([1, 2, 3]);
    await leader.metrics.wait({ timeout: 5000 }).role("leader");
    await leader.writeBlank();
    events.length = 0;
    const { logId } = await leader.clientWrite(kvSet("a", enc("1")));
    const stored = events.indexOf(`store ${logId.index}`);
    const sent = events.indexOf(`send ${logId.index}`);
    assert.ok(stored >= 0 && sent >= 0, events.join(", "));
    assert.ok(sent < stored, `sent before stored: ${events.join(", ")}`);
  } finally {
    for (const n of [leader, ...others]) await n.shutdown();
  }
});
