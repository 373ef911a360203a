// Typed commands: the JSON and CBOR codecs and typedApply.
import { test } from "node:test";
import assert from "node:assert/strict";
import { cborCodec, jsonCodec, typedApply } from "../src/command_codec.ts";
import { InvalidArgument } from "../src/errors.ts";
import type { Entry } from "../src/types.ts";

test("jsonCodec: round-trips JSON values", () => {
  const codec = jsonCodec<unknown>();
  for (
    const v of [
      { op: "set", key: "a", value: [1, 2.5, "x", null, true, { deep: { er: [] } }] },
      "plain",
      0,
      null,
      [],
      { "__proto__x": 1, "ü": "é" },
    ]
  ) {
    assert.deepEqual(codec.decode(codec.encode(v)), v);
  }
});

test("jsonCodec: refuses what JSON would drop or change, with InvalidArgument", () => {
  const codec = jsonCodec<unknown>();
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  for (
    const [v, why] of [
      [undefined, /undefined/],
      [() => 1, /function/],
      [{ a: undefined }, /field "a" is undefined/],
      [{ n: NaN }, /field "n" is NaN/],
      [[Infinity], /Infinity/],
      [{ big: 1n }, /bigint/],
      [Symbol("s"), /symbol/],
      [cyclic, /not a JSON value/],
    ] as [unknown, RegExp][]
  ) {
    assert.throws(() => codec.encode(v), (e: unknown) => {
      assert.ok(e instanceof InvalidArgument, String(e));
      assert.equal(e.argument, "command");
      assert.match(e.message, why);
      return true;
    });
  }
});

test("jsonCodec: decoding bytes that are not UTF-8 JSON throws", () => {
  const codec = jsonCodec<unknown>();
  assert.throws(() => codec.decode(new Uint8Array([0xff, 0xfe])));
  assert.throws(() => codec.decode(new TextEncoder().encode("{nope")));
});

test("cborCodec: keeps bytes, maps, dates, bigints and undefined; objects stay objects", () => {
  type Command = {
    put: string;
    value: Uint8Array;
    at: Date;
    n: bigint;
    tags: Map<number, string>;
    missing: undefined;
    nested: { list: { a: number }[] };
  };
  const codec = cborCodec<Command>();
  const c: Command = {
    put: "k",
    value: new Uint8Array([1, 2, 3]),
    at: new Date(1_700_000_000_000),
    n: 2n ** 70n,
    tags: new Map([[1, "one"], [2, "two"]]),
    missing: undefined,
    nested: { list: [{ a: 1 }, { a: 2 }] },
  };
  const bytes = codec.encode(c);
  const back = codec.decode(bytes);
  assert.deepEqual(back, c);
  assert.ok(back.value instanceof Uint8Array);
  assert.ok(back.tags instanceof Map);
  // A decoded value does not alias the bytes it came from.
  bytes.fill(0);
  assert.deepEqual([...back.value], [1, 2, 3]);
});

test("cborCodec: a __proto__ key is data, never the prototype", () => {
  const codec = cborCodec<Record<string, unknown>>();
  const hostile = JSON.parse('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
  const back = codec.decode(codec.encode(hostile));
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.deepEqual(Object.keys(back), ["__proto__"]);
});

test("cborCodec: refuses functions, symbols and cycles with InvalidArgument", () => {
  const codec = cborCodec<unknown>();
  const cyclic: unknown[] = [];
  cyclic.push(cyclic);
  for (const v of [() => 1, { f: Symbol("x") }, cyclic]) {
    assert.throws(() => codec.encode(v), InvalidArgument);
  }
});

test("typedApply: decodes normal entries, answers undefined for blank and membership ones", () => {
  const codec = jsonCodec<{ add: number }>();
  let total = 0;
  const seen: number[] = [];
  const apply = typedApply(codec, (c, entry) => {
    seen.push(entry.index);
    total += c.add;
    return total;
  });
  const entries: Entry[] = [
    { type: "blank", term: 1, index: 1 },
    { type: "normal", term: 1, index: 2, data: codec.encode({ add: 2 }) },
    { type: "normal", term: 1, index: 3, data: codec.encode({ add: 3 }) },
  ];
  assert.deepEqual(apply(entries), [undefined, 2, 5]);
  assert.deepEqual(seen, [2, 3]);
});

test("typedApply: an entry the codec cannot decode throws, naming the entry", () => {
  const apply = typedApply(jsonCodec<unknown>(), () => 1);
  assert.throws(
    () => apply([{ type: "normal", term: 2, index: 7, data: new Uint8Array([0x7b]) }]),
    (e: unknown) => e instanceof InvalidArgument && /entry 2-7 cannot be decoded/.test(e.message),
  );
});
