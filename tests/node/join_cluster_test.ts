import { test } from "node:test";
import assert from "node:assert/strict";
import { joinCluster, JoinError, probeCluster, RejoinRefused } from "../../node/join_cluster.ts";
import type { FetchFn } from "../../src/transport/http_network.ts";

interface _Call {
  readonly method: string;
  readonly url: string;
  readonly auth: string | null;
  readonly body: unknown;
}

/** A fake cluster admin API: `answer` decides each response; calls are recorded. */
function fakeFetch(answer: (call: _Call, n: number) => Response): {
  fetch: FetchFn;
  calls: _Call[];
} {
  const calls: _Call[] = [];
  const fetch: FetchFn = (url, init) => {
    const headers = new Headers(init.headers);
    const call: _Call = {
      method: init.method ?? "GET",
      url,
      auth: headers.get("authorization"),
      body: typeof init.body === "string" ? JSON.parse(init.body) : undefined,
    };
    calls.push(call);
    assert.equal(init.redirect, "manual", "redirects are followed by joinCluster itself");
    return Promise.resolve(answer(call, calls.length));
  };
  return { fetch, calls };
}

const metrics = (voters: number[], state = "leader", leader: number | null = 1) =>
  Response.json({
    id: 1,
    state,
    leader,
    membership: {
      voters,
      learners: [],
      nodes: Object.fromEntries(voters.map((v) => [String(v), `http://leader:${v}`])),
    },
  });

test("joinCluster: reads the membership, adds a learner, then has the leader promote it; follows 307 with the secret", async () => {
  let checked = 0;
  const { fetch, calls } = fakeFetch((call) => {
    if (call.url.startsWith("http://follower") && call.method === "POST") {
      return new Response(null, {
        status: 307,
        headers: { location: `http://leader:1${new URL(call.url).pathname}` },
      });
    }
    if (call.url.endsWith("/cluster/metrics")) {
      return call.url.startsWith("http://follower") ? metrics([1, 2], "follower") : metrics([1, 2]);
    }
    assert.equal(checked, 1, "onChecked before the node is added");
    return Response.json({ logId: { term: 1, index: 5 } });
  });
  await joinCluster("http://follower:2/", 3, "http://n3:3", {
    secret: "s3cr3t",
    fetch,
    backoff: 1,
    onChecked: () => checked++,
  });
  assert.deepEqual(calls.map((c) => `${c.method} ${c.url}`), [
    "GET http://follower:2/cluster/metrics",
    "GET http://leader:1/cluster/metrics",
    "POST http://follower:2/cluster/learners",
    "POST http://leader:1/cluster/learners",
    "POST http://leader:1/cluster/learners",
  ]);
  assert.ok(calls.every((c) => c.auth === "Bearer s3cr3t"), "the secret on every hop");
  assert.deepEqual(calls[3]!.body, { id: 3, addr: "http://n3:3" });
  assert.deepEqual(calls[4]!.body, { id: 3, addr: "http://n3:3", promote: true });
  assert.equal(checked, 1);
});

test("joinCluster: retries a member not reachable yet, 503 (no leader) and 409 InProgress", async () => {
  let refused = 2;
  const { fetch, calls } = fakeFetch((call, n) => {
    if (call.url.endsWith("/cluster/metrics")) return metrics([1]);
    if (n <= 5) {
      return n % 2 === 0
        ? Response.json({ error: "NoLeader", message: "" }, { status: 503 })
        : Response.json({ error: "InProgress", message: "" }, { status: 409 });
    }
    return Response.json({ logId: null });
  });
  const flaky: FetchFn = (url, init) =>
    refused-- > 0 ? Promise.reject(new TypeError("connection refused")) : fetch(url, init);
  await joinCluster("http://m:1", 2, "http://n2:2", { fetch: flaky, backoff: 1 });
  const posts = calls.filter((c) => c.url.endsWith("/cluster/learners"));
  assert.equal(posts.length, 6);
  assert.equal(posts.filter((c) => (c.body as { promote?: boolean }).promote).length, 1);
});

test("joinCluster: an id that is a voter already is refused before anything is asked (RejoinRefused), onChecked not called", async () => {
  const { fetch, calls } = fakeFetch((call) =>
    call.url.endsWith("/cluster/metrics") ? metrics([1, 2, 3]) : Response.json({})
  );
  let checked = false;
  const err = await joinCluster("http://leader:1", 2, "http://n2:2", {
    fetch,
    onChecked: () => checked = true,
  }).catch((e) => e);
  assert.ok(err instanceof RejoinRefused, String(err));
  assert.equal(err.code, "RejoinRefused");
  assert.equal(err.nodeId, 2);
  assert.deepEqual(err.voters, [1, 2, 3]);
  assert.equal(err.suggestedId, 4);
  assert.match(err.message, /node 2 is already a voter/);
  assert.match(err.message, /its data was probably lost/);
  assert.match(err.message, /POST http:\/\/leader:1\/cluster\/membership \{"voters":\[1,3\]\}/);
  assert.match(err.message, /--id 4 --join leader:1/);
  assert.equal(checked, false);
  assert.ok(!calls.some((c) => c.method === "POST"), "nothing asked of the cluster");
});

test("joinCluster: the leader's view wins over a stale member's; a learner's id may join", async () => {
  // The follower still lists 2 as a voter; the leader removed it.
  const { fetch } = fakeFetch((call) => {
    if (call.url.endsWith("/cluster/metrics")) {
      return call.url.startsWith("http://follower")
        ? metrics([1, 2, 3], "follower")
        : Response.json({
          id: 1,
          state: "leader",
          leader: 1,
          membership: { voters: [1, 3], learners: [2], nodes: {} },
        });
    }
    return Response.json({ logId: null });
  });
  await joinCluster("http://follower:3", 2, "http://n2:2", { fetch });
});

test("joinCluster: a stale member naming this very node as its leader is believed, not this node's blank view", async () => {
  // Node 1 crashed as the leader and lost its data; node 3 still names it.
  const { fetch, calls } = fakeFetch((call) =>
    call.url.startsWith("http://n1:1")
      ? Response.json({ id: 1, state: "learner", leader: null, membership: { voters: [] } })
      : Response.json({
        id: 3,
        state: "follower",
        leader: 1,
        membership: { voters: [1, 2, 3], learners: [], nodes: { "1": "http://n1:1/" } },
      })
  );
  const err = await joinCluster("http://n3:3", 1, "http://n1:1", { fetch }).catch((e) => e);
  assert.ok(err instanceof RejoinRefused, String(err));
  assert.equal(err.member, "http://n3:3");
  assert.ok(!calls.some((c) => c.url.startsWith("http://n1:1")), "never asks itself");
});

test("joinCluster: the leader's 409 AlreadyVoter is a RejoinRefused too", async () => {
  const { fetch } = fakeFetch((call) =>
    call.url.endsWith("/cluster/metrics")
      ? metrics([], "follower", null)
      : Response.json({ error: "AlreadyVoter", message: "node 2 is already a voter" }, {
        status: 409,
      })
  );
  const err = await joinCluster("http://m:1", 2, "http://n2:2", { fetch }).catch((e) => e);
  assert.ok(err instanceof RejoinRefused, String(err));
  assert.ok(err.cause instanceof JoinError);
  assert.match(err.message, /node 2 is already a voter of the cluster of http:\/\/m:1 /);
  assert.deepEqual(err.voters, [2]);
});

test("joinCluster: a refusal rejects with a JoinError naming the call, status and error", async () => {
  const { fetch } = fakeFetch((call) =>
    call.url.endsWith("/cluster/metrics")
      ? metrics([1])
      : Response.json({ error: "Unauthorized", message: "missing or wrong bearer token" }, {
        status: 401,
      })
  );
  const err = await joinCluster("http://m:1", 2, "http://n2:2", { fetch }).catch((e) => e);
  assert.ok(err instanceof JoinError);
  assert.equal(err.status, 401);
  assert.equal(err.error, "Unauthorized");
  assert.equal(err.url, "http://m:1/cluster/learners");
  assert.match(err.message, /POST http:\/\/m:1\/cluster\/learners answered 401 Unauthorized/);
  const unreachable = await joinCluster("http://m:1", 2, "http://n2:2", {
    fetch: () => Promise.reject(new TypeError("connection refused")),
    retries: 1,
    backoff: 1,
  }).catch((e) => e);
  assert.ok(unreachable instanceof JoinError);
  assert.equal(unreachable.status, 0);
  assert.match(unreachable.message, /failed: connection refused/);
});

test("probeCluster: a member of an initialized cluster wins; blank only when all answered blank; 401 throws", async () => {
  const answers: Record<string, () => Promise<Response>> = {
    "http://blank:1": () => Promise.resolve(metrics([])),
    "http://member:2": () => Promise.resolve(metrics([2, 3])),
    "http://down:3": () => Promise.reject(new TypeError("connection refused")),
    "http://starting:4": () =>
      Promise.resolve(Response.json({ error: "NotReady" }, { status: 503 })),
    "http://locked:5": () =>
      Promise.resolve(Response.json({ error: "Unauthorized", message: "" }, { status: 401 })),
  };
  const fetch: FetchFn = (url) => answers[new URL(url).origin]!();
  const member = await probeCluster(["http://down:3", "http://member:2/"], { fetch });
  assert.equal(member.kind, "member");
  assert.equal(member.kind === "member" && member.member, "http://member:2");
  assert.deepEqual(await probeCluster(["http://blank:1"], { fetch }), { kind: "blank" });
  const waiting = await probeCluster(["http://blank:1", "http://down:3", "http://starting:4"], {
    fetch,
  });
  assert.equal(waiting.kind, "unreachable");
  assert.equal(waiting.kind === "unreachable" && waiting.unreachable.length, 2);
  assert.match(String(waiting.kind === "unreachable" && waiting.unreachable), /down:3.*refused/);
  await assert.rejects(probeCluster(["http://locked:5"], { fetch }), JoinError);
});
