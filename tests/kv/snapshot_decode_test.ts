// The streaming snapshot decoder of MemoryStateMachine (used with a store: open()
// and installSnapshot()) is linear in the snapshot's size whatever the chunking:
// a value much larger than the chunks is not re-copied once per chunk. Copies are
// counted (bytes passed to Uint8Array.prototype.set while decoding), never timed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readAllBytes } from "../../src/byte_stream.ts";
import type { SnapshotStore, StoredSnapshot } from "../../src/snapshot_store.ts";
import type { SnapshotMeta } from "../../src/types.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { SeededRandom } from "../../src/random.ts";

/** A SnapshotStore in memory that keeps the chunks it was given, as given. */
class ChunkStore implements SnapshotStore {
  #current: { meta: SnapshotMeta; chunks: Uint8Array[]; size: number } | null = null;

  current(): Promise<StoredSnapshot | null> {
    const s = this.#current;
    if (s === null) return Promise.resolve(null);
    return Promise.resolve({ meta: s.meta, size: s.size, open: () => streamOf(s.chunks) });
  }

  async write(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const c of data) {
      chunks.push(c);
      size += c.length;
    }
    this.#current = { meta, chunks, size };
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function streamOf(chunks: readonly Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]!);
      else controller.close();
    },
  }, { highWaterMark: 0 });
}

function split(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

/** Runs `fn` counting the bytes copied through `Uint8Array.prototype.set`. */
async function countingCopies(fn: () => Promise<void>): Promise<number> {
  const original = Uint8Array.prototype.set;
  let copied = 0;
  Uint8Array.prototype.set = function (
    this: Uint8Array,
    source: ArrayLike<number>,
    offset?: number,
  ): void {
    copied += source.length;
    original.call(this, source, offset);
  };
  try {
    await fn();
  } finally {
    Uint8Array.prototype.set = original;
  }
  return copied;
}

test("snapshot decode: a 32 MiB value in 64 KiB chunks installs and restores with linear copying", async () => {
  const big = new Uint8Array(32 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) & 0xff;
  big[big.length - 1] = 0xab;
  const source = new MemoryStateMachine();
  await source.apply([
    { term: 1, index: 1, type: "normal", data: kvSet("a", "first") },
    { term: 1, index: 2, type: "normal", data: kvSet("big", big) },
    { term: 1, index: 3, type: "normal", data: kvSet("z", "last") },
  ]);
  const snap = await source.buildSnapshot();
  const bytes = await readAllBytes(snap.open());
  const chunks = split(bytes, 64 * 1024);
  assert.ok(chunks.length >= 512);

  // Install (decoded as the chunks pass into the store).
  const store = new ChunkStore(); // keeps the 64 KiB chunks as they pass
  const target = await MemoryStateMachine.open(store);
  const installCopies = await countingCopies(() =>
    target.installSnapshot(snap.meta, streamOf(chunks))
  );
  assert.equal(target.lastApplied?.index, 3);
  assert.deepEqual(target.pairs().map(([k]) => k), ["a", "big", "z"]);
  assert.ok(equalBytes(target.get("big")!, big));
  assert.equal(new TextDecoder().decode(target.get("z")!), "last");
  // Joining the chunks once copies the value once; a copy per chunk would be ~256×.
  assert.ok(installCopies <= 3 * bytes.length, `copied ${installCopies} of ${bytes.length}`);

  // Restore from the store (the other decoding path).
  let restored: MemoryStateMachine | null = null;
  const openCopies = await countingCopies(async () => {
    restored = await MemoryStateMachine.open(store);
  });
  assert.ok(restored !== null);
  const r = restored as MemoryStateMachine;
  assert.equal(r.lastApplied?.index, 3);
  assert.ok(equalBytes(r.get("big")!, big));
  assert.deepEqual(r.pairs().map(([k, v]) => [k, v.length]), [["a", 5], ["big", big.length], [
    "z",
    4,
  ]]);
  assert.ok(openCopies <= 3 * bytes.length, `copied ${openCopies} of ${bytes.length}`);
});

test("snapshot decode: any chunking (1 byte, random sizes, one chunk) gives the same state", async () => {
  const source = new MemoryStateMachine();
  const entries = [];
  for (let i = 1; i <= 200; i++) {
    const value = new Uint8Array((i * 37) % 300).fill(i & 0xff);
    entries.push({ term: 2, index: i, type: "normal" as const, data: kvSet(`key-${i}`, value) });
  }
  entries.push({ term: 2, index: 201, type: "normal" as const, data: kvSet("", "empty key") });
  entries.push({ term: 2, index: 202, type: "normal" as const, data: kvSet("é-ü", "") });
  await source.apply(entries);
  const snap = await source.buildSnapshot();
  const bytes = await readAllBytes(snap.open());
  const random = new SeededRandom(7);
  const chunkings: Uint8Array[][] = [split(bytes, 1), split(bytes, 3), [bytes]];
  for (let k = 0; k < 5; k++) {
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < bytes.length) {
      const n = Math.floor(random.next() * 700); // zero-length chunks too
      out.push(bytes.subarray(at, at + n));
      at += n;
    }
    chunkings.push(out);
  }
  for (const chunks of chunkings) {
    const target = await MemoryStateMachine.open(new ChunkStore());
    await target.installSnapshot(snap.meta, streamOf(chunks));
    assert.deepEqual(target.pairs(), source.pairs());
    assert.equal(target.lastApplied?.index, 202);
  }
});

test("snapshot decode: truncated or over-long data is refused whatever the chunking", async () => {
  const source = new MemoryStateMachine();
  await source.apply([
    { term: 1, index: 1, type: "normal", data: kvSet("a", new Uint8Array(1000).fill(1)) },
    { term: 1, index: 2, type: "normal", data: kvSet("b", "2") },
  ]);
  const snap = await source.buildSnapshot();
  const bytes = await readAllBytes(snap.open());
  for (const size of [1, 7, 64, bytes.length + 1]) {
    for (
      const [data, why] of [
        [bytes.subarray(0, bytes.length - 1), /truncated/],
        [bytes.subarray(0, 10), /too short/],
        [concat([bytes, new Uint8Array([0])]), /trailing bytes/],
      ] as const
    ) {
      const target = await MemoryStateMachine.open(new ChunkStore());
      await assert.rejects(target.installSnapshot(snap.meta, streamOf(split(data, size))), why);
      assert.equal(target.lastApplied, null);
      assert.equal(target.size, 0);
    }
  }
});

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
