// End to end: a cluster of examples/kv.ts processes under the runtime that
// runs the tests (deno test → Deno nodes, bun test → Bun nodes), on
// 127.0.0.1, durable storage in a temporary directory, a shared secret and
// small snapshots. The tests run in order on the same cluster.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { encodeMessage } from "../../src/codec.ts";
import type { AdminMetricsJSON } from "../../src/transport/admin_routes.ts";
import { type Child, http, run, tempDir, until, urlOf, within } from "./_process.ts";

const SECRET = "e2e-s3cr3t";
const AUTH = { authorization: `Bearer ${SECRET}` };
const COMMON = [
  "--secret",
  SECRET,
  "--heartbeat",
  "50",
  "--election-timeout",
  "300-600",
  "--snapshot-every",
  "20",
  "--keep-logs",
  "0",
];

interface _Node {
  id: number;
  args: string[];
  child: Child;
  url: string;
}

let dir: { path: string; remove(): Promise<void> } | null = null;
const nodes = new Map<number, _Node>();
/** Every acknowledged write: key → value. */
const acked = new Map<string, string>();

/** Starts node `id` with `args` (plus the common flags and its data dir); resolves once it listens. */
async function start(id: number, args: string[], addr = "127.0.0.1:0"): Promise<_Node> {
  const all = [
    "--id",
    String(id),
    "--addr",
    addr,
    "--data",
    join(dir!.path, `node-${id}`),
    ...COMMON,
    ...args,
  ];
  const child = run(all);
  const node: _Node = { id, args, child, url: "" };
  nodes.set(id, node);
  node.url = urlOf(await child.line(/listening on/));
  return node;
}

async function metrics(node: _Node): Promise<AdminMetricsJSON> {
  const res = await http(`${node.url}/cluster/metrics`, { headers: AUTH });
  assert.equal(res.status, 200, res.text);
  return res.json as AdminMetricsJSON;
}

/** The leader, as the running nodes agree on it. */
function leader(): Promise<_Node> {
  return until("a leader", async () => {
    for (const node of nodes.values()) {
      const m = await metrics(node).catch(() => null);
      if (m?.state === "leader") return node;
    }
    return undefined;
  });
}

/** PUT key=value through `node` (307s followed to the leader); records it as acknowledged. */
async function put(node: _Node, key: string, value: string): Promise<void> {
  const res = await http(`${node.url}/kv/${key}`, { method: "PUT", body: value });
  assert.equal(res.status, 200, `PUT ${key} on node ${node.id}: ${res.text}`);
  assert.ok(typeof (res.json as { index: number }).index === "number", res.text);
  acked.set(key, value);
}

/** Waits until `node` serves every acknowledged write from its own state machine. */
async function caughtUp(node: _Node): Promise<void> {
  await until(`node ${node.id} has every acknowledged write`, async () => {
    for (const [key, value] of acked) {
      const res = await http(`${node.url}/kv/${key}?read=local`);
      if (res.status !== 200 || res.text !== value) return undefined;
    }
    return true;
  });
}

before(async () => {
  dir = await tempDir("raft-e2e-cluster-");
});

after(async () => {
  for (const node of nodes.values()) {
    if (node.child.stderr() !== "") console.log(`node ${node.id} stderr: ${node.child.stderr()}`);
  }
  for (const node of nodes.values()) node.child.kill("SIGKILL");
  await Promise.all([...nodes.values()].map((n) => within(n.child.exited, 5000, "exit")));
  await dir?.remove();
});

test(
  "e2e cluster: --init then two --join form a 3-node cluster; a write and a read on every node",
  { timeout: 30_000 },
  async () => {
    const n1 = await start(1, ["--init", "--cluster-id", "e2e"]);
    assert.match(n1.child.stdout(), /\(leader\)/);
    const n2 = await start(2, ["--join", n1.url]);
    await start(3, ["--join", n1.url.replace(/^http:\/\//, "")]); // host:port works too
    const m = await metrics(n2);
    assert.deepEqual(m.membership.voters, [1, 2, 3]);
    assert.deepEqual(Object.keys(m.membership.nodes), ["1", "2", "3"]);
    for (const node of nodes.values()) await put(node, `w${node.id}`, `v${node.id}`);
    for (const node of nodes.values()) {
      for (const [key, value] of acked) {
        const res = await http(`${node.url}/kv/${key}`); // linearizable: 307 to the leader
        assert.equal(res.status, 200);
        assert.equal(res.text, value);
      }
      await caughtUp(node);
    }
    const plain = await http(`${n2.url}/metrics.json`);
    assert.equal(plain.status, 200, "/metrics.json stays open");
    const prom = await http(`${n2.url}/metrics`);
    assert.equal(prom.status, 200, "/metrics (Prometheus) stays open");
    assert.match(prom.text, /^raft_leader_id 1$/m);
    assert.equal((plain.json as { leader: number }).leader, 1);
  },
);

test(
  "e2e cluster: a request without the secret or with a wrong cluster id is refused and changes nothing",
  { timeout: 30_000 },
  async () => {
    const follower = nodes.get(2)!;
    const before = await metrics(follower);
    const vote = encodeMessage({
      type: "vote",
      clusterId: "e2e",
      term: before.term + 100,
      candidateId: 3, // a member: only the checks below refuse it
      lastLogId: { term: before.term + 100, index: 1_000_000 },
      transfer: false,
    }).slice();
    const cbor = { "content-type": "application/cbor" };
    const cases: [string, Record<string, string>, number][] = [
      ["no secret", cbor, 401],
      ["wrong secret", { ...cbor, authorization: "Bearer nope" }, 401],
      [
        "wrong cluster id",
        { ...cbor, ...AUTH, "x-raft-cluster": "other", "x-raft-from": "3" },
        412,
      ],
      ["another target node", { ...cbor, ...AUTH, "x-raft-to": "7" }, 412],
    ];
    for (const [what, headers, status] of cases) {
      const res = await http(`${follower.url}/raft/vote`, { method: "POST", headers, body: vote });
      assert.equal(res.status, status, `${what}: ${res.text}`);
    }
    // Without the headers, the cluster id inside the body is checked (409).
    const foreign = encodeMessage({
      type: "vote",
      clusterId: "other",
      term: before.term + 100,
      candidateId: 3,
      lastLogId: { term: before.term + 100, index: 1_000_000 },
      transfer: false,
    }).slice();
    const res = await http(`${follower.url}/raft/vote`, {
      method: "POST",
      headers: { ...cbor, ...AUTH },
      body: foreign,
    });
    assert.equal(res.status, 409, `another cluster's id in the body: ${res.text}`);
    for (const path of ["/cluster/metrics", "/cluster/membership"]) {
      const res = await http(`${follower.url}${path}`, {
        method: path === "/cluster/metrics" ? "GET" : "POST",
        headers: { "content-type": "application/json" },
        ...(path === "/cluster/metrics" ? {} : { body: '{"voters":[2]}' }),
      });
      assert.equal(res.status, 401, `${path} without the secret`);
    }
    const after = await metrics(follower);
    assert.equal(after.term, before.term, "the term did not move");
    assert.equal(after.lastLogIndex, before.lastLogIndex, "the log did not move");
    assert.deepEqual(after.membership, before.membership);
    assert.equal((await metrics(nodes.get(1)!)).state, "leader", "the leader kept leading");
  },
);

test("e2e cluster: enough writes take snapshots on every node and purge the log on disk", {
  timeout: 30_000,
}, async () => {
  const l = await leader();
  const keys = Array.from({ length: 60 }, (_, i) => i);
  for (let i = 0; i < keys.length; i += 6) {
    await Promise.all(keys.slice(i, i + 6).map((k) => put(l, `k${k % 17}`, `s${k}`)));
  }
  for (const node of nodes.values()) {
    const m = await until(`node ${node.id} took a snapshot and purged its log`, async () => {
      const m = await metrics(node);
      return (m.snapshot ?? 0) >= 20 && (m.purged ?? 0) > 0 ? m : undefined;
    });
    assert.ok(m.purged! <= m.snapshot!, "purged behind the snapshot");
    const files = await readdir(join(dir!.path, `node-${node.id}`, "snapshots"));
    assert.ok(files.some((f) => f.startsWith("snap-")), `a snapshot file: ${files.join(", ")}`);
  }
});

test(
  "e2e cluster: kill -9 of the leader: failover, writes go on; the restarted node recovers from its snapshot and catches up",
  { timeout: 30_000 },
  async () => {
    const old = await leader();
    old.child.kill("SIGKILL");
    await within(old.child.exited, 5000, "kill -9");
    nodes.delete(old.id);
    const next = await leader();
    assert.notEqual(next.id, old.id);
    for (let i = 0; i < 30; i++) await put(next, `f${i % 5}`, `after-failover-${i}`);
    // The same command line again: --init / --join do nothing on a node with state.
    const port = new URL(old.url).port;
    const back = await start(old.id, old.args, `127.0.0.1:${port}`);
    assert.equal(back.url, old.url);
    const m = await metrics(back);
    assert.ok((m.snapshot ?? 0) >= 20, `restored from its snapshot: ${JSON.stringify(m)}`);
    await caughtUp(back);
    const after = await metrics(back);
    assert.deepEqual(after.membership.voters, [1, 2, 3], "no second join");
    assert.notEqual(after.state, "leader", "the cluster's leader kept leading");
  },
);

test("e2e cluster: a node joined after compaction receives the snapshot over HTTP", {
  timeout: 30_000,
}, async () => {
  const l = await leader();
  const purged = (await metrics(l)).purged ?? 0;
  assert.ok(purged > 0, "the leader's log is compacted");
  const follower = [...nodes.values()].find((n) => n.id !== l.id)!;
  const n4 = await start(4, ["--join", follower.url]); // through a follower: 307 to the leader
  const m = await metrics(n4);
  assert.ok((m.snapshot ?? 0) >= purged, `installed a snapshot: ${JSON.stringify(m)}`);
  assert.deepEqual(m.membership.voters, [1, 2, 3, 4]);
  await caughtUp(n4);
});

test("e2e cluster: SIGTERM of the leader hands leadership to another node and exits 0", {
  timeout: 30_000,
}, async () => {
  const l = await leader();
  l.child.kill("SIGTERM");
  assert.equal(await within(l.child.exited, 10_000, "SIGTERM"), 0, l.child.stderr());
  nodes.delete(l.id);
  const handed = /handed leadership to node (\d+)/.exec(l.child.stdout());
  assert.ok(handed !== null, `handed over: ${l.child.stdout()}`);
  const next = await leader();
  assert.equal(next.id, Number(handed[1]));
  await put(next, "after-sigterm", "ok");
});
