// A 100 MiB snapshot sent to a lagging follower over real HTTP: three Raft nodes, each
// with HttpNetwork and raftRoutes on 127.0.0.1, and a state machine whose snapshot is
// generated on the fly (never held whole) and installed with a running checksum.
// Peak memory of the same transfer is measured by bench/snapshot_memory.ts, not here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Raft } from "../../src/runtime/raft.ts";
import { HttpNetwork } from "../../src/transport/http_network.ts";
import { raftRoutes } from "../../src/transport/raft_routes.ts";
import { Unreachable } from "../../src/errors.ts";
import type { InstallSnapshotRequest, RaftRequest } from "../../src/messages.ts";
import type { RaftNetwork, SendOptions } from "../../src/network.ts";
import type { NodeId, RaftNode } from "../../src/types.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import {
  digestStream,
  LargeSnapshotStateMachine,
} from "../../testing/large_snapshot_state_machine.ts";
import { SeededRandom } from "../../src/random.ts";
import { serveLocal } from "../transport/_serve.ts";

const MiB = 1024 * 1024;
const SNAPSHOT_BYTES = 100 * MiB;

/** HttpNetwork that fails every request to or from an isolated node, until it rejoins. */
class IsolatingNetwork implements RaftNetwork {
  constructor(
    readonly from: NodeId,
    readonly inner: HttpNetwork,
    readonly isolated: Set<NodeId>,
  ) {}

  #blocked(target: NodeId): boolean {
    return this.isolated.has(this.from) || this.isolated.has(target);
  }

  send(target: NodeId, node: RaftNode, request: RaftRequest, options?: SendOptions) {
    if (this.#blocked(target)) {
      return Promise.reject(new Unreachable(target, { cause: new Error("isolated") }));
    }
    return this.inner.send(target, node, request, options);
  }

  installSnapshot(
    target: NodeId,
    node: RaftNode,
    request: InstallSnapshotRequest,
    data: ReadableStream<Uint8Array>,
    options?: SendOptions,
  ) {
    if (this.#blocked(target)) {
      void data.cancel().catch(() => {});
      return Promise.reject(new Unreachable(target, { cause: new Error("isolated") }));
    }
    return this.inner.installSnapshot(target, node, request, data, options);
  }
}

const CONFIG = {
  // Long timeouts: under a loaded machine (CI beside other work) a 100 MiB snapshot and
  // the HTTP streaming stall the event loop long enough to cost a 300-600 ms leader its
  // quorum mid-test (a write answered OutcomeUnknown), which is not what this test checks.
  electionTimeoutMin: 1500,
  electionTimeoutMax: 3000,
  heartbeatInterval: 100,
  leaseMargin: 50,
  snapshotPolicy: { kind: "never" } as const,
  maxInSnapshotLogsToKeep: 0,
};

test("runtime/large snapshot: a follower installs a 100 MiB snapshot streamed over HTTP", async () => {
  const ids = [1, 2, 3];
  const isolated = new Set<NodeId>();
  const nodes = new Map<NodeId, Raft<number>>();
  const machines = new Map<NodeId, LargeSnapshotStateMachine>();
  const servers: { close(): Promise<void> }[] = [];
  try {
    const addrs = new Map<NodeId, RaftNode>();
    for (const id of ids) {
      const sm = new LargeSnapshotStateMachine({ snapshotBytes: SNAPSHOT_BYTES, seed: 7 });
      const raft = await Raft.create({
        id,
        config: CONFIG,
        logStore: new MemoryLogStore(),
        stateMachine: sm,
        network: new IsolatingNetwork(id, new HttpNetwork({ timeout: 1000 }), isolated),
        random: new SeededRandom(id),
      });
      const app = raftRoutes(raft);
      const server = await serveLocal(app.fetch);
      servers.push(server);
      nodes.set(id, raft);
      machines.set(id, sm);
      addrs.set(id, { addr: server.url });
    }
    const node = (id: NodeId) => nodes.get(id)!;
    await node(1).initialize(addrs);
    const m = await node(1).metrics.wait({ timeout: 10_000 }).metrics(
      (m) => m.currentLeader !== null && m.lastApplied !== null,
      "a leader",
    );
    const leader = m.currentLeader!;
    const lagging = ids.find((id) => id !== leader)!;
    isolated.add(lagging);

    let last = 0;
    for (let i = 0; i < 50; i++) {
      last = (await node(leader).clientWrite(new Uint8Array([i]))).logId.index;
    }
    const meta = await node(leader).trigger.snapshot();
    assert.equal(meta.lastLogId?.index, last);
    await node(leader).metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.purged?.index === last,
      "the log purged up to the snapshot",
    );
    const leaderSm = machines.get(leader)!;
    const countAtSnapshot = leaderSm.count;
    assert.equal(countAtSnapshot, 50);

    isolated.delete(lagging);
    const f = await node(lagging).metrics.wait({ timeout: 60_000 }).metrics(
      (m) => (m.lastApplied?.index ?? 0) >= last,
      "the follower caught up",
    );
    assert.equal(f.snapshot?.index, last, "caught up by installing the leader's snapshot");
    const sm = machines.get(lagging)!;
    assert.equal(sm.installs, 1);
    assert.equal(sm.count, countAtSnapshot);
    assert.deepEqual(sm.lastApplied, meta.lastLogId);
    // What was installed is what the leader's snapshot streams: same length, same checksum.
    const installed = sm.installed!;
    assert.equal(installed.snapshotId, meta.snapshotId);
    assert.equal(installed.bytes, SNAPSHOT_BYTES + 28);
    const expected = await digestStream((await leaderSm.currentSnapshot())!.open());
    assert.deepEqual({ bytes: installed.bytes, checksum: installed.checksum }, expected);
    assert.ok(
      installed.largestChunk <= 8 * MiB,
      `read in chunks, not whole (largest: ${installed.largestChunk} bytes)`,
    );

    // Replication resumes after the snapshot.
    const w = await node(leader).clientWrite(new Uint8Array([99]));
    await node(lagging).metrics.wait({ timeout: 10_000 }).appliedAtLeast(w.logId.index);
    assert.equal(sm.count, countAtSnapshot + 1);
    assert.equal(w.response, countAtSnapshot + 1);
  } finally {
    for (const raft of nodes.values()) await raft.shutdown();
    for (const s of servers) await s.close();
  }
});
