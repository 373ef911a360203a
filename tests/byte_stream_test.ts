import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgument } from "../src/errors.ts";
import { bytesToStream, readAllBytes, rechunk } from "../src/byte_stream.ts";

function pattern(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + 7) & 0xff;
  return b;
}

async function chunks(s: ReadableStream<Uint8Array>): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of s) out.push(c);
  return out;
}

test("byte_stream: readAllBytes joins chunks; bytesToStream cuts views of the given size", async () => {
  const data = pattern(1000);
  const parts = await chunks(bytesToStream(data, 300));
  assert.deepEqual(parts.map((p) => p.length), [300, 300, 300, 100]);
  assert.deepEqual(await readAllBytes(bytesToStream(data, 7)), data);
  assert.deepEqual(await readAllBytes(bytesToStream(new Uint8Array(0), 5)), new Uint8Array(0));
});

test("byte_stream: rechunk yields exact-size chunks from any source chunking, bytes intact", async () => {
  const data = pattern(10_000);
  for (const [src, size] of [[1, 64], [7, 64], [64, 64], [1000, 64], [3333, 4096], [10_000, 1]]) {
    const parts = await chunks(rechunk(bytesToStream(data, src!), size!));
    for (const p of parts.slice(0, -1)) assert.equal(p.length, size, `src ${src} size ${size}`);
    assert.ok(parts.at(-1)!.length <= size! && parts.at(-1)!.length > 0);
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.length;
    }
    assert.deepEqual(joined, data);
  }
});

test("byte_stream: rechunk of an empty stream ends at once; a bad size is refused", async () => {
  assert.deepEqual(await chunks(rechunk(bytesToStream(new Uint8Array(0), 4), 8)), []);
  assert.throws(() => rechunk(bytesToStream(new Uint8Array(1), 1), 0), InvalidArgument);
});

test("byte_stream: cancelling a rechunked stream cancels its source", async () => {
  let cancelled: unknown = null;
  const source = new ReadableStream<Uint8Array>({
    pull(c) {
      c.enqueue(new Uint8Array(10));
    },
    cancel(reason) {
      cancelled = reason;
    },
  });
  const reader = rechunk(source, 25).getReader();
  assert.equal((await reader.read()).value?.length, 25);
  await reader.cancel("stop");
  assert.equal(cancelled, "stop");
});
