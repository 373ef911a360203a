import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  createKvApp,
  KV_HELP,
  type KvMetrics,
  kvMetrics,
  type KvNode,
  type KvNodeOptions,
  onStorageError,
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

test("kv: the app serves adminRoutes (/health, /ready, /cluster/*) with the secret", async () => {
  const { raft, sm } = await singleNode();
  try {
    const app = createKvApp(raft, sm, { secret: "s3cr3t", selfAddr: "http://n1.test" });
    const auth = { authorization: "Bearer s3cr3t", "content-type": "application/json" };
    const post = (path: string, body: string, headers: Record<string, string> = auth) =>
      Promise.resolve(app.request(path, { method: "POST", headers, body }));
    assert.equal((await app.request("/health")).status, 200);
    assert.equal((await app.request("/ready")).status, 200);
    const noAuth = await app.request("/cluster/metrics");
    assert.equal(noAuth.status, 401, "/cluster/* needs the secret");
    const m = await (await app.request("/cluster/metrics", { headers: auth })).json() as {
      state: string;
      membership: { voters: number[] };
    };
    assert.equal(m.state, "leader");
    assert.deepEqual(m.membership.voters, [1]);
    assert.equal((await post("/cluster/membership", "not json")).status, 400);
    assert.equal((await post("/cluster/membership", '{"voters": "1"}')).status, 400);
    assert.equal((await post("/cluster/learners", '{"id": -1, "addr": "http://x"}')).status, 400);
    const empty = await post("/cluster/membership", '{"voters": []}');
    assert.equal(empty.status, 400);
    assert.equal((await empty.json() as { error: string }).error, "EmptyMembership");
    const unknown = await post("/cluster/membership", '{"voters": [1, 9]}');
    assert.equal(unknown.status, 400, "a voter that is not a learner first");
    const same = await post("/cluster/membership", '{"voters": [1]}');
    assert.equal(same.status, 200);
    const old = await post("/cluster/members", '{"voters": [1]}');
    assert.equal(old.status, 404, "the example's old route is gone");
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
  assert.deepEqual(
    none,
    { id: 1, host: "127.0.0.1", port: 8001, peers: new Map(), init: false },
    "without --init a node does not form a cluster of its own",
  );
  assert.equal(parseKvArgs(["--init"]).init, true, "the single-node demo: --init");
  assert.equal(parseKvArgs(["--init=false"]).init, false);
  assert.equal(
    parseKvArgs([], (n) => ({ RAFT_INIT: "1" } as Record<string, string>)[n]).init,
    true,
  );
  assert.equal(
    parseKvArgs([], (n) => ({ RAFT_INIT: "0" } as Record<string, string>)[n]).init,
    false,
  );

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

  for (
    const bad of [
      ["--id", "x"],
      ["--port"],
      ["--port", "70000"],
      ["--nope"],
      ["--help"],
      ["stray"],
      ["--peers", "1:http://a"],
      ["--data="],
      ["--secret", ""],
      ["--secret", "two words"],
      ["--cluster-id", "no spaces"],
      ["--cluster-id", "x".repeat(65)],
      ["--join", "127.0.0.1:8001"],
      ["--join", "http://a:1/path"],
      ["--join", "http://a:1", "--init"],
    ]
  ) {
    assert.throws(
      () => parseKvArgs(bad),
      (e: unknown) => e instanceof RangeError && !e.message.includes("\n"),
      `${bad.join(" ")}: a one-line RangeError`,
    );
  }
});

test("kv: parseKvArgs reads --join [RAFT_JOIN], not with --init", () => {
  assert.equal(parseKvArgs(["--join", "http://127.0.0.1:8001/"]).join, "http://127.0.0.1:8001");
  assert.equal(
    parseKvArgs([], (n) => n === "RAFT_JOIN" ? "http://a:1" : undefined).join,
    "http://a:1",
  );
  assert.ok(!("join" in parseKvArgs([])));
  assert.throws(
    () => parseKvArgs(["--init"], (n) => n === "RAFT_JOIN" ? "http://a:1" : undefined),
    /--join and --init/,
  );
});

test("kv: parseKvArgs reads --secret and --cluster-id, then RAFT_SECRET and RAFT_CLUSTER_ID", () => {
  const o = parseKvArgs(["--init", "--secret", "s3cr3t", "--cluster-id=demo-1"]);
  assert.equal(o.secret, "s3cr3t");
  assert.equal(o.clusterId, "demo-1");
  const env: Record<string, string> = { RAFT_SECRET: "from-env", RAFT_CLUSTER_ID: "env.cluster" };
  const e = parseKvArgs([], (name) => env[name]);
  assert.equal(e.secret, "from-env");
  assert.equal(e.clusterId, "env.cluster");
  assert.equal(parseKvArgs(["--secret", "flag"], (name) => env[name]).secret, "flag");
  const none = parseKvArgs([]);
  assert.ok(!("secret" in none) && !("clusterId" in none));
});

test("kv: startKvNode passes the secret to HttpNetwork and raftRoutes, the cluster id to initialize", async () => {
  const node = await startKvNode({
    id: 1,
    host: "127.0.0.1",
    port: 0,
    peers: new Map(),
    init: true,
    secret: "s3cr3t",
    clusterId: "demo-1",
    config: FAST,
  });
  try {
    await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
    assert.equal(node.raft.metrics.current.membership.membership.clusterId, "demo-1");
    const vote = (authorization?: string): Promise<Response> =>
      fetch(`${node.url}/raft/vote`, {
        method: "POST",
        headers: {
          "content-type": "application/cbor",
          ...(authorization ? { authorization } : {}),
        },
        body: new Uint8Array([0xa0]),
      });
    for (const auth of [undefined, "Bearer wrong"]) {
      const res = await vote(auth);
      assert.equal(res.status, 401, `peer request with ${auth ?? "no secret"}`);
      await res.body?.cancel();
    }
    const ok = await vote("Bearer s3cr3t");
    assert.notEqual(ok.status, 401, "the right secret passes the check");
    await ok.body?.cancel();
    const put = await fetch(`${node.url}/kv/k`, { method: "PUT", body: "v" });
    assert.equal(put.status, 200, "the client API needs no peer secret");
    await put.body?.cancel();
  } finally {
    await node.close();
  }
});

test("kv: onStorageError reports a storage failure once", async () => {
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
    config: FAST,
    logStore,
    stateMachine: new MemoryStateMachine(),
    network: new MemoryNetwork().client(1),
  });
  try {
    const errors: Error[] = [];
    onStorageError(raft, (e) => errors.push(e));
    await raft.initialize([1]);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
    assert.equal(errors.length, 0);
    logStore.fail = true;
    const { kvSet } = await import("../../kv/mod.ts");
    await assert.rejects(raft.clientWrite(kvSet("x", "1")));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.message, /disk on fire|append/);
  } finally {
    await raft.shutdown();
  }
});

// ------------------------------------------------- the example as a process

const _KV = fileURLToPath(new URL("../../examples/kv.ts", import.meta.url));
const _ROOT = fileURLToPath(new URL("../../", import.meta.url));

interface _Child {
  /** Resolves with the exit code (or the signal's name). */
  readonly exited: Promise<number | string>;
  /** Resolves with the first stdout line matching `re`, rejects at the deadline. */
  line(re: RegExp, ms?: number): Promise<string>;
  stdout(): string;
  stderr(): string;
  kill(signal: "SIGINT" | "SIGTERM" | "SIGKILL"): void;
}

/** Runs examples/kv.ts in a child process of this runtime (Deno or Bun). */
function _runKv(args: string[], env: Record<string, string> = {}): _Child {
  const runtimeArgs = "Bun" in globalThis ? ["run", _KV] : ["run", "-A", "--no-check", _KV];
  const cleanEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("RAFT_")) cleanEnv[k] = v;
  }
  let done = false;
  const childEnv = { ...cleanEnv, ...env, NO_COLOR: "1" };
  let out = "";
  let err = "";
  const waiters: (() => void)[] = [];
  const onOut = (d: Uint8Array): void => {
    out += new TextDecoder().decode(d);
    for (const w of waiters) w();
  };
  const onErr = (d: Uint8Array): void => {
    err += new TextDecoder().decode(d);
  };
  let exited: Promise<number | string>;
  let signal: (s: "SIGINT" | "SIGTERM" | "SIGKILL") => void;
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (!("Bun" in globalThis) && deno !== undefined) {
    // Deno's node:child_process reports a child that handled SIGTERM and
    // exited 0 as killed by the signal; Deno.Command reports the exit code.
    const child = new deno.Command(deno.execPath(), {
      args: [...runtimeArgs, ...args],
      cwd: _ROOT,
      env: childEnv,
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const pump = async (stream: ReadableStream<Uint8Array>, on: (d: Uint8Array) => void) => {
      for await (const chunk of stream) on(chunk);
    };
    const pumped = Promise.all([pump(child.stdout, onOut), pump(child.stderr, onErr)]);
    exited = Promise.all([child.status, pumped]).then(([s]) => s.signal ?? s.code);
    signal = (s) => child.kill(s);
  } else {
    const child = spawn(process.execPath, [...runtimeArgs, ...args], {
      cwd: _ROOT,
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", onOut);
    child.stderr!.on("data", onErr);
    exited = new Promise<number | string>((resolve) => {
      child.on("close", (code, sig) => resolve(code ?? sig ?? -1));
    });
    signal = (s) => child.kill(s);
  }
  exited = exited.finally(() => {
    done = true;
    for (const w of waiters) w();
  });
  return {
    exited,
    stdout: () => out,
    stderr: () => err,
    kill: (s) => {
      if (!done) signal(s);
    },
    line: (re, ms = 15_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no line matching ${re} in ${ms} ms: ${out} ${err}`)),
          ms,
        );
        const check = (): void => {
          const found = out.split("\n").find((l) => re.test(l));
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          } else if (done) {
            clearTimeout(timer);
            reject(new Error(`exited without a line matching ${re}: ${out} ${err}`));
          }
        };
        waiters.push(check);
        check();
      }),
  };
}

/** `p`, or a rejection after `ms`. */
function _within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

test("kv process: an unknown or malformed flag prints one line and exits 2", async () => {
  for (
    const args of [["--bogus"], ["--id", "x"], ["--secret", ""], ["stray"], [
      "--init",
      "--join",
      "http://127.0.0.1:1",
    ]]
  ) {
    const child = _runKv(args);
    try {
      assert.equal(await _within(child.exited, 15_000, args.join(" ")), 2, args.join(" "));
      const lines = child.stderr().trim().split("\n");
      assert.equal(lines.length, 1, `one line: ${child.stderr()}`);
      assert.match(lines[0]!, /^kv\.ts: /);
      assert.equal(child.stdout(), "");
    } finally {
      child.kill("SIGKILL");
    }
  }
});

test("kv process: --help prints every flag with its environment variable and exits 0", async () => {
  const child = _runKv(["--help"]);
  try {
    assert.equal(await _within(child.exited, 15_000, "--help"), 0);
    assert.equal(child.stdout().trim(), KV_HELP);
    for (
      const [flag, env] of [
        ["--id", "RAFT_ID"],
        ["--port", "RAFT_PORT"],
        ["--host", "RAFT_HOST"],
        ["--peers", "RAFT_PEERS"],
        ["--init", "RAFT_INIT"],
        ["--cluster-id", "RAFT_CLUSTER_ID"],
        ["--secret", "RAFT_SECRET"],
        ["--data", "RAFT_DATA"],
        ["--join", "RAFT_JOIN"],
      ]
    ) {
      const line = KV_HELP.split("\n").find((l) => l.trimStart().startsWith(flag + " "));
      assert.ok(line?.includes(`[${env}`), `${flag} [${env}]`);
    }
    assert.equal(KV_HELP.match(/default/g)?.length, 9, "every flag states its default");
  } finally {
    child.kill("SIGKILL");
  }
});

test("kv process: without --init a new node waits to be added; SIGTERM exits 0", async () => {
  const child = _runKv(["--port", "0"]);
  try {
    const line = await child.line(/listening on/);
    assert.match(
      line,
      /listening on http:\/\/127\.0\.0\.1:\d+ \(not initialized: waiting to be added/,
    );
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]!;
    const m = await (await fetch(`${url}/metrics`)).json() as KvMetrics;
    assert.equal(m.leader, null);
    assert.deepEqual(m.membership.voters, [], "no cluster of its own");
    child.kill("SIGTERM");
    assert.equal(await _within(child.exited, 10_000, "SIGTERM"), 0);
  } finally {
    child.kill("SIGKILL");
  }
});

test("kv process: --init forms the single-node demo (env vars too); SIGINT shuts down and exits 0", async () => {
  const child = _runKv(["--init", "--port", "0"], {
    RAFT_SECRET: "s3cr3t",
    RAFT_CLUSTER_ID: "demo",
  });
  try {
    const line = await child.line(/listening on/);
    assert.match(line, /\(leader\)$/);
    const url = /(http:\/\/127\.0\.0\.1:\d+)/.exec(line)![1]!;
    const put = await fetch(`${url}/kv/greeting`, { method: "PUT", body: "hello" });
    assert.equal(put.status, 200);
    await put.body?.cancel();
    assert.equal(await (await fetch(`${url}/kv/greeting`)).text(), "hello");
    const peer = await fetch(`${url}/raft/vote`, {
      method: "POST",
      headers: { "content-type": "application/cbor" },
      body: new Uint8Array([0xa0]),
    });
    assert.equal(peer.status, 401, "RAFT_SECRET reaches raftRoutes");
    await peer.body?.cancel();
    child.kill("SIGINT");
    assert.equal(await _within(child.exited, 10_000, "SIGINT"), 0);
    assert.equal(child.stderr(), "");
  } finally {
    child.kill("SIGKILL");
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

test("kv: three nodes over HTTP: one --init, two --join; all voters, reads everywhere, a restart does not join again", async () => {
  const { mkdtemp, rm } = await import("node:fs/promises");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dirs = await Promise.all([1, 2, 3].map(() => mkdtemp(join(tmpdir(), "raft-kv-join-"))));
  const secret = "s3cr3t";
  const auth = { authorization: `Bearer ${secret}` };
  const nodes = new Map<NodeId, KvNode>();
  const options = (id: NodeId, extra: Partial<KvNodeOptions>): KvNodeOptions => ({
    id,
    host: "127.0.0.1",
    port: 0,
    peers: new Map(),
    init: false,
    data: dirs[id - 1]!,
    secret,
    config: FAST,
    ...extra,
  });
  const run = async (): Promise<void> => {
    const n1 = await startKvNode(options(1, { init: true }));
    nodes.set(1, n1);
    await n1.raft.metrics.wait({ timeout: 5000 }).role("leader");
    for (const id of [2, 3]) nodes.set(id, await startKvNode(options(id, { join: n1.url })));
    const m = await (await fetch(`${n1.url}/cluster/metrics`, { headers: auth })).json() as {
      membership: { voters: number[]; learners: number[]; nodes: Record<string, string> };
    };
    assert.deepEqual(m.membership.voters, [1, 2, 3], "both joined nodes are voters");
    assert.deepEqual(m.membership.learners, []);
    assert.deepEqual(m.membership.nodes, {
      "1": n1.url,
      "2": nodes.get(2)!.url,
      "3": nodes.get(3)!.url,
    });

    const leader = nodes.get(n1.raft.metrics.current.currentLeader!)!;
    const put = await fetch(`${leader.url}/kv/greeting`, { method: "PUT", body: "hello" });
    assert.equal(put.status, 200);
    await put.body?.cancel();
    for (const [id, node] of nodes) {
      // A follower redirects a linearizable read to the leader; fetch follows it.
      const get = await fetch(`${node.url}/kv/greeting?consistency=linearizable`);
      assert.equal(await get.text(), "hello", `read via node ${id}`);
    }

    // Restart node 3 on its data dir, still with --join: it already belongs
    // to the cluster, so it does not ask to join again.
    // It listens on its old port: that is its address in the membership.
    const membershipLog = n1.raft.metrics.current.membership.logId;
    const port = Number(new URL(nodes.get(3)!.url).port);
    await nodes.get(3)!.close();
    nodes.delete(3);
    // Its --join names an address nothing listens on: asking would fail the start.
    const n3 = await startKvNode(options(3, { join: "http://127.0.0.1:9", port }));
    nodes.set(3, n3);
    assert.ok(n3.raft.isInitialized());
    await n3.raft.metrics.wait({ timeout: 5000 }).metrics((m) => m.currentLeader !== null);
    assert.deepEqual(
      n1.raft.metrics.current.membership.logId,
      membershipLog,
      "no new membership entry",
    );
    const local = await fetch(`${n3.url}/kv/greeting?consistency=local`);
    assert.equal(await local.text(), "hello", "the restarted node kept its state");
  };
  try {
    await _within(run(), 30_000, "three-node join");
  } finally {
    for (const node of nodes.values()) await node.close().catch(() => {});
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  }
});
