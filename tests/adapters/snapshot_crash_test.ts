// kill -9 of a durable node between a snapshot and the purge of the log behind
// it (issue 14 §1: "a crash at any moment"). A child process
// (_snapshot_crash_child.ts) runs a single-node Raft on openNodeStorage (the
// runtime's own log store: Deno KV under Deno, bun:sqlite under Bun, and a
// FileSnapshotStore) with MemoryStateMachine.open, writes for ever and kills
// itself with SIGKILL at a precise point of a snapshot: once it is durable but
// before the purge, in the middle of the purge (Deno KV: after the first of
// its atomics), right after the purge. Each restart must recover every
// acknowledged write, with the state machine restored from the latest complete
// snapshot and only the log after it applied.

import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openNodeStorage } from "../../adapters/mod.ts";
import { MemoryStateMachine } from "../../kv/mod.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { withDir } from "./_durable.ts";
import { CRASH_CONFIG, IS_BUN, stateAfter, writeNumberOf } from "./_snapshot_crash.ts";

type Mode = "after-snapshot" | "during-purge" | "after-purge";

interface Marker {
  readonly mode: Mode;
  /** The index of the snapshot whose purge the crash is about (durable). */
  readonly snapshot: number;
  /** The purge point before the crashed purge (during/after-purge). */
  readonly purgeFrom?: number;
  /** The purge the crash is in or after (during/after-purge). */
  readonly purgeTo?: number;
}

const KEEP = CRASH_CONFIG.maxInSnapshotLogsToKeep!;
const CHILD = fileURLToPath(new URL("./_snapshot_crash_child.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Runs the child until it kills itself; returns its marker and last acknowledgement. */
async function crashChild(
  dir: string,
  mode: Mode,
  first: number,
): Promise<{ marker: Marker; acked: { write: number; index: number } }> {
  const data = `${dir}/data`;
  const markerFile = `${dir}/marker.json`;
  const ackFile = `${dir}/acks.txt`;
  rmSync(markerFile, { force: true });
  rmSync(ackFile, { force: true });
  const pre = IS_BUN ? [] : ["run", "-A"];
  const proc = spawn(
    process.execPath,
    [...pre, CHILD, data, markerFile, ackFile, mode, `${first}`],
    {
      cwd: ROOT,
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  proc.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
  const timer = setTimeout(() => proc.kill("SIGKILL"), 90_000);
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) =>
    proc.on("exit", (c, s) => resolve([c, s]))
  );
  clearTimeout(timer);
  assert.equal(signal, "SIGKILL", `child exited with ${code} / ${signal}: ${err}`);
  assert.ok(existsSync(markerFile), `killed without reaching its crash point: ${err}`);
  const marker = JSON.parse(readFileSync(markerFile, "utf8")) as Marker;
  assert.equal(marker.mode, mode);
  let acked = { write: first - 1, index: 0 };
  if (existsSync(ackFile)) {
    const lines = readFileSync(ackFile, "utf8").split("\n").filter((l) => /^\d+ \d+$/.test(l));
    const last = lines[lines.length - 1];
    if (last !== undefined) {
      const [w, i] = last.split(" ").map(Number) as [number, number];
      acked = { write: w, index: i };
    }
  }
  return { marker, acked };
}

/**
 * Opens the crashed node's storage (in this process, with this runtime's
 * store), checks the snapshot and log it left, restarts the node and checks
 * its state. Returns the last write the state holds.
 */
async function recover(
  dir: string,
  marker: Marker,
  acked: { write: number; index: number },
): Promise<number> {
  const storage = await openNodeStorage({ path: `${dir}/data` });
  let raft: Raft<Uint8Array | null> | null = null;
  try {
    const snap = await storage.snapshotStore!.current();
    assert.ok(snap !== null, "a snapshot is current");
    const snapIndex = snap.meta.lastLogId!.index;
    assert.equal(snapIndex, marker.snapshot, "the latest complete snapshot is current");

    const state = await storage.logStore.logState();
    const purged = state.lastPurged?.index ?? 0;
    const last = state.lastLogId!.index;
    switch (marker.mode) {
      case "after-snapshot":
        // Its purge never ran: the log still reaches back behind the snapshot.
        assert.ok(purged < snapIndex - KEEP, `purged ${purged}, snapshot ${snapIndex}`);
        break;
      case "during-purge":
        // Deno KV records the purge point in the purge's first atomic.
        assert.ok(marker.purgeTo! - marker.purgeFrom! > 1000, "a purge of several atomics");
        assert.equal(purged, marker.purgeTo);
        break;
      case "after-purge":
        assert.equal(purged, marker.purgeTo);
        break;
      default:
        throw new Error(`unknown mode ${marker.mode satisfies never}`);
    }
    assert.ok(purged <= snapIndex, `purged ${purged} beyond the snapshot ${snapIndex}`);
    assert.ok(last >= acked.index, `last ${last} < acknowledged index ${acked.index}`);
    // The log after the purge point reads back whole, entry by entry.
    const entries = await storage.logStore.entries(purged + 1, last);
    assert.equal(entries.length, last - purged);
    entries.forEach((e, i) => assert.equal(e.index, purged + 1 + i));

    // Restart: the state machine from the snapshot, then only the log after it.
    const sm = await MemoryStateMachine.open(storage.snapshotStore!, { recordApplyLog: true });
    assert.equal(sm.lastApplied?.index, snapIndex, "restored from the snapshot");
    raft = await Raft.create({
      id: 1,
      config: CRASH_CONFIG,
      logStore: storage.logStore,
      stateMachine: sm,
      network: new MemoryNetwork().client(1),
    });
    await raft.metrics.wait({ timeout: 10_000 }).role("leader");
    await raft.metrics.wait({ timeout: 10_000 }).appliedAtLeast(last);
    assert.equal(sm.applyLog[0]?.index, snapIndex + 1, "applying starts after the snapshot");
    assert.equal(sm.appliedCount, raft.metrics.current.lastApplied!.index - snapIndex);

    // Every acknowledged write, in order, and nothing that was not written.
    const values = new Map(sm.pairs().map(([k, v]) => [k, new TextDecoder().decode(v)]));
    const m = Math.max(...[...values.values()].map(writeNumberOf));
    assert.ok(m >= acked.write, `holds writes up to ${m}, acknowledged ${acked.write}`);
    assert.deepEqual(values, stateAfter(m));
    return m;
  } finally {
    await raft?.shutdown();
    await storage.close();
  }
}

/** Two crash-and-recover rounds at `mode`'s point, the second on the recovered data. */
function crashTest(mode: Mode, skip: string | false): void {
  test(`snapshot crash (${IS_BUN ? "bun:sqlite" : "Deno KV"}): kill -9 ${mode}`, {
    skip,
    timeout: 240_000,
  }, () =>
    withDir("snapshot-crash", async (dir) => {
      let next = 0;
      for (let round = 0; round < 2; round++) {
        const { marker, acked } = await crashChild(dir, mode, next);
        const m = await recover(dir, marker, acked);
        next = m + 1;
      }
    }));
}

crashTest("after-snapshot", false);
crashTest(
  "during-purge",
  IS_BUN
    ? "bun:sqlite purges in one synchronous transaction: no point inside it to kill at"
    : false,
);
crashTest("after-purge", false);
