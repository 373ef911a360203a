// Helpers of the file snapshot store's tests: the conformance harness over a
// directory (damage, a write cut short, listing, memory) and the snapshots
// the kill -9 child writes.

import process from "node:process";
import { open, readdir, readFile, truncate, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openFileSnapshotStore } from "../../adapters/file_snapshot_store.ts";
import type { SnapshotMeta } from "../../src/types.ts";
import { membershipOf } from "../../src/types.ts";
import type {
  SnapshotDamage,
  SnapshotStoreHarness,
} from "../../testing/snapshot_store_conformance.ts";
import { bytes } from "./_durable.ts";

/** The `.snap` files in `dir`, newest last. */
export async function snapFiles(dir: string): Promise<string[]> {
  return (await readdir(dir))
    .filter((n) => /^snap-\d+\.snap$/.test(n))
    .sort((a, b) => Number(a.slice(5, -5)) - Number(b.slice(5, -5)));
}

/** Where the data starts in a snapshot file's bytes. */
export function dataStart(file: Uint8Array): number {
  return 16 + new DataView(file.buffer, file.byteOffset).getUint32(12, true) + 4;
}

async function _newest(dir: string): Promise<string> {
  const files = await snapFiles(dir);
  if (files.length === 0) throw new Error(`no snapshot file in ${dir}`);
  return join(dir, files[files.length - 1]!);
}

async function _flip(path: string, at: number): Promise<void> {
  const fh = await open(path, "r+");
  try {
    const b = new Uint8Array(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0x20;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** Damages the newest snapshot file in `dir`. */
export async function damage(dir: string, how: SnapshotDamage): Promise<void> {
  const path = await _newest(dir);
  const file = await readFile(path);
  const start = dataStart(file);
  switch (how) {
    case "flip-data":
      return _flip(path, start + Math.floor((file.length - 20 - start) / 2));
    case "flip-meta":
      return _flip(path, 16 + Math.floor((start - 20) / 2));
    case "truncate":
      return truncate(path, file.length - 1000);
    case "foreign": {
      const foreign = new Uint8Array(file.length);
      foreign.set(new TextEncoder().encode("SQLite format 3\0"));
      foreign.set(bytes(file.length - 16, 7), 16);
      return writeFile(path, foreign);
    }
  }
}

/** The conformance harness over `dir`. */
export function fileHarness(dir: string): SnapshotStoreHarness {
  return {
    open: () => openFileSnapshotStore(dir, { readChunkSize: 64 * 1024 }),
    damage: (how) => damage(dir, how),
    async leavePartialWrite() {
      // What a crash part-way through the next write leaves: the head of a
      // snapshot file (header, some data, no trailer) under the next name.
      const path = await _newest(dir);
      const seq = Number(path.slice(path.lastIndexOf("snap-") + 5, -5));
      const file = await readFile(path);
      await writeFile(join(dir, `snap-${seq + 1}.tmp`), file.subarray(0, file.length >> 1));
    },
    list: () => readdir(dir),
    memory: () => process.memoryUsage().rss,
  };
}

/** The snapshot number `n` of the kill -9 child. */
export function childSnapshot(n: number): { meta: SnapshotMeta; data: Uint8Array } {
  return {
    meta: {
      lastLogId: { term: 1, index: n * 100 },
      lastMembership: { logId: { term: 1, index: 1 }, membership: membershipOf([1]) },
      snapshotId: `s-${n}`,
    },
    data: bytes(2 * 1024 * 1024, n),
  };
}
