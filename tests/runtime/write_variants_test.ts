// writeBlank (a barrier), fire-and-forget writes, clientWriteEach (every item's
// outcome), conditional writes (ifLeader) and conditional membership changes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { PreconditionFailed } from "../../src/errors.ts";
import type { WriteOutcome } from "../../src/runtime/raft.ts";

test("runtime/writeBlank: resolves once a blank entry of the current term is applied", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    const write = raft.clientWrite(kvSet("a", enc("1")));
    const barrier = await raft.writeBlank();
    assert.equal(barrier.term, raft.metrics.current.currentTerm);
    assert.ok((raft.metrics.current.lastApplied?.index ?? 0) >= barrier.index);
    assert.ok((await write).logId.index < barrier.index, "what was proposed before is applied");
    assert.equal(dec(c.machines.get(leader)!.get("a")), "1");
  } finally {
    await c.shutdown();
  }
});

test("runtime/clientWriteFF: callbacks get every outcome; without one nothing is left unhandled", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    const follower = c.node([1, 2, 3].find((x) => x !== leader)!);
    const outcomes: WriteOutcome<Uint8Array | null>[] = [];
    await new Promise<void>((resolve) => {
      raft.clientWriteFF(kvSet("ff", enc("1")), (o) => {
        outcomes.push(o);
        resolve();
      });
    });
    assert.ok(outcomes[0]!.ok);
    // A refused write (not the leader) reaches the callback too, as a RaftError.
    const refused = await new Promise<WriteOutcome<Uint8Array | null>>((resolve) =>
      follower.clientWriteFF(kvSet("ff", enc("2")), resolve)
    );
    assert.equal(refused.ok ? "ok" : refused.error.code, "ForwardToLeader");
    // No callback, refused: no unhandled rejection (the test runner would fail on one).
    follower.clientWriteFF(kvSet("ff", enc("3")));
    raft.clientWriteFF("bad" as unknown as Uint8Array);
    // A callback that throws does not stop the node.
    raft.clientWriteFF(kvSet("ff", enc("4")), () => {
      throw new Error("callback bug");
    });
    await raft.writeBlank();
    assert.equal(dec(c.machines.get(leader)!.get("ff")), "4");
    assert.equal(raft.metrics.current.state, "leader");
  } finally {
    await c.shutdown();
  }
});

test("runtime/clientWriteEach: reports each item's outcome, a bad item fails alone", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    const big = new Uint8Array(raft.config.maxPayloadBytes + 1);
    const out = await raft.clientWriteEach([kvSet("x", enc("1")), big, kvSet("y", enc("2"))]);
    assert.equal(out.length, 3);
    assert.ok(out[0]!.ok && out[2]!.ok);
    assert.equal(out[1]!.ok ? "ok" : out[1]!.error.code, "PayloadTooLarge");
    const [first, , third] = out;
    if (first?.ok !== true || third?.ok !== true) throw new Error("expected both to succeed");
    assert.equal(third.result.logId.index, first.result.logId.index + 1, "consecutive entries");
    assert.equal(dec(c.machines.get(leader)!.get("y")), "2");
    // clientWriteMany keeps its all-or-nothing check.
    await assert.rejects(raft.clientWriteMany([kvSet("z", enc("1")), big]));
    assert.equal(c.machines.get(leader)!.get("z"), null);
  } finally {
    await c.shutdown();
  }
});

test("runtime/ifLeader: a write under another leader or term fails with PreconditionFailed", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    const term = raft.metrics.current.currentTerm;
    const ok = await raft.clientWrite(kvSet("c", enc("1")), { ifLeader: { id: leader, term } });
    assert.equal(ok.logId.term, term);
    const before = raft.metrics.current.lastLogIndex;
    const err = await raft.clientWrite(kvSet("c", enc("2")), {
      ifLeader: { id: leader, term: term - 1 },
    }).catch((e: unknown) => e);
    assert.ok(err instanceof PreconditionFailed, String(err));
    assert.deepEqual(err.actual, { id: leader, term });
    assert.equal(raft.metrics.current.lastLogIndex, before, "nothing written");
    assert.equal(dec(c.machines.get(leader)!.get("c")), "1");
  } finally {
    await c.shutdown();
  }
});

test("runtime/ifMembership: a change made against a stale membership fails with PreconditionFailed", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    await c.startNode(4);
    const seen = raft.metrics.current.membership.logId;
    await raft.addLearner(4, { addr: "n4" });
    const err = await raft.changeMembership({ type: "add-voter-ids", ids: [4] }, {
      ifMembership: seen,
    }).catch((e: unknown) => e);
    assert.ok(err instanceof PreconditionFailed, String(err));
    assert.equal(err.condition, "membership");
    const now = raft.metrics.current.membership.logId;
    await raft.changeMembership({ type: "add-voter-ids", ids: [4] }, { ifMembership: now });
    await raft.metrics.wait({ timeout: 5000 }).members([1, 2, 3, 4]);
  } finally {
    await c.shutdown();
  }
});
