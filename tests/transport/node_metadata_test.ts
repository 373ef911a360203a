// A node's fields besides `addr` (user metadata: zone, tags, …) survive replication over
// real HTTP: in the membership entries a follower appends, and in the snapshot metadata a
// learner behind the leader's purge point installs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HttpNetwork } from "../../src/transport/http_network.ts";
import { raftRoutes } from "../../src/transport/raft_routes.ts";
import { Raft } from "../../src/runtime/raft.ts";
import type { NodeId, RaftNode } from "../../src/types.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { serveLocal } from "./_serve.ts";
import type { Hono } from "hono";

const CONFIG = {
  electionTimeoutMin: 150,
  electionTimeoutMax: 300,
  heartbeatInterval: 30,
  snapshotPolicy: { kind: "never" },
  maxInSnapshotLogsToKeep: 0,
} as const;

/** The fields of node `id` as a node of `raft` sees them in its membership. */
function seenBy(raft: Raft<Uint8Array | null>, id: NodeId): RaftNode | undefined {
  return raft.metrics.current.membership.membership.nodes.get(id);
}

test("node metadata survives replication over HTTP: appended membership entries and an installed snapshot", async () => {
  const nodes = new Map<NodeId, Raft<Uint8Array | null>>();
  const apps = new Map<NodeId, Hono>();
  const servers: { close(): Promise<void> }[] = [];
  const addrs = new Map<NodeId, string>();
  const stores = new Map<NodeId, { log: MemoryLogStore; sm: MemoryStateMachine }>();
  const start = async (id: NodeId) => {
    const { log, sm } = stores.get(id)!;
    const raft = await Raft.create({
      id,
      config: CONFIG,
      logStore: log,
      stateMachine: sm,
      network: new HttpNetwork({ timeout: 500 }),
    });
    nodes.set(id, raft);
    apps.set(id, raftRoutes(raft));
    return raft;
  };
  // Node 3 answers 503 until `open`, and the requests that reach it are recorded.
  let open = false;
  const reached: string[] = [];
  try {
    for (const id of [1, 2, 3] as const) {
      stores.set(id, { log: new MemoryLogStore(), sm: new MemoryStateMachine() });
      await start(id);
      const server = await serveLocal((req) => {
        if (id !== 3) return apps.get(id)!.fetch(req);
        if (!open) return new Response("not yet", { status: 503 });
        reached.push(new URL(req.url).pathname);
        return apps.get(id)!.fetch(req);
      });
      servers.push(server);
      addrs.set(id, server.url);
    }
    const one = { addr: addrs.get(1)!, zone: "eu-west-1a", tags: ["ssd"], weight: 1.5 };
    const two = {
      addr: addrs.get(2)!,
      zone: "eu-west-1b",
      tags: [],
      spare: true,
      rack: null,
      limits: { cpu: 8, disks: [{ kind: "nvme", size: 1e12 }] },
    };
    const three = { addr: addrs.get(3)!, zone: "eu-west-1c", tags: ["arm64", "small"] };
    let leader = nodes.get(1)!;
    await leader.initialize(new Map([[1, one as RaftNode]]));
    await leader.metrics.wait({ timeout: 10_000 }).role("leader");

    // Node 2 learns the membership from the appended entries.
    const added = await leader.addLearner(2, two as RaftNode, { timeout: 10_000 });
    const follower = nodes.get(2)!;
    await follower.metrics.wait({ timeout: 10_000 }).appliedAtLeast(added.logId.index);
    assert.deepEqual(seenBy(follower, 1), one);
    assert.deepEqual(seenBy(follower, 2), two);

    // Node 3 is added while it cannot be reached; the log is purged behind a snapshot that
    // holds its membership, and the leader restarts (so no entry is left in its memory):
    // node 3 can only learn its membership from the snapshot's metadata.
    const third = await leader.addLearner(3, three as RaftNode, { blocking: false });
    const { logId } = await leader.clientWrite(kvSet("k", "v"));
    await follower.metrics.wait({ timeout: 10_000 }).appliedAtLeast(logId.index);
    const meta = await leader.trigger.snapshot();
    assert.ok(meta.lastLogId!.index >= third.logId.index);
    assert.deepEqual(meta.lastMembership.membership.nodes.get(3), three);
    await leader.metrics.wait({ timeout: 10_000 }).metrics(
      (m) => (m.purged?.index ?? 0) >= meta.lastLogId!.index,
      "log purged up to the snapshot",
    );
    await leader.shutdown();
    const before = stores.get(1)!;
    stores.set(1, { log: before.log.crash(), sm: before.sm }); // the durable part of the log
    leader = await start(1);
    await leader.metrics.wait({ timeout: 10_000 }).role("leader");
    assert.deepEqual(seenBy(leader, 3), three, "the restarted leader reads it back");
    open = true;
    const learner = nodes.get(3)!;
    await learner.metrics.wait({ timeout: 10_000 }).metrics(
      (m) => m.membership.membership.nodes.size === 3,
      "node 3 installed the snapshot",
    );
    assert.ok(reached.includes("/raft/install-snapshot"), `node 3 got ${[...new Set(reached)]}`);
    assert.deepEqual(seenBy(learner, 1), one);
    assert.deepEqual(seenBy(learner, 2), two);
    assert.deepEqual(seenBy(learner, 3), three);
    assert.deepEqual(learner.metrics.current.membership.logId, meta.lastMembership.logId);
  } finally {
    for (const raft of nodes.values()) await raft.shutdown();
    for (const s of servers) await s.close();
  }
});
