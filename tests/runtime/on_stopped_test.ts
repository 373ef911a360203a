// Raft.onStopped: told once why the node stopped (a fatal error, or shutdown), at no cost while
// it runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { enc, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { type RaftError, ShuttingDown, StorageError } from "../../src/errors.ts";

test("runtime/onStopped: a storage failure tells each listener once, with the StorageError; a removed or throwing listener does not disturb the rest", async () => {
  const c = new RuntimeCluster();
  const errors: string[] = [];
  c.loggerFor = () => ({
    debug: () => {},
    info: () => {},
    warn: () => {},
    error: (message) => void errors.push(message),
  });
  try {
    const leader = await c.bootstrap([1]);
    const raft = c.node(leader);
    const seen: RaftError[] = [];
    const removed: RaftError[] = [];
    raft.onStopped(() => {
      throw new Error("listener bug");
    });
    raft.onStopped((e) => seen.push(e));
    raft.onStopped((e) => removed.push(e))();
    await raft.clientWrite(kvSet("a", enc("1")));
    assert.equal(seen.length, 0, "not told while it runs");
    c.stores.get(leader)!.failNext("append", new Error("disk on fire"));
    await assert.rejects(raft.clientWrite(kvSet("x", enc("1"))), StorageError);
    assert.equal(seen.length, 1);
    assert.ok(seen[0] instanceof StorageError);
    assert.equal(seen[0], raft.metrics.current.storageError, "the error the metrics show");
    assert.deepEqual(removed, []);
    assert.ok(errors.includes("onStopped listener threw"));
    // Stopped already: a new listener is told at once; shutting down tells nobody again.
    const late: RaftError[] = [];
    raft.onStopped((e) => late.push(e));
    assert.deepEqual(late, [seen[0]]);
    await raft.shutdown();
    assert.equal(seen.length, 1, "once");
  } finally {
    await c.shutdown();
  }
});

test("runtime/onStopped: shutdown tells the listeners with ShuttingDown once storage is closed", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1]);
    const raft = c.node(leader);
    const seen: { error: RaftError; state: string }[] = [];
    raft.onStopped((error) => seen.push({ error, state: raft.metrics.current.state }));
    const stopping = raft.shutdown();
    assert.equal(seen.length, 0, "not before shutdown finished");
    await stopping;
    assert.equal(seen.length, 1);
    assert.ok(seen[0]!.error instanceof ShuttingDown);
    assert.equal(seen[0]!.state, "shutdown");
    await raft.shutdown();
    assert.equal(seen.length, 1, "once");
  } finally {
    await c.shutdown();
  }
});
