// startNode and its lifecycle, in one process over real HTTP on 127.0.0.1
// (memory storage; the process-level behaviour is in the e2e tests).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { parseNodeFlags } from "../../node/node_flags.ts";
import {
  NODE_MAX_INFLIGHT,
  type NodeApp,
  type RunningNode,
  startNode,
} from "../../node/start_node.ts";
import { onNodeStopped } from "../../node/node_stopped.ts";
import { handOverTarget } from "../../node/leader_handover.ts";
import { kvRoutes, kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { Raft } from "../../src/runtime/raft.ts";
import type { RaftError } from "../../src/errors.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { RejoinRefused } from "../../node/join_cluster.ts";
import { createServer } from "node:net";
import type { AddressInfo } from "node:net";

const APP: NodeApp<MemoryStateMachine> = {
  stateMachine: (snapshots) =>
    snapshots === null ? new MemoryStateMachine() : MemoryStateMachine.open(snapshots),
  routes: (raft, sm) => {
    const app = new Hono();
    app.get("/app", (c) => c.text("app"));
    app.get("/slow", async (c) => {
      await new Promise((r) => setTimeout(r, 300));
      return c.text("done");
    });
    app.route("/", kvRoutes(raft, sm));
    return app;
  },
};

const FLAGS = ["--storage", "memory", "--addr", "127.0.0.1:0", "--heartbeat", "20"];

test(
  "startNode: --init on memory storage serves the Raft, admin, /metrics, /metrics.json, dashboard and app routes; stop closes it",
  {
    timeout: 20_000,
  },
  async () => {
    const node = await startNode(parseNodeFlags(["--init", ...FLAGS, "--secret", "s"]), APP);
    try {
      assert.match(node.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
      assert.equal(await fetch(`${node.url}/app`).then((r) => r.text()), "app");
      assert.equal((await fetch(`${node.url}/ready`)).status, 200);
      const peer = await fetch(`${node.url}/raft/vote`, {
        method: "POST",
        headers: { "content-type": "application/cbor" },
        body: new Uint8Array([0xa0]),
      });
      assert.equal(peer.status, 401, "the secret reaches raftRoutes");
      await peer.body?.cancel();
      const admin = await fetch(`${node.url}/cluster/metrics`);
      assert.equal(admin.status, 401, "and adminRoutes");
      await admin.body?.cancel();
      const m = await fetch(`${node.url}/metrics.json`).then((r) => r.json());
      assert.deepEqual(m.membership.nodes, { "1": node.url });
      const prom = await fetch(`${node.url}/metrics`);
      assert.match(prom.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      assert.match(await prom.text(), /^raft_state\{state="leader"\} 1$/m);
      const page = await fetch(`${node.url}/`);
      assert.match(await page.text(), /<title>Raft cluster<\/title>/);
      assert.equal(node.raft.config.maxInflight, NODE_MAX_INFLIGHT, "the node's shallow pipeline");
    } finally {
      const report = await node.stop();
      assert.deepEqual(report, { handedTo: null }, "alone: nobody to hand over to");
    }
    await assert.rejects(fetch(`${node.url}/health`).then((r) => r.text()), "closed");
    assert.equal(node.raft.metrics.current.state, "shutdown");
  },
);

test("startNode: stop() answers the requests in flight, then refuses new ones", {
  timeout: 20_000,
}, async () => {
  const node = await startNode(parseNodeFlags(["--init", ...FLAGS]), APP);
  await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
  const inFlight = fetch(`${node.url}/slow`).then(async (r) => [r.status, await r.text()]);
  await new Promise((r) => setTimeout(r, 100));
  const stopped = node.stop();
  assert.deepEqual(await inFlight, [200, "done"]);
  await stopped;
  await assert.rejects(fetch(`${node.url}/health`).then((r) => r.text()));
});

test(
  "startNode: without --init or --join, a new node waits to be added (not ready)",
  {
    timeout: 20_000,
  },
  async () => {
    const waiting = await startNode(parseNodeFlags(FLAGS), APP);
    try {
      assert.equal(waiting.raft.isInitialized(), false);
      const ready = await fetch(`${waiting.url}/ready`);
      assert.equal(ready.status, 503);
      await ready.body?.cancel();
    } finally {
      await waiting.stop();
    }
  },
);

test(
  "startNode: --join (two at once) forms a cluster; stopping the leader hands leadership to the most caught-up voter",
  {
    timeout: 30_000,
  },
  async () => {
    const timing = ["--election-timeout", "300-600"];
    const nodes: RunningNode<MemoryStateMachine>[] = [];
    try {
      const n1 = await startNode(parseNodeFlags(["--init", ...FLAGS, ...timing]), APP);
      nodes.push(n1);
      await n1.raft.metrics.wait({ timeout: 5000 }).role("leader");
      // Both join at once: each promotion is a change of its own on the leader.
      nodes.push(
        ...await Promise.all([2, 3].map((id) =>
          startNode(
            parseNodeFlags(["--id", String(id), "--join", n1.url, ...FLAGS, ...timing]),
            APP,
          )
        )),
      );
      await n1.raft.clientWrite(kvSet("k", "v"));
      const voters = n1.raft.metrics.current.membership.membership.configs[0];
      assert.deepEqual([...(voters ?? [])].sort(), [1, 2, 3]);
      // Wait until both followers caught up, so either may be the target.
      await n1.raft.metrics.wait({ timeout: 5000 }).metrics((m) =>
        [2, 3].every((id) => (m.replication?.get(id)?.matched?.index ?? 0) >= m.lastLogIndex)
      );
      const target = handOverTarget(n1.raft);
      assert.ok(target === 2 || target === 3, `target ${target}`);
      const report = await n1.stop();
      assert.equal(report.handedTo, target);
      const next = nodes.find((n) => n.raft.id === target)!;
      assert.equal(next.raft.metrics.current.state, "leader");
      await next.raft.clientWrite(kvSet("k", "after"));
    } finally {
      for (const node of nodes) await node.stop();
    }
  },
);

/** A port nothing listens on (now). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

test(
  "startNode: --init --join waits while a listed member is unreachable, forms the cluster once all answered blank; a later --init --join joins it instead",
  { timeout: 30_000 },
  async () => {
    const timing = ["--election-timeout", "300-600"];
    const nodes: RunningNode<MemoryStateMachine>[] = [];
    const port = await freePort();
    const lines: string[] = [];
    try {
      const starting = startNode(
        parseNodeFlags(["--init", "--join", `127.0.0.1:${port}`, ...FLAGS, ...timing]),
        APP,
        { log: (line) => lines.push(line), probeInterval: 100 },
      );
      starting.then((n) => nodes.push(n), () => {});
      for (let i = 0; i < 100 && lines.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(lines[0] ?? "", /waiting for every listed member to answer/);
      assert.match(lines[0] ?? "", new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.equal(nodes.length, 0, "not started while a listed member is unreachable");
      // The listed member comes up, blank (waiting to be added): node 1 forms the cluster.
      const blank = await startNode(
        parseNodeFlags(["--id", "2", ...FLAGS.slice(0, 2), "--addr", `127.0.0.1:${port}`]),
        APP,
      );
      nodes.push(blank);
      const n1 = await starting;
      await n1.raft.metrics.wait({ timeout: 5000 }).role("leader");
      assert.deepEqual(n1.raft.metrics.current.membership.membership.configs, [[1]]);
      assert.equal(blank.raft.isInitialized(), false, "the blank member was only asked");
      // Node 3 with --init --join node 1: node 1 belongs to a cluster, so 3 joins it.
      const n3 = await startNode(
        parseNodeFlags(["--id", "3", "--init", "--join", n1.url, ...FLAGS, ...timing]),
        APP,
        { log: (line) => lines.push(line) },
      );
      nodes.push(n3);
      assert.ok(
        lines.some((l) => l.includes("belongs to a cluster: joining it")),
        lines.join("\n"),
      );
      const m = n1.raft.metrics.current.membership.membership;
      assert.deepEqual(m.configs, [[1, 3]]);
      assert.equal(n3.raft.metrics.current.membership.membership.clusterId, m.clusterId);
      // Node 3 loses its data (memory storage) and starts again with its flags: refused.
      await n3.stop({ handOver: false });
      nodes.splice(nodes.indexOf(n3), 1);
      const again = await startNode(
        parseNodeFlags(["--id", "3", "--init", "--join", n1.url, ...FLAGS, ...timing]),
        APP,
      ).catch((e) => e);
      assert.ok(again instanceof RejoinRefused, String(again));
      assert.match(again.message, /node 3 is already a voter/);
      assert.match(again.message, /--id 4 --join/);
      // The port is free again: everything opened was closed.
      await assert.rejects(fetch(n3.url).then((r) => r.text()));
    } finally {
      for (const node of nodes) await node.stop({ handOver: false });
    }
  },
);

test("startNode: --join with several members joins through one that answers as a member", {
  timeout: 20_000,
}, async () => {
  const nodes: RunningNode<MemoryStateMachine>[] = [];
  try {
    const n1 = await startNode(parseNodeFlags(["--init", ...FLAGS]), APP);
    nodes.push(n1);
    await n1.raft.metrics.wait({ timeout: 5000 }).role("leader");
    const down = `127.0.0.1:${await freePort()}`;
    const n2 = await startNode(
      parseNodeFlags(["--id", "2", "--join", `${down},${n1.url}`, ...FLAGS]),
      APP,
    );
    nodes.push(n2);
    assert.deepEqual(n1.raft.metrics.current.membership.membership.configs, [[1, 2]]);
  } finally {
    for (const node of nodes) await node.stop({ handOver: false });
  }
});

test(
  "startNode: a start waiting for --init --join members ends with its signal, closing everything",
  {
    timeout: 20_000,
  },
  async () => {
    const port = await freePort();
    const controller = new AbortController();
    const lines: string[] = [];
    const starting = startNode(
      parseNodeFlags(["--init", "--join", `127.0.0.1:${port}`, ...FLAGS]),
      APP,
      { log: (line) => lines.push(line), probeInterval: 100, signal: controller.signal },
    );
    for (let i = 0; i < 100 && lines.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    controller.abort(new Error("stop waiting"));
    await assert.rejects(starting, /stop waiting/);
  },
);

test(
  "onNodeStopped: called once when the storage fails, with the StorageError; not after unwatching",
  {
    timeout: 20_000,
  },
  async () => {
    class FailingStore extends MemoryLogStore {
      fail = false;
      override append(entries: Parameters<MemoryLogStore["append"]>[0]): Promise<void> | void {
        if (this.fail) throw new Error("disk on fire");
        return super.append(entries);
      }
    }
    const logStore = new FailingStore();
    const raft = await Raft.create({
      id: 1,
      config: { electionTimeoutMin: 60, electionTimeoutMax: 120, heartbeatInterval: 15 },
      logStore,
      stateMachine: new MemoryStateMachine(),
      network: new MemoryNetwork().client(1),
    });
    try {
      const seen: RaftError[] = [];
      const unwatched: RaftError[] = [];
      onNodeStopped(raft, (e) => seen.push(e));
      onNodeStopped(raft, (e) => unwatched.push(e))();
      await raft.initialize([1]);
      await raft.metrics.wait({ timeout: 5000 }).role("leader");
      assert.equal(seen.length, 0);
      logStore.fail = true;
      await assert.rejects(raft.clientWrite(kvSet("x", "1")));
      assert.equal(seen.length, 1);
      assert.equal(seen[0]!.code, "StorageError");
      assert.match(seen[0]!.message, /disk on fire|append/);
      await raft.shutdown();
      assert.equal(seen.length, 1, "once");
      assert.equal(unwatched.length, 0);
    } finally {
      await raft.shutdown();
    }
  },
);

test("startNode: the node logs through its logger (consoleLogger at --log-level by default)", {
  timeout: 20_000,
}, async () => {
  const records: { message: string; fields: Record<string, unknown> }[] = [];
  const record = (message: string, fields?: Record<string, unknown>) =>
    void records.push({ message, fields: fields ?? {} });
  const node = await startNode(parseNodeFlags(["--init", ...FLAGS, "--log-level", "off"]), APP, {
    logger: { debug: record, info: record, warn: record, error: record },
  });
  try {
    await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
    const won = records.find((r) => r.message === "role changed" && r.fields.role === "leader");
    assert.ok(won, "the election is logged");
    assert.equal(won.fields.id, 1);
    assert.equal(won.fields.cluster, "raft");
    assert.equal(won.fields.reason, "election-won");
  } finally {
    await node.stop();
  }
});
