import { test } from "node:test";
import assert from "node:assert/strict";
import {
  MemoryNetwork,
  type MemoryNetworkOptions,
  NetworkError,
  type RequestHandler,
  type RequestType,
} from "../../testing/memory_network.ts";
import { ManualClock } from "../../src/clock.ts";
import { SeededRandom } from "../../src/random.ts";
import { RaftError } from "../../src/errors.ts";
import {
  type RaftRequest,
  type RaftResponse,
  REQUEST_TYPES,
  type VoteRequest,
} from "../../src/messages.ts";
import { EMPTY_MEMBERSHIP, type NodeId } from "../../src/types.ts";

const NODE = { addr: "" };

function vote(term: number, candidateId: NodeId = 1): VoteRequest {
  return { type: "vote", term, candidateId, lastLogId: null, transfer: false, clusterId: "" };
}

interface Received {
  readonly at: NodeId;
  readonly from: NodeId;
  readonly request: RaftRequest;
}

/** A network whose nodes answer every request with a granted vote echoing its term. */
function setup(
  nodes: readonly NodeId[],
  options: MemoryNetworkOptions = {},
): { net: MemoryNetwork; received: Received[] } {
  const net = new MemoryNetwork(options);
  const received: Received[] = [];
  for (const id of nodes) {
    net.register(id, (from, request) => {
      received.push({ at: id, from, request });
      return Promise.resolve({ type: "vote-response", term: request.term, granted: true });
    });
  }
  return { net, received };
}

/** Lets every pending promise callback run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** `"pending"`, or what the promise settled with, after callbacks ran. */
async function state<T>(p: Promise<T>): Promise<"pending" | { value: T } | { error: unknown }> {
  let result: "pending" | { value: T } | { error: unknown } = "pending";
  p.then((value) => result = { value }, (error) => result = { error });
  await settle();
  return result;
}

async function failure(p: Promise<unknown>): Promise<NetworkError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof NetworkError, `expected a NetworkError, got ${String(e)}`);
    return e;
  }
  assert.fail("expected a rejection");
}

test("memory network: delivers a request to the target's handler and returns its response", async () => {
  const { net, received } = setup([1, 2]);
  const request = vote(5);
  const response = await net.client(1).send(2, NODE, request);
  assert.deepEqual(response, { type: "vote-response", term: 5, granted: true });
  assert.equal(received.length, 1);
  assert.equal(received[0]!.at, 2);
  assert.equal(received[0]!.from, 1);
  assert.equal(received[0]!.request, request); // no copy on the direct path
  assert.deepEqual(net.counts("vote"), {
    sent: 1,
    delivered: 1,
    dropped: 0,
    responsesLost: 0,
    duplicated: 0,
  });
  assert.equal(net.counts("append").sent, 0);
});

test("memory network: the direct path uses no timers", async () => {
  const clock = new ManualClock();
  const { net } = setup([1, 2], { clock });
  const p = net.client(1).send(2, NODE, vote(1));
  assert.equal(clock.pending, 0);
  assert.deepEqual(await state(p), { value: { type: "vote-response", term: 1, granted: true } });
});

test("memory network: an unknown target rejects with NetworkError unknown-node", async () => {
  const { net } = setup([1]);
  const err = await failure(net.client(1).send(9, NODE, vote(1)));
  assert.equal(err.reason, "unknown-node");
  assert.equal(err.from, 1);
  assert.equal(err.to, 9);
  assert.ok(err instanceof RaftError);
  assert.equal(err.toJSON().code, "NetworkError");
  assert.equal(net.counts().dropped, 1);
});

test("memory network: register twice throws; unregister makes the node unknown", async () => {
  const { net, received } = setup([1, 2]);
  assert.throws(() => net.register(2, () => Promise.reject(new Error("x"))), /already registered/);
  net.unregister(2);
  assert.equal(net.isRegistered(2), false);
  assert.equal((await failure(net.client(1).send(2, NODE, vote(1)))).reason, "unknown-node");
  assert.equal(received.length, 0);
  net.register(
    2,
    (_from, req) => Promise.resolve({ type: "vote-response", term: req.term, granted: false }),
  );
  assert.equal((await net.client(1).send(2, NODE, vote(1))).type, "vote-response");
});

test("memory network: a handler's rejection (or throw) reaches the sender as is", async () => {
  const net = new MemoryNetwork();
  const boom = new Error("handler failed");
  net.register(1, () => Promise.reject(boom));
  net.register(
    2,
    (() => {
      throw boom;
    }) as RequestHandler,
  );
  await assert.rejects(net.client(3).send(1, NODE, vote(1)), (e) => e === boom);
  await assert.rejects(net.client(3).send(2, NODE, vote(1)), (e) => e === boom);
  net.dropRate = 0.000001; // the faulty path too
  await assert.rejects(net.client(3).send(1, NODE, vote(1)), (e) => e === boom);
  await assert.rejects(net.client(3).send(2, NODE, vote(1)), (e) => e === boom);
});

test("memory network: isolate cuts a node off both ways until rejoin", async () => {
  const { net, received } = setup([1, 2, 3]);
  net.isolate(3);
  assert.equal((await failure(net.client(1).send(3, NODE, vote(1)))).reason, "partitioned");
  assert.equal((await failure(net.client(3).send(1, NODE, vote(1)))).reason, "partitioned");
  await net.client(1).send(2, NODE, vote(1));
  assert.deepEqual(received.map((r) => r.at), [2]);
  assert.equal(net.counts().dropped, 2);
  net.rejoin(3);
  await net.client(1).send(3, NODE, vote(1));
  await net.client(3).send(1, NODE, vote(1));
  assert.deepEqual(received.map((r) => r.at), [2, 3, 1]);
});

test("memory network: a one-way cut blocks requests one way and responses the other", async () => {
  const { net, received } = setup([1, 2]);
  net.cut(1, 2);
  assert.equal(net.canReach(1, 2), false);
  assert.equal(net.canReach(2, 1), true);
  // 1 → 2: the request never arrives.
  assert.equal((await failure(net.client(1).send(2, NODE, vote(1)))).reason, "partitioned");
  assert.equal(received.length, 0);
  // 2 → 1: the request arrives, node 1's answer is lost on the way back.
  const err = await failure(net.client(2).send(1, NODE, vote(2)));
  assert.equal(err.reason, "response-lost");
  assert.deepEqual(received.map((r) => [r.from, r.at]), [[2, 1]]);
  assert.equal(net.counts().responsesLost, 1);
  assert.equal(net.counts().delivered, 1);
  net.uncut(1, 2);
  await net.client(1).send(2, NODE, vote(3));
  await net.client(2).send(1, NODE, vote(4));
});

test("memory network: partition splits groups symmetrically; unlisted nodes are unaffected", async () => {
  const { net, received } = setup([1, 2, 3, 4, 5]);
  net.partition([1, 2], [3, 4]);
  await net.client(1).send(2, NODE, vote(1));
  await net.client(4).send(3, NODE, vote(1));
  for (const [a, b] of [[1, 3], [3, 1], [2, 4], [4, 2]] as const) {
    assert.equal((await failure(net.client(a).send(b, NODE, vote(1)))).reason, "partitioned");
  }
  await net.client(5).send(1, NODE, vote(1));
  await net.client(3).send(5, NODE, vote(1));
  assert.deepEqual(received.map((r) => r.at), [2, 3, 1, 5]);
  assert.throws(() => net.partition([1, 2], [2, 3]), /two groups/);
});

test("memory network: heal ends isolation, partitions and cuts but keeps rates", () => {
  const { net } = setup([1, 2, 3]);
  net.isolate(1);
  net.partition([2], [3]);
  net.cut(3, 1);
  net.duplicateRate = 0.5;
  net.heal();
  for (const [a, b] of [[1, 2], [2, 3], [3, 2], [3, 1]] as const) {
    assert.equal(net.canReach(a, b), true);
  }
  assert.equal(net.duplicateRate, 0.5);
});

test("memory network: rejoin removes only the links of that node", () => {
  const { net } = setup([1, 2, 3]);
  net.partition([1], [2], [3]);
  net.rejoin(1);
  assert.equal(net.canReach(1, 2), true);
  assert.equal(net.canReach(3, 1), true);
  assert.equal(net.canReach(2, 3), false);
  assert.equal(net.canReach(3, 2), false);
});

async function dropRun(seed: number, rate: number, n: number): Promise<string> {
  const { net } = setup([1, 2], { random: new SeededRandom(seed), dropRate: rate });
  let outcomes = "";
  for (let i = 0; i < n; i++) {
    try {
      await net.client(1).send(2, NODE, vote(i));
      outcomes += "o";
    } catch (e) {
      assert.ok(e instanceof NetworkError);
      outcomes += e.reason === "dropped" ? "d" : "r";
    }
  }
  const c = net.counts();
  assert.equal(c.sent, n);
  assert.equal(c.sent, c.delivered + c.dropped);
  assert.equal([...outcomes].filter((x) => x === "d").length, c.dropped);
  assert.equal([...outcomes].filter((x) => x === "r").length, c.responsesLost);
  return outcomes;
}

test("memory network: random drops follow the seeded rate and replay exactly", async () => {
  const a = await dropRun(42, 0.3, 1000);
  const b = await dropRun(42, 0.3, 1000);
  const other = await dropRun(43, 0.3, 1000);
  assert.equal(a, b);
  assert.notEqual(a, other);
  const ok = [...a].filter((x) => x === "o").length;
  // Both legs survive with probability 0.7² = 0.49.
  assert.ok(ok > 400 && ok < 580, `successes ${ok} far from 490`);
  assert.ok(a.includes("d") && a.includes("r"));
  assert.equal(await dropRun(1, 0, 50), "o".repeat(50));
  assert.equal(await dropRun(1, 1, 50), "d".repeat(50));
});

test("memory network: duplicates deliver a request twice and answer once", async () => {
  const { net, received } = setup([1, 2], { duplicateRate: 1 });
  const response = await net.client(1).send(2, NODE, vote(7));
  assert.deepEqual(response, { type: "vote-response", term: 7, granted: true });
  await settle();
  assert.equal(received.length, 2);
  assert.equal(received[0]!.request, received[1]!.request);
  assert.deepEqual(net.counts("vote"), {
    sent: 1,
    delivered: 2,
    dropped: 0,
    responsesLost: 0,
    duplicated: 1,
  });
});

test("memory network: a duplicate whose handler rejects is discarded quietly", async () => {
  const net = new MemoryNetwork({ duplicateRate: 1 });
  let calls = 0;
  net.register(2, (_from, req) => {
    calls++;
    return calls === 1
      ? Promise.resolve({ type: "vote-response", term: req.term, granted: true })
      : Promise.reject(new Error("second delivery fails"));
  });
  const response = await net.client(1).send(2, NODE, vote(1));
  assert.equal(response.type, "vote-response");
  await settle();
  assert.equal(calls, 2);
});

test("memory network: a seeded duplicate rate duplicates some requests, reproducibly", async () => {
  async function run(seed: number): Promise<number[]> {
    const { net, received } = setup([1, 2], {
      random: new SeededRandom(seed),
      duplicateRate: 0.25,
    });
    for (let i = 0; i < 200; i++) await net.client(1).send(2, NODE, vote(i));
    await settle();
    assert.equal(received.length, 200 + net.counts().duplicated);
    return received.map((r) => r.request.term);
  }
  const a = await run(9);
  assert.deepEqual(a, await run(9));
  const dups = a.length - 200;
  assert.ok(dups > 25 && dups < 80, `duplicates ${dups} far from 50`);
});

test("memory network: delay holds each leg on the clock", async () => {
  const clock = new ManualClock();
  const { net, received } = setup([1, 2], { clock, delay: { min: 10, max: 10 } });
  const p = net.client(1).send(2, NODE, vote(1));
  assert.equal(net.inFlight, 1);
  clock.advance(9);
  assert.equal(received.length, 0);
  clock.advance(1);
  assert.equal(received.length, 1); // the request arrived at t=10
  assert.equal(await state(p), "pending"); // the response is on its way
  assert.equal(net.inFlight, 1);
  clock.advance(9);
  assert.equal(await state(p), "pending");
  clock.advance(1);
  assert.deepEqual(await state(p), { value: { type: "vote-response", term: 1, granted: true } });
  assert.equal(net.inFlight, 0);
});

test("memory network: random delays reorder messages, reproducibly, and deliver them all", async () => {
  async function arrivalOrder(seed: number): Promise<number[]> {
    const clock = new ManualClock();
    const { net, received } = setup([1, 2], {
      clock,
      random: new SeededRandom(seed),
      delay: { min: 0, max: 100 },
    });
    const sends: Promise<RaftResponse>[] = [];
    for (let i = 0; i < 50; i++) sends.push(net.client(1).send(2, NODE, vote(i)));
    clock.advance(100);
    await settle();
    clock.advance(100);
    const responses = await Promise.all(sends);
    assert.deepEqual(responses.map((r) => r.term), [...Array(50).keys()]);
    return received.map((r) => r.request.term);
  }
  const order = await arrivalOrder(5);
  assert.deepEqual([...order].sort((a, b) => a - b), [...Array(50).keys()]);
  assert.notDeepEqual(order, [...Array(50).keys()]);
  assert.deepEqual(order, await arrivalOrder(5));
  assert.notDeepEqual(order, await arrivalOrder(6));
});

test("memory network: a blocked request fails after its delay, not before", async () => {
  const clock = new ManualClock();
  const { net } = setup([1, 2], { clock, delay: { min: 20, max: 20 } });
  net.isolate(2);
  const p = net.client(1).send(2, NODE, vote(1));
  assert.equal(await state(p), "pending");
  clock.advance(20);
  const s = await state(p);
  assert.ok(s !== "pending" && "error" in s);
  assert.ok(s.error instanceof NetworkError && s.error.reason === "partitioned");
});

test("memory network: a partition that starts while a message is in flight drops it on arrival", async () => {
  const clock = new ManualClock();
  const { net, received } = setup([1, 2], { clock, delay: { min: 10, max: 10 } });
  const request = net.client(1).send(2, NODE, vote(1));
  clock.advance(5);
  net.isolate(2);
  clock.advance(5);
  assert.equal(received.length, 0);
  assert.equal((await failure(request)).reason, "partitioned");
  // And a response in flight is lost if the way back closes meanwhile.
  net.heal();
  const second = net.client(1).send(2, NODE, vote(2));
  clock.advance(10);
  await settle();
  assert.equal(received.length, 1);
  net.cut(2, 1);
  clock.advance(10);
  assert.equal((await failure(second)).reason, "response-lost");
});

test("memory network: a message blocked when it leaves stays lost even if the link heals in flight", async () => {
  const clock = new ManualClock();
  const { net, received } = setup([1, 2], { clock, delay: { min: 10, max: 10 } });
  net.isolate(2);
  const request = net.client(1).send(2, NODE, vote(1));
  net.heal();
  clock.advance(10);
  assert.equal((await failure(request)).reason, "partitioned");
  assert.equal(received.length, 0);
  // The answer leaves while the way back is cut, and the cut heals before it would arrive.
  let answer: (() => void) | undefined;
  net.unregister(2);
  net.register(
    2,
    (_from, req) =>
      new Promise((resolve) =>
        answer = () => resolve({ type: "vote-response", term: req.term, granted: true })
      ),
  );
  const second = net.client(1).send(2, NODE, vote(2));
  clock.advance(10);
  net.cut(2, 1);
  answer!();
  await settle();
  net.heal();
  clock.advance(10);
  assert.equal((await failure(second)).reason, "response-lost");
});

test("memory network: an aborted signal rejects with its reason before sending", async () => {
  const { net, received } = setup([1, 2]);
  const controller = new AbortController();
  const reason = new Error("gave up");
  controller.abort(reason);
  await assert.rejects(
    net.client(1).send(2, NODE, vote(1), { signal: controller.signal }),
    (e) => e === reason,
  );
  assert.equal(received.length, 0);
  assert.equal(net.counts().sent, 0);
});

test("memory network: aborting while waiting for the handler rejects the sender", async () => {
  const net = new MemoryNetwork();
  let answer: ((r: RaftResponse) => void) | undefined;
  net.register(2, () => new Promise((resolve) => answer = resolve));
  const controller = new AbortController();
  const p = net.client(1).send(2, NODE, vote(1), { signal: controller.signal });
  assert.equal(await state(p), "pending");
  controller.abort(new Error("timeout"));
  const s = await state(p);
  assert.ok(s !== "pending" && "error" in s && (s.error as Error).message === "timeout");
  answer!({ type: "vote-response", term: 1, granted: true }); // late answer: ignored
  await settle();
  // A signal that never fires does not disturb a normal answer.
  const q = net.client(1).send(2, NODE, vote(2), { signal: new AbortController().signal });
  answer!({ type: "vote-response", term: 2, granted: true });
  assert.deepEqual(await state(q), { value: { type: "vote-response", term: 2, granted: true } });
});

test("memory network: aborting a delayed request rejects at once; the request still arrives", async () => {
  const clock = new ManualClock();
  const { net, received } = setup([1, 2], { clock, delay: { min: 10, max: 10 } });
  const controller = new AbortController();
  const p = net.client(1).send(2, NODE, vote(1), { signal: controller.signal });
  controller.abort("stop");
  assert.deepEqual(await state(p), { error: "stop" });
  assert.equal(net.inFlight, 1);
  clock.advance(10);
  assert.equal(received.length, 1);
  await settle();
  assert.equal(net.inFlight, 0); // nobody waits for the answer: it is not sent
});

test("memory network: cloneMessages delivers copies of requests and responses", async () => {
  const net = new MemoryNetwork({ cloneMessages: true });
  const sent: RaftResponse = { type: "vote-response", term: 1, granted: true };
  let got: RaftRequest | undefined;
  net.register(2, (_from, req) => {
    got = req;
    return Promise.resolve(sent);
  });
  const request: RaftRequest = {
    clusterId: "",
    type: "append",
    term: 1,
    leaderId: 1,
    prevLogId: null,
    entries: [{ term: 1, index: 1, type: "normal", data: new Uint8Array([1, 2]) }],
    leaderCommit: 0,
    round: 1,
  };
  const response = await net.client(1).send(2, NODE, request);
  assert.notEqual(got, request);
  assert.deepEqual(got, request);
  assert.notEqual(response, sent);
  assert.deepEqual(response, sent);
});

test("memory network: counts per request type, summed, and reset", async () => {
  const { net } = setup([1, 2, 3]);
  await net.client(1).send(2, NODE, vote(1));
  await net.client(1).send(2, NODE, { ...vote(1), type: "pre-vote" });
  await net.client(1).send(2, NODE, { clusterId: "", type: "timeout-now", term: 1, leaderId: 1 });
  net.isolate(3);
  await failure(net.client(1).send(3, NODE, vote(1)));
  assert.equal(net.counts("vote").sent, 2);
  assert.equal(net.counts("vote").dropped, 1);
  assert.equal(net.counts("pre-vote").delivered, 1);
  assert.equal(net.counts("timeout-now").delivered, 1);
  assert.deepEqual(net.counts(), {
    sent: 4,
    delivered: 3,
    dropped: 1,
    responsesLost: 0,
    duplicated: 0,
  });
  net.resetCounts();
  assert.equal(net.counts().sent, 0);
});

test("memory network: counts every request type of REQUEST_TYPES", async () => {
  const net = new MemoryNetwork();
  net.register(2, (_from, request) => {
    if (request.type === "install-snapshot") {
      return Promise.resolve({
        type: "install-snapshot-response",
        term: request.term,
        lastLogId: request.meta.lastLogId,
      });
    }
    return Promise.resolve({ type: "vote-response", term: request.term, granted: false });
  });
  const client = net.client(1);
  const requests: { readonly [T in RequestType]: RaftRequest & { readonly type: T } } = {
    "append": {
      type: "append",
      clusterId: "",
      term: 1,
      leaderId: 1,
      prevLogId: null,
      entries: [],
      leaderCommit: 0,
      round: 1,
    },
    "vote": { ...vote(1), type: "vote" },
    "pre-vote": { ...vote(1), type: "pre-vote" },
    "timeout-now": { type: "timeout-now", clusterId: "", term: 1, leaderId: 1 },
    "install-snapshot": {
      type: "install-snapshot",
      clusterId: "",
      term: 1,
      leaderId: 1,
      meta: {
        lastLogId: { term: 1, index: 3 },
        lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
        snapshotId: "s",
      },
    },
    "read-index": { type: "read-index", clusterId: "", term: 1, readerId: 1 },
  };
  for (const type of REQUEST_TYPES) {
    const request = requests[type];
    if (request.type === "install-snapshot") {
      await client.installSnapshot(2, NODE, request, new Blob([new Uint8Array(3)]).stream());
    } else {
      await client.send(2, NODE, request);
    }
  }
  for (const type of REQUEST_TYPES) {
    assert.deepEqual(net.counts(type), {
      sent: 1,
      delivered: 1,
      dropped: 0,
      responsesLost: 0,
      duplicated: 0,
    }, type);
  }
  assert.equal(net.counts().delivered, REQUEST_TYPES.length);
});

test("memory network: rejects invalid rates and delays", () => {
  const net = new MemoryNetwork();
  assert.throws(() => net.dropRate = 1.5, RangeError);
  assert.throws(() => net.dropRate = -0.1, RangeError);
  assert.throws(() => net.duplicateRate = Number.NaN, RangeError);
  assert.throws(() => net.delay = { min: 5, max: 1 }, RangeError);
  assert.throws(() => net.delay = { min: -1, max: 1 }, RangeError);
  assert.throws(() => new MemoryNetwork({ dropRate: 2 }), RangeError);
  assert.equal(net.dropRate, 0);
  assert.equal(net.delay, null);
});
