import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_RESPONSE_BYTES,
  HttpNetwork,
  PeerRefused,
} from "../../src/transport/http_network.ts";
import { raftRoutes } from "../../src/transport/raft_routes.ts";
import { decodeMessage, encodeMessage } from "../../src/codec.ts";
import {
  ClusterMismatch,
  ConfigError,
  InvalidMessage,
  NotAMember,
  PayloadTooLarge,
  ShuttingDown,
  Timeout,
  Unreachable,
} from "../../src/errors.ts";
import type {
  InstallSnapshotRequest,
  RaftRequest,
  RaftResponse,
  VoteRequest,
} from "../../src/messages.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { EMPTY_MEMBERSHIP, type NodeId, type RaftNode } from "../../src/types.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { closedPort, serveLocal } from "./_serve.ts";

const VOTE: VoteRequest = {
  type: "vote",
  clusterId: "c1",
  term: 4,
  candidateId: 2,
  lastLogId: { term: 3, index: 9 },
  transfer: false,
};
const APPEND: RaftRequest = {
  type: "append",
  clusterId: "c1",
  term: 3,
  leaderId: 1,
  prevLogId: null,
  entries: [{ type: "normal", term: 3, index: 1, data: new Uint8Array([7, 8]) }],
  leaderCommit: 0,
  round: 1,
};

function answer(req: RaftRequest): RaftResponse {
  switch (req.type) {
    case "append":
      return {
        type: "append-response",
        term: req.term,
        round: req.round,
        success: true,
        index: 1,
        hintTerm: 0,
        hintIndex: 0,
      };
    case "vote":
    case "pre-vote":
      return { type: `${req.type}-response`, term: req.term, granted: true };
    case "timeout-now":
      return { type: "timeout-now-response", term: req.term, accepted: true };
    case "install-snapshot":
      return { type: "install-snapshot-response", term: req.term, lastLogId: null };
    case "read-index":
      return { type: "read-index-response", term: req.term, index: 7, leaderId: 1 };
  }
}

function cborResponse(m: RaftResponse, init?: ResponseInit): Response {
  return new Response(encodeMessage(m).slice(), init);
}

/** Whether `s` holds a control character (U+0000 to U+001F). */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return true;
  return false;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  assert.fail("expected a rejection");
}

test("HttpNetwork: round-trips every request type through raftRoutes on a real server", async () => {
  const seen: RaftRequest[] = [];
  const app = raftRoutes({
    handle: (req) => {
      seen.push(req);
      return Promise.resolve(answer(req));
    },
  });
  const server = await serveLocal(app.fetch);
  try {
    const net = new HttpNetwork();
    const requests: RaftRequest[] = [
      APPEND,
      VOTE,
      { ...VOTE, type: "pre-vote" },
      { type: "timeout-now", clusterId: "c1", term: 5, leaderId: 1 },
    ];
    for (const req of requests) {
      assert.deepEqual(await net.send(2, { addr: server.url }, req), answer(req), req.type);
    }
    // An address with a trailing slash works the same.
    assert.deepEqual(await net.send(2, { addr: server.url + "/" }, VOTE), answer(VOTE));
    assert.deepEqual(seen, [...requests, VOTE]);
  } finally {
    await server.close();
  }
});

test("HttpNetwork: POSTs CBOR to <addr>/raft/<type> through the injected fetch", async () => {
  const calls: { url: string; init: RequestInit }[] = [];
  const net = new HttpNetwork({
    fetch: (url, init) => {
      calls.push({ url, init });
      return Promise.resolve(cborResponse(answer(APPEND)));
    },
  });
  const res = await net.send(3, { addr: "http://10.1.2.3:9000" }, APPEND);
  assert.deepEqual(res, answer(APPEND));
  assert.equal(calls.length, 1);
  const { url, init } = calls[0]!;
  assert.equal(url, "http://10.1.2.3:9000/raft/append");
  assert.equal(init.method, "POST");
  assert.equal(new Headers(init.headers).get("content-type"), "application/cbor");
  assert.ok(init.signal instanceof AbortSignal);
  assert.deepEqual(decodeMessage(init.body as Uint8Array), APPEND);
});

test("HttpNetwork: connection refused rejects with Unreachable", async () => {
  const port = await closedPort();
  const net = new HttpNetwork({ timeout: 2000 });
  const err = await rejection(net.send(7, { addr: `http://127.0.0.1:${port}` }, VOTE));
  assert.ok(err instanceof Unreachable, String(err));
  assert.equal(err.nodeId, 7);
  assert.ok(err.cause !== undefined);
});

test("HttpNetwork: a peer that does not answer in time rejects with Unreachable(Timeout)", async () => {
  let release = (): void => {};
  const stuck = new Promise<void>((r) => release = r);
  const server = await serveLocal(async () => {
    await stuck;
    return new Response("late");
  });
  try {
    const net = new HttpNetwork({ timeout: 100 });
    const started = performance.now();
    const err = await rejection(net.send(2, { addr: server.url }, VOTE));
    assert.ok(err instanceof Unreachable, String(err));
    assert.ok(err.cause instanceof Timeout, String(err.cause));
    assert.equal(err.cause.timeoutMs, 100);
    assert.ok(performance.now() - started < 5000);
  } finally {
    release();
    await server.close();
  }
});

test("HttpNetwork: a garbage or mismatched response rejects with Unreachable(InvalidMessage)", async () => {
  const server = await serveLocal((req) => {
    const path = new URL(req.url).pathname;
    if (path === "/raft/vote") return new Response(new Uint8Array([0xff, 0xfe, 0x00]));
    if (path === "/raft/pre-vote") return new Response("<html>not raft</html>");
    // A well-formed response of the wrong type.
    return cborResponse({ type: "vote-response", term: 1, granted: true });
  });
  try {
    const net = new HttpNetwork();
    for (const req of [VOTE, { ...VOTE, type: "pre-vote" } as RaftRequest, APPEND]) {
      const err = await rejection(net.send(2, { addr: server.url }, req));
      assert.ok(err instanceof Unreachable, `${req.type}: ${err}`);
      assert.ok(err.cause instanceof InvalidMessage, `${req.type}: ${err.cause}`);
    }
  } finally {
    await server.close();
  }
});

test("HttpNetwork: a non-2xx status rejects with PeerRefused: the status and the peer's error", async () => {
  const app = raftRoutes({ handle: () => Promise.reject(new ShuttingDown()) });
  const server = await serveLocal(app.fetch);
  try {
    const net = new HttpNetwork();
    const err = await rejection(net.send(2, { addr: server.url }, VOTE));
    assert.ok(err instanceof Unreachable && err instanceof PeerRefused, String(err));
    assert.equal(err.code, "Unreachable");
    assert.equal(err.nodeId, 2);
    assert.equal(err.status, 503);
    assert.equal(err.peerCode, "ShuttingDown");
    assert.equal(
      err.message,
      "peer 2 refused: HTTP 503 Service Unavailable (the peer cannot serve now: shutting " +
        "down, or its storage failed): ShuttingDown: the node is shutting down",
    );
    const cause = err.cause as Error & { code?: unknown };
    assert.equal(cause.name, "ShuttingDown");
    assert.equal(cause.code, "ShuttingDown");
    assert.match(
      cause.message,
      /^HTTP 503 from http:\/\/127\.0\.0\.1:\d+\/raft\/vote: the node is shutting down$/,
    );
    const json = err.toJSON();
    assert.equal(json.code, "Unreachable");
    assert.equal(json.status, 503);
    assert.equal(json.peerCode, "ShuttingDown");
    assert.equal(json.nodeId, 2);

    const missing = await rejection(net.send(2, { addr: server.url + "/nothing-here" }, VOTE));
    assert.ok(missing instanceof PeerRefused);
    assert.equal(missing.status, 404);
    assert.equal(missing.peerCode, null, "Hono's 404 page is not a JSON error");
    assert.match(missing.message, /^peer 2 refused: HTTP 404 Not Found \(no Raft routes/);
    assert.match(String((missing.cause as Error).message), /HTTP 404/);
  } finally {
    await server.close();
  }
});

test("HttpNetwork: a wrong or missing secret says so, with status 401", async () => {
  const app = raftRoutes({ handle: (req) => Promise.resolve(answer(req)) }, { secret: "right" });
  const server = await serveLocal(app.fetch);
  try {
    const addr = { addr: server.url };
    const wrong = await rejection(new HttpNetwork({ secret: "wrong" }).send(2, addr, VOTE));
    assert.ok(wrong instanceof PeerRefused, String(wrong));
    assert.equal(wrong.status, 401);
    assert.equal(wrong.peerCode, "InvalidMessage");
    assert.match(
      wrong.message,
      /^peer 2 refused: HTTP 401 Unauthorized \(wrong or missing secret: the peer does not accept this node's secret\): InvalidMessage: /,
    );
    const none = await rejection(new HttpNetwork().send(2, addr, VOTE));
    assert.ok(none instanceof PeerRefused);
    assert.equal(none.status, 401);
    assert.match(
      none.message,
      /wrong or missing secret: the peer requires one and this node sends none/,
    );
    // A snapshot transfer too.
    const data = source();
    const snap = await rejection(
      new HttpNetwork({ secret: "wrong" }).installSnapshot(2, addr, INSTALL, data.stream),
    );
    assert.ok(snap instanceof PeerRefused && snap.status === 401, String(snap));
    assert.match(
      String(snap),
      /^Unreachable: peer 2 refused: HTTP 401 Unauthorized \(wrong or missing secret/,
    );
  } finally {
    await server.close();
  }
});

test("HttpNetwork: PeerRefused for 413, 412, 410 and 409 keeps the status; a proxy's page has no peerCode", async () => {
  const cases: [number, string, RegExp][] = [
    [
      413,
      JSON.stringify(new PayloadTooLarge(100, 10).toJSON()),
      /HTTP 413 Content Too Large \(the request exceeds the peer's maxBodyBytes/,
    ],
    [
      412,
      JSON.stringify({ code: "InvalidMessage", message: "meant for node 3" }),
      /HTTP 412 Precondition Failed \(the address serves another node/,
    ],
    [
      412,
      JSON.stringify(new ClusterMismatch("c9", "c1", 1).toJSON()),
      /HTTP 412 Precondition Failed \(the peer belongs to another cluster\)/,
    ],
    [
      409,
      JSON.stringify(new ClusterMismatch("c9", "c1", 1).toJSON()),
      /HTTP 409 Conflict \(the peer belongs to another cluster\)/,
    ],
    [
      410,
      JSON.stringify(new NotAMember(1).toJSON()),
      /HTTP 410 Gone \(the peer holds this node for removed/,
    ],
    [502, "<html>\u0007bad\ngateway</html>", /^peer 2 refused: HTTP 502 Bad Gateway$/],
    [418, JSON.stringify({ code: "Teapot\nInjected", message: "x" }), /^peer 2 refused: HTTP 418$/],
  ];
  for (const [status, body, pattern] of cases) {
    const net = new HttpNetwork({ fetch: () => Promise.resolve(new Response(body, { status })) });
    const err = await rejection(net.send(2, { addr: "http://x" }, VOTE));
    assert.ok(err instanceof PeerRefused, `${status}: ${err}`);
    assert.equal(err.status, status);
    assert.match(err.message, pattern);
    assert.ok(!hasControl(err.message), err.message);
    if (status === 409 || (status === 412 && body.includes("ClusterMismatch"))) {
      assert.ok(err.cause instanceof ClusterMismatch);
    } else if (status === 410) {
      assert.ok(err.cause instanceof NotAMember);
    } else {
      assert.match(
        String((err.cause as Error).message),
        new RegExp(`^HTTP ${status} from http://x/raft/vote`),
      );
      assert.ok(!hasControl(String((err.cause as Error).message)));
    }
    if (status >= 500 || status === 418) assert.equal(err.peerCode, null);
  }
});

test("HttpNetwork: a failure without an HTTP answer is a plain Unreachable, not PeerRefused", async () => {
  const port = await closedPort();
  const err = await rejection(
    new HttpNetwork().send(2, { addr: `http://127.0.0.1:${port}` }, VOTE),
  );
  assert.ok(err instanceof Unreachable && !(err instanceof PeerRefused));
  assert.equal(err.message, "node 2 is unreachable");
  // Aborted while the error body is read: the abort reason, not the status.
  const reason = new Error("stop");
  const ctrl = new AbortController();
  const net = new HttpNetwork({
    fetch: () =>
      Promise.resolve(
        new Response(new ReadableStream({ pull: () => ctrl.abort(reason) }), { status: 401 }),
      ),
  });
  const aborted = await rejection(net.send(2, { addr: "http://x" }, VOTE, { signal: ctrl.signal }));
  assert.ok(aborted instanceof Unreachable && !(aborted instanceof PeerRefused), String(aborted));
  assert.equal(aborted.cause, reason);
});

test("HttpNetwork: options.signal aborts the request", async () => {
  const reason = new Error("shutting down");
  const net = new HttpNetwork({
    fetch: (_url, init) =>
      new Promise((_resolve, reject) => {
        const signal = init.signal!;
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      }),
  });
  const ctrl = new AbortController();
  const pending = rejection(net.send(2, { addr: "http://x" }, VOTE, { signal: ctrl.signal }));
  ctrl.abort(reason);
  const err = await pending;
  assert.ok(err instanceof Unreachable);
  assert.equal(err.cause, reason);

  let fetched = false;
  const lazy = new HttpNetwork({
    fetch: () => {
      fetched = true;
      return Promise.reject(new Error("unexpected"));
    },
  });
  const already = await rejection(
    lazy.send(2, { addr: "http://x" }, VOTE, { signal: AbortSignal.abort(reason) }),
  );
  assert.ok(already instanceof Unreachable);
  assert.equal(fetched, false, "an aborted signal sends nothing");
});

test("HttpNetwork: rejects a non-positive timeout", () => {
  assert.throws(() => new HttpNetwork({ timeout: 0 }), ConfigError);
  assert.throws(() => new HttpNetwork({ timeout: Number.NaN }), ConfigError);
});

test("HttpNetwork: rejects a bad response limit or codec limit when built", () => {
  assert.equal(DEFAULT_MAX_RESPONSE_BYTES, 1024 * 1024);
  assert.throws(() => new HttpNetwork({ maxResponseBytes: -1 }), ConfigError);
  assert.throws(() => new HttpNetwork({ maxResponseBytes: 0.5 }), ConfigError);
  assert.throws(() => new HttpNetwork({ limits: { maxEntries: -1 } }), ConfigError);
  assert.throws(() => new HttpNetwork({ limits: { maxStringBytes: Number.NaN } }), ConfigError);
});

test("HttpNetwork: a 3-node cluster over real HTTP elects a leader and replicates writes", async () => {
  const ids: NodeId[] = [1, 2, 3];
  const nodes = new Map<NodeId, Raft<Uint8Array | null>>();
  const machines = new Map<NodeId, MemoryStateMachine>();
  const servers: { close(): Promise<void> }[] = [];
  const members = new Map<NodeId, RaftNode>();
  try {
    for (const id of ids) {
      const sm = new MemoryStateMachine();
      const raft = await Raft.create({
        id,
        config: { electionTimeoutMin: 150, electionTimeoutMax: 300, heartbeatInterval: 30 },
        logStore: new MemoryLogStore(),
        stateMachine: sm,
        network: new HttpNetwork({ timeout: 500 }),
      });
      nodes.set(id, raft);
      machines.set(id, sm);
      const server = await serveLocal(raftRoutes(raft).fetch);
      servers.push(server);
      members.set(id, { addr: server.url });
    }
    await nodes.get(1)!.initialize(members);
    const m = await nodes.get(1)!.metrics.wait({ timeout: 10_000 }).leader();
    const leaderId = m.currentLeader!;
    const leader = nodes.get(leaderId)!;
    await leader.metrics.wait({ timeout: 10_000 }).role("leader");

    let last = 0;
    for (let i = 0; i < 20; i++) {
      last = (await leader.clientWrite(kvSet(`k${i}`, `v${i}`))).logId.index;
    }
    for (const id of ids) {
      await nodes.get(id)!.metrics.wait({ timeout: 10_000 }).appliedAtLeast(last);
      const value = machines.get(id)!.get("k19");
      assert.equal(value && new TextDecoder().decode(value), "v19", `node ${id}`);
      assert.equal(nodes.get(id)!.metrics.current.currentLeader, leaderId);
    }
    const follower = ids.find((id) => id !== leaderId)!;
    await assert.rejects(nodes.get(follower)!.clientWrite(kvSet("x", "y")), {
      name: "ForwardToLeader",
    });
  } finally {
    for (const raft of nodes.values()) await raft.shutdown();
    for (const s of servers) await s.close();
  }
});

const INSTALL: InstallSnapshotRequest = {
  type: "install-snapshot",
  clusterId: "c1",
  term: 3,
  leaderId: 1,
  meta: {
    lastLogId: { term: 3, index: 9 },
    lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
    snapshotId: "s-9",
  },
};

/** A snapshot source that records whether it was cancelled. */
function source(): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean } {
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new Uint8Array(16));
    },
    cancel() {
      cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { stream, cancelled: () => cancelled };
}

/** Calls `f`, asserting it does not throw, and returns the promise it made. */
function noThrow<T>(f: () => Promise<T>, what: string): Promise<T> {
  let p: Promise<T> | undefined;
  assert.doesNotThrow(() => {
    p = f();
  }, what);
  return p!;
}

test("HttpNetwork: a request that cannot be encoded rejects (never throws) and sends nothing", async () => {
  let fetched = 0;
  const net = new HttpNetwork({
    fetch: () => {
      fetched++;
      return Promise.resolve(cborResponse(answer(VOTE)));
    },
  });
  const bad: [string, unknown][] = [
    ["a term that is not a safe integer", { ...VOTE, term: 2 ** 53 }],
    ["a fractional term", { ...VOTE, term: 0.5 }],
    ["a negative leader id", { type: "timeout-now", clusterId: "c1", term: 1, leaderId: -1 }],
    ["entry data that is not bytes", {
      ...APPEND,
      entries: [{ type: "normal", term: 3, index: 1, data: "not bytes" }],
    }],
    ["a response, not a request", { type: "vote-response", term: 1, granted: true }],
    ["an install-snapshot request (installSnapshot's job)", INSTALL],
    ["an unknown type", { type: "bogus", term: 1 }],
    ["null", null],
  ];
  for (const [what, request] of bad) {
    const p = noThrow(() => net.send(2, { addr: "http://x" }, request as RaftRequest), what);
    const err = await rejection(p);
    assert.ok(err instanceof Unreachable, `${what}: ${err}`);
    assert.equal(err.nodeId, 2);
    assert.ok(err.cause instanceof InvalidMessage, `${what}: ${err.cause}`);
    assert.match(err.cause.reason, /cannot encode/, what);
  }
  assert.equal(fetched, 0, "nothing was sent");
});

test("HttpNetwork: a snapshot request that cannot be encoded rejects and releases the data", async () => {
  let fetched = 0;
  const net = new HttpNetwork({
    fetch: () => {
      fetched++;
      return Promise.reject(new Error("unexpected"));
    },
  });
  for (const request of [{ ...INSTALL, term: 2 ** 53 }, { ...INSTALL, meta: null }, VOTE]) {
    const data = source();
    const p = noThrow(
      () =>
        net.installSnapshot(
          2,
          { addr: "http://x" },
          request as unknown as InstallSnapshotRequest,
          data.stream,
        ),
      String(request.term),
    );
    const err = await rejection(p);
    assert.ok(err instanceof Unreachable, String(err));
    assert.ok(err.cause instanceof InvalidMessage, String(err.cause));
    assert.ok(data.cancelled(), "the snapshot's stream was cancelled");
  }
  // A stream that is already locked cannot be sent either.
  const locked = source();
  locked.stream.getReader();
  const err = await rejection(net.installSnapshot(2, { addr: "http://x" }, INSTALL, locked.stream));
  assert.ok(err instanceof Unreachable, String(err));
  assert.equal(fetched, 0);
});

test("HttpNetwork: a node record without an address rejects with Unreachable", async () => {
  const net = new HttpNetwork({ fetch: () => Promise.reject(new Error("unexpected")) });
  for (const node of [{}, { addr: 42 }, null]) {
    const err = await rejection(
      noThrow(() => net.send(5, node as unknown as RaftNode, VOTE), JSON.stringify(node)),
    );
    assert.ok(err instanceof Unreachable, String(err));
    assert.equal(err.nodeId, 5);
    assert.ok(err.cause instanceof ConfigError, String(err.cause));
    assert.match(err.cause.message, /^node 5 has no address/);
  }
  const cases: [string, RegExp][] = [
    ["", /^node 5 has no address \(its RaftNode.addr is ""\)/],
    ["10.0.0.5:8000", /^node 5's address "10.0.0.5:8000" is not an absolute http/],
    ["ftp://10.0.0.5", /is not an absolute http:\/\/ or https:\/\/ URL/],
    ["/raft", /is not an absolute/],
  ];
  for (const [addr, pattern] of cases) {
    const err = await rejection(net.send(5, { addr }, VOTE));
    assert.ok(err instanceof Unreachable && err.cause instanceof ConfigError, String(err));
    assert.equal(err.cause.field, "addr");
    assert.match(err.cause.message, pattern);
    const data = source();
    const snap = await rejection(net.installSnapshot(5, { addr }, INSTALL, data.stream));
    assert.ok(snap instanceof Unreachable && snap.cause instanceof ConfigError, String(snap));
    await waitUntil(() => data.cancelled(), "the snapshot's data is released");
  }
});

async function waitUntil(f: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!f()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("HttpNetwork: a 409 ClusterMismatch answer rejects with Unreachable(ClusterMismatch)", async () => {
  const app = raftRoutes({
    handle: (req) => Promise.reject(new ClusterMismatch("other", req.clusterId, 1)),
  });
  const server = await serveLocal(app.fetch);
  try {
    const net = new HttpNetwork();
    const requests: RaftRequest[] = [
      APPEND,
      VOTE,
      { ...VOTE, type: "pre-vote" },
      { type: "timeout-now", clusterId: "c1", term: 5, leaderId: 1 },
    ];
    const errors: unknown[] = [];
    for (const req of requests) {
      errors.push(await rejection(net.send(2, { addr: server.url }, req)));
    }
    const data = source();
    errors.push(
      await rejection(net.installSnapshot(2, { addr: server.url }, INSTALL, data.stream)),
    );
    for (const err of errors) {
      assert.ok(err instanceof Unreachable, String(err));
      assert.equal(err.nodeId, 2);
      assert.ok(err.cause instanceof ClusterMismatch, String(err.cause));
      assert.equal(err.cause.code, "ClusterMismatch");
      assert.equal(err.cause.expected, "other");
      assert.equal(err.cause.got, "c1");
      assert.equal(err.cause.from, 1);
    }
  } finally {
    await server.close();
  }
});

test("HttpNetwork: only a well-formed 409 ClusterMismatch is taken for one", async () => {
  const answers: [number, string][] = [
    [409, JSON.stringify({ code: "ClusterMismatch", message: "no fields" })],
    [409, JSON.stringify({ code: "ClusterMismatch", expected: 1, got: "c1", from: 1 })],
    [409, JSON.stringify({ code: "ClusterMismatch", expected: "x", got: "c1", from: -1 })],
    [409, "conflict, and not JSON"],
    [409, "null"],
    [503, JSON.stringify({ code: "ClusterMismatch", expected: "x", got: "c1", from: 1 })],
  ];
  for (const [status, text] of answers) {
    const net = new HttpNetwork({ fetch: () => Promise.resolve(new Response(text, { status })) });
    const err = await rejection(net.send(2, { addr: "http://x" }, VOTE));
    assert.ok(err instanceof Unreachable, String(err));
    assert.ok(!(err.cause instanceof ClusterMismatch), `${status} ${text}`);
    assert.ok(err.cause instanceof Error);
    assert.match(err.cause.message, new RegExp(`HTTP ${status}`));
  }
});

test("HttpNetwork: a redirect is not followed", async () => {
  const hits: string[] = [];
  const server = await serveLocal((req) => {
    const path = new URL(req.url).pathname;
    hits.push(path);
    if (path === "/raft/vote") {
      return new Response(null, { status: 307, headers: { location: "/elsewhere/raft/vote" } });
    }
    return cborResponse(answer(VOTE));
  });
  try {
    const net = new HttpNetwork();
    const err = await rejection(net.send(2, { addr: server.url }, VOTE));
    assert.ok(err instanceof Unreachable, String(err));
    assert.match(String((err.cause as Error).message), /HTTP 307/);
    assert.deepEqual(hits, ["/raft/vote"], "the request went nowhere else");
  } finally {
    await server.close();
  }
});

/**
 * A response body that never ends (until `signal` aborts), counting its chunks; each
 * chunk waits a timer tick, so a reader that never stops still lets the deadline fire.
 */
function endless(signal: AbortSignal | null | undefined, state: { pulled: number }) {
  return new ReadableStream<Uint8Array>({
    start(c) {
      signal?.addEventListener("abort", () => c.error(signal.reason), { once: true });
    },
    async pull(c) {
      await new Promise((r) => setTimeout(r, 1));
      state.pulled++;
      c.enqueue(new Uint8Array(64 * 1024).fill(0x41));
    },
  }, { highWaterMark: 0 });
}

test("HttpNetwork: a response over maxResponseBytes rejects with PayloadTooLarge, read no further", async () => {
  const state = { pulled: 0 };
  const net = new HttpNetwork({
    timeout: 2000,
    fetch: (_url, init) => Promise.resolve(new Response(endless(init.signal, state))),
  });
  const err = await rejection(net.send(2, { addr: "http://x" }, VOTE));
  assert.ok(err instanceof Unreachable, String(err));
  assert.ok(err.cause instanceof PayloadTooLarge, String(err.cause));
  assert.equal(err.cause.limit, DEFAULT_MAX_RESPONSE_BYTES);
  assert.ok(state.pulled <= 20, `pulled ${state.pulled} chunks of 64 KiB`);

  // A declared length over the limit is refused unread.
  const small = new HttpNetwork({
    maxResponseBytes: 100,
    fetch: () =>
      Promise.resolve(
        new Response(encodeMessage(answer(VOTE)).slice(), {
          headers: { "content-length": "1000000" },
        }),
      ),
  });
  const declared = await rejection(small.send(2, { addr: "http://x" }, VOTE));
  assert.ok(declared instanceof Unreachable);
  assert.ok(declared.cause instanceof PayloadTooLarge, String(declared.cause));
  assert.equal(declared.cause.size, 1_000_000);
});

test("HttpNetwork: an endless error body is cut short, not read until the timeout", async () => {
  const state = { pulled: 0 };
  const net = new HttpNetwork({
    timeout: 2000,
    fetch: (_url, init) =>
      Promise.resolve(new Response(endless(init.signal, state), { status: 500 })),
  });
  const err = await rejection(net.send(2, { addr: "http://x" }, VOTE));
  assert.ok(err instanceof Unreachable, String(err));
  assert.ok(!(err.cause instanceof Timeout), "answered before the deadline");
  assert.match(String((err.cause as Error).message), /^HTTP 500 from http:\/\/x\/raft\/vote: AAAA/);
  assert.ok(state.pulled <= 3, `pulled ${state.pulled} chunks of 64 KiB`);
});

// ---- shutdown aborts outgoing RPCs (issue 14 §2) ----------------------------------------

test("HttpNetwork: options.signal aborts a fetch that ignores it, and a snapshot transfer whose stream stalls", async () => {
  const signals: AbortSignal[] = [];
  let bodyRead = 0;
  const net = new HttpNetwork({
    timeout: 60_000,
    snapshotTimeout: 60_000,
    snapshotIdleTimeout: 60_000,
    // A peer that never answers, and a fetch that does not even listen to its signal.
    fetch: (_url, init) => {
      signals.push(init.signal!);
      const body = init.body;
      if (body instanceof ReadableStream) {
        // Take the frame and what the snapshot gives, as a connection would.
        void (async () => {
          const reader = body.getReader();
          for (;;) {
            const { done } = await reader.read().catch(() => ({ done: true }));
            if (done) return;
            bodyRead++;
          }
        })();
      }
      return new Promise<Response>(() => {});
    },
  });
  let cancelled: unknown = null;
  const stalled = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(1024));
    },
    pull: () => new Promise<void>(() => {}), // no second chunk, ever
    cancel(reason) {
      cancelled = reason ?? "cancelled";
    },
  }, { highWaterMark: 0 });
  const ctrl = new AbortController();
  const options = { signal: ctrl.signal };
  const send = rejection(net.send(2, { addr: "http://x" }, VOTE, options));
  const snapshot = rejection(
    net.installSnapshot(3, { addr: "http://y" }, INSTALL, stalled, options),
  );
  for (let i = 0; i < 20 && bodyRead < 2; i++) await new Promise((r) => setTimeout(r, 1));
  assert.ok(bodyRead >= 2, "the frame and the first chunk were sent");
  assert.equal(signals.length, 2);
  assert.ok(signals.every((s) => !s.aborted));
  const reason = new ShuttingDown();
  ctrl.abort(reason);
  for (const [p, id] of [[send, 2], [snapshot, 3]] as const) {
    const err = await p;
    assert.ok(err instanceof Unreachable && err.nodeId === id, String(err));
    assert.equal(err.cause, reason);
  }
  assert.ok(signals.every((s) => s.aborted), "every fetch saw its abort");
  for (let i = 0; i < 20 && cancelled === null; i++) await new Promise((r) => setTimeout(r, 1));
  assert.notEqual(cancelled, null, "the snapshot's stream was cancelled");
});

test("Raft.shutdown aborts its outgoing RPCs over real HTTP: peers that never answer do not hold it", async () => {
  // Peers that take requests and never answer (until the client goes away, or 20 s).
  const held: Request[] = [];
  const silent = await serveLocal((req) => {
    held.push(req);
    return new Promise<Response>((resolve) => {
      const done = () => resolve(new Response(null, { status: 503 }));
      req.signal?.addEventListener("abort", done, { once: true });
      setTimeout(done, 20_000);
    });
  });
  const fetches: AbortSignal[] = [];
  const raft = await Raft.create({
    id: 1,
    config: {
      electionTimeoutMin: 50,
      electionTimeoutMax: 100,
      heartbeatInterval: 20,
      leaseMargin: 10,
    },
    logStore: new MemoryLogStore(),
    stateMachine: new MemoryStateMachine(),
    network: new HttpNetwork({
      timeout: 60_000,
      fetch: (url, init) => {
        fetches.push(init.signal!);
        return fetch(url, init);
      },
    }),
  });
  try {
    await raft.initialize(
      new Map([[1, { addr: "http://127.0.0.1:1" }], [2, { addr: silent.url }], [
        3,
        { addr: silent.url },
      ]]),
    );
    // Node 1 campaigns: its pre-votes reach the silent peers and wait there.
    for (let i = 0; i < 500 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(held.length >= 2, "the peers got requests");
    assert.ok(fetches.some((s) => !s.aborted), "requests are in flight");
    const done = raft.shutdown().then(() => "done");
    const outcome = await Promise.race([
      done,
      new Promise((r) => setTimeout(() => r("still running"), 10_000)),
    ]);
    assert.equal(outcome, "done");
    assert.ok(fetches.every((s) => s.aborted), "every fetch saw its abort");
  } finally {
    await raft.shutdown();
    await silent.close();
  }
});

test("HttpNetwork: timeout bounds each send, never a snapshot; snapshotIdleTimeout only while its body moves", async () => {
  /** A fetch that reads the whole body, then answers after `delay` ms. */
  const slowPeer = (delay: number) => async (_url: string, init: RequestInit) => {
    const body = init.body;
    let request: RaftRequest = INSTALL;
    if (body instanceof ReadableStream) {
      for await (const _ of body) { /* drain */ }
    } else {
      request = decodeMessage(body as Uint8Array) as RaftRequest;
    }
    await new Promise((r) => setTimeout(r, delay));
    return cborResponse(answer(request));
  };
  // timeout 50 ms, snapshotIdleTimeout 50 ms: an answer 200 ms after the body was sent.
  const net = new HttpNetwork({ timeout: 50, snapshotIdleTimeout: 50, fetch: slowPeer(200) });
  const sent = await rejection(net.send(2, { addr: "http://x" }, VOTE));
  assert.ok(sent instanceof Unreachable && sent.cause instanceof Timeout, String(sent));
  assert.equal(sent.cause.timeoutMs, 50);
  const res = await net.installSnapshot(2, { addr: "http://x" }, INSTALL, bytesOf(3));
  assert.equal(res.type, "install-snapshot-response", "neither timeout cut the snapshot short");
  // snapshotTimeout bounds the whole transfer, the wait for the answer included.
  const short = new HttpNetwork({ snapshotTimeout: 50, fetch: slowPeer(200) });
  const cut = await rejection(short.installSnapshot(2, { addr: "http://x" }, INSTALL, bytesOf(3)));
  assert.ok(cut instanceof Unreachable && cut.cause instanceof Timeout, String(cut));
  assert.equal(cut.cause.timeoutMs, 50);
});

/** A finite snapshot stream of `n` 16-byte chunks. */
function bytesOf(n: number): ReadableStream<Uint8Array> {
  let left = n;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (left-- > 0) c.enqueue(new Uint8Array(16));
      else c.close();
    },
  });
}

test("HttpNetwork: a long-lived options.signal holds nothing of the requests that ended (no listener, no dependent signal)", async () => {
  const ctrl = new AbortController();
  let listening = 0;
  const add = ctrl.signal.addEventListener.bind(ctrl.signal);
  const remove = ctrl.signal.removeEventListener.bind(ctrl.signal);
  ctrl.signal.addEventListener = ((...args: Parameters<AbortSignal["addEventListener"]>) => {
    listening++;
    add(...args);
  }) as AbortSignal["addEventListener"];
  ctrl.signal.removeEventListener = ((...args: Parameters<AbortSignal["removeEventListener"]>) => {
    listening--;
    remove(...args);
  }) as AbortSignal["removeEventListener"];
  const any = AbortSignal.any;
  let combined = 0;
  AbortSignal.any = (signals: AbortSignal[]) => {
    if (signals.includes(ctrl.signal)) combined++;
    return any.call(AbortSignal, signals);
  };
  try {
    const net = new HttpNetwork({
      fetch: () => Promise.resolve(cborResponse({ type: "vote-response", term: 1, granted: true })),
    });
    for (let i = 0; i < 20; i++) {
      await net.send(2, { addr: "http://x" }, VOTE, { signal: ctrl.signal });
    }
    await rejection(
      new HttpNetwork({ fetch: () => Promise.reject(new TypeError("refused")) })
        .send(2, { addr: "http://x" }, VOTE, { signal: ctrl.signal }),
    );
  } finally {
    AbortSignal.any = any;
  }
  assert.equal(listening, 0, "every listener on the caller's signal was removed");
  assert.equal(combined, 0, "no signal depends on the caller's (Deno kept those alive)");
});
