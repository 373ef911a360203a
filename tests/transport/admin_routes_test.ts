import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../src/errors.ts";
import { adminErrorStatus, adminRoutes } from "../../src/transport/admin_routes.ts";
import { FAST, RuntimeCluster, sleep } from "../runtime/_cluster.ts";
import type { NodeId } from "../../src/types.ts";
import { kvSet } from "../../kv/mod.ts";

const addr = (id: NodeId): string => `http://127.0.0.1:2100${id}`;

function post(_path: string, body: unknown, headers: Record<string, string> = {}): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  };
}

async function until(cond: () => boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(5);
  }
}

test("health is always 200; ready is 503 before init and 200 after", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const raft = await c.startNode(1);
    const app = adminRoutes(raft, { selfAddr: addr(1) });
    const health = await app.request("/health");
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    const notReady = await app.request("/ready");
    assert.equal(notReady.status, 503);
    const body = await notReady.json();
    assert.equal(body.error, "NotReady");
    assert.match(body.message, /cluster/);

    const init = await app.request("/cluster/init", post("/cluster/init", {}));
    assert.equal(init.status, 200);
    const { clusterId } = await init.json();
    assert.equal(typeof clusterId, "string");
    assert.ok(clusterId.length > 0);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
    await until(() => (raft.metrics.current.lastApplied?.index ?? 0) >= 2);
    const ready = await app.request("/ready");
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ok: true });
    // Own address recorded.
    const m = await (await app.request("/cluster/metrics")).json();
    assert.deepEqual(m.membership.nodes, { "1": addr(1) });

    const again = await app.request("/cluster/init", post("/cluster/init", {}));
    assert.equal(again.status, 409);
    assert.equal((await again.json()).error, "AlreadyInitialized");

    await raft.shutdown();
    const down = await app.request("/ready");
    assert.equal(down.status, 503);
    assert.equal((await app.request("/health")).status, 200);
  } finally {
    await c.shutdown();
  }
});

test("init with members; bad input is 400", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    await c.start([1, 2, 3]);
    const app = adminRoutes(c.node(1));
    for (
      const bad of [
        { members: { "x": addr(1) } },
        { members: { "1.5": addr(1) } },
        { members: { "-1": addr(1) } },
        { members: { "1": 7 } },
        { members: { "1": "" } },
        { members: { "1": "ftp://127.0.0.1:21001" } },
        { members: { "1": "http://127.0.0.1:21001/?x=1" } },
        { members: { "1": "http://user:pw@127.0.0.1:21001" } },
        { members: { "1": "not a host" } },
        { members: [1, 2] },
        { members: {} },
        { clusterId: 5 },
      ]
    ) {
      const res = await app.request("/cluster/init", post("/cluster/init", bad));
      assert.equal(res.status, 400, JSON.stringify(bad));
      assert.equal((await res.json()).error, "InvalidArgument");
    }
    const notIn = await app.request(
      "/cluster/init",
      post("/cluster/init", { members: { "2": addr(2), "3": addr(3) } }),
    );
    assert.equal(notIn.status, 400);
    assert.equal((await notIn.json()).error, "NotInMembers");

    const res = await app.request(
      "/cluster/init",
      post("/cluster/init", { members: { "1": addr(1), "2": addr(2), "3": addr(3) } }),
    );
    assert.equal(res.status, 200);
    const { clusterId } = await res.json();
    await c.waitLeader();
    // A follower may know the leader a moment before it stores the membership entry.
    for (const id of [1, 2, 3]) {
      await c.node(id).metrics.wait({ timeout: 5000 }).metrics(
        (m) => m.membership.membership.clusterId === clusterId,
      );
    }
    const m = await (await app.request("/cluster/metrics")).json();
    assert.deepEqual(m.membership.voters, [1, 2, 3]);
    assert.deepEqual(m.membership.nodes, { "1": addr(1), "2": addr(2), "3": addr(3) });
  } finally {
    await c.shutdown();
  }
});

test("learners, membership and transfer on a 3-node cluster, 307 from a follower", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    await c.start([1, 2, 3]);
    await c.node(1).initialize(new Map([1, 2, 3].map((id) => [id, { addr: addr(id) }])));
    const leader = await c.waitLeader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    const apps = new Map([1, 2, 3].map((id) => [id, adminRoutes(c.node(id))]));
    const app = apps.get(leader)!;

    // From a follower: 307 to the leader, same path.
    const fwd = await apps.get(follower)!.request(
      "/cluster/learners",
      post("/cluster/learners", { id: 4, addr: addr(4) }),
    );
    assert.equal(fwd.status, 307);
    assert.equal(fwd.headers.get("location"), `${addr(leader)}/cluster/learners`);
    assert.equal((await fwd.json()).error, "ForwardToLeader");

    await c.startNode(4);
    // A bare host:port is kept as the base URL of its Raft routes (this node's scheme).
    const learner = await app.request(
      "/cluster/learners",
      post("/cluster/learners", { id: 4, addr: "127.0.0.1:21004" }),
    );
    assert.equal(learner.status, 200);
    const { logId } = await learner.json();
    assert.equal(typeof logId.index, "number");
    let m = await (await app.request("/cluster/metrics")).json();
    assert.deepEqual(m.membership.learners, [4]);
    assert.equal(m.membership.nodes["4"], addr(4));
    assert.ok(m.replication["4"].matched >= logId.index);

    const badVoters = await app.request(
      "/cluster/membership",
      post("/cluster/membership", { voters: [1, "2"] }),
    );
    assert.equal(badVoters.status, 400);
    const notLearner = await app.request(
      "/cluster/membership",
      post("/cluster/membership", { voters: [1, 2, 3, 9] }),
    );
    assert.equal(notLearner.status, 400);
    assert.equal((await notLearner.json()).error, "LearnerNotFound");

    const others = [1, 2, 3].filter((id) => id !== leader);
    const voters = [leader, others[0]!, 4].sort((a, b) => a - b);
    const change = await app.request(
      "/cluster/membership",
      post("/cluster/membership", { voters, retain: false }),
    );
    assert.equal(change.status, 200);
    assert.equal(typeof (await change.json()).logId.index, "number");
    m = await (await app.request("/cluster/metrics")).json();
    assert.deepEqual(m.membership.voters, voters);
    assert.deepEqual(m.membership.learners, []);

    const transfer = await app.request(
      "/cluster/transfer-leader",
      post("/cluster/transfer-leader", { to: 4 }),
    );
    assert.equal(transfer.status, 200);
    assert.deepEqual(await transfer.json(), { leader: 4 });
    await until(() => c.node(leader).metrics.current.currentLeader === 4);
    m = await (await apps.get(leader)!.request("/cluster/metrics")).json();
    assert.equal(m.leader, 4);

    // The old leader now forwards to 4.
    const moved = await app.request(
      "/cluster/transfer-leader?x=1",
      post("/cluster/transfer-leader", { to: leader }),
    );
    assert.equal(moved.status, 307);
    assert.equal(moved.headers.get("location"), `${addr(4)}/cluster/transfer-leader?x=1`);
  } finally {
    await c.shutdown();
  }
});

test("learners: a voter's id is refused (409 AlreadyVoter: it lost its data); promote makes a learner a voter, idempotently", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    await c.start([1, 2, 3]);
    await c.node(1).initialize(new Map([1, 2, 3].map((id) => [id, { addr: addr(id) }])));
    const leader = await c.waitLeader();
    const app = adminRoutes(c.node(leader));
    const voter = [1, 2, 3].find((id) => id !== leader)!;
    const before = await (await app.request("/cluster/metrics")).json();

    const refused = await app.request(
      "/cluster/learners",
      post("/cluster/learners", { id: voter, addr: addr(voter) }),
    );
    assert.equal(refused.status, 409);
    const body = await refused.json();
    assert.equal(body.error, "AlreadyVoter");
    assert.match(body.message, new RegExp(`node ${voter} is already a voter`));
    assert.match(body.message, /lost its data/);
    assert.match(body.message, /POST \/cluster\/membership/);
    assert.match(body.message, /new id/);
    const after = await (await app.request("/cluster/metrics")).json();
    assert.deepEqual(after.membership, before.membership, "nothing changed");

    await c.startNode(4);
    const added = await app.request(
      "/cluster/learners",
      post("/cluster/learners", { id: 4, addr: addr(4) }),
    );
    assert.equal(added.status, 200);
    const again = await app.request(
      "/cluster/learners",
      post("/cluster/learners", { id: 4, addr: addr(4) }),
    );
    assert.equal(again.status, 200, "a learner's id may be added again");
    for (let i = 0; i < 2; i++) {
      const promoted = await app.request(
        "/cluster/learners",
        post("/cluster/learners", { id: 4, addr: addr(4), promote: true }),
      );
      assert.equal(promoted.status, 200, `promote #${i + 1}`);
      assert.equal(typeof (await promoted.json()).logId.index, "number");
    }
    const m = await (await app.request("/cluster/metrics")).json();
    assert.deepEqual(m.membership.voters, [1, 2, 3, 4]);
    const badPromote = await app.request(
      "/cluster/learners",
      post("/cluster/learners", { id: 5, addr: addr(5), promote: "yes" }),
    );
    assert.equal(badPromote.status, 400);
  } finally {
    await c.shutdown();
  }
});

test("503 NoLeader with Retry-After when no leader is known", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    await c.start([1, 2, 3]);
    await c.node(1).initialize([1, 2, 3]);
    const leader = await c.waitLeader();
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    c.net.isolate(follower);
    await until(() => c.node(follower).metrics.current.currentLeader === null);
    const app = adminRoutes(c.node(follower));
    const res = await app.request(
      "/cluster/membership",
      post("/cluster/membership", { voters: [1, 2] }),
    );
    assert.equal(res.status, 503);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal((await res.json()).error, "NoLeader");
    const ready = await app.request("/ready");
    assert.equal(ready.status, 503);
    assert.match((await ready.json()).message, /leader/);
  } finally {
    await c.shutdown();
  }
});

test("secret: required on /cluster/*, not on /health and /ready", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const raft = await c.startNode(1);
    assert.throws(() => adminRoutes(raft, { secret: "has space" }), ConfigError);
    const app = adminRoutes(raft, { secret: "s3cr3t" });
    assert.equal((await app.request("/health")).status, 200);
    assert.equal((await app.request("/ready")).status, 503);
    const none = await app.request("/cluster/metrics");
    assert.equal(none.status, 401);
    assert.equal((await none.json()).error, "Unauthorized");
    const wrong = await app.request("/cluster/init", post("/", {}, { authorization: "Bearer no" }));
    assert.equal(wrong.status, 401);
    assert.equal(raft.isInitialized(), false);
    const right = await app.request(
      "/cluster/metrics",
      { headers: { authorization: "Bearer s3cr3t" } },
    );
    assert.equal(right.status, 200);
    const init = await app.request(
      "/cluster/init",
      post("/", {}, { authorization: "Bearer s3cr3t" }),
    );
    assert.equal(init.status, 200);
  } finally {
    await c.shutdown();
  }
});

test("bodies: 415 without JSON content type, 413 too large, 400 malformed", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const raft = await c.startNode(1);
    const app = adminRoutes(raft, { maxBodyBytes: 100 });
    const text = await app.request("/cluster/init", { method: "POST", body: "{}" });
    assert.equal(text.status, 415);
    const form = await app.request(
      "/cluster/init",
      { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" },
    );
    assert.equal(form.status, 415);
    const big = await app.request(
      "/cluster/init",
      post("/", { members: { "1": "x".repeat(200) } }),
    );
    assert.equal(big.status, 413);
    assert.equal((await big.json()).error, "PayloadTooLarge");
    const bad = await app.request("/cluster/init", post("/", "{not json"));
    assert.equal(bad.status, 400);
    assert.equal((await bad.json()).error, "InvalidMessage");
    const arr = await app.request("/cluster/init", post("/", "[1]"));
    assert.equal(arr.status, 400);
    const charset = await app.request("/cluster/init", {
      method: "POST",
      headers: { "content-type": "Application/JSON; charset=utf-8" },
      body: "{}",
    });
    assert.equal(charset.status, 200);
    assert.equal(raft.isInitialized(), true);
  } finally {
    await c.shutdown();
  }
});

test("metrics JSON shape", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    await c.start([1, 2]);
    await c.node(1).initialize(new Map([[1, { addr: addr(1) }], [2, { addr: addr(2) }]]));
    const leader = await c.waitLeader();
    const other = leader === 1 ? 2 : 1;
    await until(() => (c.node(other).metrics.current.lastApplied?.index ?? 0) >= 2);
    const m = await (await adminRoutes(c.node(leader)).request("/cluster/metrics")).json();
    assert.deepEqual(Object.keys(m).sort(), [
      "applied",
      "committed",
      "id",
      "lastLogIndex",
      "leader",
      "membership",
      "purged",
      "replication",
      "snapshot",
      "state",
      "term",
    ]);
    assert.equal(m.id, leader);
    assert.equal(m.state, "leader");
    assert.equal(m.leader, leader);
    assert.equal(typeof m.term, "number");
    assert.equal(typeof m.lastLogIndex, "number");
    assert.equal(typeof m.committed, "number");
    assert.equal(typeof m.applied, "number");
    assert.equal(m.snapshot, null);
    assert.equal(m.purged, null);
    assert.deepEqual(m.membership, {
      voters: [1, 2],
      learners: [],
      nodes: { "1": addr(1), "2": addr(2) },
    });
    assert.deepEqual(Object.keys(m.replication), [String(other)]);
    assert.equal(typeof m.replication[String(other)].matched, "number");
    assert.equal(typeof m.replication[String(other)].lag, "number");
    const f = await (await adminRoutes(c.node(other)).request("/cluster/metrics")).json();
    assert.equal(f.state, "follower");
    assert.equal(f.replication, null);
  } finally {
    await c.shutdown();
  }
});

test("status by error code", () => {
  assert.equal(adminErrorStatus("ForwardToLeader"), 307);
  for (const code of ["AlreadyInitialized", "AlreadyVoter", "InProgress", "ClusterMismatch"]) {
    assert.equal(adminErrorStatus(code), 409);
  }
  for (
    const code of [
      "EmptyMembership",
      "LearnerNotFound",
      "NotInMembers",
      "InvalidMessage",
      "InvalidArgument",
    ]
  ) {
    assert.equal(adminErrorStatus(code), 400);
  }
  assert.equal(adminErrorStatus("Timeout"), 504);
  for (
    const code of ["ShuttingDown", "StorageError", "InternalError", "NotInitialized", "ApplyError"]
  ) {
    assert.equal(adminErrorStatus(code), 503);
  }
  assert.equal(adminErrorStatus("PreconditionFailed"), 412);
  assert.equal(adminErrorStatus("QuorumNotEnough"), 500);
});

test("snapshot: POST /cluster/snapshot builds one on this node and answers its id and last log id", async () => {
  const c = new RuntimeCluster({ ...FAST, maxInSnapshotLogsToKeep: 0 });
  try {
    const raft = await c.startNode(1);
    const app = adminRoutes(raft, { selfAddr: addr(1), secret: "s3cr3t" });
    const auth = { authorization: "Bearer s3cr3t" };
    const early = await app.request("/cluster/snapshot", post("/cluster/snapshot", {}, auth));
    assert.equal(early.status, 503, "nothing to snapshot before the node belongs to a cluster");
    assert.equal((await early.json()).error, "NotInitialized");
    assert.equal((await app.request("/cluster/init", post("/cluster/init", {}, auth))).status, 200);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
    const { logId } = await raft.clientWrite(kvSet("k", new TextEncoder().encode("v")));
    const anonymous = await app.request("/cluster/snapshot", post("/cluster/snapshot", {}));
    assert.equal(anonymous.status, 401);
    const res = await app.request("/cluster/snapshot", post("/cluster/snapshot", {}, auth));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(typeof body.snapshotId, "string");
    assert.ok(body.lastLogId.index >= logId.index);
    const m = await raft.metrics.wait({ timeout: 5000 }).snapshotAtLeast(body.lastLogId.index);
    assert.equal(m.snapshot?.index, body.lastLogId.index);
  } finally {
    await c.shutdown();
  }
});
