// TypedClient: typed commands written through a node, decoded by typedApply.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Raft, type WriteOutcome } from "../../src/runtime/raft.ts";
import { TypedClient } from "../../src/runtime/typed_client.ts";
import { cborCodec, type CommandCodec, jsonCodec, typedApply } from "../../src/command_codec.ts";
import { InvalidArgument, NotInitialized } from "../../src/errors.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import type { StateMachine } from "../../src/storage.ts";
import {
  EMPTY_MEMBERSHIP,
  type Entry,
  type LogId,
  type StoredMembership,
} from "../../src/types.ts";

type Command = { incr: string; by: number };

/** A counter state machine applying typed commands. */
function counter(codec: CommandCodec<Command>) {
  const counts = new Map<string, number>();
  let applied: LogId | null = null;
  let membership: StoredMembership = { logId: null, membership: EMPTY_MEMBERSHIP };
  const apply = typedApply(codec, (c: Command) => {
    const n = (counts.get(c.incr) ?? 0) + c.by;
    counts.set(c.incr, n);
    return n;
  });
  const sm: StateMachine<number> = {
    appliedState: () => Promise.resolve({ lastApplied: applied, membership }),
    apply(entries: readonly Entry[]) {
      for (const e of entries) {
        if (e.type === "membership") membership = { logId: e, membership: e.membership };
      }
      applied = entries.at(-1) ?? applied;
      return apply(entries);
    },
    buildSnapshot: () => Promise.reject(new Error("unused")),
    installSnapshot: () => Promise.reject(new Error("unused")),
    currentSnapshot: () => Promise.resolve(null),
  };
  return { sm, counts };
}

async function node(codec: CommandCodec<Command>, init = true) {
  const { sm, counts } = counter(codec);
  const raft = await Raft.create<number>({
    id: 1,
    logStore: new MemoryLogStore(),
    network: new MemoryNetwork().client(1),
    stateMachine: sm,
    config: { snapshotPolicy: { kind: "never" } },
  });
  if (init) {
    await raft.initialize([1]);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
  }
  return { raft, counts };
}

for (
  const [name, codec] of [["json", jsonCodec<Command>()], ["cbor", cborCodec<Command>()]] as const
) {
  test(`typed client (${name}): write resolves with the state machine's typed response`, async () => {
    const { raft, counts } = await node(codec);
    try {
      const client = new TypedClient(raft, codec);
      const a = await client.write({ incr: "a", by: 2 });
      const b = await client.write({ incr: "a", by: 3 });
      assert.equal(a.response, 2);
      assert.equal(b.response, 5);
      assert.equal(b.logId.index, a.logId.index + 1);
      assert.equal(counts.get("a"), 5);
    } finally {
      await raft.shutdown();
    }
  });
}

test("typed client: a command the codec refuses is InvalidArgument and nothing is proposed", async () => {
  const codec = jsonCodec<Command>();
  const { raft } = await node(codec);
  try {
    const client = new TypedClient(raft, codec);
    const before = raft.metrics.current.lastLogIndex;
    await assert.rejects(client.write({ incr: "a", by: NaN }), InvalidArgument);
    assert.equal(raft.metrics.current.lastLogIndex, before);
  } finally {
    await raft.shutdown();
  }
});

test("typed client: writeEach reports each outcome; a refused command fails alone", async () => {
  const codec = jsonCodec<Command>();
  const { raft } = await node(codec);
  try {
    const client = new TypedClient(raft, codec);
    const outcomes = await client.writeEach([
      { incr: "x", by: 1 },
      { incr: "x", by: Infinity },
      { incr: "x", by: 10 },
    ]);
    assert.deepEqual(outcomes.map((o) => o.ok ? o.result.response : o.error.code), [
      1,
      "InvalidArgument",
      11,
    ]);
  } finally {
    await raft.shutdown();
  }
});

test("typed client: writeFF calls back once with the outcome, refusals included", async () => {
  const codec = jsonCodec<Command>();
  const { raft, counts } = await node(codec);
  try {
    const client = new TypedClient(raft, codec);
    const heard: WriteOutcome<number>[] = [];
    client.writeFF({ incr: "f", by: 4 }, (o) => heard.push(o));
    client.writeFF({ incr: "f", by: NaN }, (o) => heard.push(o));
    client.writeFF({ incr: "f", by: 1 }); // no callback: nothing to hear, still written
    await raft.writeBlank();
    assert.equal(heard.length, 2);
    assert.ok(heard.some((o) => o.ok && o.result.response === 4));
    assert.ok(heard.some((o) => !o.ok && o.error instanceof InvalidArgument));
    assert.equal(counts.get("f"), 5);
  } finally {
    await raft.shutdown();
  }
});

test("typed client: the node's own refusals come through unchanged", async () => {
  const codec = jsonCodec<Command>();
  const { raft } = await node(codec, false);
  try {
    await assert.rejects(new TypedClient(raft, codec).write({ incr: "a", by: 1 }), NotInitialized);
  } finally {
    await raft.shutdown();
  }
});
