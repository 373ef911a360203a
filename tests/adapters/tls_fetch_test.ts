import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tlsFetch, type TlsFetchFn } from "../../adapters/tls_fetch.ts";
import { makeTestCerts, type TestCerts } from "../_tls_certs.ts";
import { ConfigError, Unreachable } from "../../src/errors.ts";
import { HttpNetwork } from "../../src/transport/http_network.ts";
import { raftRoutes } from "../../src/transport/raft_routes.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { EMPTY_MEMBERSHIP, type NodeId, type RaftNode } from "../../src/types.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";

// ------------------------------------------------------------ an HTTPS server

interface HttpsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** The part of Bun's API used here (Bun has no types under `deno check`). */
interface _Bun {
  serve(options: {
    hostname: string;
    port: number;
    tls: { cert: string; key: string };
    fetch: (req: Request) => Response | Promise<Response>;
  }): { port: number; stop(closeActive?: boolean): Promise<void> | void };
}

/** Serves `handler` over HTTPS with `cert`/`key` on 127.0.0.1, on a free port. */
function serveHttps(
  handler: (req: Request) => Response | Promise<Response>,
  tls: { cert: string; key: string },
): HttpsServer {
  const bun = (globalThis as { Bun?: _Bun }).Bun;
  if ("Bun" in globalThis && bun !== undefined) {
    const server = bun.serve({ hostname: "127.0.0.1", port: 0, tls, fetch: handler });
    return { port: server.port, close: async () => await server.stop(true) };
  }
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.cert,
    key: tls.key,
    onListen: () => {},
  }, handler);
  return { port: server.addr.port, close: () => server.shutdown() };
}

// ------------------------------------------------------------------ fixtures

let dir = "";
let certs: TestCerts | null = null;
let other: TestCerts | null = null;
const SKIP = "the openssl CLI is not installed: cannot make test certificates";

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "raft-tls-"));
  certs = await makeTestCerts(join(dir, "a"));
  other = certs === null ? null : await makeTestCerts(join(dir, "b"));
  if (certs === null) console.log(`tls_fetch_test: skipped: ${SKIP}`);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `fn` with an HTTPS server answering "hello <method> <body>" (and its certs). */
async function withServer(
  fn: (url: string, c: TestCerts, o: TestCerts) => Promise<void>,
): Promise<void> {
  const c = certs!;
  const server = serveHttps(
    async (req) => new Response(`hello ${req.method} ${await req.text()}`),
    c,
  );
  try {
    await fn(`https://127.0.0.1:${server.port}`, c, other!);
  } finally {
    await server.close();
  }
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail("expected a rejection");
}

// --------------------------------------------------------------------- tests

test("tlsFetch: trusts the given CA, for 127.0.0.1 and localhost", async (t) => {
  if (certs === null) return t.skip(SKIP);
  await withServer(async (url, c) => {
    const fetch = await tlsFetch({ caCert: c.caCert });
    try {
      const res = await fetch(`${url}/x`, { method: "POST", body: "abc" });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "hello POST abc");
      const local = await fetch(url.replace("127.0.0.1", "localhost"), { method: "GET" });
      assert.equal(await local.text(), "hello GET ");
    } finally {
      fetch.close();
    }
  });
});

test("tlsFetch: the plain global fetch refuses the same server (untrusted CA)", async (t) => {
  if (certs === null) return t.skip(SKIP);
  await withServer(async (url) => {
    const err = await rejection(globalThis.fetch(url, { method: "GET" }));
    assert.ok(err instanceof TypeError, String(err));
  });
});

test("tlsFetch: a fetch trusting another CA refuses the server", async (t) => {
  if (certs === null) return t.skip(SKIP);
  await withServer(async (url, _c, o) => {
    const wrong = await tlsFetch({ caCert: o.caCert });
    try {
      const err = await rejection(wrong(url, { method: "GET" }));
      assert.ok(err instanceof TypeError, String(err));
    } finally {
      wrong.close();
    }
  });
});

test("tlsFetch: a bundle of several CAs trusts each of them", async (t) => {
  if (certs === null) return t.skip(SKIP);
  await withServer(async (url, c, o) => {
    const fetch = await tlsFetch({ caCert: `# two CAs\n${o.caCert}\n${c.caCert}` });
    try {
      assert.equal(await (await fetch(url, { method: "GET" })).text(), "hello GET ");
    } finally {
      fetch.close();
    }
  });
});

test("tlsFetch: an unusable caCert rejects with a ConfigError naming caCert and the problem", async (t) => {
  if (certs === null) return t.skip(SKIP);
  const c = certs;
  const body = c.caCert.split("\n").filter((l) => l !== "" && !l.startsWith("-----"));
  const corrupt = c.caCert.replace(body[1]!, "A".repeat(body[1]!.length));
  const cases: readonly [string, unknown, RegExp][] = [
    ["a path", "./certs/ca.pem", /"\.\/certs\/ca\.pem": pass the file's contents/],
    ["empty text", "", /it is empty/],
    ["a private key", c.key, /private key/],
    ["a certificate without its END line", c.caCert.split("-----END")[0], /without its END/],
    ["random text", "hello\nworld\n", /not PEM text/],
    ["a corrupt certificate", corrupt, /not a valid X\.509 certificate/],
    ["not a string", 42, /got number/],
  ];
  for (const [what, caCert, message] of cases) {
    const err = await rejection(tlsFetch({ caCert: caCert as string }));
    assert.ok(err instanceof ConfigError, `${what}: ${String(err)}`);
    assert.equal(err.field, "caCert", what);
    assert.match(err.message, message, what);
  }
});

test("tlsFetch: close() is idempotent; under Deno a request after it rejects", async (t) => {
  if (certs === null) return t.skip(SKIP);
  await withServer(async (url, c) => {
    const fetch: TlsFetchFn = await tlsFetch({ caCert: c.caCert });
    assert.equal((await fetch(url, { method: "GET" })).status, 200);
    fetch.close();
    fetch.close();
    if (!("Bun" in globalThis)) await rejection(fetch(url, { method: "GET" }));
  });
});

test("tlsFetch: a 3-node cluster over HTTPS (HttpNetwork + raftRoutes, secret) replicates writes", async (t) => {
  if (certs === null) return t.skip(SKIP);
  const c = certs;
  const secret = "tls-test-secret";
  const ids: NodeId[] = [1, 2, 3];
  const nodes = new Map<NodeId, Raft<Uint8Array | null>>();
  const machines = new Map<NodeId, MemoryStateMachine>();
  const servers: HttpsServer[] = [];
  const fetches: TlsFetchFn[] = [];
  const members = new Map<NodeId, RaftNode>();
  try {
    for (const id of ids) {
      const sm = new MemoryStateMachine();
      const fetch = await tlsFetch({ caCert: c.caCert });
      fetches.push(fetch);
      const raft = await Raft.create({
        id,
        config: { electionTimeoutMin: 150, electionTimeoutMax: 300, heartbeatInterval: 30 },
        logStore: new MemoryLogStore(),
        stateMachine: sm,
        network: new HttpNetwork({ timeout: 1000, fetch, secret }),
      });
      nodes.set(id, raft);
      machines.set(id, sm);
      const server = serveHttps(raftRoutes(raft, { secret }).fetch, c);
      servers.push(server);
      members.set(id, { addr: `https://127.0.0.1:${server.port}` });
    }
    await nodes.get(1)!.initialize(members, { clusterId: "tls-cluster" });
    const m = await nodes.get(1)!.metrics.wait({ timeout: 10_000 }).leader();
    const leader = nodes.get(m.currentLeader!)!;
    await leader.metrics.wait({ timeout: 10_000 }).role("leader");
    let last = 0;
    for (let i = 0; i < 10; i++) {
      last = (await leader.clientWrite(kvSet(`k${i}`, `v${i}`))).logId.index;
    }
    for (const id of ids) {
      await nodes.get(id)!.metrics.wait({ timeout: 10_000 }).appliedAtLeast(last);
      const value = machines.get(id)!.get("k9");
      assert.equal(value && new TextDecoder().decode(value), "v9", `node ${id}`);
    }
    // A peer that does not trust the CA cannot reach them over the same addresses.
    const untrusting = new HttpNetwork({ timeout: 2000, secret });
    const err = await rejection(
      untrusting.send(2, members.get(2)!, {
        type: "vote",
        clusterId: "tls-cluster",
        term: 1,
        candidateId: 1,
        lastLogId: null,
        transfer: false,
      }),
    );
    assert.ok(err instanceof Unreachable, String(err));
  } finally {
    for (const raft of nodes.values()) await raft.shutdown();
    for (const fetch of fetches) fetch.close();
    for (const server of servers) await server.close();
  }
});

test("tlsFetch: a snapshot streams over HTTPS (HttpNetwork.installSnapshot, 8 MiB)", async (t) => {
  if (certs === null) return t.skip(SKIP);
  const c = certs;
  const MiB = 1024 * 1024;
  let received = 0;
  let sum = 0;
  const app = raftRoutes({
    handle: async (req, data) => {
      if (data instanceof ReadableStream) {
        for await (const chunk of data) {
          received += chunk.byteLength;
          for (const byte of chunk) sum += byte;
        }
      }
      return { type: "install-snapshot-response", term: req.term, lastLogId: null };
    },
  });
  const server = serveHttps(app.fetch, c);
  const fetch = await tlsFetch({ caCert: c.caCert });
  try {
    let sent = 0;
    let expected = 0;
    const data = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 8) return controller.close();
        const chunk = new Uint8Array(MiB).fill(sent + 1);
        expected += (sent + 1) * MiB;
        sent++;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    const net = new HttpNetwork({ fetch });
    const res = await net.installSnapshot(2, { addr: `https://127.0.0.1:${server.port}` }, {
      type: "install-snapshot",
      clusterId: "c1",
      term: 3,
      leaderId: 1,
      meta: {
        lastLogId: { term: 3, index: 40 },
        lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
        snapshotId: "3-40-1",
      },
    }, data);
    assert.equal(res.type, "install-snapshot-response");
    assert.equal(received, 8 * MiB);
    assert.equal(sum, expected);
  } finally {
    fetch.close();
    await server.close();
  }
});
