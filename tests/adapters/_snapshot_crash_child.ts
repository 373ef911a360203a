// Run by tests/adapters/snapshot_crash_test.ts: a durable single-node Raft
// (openNodeStorage: the runtime's log store + FileSnapshotStore;
// MemoryStateMachine.open) that writes for ever and kills itself with SIGKILL
// at one point of its second snapshot of this run:
//
//   after-snapshot  the snapshot is durable (its write resolved), the runtime
//                   has not heard of it: the log is not purged behind it
//   during-purge    the purge behind it has committed its first atomic of
//                   several (Deno KV only: bun:sqlite purges in one
//                   synchronous transaction)
//   after-purge     the purge behind it resolved
//
// Arguments: <data dir> <marker file> <ack file> <mode> <first write number>.
// Write j sets k<j % 97> to v<j>…; after each acknowledged batch the child
// appends "<last write number> <its log index>" to the ack file, and just
// before killing itself writes the marker file (JSON: the mode, the snapshot
// index, the purge target, …), both synchronously so they survive the kill.

import process from "node:process";
import { appendFileSync, writeFileSync } from "node:fs";
import { openNodeStorage } from "../../adapters/mod.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { Raft } from "../../src/runtime/raft.ts";
import type { SnapshotStore } from "../../src/snapshot_store.ts";
import type { LogId } from "../../src/types.ts";
import type { DenoKvLogStore } from "../../adapters/deno_kv.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { CRASH_CONFIG, IS_BUN, writeOf } from "./_snapshot_crash.ts";

const [dir, markerFile, ackFile, mode, first] = process.argv.slice(-5) as [
  string,
  string,
  string,
  string,
  string,
];
if (!["after-snapshot", "during-purge", "after-purge"].includes(mode)) {
  throw new Error(`unknown mode ${mode}`);
}

function die(marker: Record<string, unknown>): never {
  writeFileSync(markerFile, JSON.stringify({ mode, ...marker }));
  process.kill(process.pid, "SIGKILL");
  throw new Error("still alive after SIGKILL");
}

const storage = await openNodeStorage({ path: dir });
const inner = storage.snapshotStore!;
let snapshots = 0;
let armed: { snapshot: number } | null = null;

const snapshotStore: SnapshotStore = {
  current: () => inner.current(),
  close: () => inner.close(),
  async write(meta, data) {
    await inner.write(meta, data);
    if (++snapshots >= 2) {
      armed = { snapshot: meta.lastLogId!.index };
      if (mode === "after-snapshot") die(armed);
    }
  },
};

const log = storage.logStore;
const purge = log.purge.bind(log);
let purging: { snapshot: number; purgeTo: number } | null = null;
if (mode === "during-purge") {
  if (IS_BUN) throw new Error("during-purge needs a multi-atomic purge (Deno KV)");
  const { _testHooks } = await import("../../adapters/deno_kv.ts");
  const hooks = _testHooks(log as DenoKvLogStore);
  let commits = hooks.commits;
  Object.defineProperty(hooks, "commits", {
    get: () => commits,
    set: (n: number) => {
      commits = n;
      // The first atomic of the purge is committed; the others are not.
      if (purging !== null) die({ ...purging, atomicsCommitted: 1 });
    },
  });
}
let purgedBefore = 0;
log.purge = (upTo: LogId): Promise<void> | void => {
  // Only the purge behind the armed snapshot (an earlier one may come late).
  if (armed === null || upTo.index + CRASH_CONFIG.maxInSnapshotLogsToKeep! < armed.snapshot) {
    purgedBefore = upTo.index;
    return purge(upTo);
  }
  const target = { snapshot: armed.snapshot, purgeFrom: purgedBefore, purgeTo: upTo.index };
  if (mode === "during-purge") purging = target;
  const done = purge(upTo);
  if (mode !== "after-purge") return done;
  return Promise.resolve(done).then(() => die(target));
};

const sm = await MemoryStateMachine.open(snapshotStore);
const raft = await Raft.create({
  id: 1,
  config: CRASH_CONFIG,
  logStore: log,
  stateMachine: sm,
  network: new MemoryNetwork().client(1),
});
if (!raft.isInitialized()) await raft.initialize([1]);
await raft.metrics.wait({ timeout: 10_000 }).role("leader");

// Bounded: a run that never reaches its crash point exits with code 3.
let j = Number(first);
for (let batch = 0; batch < 200; batch++) {
  const commands: Uint8Array[] = [];
  for (let i = 0; i < 100; i++, j++) {
    const [key, value] = writeOf(j);
    commands.push(kvSet(key, value));
  }
  const results = await raft.clientWriteMany(commands);
  appendFileSync(ackFile, `${j - 1} ${results[results.length - 1]!.logId.index}\n`);
  // Let I/O callbacks run between batches, as a server's requests do. Without
  // it, under Bun with bun:sqlite (synchronous writes) and no network, the
  // whole write path is a chain of microtasks and the snapshot's file writes
  // never complete (200 batches, 0 snapshots; tests/kv/snapshot_starvation_test.ts).
  await new Promise((resolve) => setTimeout(resolve, 0));
}
process.stderr.write(`no crash after 200 batches (${snapshots} snapshots)\n`);
process.exit(3);
