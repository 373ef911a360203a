// Run by the kill -9 test of tests/adapters/file_snapshot_store_test.ts: opens
// a FileSnapshotStore in the directory given as the last argument, then writes
// snapshots "s-1", "s-2", … of 2 MiB (bytes generated from the number, in
// 64 KiB chunks) for ever, printing "durable N" once each write resolved,
// until it is killed.

import process from "node:process";
import { openFileSnapshotStore } from "../../adapters/file_snapshot_store.ts";
import { bytesToStream } from "../../src/byte_stream.ts";
import { childSnapshot } from "./_snapshot_files.ts";

const dir = process.argv[process.argv.length - 1]!;
const store = await openFileSnapshotStore(dir);
const current = await store.current();
let n = current === null ? 1 : Number(current.meta.snapshotId.slice(2)) + 1;
for (;; n++) {
  const { meta, data } = childSnapshot(n);
  await store.write(meta, bytesToStream(data, 64 * 1024));
  process.stdout.write(`durable ${n}\n`);
}
