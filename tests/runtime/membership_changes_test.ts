// Membership changes beyond voters: node records (set-nodes, replace-all-nodes),
// removing a learner, batches; every refusal a RaftError.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RuntimeCluster } from "./_cluster.ts";
import { EmptyMembership, InvalidArgument, RaftError } from "../../src/errors.ts";
import { votersOf } from "../../src/types.ts";

test("runtime/membership: set-nodes changes addresses, replace-all-nodes drops learners", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    await c.start([4, 5]);
    await raft.addLearner(4, { addr: "n4" });
    await raft.addLearner(5, { addr: "n5" });
    await raft.changeMembership({ type: "set-nodes", nodes: new Map([[2, { addr: "n2-new" }]]) });
    const m = raft.metrics.current.membership.membership;
    assert.equal(m.nodes.get(2)?.addr, "n2-new");
    assert.deepEqual(votersOf(m), [1, 2, 3], "voters unchanged");
    await assert.rejects(
      raft.changeMembership({ type: "set-nodes", nodes: new Map([[9, { addr: "n9" }]]) }),
      InvalidArgument,
    );
    const all = new Map([[1, { addr: "a1" }], [2, { addr: "a2" }], [3, { addr: "a3" }], [
      4,
      { addr: "a4" },
    ]]);
    await raft.changeMembership({ type: "replace-all-nodes", nodes: all });
    const r = raft.metrics.current.membership.membership;
    assert.deepEqual([...r.nodes.keys()].sort(), [1, 2, 3, 4]);
    assert.equal(r.nodes.get(4)?.addr, "a4");
    await assert.rejects(
      raft.changeMembership({ type: "replace-all-nodes", nodes: new Map([[1, { addr: "a1" }]]) }),
      InvalidArgument,
      "must keep every voter",
    );
  } finally {
    await c.shutdown();
  }
});

test("runtime/membership: removing a learner works, removing a voter with remove-nodes is InvalidArgument", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    await c.startNode(4);
    await raft.addLearner(4, { addr: "n4" });
    const err = await raft.changeMembership({ type: "remove-nodes", ids: [leader] }).catch((
      e: unknown,
    ) => e);
    assert.ok(err instanceof InvalidArgument, String(err)); // was a RangeError
    await raft.changeMembership({ type: "remove-nodes", ids: [4] });
    assert.equal(raft.metrics.current.membership.membership.nodes.has(4), false);
  } finally {
    await c.shutdown();
  }
});

test("runtime/membership: a batch applies its changes in order as one change", async () => {
  const c = new RuntimeCluster();
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    await c.startNode(4);
    await raft.addLearner(4, { addr: "n4" });
    const removed = [1, 2, 3].find((x) => x !== leader)!;
    await raft.changeMembership({
      type: "batch",
      changes: [
        { type: "add-voter-ids", ids: [4] },
        { type: "remove-voters", ids: [removed] },
        { type: "set-nodes", nodes: new Map([[4, { addr: "n4-new" }]]) },
      ],
    });
    const m = raft.metrics.current.membership.membership;
    assert.deepEqual(votersOf(m), [1, 2, 3, 4].filter((x) => x !== removed));
    assert.equal(m.nodes.get(4)?.addr, "n4-new");
    const err = await raft.changeMembership({
      type: "batch",
      changes: [{ type: "remove-voters", ids: [1, 2, 3, 4] }],
    }).catch((e: unknown) => e);
    assert.ok(err instanceof EmptyMembership && err instanceof RaftError);
  } finally {
    await c.shutdown();
  }
});
