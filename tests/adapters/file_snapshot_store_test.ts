import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  FileSnapshotStore,
  openFileSnapshotStore,
  SNAPSHOT_FILE_VERSION,
} from "../../adapters/file_snapshot_store.ts";
import { bytesToStream, readAllBytes } from "../../src/byte_stream.ts";
import { ConfigError, StorageError } from "../../src/errors.ts";
import type { SnapshotMeta } from "../../src/types.ts";
import { membershipOf } from "../../src/types.ts";
import { SNAPSHOT_STORE_CASES } from "../../testing/snapshot_store_conformance.ts";
import { rejection } from "../_entries.ts";
import { bytes, IS_BUN, withDir } from "./_durable.ts";
import { childSnapshot, damage, dataStart, fileHarness, snapFiles } from "./_snapshot_files.ts";

const label = "file snapshot store";

for (const c of SNAPSHOT_STORE_CASES) {
  test(`${label}: ${c.name}`, () => withDir("snap", (dir) => c.run(fileHarness(dir))));
}

function meta(index: number, id: string): SnapshotMeta {
  return {
    lastLogId: { term: 2, index },
    lastMembership: { logId: { term: 1, index: 1 }, membership: membershipOf([1, 2, 3]) },
    snapshotId: id,
  };
}

async function storageError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const e = await rejection(p);
  assert.ok(e instanceof StorageError, `expected a StorageError, got ${e}`);
  assert.match(String(e.cause instanceof Error ? e.cause.message : e.message), pattern);
}

test(`${label}: the file format — name, magic, version, metadata, trailer`, () =>
  withDir("snap", async (dir) => {
    const store = await openFileSnapshotStore(dir);
    const data = bytes(5000, 1);
    await store.write(meta(7, "fmt"), bytesToStream(data, 999));
    await store.close();
    assert.deepEqual(await readdir(dir), ["snap-1.snap"]);
    const file = new Uint8Array(await readFile(join(dir, "snap-1.snap")));
    assert.equal(new TextDecoder().decode(file.subarray(0, 8)), "RAFTSNAP");
    const v = new DataView(file.buffer, file.byteOffset);
    assert.equal(v.getUint32(8, true), SNAPSHOT_FILE_VERSION);
    const start = dataStart(file);
    assert.deepEqual(file.subarray(start, start + data.length), data);
    assert.equal(Number(v.getBigUint64(file.length - 20, true)), data.length);
    assert.equal(new TextDecoder().decode(file.subarray(file.length - 8)), "RAFTSEND");
  }));

test(`${label}: other files in the directory are left alone; the directory is created`, () =>
  withDir("snap", async (base) => {
    const dir = join(base, "data", "node-1");
    const store = await openFileSnapshotStore(dir);
    assert.equal(await store.current(), null);
    await writeFile(join(dir, "raft-log.sqlite"), "not a snapshot");
    await writeFile(join(dir, "snap-x.tmp"), "not ours either");
    await store.write(meta(1, "a"), bytesToStream(bytes(10, 1), 3));
    await store.write(meta(2, "b"), bytesToStream(bytes(10, 2), 3));
    await store.close();
    const again = await openFileSnapshotStore(dir);
    assert.equal((await again.current())?.meta.snapshotId, "b");
    await again.close();
    assert.deepEqual((await readdir(dir)).sort(), ["raft-log.sqlite", "snap-2.snap", "snap-x.tmp"]);
  }));

test(`${label}: a crash after the rename, before the old file's deletion: the newest is current, the older deleted`, () =>
  withDir("snap", async (dir) => {
    const store = await openFileSnapshotStore(dir);
    await store.write(meta(1, "a"), bytesToStream(bytes(100, 1), 30));
    await store.close();
    const a = await readFile(join(dir, "snap-1.snap"));
    const store2 = await openFileSnapshotStore(dir);
    await store2.write(meta(2, "b"), bytesToStream(bytes(100, 2), 30));
    await store2.close();
    await writeFile(join(dir, "snap-1.snap"), a); // as if its deletion was lost
    const again = await openFileSnapshotStore(dir);
    assert.equal((await again.current())?.meta.snapshotId, "b");
    assert.deepEqual(await snapFiles(dir), ["snap-2.snap"]);
    await again.close();
  }));

test(`${label}: a damaged newest file is refused, not replaced by an older one`, () =>
  withDir("snap", async (dir) => {
    const store = await openFileSnapshotStore(dir);
    await store.write(meta(1, "a"), bytesToStream(bytes(100, 1), 30));
    await store.close();
    const a = await readFile(join(dir, "snap-1.snap"));
    const store2 = await openFileSnapshotStore(dir);
    await store2.write(meta(2, "b"), bytesToStream(bytes(100, 2), 30));
    await store2.close();
    await writeFile(join(dir, "snap-1.snap"), a);
    await damage(dir, "flip-meta");
    await storageError(openFileSnapshotStore(dir), /snap-2\.snap is corrupt: header checksum/);
    assert.deepEqual(await snapFiles(dir), ["snap-1.snap", "snap-2.snap"]); // nothing deleted
  }));

test(`${label}: each kind of damage is named: wrong magic, truncation, header and data checksums`, () =>
  withDir("snap", async (dir) => {
    const write = async (): Promise<void> => {
      for (const f of await readdir(dir)) await rm(join(dir, f));
      const s = await openFileSnapshotStore(dir);
      await s.write(meta(1, "a"), bytesToStream(bytes(10_000, 1), 3000));
      await s.close();
    };
    await write();
    await damage(dir, "foreign");
    await storageError(openFileSnapshotStore(dir), /is not a snapshot file \(wrong magic\)/);
    await write();
    await damage(dir, "truncate");
    await storageError(openFileSnapshotStore(dir), /truncated/);
    await write();
    await damage(dir, "flip-meta");
    await storageError(openFileSnapshotStore(dir), /header checksum mismatch/);
    await write();
    await damage(dir, "flip-data");
    // Found when read (the default) …
    const s = await openFileSnapshotStore(dir);
    const snap = await s.current();
    assert.ok(snap !== null);
    await storageError(readAllBytes(snap.open()), /data checksum mismatch/);
    await s.close();
    // … or at open with verifyOnOpen.
    await storageError(
      openFileSnapshotStore(dir, { verifyOnOpen: true }),
      /data checksum mismatch/,
    );
    await writeFile(join(dir, "snap-1.snap"), "");
    await storageError(openFileSnapshotStore(dir), /not a snapshot file or is truncated/);
  }));

test(`${label}: a handle opened after its snapshot was replaced errors with StorageError`, () =>
  withDir("snap", async (dir) => {
    const store = await openFileSnapshotStore(dir);
    await store.write(meta(1, "a"), bytesToStream(bytes(100, 1), 30));
    const a = await store.current();
    await store.write(meta(2, "b"), bytesToStream(bytes(100, 2), 30));
    await storageError(readAllBytes(a!.open()), /snapshot a .* was replaced by a newer one/);
    await store.close();
  }));

test(`${label}: a data stream cancelled at any point closes its file (no handle left to the GC)`, () =>
  withDir("snap", async (dir) => {
    // Bun ends the process when it garbage-collects an unclosed FileHandle: a
    // snapshot transfer to a peer that refuses at once cancels the stream
    // before its file was even opened. Count this process's open descriptors.
    const fds = async (): Promise<number> => (await readdir("/proc/self/fd")).length;
    const store = await openFileSnapshotStore(dir);
    await store.write(meta(1, "a"), bytesToStream(bytes(100, 1), 10));
    const snap = await store.current();
    const before = await fds();
    for (let i = 0; i < 20; i++) {
      await snap!.open().cancel("at once"); // before start() opened the file
      const reader = snap!.open().getReader();
      const pending = reader.read(); // cancelled while opening / reading
      await reader.cancel("during a read");
      await pending.catch(() => {});
      const partial = snap!.open().getReader();
      await partial.read();
      await partial.cancel("between reads");
    }
    // Closing is asynchronous: let it finish (bounded).
    for (let i = 0; i < 50 && (await fds()) > before; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(await fds(), before, "every cancelled stream closed its file");
    await store.close();
  }));

test(`${label}: close() abandons a write in progress: stream cancelled, promise rejected, file deleted`, () =>
  withDir("snap", async (dir) => {
    const store = await openFileSnapshotStore(dir);
    let cancelled: unknown = null;
    let sent = 0;
    const writing = store.write(
      meta(1, "a"),
      new ReadableStream<Uint8Array>({
        async pull(c) {
          await new Promise((r) => setTimeout(r, 1));
          c.enqueue(bytes(1000, ++sent));
        },
        cancel(reason) {
          cancelled = reason;
        },
      }),
    );
    while (sent < 5) await new Promise((r) => setTimeout(r, 5));
    await store.close();
    await storageError(writing, /closed/);
    assert.ok(cancelled instanceof StorageError, "the data stream was not cancelled");
    assert.deepEqual(await readdir(dir), []);
    const again = await openFileSnapshotStore(dir);
    assert.equal(await again.current(), null);
    await again.close();
  }));

test(`${label}: a write with invalid metadata or non-byte chunks rejects and leaves nothing`, () =>
  withDir("snap", async (dir) => {
    const store = await openFileSnapshotStore(dir);
    await storageError(
      store.write(
        { ...meta(1, "a"), lastLogId: { term: -1, index: 1 } },
        bytesToStream(bytes(10, 1), 3),
      ),
      /was not written/,
    );
    await storageError(
      store.write(
        meta(1, "b"),
        new ReadableStream({ start: (c) => c.enqueue("text" as unknown as Uint8Array) }),
      ),
      /must be Uint8Array/,
    );
    assert.equal(await store.current(), null);
    assert.deepEqual(await readdir(dir), []);
    await store.close();
    await assert.rejects(FileSnapshotStore.open(""), ConfigError);
  }));

test(
  `${label}: kill -9 in the middle of writes leaves the last durable snapshot or the next, whole`,
  {
    timeout: 120_000,
  },
  () =>
    withDir("snap", async (dir) => {
      const child = fileURLToPath(new URL("./_snapshot_child.ts", import.meta.url));
      const root = fileURLToPath(new URL("../../", import.meta.url));
      const pre = IS_BUN ? [] : ["run", "-A"];
      let durable = 0;
      for (let round = 0; round < 3; round++) {
        const target = durable + 2;
        const proc = spawn(process.execPath, [...pre, child, dir], {
          cwd: root,
          stdio: ["ignore", "pipe", "pipe"],
        });
        let err = "";
        proc.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
        const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
        await new Promise<void>((resolve, reject) => {
          let buf = "";
          proc.stdout!.on("data", (d: Uint8Array) => {
            buf += new TextDecoder().decode(d);
            for (const m of buf.matchAll(/durable (\d+)\n/g)) {
              durable = Math.max(durable, Number(m[1]));
            }
            buf = buf.slice(buf.lastIndexOf("\n") + 1);
            if (durable >= target) {
              // Part-way into the next write, at a moment that varies.
              setTimeout(() => {
                proc.kill("SIGKILL");
                resolve();
              }, 3 * round);
            }
          });
          proc.on("exit", (code) => {
            if (durable < target) reject(new Error(`child exited (${code}) early: ${err}`));
          });
        });
        await exited;
        const store = await openFileSnapshotStore(dir);
        const snap = await store.current();
        assert.ok(snap !== null);
        const n = Number(snap.meta.snapshotId.slice(2));
        assert.ok(n === durable || n === durable + 1, `current s-${n}, last acked s-${durable}`);
        assert.deepEqual(await readAllBytes(snap.open()), childSnapshot(n).data);
        assert.deepEqual((await readdir(dir)).length, 1);
        await store.close();
        durable = n;
      }
    }),
);
