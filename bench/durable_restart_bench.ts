/**
 * Restart of a durable node with durable snapshots (issue 14 §1): one node
 * over `openNodeStorage` (Deno KV under Deno, bun:sqlite under Bun, snapshots
 * in `<dir>/snapshots`) and `MemoryStateMachine.open`, writes N values over K
 * keys (`clientWriteMany` batches of 1000), then is shut down and restarted;
 * the restart is timed from opening the data directory until the node has
 * applied every write (restore the snapshot + re-apply the log tail) and
 * until it is leader again. Also prints the data directory's size after the
 * writes (and after the restart) and the log's purge point.
 *
 *   deno run -A bench/durable_restart_bench.ts [N] [K] [never]
 *   bun bench/durable_restart_bench.ts [N] [K] [never]
 *
 * Defaults: N = 1,000,000, K = 1,000, the default snapshot policy (every
 * 5000 entries, keeping 1000); `never` turns snapshots (and purging) off,
 * for comparison. The directory is created under .tmp/ and removed.
 *
 * @module
 */

import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import process from "node:process";
import { openNodeStorage } from "../adapters/mod.ts";
import { kvSet, MemoryStateMachine } from "../kv/mod.ts";
import { Raft } from "../src/runtime/raft.ts";
import type { Config } from "../src/config.ts";
import { MemoryNetwork } from "../testing/memory_network.ts";

const args = process.argv.slice(2).filter((a) => !a.endsWith(".ts"));
const N = Number(args[0] ?? 1_000_000);
const K = Number(args[1] ?? 1000);
const never = args.includes("never");
const runtime = "Bun" in globalThis ? "Bun" : "Deno";
const config: Partial<Config> = never ? { snapshotPolicy: { kind: "never" } } : {};

mkdirSync(".tmp", { recursive: true });
const dir = mkdtempSync(".tmp/durable-restart-bench-");

async function sizeOf(path: string): Promise<number> {
  const s = await stat(path);
  if (!s.isDirectory()) return s.size;
  let total = 0;
  for (const name of await readdir(path)) total += await sizeOf(`${path}/${name}`);
  return total;
}
const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

async function start(net: MemoryNetwork) {
  const storage = await openNodeStorage({ path: dir });
  const sm = await MemoryStateMachine.open(storage.snapshotStore!);
  const raft = await Raft.create({
    id: 1,
    config,
    logStore: storage.logStore,
    stateMachine: sm,
    network: net.client(1),
  });
  net.register(1, (_from, req, data) => raft.handle(req, data));
  return { storage, sm, raft };
}

try {
  const net = new MemoryNetwork();
  let node = await start(net);
  await node.raft.initialize([1]);
  await node.raft.metrics.wait({ timeout: 10_000 }).role("leader");
  const t0 = performance.now();
  const BATCH = 1000;
  for (let i = 0; i < N; i += BATCH) {
    const batch: Uint8Array[] = [];
    for (let j = i; j < Math.min(N, i + BATCH); j++) {
      batch.push(kvSet(`key-${j % K}`, `value-${j}`));
    }
    await node.raft.clientWriteMany(batch);
    // Requests from a network arrive as I/O events; yield to the event loop as they would
    // (under Bun with bun:sqlite, a loop of awaits alone never lets the snapshot's file I/O finish).
    await new Promise((r) => setTimeout(r, 0));
  }
  const writeMs = performance.now() - t0;
  // Let a snapshot in progress finish (and its purge), as a node left running would.
  await new Promise((r) => setTimeout(r, 1000));
  const m = node.raft.metrics.current;
  const last = m.lastApplied!.index;
  console.log(
    `${runtime}: ${N} writes over ${K} keys in ${(writeMs / 1000).toFixed(1)} s ` +
      `(${Math.round(N / (writeMs / 1000))}/s); last index ${last}, snapshot ${
        m.snapshot?.index ?? "none"
      }, purged ${m.purged?.index ?? "none"}; data dir ${mib(await sizeOf(dir))} ` +
      `(snapshots ${mib(await sizeOf(`${dir}/snapshots`))})`,
  );
  await node.raft.shutdown();
  await node.storage.close();
  net.unregister(1);

  const t1 = performance.now();
  node = await start(net);
  const restoredAt = node.sm.lastApplied?.index ?? 0;
  const tOpen = performance.now() - t1;
  await node.raft.metrics.wait({ timeout: 600_000 }).appliedAtLeast(last);
  const tApplied = performance.now() - t1;
  await node.raft.metrics.wait({ timeout: 10_000 }).role("leader");
  const tLeader = performance.now() - t1;
  const ok = node.sm.size === Math.min(K, N) &&
    new TextDecoder().decode(node.sm.get(`key-${(N - 1) % K}`)!) === `value-${N - 1}`;
  console.log(
    `${runtime}: restart: state machine restored at ${restoredAt} in ${tOpen.toFixed(0)} ms ` +
      `(open storage + snapshot); all ${last} applied after ${tApplied.toFixed(0)} ms ` +
      `(${node.sm.appliedCount} entries re-applied); leader after ${tLeader.toFixed(0)} ms; ` +
      `state ${ok ? "ok" : "WRONG"}; data dir ${mib(await sizeOf(dir))}`,
  );
  await node.raft.shutdown();
  await node.storage.close();
  if (!ok) process.exitCode = 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
