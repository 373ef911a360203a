// kvRoutes on real Raft nodes in one process (MemoryNetwork): every route and
// status a client relies on, the redirect from a follower, tokens and limits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { kvRoutes } from "../../kv/mod.ts";
import { FAST, RuntimeCluster, sleep } from "../runtime/_cluster.ts";
import type { NodeId } from "../../src/types.ts";
import type { Config } from "../../src/config.ts";

const addr = (id: NodeId): string => `http://127.0.0.1:2200${id}/`;
const base = (id: NodeId): string => addr(id).replace(/\/$/, "");

async function until(cond: () => boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(5);
  }
}

/** A 3-node cluster with addresses; returns the leader's id. */
async function cluster3(c: RuntimeCluster): Promise<NodeId> {
  await c.start([1, 2, 3]);
  await c.node(1).initialize(new Map([1, 2, 3].map((id) => [id, { addr: addr(id) }])));
  return await c.waitLeader();
}

/** A single-node cluster (node 1) that leads. */
async function single(config: Partial<Config> = FAST): Promise<RuntimeCluster> {
  const c = new RuntimeCluster(config);
  await c.start([1]);
  await c.node(1).initialize(new Map([[1, { addr: addr(1) }]]));
  await c.node(1).metrics.wait({ timeout: 5000 }).role("leader");
  return c;
}

const put = (body: BodyInit, headers: Record<string, string> = {}): RequestInit => ({
  method: "PUT",
  body,
  headers,
});

const cas = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: typeof body === "string" ? body : JSON.stringify(body),
});

test("kv routes: put, get (every read mode), delete, 404 and a bad read mode", async () => {
  const c = await single();
  try {
    const app = kvRoutes(c.node(1), c.machines.get(1)!);

    const missing = await app.request("/kv/a");
    assert.equal(missing.status, 404);
    const nf = await missing.json();
    assert.equal(nf.error, "NotFound");
    assert.equal(typeof nf.message, "string");

    const w1 = await app.request("/kv/a", put("hello"));
    assert.equal(w1.status, 200);
    const { index: i1 } = await w1.json();
    assert.equal(typeof i1, "number");
    assert.equal(c.node(1).metrics.current.lastApplied?.index, i1);
    const w2 = await app.request("/kv/a", put("hello again"));
    const { index: i2 } = await w2.json();
    assert.ok(i2 > i1);

    for (
      const q of [
        "",
        "?read=linearizable",
        "?read=lease",
        "?read=follower",
        "?read=local",
        "?consistency=lease",
      ]
    ) {
      const res = await app.request(`/kv/a${q}`);
      assert.equal(res.status, 200, q);
      assert.equal(res.headers.get("content-type"), "application/octet-stream");
      assert.equal(await res.text(), "hello again", q);
    }
    const bad = await app.request("/kv/a?read=eventually");
    assert.equal(bad.status, 400);
    const badBody = await bad.json();
    assert.equal(badBody.error, "InvalidArgument");
    assert.match(badBody.message, /linearizable, lease, follower or local/);

    // Binary values and keys needing escapes round-trip.
    const bytes = new Uint8Array([0, 255, 1, 254]);
    assert.equal((await app.request("/kv/with%20space%2Fslash", put(bytes))).status, 200);
    assert.equal(c.machines.get(1)!.get("with space/slash")?.length, 4);
    const got = await app.request("/kv/with%20space%2Fslash");
    assert.deepEqual(new Uint8Array(await got.arrayBuffer()), bytes);

    // An empty body is an empty value, not an absent key.
    assert.equal((await app.request("/kv/empty", put(""))).status, 200);
    const empty = await app.request("/kv/empty");
    assert.equal(empty.status, 200);
    assert.equal((await empty.arrayBuffer()).byteLength, 0);

    const del = await app.request("/kv/a", { method: "DELETE" });
    assert.equal(del.status, 200);
    const d = await del.json();
    assert.equal(d.deleted, true);
    assert.ok(d.index > i2);
    assert.equal((await app.request("/kv/a")).status, 404);
    const again = await (await app.request("/kv/a", { method: "DELETE" })).json();
    assert.equal(again.deleted, false);
    assert.ok(again.index > d.index);
  } finally {
    await c.shutdown();
  }
});

test("kv routes: compare-and-set — success, failure, absent key, expected null, expected === value", async () => {
  const c = await single();
  try {
    const app = kvRoutes(c.node(1), c.machines.get(1)!);
    const call = async (key: string, body: unknown): Promise<unknown> => {
      const res = await app.request(`/kv/${key}/cas`, cas(body));
      assert.equal(res.status, 200, JSON.stringify(body));
      return await res.json();
    };
    const value = (key: string): string | null => {
      const v = c.machines.get(1)!.get(key);
      return v === null ? null : new TextDecoder().decode(v);
    };

    // Absent key: expected null creates it; a second create fails and shows the value.
    assert.deepEqual(await call("k", { expected: null, value: "1" }), { ok: true, value: "1" });
    assert.deepEqual(await call("k", { expected: null, value: "2" }), { ok: false, value: "1" });
    assert.equal(value("k"), "1");
    // Wrong expectation: no change, the current value is answered.
    assert.deepEqual(await call("k", { expected: "0", value: "2" }), { ok: false, value: "1" });
    assert.equal(value("k"), "1");
    // Right expectation: swapped.
    assert.deepEqual(await call("k", { expected: "1", value: "2" }), { ok: true, value: "2" });
    assert.equal(value("k"), "2");
    // expected === value: ok when the key holds it, not when it does not.
    assert.deepEqual(await call("k", { expected: "2", value: "2" }), { ok: true, value: "2" });
    assert.deepEqual(await call("k", { expected: "3", value: "3" }), { ok: false, value: "2" });
    // An absent key with a non-null expectation: not ok, value null; still absent.
    assert.deepEqual(await call("nope", { expected: "x", value: "y" }), { ok: false, value: null });
    assert.equal(value("nope"), null);
    // The empty string is a value, not absence.
    assert.deepEqual(await call("e", { expected: null, value: "" }), { ok: true, value: "" });
    assert.deepEqual(await call("e", { expected: null, value: "z" }), { ok: false, value: "" });
    // Extra fields are ignored.
    assert.deepEqual(await call("k", { expected: "2", value: "4", x: 1 }), {
      ok: true,
      value: "4",
    });

    // A current value that is not UTF-8 comes back in base64.
    assert.equal((await app.request("/kv/bin", put(new Uint8Array([0xff, 0x00])))).status, 200);
    assert.deepEqual(await call("bin", { expected: "a", value: "b" }), {
      ok: false,
      value: "/wA=",
      encoding: "base64",
    });

    // Bad bodies: 400 (415 for another content type), nothing written.
    const before = c.node(1).metrics.current.lastLogIndex;
    for (
      const [body, error] of [
        ["{not json", "InvalidMessage"],
        ["[1, 2]", "InvalidMessage"],
        ["null", "InvalidMessage"],
        [{ expected: null }, "InvalidArgument"],
        [{ value: "v" }, "InvalidArgument"],
        [{ expected: 5, value: "v" }, "InvalidArgument"],
        [{ expected: null, value: 5 }, "InvalidArgument"],
        [{ expected: null, value: null }, "InvalidArgument"],
      ] as const
    ) {
      const res = await app.request("/kv/k/cas", cas(body));
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((await res.json()).error, error, JSON.stringify(body));
    }
    const plain = await app.request("/kv/k/cas", {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ expected: "4", value: "5" }),
    });
    assert.equal(plain.status, 415);
    assert.equal(c.node(1).metrics.current.lastLogIndex, before);
    assert.equal(value("k"), "4");
  } finally {
    await c.shutdown();
  }
});

test("kv routes: a follower redirects writes, CAS and linearizable/lease reads to the leader; local reads are served", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const leader = await cluster3(c);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const apps = new Map([1, 2, 3].map((id) => [id, kvRoutes(c.node(id), c.machines.get(id)!)]));
    const lapp = apps.get(leader)!;
    const fapp = apps.get(follower)!;
    const { index } = await (await lapp.request("/kv/a", put("1"))).json();

    const requests: [string, RequestInit][] = [
      ["/kv/a?x=1", put("2")],
      ["/kv/a", { method: "DELETE" }],
      ["/kv/a/cas", cas({ expected: "1", value: "2" })],
      ["/kv/a", {}],
      ["/kv/a?read=linearizable", {}],
      ["/kv/a?read=lease&y=%20", {}],
    ];
    for (const [path, init] of requests) {
      const res = await fapp.request(path, init);
      assert.equal(res.status, 307, `${init.method ?? "GET"} ${path}`);
      assert.equal(res.headers.get("location"), `${base(leader)}${path}`);
      const body = await res.json();
      assert.equal(body.error, "ForwardToLeader");
      assert.equal(body.leaderId, leader);
    }
    // Nothing was written through the follower.
    assert.equal(c.machines.get(leader)!.get("a")?.[0], "1".charCodeAt(0));

    // Following the redirect on the leader works (the same path and method).
    const followed = await lapp.request("/kv/a?x=1", put("2"));
    assert.equal(followed.status, 200);
    const { index: i2 } = await followed.json();
    assert.ok(i2 > index);

    // A local read is answered by the follower from its own state machine.
    await until(() => (c.node(follower).metrics.current.lastApplied?.index ?? 0) >= i2);
    const local = await fapp.request("/kv/a?read=local");
    assert.equal(local.status, 200);
    assert.equal(await local.text(), "2");
    assert.equal((await fapp.request("/kv/none?read=local")).status, 404);
  } finally {
    await c.shutdown();
  }
});

test("kv routes follow leadership: after a transfer the old leader redirects writes to the new one before reading their body, and the new one takes them", async () => {
  const c = new RuntimeCluster({ ...FAST, maxPayloadBytes: 64 });
  try {
    const first = await cluster3(c);
    const apps = new Map([1, 2, 3].map((id) => [id, kvRoutes(c.node(id), c.machines.get(id)!)]));
    assert.equal((await apps.get(first)!.request("/kv/a", put("1"))).status, 200);
    const next = [1, 2, 3].find((id) => id !== first)!;
    await c.node(first).trigger.transferLeader(next);
    await c.node(next).metrics.wait({ timeout: 5000 }).role("leader");
    await until(() => c.node(first).metrics.current.currentLeader === next);
    const moved = await apps.get(first)!.request("/kv/a", put("2"));
    assert.equal(moved.status, 307);
    assert.equal(moved.headers.get("location"), `${base(next)}/kv/a`);
    // Redirected before its body is read: a body over the limit is not refused here (413).
    const big = await apps.get(first)!.request("/kv/a", put("x".repeat(100)));
    assert.equal(big.status, 307);
    assert.equal((await apps.get(first)!.request("/kv/a", { method: "DELETE" })).status, 307);
    assert.equal((await apps.get(next)!.request("/kv/a", put("2"))).status, 200);
    assert.equal(c.machines.get(next)!.get("a")?.[0], "2".charCodeAt(0));
  } finally {
    await c.shutdown();
  }
});

test("kv routes: ?read=follower is served by the follower itself, linearizably, never redirected", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const leader = await cluster3(c);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const lapp = kvRoutes(c.node(leader), c.machines.get(leader)!);
    const fapp = kvRoutes(c.node(follower), c.machines.get(follower)!);
    for (let i = 0; i < 5; i++) {
      assert.equal((await lapp.request("/kv/f", put(`v${i}`))).status, 200);
      // Acknowledged on the leader: a follower read at once sees it.
      const res = await fapp.request("/kv/f?read=follower");
      assert.equal(res.status, 200);
      assert.equal(await res.text(), `v${i}`);
    }
    assert.equal((await fapp.request("/kv/none?read=follower")).status, 404);
    assert.ok(c.net.counts("read-index").delivered >= 6);
    // No leader known: 503 NoLeader with Retry-After, not a redirect.
    c.net.isolate(follower);
    await c.node(follower).metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.currentLeader === null,
      "no leader known",
    );
    const none = await fapp.request("/kv/f?read=follower");
    assert.equal(none.status, 503);
    assert.equal(none.headers.get("retry-after"), "1");
    assert.equal(none.headers.get("location"), null);
    assert.equal((await none.json()).error, "NoLeader");
  } finally {
    await c.shutdown();
  }
});

test("kv routes: before the node belongs to a cluster, 503 NotInitialized with Retry-After", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    await c.start([1]); // not initialized: no cluster, no leader
    const app = kvRoutes(c.node(1), c.machines.get(1)!);
    for (
      const [path, init] of [
        ["/kv/a", put("1")],
        ["/kv/a", { method: "DELETE" }],
        ["/kv/a/cas", cas({ expected: null, value: "1" })],
        ["/kv/a", {}],
        ["/kv/a?read=lease", {}],
      ] as [string, RequestInit][]
    ) {
      const res = await app.request(path, init);
      assert.equal(res.status, 503, `${init.method ?? "GET"} ${path}`);
      assert.equal(res.headers.get("retry-after"), "1");
      assert.equal((await res.json()).error, "NotInitialized", `${init.method ?? "GET"} ${path}`);
    }
    assert.equal((await app.request("/kv/a?read=local")).status, 404);
  } finally {
    await c.shutdown();
  }
});

test("kv routes: a write whose leader lost leadership mid-write is 504 OutcomeUnknown", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const leader = await cluster3(c);
    const app = kvRoutes(c.node(leader), c.machines.get(leader)!);
    assert.equal((await app.request("/kv/a", put("1"))).status, 200);
    c.net.isolate(leader);
    const res = await app.request("/kv/a", put("2"));
    assert.equal(res.status, 504);
    const body = await res.json();
    assert.equal(body.error, "OutcomeUnknown");
    assert.match(body.message, /may or may not/);
    // The isolated ex-leader now refuses at once (no leader known, or the new one).
    const after = await app.request("/kv/a", put("3"));
    assert.ok([307, 503].includes(after.status), String(after.status));
  } finally {
    c.net.heal();
    await c.shutdown();
  }
});

test("kv routes: a stopped node answers 503 ShuttingDown", async () => {
  const c = await single();
  try {
    const raft = c.node(1);
    const app = kvRoutes(raft, c.machines.get(1)!);
    await raft.shutdown();
    for (
      const [path, init] of [
        ["/kv/a", put("1")],
        ["/kv/a/cas", cas({ expected: null, value: "1" })],
        ["/kv/a", {}],
      ] as [string, RequestInit][]
    ) {
      const res = await app.request(path, init);
      assert.equal(res.status, 503, path);
      assert.equal((await res.json()).error, "ShuttingDown");
    }
  } finally {
    await c.shutdown();
  }
});

test("kv routes: bodies over maxPayloadBytes are 413, declared or streamed, and write nothing", async () => {
  const max = 1024;
  const c = await single({ ...FAST, maxPayloadBytes: max });
  try {
    const app = kvRoutes(c.node(1), c.machines.get(1)!);
    const before = c.node(1).metrics.current.lastLogIndex;

    // Declared too large: refused before reading.
    const declared = await app.request(
      "/kv/big",
      put(new Uint8Array(max + 1), { "content-length": String(max + 1) }),
    );
    assert.equal(declared.status, 413);
    assert.equal((await declared.json()).error, "PayloadTooLarge");

    // Streamed without a length: refused once the bytes read pass the limit; the
    // rest of an endless body is never pulled.
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        if (pulled > 1000) controller.error(new Error("read far past the limit"));
        else controller.enqueue(new Uint8Array(256));
      },
    });
    const streamed = await app.request("/kv/big", {
      method: "PUT",
      body: endless,
      duplex: "half",
    } as RequestInit);
    assert.equal(streamed.status, 413);
    assert.equal((await streamed.json()).error, "PayloadTooLarge");
    assert.ok(pulled < 20, `pulled ${pulled} chunks`);

    // A body within the limit whose command (key + header) is not: 413 too.
    const edge = await app.request("/kv/big", put(new Uint8Array(max)));
    assert.equal(edge.status, 413);
    assert.equal((await edge.json()).error, "PayloadTooLarge");

    // A CAS body over the limit.
    const bigCas = await app.request(
      "/kv/big/cas",
      cas({ expected: null, value: "x".repeat(max) }),
    );
    assert.equal(bigCas.status, 413);

    assert.equal(c.node(1).metrics.current.lastLogIndex, before);
    assert.equal(c.machines.get(1)!.get("big"), null);
    // Under the limit: accepted.
    assert.equal((await app.request("/kv/big", put(new Uint8Array(max - 100)))).status, 200);
    assert.equal(c.machines.get(1)!.get("big")?.length, max - 100);
  } finally {
    await c.shutdown();
  }
});

test("kv routes: with a token every /kv route needs the bearer token (401 otherwise)", async () => {
  const c = await single();
  try {
    const app = kvRoutes(c.node(1), c.machines.get(1)!, { token: "client-t0ken" });
    const auth = { authorization: "Bearer client-t0ken" };
    const wrong = [{}, { authorization: "Bearer client-t0ke" }, { authorization: "Basic x" }, {
      authorization: "Bearer client-t0kenX",
    }];
    for (const headers of wrong) {
      for (
        const [path, init] of [
          ["/kv/a", put("1", headers)],
          ["/kv/a", { method: "DELETE", headers }],
          ["/kv/a/cas", cas({ expected: null, value: "1" }, headers)],
          ["/kv/a", { headers }],
          ["/kv/a?read=local", { headers }],
        ] as [string, RequestInit][]
      ) {
        const res = await app.request(path, init);
        assert.equal(res.status, 401, `${JSON.stringify(headers)} ${init.method ?? "GET"} ${path}`);
        assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="raft-kv"');
        assert.equal((await res.json()).error, "Unauthorized");
      }
    }
    assert.equal(c.machines.get(1)!.get("a"), null);

    assert.equal((await app.request("/kv/a", put("1", auth))).status, 200);
    const got = await app.request("/kv/a", { headers: { authorization: "bearer client-t0ken" } });
    assert.equal(await got.text(), "1");
    const swapped = await app.request("/kv/a/cas", cas({ expected: "1", value: "2" }, auth));
    assert.deepEqual(await swapped.json(), { ok: true, value: "2" });
    assert.equal((await app.request("/kv/a", { method: "DELETE", headers: auth })).status, 200);

    // Without the option the routes are open; a malformed token is refused at build time.
    const open = kvRoutes(c.node(1), c.machines.get(1)!);
    assert.equal((await open.request("/kv/a?read=local")).status, 404);
    assert.throws(() => kvRoutes(c.node(1), c.machines.get(1)!, { token: "" }), ConfigError);
    assert.throws(() => kvRoutes(c.node(1), c.machines.get(1)!, { token: "a b" }), ConfigError);
  } finally {
    await c.shutdown();
  }
});

test("kv routes: a write made through the API is what the state machine holds on every node", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const leader = await cluster3(c);
    const app = kvRoutes(c.node(leader), c.machines.get(leader)!);
    const { index } = await (await app.request("/kv/x", put("v"))).json();
    for (const id of [1, 2, 3]) {
      await until(() => (c.node(id).metrics.current.lastApplied?.index ?? 0) >= index);
      assert.equal(new TextDecoder().decode(c.machines.get(id)!.get("x")!), "v");
    }
  } finally {
    await c.shutdown();
  }
});

interface Served {
  readonly url: string;
  close(): Promise<void>;
}

type Handler = (req: Request) => Response | Promise<Response>;

/** Serves `fetch` on 127.0.0.1 on a free port (Bun.serve under Bun, Deno.serve under Deno). */
function serveLocal(fetch: Handler): Served {
  const bun = (globalThis as unknown as {
    Bun?: {
      serve(o: { hostname: string; port: number; fetch: Handler }): {
        port: number;
        stop(force: boolean): void;
      };
    };
  }).Bun;
  if (bun !== undefined) {
    const s = bun.serve({ hostname: "127.0.0.1", port: 0, fetch });
    return { url: `http://127.0.0.1:${s.port}`, close: () => Promise.resolve(s.stop(true)) };
  }
  const s = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, fetch);
  return { url: `http://127.0.0.1:${s.addr.port}`, close: () => s.shutdown() };
}

test("kv routes over real HTTP: fetch follows a follower's 307 to the leader; a streamed body over the limit is 413", async () => {
  const c = new RuntimeCluster({ ...FAST, maxPayloadBytes: 64 * 1024 });
  const servers: Served[] = [];
  try {
    await c.start([1, 2, 3]);
    for (const id of [1, 2, 3]) {
      servers.push(serveLocal(kvRoutes(c.node(id), c.machines.get(id)!).fetch));
    }
    const url = (id: NodeId): string => servers[id - 1]!.url;
    await c.node(1).initialize(new Map([1, 2, 3].map((id) => [id, { addr: url(id) }])));
    const leader = await c.waitLeader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;

    const manual = await fetch(`${url(follower)}/kv/a?read=lease`, { redirect: "manual" });
    assert.equal(manual.status, 307);
    assert.equal(manual.headers.get("location"), `${url(leader)}/kv/a?read=lease`);
    await manual.body?.cancel();

    // PUT to a follower, redirect followed: the body is sent again to the leader.
    const put = await fetch(`${url(follower)}/kv/a`, { method: "PUT", body: "hello" });
    assert.equal(put.status, 200);
    const { index } = await put.json();
    assert.equal(new TextDecoder().decode(c.machines.get(leader)!.get("a")!), "hello");
    const read = await fetch(`${url(follower)}/kv/a`);
    assert.equal(read.status, 200);
    assert.equal(await read.text(), "hello");
    await until(() => (c.node(follower).metrics.current.lastApplied?.index ?? 0) >= index);
    assert.equal(await (await fetch(`${url(follower)}/kv/a?read=local`)).text(), "hello");

    // A body streamed with no content-length, over maxPayloadBytes: 413, nothing written.
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 1024 * 1024) return controller.close();
        sent += 16 * 1024;
        controller.enqueue(new Uint8Array(16 * 1024));
      },
    });
    const big = await fetch(`${url(leader)}/kv/big`, {
      method: "PUT",
      body,
      duplex: "half",
    } as RequestInit);
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error, "PayloadTooLarge");
    assert.equal(c.machines.get(leader)!.get("big"), null);
  } finally {
    await c.shutdown();
    for (const s of servers) await s.close();
  }
});
