import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgument } from "../src/errors.ts";
import { cryptoRandom, type Random, randomSeed, SeededRandom } from "../src/random.ts";

function take(r: Random, n: number): number[] {
  return Array.from({ length: n }, () => r.next());
}

test("random: the same seed gives the same sequence", () => {
  for (const seed of [0, 1, 42, -7, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) {
    const a = new SeededRandom(seed);
    const b = new SeededRandom(seed);
    assert.deepEqual(take(a, 100), take(b, 100));
    for (let i = 0; i < 100; i++) assert.equal(a.int(0, 1000), b.int(0, 1000));
    assert.equal(a.seed, seed);
  }
});

test("random: the sequence is pinned (same on every runtime and release)", () => {
  // If this changes, recorded simulation seeds no longer replay: change it on purpose only.
  const r = new SeededRandom(12345);
  const first = Array.from({ length: 4 }, () => r.nextUint32());
  const again = new SeededRandom(12345);
  assert.deepEqual(first, Array.from({ length: 4 }, () => again.nextUint32()));
  for (const x of first) assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
  assert.deepEqual(first, PINNED_12345);
});

// sfc32 seeded by splitmix32 with 12 warm-up rounds; cross-checked against an
// independent Python implementation of the same algorithm when written.
const PINNED_12345: number[] = [2345461488, 1344865159, 2974739204, 3448212715];

test("random: distinct seeds give distinct sequences", () => {
  const seen = new Set<string>();
  const seeds = [0, 1, 2, 3, -1, 2 ** 32, 2 ** 32 + 1, 2 ** 33, 2 ** 52, 12345, 12346];
  for (const seed of seeds) {
    seen.add(take(new SeededRandom(seed), 8).join(","));
  }
  assert.equal(seen.size, seeds.length);
});

test("random: seeds differing only above 32 bits differ", () => {
  assert.notDeepEqual(take(new SeededRandom(5), 4), take(new SeededRandom(5 + 2 ** 32), 4));
});

test("random: next() stays in [0, 1)", () => {
  const r = new SeededRandom(99);
  for (let i = 0; i < 100_000; i++) {
    const x = r.next();
    assert.ok(x >= 0 && x < 1, `${x}`);
  }
});

test("random: int() stays within its bounds and hits both ends", () => {
  const r = new SeededRandom(7);
  const seen = new Set<number>();
  for (let i = 0; i < 10_000; i++) {
    const x = r.int(150, 160);
    assert.ok(Number.isInteger(x) && x >= 150 && x < 160, `${x}`);
    seen.add(x);
  }
  assert.equal(seen.size, 10);
  for (let i = 0; i < 1000; i++) assert.equal(r.int(5, 6), 5);
  for (let i = 0; i < 1000; i++) {
    const x = r.int(-3, 3);
    assert.ok(x >= -3 && x < 3);
  }
});

test("random: int() handles ranges of 2^32 and beyond", () => {
  const r = new SeededRandom(11);
  for (let i = 0; i < 1000; i++) {
    const a = r.int(0, 2 ** 32);
    assert.ok(Number.isInteger(a) && a >= 0 && a < 2 ** 32);
    const b = r.int(-(2 ** 40), 2 ** 40);
    assert.ok(Number.isSafeInteger(b) && b >= -(2 ** 40) && b < 2 ** 40);
  }
  // Large values do appear: not stuck in the low 32 bits.
  let big = 0;
  for (let i = 0; i < 100; i++) if (r.int(0, 2 ** 50) > 2 ** 40) big++;
  assert.ok(big > 90, `${big}`);
});

test("random: int() rejects bad bounds", () => {
  const r = new SeededRandom(1);
  assert.throws(() => r.int(5, 5), InvalidArgument);
  assert.throws(() => r.int(6, 5), InvalidArgument);
  assert.throws(() => r.int(0.5, 5), InvalidArgument);
  assert.throws(() => r.int(0, Infinity), InvalidArgument);
  assert.throws(() => r.int(NaN, 3), InvalidArgument);
  assert.throws(() => r.int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER), InvalidArgument);
});

test("random: the constructor rejects seeds that are not safe integers", () => {
  assert.throws(() => new SeededRandom(1.5), InvalidArgument);
  assert.throws(() => new SeededRandom(NaN), InvalidArgument);
  assert.throws(() => new SeededRandom(2 ** 60), InvalidArgument);
});

test("random: int() is roughly uniform (fixed seed, generous bounds)", () => {
  const r = new SeededRandom(2024);
  const buckets = new Array<number>(10).fill(0);
  const n = 100_000;
  for (let i = 0; i < n; i++) buckets[r.int(0, 10)]!++;
  // Expected 10,000 each; the standard deviation is ~95, so ±500 is over 5 sigma.
  for (const count of buckets) assert.ok(Math.abs(count - n / 10) < 500, `${buckets}`);
});

test("random: next() is roughly uniform and its mean is about 1/2", () => {
  const r = new SeededRandom(77);
  const buckets = new Array<number>(16).fill(0);
  const n = 160_000;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = r.next();
    sum += x;
    buckets[Math.floor(x * 16)]!++;
  }
  for (const count of buckets) assert.ok(Math.abs(count - n / 16) < 600, `${buckets}`);
  assert.ok(Math.abs(sum / n - 0.5) < 0.01);
});

test("random: consecutive outputs are not trivially correlated", () => {
  const r = new SeededRandom(5);
  let same = 0;
  let prev = r.int(0, 2);
  for (let i = 0; i < 10_000; i++) {
    const x = r.int(0, 2);
    if (x === prev) same++;
    prev = x;
  }
  assert.ok(Math.abs(same - 5000) < 400, `${same}`);
});

test("random: randomSeed gives non-negative safe integers that vary", () => {
  const seeds = new Set<number>();
  for (let i = 0; i < 20; i++) {
    const s = randomSeed();
    assert.ok(Number.isSafeInteger(s) && s >= 0, `${s}`);
    seeds.add(s);
  }
  assert.ok(seeds.size > 1);
});

test("random: cryptoRandom is a SeededRandom that replays from its seed", () => {
  const r = cryptoRandom();
  assert.ok(r instanceof SeededRandom);
  const replay = new SeededRandom(r.seed);
  assert.deepEqual(take(r, 10), take(replay, 10));
  const x = r.int(150, 300);
  assert.ok(x >= 150 && x < 300);
});
