// Nothing a peer, a network or a logging hook does can take the process down (issue 12,
// item 3: an exception thrown inside the turn loop crashed every node of a cluster).
import { test } from "node:test";
import assert from "node:assert/strict";
import { FAST, RuntimeCluster } from "./_cluster.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { InternalError } from "../../src/errors.ts";
import type { RaftNetwork } from "../../src/network.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";

test("runtime/turn safety: a network whose send throws is a failed send, not a crash", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    await c.start([1, 2, 3]);
    // Node 1's network throws synchronously (e.g. an encoding failure) on its first sends
    // to node 3.
    const inner = c.net.client(1);
    let thrown = 0;
    const throwing: RaftNetwork = {
      send(to, node, request, options) {
        if (to === 3 && thrown < 5) {
          thrown++;
          throw new TypeError("term must be a non-negative safe integer");
        }
        return inner.send(to, node, request, options);
      },
      installSnapshot: (to, node, request, data, options) =>
        inner.installSnapshot(to, node, request, data, options),
    };
    await c.node(1).shutdown();
    c.net.unregister(1);
    const raft = await Raft.create({
      id: 1,
      config: FAST,
      logStore: new MemoryLogStore(),
      stateMachine: new MemoryStateMachine(),
      network: throwing,
    });
    c.nodes.set(1, raft);
    c.net.register(1, (_from, req, data) => raft.handle(req, data));
    await raft.initialize([1, 2, 3]);
    const leader = await c.waitLeader();
    await c.node(leader).clientWrite(kvSet("k", "v"));
    await raft.metrics.wait({ timeout: 5000 }).appliedAtLeast(3);
    assert.equal(thrown, 5, "node 1's sends to node 3 threw");
    assert.equal(raft.metrics.current.storageError, null);
    assert.notEqual(raft.metrics.current.state, "shutdown");
  } finally {
    await c.shutdown();
  }
});

test("runtime/turn safety: a logging hook that throws changes nothing", async () => {
  const net = new MemoryNetwork();
  const raft = await Raft.create({
    id: 1,
    config: FAST,
    logStore: new MemoryLogStore(),
    stateMachine: new MemoryStateMachine(),
    network: net.client(1),
    logger: {
      debug: () => {
        throw new Error("debug");
      },
      info: () => {
        throw new Error("info");
      },
      warn: () => {
        throw new Error("warn");
      },
      error: () => {
        throw new Error("error");
      },
    },
  });
  try {
    await raft.initialize([1]);
    await raft.metrics.wait({ timeout: 5000 }).role("leader"); // logs "role" at info
    await raft.clientWrite(kvSet("k", "v"));
    assert.equal(raft.metrics.current.storageError, null);
  } finally {
    await raft.shutdown();
  }
});

test("runtime/turn safety: a broken invariant stops that node with InternalError; the process goes on", async () => {
  const net = new MemoryNetwork();
  const raft = await Raft.create({
    id: 2,
    config: FAST,
    logStore: new MemoryLogStore(),
    stateMachine: new MemoryStateMachine(),
    network: net.client(2),
  });
  // `handle` trusts the shape of what it is given (the transport decodes and checks every
  // byte first): an in-process caller that skips the codec can hand it entries that do
  // not continue the log. The engine's own checks catch it.
  const bad = await raft.handle({
    type: "append",
    term: 1,
    leaderId: 1,
    prevLogId: null,
    entries: [{ term: 1, index: 5, type: "blank" }, { term: 1, index: 2, type: "blank" }],
    leaderCommit: 0,
    round: 1,
    clusterId: "",
  }).then(() => null, (e) => e);
  const fatal = raft.metrics.current.storageError;
  assert.ok(fatal instanceof InternalError, `stopped with ${fatal}`);
  assert.equal(fatal.operation, "turn");
  assert.ok(bad instanceof InternalError);
  await assert.rejects(raft.clientWrite(kvSet("k", "v")), InternalError);
  assert.equal(raft.metrics.current.state, "shutdown");
  await raft.shutdown();
});
