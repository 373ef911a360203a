/**
 * Throughput of the durable snapshot store (`FileSnapshotStore`): writes a
 * 256 MiB snapshot, generated 1 MiB at a time as it streams (timed until
 * `write` resolves: data, trailer, fsync, rename, directory fsync), then
 * reads it back through `open()` (CRC-32 checked as it reads; the file was
 * just written, so it mostly comes from the page cache). Also prints CRC-32
 * alone, the read path's bound, and the peak RSS growth over both.
 *
 *   deno run -A bench/snapshot_store_bench.ts [MiB]
 *   bun bench/snapshot_store_bench.ts [MiB]
 *
 * Prints only; the directory is created under .tmp/ and removed.
 *
 * @module
 */

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import process from "node:process";
import { crc32 } from "../adapters/_crc32.ts";
import { openFileSnapshotStore } from "../adapters/file_snapshot_store.ts";
import { membershipOf } from "../src/types.ts";

const arg = Number(process.argv[process.argv.length - 1]);
const MIB = Number.isInteger(arg) && arg > 0 ? arg : 256;
const SIZE = MIB * 1024 * 1024;
const CHUNK = 1024 * 1024;
const runtime = "Bun" in globalThis ? "Bun" : "Deno";

mkdirSync(".tmp", { recursive: true });
const dir = mkdtempSync(".tmp/snapshot-bench-");
const rss = (): number => process.memoryUsage().rss;
const base = rss();
let peak = base;

try {
  const store = await openFileSnapshotStore(dir);
  let sent = 0;
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= SIZE) {
        controller.close();
        return;
      }
      const chunk = new Uint8Array(Math.min(CHUNK, SIZE - sent));
      chunk.fill(sent / CHUNK);
      sent += chunk.length;
      peak = Math.max(peak, rss());
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
  const meta = {
    lastLogId: { term: 1, index: 1_000_000 },
    lastMembership: { logId: { term: 1, index: 1 }, membership: membershipOf([1, 2, 3]) },
    snapshotId: "bench",
  };
  let t0 = performance.now();
  await store.write(meta, source);
  const writeMs = performance.now() - t0;

  const snap = (await store.current())!;
  t0 = performance.now();
  let read = 0;
  for await (const chunk of snap.open()) {
    read += chunk.length;
    peak = Math.max(peak, rss());
  }
  const readMs = performance.now() - t0;
  if (read !== SIZE) throw new Error(`read ${read} bytes, wrote ${SIZE}`);
  await store.close();

  const block = new Uint8Array(CHUNK).fill(7);
  t0 = performance.now();
  let c = 0;
  for (let i = 0; i < MIB; i++) c = crc32(block, c);
  const crcMs = performance.now() - t0;

  const rate = (ms: number): string => `${(MIB / (ms / 1000)).toFixed(0)} MiB/s`;
  console.log(
    `${runtime}: ${MIB} MiB snapshot: write ${rate(writeMs)} (${(writeMs / 1000).toFixed(2)} s), ` +
      `read ${rate(readMs)} (${(readMs / 1000).toFixed(2)} s); CRC-32 alone ${rate(crcMs)}; ` +
      `peak RSS +${((peak - base) / 1024 / 1024).toFixed(0)} MiB`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
