import { test } from "node:test";
import { followerMetrics } from "./_metrics.ts";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { SeededRandom } from "../../src/random.ts";
import type { RaftMetrics } from "../../src/runtime/metrics.ts";
import type { Entry } from "../../src/types.ts";
import { checkLinearizable, type Operation } from "../../testing/linearizability.ts";
import { NodeClock } from "../../testing/sim_clock.ts";
import { MacrotaskBarrier } from "../../testing/sim_drain.ts";
import { InvariantChecker } from "../../testing/sim_invariants.ts";
import { deriveProfile, FAULT_KINDS } from "../../testing/sim_profile.ts";
import { SimLogStore } from "../../testing/sim_store.ts";
import { type SimOp, swapRegisterModel } from "../../testing/sim_workload.ts";
import { formatViolation, Simulator } from "../../testing/simulator.ts";

/** Whole simulations take seconds (Bun's default limit per test is 5 s). */
const SLOW = { timeout: 300_000 };

async function settle(): Promise<void> {
  const b = new MacrotaskBarrier();
  await b.drain();
  b.close();
}

// ---- the barrier ------------------------------------------------------------------

test("sim: MacrotaskBarrier waits for every microtask, barrier after barrier", SLOW, async () => {
  const b = new MacrotaskBarrier();
  try {
    let notDrained = 0;
    for (let round = 0; round < 300; round++) {
      let done = false;
      const chain = (k: number): void => {
        if (k === 0) {
          done = true;
          return;
        }
        if (k % 3 === 0) queueMicrotask(() => chain(k - 1));
        else if (k % 3 === 1) void Promise.resolve().then(() => chain(k - 1));
        else {
          void (async () => {
            await null;
            await Promise.all([Promise.resolve(), null]);
            chain(k - 1);
          })();
        }
      };
      chain((round * 7) % 200);
      await b.drain();
      if (!done) notDrained++;
    }
    assert.equal(notDrained, 0);
  } finally {
    b.close();
  }
});

// ---- the node clock -----------------------------------------------------------------

test("sim: NodeClock adds an offset and a drift to the shared time", () => {
  const base = new ManualClock();
  const fast = new NodeClock(base, { offset: 500, drift: 0.25 });
  assert.equal(fast.now(), 500);
  const fired: number[] = [];
  fast.setTimer(50, () => fired.push(fast.now()));
  base.advance(39);
  assert.equal(fired.length, 0);
  base.advance(1); // 40 ms of shared time are 50 ms of the node's
  assert.deepEqual(fired, [550]);
  const cleared = fast.setTimer(1, () => fired.push(-1));
  fast.clearTimer(cleared);
  base.advance(10);
  assert.deepEqual(fired, [550]);
  assert.throws(() => new NodeClock(base, { drift: -1 }), RangeError);
});

test("sim: a paused NodeClock holds timers and callbacks until resumed, in order", () => {
  const base = new ManualClock();
  const clock = new NodeClock(base);
  const seen: string[] = [];
  clock.setTimer(10, () => seen.push(`timer@${clock.now()}`));
  clock.pause();
  base.advance(20);
  clock.whenRunning(() => seen.push("message"));
  assert.equal(seen.length, 0);
  clock.resume();
  base.advance(0);
  assert.deepEqual(seen, ["timer@20", "message"]);
  clock.whenRunning(() => seen.push("now"));
  assert.equal(seen[2], "now");
});

// ---- the store ------------------------------------------------------------------------

function entry(term: number, index: number): Entry {
  return { term, index, type: "blank" };
}

test(
  "sim: SimLogStore resolves a write only once synced; a crash keeps what was durable",
  SLOW,
  async () => {
    const clock = new ManualClock();
    const store = new SimLogStore({ node: 1, clock, random: new SeededRandom(1), fsyncMaxMs: 5 });
    let done = false;
    void Promise.resolve(store.append([entry(1, 1)])).then(() => done = true);
    await settle();
    assert.equal(done, false, "not durable yet");
    assert.equal(store.lastIndex(), 1);
    assert.equal(store.lastIndex("durable"), 0);
    clock.advance(5);
    await settle();
    assert.equal(done, true);
    assert.equal(store.termAt(1, "durable"), 1);
    let failed = false;
    void Promise.resolve(store.append([entry(2, 2)])).catch(() => failed = true);
    await settle();
    const restarted = store.crash();
    await settle();
    assert.equal(failed, true, "the interrupted write rejects");
    assert.equal(restarted.lastIndex(), 1, "the unsynced entry is lost");
    assert.equal((await restarted.logState()).lastLogId?.index, 1);
    const interrupted = Promise.resolve(restarted.append([entry(2, 2)])).catch((e: unknown) => e);
    await settle();
    const kept = restarted.crash(true);
    assert.equal(kept.lastIndex(), 2, "crash(true): the disk had written it");
    assert.ok((await interrupted) instanceof Error, "though the node never heard");
  },
);

test("sim: SimLogStore with fsyncMaxMs 0 is synchronous: durable when a write returns", async () => {
  const clock = new ManualClock();
  const store = new SimLogStore({ node: 1, clock, random: new SeededRandom(1), fsyncMaxMs: 0 });
  assert.equal(store.append([entry(1, 1)]), undefined);
  assert.equal(store.lastIndex("durable"), 1);
  assert.equal(store.saveVote({ term: 1, votedFor: 1, committed: false }), undefined);
  assert.equal(store.vote("durable")?.votedFor, 1);
  // A refused write is still a rejection.
  const bad = store.append([entry(1, 5)]);
  assert.ok(bad instanceof Promise);
  await assert.rejects(bad);
});

test("sim: SimLogStore faults: acks before durability, votes dropped", SLOW, async () => {
  const clock = new ManualClock();
  const early = new SimLogStore({
    node: 1,
    clock,
    random: new SeededRandom(1),
    fsyncMaxMs: 5,
    fault: "ack-before-sync",
  });
  let done = false;
  void Promise.resolve(early.append([entry(1, 1)])).then(() => done = true);
  await settle();
  assert.equal(done, true, "resolved before it is durable");
  assert.equal(early.crash().lastIndex(), 0, "and lost by a crash");

  const forgetful = new SimLogStore({
    node: 1,
    clock,
    random: new SeededRandom(1),
    fsyncMaxMs: 0,
    fault: "drop-vote",
  });
  await forgetful.saveVote({ term: 3, votedFor: 2, committed: false });
  assert.equal(forgetful.vote(), null);
});

// ---- the invariants ----------------------------------------------------------------------

/** The violated invariant (a function call, so that assertions do not narrow the checker). */
function violated(c: InvariantChecker): string | undefined {
  return c.violation?.invariant;
}

test("sim: InvariantChecker: log matching compares predecessors and payloads", () => {
  const a = new InvariantChecker();
  a.appended(1, [entry(1, 1), entry(1, 2)], 0);
  a.appended(2, [entry(1, 1), entry(1, 2)], 0);
  assert.equal(violated(a), undefined);
  a.appended(3, [entry(2, 1), entry(1, 2)], 0);
  assert.equal(violated(a), "log terms non-decreasing");

  const b = new InvariantChecker();
  b.appended(1, [entry(1, 1), entry(2, 2)], 0);
  b.appended(2, [entry(2, 2)], 2); // (2,2) after an entry of term 2 here, of term 1 there
  assert.equal(violated(b), "log matching");
});

test("sim: InvariantChecker: two leaders in a term, a leader that truncates", () => {
  const a = new InvariantChecker();
  a.started(1, 0, followerMetrics({ id: 1 }));
  a.started(2, 0, followerMetrics({ id: 2 }));
  a.metrics(1, 0, followerMetrics({ id: 1, state: "leader", currentTerm: 3 }));
  a.saved(2, { term: 3, votedFor: 2, committed: true });
  assert.equal(violated(a), "election safety");

  const b = new InvariantChecker();
  b.truncated(1, 5, [2, 2], { term: 2, votedFor: 1, committed: true });
  assert.equal(violated(b), "leader append-only");
});

test("sim: InvariantChecker: per-node monotonic term, vote, commit; index ordering", () => {
  const cases: [Partial<RaftMetrics>, Partial<RaftMetrics>, string][] = [
    [{ currentTerm: 3 }, { currentTerm: 2 }, "monotonic term"],
    [
      { vote: { term: 1, votedFor: 2, committed: false } },
      { vote: { term: 1, votedFor: 3, committed: false } },
      "vote within a term",
    ],
    [
      { vote: { term: 1, votedFor: 2, committed: true } },
      { vote: { term: 1, votedFor: 2, committed: false } },
      "vote within a term",
    ],
    [
      { committed: { term: 1, index: 4 }, lastLogIndex: 4 },
      { committed: { term: 1, index: 3 }, lastLogIndex: 4 },
      "monotonic commit",
    ],
    [{}, { committed: { term: 1, index: 5 }, lastLogIndex: 4 }, "index ordering"],
    [{}, { lastLogId: { term: 2, index: 1 }, lastLogIndex: 1 }, "entry term ≤ node term"],
  ];
  for (const [before, after, invariant] of cases) {
    const c = new InvariantChecker();
    c.started(1, 0, followerMetrics(before));
    c.metrics(1, 0, followerMetrics(after));
    assert.equal(violated(c), invariant, JSON.stringify(after));
  }
});

// ---- the model -----------------------------------------------------------------------------

test("sim: swapRegisterModel checks writes' previous values", () => {
  const op = (
    id: number,
    input: SimOp,
    output: string | null,
    call: number,
    ret: number,
  ): Operation<SimOp, string | null> => ({
    id,
    client: id,
    key: "k",
    input,
    output,
    call,
    ret,
    status: "ok",
  });
  const good = [
    op(0, { type: "write", value: "a" }, null, 0, 1),
    op(1, { type: "write", value: "b" }, "a", 2, 3),
    op(2, { type: "read", policy: "lease" }, "b", 4, 5),
  ];
  assert.equal(checkLinearizable(good, swapRegisterModel).result, "ok");
  const lostWrite = [
    op(0, { type: "write", value: "a" }, null, 0, 1),
    op(1, { type: "write", value: "b" }, null, 2, 3), // "a" vanished
  ];
  assert.equal(checkLinearizable(lostWrite, swapRegisterModel).result, "violation");
});

// ---- profiles -------------------------------------------------------------------------------

test("sim: profiles stay within sane bounds and vary with the seed", () => {
  const sizes = new Set<number>();
  for (let seed = 0; seed < 300; seed++) {
    const p = deriveProfile(seed);
    sizes.add(p.nodes);
    assert.ok(p.nodes >= 3 && p.nodes <= 7);
    assert.ok(p.initialVoters >= 3 && p.initialVoters <= p.nodes);
    assert.ok(p.heartbeatInterval < p.electionTimeoutMin);
    assert.ok(p.electionTimeoutMin < p.electionTimeoutMax);
    assert.ok(p.leaseMargin > 0 && p.leaseMargin < p.electionTimeoutMin);
    for (const d of p.drift) {
      // The lease margin covers the worst drift between two nodes.
      const rho = Math.abs(d);
      assert.ok((2 * rho / (1 + rho)) * p.electionTimeoutMin < p.leaseMargin);
    }
    for (const k of FAULT_KINDS) assert.ok(p.faultWeights[k] >= 0);
  }
  assert.equal(sizes.size, 5, "every cluster size from 3 to 7");
  assert.deepEqual(deriveProfile(9), deriveProfile(9));
});

// ---- whole runs -----------------------------------------------------------------------------

test("sim: seeds run clean: invariants, liveness, linearizability", SLOW, async () => {
  for (let seed = 1; seed <= 6; seed++) {
    const r = await new Simulator({ seed, steps: 1500, without: ["snapshot", "purge"] }).run();
    assert.ok(r.ok, r.violation === null ? "" : formatViolation(r.violation));
    assert.equal(r.linearizability, "ok");
    assert.ok(r.operations.ok > 0, "clients got answers");
    assert.ok(r.committed > 0);
  }
});

test("sim: the same seed gives the same trace; another seed another", SLOW, async () => {
  const a = await new Simulator({ seed: 77, steps: 800 }).run();
  const b = await new Simulator({ seed: 77, steps: 800 }).run();
  const c = await new Simulator({ seed: 78, steps: 800 }).run();
  assert.equal(a.traceHash, b.traceHash);
  assert.deepEqual(a.operations, b.operations);
  assert.notEqual(a.traceHash, c.traceHash);
});

test(
  "sim: one barrier per step drains everything, and nothing runs on real timers",
  SLOW,
  async () => {
    const g = globalThis as unknown as Record<string, unknown>;
    const names = ["setTimeout", "setInterval"] as const;
    const saved = names.map((n) => g[n]);
    const calls: string[] = [];
    names.forEach((n, i) => {
      const real = saved[i] as (...a: unknown[]) => unknown;
      g[n] = (...args: unknown[]) => {
        const stack = new Error().stack ?? "";
        if (/\/(src|adapters|testing)\//.test(stack)) calls.push(`${n}: ${stack}`);
        return real(...args);
      };
    });
    try {
      for (const seed of [3, 4]) {
        const r = await new Simulator({ seed, steps: 800, paranoidDrain: true }).run();
        assert.ok(r.ok, r.violation === null ? "" : formatViolation(r.violation));
      }
    } finally {
      names.forEach((n, i) => g[n] = saved[i]);
    }
    assert.deepEqual(calls, []);
  },
);

test("sim: options: without, steps, traceSize, onEvent", SLOW, async () => {
  const events: string[] = [];
  const r = await new Simulator({
    seed: 5,
    steps: 300,
    without: [...FAULT_KINDS],
    traceSize: 5,
    liveness: false,
    onEvent: (e) => events.push(e),
  }).run();
  assert.ok(r.ok);
  assert.ok(r.steps === 300);
  assert.ok(events.length > 5);
  assert.ok(!events.some((e) => /crash|partition|isolate|pause/.test(e)), "no faults injected");
  assert.throws(() => new Simulator({ seed: 1.5 }), RangeError);
  const sim = new Simulator({ seed: 1, steps: 1, liveness: false });
  await sim.run();
  await assert.rejects(() => sim.run(), /runs once/);
});

test("sim: swapRegisterModel's CAS swaps only from the expected value", () => {
  const cas = { type: "cas", from: "a", to: "b" } as const;
  assert.deepEqual(swapRegisterModel.step("a", cas, "a"), { ok: true, state: "b" });
  assert.deepEqual(swapRegisterModel.step("x", cas, "x"), { ok: true, state: "x" });
  assert.equal(swapRegisterModel.step("x", cas, "a").ok, false, "must report what it found");
  assert.deepEqual(swapRegisterModel.step("a", cas, undefined), { ok: true, state: "b" });
});
