import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createKvApp,
  type KvMetrics,
  kvMetrics,
  parseKvArgs,
  startKvNode,
} from "../../examples/kv.ts";
import { Raft } from "../../src/runtime/raft.ts";
import type { NodeId, RaftNode } from "../../src/types.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { MemoryStateMachine } from "../../kv/mod.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { FAST, RuntimeCluster } from "../runtime/_cluster.ts";

async function singleNode(): Promise<{ raft: Raft<Uint8Array | null>; sm: MemoryStateMachine }> {
  const net = new MemoryNetwork();
  const sm = new MemoryStateMachine();
  const raft = await Raft.create({
    id: 1,
    config: FAST,
    logStore: new MemoryLogStore(),
    stateMachine: sm,
    network: net.client(1),
  });
  await raft.initialize(new Map([[1, { addr: "http://n1.test" }]]));
  await raft.metrics.wait({ timeout: 5000 }).role("leader");
  return { raft, sm };
}

test("kv: PUT then GET returns the value, under every consistency", async () => {
  const { raft, sm } = await singleNode();
  try {
    const app = createKvApp(raft, sm);
    const put = await app.request("/kv/greeting", { method: "PUT", body: "hello" });
    assert.equal(put.status, 200);
    const body = await put.json() as { logId: { index: number }; created: boolean };
    assert.equal(body.created, true);
    assert.ok(body.logId.index > 0);
    for (const q of ["", "?consistency=linearizable", "?consistency=lease", "?consistency=local"]) {
      const get = await app.request(`/kv/greeting${q}`);
      assert.equal(get.status, 200, q);
      assert.equal(get.headers.get("content-type"), "application/octet-stream");
      assert.equal(await get.text(), "hello", q);
    }
    const again = await app.request("/kv/greeting", { method: "PUT", body: "bye" });
    assert.equal((await again.json() as { created: boolean }).created, false);
    assert.equal(await (await app.request("/kv/greeting")).text(), "bye");
    const bad = await app.request("/kv/greeting?consistency=eventual");
    assert.equal(bad.status, 400);
  } finally {
    await raft.shutdown();
  }
});

test("kv: GET of a missing key is 404; DELETE removes a key", async () => {
  const { raft, sm } = await singleNode();
  try {
    const app = createKvApp(raft, sm);
    const missing = await app.request("/kv/nope");
    assert.equal(missing.status, 404);
    assert.equal((await missing.json() as { code: string }).code, "NotFound");
    await app.request("/kv/a", { method: "PUT", body: new Uint8Array([0, 1, 255]) });
    const bytes = new Uint8Array(await (await app.request("/kv/a")).arrayBuffer());
    assert.deepEqual([...bytes], [0, 1, 255], "values are bytes");
    const del = await app.request("/kv/a", { method: "DELETE" });
    assert.equal(del.status, 200);
    assert.equal((await del.json() as { deleted: boolean }).deleted, true);
    assert.equal((await app.request("/kv/a")).status, 404);
    const again = await app.request("/kv/a", { method: "DELETE" });
    assert.equal((await again.json() as { deleted: boolean }).deleted, false);
  } finally {
    await raft.shutdown();
  }
});

test("kv: /metrics reports role, term, leader, indexes and membership", async () => {
  const { raft, sm } = await singleNode();
  try {
    const app = createKvApp(raft, sm);
    await app.request("/kv/k", { method: "PUT", body: "v" });
    const res = await app.request("/metrics");
    assert.equal(res.status, 200);
    const m = await res.json() as KvMetrics;
    assert.deepEqual(Object.keys(m).sort(), [
      "applied",
      "committed",
      "id",
      "lastLogIndex",
      "leader",
      "leaderAddr",
      "membership",
      "role",
      "term",
    ]);
    assert.equal(m.id, 1);
    assert.equal(m.role, "leader");
    assert.equal(m.leader, 1);
    assert.equal(m.leaderAddr, "http://n1.test");
    assert.ok(m.term >= 1);
    assert.ok(m.lastLogIndex >= m.committed && m.committed >= m.applied && m.applied >= 1);
    assert.deepEqual(m.membership, {
      voters: [1],
      learners: [],
      joint: false,
      nodes: { "1": "http://n1.test" },
    });
    assert.deepEqual(m, JSON.parse(JSON.stringify(kvMetrics(raft))));
  } finally {
    await raft.shutdown();
  }
});

test("kv: PUT and GET on a follower redirect to the leader's address", async () => {
  const c = new RuntimeCluster();
  try {
    const ids: NodeId[] = [1, 2, 3];
    await c.start(ids);
    const members = new Map<NodeId, RaftNode>(
      ids.map((id) => [id, { addr: `http://n${id}.test` }]),
    );
    await c.node(1).initialize(members);
    const leader = await c.waitLeader();
    const follower = ids.find((id) => id !== leader)!;
    // The follower learns the addresses from the replicated membership.
    await c.node(follower).metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.membership.membership.nodes.size === 3,
    );
    const app = createKvApp(c.node(follower), c.machines.get(follower)!);

    const put = await app.request("/kv/x?y=1", { method: "PUT", body: "1" });
    assert.equal(put.status, 307);
    assert.equal(put.headers.get("location"), `http://n${leader}.test/kv/x?y=1`);
    const body = await put.json() as {
      code: string;
      leaderId: number;
      leaderNode: { addr: string };
    };
    assert.equal(body.code, "ForwardToLeader");
    assert.equal(body.leaderId, leader);
    assert.equal(body.leaderNode.addr, `http://n${leader}.test`);

    const get = await app.request("/kv/x");
    assert.equal(get.status, 307, "linearizable reads go to the leader");
    const del = await app.request("/kv/x", { method: "DELETE" });
    assert.equal(del.status, 307);
    const local = await app.request("/kv/x?consistency=local");
    assert.equal(local.status, 404, "local reads are served by the follower");

    const leaderApp = createKvApp(c.node(leader), c.machines.get(leader)!);
    assert.equal((await leaderApp.request("/kv/x", { method: "PUT", body: "1" })).status, 200);
  } finally {
    await c.shutdown();
  }
});

test("kv: cluster endpoints validate their JSON bodies", async () => {
  const { raft, sm } = await singleNode();
  try {
    const app = createKvApp(raft, sm);
    const post = (path: string, body: string): Promise<Response> =>
      Promise.resolve(app.request(path, { method: "POST", body }));
    assert.equal((await post("/cluster/members", "not json")).status, 400);
    assert.equal((await post("/cluster/members", '{"voters": "1"}')).status, 400);
    assert.equal((await post("/cluster/learners", '{"id": -1, "addr": "http://x"}')).status, 400);
    assert.equal((await post("/cluster/learners", '{"id": 2, "addr": "ftp://x"}')).status, 400);
    const empty = await post("/cluster/members", '{"voters": []}');
    assert.equal(empty.status, 400);
    assert.equal((await empty.json() as { code: string }).code, "EmptyMembership");
    const unknown = await post("/cluster/members", '{"voters": [1, 9]}');
    assert.equal(unknown.status, 400, "a voter that is not a learner first");
    const same = await post("/cluster/members", '{"voters": [1]}');
    assert.equal(same.status, 200);
  } finally {
    await raft.shutdown();
  }
});

test("kv: a shut-down node answers 503", async () => {
  const { raft, sm } = await singleNode();
  const app = createKvApp(raft, sm);
  await raft.shutdown();
  const res = await app.request("/kv/a", { method: "PUT", body: "1" });
  assert.equal(res.status, 503);
  assert.equal((await res.json() as { code: string }).code, "ShuttingDown");
});

test("kv: parseKvArgs reads flags, then the environment, then defaults", () => {
  const none = parseKvArgs([]);
  assert.deepEqual(none, { id: 1, host: "127.0.0.1", port: 8001, peers: new Map(), init: true });

  const o = parseKvArgs([
    "--id",
    "3",
    "--host=0.0.0.0",
    "--peers",
    "1=http://a:8001, 2=http://b:8002/,3=http://c:8003",
  ]);
  assert.equal(o.id, 3);
  assert.equal(o.port, 8003, "default port is 8000 + id");
  assert.equal(o.host, "0.0.0.0");
  assert.deepEqual(
    [...o.peers],
    [[1, "http://a:8001"], [2, "http://b:8002"], [3, "http://c:8003"]],
  );
  assert.equal(o.init, false, "with peers, only --init initializes");
  assert.equal(parseKvArgs(["--peers", "1=http://a:1", "--init"]).init, true);

  const env: Record<string, string> = { RAFT_ID: "2", RAFT_PORT: "9000", RAFT_INIT: "1" };
  const fromEnv = parseKvArgs(["--port", "9100"], (name) => env[name]);
  assert.equal(fromEnv.id, 2);
  assert.equal(fromEnv.port, 9100, "flags win over the environment");

  for (const bad of [["--id", "x"], ["--port"], ["--nope"], ["stray"], ["--peers", "1:http://a"]]) {
    assert.throws(() => parseKvArgs(bad), RangeError, bad.join(" "));
  }
});

test("kv: startKvNode serves the API over real HTTP on 127.0.0.1", async () => {
  const node = await startKvNode({
    id: 1,
    host: "127.0.0.1",
    port: 0,
    peers: new Map(),
    init: true,
    config: FAST,
  });
  try {
    assert.match(node.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
    const put = await fetch(`${node.url}/kv/k`, { method: "PUT", body: "v" });
    assert.equal(put.status, 200);
    await put.body?.cancel();
    const get = await fetch(`${node.url}/kv/k`);
    assert.equal(await get.text(), "v");
    const metrics = await (await fetch(`${node.url}/metrics`)).json() as KvMetrics;
    assert.deepEqual(metrics.membership.nodes, { "1": node.url });
  } finally {
    await node.close();
  }
});

test("kv: with --data, a restarted node recovers from its snapshot and the log is purged behind it", async () => {
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { kvSet } = await import("../../kv/mod.ts");
  const dir = await mkdtemp(join(tmpdir(), "raft-kv-example-"));
  const options = {
    id: 1,
    host: "127.0.0.1",
    port: 0,
    peers: new Map<NodeId, string>(),
    init: true,
    data: dir,
    config: {
      ...FAST,
      snapshotPolicy: { kind: "logs-since-last", logs: 20 } as const,
      maxInSnapshotLogsToKeep: 0,
    },
  };
  try {
    let node = await startKvNode(options);
    await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
    for (let i = 0; i < 50; i++) await node.raft.clientWrite(kvSet(`k${i % 7}`, `v${i}`));
    await node.raft.metrics.wait({ timeout: 5000 }).metrics((m) => (m.purged?.index ?? 0) > 0);
    await node.close();
    node = await startKvNode(options);
    try {
      assert.ok((node.store.lastApplied?.index ?? 0) >= 40, "restored from the snapshot");
      await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
      assert.ok(node.raft.metrics.current.purged !== null, "the log stays purged");
      for (let i = 43; i < 50; i++) {
        const res = await fetch(`${node.url}/kv/k${i % 7}?consistency=local`);
        assert.equal(await res.text(), `v${i}`);
      }
    } finally {
      await node.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
