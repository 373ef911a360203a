/**
 * The chaos harness's own parts, without node processes: the checker glue
 * finds a planted violation and its minimal window, the KV client records
 * each kind of answer as the history needs it (a fake server), the node's
 * flags are written for the contract it lists, the CLI refuses bad flags.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { checkRegisterHistory, minimalWindow } from "../../chaos/history_check.ts";
import type { RegisterOperation } from "../../chaos/history_check.ts";
import { KvClient } from "../../chaos/kv_client.ts";
import { nodeArgs, parseNodeHelp } from "../../chaos/node_contract.ts";
import { parseChaosArgs } from "../../chaos/cli_options.ts";
import { reproduceCommand } from "../../chaos/chaos_run.ts";
import { summaryLine } from "../../chaos/run_report.ts";
import { freePort } from "../../chaos/node_placement.ts";
import { generateRegisterHistory } from "../../testing/register_history.ts";

function op(
  id: number,
  input: RegisterOperation["input"],
  output: string | boolean | null,
  call: number,
  ret: number,
): RegisterOperation {
  return { id, client: id % 3, key: "r0", input, output, call, ret, status: "ok" };
}

test("chaos checker: a stale read is a violation with a two-operation window", () => {
  const history: RegisterOperation[] = [
    op(0, { type: "write", value: "a" }, null, 0, 1),
    op(1, { type: "read" }, "a", 2, 3),
    op(2, { type: "write", value: "b" }, null, 4, 5),
    op(3, { type: "read" }, "b", 6, 7),
    op(4, { type: "read" }, "a", 8, 9), // stale
    op(5, { type: "write", value: "c" }, null, 10, 11),
  ];
  const [v] = checkRegisterHistory(history, 5_000);
  assert.equal(v?.result, "violation");
  assert.equal(v?.key, "r0");
  assert.deepEqual(v?.window?.map((o) => o.id), [3, 4]);
});

test("chaos checker: an acknowledged write missing from later reads is a violation", () => {
  const window = minimalWindow([
    op(0, { type: "write", value: "a" }, null, 0, 1),
    op(1, { type: "cas", from: "a", to: "b" }, true, 2, 3),
    op(2, { type: "read" }, "a", 4, 5),
  ], 5_000);
  assert.deepEqual(window.map((o) => o.id), [1, 2]);
});

test("chaos checker: linearizable histories with unknown and failed operations pass", () => {
  for (let seed = 1; seed <= 5; seed++) {
    const history = generateRegisterHistory({ seed, count: 400, keys: 3, clients: 5 });
    for (const v of checkRegisterHistory(history, 10_000)) assert.equal(v.result, "ok");
  }
});

async function fakeNode(
  handler: (method: string, url: string, body: string) => [number, Record<string, string>, string],
): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Uint8Array) => body += new TextDecoder().decode(c));
    req.on("end", () => {
      const [status, headers, text] = handler(req.method ?? "", req.url ?? "", body);
      res.writeHead(status, headers);
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { url: `http://127.0.0.1:${port}`, server };
}

test("chaos client: 307 followed, 503 NoLeader fails, 504 is unknown, 404 reads null", async () => {
  const leader = await fakeNode((method, url, body) => {
    if (method === "PUT" && url === "/kv/a") return [200, {}, '{"index":7}'];
    if (method === "PUT" && url === "/kv/b") return [504, {}, '{"error":"OutcomeUnknown"}'];
    if (method === "POST" && url === "/kv/a/cas") {
      const { expected } = JSON.parse(body) as { expected: string | null };
      return [200, {}, JSON.stringify({ ok: expected === null, value: null })];
    }
    if (method === "GET" && url === "/kv/a?read=lease") return [200, {}, "v1"];
    if (method === "GET") return [404, {}, '{"error":"NotFound","message":"no key"}'];
    return [500, {}, "{}"];
  });
  const follower = await fakeNode((_method, url) => {
    if (url.startsWith("/kv/c")) return [503, {}, '{"error":"NoLeader","message":"none"}'];
    return [307, { location: leader.url + url }, ""];
  });
  try {
    const client = new KvClient({ cas: true, readParam: "read" }, 2_000);
    const w = await client.write(follower.url, "a", "v1");
    assert.equal(w.status, "ok");
    assert.equal(w.node, leader.url);
    assert.equal((await client.write(follower.url, "b", "x")).status, "unknown");
    assert.equal((await client.write(follower.url, "c", "x")).status, "fail");
    const cas = await client.cas(follower.url, "a", null, "v2");
    assert.ok(cas.status === "ok" && cas.output === true);
    const r = await client.read(follower.url, "a", "lease");
    assert.ok(r.status === "ok" && r.output === "v1");
    const missing = await client.read(leader.url, "zz", "linearizable");
    assert.ok(missing.status === "ok" && missing.output === null);
  } finally {
    leader.server.close();
    follower.server.close();
  }
});

test("chaos client: a refused connection fails only for a node known to be down", async () => {
  const port = await freePort(); // nothing listens there
  const url = `http://127.0.0.1:${port}`;
  const upClient = new KvClient({ cas: true, readParam: "read" }, 2_000, () => false);
  assert.equal((await upClient.write(url, "a", "x")).status, "unknown");
  const downClient = new KvClient({ cas: true, readParam: "read" }, 2_000, () => true);
  assert.equal((await downClient.write(url, "a", "x")).status, "fail");
  assert.equal((await upClient.read(url, "a", "linearizable")).status, "fail");
});

test("chaos node flags: the contract's --addr/--join HOST:PORT and its timing flags", () => {
  const contract = parseNodeHelp(
    "  --id N\n  --addr HOST:PORT\n  --join ADDR\n  --snapshot-every N\n  --keep-logs N\n" +
      "  --heartbeat MS\n  --election-timeout MIN-MAX\n",
  );
  const args = nodeArgs(contract, {
    id: 2,
    host: "127.0.0.1",
    port: 9002,
    data: "/d",
    join: { host: "127.0.0.1", port: 9001 },
    secret: "s",
    clusterId: "c",
    snapshotEvery: 64,
    keepLogs: 32,
    heartbeatMs: 100,
    electionTimeoutMs: [500, 1000],
  });
  assert.deepEqual(args, [
    "--id",
    "2",
    "--addr",
    "127.0.0.1:9002",
    "--data",
    "/d",
    "--join",
    "127.0.0.1:9001",
    "--secret",
    "s",
    "--snapshot-every",
    "64",
    "--keep-logs",
    "32",
    "--heartbeat",
    "100",
    "--election-timeout",
    "500-1000",
  ]);
  const old = nodeArgs(parseNodeHelp("--id N --port P --host H --join URL"), {
    id: 1,
    host: "127.0.0.1",
    port: 9001,
    data: "/d",
    init: true,
    clusterId: "c",
    snapshotEvery: 64,
  });
  assert.deepEqual(old, [
    "--id",
    "1",
    "--host",
    "127.0.0.1",
    "--port",
    "9001",
    "--data",
    "/d",
    "--init",
    "--cluster-id",
    "c",
  ]);
});

test("chaos node flags: the first node is --init --join <the others> where the node supports it", () => {
  const help = "  --init\n      … use --init --join <the other members> …\n  --addr HOST:PORT\n";
  const contract = parseNodeHelp(help);
  assert.equal(contract.initJoin, true);
  assert.equal(parseNodeHelp("  --init\n  --addr HOST:PORT\n  --join ADDR\n").initJoin, false);
  const args = nodeArgs(contract, {
    id: 1,
    host: "127.0.0.1",
    port: 9001,
    data: "/d",
    init: true,
    join: [{ host: "127.0.0.1", port: 9002 }, { host: "127.0.0.1", port: 9003 }],
    clusterId: "c",
  });
  assert.deepEqual(args, [
    "--id",
    "1",
    "--addr",
    "127.0.0.1:9001",
    "--data",
    "/d",
    "--init",
    "--join",
    "127.0.0.1:9002,127.0.0.1:9003",
    "--cluster-id",
    "c",
  ]);
});

test("chaos CLI: defaults, a bad flag, a bad nemesis; summary line and reproduce command", () => {
  const o = parseChaosArgs(["--runtime", "deno", "--seed", "7", "--nemesis", "kill,partition"]);
  assert.equal(o.nodes, 3);
  assert.deepEqual(o.nemeses, ["kill", "partition"]);
  assert.throws(() => parseChaosArgs(["--nodes", "x"]), RangeError);
  assert.throws(() => parseChaosArgs(["--nemesis", "meteor"]), /unknown nemesis/);
  assert.throws(() => parseChaosArgs(["--frobnicate", "1"]), /unknown flag/);
  const cmd = reproduceCommand({
    root: ".",
    runtime: "deno",
    nodes: 3,
    seconds: 60,
    seed: 7,
    nemeses: o.nemeses,
  });
  assert.match(
    cmd,
    /chaos\/run\.ts --runtime deno --nodes 3 --seconds 60 --seed 7 --nemesis kill,partition/,
  );
  const line = summaryLine({
    mode: "mixed",
    runtime: "bun",
    nodes: 3,
    seconds: 60,
    seed: 7,
    ok: 5,
    fail: 1,
    unknown: 2,
    faults: new Map([["kill", 3]]),
    snapshots: 2,
    anomalies: 1,
  });
  assert.match(
    line,
    /runtime=bun nodes=3 seconds=60 seed=7 ops ok=5 fail=1 unknown=2 faults kill=3/,
  );
  assert.match(line, /anomalies=1 FAIL$/);
});
