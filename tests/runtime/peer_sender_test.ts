// PeerSender: appends to one peer stay in order behind a store read (heartbeats never
// wait), failures reach the engine, and a peer that refuses this cluster is remembered
// (logged once) until it answers again.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { AppendPlan } from "../../src/engine/commands.ts";
import { ClusterMismatch, Unreachable } from "../../src/errors.ts";
import type { AppendRequest, RaftRequest, RaftResponse } from "../../src/messages.ts";
import type { RaftNetwork } from "../../src/network.ts";
import type { Logger } from "../../src/runtime/logger.ts";
import type { LogIo } from "../../src/runtime/log_io.ts";
import { clusterMismatchOf, PeerSender } from "../../src/runtime/peer_sender.ts";
import { EMPTY_MEMBERSHIP, type Entry, type NodeId } from "../../src/types.ts";
import { encodeMessage } from "../../src/codec.ts";

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const entry = (index: number): Entry => ({ term: 1, index, type: "blank" });
const plan = (first: number, last: number): AppendPlan => ({
  term: 1,
  leaderId: 1,
  prevLogId: first > 1 ? { term: 1, index: first - 1 } : null,
  first,
  last,
  leaderCommit: 0,
  round: 1,
  clusterId: "c",
});

/** A network whose answers the test gives, one per request, in order. */
class Network {
  readonly sent: { to: NodeId; request: RaftRequest }[] = [];
  readonly answers: { resolve(r: RaftResponse): void; reject(e: unknown): void }[] = [];
  send(to: NodeId, _node: unknown, request: RaftRequest): Promise<RaftResponse> {
    this.sent.push({ to, request });
    return new Promise((resolve, reject) => this.answers.push({ resolve, reject }));
  }
  installSnapshot(): Promise<never> {
    return Promise.reject(new Error("not in this test"));
  }
}

function setup(
  options: { cachedUpTo: number; maxAppendBytes?: number; entry?: (index: number) => Entry },
) {
  const make = options.entry ?? entry;
  const range = (first: number, last: number) => {
    const es: Entry[] = [];
    for (let i = first; i <= last; i++) es.push(make(i));
    return es;
  };
  const network = new Network();
  const reads: { first: number; last: number; resolve(): void; reject(e: unknown): void }[] = [];
  const io = {
    cached: (first: number, last: number) => last <= options.cachedUpTo ? range(first, last) : null,
    entries: (first: number, last: number) =>
      new Promise<Entry[]>((resolve, reject) =>
        reads.push({ first, last, resolve: () => resolve(range(first, last)), reject })
      ),
  };
  const logs: string[] = [];
  const log = (level: string) => (message: string) => logs.push(`${level}: ${message}`);
  const logger: Logger = {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
  };
  const events: string[] = [];
  const sender = new PeerSender({
    network: network as unknown as RaftNetwork,
    io: io as unknown as LogIo,
    stateMachine: { currentSnapshot: () => Promise.resolve(null) },
    logger,
    tracer: null,
    now: () => performance.now(),
    time: () => performance.now(),
    snapshotChunkSize: 1024,
    maxAppendBytes: options.maxAppendBytes ?? 1 << 20,
    node: () => ({ addr: "" }),
    received: (from, res, sentAt) => {
      sender.answered(res, sentAt, performance.now());
      events.push(`received ${from} ${res.type}`);
    },
    unreachable: (peer) => events.push(`unreachable ${peer}`),
  });
  const sentRanges = () =>
    network.sent.map(({ request }) => {
      const es = (request as AppendRequest).entries;
      return es.length === 0 ? "heartbeat" : `${es[0]!.index}-${es[es.length - 1]!.index}`;
    });
  return { network, reads, sender, logs, events, sentRanges };
}

test("peer sender: appends stay in order behind a store read; heartbeats do not wait", async () => {
  const { reads, sender, sentRanges } = setup({ cachedUpTo: 10 });
  sender.replicate(2, plan(5, 10)); // cached: sent at once
  sender.replicate(2, plan(11, 20)); // must be read
  sender.replicate(2, plan(8, 9)); // cached, but behind the read: waits
  sender.replicate(2, plan(21, 20)); // a heartbeat: never waits
  sender.replicate(3, plan(1, 4)); // another peer: its own order
  await settle();
  assert.deepEqual(sentRanges(), ["5-10", "heartbeat", "1-4"]);
  assert.deepEqual(reads.map((r) => `${r.first}-${r.last}`), ["11-20"]);
  reads[0]!.resolve();
  await settle();
  assert.deepEqual(sentRanges(), ["5-10", "heartbeat", "1-4", "11-20"]);
  // Behind a read, entries come from the store, cached or not.
  assert.deepEqual(reads.map((r) => `${r.first}-${r.last}`), ["11-20", "8-9"]);
  reads[1]!.resolve();
  await settle();
  assert.deepEqual(sentRanges(), ["5-10", "heartbeat", "1-4", "11-20", "8-9"]);
  // The chain is gone: a cached append goes at once again.
  sender.replicate(2, plan(1, 2));
  assert.deepEqual(sentRanges().at(-1), "1-2");
});

test("peer sender: a store read that fails makes the peer unreachable, and the chain goes on", async () => {
  const { reads, sender, logs, events, sentRanges } = setup({ cachedUpTo: 0 });
  sender.replicate(2, plan(1, 5));
  sender.replicate(2, plan(6, 7));
  await settle();
  reads[0]!.reject(new Error("disk"));
  await settle();
  assert.deepEqual(events, ["unreachable 2"]);
  assert.ok(logs.includes("warn: cannot read entries to replicate"));
  reads[1]!.resolve();
  await settle();
  assert.deepEqual(sentRanges(), ["6-7"]);
});

test("peer sender: responses go to the engine; a failed append (not a failed vote) makes the peer unreachable", async () => {
  const { network, sender, events, logs } = setup({ cachedUpTo: 100 });
  sender.replicate(2, plan(1, 1));
  sender.send(3, {
    type: "vote",
    term: 2,
    candidateId: 1,
    lastLogId: null,
    transfer: false,
    clusterId: "c",
  });
  sender.replicate(4, plan(1, 1));
  network.answers[0]!.resolve({
    type: "append-response",
    term: 1,
    result: { kind: "success", matched: { term: 1, index: 1 } },
    round: 1,
  } as unknown as RaftResponse);
  network.answers[1]!.reject(new Unreachable(3));
  network.answers[2]!.reject(new Unreachable(4));
  await settle();
  assert.deepEqual(events, ["received 2 append-response", "unreachable 4"]);
  assert.equal(logs.filter((l) => l === "warn: peer unreachable").length, 2);
});

test("peer sender: a peer that stops answering is logged once per transition, not per failed send", async () => {
  const { network, sender, logs } = setup({ cachedUpTo: 100 });
  for (let i = 1; i <= 5; i++) sender.replicate(2, plan(i, i));
  for (let i = 0; i < 5; i++) network.answers[i]!.reject(new Unreachable(2));
  await settle();
  assert.deepEqual(logs, ["warn: peer unreachable"]);
  sender.replicate(2, plan(6, 6));
  sender.replicate(2, plan(7, 7));
  const ok = { type: "append-response", term: 1, round: 1, success: true, index: 6 };
  network.answers[5]!.resolve(ok as unknown as RaftResponse);
  network.answers[6]!.resolve(ok as unknown as RaftResponse);
  await settle();
  assert.deepEqual(logs, ["warn: peer unreachable", "info: peer reachable again"]);
  sender.replicate(2, plan(8, 8));
  network.answers[7]!.reject(new Unreachable(2));
  await settle();
  assert.equal(logs.filter((l) => l === "warn: peer unreachable").length, 2);
  const sent = sender.rpcs.sentCounts().append;
  assert.deepEqual(sent, { ok: 2, rejected: 0, refused: 0, error: 6 });
});

test("peer sender: a peer of another cluster is remembered and logged once, until it answers", async () => {
  const { network, sender, logs } = setup({ cachedUpTo: 100 });
  const refuse = () => new Unreachable(2, { cause: new ClusterMismatch("c", "other", 2) });
  assert.equal(sender.refusal(2), undefined);
  sender.replicate(2, plan(1, 1));
  sender.replicate(2, plan(2, 2));
  network.answers[0]!.reject(refuse());
  network.answers[1]!.reject(refuse());
  await settle();
  assert.equal(sender.refusal(2)?.got, "other");
  const errors = logs.filter((l) => l.startsWith("error:"));
  assert.equal(errors.length, 1, "logged once while the peer keeps refusing");
  assert.equal(logs.filter((l) => l === "warn: peer unreachable").length, 0);
  assert.equal(sender.rpcs.sentCounts().append.refused, 2);
  sender.replicate(2, plan(3, 3));
  network.answers[2]!.resolve({ type: "append-response" } as unknown as RaftResponse);
  await settle();
  assert.equal(sender.refusal(2), undefined);
});

test("peer sender: clusterMismatchOf finds the mismatch itself, as a cause, or rebuilt from its fields", () => {
  const m = new ClusterMismatch("a", "b", 3);
  assert.equal(clusterMismatchOf(m), m);
  assert.equal(clusterMismatchOf(new Unreachable(3, { cause: m })), m);
  // Across a boundary that lost the class (e.g. a decoded error body): rebuilt from its fields.
  const plain = Object.assign(new Error("refused"), {
    code: "ClusterMismatch",
    expected: "a",
    got: "b",
    from: 3,
  });
  const rebuilt = clusterMismatchOf(new Error("wrapped", { cause: plain }));
  assert.ok(rebuilt instanceof ClusterMismatch);
  assert.deepEqual([rebuilt.expected, rebuilt.got, rebuilt.from], ["a", "b", 3]);
  // Not too deep, not malformed, not an error at all.
  const deep = new Error("1", { cause: new Error("2", { cause: new Error("3", { cause: m }) }) });
  assert.equal(clusterMismatchOf(deep), null);
  assert.equal(clusterMismatchOf(Object.assign(new Error("x"), { code: "ClusterMismatch" })), null);
  assert.equal(clusterMismatchOf("ClusterMismatch"), null);
});

test("peer sender: a plan's entries over maxAppendBytes go as consecutive requests, each within it", async () => {
  const KiB = 1024;
  // Entry 4 is larger than the bound by itself (it goes alone); the others 400 KiB.
  const sized = (index: number): Entry => ({
    term: 1,
    index,
    type: "normal",
    data: new Uint8Array(index === 4 ? 1100 * KiB : 400 * KiB).fill(index),
  });
  const max = 1024 * KiB;
  const { network, reads, sender, sentRanges } = setup({
    cachedUpTo: 6,
    maxAppendBytes: max,
    entry: sized,
  });
  sender.replicate(2, plan(1, 6)); // cached
  sender.replicate(2, plan(7, 9)); // read from the store
  await settle();
  reads[0]!.resolve();
  await settle();
  assert.deepEqual(sentRanges(), ["1-2", "3-3", "4-4", "5-6", "7-8", "9-9"]);
  let prev: number | null = null;
  for (const { to, request } of network.sent) {
    const r = request as AppendRequest;
    assert.equal(to, 2);
    assert.equal(r.prevLogId?.index ?? null, prev, "each request continues the one before");
    prev = r.entries[r.entries.length - 1]!.index;
    const size = encodeMessage(r).byteLength;
    if (r.entries.length > 1 || r.entries[0]!.index !== 4) {
      assert.ok(size <= max, `request ${sentRanges()} of ${size} bytes within ${max}`);
    }
    assert.equal(r.term, 1);
    assert.equal(r.round, 1);
    assert.equal(r.clusterId, "c");
  }
  // A plan that fits is one request, as before.
  sender.replicate(3, plan(1, 2));
  assert.equal(sentRanges().at(-1), "1-2");
});

test("peer sender: close aborts every call in flight (requests and snapshot transfers) and sends nothing more", async () => {
  const signals: { kind: string; signal: AbortSignal }[] = [];
  const never = () => new Promise<never>(() => {});
  let opened = 0;
  const events: string[] = [];
  const logs: string[] = [];
  const log = (message: string) => logs.push(message);
  const sender = new PeerSender({
    network: {
      send: (_to, _node, _request, options) => {
        signals.push({ kind: "send", signal: options!.signal! });
        return never();
      },
      installSnapshot: (_to, _node, _request, _data, options) => {
        signals.push({ kind: "snapshot", signal: options!.signal! });
        return never();
      },
    },
    io: { cached: (first: number, last: number) => range(first, last) } as unknown as LogIo,
    stateMachine: {
      currentSnapshot: () =>
        Promise.resolve({
          meta: {
            lastLogId: { term: 1, index: 5 },
            lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
            snapshotId: "s",
          },
          open: () => {
            opened++;
            return new ReadableStream<Uint8Array>({ pull: () => new Promise(() => {}) });
          },
        }),
    },
    logger: { debug: log, info: log, warn: log, error: log },
    tracer: null,
    now: () => performance.now(),
    time: () => performance.now(),
    snapshotChunkSize: 1024,
    maxAppendBytes: 1 << 20,
    node: () => ({ addr: "" }),
    received: (from, res) => events.push(`received ${from} ${res.type}`),
    unreachable: (peer) => events.push(`unreachable ${peer}`),
  });
  sender.replicate(2, plan(1, 3));
  void sender.sendSnapshot(3, 1, 1, "c");
  await settle();
  assert.deepEqual(signals.map((s) => s.kind), ["send", "snapshot"]);
  assert.ok(signals.every((s) => !s.signal.aborted));
  const reason = new Error("shutting down");
  sender.close(reason);
  assert.ok(sender.closed);
  assert.ok(signals.every((s) => s.signal.aborted && s.signal.reason === reason));
  // Nothing is sent once closed.
  sender.replicate(2, plan(4, 4));
  sender.send(2, { type: "timeout-now", term: 1, leaderId: 1, clusterId: "c" });
  await sender.sendSnapshot(4, 1, 1, "c");
  assert.equal(signals.length, 2);
  assert.equal(opened, 1, "no snapshot opened after close");
  assert.deepEqual(events, [], "nothing reported to a closed node");
});

function range(first: number, last: number): Entry[] {
  const es: Entry[] = [];
  for (let i = first; i <= last; i++) es.push(entry(i));
  return es;
}
