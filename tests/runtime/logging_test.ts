// The logger option on a running cluster: role and term changes with their reasons, membership
// changes, snapshots with bytes and ms, peers unreachable then back (once per transition), every
// record carrying id and cluster; a logger that throws does not stop the node.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CALM, enc, RuntimeCluster, sleep } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import type { Logger } from "../../src/runtime/logger.ts";
import type { NodeId } from "../../src/types.ts";

interface LogRecord {
  readonly node: NodeId;
  readonly level: string;
  readonly message: string;
  readonly fields: Record<string, unknown>;
}

function recording(c: RuntimeCluster): LogRecord[] {
  const records: LogRecord[] = [];
  c.loggerFor = (node) => {
    const at = (level: string) => (message: string, fields?: Record<string, unknown>) =>
      void records.push({ node, level, message, fields: fields ?? {} });
    return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
  };
  return records;
}

async function until(what: string, ok: () => boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const roleChanges = (records: LogRecord[], node: NodeId) =>
  records.filter((r) =>
    r.node === node && (r.message === "role changed" || r.message === "term changed")
  );

test("runtime/logging: role and term changes carry the reason; every record has id and cluster", async () => {
  const c = new RuntimeCluster({ ...CALM, clusterName: "orders" });
  const records = recording(c);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await until(
      "the leader's record",
      () => roleChanges(records, leader).some((r) => r.fields.role === "leader"),
    );
    const won = roleChanges(records, leader).find((r) => r.fields.role === "leader")!;
    assert.equal(won.level, "info");
    assert.equal(won.fields.reason, "election-won");
    assert.equal(won.fields.previousRole, "candidate");
    assert.equal(typeof won.fields.term, "number");
    const campaign = roleChanges(records, leader).find((r) =>
      r.fields.role === "pre-candidate" || r.fields.role === "candidate"
    )!;
    assert.ok(
      ["election-triggered", "election-timeout"].includes(String(campaign.fields.reason)),
      `campaign reason ${campaign.fields.reason}`,
    );
    for (const r of records) {
      assert.equal(r.fields.id, r.node, `${r.message} carries the node's id`);
      assert.equal(r.fields.cluster, "orders", `${r.message} carries the cluster name`);
    }

    // A leadership transfer: the target campaigns for it, the old leader steps down for it.
    const target = [1, 2, 3].find((x) => x !== leader)!;
    await c.node(leader).trigger.transferLeader(target);
    await c.waitLeader(5000);
    await until(
      "the transfer's records",
      () =>
        roleChanges(records, target).some((r) => r.fields.role === "leader") &&
        roleChanges(records, leader).some((r) => r.fields.previousRole === "leader"),
    );
    const candidate = roleChanges(records, target).find((r) => r.fields.role === "candidate")!;
    assert.equal(candidate.fields.reason, "leadership-transfer");
    const stepDown = roleChanges(records, leader).find((r) => r.fields.previousRole === "leader")!;
    assert.equal(stepDown.fields.role, "follower");
    assert.equal(stepDown.fields.reason, "leadership-transfer");

    // Check-quorum: an isolated leader steps down for it.
    c.net.isolate(target);
    await until(
      "the isolated leader steps down",
      () =>
        roleChanges(records, target).some((r) =>
          r.fields.previousRole === "leader" && r.fields.reason === "check-quorum"
        ),
    );
    // The others elect a leader of a higher term; the old one hears of it once healed.
    const others = [1, 2, 3].filter((x) => x !== target);
    await c.waitLeader(5000, others);
    c.net.heal();
    await c.waitLeader(5000);
    await until(
      "the old leader sees the higher term",
      () =>
        roleChanges(records, target).some((r) =>
          r.fields.reason === "higher-term" || r.fields.reason === "leader-seen"
        ),
    );
  } finally {
    await c.shutdown();
  }
});

test("runtime/logging: membership changes (old → new), snapshots with bytes and ms", async () => {
  const c = new RuntimeCluster({
    ...CALM,
    snapshotPolicy: { kind: "never" },
    maxInSnapshotLogsToKeep: 0,
  });
  const records = recording(c);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    for (let i = 0; i < 20; i++) await raft.clientWrite(kvSet(`k${i}`, enc("v".repeat(100))));
    const meta = await raft.trigger.snapshot();
    const built = records.find((r) => r.node === leader && r.message === "snapshot built")!;
    assert.ok(built, "snapshot built logged");
    assert.equal(built.level, "info");
    assert.equal(built.fields.snapshotId, meta.snapshotId);
    assert.equal(built.fields.index, meta.lastLogId?.index);
    assert.ok(Number(built.fields.bytes) > 2000, `bytes ${built.fields.bytes}`);
    assert.equal(typeof built.fields.ms, "number");

    // A new learner: the log is purged, so it gets the snapshot.
    await c.startNode(4);
    await raft.addLearner(4, { addr: "" });
    const changes = records.filter((r) => r.node === leader && r.message === "membership changed");
    assert.equal(changes[0]!.fields.from, "voters=[] learners=[]", "initialized");
    assert.equal(changes[0]!.fields.to, "voters=[1,2,3] learners=[]");
    const changed = changes.at(-1)!;
    assert.equal(changed.fields.from, "voters=[1,2,3] learners=[]");
    assert.equal(changed.fields.to, "voters=[1,2,3] learners=[4]");
    assert.equal(changed.fields.joint, false);
    await until(
      "the snapshot transfer's records",
      () =>
        records.some((r) => r.node === leader && r.message === "snapshot sent") &&
        records.some((r) => r.node === 4 && r.message === "snapshot installed"),
    );
    const sent = records.find((r) => r.node === leader && r.message === "snapshot sent")!;
    const installed = records.find((r) => r.node === 4 && r.message === "snapshot installed")!;
    assert.equal(sent.fields.peer, 4);
    assert.equal(sent.fields.bytes, built.fields.bytes, "the bytes sent are the bytes built");
    assert.equal(installed.fields.bytes, built.fields.bytes);
    assert.equal(typeof sent.fields.ms, "number");
    assert.equal(typeof installed.fields.ms, "number");
    // Node 4 became a learner through the membership.
    assert.ok(records.some((r) => r.node === 4 && r.message === "membership changed"));

    // A voter change goes through a joint configuration: both steps logged.
    await raft.changeMembership({ type: "add-voter-ids", ids: [4] });
    const steps = records.filter((r) => r.node === leader && r.message === "membership changed");
    assert.ok(steps.some((r) => r.fields.joint === true), "the joint step");
    assert.equal(steps.at(-1)!.fields.to, "voters=[1,2,3,4] learners=[]");
    const counters = raft.counters();
    assert.equal(counters.snapshotBytes.built, built.fields.bytes);
    assert.equal(counters.snapshotBytes.sent, built.fields.bytes);
    assert.equal(c.node(4).counters().snapshotBytes.installed, built.fields.bytes);
  } finally {
    await c.shutdown();
  }
});

test("runtime/logging: a peer that stops answering is logged once, and once when it is back", async () => {
  const c = new RuntimeCluster(CALM);
  const records = recording(c);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const peer = [1, 2, 3].find((x) => x !== leader)!;
    c.net.cut(leader, peer);
    // Many heartbeats fail meanwhile (every 15 ms): still one line.
    await sleep(300);
    const down = records.filter((r) => r.node === leader && r.message === "peer unreachable");
    assert.equal(down.length, 1, "one line per transition, not per failed send");
    assert.equal(down[0]!.level, "warn");
    assert.equal(down[0]!.fields.peer, peer);
    assert.equal(typeof down[0]!.fields.error, "string");
    c.net.uncut(leader, peer);
    await until(
      "the peer is back",
      () => records.some((r) => r.node === leader && r.message === "peer reachable again"),
    );
    await sleep(100);
    const back = records.filter((r) => r.node === leader && r.message === "peer reachable again");
    assert.equal(back.length, 1);
    assert.equal(back[0]!.fields.peer, peer);
    assert.ok(Number(back[0]!.fields.downMs) >= 250, `downMs ${back[0]!.fields.downMs}`);
    const sent = c.node(leader).counters().rpcsSent.append;
    assert.ok(sent.error >= 2, `failed appends counted: ${sent.error}`);
    assert.ok(sent.ok > 5);
  } finally {
    await c.shutdown();
  }
});

test("runtime/logging: storage failures are logged as errors; a logger that throws stops nothing", async () => {
  const c = new RuntimeCluster(CALM);
  const records: LogRecord[] = [];
  c.loggerFor = (node): Logger => ({
    debug() {
      throw new Error("broken hook");
    },
    info(message, fields) {
      records.push({ node, level: "info", message, fields: fields ?? {} });
      throw new Error("broken hook");
    },
    warn() {
      throw new Error("broken hook");
    },
    error(message, fields) {
      records.push({ node, level: "error", message, fields: fields ?? {} });
    },
  });
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const w = await c.node(leader).clientWrite(kvSet("a", enc("1")));
    assert.ok(w.logId.index > 0, "the cluster works although its logger throws");
    const store = c.stores.get(leader)!;
    store.append = () => Promise.reject(new Error("disk full"));
    await c.node(leader).clientWrite(kvSet("b", enc("2"))).catch(() => {});
    await until(
      "the storage failure's record",
      () => records.some((r) => r.node === leader && r.level === "error"),
    );
    const failure = records.find((r) => r.node === leader && r.level === "error")!;
    assert.match(failure.message, /storage failed/);
    assert.equal(failure.fields.operation, "append");
    assert.equal(failure.fields.code, "StorageError");
    assert.match(String(failure.fields.error), /disk full/);
  } finally {
    await c.shutdown();
  }
});
