// { timeout, signal } on the calls that wait: Timeout / Aborted, and whether the
// operation may still take effect (`logId`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { Aborted, InvalidArgument, Timeout } from "../../src/errors.ts";

test("runtime/call options: a write that cannot commit times out with its log id (it may still happen)", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    for (const id of [1, 2, 3]) if (id !== leader) c.net.isolate(id);
    const err = await raft.clientWrite(kvSet("k", enc("v")), { timeout: 30 }).then(
      () => "resolved",
      (e: unknown) => e,
    );
    assert.ok(err instanceof Timeout, String(err));
    assert.equal(err.action, "clientWrite");
    assert.ok(err.logId !== null, "in the log: it may still take effect");
    assert.equal(raft.metrics.current.lastLogId?.index, err.logId.index);
    // It does take effect once the leader reaches a quorum again (if it still leads).
    c.net.heal();
    if (raft.metrics.current.state === "leader") {
      await raft.metrics.wait({ timeout: 5000 }).appliedAtLeast(err.logId.index);
    }
  } finally {
    await c.shutdown();
  }
});

test("runtime/call options: an aborted signal rejects at once and writes nothing", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    const before = raft.metrics.current.lastLogIndex;
    const ctl = new AbortController();
    ctl.abort(new Error("user went away"));
    const err = await raft.clientWrite(kvSet("k", enc("v")), { signal: ctl.signal }).then(
      () => "resolved",
      (e: unknown) => e,
    );
    assert.ok(err instanceof Aborted, String(err));
    assert.equal(err.logId, null, "not in the log");
    assert.equal((err.cause as Error).message, "user went away");
    await assert.rejects(raft.writeBlank({ signal: ctl.signal }), Aborted);
    await assert.rejects(raft.ensureLinearizable({ signal: ctl.signal }), Aborted);
    await assert.rejects(
      raft.changeMembership({ type: "remove-voters", ids: [leader] }, { signal: ctl.signal }),
      Aborted,
    );
    // A later barrier commits: the log grew by that blank entry only.
    const barrier = await raft.writeBlank();
    assert.equal(barrier.index, before + 1);
  } finally {
    await c.shutdown();
  }
});

test("runtime/call options: a signal aborted while waiting rejects; the write still applies", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    for (const id of [1, 2, 3]) if (id !== leader) c.net.isolate(id);
    const ctl = new AbortController();
    const pending = raft.clientWrite(kvSet("a", enc("1")), { signal: ctl.signal });
    await raft.metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.lastLogIndex > (m.committed?.index ?? 0),
      "write appended",
    );
    ctl.abort();
    const err = await pending.then(() => "resolved", (e: unknown) => e);
    assert.ok(err instanceof Aborted && err.logId !== null, String(err));
    c.net.heal();
    if (raft.metrics.current.state === "leader") {
      await raft.metrics.wait({ timeout: 5000 }).appliedAtLeast(err.logId.index);
      assert.equal(dec(c.machines.get(leader)!.get("a")), "1");
    }
  } finally {
    await c.shutdown();
  }
});

test("runtime/call options: reads and membership changes time out; bad options are InvalidArgument", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    await assert.rejects(raft.clientWrite(enc("x"), { timeout: -5 }), InvalidArgument);
    await assert.rejects(
      raft.clientWrite(enc("x"), { ifLeader: { id: -1, term: 1 } }),
      InvalidArgument,
    );
    await assert.rejects(
      raft.clientWrite(enc("x"), { signal: "no" as unknown as AbortSignal }),
      InvalidArgument,
    );
    for (const id of [1, 2, 3]) if (id !== leader) c.net.isolate(id);
    const read = await raft.ensureLinearizable({ timeout: 30 }).catch((e: unknown) => e);
    assert.ok(read instanceof Timeout, String(read));
    assert.equal(read.logId, null, "a read changes nothing");
    const change = await raft.changeMembership({ type: "remove-voters", ids: [leader] }, {
      timeout: 30,
    }).catch((e: unknown) => e);
    assert.ok(change instanceof Timeout, String(change));
    assert.ok(change.logId !== null, "the joint configuration is in the log");
  } finally {
    await c.shutdown();
  }
});
