// The key-value command codec (kv/kv_command.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Entry } from "../../src/types.ts";
import { decodeKvCommand, kvCas, kvDelete, kvSet, MemoryStateMachine } from "../../kv/mod.ts";

const untext = new TextDecoder();

function normal(term: number, index: number, data: Uint8Array = new Uint8Array([index])): Entry {
  return { term, index, type: "normal", data };
}

test("kv commands: kvSet and kvDelete encode to a documented binary layout", () => {
  assert.deepEqual(
    kvSet("ab", new Uint8Array([9, 8])),
    new Uint8Array([1, 0, 0, 0, 2, 97, 98, 9, 8]),
  );
  assert.deepEqual(kvSet("k", "é"), new Uint8Array([1, 0, 0, 0, 1, 107, 0xc3, 0xa9]));
  assert.deepEqual(kvDelete("ab"), new Uint8Array([2, 0, 0, 0, 2, 97, 98]));
  assert.deepEqual(kvSet("", new Uint8Array()), new Uint8Array([1, 0, 0, 0, 0]));
});

test("kv commands: decodeKvCommand round-trips and rejects other bytes", () => {
  const key = "ключ/🔑";
  const value = new Uint8Array(300).map((_, i) => i & 0xff);
  const set = decodeKvCommand(kvSet(key, value));
  assert.ok(set !== null && set.op === "set");
  assert.equal(set.key, key);
  assert.deepEqual(set.value, value);
  assert.deepEqual(decodeKvCommand(kvDelete(key)), { op: "delete", key });
  assert.equal(decodeKvCommand(new Uint8Array()), null);
  assert.equal(decodeKvCommand(new Uint8Array([1, 0, 0])), null);
  assert.equal(decodeKvCommand(new Uint8Array([3, 0, 0, 0, 0])), null); // unknown tag
  assert.equal(decodeKvCommand(new Uint8Array([1, 0, 0, 0, 9, 97])), null); // key too long
  assert.equal(decodeKvCommand(new Uint8Array([2, 0, 0, 0, 1, 97, 0])), null); // trailing bytes
  assert.equal(decodeKvCommand(new Uint8Array([1, 0, 0, 0, 1, 0xff])), null); // bad UTF-8
});

test("kv commands: decoding works on a view into a larger buffer", () => {
  const inner = kvSet("x", "yz");
  const big = new Uint8Array(inner.length + 7);
  big.set(inner, 3);
  const cmd = decodeKvCommand(big.subarray(3, 3 + inner.length));
  assert.ok(cmd !== null && cmd.op === "set");
  assert.equal(cmd.key, "x");
  assert.equal(untext.decode(cmd.value), "yz");
});

// ---------------------------------------------------- MemoryStateMachine

test("kv commands: kvCas swaps only from the expected value and returns what it found", async () => {
  const sm = new MemoryStateMachine();
  const txt = (b: Uint8Array | null | undefined) => b == null ? null : new TextDecoder().decode(b);
  const out = await sm.apply([
    normal(1, 1, kvCas("k", null, "a")), // absent -> a
    normal(1, 2, kvCas("k", "x", "b")), // refused: holds a
    normal(1, 3, kvCas("k", "a", "c")), // a -> c
  ]);
  assert.deepEqual(out.map(txt), [null, "a", "a"]);
  assert.equal(txt(sm.get("k")), "c");
  assert.deepEqual(decodeKvCommand(kvCas("k", null, "v")), {
    op: "cas",
    key: "k",
    expected: null,
    value: new TextEncoder().encode("v"),
  });
  const bad = kvCas("k", "e", "v");
  assert.equal(decodeKvCommand(bad.subarray(0, 8)), null, "a truncated header is no command");
});
