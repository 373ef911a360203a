// Run by the kill -9 test of tests/adapters/_durable.ts: opens the runtime's
// durable store at the file given as the last argument, then appends batches
// of 1,500 entries of 600 bytes (several Deno KV atomics each) for ever,
// printing "acked N" once each append resolved, until it is killed.

import process from "node:process";
import type { LogStore } from "../../src/storage.ts";
import { bytes, IS_BUN, normal } from "./_durable.ts";

const file = process.argv[process.argv.length - 1]!;
let store: LogStore;
if (IS_BUN) {
  const { BunSqliteLogStore } = await import("../../adapters/bun_sqlite.ts");
  store = await BunSqliteLogStore.open(file);
} else {
  const { DenoKvLogStore } = await import("../../adapters/deno_kv.ts");
  store = await DenoKvLogStore.open(file);
}
let next = ((await store.logState()).lastLogId?.index ?? 0) + 1;
for (;;) {
  const batch = [];
  for (let i = 0; i < 1500; i++, next++) batch.push(normal(1, next, bytes(600, next)));
  await store.append(batch);
  process.stdout.write(`acked ${next - 1}\n`);
}
