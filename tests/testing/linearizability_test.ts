import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checkLinearizable,
  type CheckResult,
  HistoryRecorder,
  type Model,
  type Operation,
  type RegisterInput,
  registerModel,
  type RegisterOutput,
  type RegisterValue,
} from "../../testing/linearizability.ts";
import { generateRegisterHistory } from "../../testing/register_history.ts";
import { SeededRandom } from "../../src/random.ts";

type Op = Operation<RegisterInput, RegisterOutput>;

// ------------------------------------------------------------------ helpers

const W = (value: RegisterValue): RegisterInput => ({ type: "write", value });
const R: RegisterInput = { type: "read" };
const CAS = (from: RegisterValue, to: RegisterValue): RegisterInput => ({ type: "cas", from, to });

/** A completed operation; ids are given explicitly so that tests can name them. */
function ok(
  id: number,
  client: number,
  input: RegisterInput,
  output: RegisterOutput,
  call: number,
  ret: number,
  key?: string,
): Op {
  return {
    id,
    client,
    ...(key === undefined ? {} : { key }),
    input,
    output,
    call,
    ret,
    status: "ok",
  };
}

function unknown(id: number, client: number, input: RegisterInput, call: number): Op {
  return { id, client, input, call, ret: null, status: "unknown" };
}

function failed(id: number, client: number, input: RegisterInput, call: number, ret: number): Op {
  return { id, client, input, call, ret, status: "fail" };
}

function verdict(result: CheckResult): string {
  return result.result === "violation" ? `violation: ${result.message}` : result.result;
}

/**
 * Checks a witness independently of the checker: in each partition every
 * completed operation appears once (unknown ones at most once, failed ones
 * never), the order respects real time, and the model accepts it.
 */
function assertWitness(history: readonly Op[], result: CheckResult, byKey: boolean): void {
  assert.equal(result.result, "ok", verdict(result));
  if (result.result !== "ok") return;
  const byId = new Map(history.map((op) => [op.id, op]));
  const seen = new Set<number>();
  for (const { key, order } of result.linearizations) {
    let state = registerModel.init();
    let maxCall = -Infinity;
    for (const id of order) {
      const op = byId.get(id);
      assert.ok(op !== undefined, `unknown id ${id}`);
      assert.ok(!seen.has(id), `op ${id} linearized twice`);
      seen.add(id);
      assert.notEqual(op.status, "fail", `failed op ${id} linearized`);
      if (byKey) assert.equal(op.key, key, `op ${id} in the partition of another key`);
      // Real time: nothing placed before op may have been called after op returned.
      if (op.status === "ok") assert.ok(maxCall <= op.ret, `op ${id} placed after a later op`);
      maxCall = Math.max(maxCall, op.call);
      const r = registerModel.step(state, op.input, op.status === "ok" ? op.output : undefined);
      assert.ok(r.ok, `model rejects op ${id} in state ${String(state)}`);
      state = r.state;
    }
  }
  for (const op of history) {
    if (op.status === "ok") assert.ok(seen.has(op.id), `completed op ${op.id} missing`);
  }
}

/**
 * Checks a violation's explanation independently of the checker: `prefix`
 * is a linearizable prefix of the partition (the model accepts it, it
 * respects real time, and no completed operation outside it had to come
 * before it), and each `unplaced` operation could come next in real time
 * but does not fit the model after the prefix.
 */
function assertExplanation(history: readonly Op[], result: CheckResult): void {
  assert.equal(result.result, "violation");
  if (result.result !== "violation") return;
  const part = history.filter((op) => op.status !== "fail" && op.key === result.key);
  const byId = new Map(part.map((op) => [op.id, op]));
  const inPrefix = new Set(result.prefix);
  assert.equal(inPrefix.size, result.prefix.length, "prefix repeats an op");
  let state = registerModel.init();
  let maxCall = -Infinity;
  for (const id of result.prefix) {
    const op = byId.get(id);
    assert.ok(op !== undefined, `prefix op ${id} not in the partition`);
    if (op.status === "ok") assert.ok(maxCall <= op.ret, `prefix op ${id} out of real-time order`);
    maxCall = Math.max(maxCall, op.call);
    const r = registerModel.step(state, op.input, op.status === "ok" ? op.output : undefined);
    assert.ok(r.ok, `model rejects prefix op ${id}`);
    state = r.state;
  }
  const outside = part.filter((op) => op.status === "ok" && !inPrefix.has(op.id));
  assert.ok(outside.length > 0, "every completed op is in the prefix");
  for (const op of outside) {
    if (op.status === "ok") assert.ok(op.ret >= maxCall, `op ${op.id} should precede the prefix`);
  }
  assert.ok(result.unplaced.length > 0, "nothing unplaced");
  for (const id of result.unplaced) {
    const op = byId.get(id);
    assert.ok(op !== undefined && op.status === "ok" && !inPrefix.has(id), `unplaced op ${id}`);
    const mayGoNext = outside.every((p) => p === op || p.status !== "ok" || p.ret >= op.call);
    assert.ok(mayGoNext, `unplaced op ${id} cannot come next`);
    assert.equal(registerModel.step(state, op.input, op.output).ok, false, `op ${id} fits`);
  }
}

/**
 * The register without key, equal or readOnly: memoized with Object.is on
 * the (primitive) states, and no read is linearized greedily.
 */
const plainRegister: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  init: () => null,
  step: (state, input, output) => registerModel.step(state, input, output),
};

/**
 * Exhaustive check without memoization, for small histories: tries every
 * order of the operations that respects real time; unknown operations may
 * be left out.
 */
function bruteForce(history: readonly Op[]): boolean {
  const live = history.filter((op) => op.status !== "fail");
  const placed = new Set<number>();
  const rec = (state: RegisterValue): boolean => {
    if (live.every((op) => op.status !== "ok" || placed.has(op.id))) return true;
    for (const op of live) {
      if (placed.has(op.id)) continue;
      const blocked = live.some((p) =>
        p !== op && !placed.has(p.id) && p.status === "ok" && p.ret < op.call
      );
      if (blocked) continue;
      const r = registerModel.step(state, op.input, op.status === "ok" ? op.output : undefined);
      if (!r.ok) continue;
      placed.add(op.id);
      if (rec(r.state)) return true;
      placed.delete(op.id);
    }
    return false;
  };
  return rec(registerModel.init());
}

function replaceOp(history: readonly Op[], replacement: Op): Op[] {
  return history.map((op) => op.id === replacement.id ? replacement : op);
}

/** Operations that set a key to a value, when they certainly did: ok writes and ok successful CASes. */
function certainWrite(op: Op): RegisterValue | undefined {
  if (op.status !== "ok") return undefined;
  if (op.input.type === "write") return op.input.value;
  if (op.input.type === "cas" && op.output === true) return op.input.to;
  return undefined;
}

// ---------------------------------------------------------- register model

test("linearizability: registerModel implements read, write and compare-and-set", () => {
  const m = registerModel;
  assert.equal(m.init(), null);
  assert.deepEqual(m.step(null, R, null), { ok: true, state: null });
  assert.equal(m.step(null, R, "a").ok, false);
  assert.equal(m.step("a", R, "a").ok, true);
  assert.equal(m.step("a", R, true).ok, false);
  assert.equal(m.step("a", R, undefined).ok, true); // unknown read: anything
  assert.deepEqual(m.step("a", W("b"), null), { ok: true, state: "b" });
  assert.deepEqual(m.step("a", CAS("a", "b"), true), { ok: true, state: "b" });
  assert.equal(m.step("c", CAS("a", "b"), true).ok, false);
  assert.deepEqual(m.step("c", CAS("a", "b"), false), { ok: true, state: "c" });
  assert.equal(m.step("a", CAS("a", "b"), false).ok, false);
  assert.deepEqual(m.step("a", CAS("a", "b"), undefined), { ok: true, state: "b" });
  assert.deepEqual(m.step("c", CAS("a", "b"), undefined), { ok: true, state: "c" });
  // State keys: distinct for null, "" and other strings.
  const keys = [null, "", "=", "a"].map((s) => m.key!(s));
  assert.equal(new Set(keys).size, keys.length);
  assert.equal(m.readOnly!(R, "a"), true);
  assert.equal(m.readOnly!(CAS("a", "b"), false), true);
  assert.equal(m.readOnly!(CAS("a", "b"), true), false);
  assert.equal(m.readOnly!(CAS("a", "b"), undefined), false);
  assert.equal(m.readOnly!(W("a"), null), false);
});

// ---------------------------------------------------------- linearizable

test("linearizability: a sequential history is ok, and the witness is its order", () => {
  const h = [
    ok(0, 1, R, null, 0, 1),
    ok(1, 1, W("a"), null, 2, 3),
    ok(2, 2, R, "a", 4, 5),
    ok(3, 2, W("b"), null, 6, 7),
    ok(4, 1, R, "b", 8, 9),
  ];
  const result = checkLinearizable(h, registerModel);
  assertWitness(h, result, false);
  assert.deepEqual(result, { result: "ok", linearizations: [{ order: [0, 1, 2, 3, 4] }] });
});

test("linearizability: overlapping writes and reads that admit several orders are ok", () => {
  // Writes of a and b overlap; reads during them see a, b, then a again (a
  // after b is one valid order, b after a another, as long as reads agree).
  const h = [
    ok(0, 1, W("a"), null, 0, 10),
    ok(1, 2, W("b"), null, 1, 11),
    ok(2, 3, R, "b", 2, 3),
    ok(3, 3, R, "a", 4, 5),
    ok(4, 4, R, "a", 12, 13),
  ];
  assertWitness(h, checkLinearizable(h, registerModel), false);
  // The same with the later reads seeing b: the other order.
  const h2 = [
    ...h.slice(0, 2),
    ok(2, 3, R, "a", 2, 3),
    ok(3, 3, R, "b", 4, 5),
    ok(4, 4, R, "b", 12, 13),
  ];
  assertWitness(h2, checkLinearizable(h2, registerModel), false);
});

test("linearizability: a read concurrent with a write may see either value", () => {
  const seesNew = [ok(0, 1, W("a"), null, 0, 10), ok(1, 2, R, "a", 5, 6), ok(2, 2, R, "a", 7, 8)];
  assertWitness(seesNew, checkLinearizable(seesNew, registerModel), false);
  const seesOld = [
    ok(0, 1, W("a"), null, 0, 10),
    ok(1, 2, R, null, 5, 6),
    ok(2, 2, R, "a", 11, 12),
  ];
  assertWitness(seesOld, checkLinearizable(seesOld, registerModel), false);
  // But once it has seen the new value, a later read cannot see the old one.
  const flicker = [ok(0, 1, W("a"), null, 0, 10), ok(1, 2, R, "a", 5, 6), ok(2, 2, R, null, 7, 8)];
  assert.equal(checkLinearizable(flicker, registerModel).result, "violation");
});

test("linearizability: compare-and-set success and failure", () => {
  const h = [
    ok(0, 1, W("a"), null, 0, 1),
    ok(1, 2, CAS("a", "b"), true, 2, 6),
    ok(2, 3, CAS("a", "c"), false, 3, 7), // lost the race
    ok(3, 1, CAS("x", "y"), false, 8, 9), // value is not x
    ok(4, 2, R, "b", 10, 11),
  ];
  assertWitness(h, checkLinearizable(h, registerModel), false);
  // A CAS that failed although the value certainly matched is a violation.
  const h2 = [ok(0, 1, W("a"), null, 0, 1), ok(1, 2, CAS("a", "b"), false, 2, 3)];
  assert.equal(checkLinearizable(h2, registerModel).result, "violation");
});

test("linearizability: equal times count as overlapping", () => {
  // The read is invoked at the instant the write returns: it may precede it.
  const touching = [ok(0, 1, W("a"), null, 0, 5), ok(1, 2, R, null, 5, 6)];
  assertWitness(touching, checkLinearizable(touching, registerModel), false);
  const after = [ok(0, 1, W("a"), null, 0, 5), ok(1, 2, R, null, 6, 7)];
  assert.equal(checkLinearizable(after, registerModel).result, "violation");
});

// ---------------------------------------------------------- violations

test("linearizability: a stale read after a completed write is a violation, explained", () => {
  const h = [
    ok(0, 1, W("a"), null, 0, 1),
    ok(1, 1, W("b"), null, 2, 3),
    ok(2, 2, R, "a", 4, 5),
    ok(3, 2, W("c"), null, 6, 7),
  ];
  const result = checkLinearizable(h, registerModel);
  assertExplanation(h, result);
  if (result.result !== "violation") return;
  assert.equal(result.key, undefined);
  assert.deepEqual(result.prefix, [0, 1]); // both writes, then the read cannot go
  assert.deepEqual(result.unplaced, [2]);
  assert.match(result.message, /op 2 /);
  assert.match(result.message, /"read"/);
});

test("linearizability: a read of a value never written is a violation", () => {
  const h = [ok(0, 1, W("a"), null, 0, 10), ok(1, 2, R, "zzz", 2, 3), ok(2, 3, W("b"), null, 1, 9)];
  const result = checkLinearizable(h, registerModel);
  assert.equal(result.result, "violation");
  if (result.result !== "violation") return;
  assert.ok(result.unplaced.includes(1), JSON.stringify(result));
});

test("linearizability: two clients seeing concurrent writes in opposite orders is a violation", () => {
  // Writes of a and b overlap everything. Client 3 reads a then b; client 4
  // reads b then a, its reads overlapping client 3's: a before b and b before a.
  const writes = [ok(0, 1, W("a"), null, 0, 100), ok(1, 2, W("b"), null, 0, 100)];
  const h = [
    ...writes,
    ok(2, 3, R, "a", 10, 20),
    ok(3, 3, R, "b", 30, 40),
    ok(4, 4, R, "b", 10, 20),
    ok(5, 4, R, "a", 30, 40),
  ];
  assert.equal(checkLinearizable(h, registerModel).result, "violation");
  // Control: client 4 seeing b twice is fine (a, then b for everyone).
  const control = [...h.slice(0, 5), ok(5, 4, R, "b", 30, 40)];
  assertWitness(control, checkLinearizable(control, registerModel), false);
});

test("linearizability: a CAS succeeding twice from the same value is a violation", () => {
  const h = [
    ok(0, 1, W("a"), null, 0, 1),
    ok(1, 2, CAS("a", "b"), true, 2, 10),
    ok(2, 3, CAS("a", "c"), true, 3, 11),
  ];
  assert.equal(checkLinearizable(h, registerModel).result, "violation");
  // With a write of a in between (concurrent), both may succeed.
  const rewritten = [...h, ok(3, 4, W("a"), null, 4, 9)];
  assertWitness(rewritten, checkLinearizable(rewritten, registerModel), false);
});

// ---------------------------------------------------------- unknown and failed

test("linearizability: a timed-out write that later reads observe is ok", () => {
  const h = [
    ok(0, 1, W("a"), null, 0, 1),
    unknown(1, 2, W("b"), 2),
    ok(2, 3, R, "a", 10, 11), // not yet
    ok(3, 3, R, "b", 20, 21), // it took effect, long after the client gave up
    ok(4, 1, R, "b", 30, 31),
  ];
  const result = checkLinearizable(h, registerModel);
  assertWitness(h, result, false);
  assert.ok(result.result === "ok" && result.linearizations[0]!.order.includes(1));
});

test("linearizability: a timed-out write that is never observed is ok", () => {
  const h = [
    ok(0, 1, W("a"), null, 0, 1),
    unknown(1, 2, W("b"), 2),
    ok(2, 3, R, "a", 10, 11),
    ok(3, 3, R, "a", 20, 21),
  ];
  assertWitness(h, checkLinearizable(h, registerModel), false);
  // It still cannot take effect before it was invoked.
  const early = [ok(0, 1, R, "b", 0, 1), unknown(1, 2, W("b"), 2)];
  assert.equal(checkLinearizable(early, registerModel).result, "violation");
});

test("linearizability: an unknown CAS may take effect or not", () => {
  const took = [
    ok(0, 1, W("a"), null, 0, 1),
    unknown(1, 2, CAS("a", "b"), 2),
    ok(2, 3, R, "b", 5, 6),
  ];
  assertWitness(took, checkLinearizable(took, registerModel), false);
  // But not succeed when the value cannot match.
  const cannot = [
    ok(0, 1, W("x"), null, 0, 1),
    unknown(1, 2, CAS("a", "b"), 2),
    ok(2, 3, R, "b", 5, 6),
  ];
  assert.equal(checkLinearizable(cannot, registerModel).result, "violation");
});

test("linearizability: a failed write that is observed is a violation", () => {
  const h = [ok(0, 1, W("a"), null, 0, 1), failed(1, 2, W("b"), 2, 3), ok(2, 3, R, "b", 4, 5)];
  const result = checkLinearizable(h, registerModel);
  assert.equal(result.result, "violation");
  // As unknown rather than failed, it would be fine.
  const asUnknown = [h[0]!, unknown(1, 2, W("b"), 2), h[2]!];
  assertWitness(asUnknown, checkLinearizable(asUnknown, registerModel), false);
});

test("linearizability: an all-unknown or empty history is ok", () => {
  assert.deepEqual(checkLinearizable([], registerModel), { result: "ok", linearizations: [] });
  const h = [unknown(0, 1, W("a"), 0), unknown(1, 2, R, 1)];
  assert.equal(checkLinearizable(h, registerModel).result, "ok");
});

// ---------------------------------------------------------- partitions

test("linearizability: partitions by key and reports the key with the violation", () => {
  const h = [
    ok(0, 1, W("a"), null, 0, 1, "x"),
    ok(1, 2, W("a"), null, 0, 1, "y"),
    ok(2, 1, W("b"), null, 2, 3, "x"),
    ok(3, 2, W("b"), null, 2, 3, "y"),
    ok(4, 3, R, "b", 4, 5, "x"),
    ok(5, 3, R, "a", 4, 5, "y"), // stale, on y only
    ok(6, 4, R, "b", 6, 7, "x"),
  ];
  const result = checkLinearizable(h, registerModel);
  assertExplanation(h, result);
  if (result.result !== "violation") return;
  assert.equal(result.key, "y");
  assert.deepEqual(result.prefix, [1, 3]);
  assert.deepEqual(result.unplaced, [5]);
  assert.match(result.message, /key "y"/);
  // Without the stale read, each key gets its own linearization.
  const fixed = h.filter((op) => op.id !== 5);
  const good = checkLinearizable(fixed, registerModel);
  assertWitness(fixed, good, true);
  assert.ok(good.result === "ok");
  assert.deepEqual(good.linearizations.map((l) => l.key).sort(), ["x", "y"]);
  // Operations without a key form a partition of their own.
  const mixed = [...fixed, ok(9, 5, R, null, 0, 1)];
  const withUnkeyed = checkLinearizable(mixed, registerModel);
  assertWitness(mixed, withUnkeyed, true);
  assert.deepEqual(withUnkeyed.result === "ok" && withUnkeyed.linearizations[0], { order: [9] });
});

test("linearizability: partitionByKey false checks all keys as one object", () => {
  // Each key alone is a fine register; as one register, x's read of a comes
  // after y's write of b completed.
  const h = [
    ok(0, 1, W("a"), null, 0, 1, "x"),
    ok(1, 2, W("b"), null, 2, 3, "y"),
    ok(2, 1, R, "a", 4, 5, "x"),
  ];
  assertWitness(h, checkLinearizable(h, registerModel), true);
  assertWitness(h, checkLinearizable(h, registerModel, { partitionByKey: true }), true);
  const whole = checkLinearizable(h, registerModel, { partitionByKey: false });
  assert.equal(whole.result, "violation");
  assert.equal(whole.result === "violation" ? whole.key : "", undefined);
});

// ---------------------------------------------------------- random histories

test("linearizability: 2,000 generated ops over 5 keys and 10 clients are ok", () => {
  const h = generateRegisterHistory({ seed: 1, count: 2000, keys: 5, clients: 10 });
  assert.equal(h.length, 2000);
  assert.ok(h.filter((op) => op.status === "unknown").length > 10); // unknowns are exercised
  assert.ok(h.filter((op) => op.status === "fail").length > 10);
  assert.ok(h.some((op) => op.input.type === "cas" && op.output === true));
  assertWitness(h, checkLinearizable(h, registerModel), true);
  for (const seed of [2, 3, 4]) {
    const other = generateRegisterHistory({
      seed,
      count: 2000,
      keys: 5,
      clients: 10,
      unknownRate: 0.05,
      failRate: 0.05,
    });
    assertWitness(other, checkLinearizable(other, registerModel), true);
  }
  // One key, more contention.
  const hot = generateRegisterHistory({ seed: 5, count: 1000, keys: 1, clients: 10 });
  assertWitness(hot, checkLinearizable(hot, registerModel), true);
});

test("linearizability: one read corrupted to a value never written is a violation on its key", () => {
  const h = generateRegisterHistory({ seed: 1, count: 2000, keys: 5, clients: 10 });
  const victim = h.filter((op) => op.status === "ok" && op.input.type === "read")[700]!;
  assert.ok(victim.status === "ok");
  const corrupted = replaceOp(h, { ...victim, output: "never-written" });
  const result = checkLinearizable(corrupted, registerModel);
  assertExplanation(corrupted, result);
  if (result.result !== "violation") return;
  assert.equal(result.key, victim.key);
  assert.ok(result.unplaced.includes(victim.id), result.message);
});

test("linearizability: one read corrupted to a stale value is a violation on its key", () => {
  const h = generateRegisterHistory({ seed: 2, count: 2000, keys: 5, clients: 10 });
  // A read r and a value v whose only writer completed before another
  // certain write w of r's key, itself completed before r was invoked.
  // (Values are unique, so v cannot come back.)
  let found: { read: Op; stale: string } | undefined;
  for (const read of h) {
    if (read.status !== "ok" || read.input.type !== "read") continue;
    for (const w of h) {
      if (w.key !== read.key || certainWrite(w) === undefined || w.status !== "ok") continue;
      if (w.ret >= read.call) continue;
      const old = h.find((v) =>
        v.key === read.key && v.status === "ok" && typeof certainWrite(v) === "string" &&
        v.ret < w.call && certainWrite(v) !== read.output
      );
      if (old !== undefined) {
        found = { read, stale: certainWrite(old) as string };
        break;
      }
    }
    if (found !== undefined && read.call > 3000) break;
  }
  assert.ok(found !== undefined);
  const corrupted = replaceOp(h, { ...found.read, output: found.stale } as Op);
  const result = checkLinearizable(corrupted, registerModel);
  assertExplanation(corrupted, result);
  assert.equal(result.result === "violation" ? result.key : "", found.read.key);
  // The uncorrupted history passes: the corruption is what was caught.
  assert.equal(checkLinearizable(h, registerModel).result, "ok");
});

/**
 * Random small histories on one register, checked with every strategy and
 * both register models against {@linkcode bruteForce}; returns how many
 * were linearizable and how many not.
 */
function crossCheck(seed: number, rounds: number, maxOps: number, unknownRate: number): number[] {
  const rnd = new SeededRandom(seed);
  const values: RegisterValue[] = [null, "a", "b"];
  const pick = <T>(xs: readonly T[]): T => xs[rnd.int(0, xs.length)]!;
  const counts = [0, 0];
  for (let round = 0; round < rounds; round++) {
    const n = rnd.int(2, maxOps + 1);
    const h: Op[] = [];
    for (let id = 0; id < n; id++) {
      const call = rnd.int(0, 12);
      const ret = call + rnd.int(0, 6);
      const kind = rnd.int(0, 3);
      const input = kind === 0
        ? R
        : kind === 1
        ? W(pick(["a", "b"]))
        : CAS(pick(values), pick(values));
      const output: RegisterOutput = input.type === "read"
        ? pick(values)
        : input.type === "cas"
        ? rnd.next() < 0.5
        : null;
      const s = rnd.next();
      h.push(
        s < unknownRate
          ? unknown(id, id, input, call)
          : s < unknownRate + 0.05
          ? failed(id, id, input, call, ret)
          : ok(id, id, input, output, call, ret),
      );
    }
    const expected = bruteForce(h);
    counts[expected ? 0 : 1]!++;
    for (const strategy of ["auto", "eager", "lazy"] as const) {
      for (const model of [registerModel, plainRegister]) {
        const result = checkLinearizable(h, model, { strategy });
        const context = `${strategy}, ${model === registerModel ? "registerModel" : "plain"}: ` +
          JSON.stringify(h);
        assert.equal(result.result, expected ? "ok" : "violation", context);
        if (expected) assertWitness(h, result, false);
        else assertExplanation(h, result);
      }
    }
  }
  return counts;
}

test("linearizability: agrees with an exhaustive search on 400 small random histories", () => {
  const [linearizable, violations] = crossCheck(99, 400, 7, 0.1);
  // Both verdicts were exercised.
  assert.ok(linearizable! > 50 && violations! > 50, `${linearizable} ok, ${violations} violations`);
});

test("linearizability: agrees with an exhaustive search when many outcomes are unknown", () => {
  const [linearizable, violations] = crossCheck(7, 300, 8, 0.4);
  assert.ok(linearizable! > 50 && violations! > 50, `${linearizable} ok, ${violations} violations`);
  // An unknown write must stay available for later: taking the unknown CAS
  // first instead is not the same configuration (a dominance check that
  // ignored which unknown operations were used would miss this witness).
  const h = [
    unknown(0, 1, W("x"), 0),
    unknown(1, 2, CAS(null, "x"), 1),
    ok(2, 3, R, "x", 2, 3),
    ok(3, 4, W("y"), null, 4, 5),
    ok(4, 3, R, "x", 6, 7),
  ];
  for (const strategy of ["auto", "eager", "lazy"] as const) {
    const result = checkLinearizable(h, registerModel, { strategy });
    assertWitness(h, result, false);
    assert.deepEqual(result.result === "ok" && result.linearizations[0]!.order, [1, 2, 3, 0, 4]);
  }
});

test("linearizability: strategies and the read-only hint do not change verdicts", () => {
  for (const seed of [11, 12, 13]) {
    // Many unknown operations: the eager and lazy searches differ most.
    const h = generateRegisterHistory({
      seed,
      count: 300,
      keys: 2,
      clients: 6,
      unknownRate: 0.1,
      failRate: 0.02,
    });
    const reads = h.filter((op) => op.status === "ok" && op.input.type === "read");
    const corrupted = replaceOp(h, { ...reads[50]!, output: "nope" } as Op);
    const keys = new Set<string | undefined>();
    for (const strategy of ["auto", "eager", "lazy"] as const) {
      for (const model of [registerModel, plainRegister]) {
        assertWitness(h, checkLinearizable(h, model, { strategy }), true);
        const bad = checkLinearizable(corrupted, model, { strategy });
        assertExplanation(corrupted, bad);
        keys.add(bad.result === "violation" ? bad.key : "not a violation");
      }
    }
    assert.deepEqual([...keys], [reads[50]!.key]);
  }
});

test("linearizability: a custom model with array states compared by equal", () => {
  // A FIFO queue: enqueue(x) → null, dequeue → the head (null if empty).
  type QIn = { readonly op: "enq"; readonly x: number } | { readonly op: "deq" };
  type QOut = number | null;
  const queue: Model<readonly number[], QIn, QOut> = {
    init: () => [],
    step: (q, input, output) => {
      if (input.op === "enq") return { ok: true, state: [...q, input.x] };
      const head = q.length === 0 ? null : q[0]!;
      return { ok: output === undefined || output === head, state: q.slice(1) };
    },
    equal: (a, b) => a.length === b.length && a.every((x, i) => x === b[i]),
  };
  const enq = (x: number): QIn => ({ op: "enq", x });
  const deq: QIn = { op: "deq" };
  const qop = (id: number, input: QIn, output: QOut, call: number, ret: number) => ({
    id,
    client: id,
    input,
    output,
    call,
    ret,
    status: "ok" as const,
  });
  // Concurrent enqueues of 1 and 2, then dequeues see 2 then 1: fine.
  const h = [qop(0, enq(1), null, 0, 10), qop(1, enq(2), null, 1, 11), qop(2, deq, 2, 12, 13)];
  const fine = [...h, qop(3, deq, 1, 14, 15)];
  assert.equal(checkLinearizable(fine, queue).result, "ok");
  // Dequeuing 2 twice is not.
  const twice = [...h, qop(3, deq, 2, 14, 15)];
  const result = checkLinearizable(twice, queue);
  assert.equal(result.result, "violation");
  assert.deepEqual(result.result === "violation" && result.unplaced, [3]);
});

test("linearizability: unplaced lists completed operations only", () => {
  // A counter that saturates at 1: a second "inc" does not fit, even unknown.
  const saturating: Model<number, "inc" | "get", number | null> = {
    init: () => 0,
    step: (n, input, output) =>
      input === "inc"
        ? { ok: n < 1, state: n + 1 }
        : { ok: output === undefined || output === n, state: n },
    key: (n) => String(n),
  };
  const result = checkLinearizable<number, "inc" | "get", number | null>([
    { id: 0, client: 1, input: "inc", output: null, call: 0, ret: 1, status: "ok" },
    { id: 1, client: 2, input: "inc", call: 2, ret: null, status: "unknown" },
    { id: 2, client: 3, input: "get", output: 5, call: 3, ret: 4, status: "ok" },
  ], saturating);
  assert.equal(result.result, "violation");
  if (result.result !== "violation") return;
  assert.deepEqual(result.prefix, [0]);
  assert.deepEqual(result.unplaced, [2]);
  assert.match(result.message, /\(2 completed operations\)/);
  assert.match(result.message, /prefix found with the most of them has 1 operation\(s\) \[0\]/);
});

// ---------------------------------------------------------- budget and determinism

/** Many concurrent writes of distinct values, then a read of a value never written. */
function pathological(writes: number): Op[] {
  const h: Op[] = [];
  for (let i = 0; i < writes; i++) h.push(ok(i, i, W("w" + i), null, i, 1000 + i, "hot"));
  h.push(ok(writes, writes, R, "impossible", 2000, 2001, "hot"));
  return h;
}

test("linearizability: the time limit turns an exponential search into a prompt answer", () => {
  let reads = 0;
  let t = 0;
  const now = (): number => {
    if (++reads > 1000) throw new Error("the time limit is not honoured");
    return t++; // every reading of the clock advances it 1 ms
  };
  const h = [...pathological(24), ok(100, 100, R, null, 0, 1, "cold")];
  const result = checkLinearizable(h, registerModel, { timeLimitMs: 50, now });
  assert.ok(result.result === "unknown" || result.result === "violation", verdict(result));
  // It stopped because of the clock, after ~50 readings (so ~50k steps, not 2^24).
  assert.ok(reads <= 60, `${reads} clock readings`);
  if (result.result === "unknown") {
    assert.equal(result.key, "hot");
    assert.match(result.message, /time limit of 50 ms/);
    assert.match(result.message, /1 partition checked/); // "cold", the smaller, went first
  }
  // A smaller instance of the same shape, without a limit, is a violation.
  const small = checkLinearizable(pathological(10), registerModel);
  assert.equal(small.result, "violation");
  // A clock that does not advance never cuts the search short.
  const frozen = checkLinearizable(pathological(10), registerModel, {
    timeLimitMs: 0,
    now: () => 7,
  });
  assert.equal(frozen.result, "violation");
});

test("linearizability: results are deterministic", () => {
  const h = generateRegisterHistory({ seed: 7, count: 1500, keys: 3, clients: 8 });
  assert.deepEqual(h, generateRegisterHistory({ seed: 7, count: 1500, keys: 3, clients: 8 }));
  assert.deepEqual(checkLinearizable(h, registerModel), checkLinearizable(h, registerModel));
  const reads = h.filter((op) => op.status === "ok" && op.input.type === "read");
  const bad = replaceOp(h, { ...reads[400]!, output: "x" } as Op);
  const first = checkLinearizable(bad, registerModel);
  assertExplanation(bad, first);
  assert.deepEqual(checkLinearizable(bad, registerModel), first);
  // Reordering the history's array does not change the verdict or the witness validity.
  const reversed = [...bad].reverse();
  const again = checkLinearizable(reversed, registerModel);
  assert.equal(again.result, "violation");
  assert.equal(
    again.result === "violation" && again.key,
    first.result === "violation" && first.key,
  );
});

// ---------------------------------------------------------- recorder and validation

test("linearizability: HistoryRecorder stamps events with a counter", () => {
  const h = new HistoryRecorder<RegisterInput, RegisterOutput>();
  const a = h.invoke(1, W("a"), "k");
  const b = h.invoke(2, R, "k");
  const c = h.invoke(3, W("c"));
  const d = h.invoke(4, W("d"));
  assert.deepEqual([a, b, c, d], [0, 1, 2, 3]);
  h.ok(a, null);
  h.ok(b, "a");
  h.fail(c);
  h.unknown(d);
  const e = h.invoke(5, R); // never completes
  assert.equal(h.size, 5);
  assert.deepEqual(h.history(), [
    { id: 0, client: 1, key: "k", input: W("a"), call: 0, output: null, ret: 4, status: "ok" },
    { id: 1, client: 2, key: "k", input: R, call: 1, output: "a", ret: 5, status: "ok" },
    { id: 2, client: 3, input: W("c"), call: 2, ret: 6, status: "fail" },
    { id: 3, client: 4, input: W("d"), call: 3, ret: null, status: "unknown" },
    { id: e, client: 5, input: R, call: 7, ret: null, status: "unknown" },
  ]);
  assert.throws(() => h.ok(a, null), /already ended/);
  assert.throws(() => h.unknown(c), /already ended/);
  assert.throws(() => h.fail(99), /no operation with id 99/);
  assert.equal(checkLinearizable(h.history(), registerModel).result, "ok");
});

test("linearizability: HistoryRecorder uses an injected clock", () => {
  let t = 100;
  const h = new HistoryRecorder<RegisterInput, RegisterOutput>({ now: () => t });
  const w = h.invoke("a", W("x"));
  t = 150;
  const r = h.invoke("b", R);
  t = 200;
  h.ok(r, "x");
  h.ok(w, null); // same instant: overlapping
  const history = h.history();
  assert.deepEqual(history.map((op) => [op.call, op.ret]), [[100, 200], [150, 200]]);
  assert.equal(checkLinearizable(history, registerModel).result, "ok");
});

test("linearizability: malformed histories are rejected", () => {
  const good = ok(0, 1, W("a"), null, 0, 1);
  assert.throws(
    () => checkLinearizable([good, { ...good }], registerModel),
    /duplicate operation id 0/,
  );
  assert.throws(
    () => checkLinearizable([ok(0, 1, R, null, 5, 4)], registerModel),
    /operation 0: ret must be a finite number ≥ call/,
  );
  assert.throws(
    () => checkLinearizable([ok(0, 1, R, null, NaN, 4)], registerModel),
    /operation 0: call must be a finite number/,
  );
  const bad = { ...good, status: "maybe" } as unknown as Op;
  assert.throws(() => checkLinearizable([bad], registerModel), /unknown status "maybe"/);
  assert.throws(() => checkLinearizable([good], registerModel, { timeLimitMs: -1 }), RangeError);
  const strategy = "fast" as unknown as "auto";
  assert.throws(() => checkLinearizable([good], registerModel, { strategy }), /strategy "fast"/);
  // Failed operations need no valid return time.
  assert.equal(checkLinearizable([failed(0, 1, R, 5, 0)], registerModel).result, "ok");
});
