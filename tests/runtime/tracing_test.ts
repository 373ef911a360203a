// The tracer option on a running cluster: spans around elections, replication requests, snapshot
// builds and transfers, membership changes — each ended exactly once (by shutdown at the latest),
// with attributes; a tracer that throws stops nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CALM, enc, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { MemoryStateMachine } from "../../kv/mod.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import type { SpanAttributes, SpanError, SpanName, Tracer } from "../../src/runtime/tracer.ts";
import type { NodeId } from "../../src/types.ts";

interface Recorded {
  readonly node: NodeId;
  readonly name: SpanName;
  readonly start: SpanAttributes;
  end: SpanAttributes | null;
  error: SpanError | null;
  ends: number;
}

function recordingTracer(node: NodeId, spans: Recorded[]): Tracer {
  return {
    startSpan(name, attributes) {
      const span: Recorded = { node, name, start: attributes, end: null, error: null, ends: 0 };
      spans.push(span);
      return {
        end(attributes, error) {
          span.ends++;
          span.end = attributes ?? {};
          span.error = error ?? null;
        },
      };
    },
  };
}

test("runtime/tracing: spans around elections, replication, snapshots and membership changes, each ended once", async () => {
  const c = new RuntimeCluster({
    ...CALM,
    snapshotPolicy: { kind: "never" },
    maxInSnapshotLogsToKeep: 0,
  });
  const spans: Recorded[] = [];
  c.tracerFor = (id) => recordingTracer(id, spans);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const raft = c.node(leader);
    for (let i = 0; i < 10; i++) await raft.clientWrite(kvSet(`k${i}`, enc("v".repeat(50))));
    await raft.trigger.snapshot();
    await c.startNode(4);
    await raft.addLearner(4, { addr: "" });
    await raft.changeMembership({ type: "add-voter-ids", ids: [4] });
  } finally {
    await c.shutdown();
  }
  for (const s of spans) assert.equal(s.ends, 1, `${s.name} of node ${s.node} ended once`);

  const elections = spans.filter((s) => s.name === "raft.election");
  const won = elections.find((s) => s.end?.["raft.outcome"] === "won")!;
  assert.ok(won, "a won election");
  assert.equal(won.error, null);
  assert.equal(typeof won.start["raft.term"], "number");
  assert.ok(Number(won.end!["raft.rounds"]) >= 1);

  const replicate = spans.filter((s) => s.name === "raft.replicate");
  assert.ok(replicate.length > 10, `append spans: ${replicate.length}`);
  const acked = replicate.find((s) =>
    s.end?.["raft.success"] === true && s.start["raft.entries"] !== 0
  )!;
  assert.ok(acked, "an append with entries, acknowledged");
  assert.equal(typeof acked.start["raft.peer"], "number");
  assert.equal(typeof acked.end!["raft.index"], "number");

  const build = spans.find((s) => s.name === "raft.snapshot.build")!;
  assert.ok(Number(build.end!["raft.bytes"]) > 500);
  const send = spans.find((s) => s.name === "raft.snapshot.send")!;
  assert.equal(send.start["raft.peer"], 4);
  assert.equal(send.end!["raft.bytes"], build.end!["raft.bytes"]);
  assert.equal(send.error, null);
  const install = spans.find((s) => s.name === "raft.snapshot.install" && s.node === 4)!;
  assert.equal(install.end!["raft.bytes"], build.end!["raft.bytes"]);
  assert.equal(install.error, null);

  const changes = spans.filter((s) => s.name === "raft.membership_change");
  assert.deepEqual(changes.map((s) => s.start["raft.change"]), ["add-nodes", "add-voter-ids"]);
  for (const s of changes) {
    assert.equal(s.error, null);
    assert.equal(typeof s.end!["raft.log_index"], "number");
  }
  assert.equal(changes[1]!.start["raft.to"], "voters=[1,2,3,4] learners=[]");
});

test("runtime/tracing: a lost election ends with an error status; a throwing tracer stops nothing", async () => {
  const net = new MemoryNetwork();
  const spans: Recorded[] = [];
  const throwing: Tracer = {
    startSpan() {
      throw new Error("broken tracer");
    },
  };
  const nodes = new Map<NodeId, Raft<Uint8Array | null>>();
  for (const id of [1, 2, 3]) {
    const raft = await Raft.create({
      id,
      config: CALM,
      logStore: new MemoryLogStore(),
      stateMachine: new MemoryStateMachine(),
      network: net.client(id),
      tracer: id === 3 ? throwing : recordingTracer(id, spans),
    });
    net.register(id, (_from, req, data) => raft.handle(req, data));
    nodes.set(id, raft);
  }
  try {
    await nodes.get(1)!.initialize([1, 2, 3]);
    const { currentLeader } = await nodes.get(1)!.metrics.wait({ timeout: 5000 }).leader();
    const leader = nodes.get(currentLeader!)!;
    await leader.clientWrite(kvSet("a", enc("1")));
    // A node cut off from the others campaigns in vain, then hears of the leader: a lost election.
    const lone = [1, 2].find((id) => id !== currentLeader)!;
    net.isolate(lone);
    await nodes.get(lone)!.metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.state === "candidate",
      "campaigning",
    );
    net.heal();
    await nodes.get(lone)!.metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.state === "follower" && m.currentLeader !== null,
      "following again",
    );
    const lost = spans.find((s) =>
      s.node === lone && s.name === "raft.election" && s.end?.["raft.outcome"] === "lost"
    )!;
    assert.ok(lost, "the lost election's span");
    assert.ok(lost.error !== null && lost.error.message.startsWith("election lost"));
    await nodes.get(3)!.metrics.wait({ timeout: 5000 }).appliedAtLeast(2);
  } finally {
    for (const r of nodes.values()) await r.shutdown();
  }
  for (const s of spans) assert.equal(s.ends, 1, `${s.name} ended once`);
});
