import { test } from "node:test";
import assert from "node:assert/strict";
import { HttpNetwork } from "../../src/transport/http_network.ts";
import { type RaftHandler, raftRoutes } from "../../src/transport/raft_routes.ts";
import {
  bearerToken,
  checkSecret,
  SecretCheck,
  timingSafeEqual,
} from "../../src/transport/_peer_auth.ts";
import { encodeMessage } from "../../src/codec.ts";
import { ClusterMismatch, ConfigError, Unreachable } from "../../src/errors.ts";
import type { RaftRequest, RaftResponse, VoteRequest } from "../../src/messages.ts";
import { EMPTY_MEMBERSHIP, type NodeId } from "../../src/types.ts";
import { bytesToStream } from "../../src/byte_stream.ts";
import { serveLocal } from "./_serve.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";

const VOTE: VoteRequest = {
  type: "vote",
  clusterId: "c1",
  term: 2,
  candidateId: 1,
  lastLogId: null,
  transfer: false,
};

function answer(req: RaftRequest): RaftResponse {
  switch (req.type) {
    case "append":
      return {
        type: "append-response",
        term: req.term,
        round: req.round,
        success: true,
        index: 0,
        hintTerm: 0,
        hintIndex: 0,
      };
    case "vote":
      return { type: "vote-response", term: req.term, granted: true };
    case "pre-vote":
      return { type: "pre-vote-response", term: req.term, granted: true };
    case "timeout-now":
      return { type: "timeout-now-response", term: req.term, accepted: true };
    case "install-snapshot":
      return { type: "install-snapshot-response", term: req.term, lastLogId: null };
    case "read-index":
      return { type: "read-index-response", term: req.term, index: 7, leaderId: 1 };
  }
}

/** A handler that records every call; with `id` and `clusterId` as a node would have. */
function fake(
  id?: NodeId,
  clusterId?: string,
): RaftHandler & { seen: RaftRequest[] } {
  const seen: RaftRequest[] = [];
  return {
    seen,
    ...(id === undefined ? {} : { id }),
    ...(clusterId === undefined
      ? {}
      : { metrics: { current: { membership: { membership: { clusterId } } } } }),
    handle(req, data) {
      seen.push(req);
      if (data instanceof ReadableStream) void data.cancel().catch(() => {});
      return Promise.resolve(answer(req));
    },
  };
}

function post(
  req: RaftRequest,
  headers: Record<string, string> = {},
  contentType = "application/cbor",
): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": contentType, ...headers },
    body: encodeMessage(req).slice(),
  };
}

function snapshotPost(headers: Record<string, string>): RequestInit {
  const header = encodeMessage({
    type: "install-snapshot",
    clusterId: "c1",
    term: 3,
    leaderId: 1,
    meta: {
      lastLogId: null,
      lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
      snapshotId: "s",
    },
  });
  const body = new Uint8Array(4 + header.byteLength + 3);
  new DataView(body.buffer).setUint32(0, header.byteLength);
  body.set(header, 4);
  return {
    method: "POST",
    headers: { "content-type": "application/cbor", ...headers },
    body,
  };
}

async function errorJson(res: Response): Promise<Record<string, unknown>> {
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  return await res.json() as Record<string, unknown>;
}

const ROUTES = ["append", "vote", "pre-vote", "timeout-now", "read-index"] as const;

function requestOf(type: (typeof ROUTES)[number]): RaftRequest {
  switch (type) {
    case "append":
      return {
        type: "append",
        clusterId: "c1",
        term: 2,
        leaderId: 1,
        prevLogId: null,
        entries: [],
        leaderCommit: 0,
        round: 1,
      };
    case "vote":
      return VOTE;
    case "pre-vote":
      return { ...VOTE, type: "pre-vote" };
    case "timeout-now":
      return { type: "timeout-now", clusterId: "c1", term: 2, leaderId: 1 };
    case "read-index":
      return { type: "read-index", clusterId: "c1", term: 2, readerId: 1 };
  }
}

test("timingSafeEqual: equal, unequal, different lengths, empty", () => {
  const b = (...xs: number[]) => new Uint8Array(xs);
  assert.equal(timingSafeEqual(b(1, 2, 3), b(1, 2, 3)), true);
  assert.equal(timingSafeEqual(b(), b()), true);
  assert.equal(timingSafeEqual(b(1, 2, 3), b(1, 2, 4)), false);
  assert.equal(timingSafeEqual(b(0, 2, 3), b(1, 2, 3)), false);
  assert.equal(timingSafeEqual(b(1, 2), b(1, 2, 3)), false);
  assert.equal(timingSafeEqual(b(1, 2, 3), b(1, 2)), false);
  assert.equal(timingSafeEqual(b(), b(0)), false);
});

test("SecretCheck: accepts only Bearer <secret>", async () => {
  const check = new SecretCheck("s3cr3t");
  assert.equal(await check.accepts("Bearer s3cr3t"), true);
  assert.equal(await check.accepts("bearer   s3cr3t "), true);
  assert.equal(await check.accepts(null), false);
  assert.equal(await check.accepts(""), false);
  assert.equal(await check.accepts("Bearer"), false);
  assert.equal(await check.accepts("Bearer s3cr3"), false);
  assert.equal(await check.accepts("Bearer s3cr3tt"), false);
  assert.equal(await check.accepts("Basic s3cr3t"), false);
  assert.equal(await check.accepts("s3cr3t"), false);
  assert.equal(bearerToken("Bearer a b"), null);
});

test("secret: must be a non-empty visible-ASCII string, on both sides", () => {
  for (const bad of ["", "has space", "new\nline", "é", 42]) {
    assert.throws(() => checkSecret("secret", bad), ConfigError);
    assert.throws(() => raftRoutes(fake(), { secret: bad as string }), ConfigError);
    assert.throws(() => new HttpNetwork({ secret: bad as string }), ConfigError);
  }
  assert.equal(checkSecret("secret", "a-b_c.D~9!"), "a-b_c.D~9!");
});

test("raftRoutes: a missing or wrong secret gets 401 on every route, the node never called", async () => {
  const node = fake(2, "c1");
  const app = raftRoutes(node, { secret: "s3cr3t" });
  for (const type of ROUTES) {
    for (const headers of [{}, { authorization: "Bearer wrong" }, { authorization: "s3cr3t" }]) {
      const res = await app.request(`/raft/${type}`, post(requestOf(type), headers));
      assert.equal(res.status, 401, `${type} ${JSON.stringify(headers)}`);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer/);
      const json = await errorJson(res);
      assert.equal(json.code, "InvalidMessage");
      assert.match(String(json.message), /secret/);
    }
  }
  for (const headers of [{}, { authorization: "Bearer wrong" }]) {
    const res = await app.request("/raft/install-snapshot", snapshotPost(headers));
    assert.equal(res.status, 401);
  }
  assert.deepEqual(node.seen, []);
  // The right secret is served, on every route.
  for (const type of ROUTES) {
    const res = await app.request(
      `/raft/${type}`,
      post(requestOf(type), { authorization: "Bearer s3cr3t" }),
    );
    assert.equal(res.status, 200, type);
  }
  const snap = await app.request(
    "/raft/install-snapshot",
    snapshotPost({ authorization: "Bearer s3cr3t" }),
  );
  assert.equal(snap.status, 200);
  assert.equal(node.seen.length, ROUTES.length + 1);
});

test("raftRoutes: the content type is checked before the secret (415 first)", async () => {
  const node = fake();
  const app = raftRoutes(node, { secret: "s3cr3t" });
  const res = await app.request("/raft/vote", post(VOTE, {}, "text/plain"));
  assert.equal(res.status, 415);
  assert.deepEqual(node.seen, []);
});

test("raftRoutes: without a secret configured, authorization is neither needed nor checked", async () => {
  const node = fake();
  const app = raftRoutes(node);
  assert.equal((await app.request("/raft/vote", post(VOTE))).status, 200);
  assert.equal(
    (await app.request("/raft/vote", post(VOTE, { authorization: "Bearer anything" }))).status,
    200,
  );
  assert.equal(node.seen.length, 2);
});

test("raftRoutes: x-raft-to naming another node gets 412; its own id or none is served", async () => {
  const node = fake(2);
  const app = raftRoutes(node, { secret: "k" });
  const auth = { authorization: "Bearer k" };
  for (const type of ROUTES) {
    const res = await app.request(
      `/raft/${type}`,
      post(requestOf(type), { ...auth, "x-raft-to": "3" }),
    );
    assert.equal(res.status, 412, type);
    const json = await errorJson(res);
    assert.equal(json.code, "InvalidMessage");
    assert.match(String(json.message), /node "3" reached node 2/);
  }
  const snap = await app.request(
    "/raft/install-snapshot",
    snapshotPost({ ...auth, "x-raft-to": "x" }),
  );
  assert.equal(snap.status, 412);
  assert.deepEqual(node.seen, []);
  // The secret comes first: a wrong one on a misrouted request is 401.
  const both = await app.request("/raft/vote", post(VOTE, { "x-raft-to": "3" }));
  assert.equal(both.status, 401);
  assert.equal(
    (await app.request("/raft/vote", post(VOTE, { ...auth, "x-raft-to": "2" }))).status,
    200,
  );
  assert.equal((await app.request("/raft/vote", post(VOTE, auth))).status, 200);
  // A handler without an id (a fake) skips the check.
  const anon = raftRoutes(fake());
  assert.equal((await anon.request("/raft/vote", post(VOTE, { "x-raft-to": "9" }))).status, 200);
});

test("raftRoutes: x-raft-cluster naming another cluster gets 412 ClusterMismatch, unread", async () => {
  const node = fake(2, "c1");
  const app = raftRoutes(node);
  const res = await app.request(
    "/raft/vote",
    post(VOTE, { "x-raft-to": "2", "x-raft-from": "1", "x-raft-cluster": "other%20one" }),
  );
  assert.equal(res.status, 412);
  const json = await errorJson(res);
  assert.equal(json.code, "ClusterMismatch");
  assert.equal(json.expected, "c1");
  assert.equal(json.got, "other one");
  assert.equal(json.from, 1);
  // The target is checked before the cluster.
  const misrouted = await app.request(
    "/raft/vote",
    post(VOTE, { "x-raft-to": "5", "x-raft-from": "1", "x-raft-cluster": "other" }),
  );
  assert.equal(misrouted.status, 412);
  assert.equal((await errorJson(misrouted)).code, "InvalidMessage");
  assert.deepEqual(node.seen, []);
  // Its own cluster, no header, no sender, or a node without a cluster yet: served.
  for (
    const [handler, headers] of [
      [node, { "x-raft-from": "1", "x-raft-cluster": "c1" }],
      [node, {}],
      [node, { "x-raft-cluster": "other" }],
      [fake(2, ""), { "x-raft-from": "1", "x-raft-cluster": "other" }],
      [fake(2), { "x-raft-from": "1", "x-raft-cluster": "other" }],
    ] as const
  ) {
    const r = await raftRoutes(handler).request("/raft/vote", post(VOTE, headers));
    assert.equal(r.status, 200, JSON.stringify(headers));
  }
});

test("raftRoutes: a node that joins a cluster after its routes were made refuses other clusters from then on", async () => {
  let reads = 0;
  let clusterId = "";
  const node: RaftHandler = {
    id: 2,
    metrics: {
      get current() {
        reads++;
        return { membership: { membership: { clusterId } } };
      },
    },
    handle: (req) => Promise.resolve(answer(req)),
  };
  const app = raftRoutes(node);
  const headers = { "x-raft-to": "2", "x-raft-from": "1", "x-raft-cluster": "other" };
  assert.equal(
    (await app.request("/raft/vote", post(VOTE, headers))).status,
    200,
    "no cluster yet",
  );
  clusterId = "c1";
  for (let i = 0; i < 3; i++) {
    const res = await app.request("/raft/vote", post(VOTE, headers));
    assert.equal(res.status, 412);
    assert.equal((await errorJson(res)).expected, "c1");
  }
  // Known once: the metrics are not read (rebuilt) for every request any more.
  assert.equal(reads, 2);
});

test("raftRoutes: a read-index request of another cluster gets 412 ClusterMismatch, unread", async () => {
  const node = fake(2, "c1");
  const app = raftRoutes(node);
  const req: RaftRequest = { type: "read-index", clusterId: "other", term: 2, readerId: 3 };
  const res = await app.request(
    "/raft/read-index",
    post(req, { "x-raft-to": "2", "x-raft-from": "3", "x-raft-cluster": "other" }),
  );
  assert.equal(res.status, 412);
  const json = await errorJson(res);
  assert.equal(json.code, "ClusterMismatch");
  assert.equal(json.from, 3);
  assert.deepEqual(node.seen, []);
});

test("HttpNetwork: sends the target, sender, cluster and secret headers on every request", async () => {
  const calls: Headers[] = [];
  const net = new HttpNetwork({
    secret: "s3cr3t",
    fetch: (url, init) => {
      calls.push(new Headers(init.headers));
      const type = url.slice(url.lastIndexOf("/") + 1) as RaftRequest["type"];
      const req = type === "install-snapshot"
        ? { type, term: 3 } as RaftRequest
        : requestOf(type as (typeof ROUTES)[number]);
      return Promise.resolve(new Response(encodeMessage(answer(req)).slice()));
    },
  });
  for (const type of ROUTES) {
    await net.send(3, { addr: "http://10.0.0.3:1" }, { ...requestOf(type), clusterId: "c 1/é" });
  }
  await net.installSnapshot(
    3,
    { addr: "http://10.0.0.3:1" },
    {
      type: "install-snapshot",
      clusterId: "c 1/é",
      term: 3,
      leaderId: 1,
      meta: {
        lastLogId: null,
        lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
        snapshotId: "s",
      },
    },
    bytesToStream(new Uint8Array(4), 2),
  );
  assert.equal(calls.length, ROUTES.length + 1);
  for (const h of calls) {
    assert.equal(h.get("authorization"), "Bearer s3cr3t");
    assert.equal(h.get("x-raft-to"), "3");
    assert.equal(h.get("x-raft-from"), "1");
    assert.equal(decodeURIComponent(h.get("x-raft-cluster") ?? ""), "c 1/é");
    assert.equal(h.get("content-type"), "application/cbor");
  }
  // Without a secret: no authorization; an empty cluster id: no cluster header.
  const plain: Headers[] = [];
  const net2 = new HttpNetwork({
    fetch: (_url, init) => {
      plain.push(new Headers(init.headers));
      return Promise.resolve(new Response(encodeMessage(answer(VOTE)).slice()));
    },
  });
  await net2.send(4, { addr: "http://10.0.0.4:1" }, { ...VOTE, clusterId: "" });
  assert.equal(plain[0]!.get("authorization"), null);
  assert.equal(plain[0]!.get("x-raft-cluster"), null);
  assert.equal(plain[0]!.get("x-raft-to"), "4");
});

test("HttpNetwork + raftRoutes on real servers: a wrong secret cannot reach the node, the right one can", async () => {
  const node = fake(2, "c1");
  const server = await serveLocal(raftRoutes(node, { secret: "right" }).fetch);
  try {
    const addr = { addr: server.url };
    for (const net of [new HttpNetwork({ secret: "wrong" }), new HttpNetwork()]) {
      for (const type of ROUTES) {
        const err = await net.send(2, addr, requestOf(type)).then(
          () => assert.fail("sent"),
          (e) => e,
        );
        assert.ok(err instanceof Unreachable, type);
        assert.equal(err.nodeId, 2);
        assert.match(String((err.cause as Error).message), /HTTP 401/);
      }
    }
    assert.deepEqual(node.seen, []);
    const good = new HttpNetwork({ secret: "right" });
    for (const type of ROUTES) {
      assert.deepEqual(await good.send(2, addr, requestOf(type)), answer(requestOf(type)));
    }
    // Sent to node 2's address but meant for node 3 (a reused address): refused with 412.
    const misrouted = await good.send(3, addr, VOTE).then(() => assert.fail("sent"), (e) => e);
    assert.ok(misrouted instanceof Unreachable);
    assert.match(String((misrouted.cause as Error).message), /HTTP 412/);
    // Another cluster: refused by the header check, the cause a ClusterMismatch.
    const other = await good.send(2, addr, { ...VOTE, clusterId: "c2" }).then(
      () => assert.fail("sent"),
      (e) => e,
    );
    assert.ok(other instanceof Unreachable && other.cause instanceof ClusterMismatch);
    assert.equal(other.cause.expected, "c1");
    assert.equal(other.cause.got, "c2");
    assert.equal(other.cause.from, 1);
    assert.equal(node.seen.length, ROUTES.length);
  } finally {
    await server.close();
  }
});

/** An HttpNetwork that records every failed send. */
class RecordingNetwork extends HttpNetwork {
  readonly failures: unknown[] = [];
  override async send(
    ...args: Parameters<HttpNetwork["send"]>
  ): Promise<RaftResponse> {
    try {
      return await super.send(...args);
    } catch (e) {
      this.failures.push(e);
      throw e;
    }
  }
}

/** Two Raft nodes, each served on 127.0.0.1 with `secret`, sending with `secrets[i]`. */
async function twoNodes(secrets: [string, string], secret: string) {
  const nodes: Raft<Uint8Array | null>[] = [];
  const networks: RecordingNetwork[] = [];
  const servers: { close(): Promise<void> }[] = [];
  const members = new Map<NodeId, { addr: string }>();
  for (const id of [1, 2] as const) {
    const network = new RecordingNetwork({ timeout: 500, secret: secrets[id - 1]! });
    const raft = await Raft.create({
      id,
      config: { electionTimeoutMin: 100, electionTimeoutMax: 200, heartbeatInterval: 30 },
      logStore: new MemoryLogStore(),
      stateMachine: new MemoryStateMachine(),
      network,
    });
    nodes.push(raft);
    networks.push(network);
    const server = await serveLocal(raftRoutes(raft, { secret }).fetch);
    servers.push(server);
    members.set(id, { addr: server.url });
  }
  const close = async () => {
    for (const raft of nodes) await raft.shutdown();
    for (const s of servers) await s.close();
  };
  return { nodes, networks, members, close };
}

test("two Raft nodes on real servers: one with the wrong secret cannot reach the other", async () => {
  const { nodes, networks, members, close } = await twoNodes(["wrong", "right"], "right");
  try {
    await nodes[0]!.initialize(members);
    // Node 1 campaigns; its sends to node 2 fail with the 401 as cause (others, if any, were
    // aborted by node 1 itself: none was answered).
    const refused = () =>
      networks[0]!.failures.filter((e) =>
        e instanceof Unreachable && e.nodeId === 2 && /HTTP 401/.test(String(e.cause))
      ).length;
    const deadline = Date.now() + 5000;
    while (refused() < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(refused() >= 3, "node 1 kept trying and was refused with 401");
    for (const e of networks[0]!.failures) {
      assert.ok(e instanceof Unreachable);
      assert.doesNotMatch(String(e.cause), /HTTP (?!401)/);
    }
    // Node 2 never heard of it: no term, no log, no membership, no leader.
    const m2 = nodes[1]!.metrics.current;
    assert.equal(m2.currentTerm, 0);
    assert.equal(m2.lastLogIndex, 0);
    assert.equal(m2.membership.membership.clusterId, "");
    assert.equal(nodes[0]!.metrics.current.currentLeader, null);
  } finally {
    await close();
  }
});

test("two Raft nodes on real servers: with the right secret they elect a leader and replicate", async () => {
  const { nodes, networks, members, close } = await twoNodes(["right", "right"], "right");
  try {
    await nodes[0]!.initialize(members);
    const m = await nodes[0]!.metrics.wait({ timeout: 10_000 }).leader();
    const leader = nodes.find((n) => n.id === m.currentLeader)!;
    await leader.metrics.wait({ timeout: 10_000 }).role("leader");
    const { logId } = await leader.clientWrite(kvSet("k", "v"));
    for (const n of nodes) await n.metrics.wait({ timeout: 10_000 }).appliedAtLeast(logId.index);
    // A follower read over HTTP: one read-index request to the leader, with the secret.
    const follower = nodes.find((n) => n.id !== leader.id)!;
    const index = await follower.ensureLinearizable({ policy: "follower", timeout: 5000 });
    assert.ok(index >= logId.index);
    assert.equal(follower.counters().followerReads, 1);
    for (const net of networks) {
      for (const e of net.failures) {
        assert.doesNotMatch(String((e as Unreachable).cause), /HTTP 401/);
      }
    }
  } finally {
    await close();
  }
});
