import { test } from "node:test";
import assert from "node:assert/strict";
import { joinCluster, JoinError } from "../../node/join_cluster.ts";
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

const metrics = (voters: number[]) =>
  Response.json({ id: 1, state: "leader", membership: { voters, learners: [], nodes: {} } });

test("joinCluster: adds a learner, then makes it a voter with the leader's voters; follows 307 with the secret", async () => {
  const { fetch, calls } = fakeFetch((call) => {
    if (call.url.startsWith("http://follower")) {
      return new Response(null, {
        status: 307,
        headers: { location: `http://leader:1${new URL(call.url).pathname}` },
      });
    }
    if (call.url.endsWith("/cluster/metrics")) return metrics([1, 2]);
    return Response.json({ logId: { term: 1, index: 5 } });
  });
  await joinCluster("http://follower:2/", 3, "http://n3:3", {
    secret: "s3cr3t",
    fetch,
    backoff: 1,
  });
  assert.deepEqual(calls.map((c) => `${c.method} ${c.url}`), [
    "POST http://follower:2/cluster/learners",
    "POST http://leader:1/cluster/learners",
    "GET http://leader:1/cluster/metrics",
    "POST http://leader:1/cluster/membership",
  ]);
  assert.ok(calls.every((c) => c.auth === "Bearer s3cr3t"), "the secret on every hop");
  assert.deepEqual(calls[1]!.body, { id: 3, addr: "http://n3:3" });
  assert.deepEqual(calls[3]!.body, { voters: [1, 2, 3] });
});

test("joinCluster: retries a member not reachable yet, 503 (no leader) and 409 InProgress", async () => {
  let refused = 2;
  const { fetch, calls } = fakeFetch((call, n) => {
    if (call.url.endsWith("/cluster/metrics")) return metrics([1]);
    if (n <= 4) {
      return n % 2 === 1
        ? Response.json({ error: "NoLeader", message: "" }, { status: 503 })
        : Response.json({ error: "InProgress", message: "" }, { status: 409 });
    }
    return Response.json({ logId: null });
  });
  const flaky: FetchFn = (url, init) =>
    refused-- > 0 ? Promise.reject(new TypeError("connection refused")) : fetch(url, init);
  await joinCluster("http://m:1", 2, "http://n2:2", { fetch: flaky, backoff: 1 });
  assert.equal(calls.filter((c) => c.url.endsWith("/cluster/learners")).length, 5);
  assert.equal(calls.filter((c) => c.url.endsWith("/cluster/membership")).length, 1);
});

test("joinCluster: a node already a voter is not changed again", async () => {
  const { fetch, calls } = fakeFetch((call) =>
    call.url.endsWith("/cluster/metrics") ? metrics([1, 2]) : Response.json({})
  );
  await joinCluster("http://m:1", 2, "http://n2:2", { fetch });
  assert.ok(!calls.some((c) => c.url.endsWith("/cluster/membership")));
});

test("joinCluster: a refusal rejects with a JoinError naming the call, status and error", async () => {
  const { fetch } = fakeFetch(() =>
    Response.json({ error: "Unauthorized", message: "missing or wrong bearer token" }, {
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
