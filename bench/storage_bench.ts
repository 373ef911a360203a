/**
 * Throughput of the log stores: durable appends per second for batches of 1
 * and 100 entries (100-byte payloads), on this runtime's durable adapter
 * (`openStorage` with a path: bun:sqlite under Bun, Deno KV under Deno) and
 * on `MemoryLogStore` for reference. Every append is awaited before the next
 * (as the runtime does): this is latency-bound, one commit (fsync) each.
 *
 *   deno run -A bench/storage_bench.ts
 *   bun bench/storage_bench.ts
 *
 * Prints only; the data directory is created under .tmp/ and removed.
 *
 * @module
 */

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { openStorage } from "../adapters/mod.ts";
import type { LogStore } from "../src/storage.ts";
import type { Entry } from "../src/types.ts";

const PAYLOAD = 100;
const MIN_MS = 2000;
const WARMUP_MS = 3000;
const BATCHES = [1, 100];

function batch(from: number, n: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < n; i++) {
    const data = new Uint8Array(PAYLOAD);
    data.fill((from + i) & 0xff);
    out.push({ term: 1, index: from + i, type: "normal", data });
  }
  return out;
}

async function measure(name: string, store: LogStore, size: number): Promise<void> {
  let next = ((await store.logState()).lastLogId?.index ?? 0) + 1;
  // Warm up (a new SQLite WAL grows, and syncs its size, until its first checkpoint).
  for (const t0 = performance.now(); performance.now() - t0 < WARMUP_MS; next += size) {
    await store.append(batch(next, size));
  }
  const latencies: number[] = [];
  const start = performance.now();
  let now = start;
  while (now - start < MIN_MS) {
    const entries = batch(next, size);
    next += size;
    const t = performance.now();
    await store.append(entries);
    now = performance.now();
    latencies.push(now - t);
  }
  const seconds = (now - start) / 1000;
  latencies.sort((a, b) => a - b);
  const p50 = latencies[Math.floor(latencies.length / 2)]!;
  const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
  console.log(
    `${name.padEnd(14)} batch ${String(size).padStart(3)}: ` +
      `${Math.round(latencies.length / seconds).toLocaleString("en").padStart(7)} appends/s, ` +
      `${
        Math.round((latencies.length * size) / seconds).toLocaleString("en").padStart(9)
      } entries/s` +
      `  (p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms)`,
  );
}

const runtime = "Bun" in globalThis ? "Bun" : "Deno";
const root = new URL("../.tmp/", import.meta.url).pathname;
mkdirSync(root, { recursive: true });
const dir = mkdtempSync(`${root}storage-bench-`);
console.log(`storage bench on ${runtime}: awaited appends of ${PAYLOAD}-byte entries`);
try {
  for (const size of BATCHES) {
    const store = await openStorage({ path: `${dir}/${size}` });
    try {
      await measure(runtime === "Bun" ? "bun:sqlite" : "Deno KV", store, size);
    } finally {
      await store.close();
    }
  }
  for (const size of BATCHES) {
    await measure("memory", await openStorage({ kind: "memory" }), size);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
