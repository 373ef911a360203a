// Regression tests for membership changes and snapshots on in-process clusters of real
// Raft nodes, including the bugs openraft fixed in async-raft's membership and snapshot
// code. The cluster here is RuntimeCluster with three additions: a state machine wrapper
// that logs every apply and install (and can hold an install mid-stream), per-link
// counters of append requests, and snapshot transfers that stream chunk by chunk to the
// target (checking the network's faults at every chunk, so a cut lands mid-transfer).
import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, type KvRaft, RuntimeCluster, sleep } from "./_cluster.ts";
import { Raft } from "../../src/runtime/raft.ts";
import type { Config } from "../../src/config.ts";
import type {
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  RaftRequest,
} from "../../src/messages.ts";
import type { RaftNetwork, SendOptions } from "../../src/network.ts";
import type { AppliedState, Snapshot, StateMachine } from "../../src/storage.ts";
import type { Entry, LogId, NodeId, RaftNode, SnapshotMeta } from "../../src/types.ts";
import { ForwardToLeader } from "../../src/errors.ts";
import { learnersOf, votersOf } from "../../src/types.ts";
import { SeededRandom } from "../../src/random.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { NetworkError } from "../../testing/memory_network.ts";

// ---------------------------------------------------------------- the cluster

/** One event of a node's state machine, in order. */
type SmEvent =
  | { readonly kind: "apply"; readonly first: number; readonly last: number }
  | { readonly kind: "install"; readonly index: number }
  | { readonly kind: "install-failed"; readonly index: number };

/** Holds the next install on a node after its first chunk, until released. */
interface InstallGate {
  /** Resolves when the install read its first chunk and is held. */
  readonly started: Promise<void>;
  release(): void;
}

/** Wraps a node's MemoryStateMachine: logs applies and installs, may hold an install. */
class ObservedStateMachine implements StateMachine<Uint8Array | null> {
  constructor(
    readonly inner: MemoryStateMachine,
    readonly events: SmEvent[],
    readonly takeGate: () => { started(): void; wait: Promise<void> } | null,
  ) {}

  appliedState(): Promise<AppliedState> {
    return this.inner.appliedState();
  }

  async apply(entries: readonly Entry[]): Promise<(Uint8Array | null | undefined)[]> {
    const out = await this.inner.apply(entries);
    if (entries.length > 0) {
      this.events.push({
        kind: "apply",
        first: entries[0]!.index,
        last: entries[entries.length - 1]!.index,
      });
    }
    return out;
  }

  buildSnapshot(): Promise<Snapshot> {
    return this.inner.buildSnapshot();
  }

  async installSnapshot(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    const index = meta.lastLogId?.index ?? 0;
    const gate = this.takeGate();
    let stream = data;
    if (gate !== null) {
      const reader = data.getReader();
      let reads = 0;
      stream = new ReadableStream<Uint8Array>({
        async pull(controller) {
          if (reads++ === 1) {
            gate.started();
            await gate.wait;
          }
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      }, { highWaterMark: 0 });
    }
    try {
      await this.inner.installSnapshot(meta, stream);
    } catch (e) {
      this.events.push({ kind: "install-failed", index });
      throw e;
    }
    this.events.push({ kind: "install", index });
  }

  currentSnapshot(): Promise<Snapshot | null> {
    return this.inner.currentSnapshot();
  }
}

/** Bytes per chunk of a snapshot transfer: small, so a transfer takes many reads. */
const TRANSFER_CHUNK = 256;

class Cluster extends RuntimeCluster {
  readonly events = new Map<NodeId, SmEvent[]>();
  /** Append requests sent, by "from->to". */
  readonly appends = new Map<string, number>();
  /** Snapshot transfers started, by target. */
  readonly transfers = new Map<NodeId, number>();
  readonly #gates = new Map<NodeId, { started(): void; wait: Promise<void> }>();
  readonly #failTransfer = new Map<NodeId, number>();
  readonly #releases: (() => void)[] = [];
  #seq = 100;

  /** Holds the next snapshot install on `id` after its first chunk. */
  gateInstall(id: NodeId): InstallGate {
    let started!: () => void;
    let release!: () => void;
    const startedP = new Promise<void>((r) => (started = r));
    const wait = new Promise<void>((r) => (release = r));
    this.#gates.set(id, { started, wait });
    this.#releases.push(release);
    return { started: startedP, release };
  }

  override async shutdown(): Promise<void> {
    for (const release of this.#releases) release(); // never leave an install held
    await super.shutdown();
  }

  /** Breaks the next snapshot transfer to `id` after `chunks` chunks (a failed send). */
  failNextTransfer(id: NodeId, chunks: number): void {
    this.#failTransfer.set(id, chunks);
  }

  appendsTo(from: NodeId, to: NodeId): number {
    return this.appends.get(`${from}->${to}`) ?? 0;
  }

  override async startNode(id: NodeId, keepState = false): Promise<KvRaft> {
    const store = keepState ? this.stores.get(id)!.crash() : new MemoryLogStore();
    const sm = keepState ? this.machines.get(id)!.crash() : new MemoryStateMachine();
    const events: SmEvent[] = [];
    const raft = await Raft.create({
      id,
      config: this.config,
      logStore: store,
      stateMachine: new ObservedStateMachine(sm, events, () => {
        const g = this.#gates.get(id) ?? null;
        this.#gates.delete(id);
        return g;
      }),
      network: this.#client(id),
      random: new SeededRandom(this.#seq++),
    });
    this.stores.set(id, store);
    this.machines.set(id, sm);
    this.events.set(id, events);
    this.nodes.set(id, raft);
    this.net.register(id, (_from, req, data) => raft.handle(req, data));
    return raft;
  }

  #client(from: NodeId): RaftNetwork {
    const base = this.net.client(from);
    return {
      send: (target: NodeId, node: RaftNode, request: RaftRequest, options?: SendOptions) => {
        if (request.type === "append") {
          const k = `${from}->${target}`;
          this.appends.set(k, (this.appends.get(k) ?? 0) + 1);
        }
        return base.send(target, node, request, options);
      },
      installSnapshot: (
        target: NodeId,
        _node: RaftNode,
        request: InstallSnapshotRequest,
        data: ReadableStream<Uint8Array>,
      ) => this.#transfer(from, target, request, data),
    };
  }

  /**
   * Streams a snapshot to the target node a small chunk at a time. Every chunk
   * checks the link: a cut (or a planned failure) errors the target's stream,
   * as a broken connection would, and the sender's call rejects.
   */
  async #transfer(
    from: NodeId,
    target: NodeId,
    request: InstallSnapshotRequest,
    data: ReadableStream<Uint8Array>,
  ): Promise<InstallSnapshotResponse> {
    this.transfers.set(target, (this.transfers.get(target) ?? 0) + 1);
    const raft = this.nodes.get(target);
    if (raft === undefined || !this.net.isRegistered(target) || !this.net.canReach(from, target)) {
      await data.cancel();
      throw new NetworkError(from, target, "partitioned");
    }
    const failAfter = this.#failTransfer.get(target);
    this.#failTransfer.delete(target);
    const reader = data.getReader();
    let pending: Uint8Array | null = null;
    let sent = 0;
    let broken: unknown = null;
    const stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        if (!this.net.canReach(from, target) || (failAfter !== undefined && sent >= failAfter)) {
          broken = new NetworkError(from, target, "partitioned");
          controller.error(broken);
          await reader.cancel(broken);
          return;
        }
        if (pending === null || pending.byteLength === 0) {
          const { done, value } = await reader.read();
          if (done) {
            controller.close();
            return;
          }
          pending = value;
        }
        controller.enqueue(pending.subarray(0, TRANSFER_CHUNK));
        pending = pending.subarray(TRANSFER_CHUNK);
        sent++;
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
    const res = await raft.handle(request, stream);
    if (broken !== null) throw broken;
    if (!this.net.canReach(target, from)) throw new NetworkError(from, target, "response-lost");
    return res as InstallSnapshotResponse;
  }
}

/**
 * Election timeouts long enough that a busy machine (or a busy test process, where every
 * node shares one event loop) does not cause elections these tests do not ask for.
 */
const TIMING: Partial<Config> = {
  electionTimeoutMin: 250,
  electionTimeoutMax: 500,
  heartbeatInterval: 20,
  leaseMargin: 10,
};

const NO_AUTO: Partial<Config> = {
  ...TIMING,
  snapshotPolicy: { kind: "never" },
  maxInSnapshotLogsToKeep: 0,
};

/** Elections slow enough that a leader keeps its term while peers are cut for a while. */
const SLOW_ELECTIONS: Partial<Config> = {
  electionTimeoutMin: 1500,
  electionTimeoutMax: 3000,
  heartbeatInterval: 15,
  leaseMargin: 10,
};

/**
 * Writes `n` keys through whichever node leads (retrying a write refused by a
 * node that just lost the lead); returns the last one's index.
 */
async function writeMany(c: Cluster, n: number, prefix: string): Promise<number> {
  let last = 0;
  for (let i = 0; i < n; i++) {
    for (let attempt = 0;; attempt++) {
      const leader = leaderOf(c, [...c.nodes.keys()]) ?? await c.waitLeader();
      try {
        const r = await c.node(leader).clientWrite(kvSet(`${prefix}${i}`, enc(String(i))));
        last = r.logId.index;
        break;
      } catch (e) {
        if (!(e instanceof ForwardToLeader) || attempt >= 20) throw e;
        await sleep(5);
      }
    }
  }
  return last;
}

async function waitUntil(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/**
 * Checks a node's state machine events: every index applied exactly once, in
 * order, and an install only ever moving forward. Returns the last index.
 */
function assertExactlyOnce(events: readonly SmEvent[], from = 0): number {
  let applied = from;
  for (const e of events) {
    if (e.kind === "apply") {
      assert.equal(e.first, applied + 1, `apply ${e.first}..${e.last} after ${applied}`);
      applied = e.last;
    } else if (e.kind === "install") {
      assert.ok(e.index >= applied, `install of ${e.index} after applying ${applied}`);
      applied = e.index;
    }
  }
  return applied;
}

/** Changes the membership on whichever of `among` leads (leaders may change meanwhile). */
async function changeOnLeader(
  c: Cluster,
  among: readonly NodeId[],
  change: Parameters<KvRaft["changeMembership"]>[0],
): Promise<LogId> {
  for (let attempt = 0;; attempt++) {
    const leader = await c.waitLeader(5000, among.filter((id) => c.nodes.has(id)));
    try {
      return await c.node(leader).changeMembership(change);
    } catch (e) {
      if (!(e instanceof ForwardToLeader) || attempt >= 20) throw e;
    }
  }
}

function leaderOf(c: Cluster, among: readonly NodeId[]): NodeId | null {
  for (const id of among) {
    if (c.nodes.get(id)?.metrics.current.state === "leader") return id;
  }
  return null;
}

// ---------------------------------------------------------------- membership

test("regression: replace the whole voter set {1,2,3} -> {4,5,6} under write load; no acknowledged write is lost", async () => {
  const c = new Cluster(TIMING);
  try {
    const first = await c.bootstrap([1, 2, 3]);
    await c.start([4, 5, 6]);
    for (const id of [4, 5, 6]) await c.node(first).addLearner(id, { addr: `n${id}` });
    const acked = new Map<string, string>();
    let stop = false;
    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const target = leaderOf(c, [1, 2, 3, 4, 5, 6]);
        if (target === null) {
          await sleep(2);
          continue;
        }
        const key = `w${w}-${i}`;
        // An answer that does not come (e.g. from a leader that was removed) is no ack.
        const ok = await Promise.race([
          c.node(target).clientWrite(kvSet(key, enc(String(i)))).then(() => true, () => false),
          sleep(1000).then(() => false),
        ]);
        if (ok) acked.set(key, String(i));
        // A client pauses between requests: a loop of microtasks alone would starve the
        // timers of every node in this process (heartbeats, elections).
        await sleep(ok ? 1 : 5);
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    await waitUntil("writes before the change", () => acked.size >= 20);
    const logId = await changeOnLeader(c, [1, 2, 3], {
      type: "replace-all-voters",
      ids: [4, 5, 6],
    });
    const atChange = acked.size;
    const newLeader = await c.waitLeader(5000, [4, 5, 6]);
    await waitUntil("writes after the change", () => acked.size >= atChange + 20);
    stop = true;
    await Promise.all(writers);

    assert.ok([4, 5, 6].includes(newLeader));
    const m = c.node(newLeader).metrics.current;
    assert.deepEqual(m.membership.membership.configs, [[4, 5, 6]]);
    assert.ok((m.membership.logId?.index ?? 0) >= logId.index);
    for (const old of [1, 2, 3]) {
      assert.ok(!m.membership.membership.nodes.has(old), `node ${old} was removed`);
      assert.notEqual(c.node(old).metrics.current.state, "leader");
    }
    const fin = await c.node(newLeader).clientWrite(kvSet("final", enc("x")));
    for (const id of [4, 5, 6]) {
      await c.node(id).metrics.wait({ timeout: 5000 }).appliedAtLeast(fin.logId.index);
      const sm = c.machines.get(id)!;
      for (const [key, value] of acked) {
        assert.equal(dec(sm.get(key)), value, `acknowledged write ${key} on node ${id}`);
      }
      assertExactlyOnce(c.events.get(id)!);
    }
  } finally {
    await c.shutdown();
  }
});

test("regression: a removed leader leads until the final config commits, then steps down; writes continue", async () => {
  const c = new Cluster(TIMING);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const rest = [1, 2, 3].filter((x) => x !== leader);
    await writeMany(c, 5, "a");
    const term = c.node(leader).metrics.current.currentTerm;
    // Resolves on the leader itself: it drove the change until the final config committed.
    const logId = await c.node(leader).changeMembership({ type: "remove-voters", ids: [leader] });
    assert.equal(logId.term, term, "both steps of the change were made in the leader's term");
    assert.ok((c.node(leader).metrics.current.committed?.index ?? 0) >= logId.index);
    await c.node(leader).metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.state !== "leader",
      "the removed leader steps down",
    );
    const next = await c.waitLeader(5000, rest);
    assert.ok(rest.includes(next));
    assert.deepEqual(votersOf(c.node(next).metrics.current.membership.membership), rest);
    const last = await writeMany(c, 10, "b");
    for (const id of rest) {
      await c.node(id).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
      assert.equal(dec(c.machines.get(id)!.get("b9")), "9");
    }
    assert.notEqual(c.node(leader).metrics.current.state, "leader");
  } finally {
    await c.shutdown();
  }
});

// A write proposed on a leader between the append and the commit of the final config that
// removes it is committed by the new voters, but the removed node never learns that (it
// gets no more replication): its client must get an answer (OutcomeUnknown), not hang.
test("regression: a removed leader's pending write settles after it steps down", async () => {
  const c = new Cluster(TIMING);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.start([4, 5, 6]);
    for (const id of [4, 5, 6]) await c.node(leader).addLearner(id, { addr: `n${id}` });
    c.net.delay = { min: 20, max: 20 }; // a window between the final config's append and commit
    const change = c.node(leader).changeMembership({
      type: "replace-all-voters",
      ids: [4, 5, 6],
    });
    await waitUntil("the final config appended", () => {
      const m = c.node(leader).metrics.current.membership.membership;
      return m.configs.length === 1 && m.configs[0]!.includes(4);
    });
    let outcome = "pending";
    c.node(leader).clientWrite(kvSet("between", enc("1"))).then(
      () => (outcome = "resolved"),
      (e: unknown) => (outcome = `rejected: ${e}`),
    );
    await change;
    c.net.delay = null;
    const next = await c.waitLeader(5000, [4, 5, 6]);
    await waitUntil("the write applied by the new voters", () => {
      return c.machines.get(next)!.get("between") !== null;
    });
    await sleep(1000);
    assert.notEqual(outcome, "pending", "the client of the removed leader is never answered");
    // The write did take effect (the new voters applied it), so the only honest
    // answers are success or "outcome unknown" — never ForwardToLeader ("did not happen").
    assert.ok(
      outcome === "resolved" || outcome.startsWith("rejected: OutcomeUnknown"),
      `unexpected outcome ${outcome}`,
    );
  } finally {
    c.net.delay = null;
    await c.shutdown();
  }
});

test("regression: during a joint change, entries do not commit with acks from the old config only", async () => {
  const c = new Cluster(SLOW_ELECTIONS);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.start([4, 5]);
    for (const id of [4, 5]) await c.node(leader).addLearner(id, { addr: `n${id}` });
    const term = c.node(leader).metrics.current.currentTerm;
    // The new voters cannot hear the leader: only the old config can acknowledge.
    c.net.cut(leader, 4);
    c.net.cut(leader, 5);
    const change = c.node(leader).changeMembership({
      type: "replace-all-voters",
      ids: [leader, 4, 5],
    });
    change.catch(() => {});
    await waitUntil(
      "the joint config",
      () => c.node(leader).metrics.current.membership.membership.configs.length === 2,
    );
    const joint = c.node(leader).metrics.current.membership.logId!.index;
    let settled = false;
    const write = c.node(leader).clientWrite(kvSet("joint", enc("1")));
    write.then(() => (settled = true), () => (settled = true));
    const old = [1, 2, 3].filter((x) => x !== leader);
    for (const id of old) {
      await c.node(id).metrics.wait({ timeout: 5000 }).metrics(
        (m) => m.lastLogIndex >= joint + 1,
        "the old voters hold the joint config and the write",
      );
    }
    await sleep(200); // many heartbeat rounds: the old voters keep acknowledging
    const m = c.node(leader).metrics.current;
    assert.equal(m.state, "leader");
    assert.equal(m.currentTerm, term);
    assert.ok(
      (m.committed?.index ?? 0) < joint,
      `committed ${m.committed?.index} with only the old config's acks (joint at ${joint})`,
    );
    assert.equal(settled, false);
    c.net.uncut(leader, 4);
    c.net.uncut(leader, 5);
    await change;
    await write;
    assert.deepEqual(
      c.node(leader).metrics.current.membership.membership.configs,
      [[leader, 4, 5].sort((a, b) => a - b)],
    );
  } finally {
    await c.shutdown();
  }
});

test("regression: learners' acks never make a quorum", async () => {
  const c = new Cluster(SLOW_ELECTIONS);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.start([4, 5, 6]);
    for (const id of [4, 5, 6]) await c.node(leader).addLearner(id, { addr: `n${id}` });
    const term = c.node(leader).metrics.current.currentTerm;
    const voters = [1, 2, 3].filter((x) => x !== leader);
    for (const v of voters) c.net.cut(leader, v);
    const before = c.node(leader).metrics.current.lastLogIndex;
    let settled = false;
    const write = c.node(leader).clientWrite(kvSet("learners", enc("1")));
    write.then(() => (settled = true), () => (settled = true));
    await waitUntil(
      "the write appended",
      () => c.node(leader).metrics.current.lastLogIndex > before,
    );
    const lastIndex = c.node(leader).metrics.current.lastLogIndex;
    await waitUntil(
      "the learners to acknowledge the write",
      () =>
        [4, 5, 6].every((id) =>
          (c.node(leader).metrics.current.replication?.get(id)?.matched?.index ?? 0) >= lastIndex
        ),
    );
    await sleep(200);
    const m = c.node(leader).metrics.current;
    assert.equal(m.state, "leader");
    assert.equal(m.currentTerm, term);
    assert.ok((m.committed?.index ?? 0) < lastIndex, "three learners' acks committed nothing");
    assert.equal(settled, false);
    for (const v of voters) c.net.uncut(leader, v);
    await write;
  } finally {
    await c.shutdown();
  }
});

test("regression: a learner restarted from its stores is still a learner and never campaigns", async () => {
  const c = new Cluster(TIMING);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.start([4]);
    await c.node(leader).addLearner(4, { addr: "n4" });
    const last = await writeMany(c, 10, "k");
    await c.node(4).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    await c.stop(4);
    const r = await c.startNode(4, true);
    const states = new Set<string>([r.metrics.current.state]);
    const off = r.metrics.subscribe((m) => states.add(m.state));
    assert.equal(r.metrics.current.state, "learner");
    assert.deepEqual(learnersOf(r.metrics.current.membership.membership), [4]);
    // Alone, for many election timeouts, and asked to campaign: it must not.
    c.net.isolate(4);
    const term = r.metrics.current.currentTerm;
    await r.trigger.elect();
    await sleep(TIMING.electionTimeoutMax! * 3);
    assert.equal(r.metrics.current.currentTerm, term);
    c.net.heal();
    const w = await writeMany(c, 1, "after");
    await r.metrics.wait({ timeout: 5000 }).appliedAtLeast(w);
    off();
    assert.ok(!states.has("candidate") && !states.has("leader"), `states: ${[...states]}`);
    assert.equal(r.metrics.current.state, "learner");
    assert.ok(!votersOf(c.node(leader).metrics.current.membership.membership).includes(4));
  } finally {
    await c.shutdown();
  }
});

test("regression: the leader stops replicating to a removed node once the final config commits", async () => {
  const c = new Cluster(TIMING);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.start([4]);
    await c.node(leader).addLearner(4, { addr: "n4" });
    await c.node(leader).changeMembership({ type: "add-voter-ids", ids: [4] });
    const victim = [1, 2, 3, 4].find((x) => x !== leader)!;
    const term = c.node(leader).metrics.current.currentTerm;
    await c.node(leader).changeMembership({ type: "remove-voters", ids: [victim] });
    const sent = c.appendsTo(leader, victim);
    const last = await writeMany(c, 20, "k");
    await sleep(TIMING.heartbeatInterval! * 10); // many heartbeat rounds
    assert.equal(c.appendsTo(leader, victim), sent, "no append to the removed node");
    assert.ok(c.appendsTo(leader, [1, 2, 3, 4].find((x) => x !== leader && x !== victim)!) > 0);
    // The removed node, still running, does not disrupt the cluster.
    const m = c.node(leader).metrics.current;
    assert.equal(m.state, "leader");
    assert.equal(m.currentTerm, term);
    assert.ok(!m.replication?.has(victim), "no replication state for the removed node");
    for (const id of [1, 2, 3, 4].filter((x) => x !== victim)) {
      await c.node(id).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    }
  } finally {
    await c.shutdown();
  }
});

test("regression: membership survives two compactions and a restart from the snapshot", async () => {
  const c = new Cluster(NO_AUTO);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    await c.start([4]);
    await c.node(leader).addLearner(4, { addr: "n4" });
    await c.node(leader).changeMembership({ type: "add-voter-ids", ids: [4] });
    await c.node(leader).changeMembership({
      type: "add-nodes",
      nodes: new Map([[5, { addr: "n5" }]]),
    });
    const expected = c.node(leader).metrics.current.membership;
    assert.deepEqual(votersOf(expected.membership), [1, 2, 3, 4]);
    assert.deepEqual(learnersOf(expected.membership), [5]);
    for (const id of [leader, [1, 2, 3, 4].find((x) => x !== leader)!]) {
      for (const round of [1, 2]) {
        const last = await writeMany(c, 10, `r${round}-`);
        await c.node(id).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
        const meta = await c.node(id).trigger.snapshot();
        assert.deepEqual(meta.lastMembership, expected, `snapshot ${round} keeps the membership`);
        const m = await c.node(id).metrics.wait({ timeout: 5000 }).metrics(
          (m) => m.purged?.index === last,
          "purged up to the snapshot",
        );
        assert.deepEqual(m.membership, expected, `compaction ${round} keeps the membership`);
      }
      const store = c.stores.get(id)!;
      assert.ok(
        store.writtenEntries().every((e) => e.type !== "membership"),
        "no membership entry left in the log",
      );
    }
    // Restart a follower from its stores: the membership comes from the snapshot alone.
    const follower = [1, 2, 3, 4].find((x) => x !== leader)!;
    await c.stop(follower);
    const r = await c.startNode(follower, true);
    assert.deepEqual(r.metrics.current.membership, expected);
    assert.equal(r.metrics.current.state, "follower");
    const w = await writeMany(c, 1, "after");
    await r.metrics.wait({ timeout: 5000 }).appliedAtLeast(w);
    assert.deepEqual(r.metrics.current.membership, expected);
    // And the leader, once it hands over: a new leader is elected among the voters.
    await c.stop(leader);
    const rl = await c.startNode(leader, true);
    assert.deepEqual(rl.metrics.current.membership, expected);
    const next = await c.waitLeader(5000, [1, 2, 3, 4]);
    assert.deepEqual(c.node(next).metrics.current.membership.membership, expected.membership);
  } finally {
    await c.shutdown();
  }
});

// ---------------------------------------------------------------- snapshots

/** Isolates a follower, writes, snapshots and purges on `snapshotOn`; returns ids and index. */
async function lagBehindSnapshot(c: Cluster, writes: number, snapshotOnAll = false) {
  const leader = await c.bootstrap([1, 2, 3]);
  const [lagging, other] = [1, 2, 3].filter((x) => x !== leader) as [NodeId, NodeId];
  c.net.isolate(lagging);
  const last = await writeMany(c, writes, "s");
  for (const id of snapshotOnAll ? [leader, other] : [leader]) {
    await c.node(id).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    await c.node(id).trigger.snapshot();
    await c.node(id).metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.purged?.index === last,
      "purged",
    );
  }
  return { leader, lagging, other, last };
}

test("regression: a snapshot install racing with new appends converges, applying each entry exactly once in order", async () => {
  const c = new Cluster(NO_AUTO);
  try {
    const { leader, lagging, last } = await lagBehindSnapshot(c, 60);
    const gate = c.gateInstall(lagging);
    c.net.rejoin(lagging);
    await gate.started; // the follower is mid-install
    // The leader keeps writing (committing with the other follower) meanwhile…
    let stop = false;
    let written = last;
    const writer = (async () => {
      for (let i = 0; !stop || i < 40; i++) {
        written = (await c.node(leader).clientWrite(kvSet(`race${i}`, enc(String(i))))).logId
          .index;
        await sleep(1);
      }
    })();
    await waitUntil("writes during the install", () => written >= last + 20);
    gate.release(); // …and goes on while the install finishes
    stop = true;
    await writer;
    await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(written);
    assert.deepEqual(c.machines.get(lagging)!.pairs(), c.machines.get(leader)!.pairs());
    const events = c.events.get(lagging)!;
    const installs = events.filter((e) => e.kind === "install");
    assert.deepEqual(installs, [{ kind: "install", index: last }]);
    assert.equal(assertExactlyOnce(events), written);
    // After the install only entries past it were applied.
    const after = events.slice(events.indexOf(installs[0]!) + 1);
    assert.ok(after.every((e) => e.kind === "apply" && e.first > last));
  } finally {
    await c.shutdown();
  }
});

test("regression: a snapshot transfer cut by a leader change is abandoned; the new leader's converges", async () => {
  const c = new Cluster(NO_AUTO);
  try {
    const { leader, lagging, other, last } = await lagBehindSnapshot(c, 300, true);
    const gate = c.gateInstall(lagging);
    c.net.rejoin(lagging);
    await gate.started; // the old leader's snapshot is half-way to the follower
    c.net.isolate(leader);
    gate.release(); // the next chunk finds the link cut
    const next = await c.waitLeader(5000, [lagging, other]);
    assert.equal(next, other, "the up-to-date follower takes over");
    const w = await c.node(next).clientWrite(kvSet("after", enc("1")));
    await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(w.logId.index);
    const events = c.events.get(lagging)!;
    const installs = events.filter((e) => e.kind !== "apply");
    assert.equal(installs[0]?.kind, "install-failed", "the cut transfer failed the install");
    assert.deepEqual(installs.slice(-1), [{ kind: "install", index: last }]);
    assertExactlyOnce(events);
    assert.deepEqual(c.machines.get(lagging)!.pairs(), c.machines.get(next)!.pairs());
    // The old leader rejoins as a follower and converges too.
    c.net.heal();
    const w2 = await c.node(next).clientWrite(kvSet("healed", enc("1")));
    await c.node(leader).metrics.wait({ timeout: 5000 }).appliedAtLeast(w2.logId.index);
    assert.equal(c.node(leader).metrics.current.state, "follower");
  } finally {
    await c.shutdown();
  }
});

test("regression: a snapshot transfer that fails part-way is abandoned and retried", async () => {
  const c = new Cluster(NO_AUTO);
  try {
    const { leader, lagging, last } = await lagBehindSnapshot(c, 300);
    c.failNextTransfer(lagging, 3);
    c.net.rejoin(lagging);
    await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    assert.ok((c.transfers.get(lagging) ?? 0) >= 2, "sent again after the failure");
    const events = c.events.get(lagging)!;
    assert.deepEqual(
      events.filter((e) => e.kind !== "apply"),
      [{ kind: "install-failed", index: last }, { kind: "install", index: last }],
    );
    assertExactlyOnce(events);
    const w = await writeMany(c, 1, "after");
    await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(w);
    assert.deepEqual(c.machines.get(lagging)!.pairs(), c.machines.get(leader)!.pairs());
  } finally {
    await c.shutdown();
  }
});

test("regression: last-applied never runs ahead of what the state machine applied (install, restart)", async () => {
  const c = new Cluster({ ...NO_AUTO, maxInSnapshotLogsToKeep: 0 });
  try {
    const { lagging, last } = await lagBehindSnapshot(c, 40);
    const violations: string[] = [];
    const watch = (r: KvRaft, id: NodeId) =>
      r.metrics.subscribe((m) => {
        const real = c.machines.get(id)!.lastApplied?.index ?? 0;
        if ((m.lastApplied?.index ?? 0) > real) {
          violations.push(`node ${id}: metrics say ${m.lastApplied?.index}, applied ${real}`);
        }
      });
    let off = watch(c.node(lagging), lagging);
    const gate = c.gateInstall(lagging);
    c.net.rejoin(lagging);
    await gate.started;
    await sleep(50); // heartbeats keep coming while the install is held
    assert.ok((c.node(lagging).metrics.current.lastApplied?.index ?? 0) < last);
    gate.release();
    await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
    assert.equal(c.machines.get(lagging)!.lastApplied?.index, last);
    const more = await writeMany(c, 10, "m");
    await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(more);
    off();
    // Restart: the state machine keeps only its snapshot; the rest is applied again.
    await c.stop(lagging);
    const r = await c.startNode(lagging, true);
    assert.equal(c.machines.get(lagging)!.lastApplied?.index, last);
    assert.ok((r.metrics.current.lastApplied?.index ?? 0) <= last);
    off = watch(r, lagging);
    await r.metrics.wait({ timeout: 5000 }).appliedAtLeast(more);
    off();
    assert.equal(c.machines.get(lagging)!.lastApplied?.index, r.metrics.current.lastApplied?.index);
    assert.equal(assertExactlyOnce(c.events.get(lagging)!, last), more);
    assert.deepEqual(violations, []);
  } finally {
    await c.shutdown();
  }
});
