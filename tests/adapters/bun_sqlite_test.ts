import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import type { BunSqliteLogStore } from "../../adapters/bun_sqlite.ts";
import type { LogStore } from "../../src/storage.ts";
import {
  bytes,
  durableSuite,
  IS_BUN,
  normal,
  range,
  rejection,
  snapshotOf,
  views,
  withDir,
} from "./_durable.ts";

const skip = IS_BUN ? false : "Bun only";
const label = "bun sqlite log store";

// Loaded dynamically: the module itself loads under Deno, but only Bun can open a store.
const adapter = (): Promise<typeof import("../../adapters/bun_sqlite.ts")> =>
  import("../../adapters/bun_sqlite.ts");

async function open(file: string): Promise<BunSqliteLogStore> {
  return await (await adapter()).BunSqliteLogStore.open(file);
}

durableSuite({
  label,
  skip,
  open: (file): Promise<LogStore> => open(file),
  command: () => [process.execPath],
});

test(
  `${label}: WAL, synchronous=FULL and an exclusive lock`,
  { skip },
  () =>
    withDir("bun-sqlite", async (dir) => {
      const store = await open(`${dir}/log`);
      const hooks = (await adapter())._testHooks(store);
      assert.equal(hooks.pragma("journal_mode"), "wal");
      assert.equal(hooks.pragma("synchronous"), 2);
      assert.equal(hooks.pragma("locking_mode"), "exclusive");
      await store.append(range(1, 1, 2));
      assert.match((await rejection(open(`${dir}/log`))).message, /in use by another store/);
      await store.close();
      const again = await open(`${dir}/log`); // the lock is released on close
      assert.deepEqual((await again.logState()).lastLogId, { term: 1, index: 2 });
      await again.close();
    }),
);

test(
  `${label}: an append of 5,000 entries (or of a 1 MiB entry) is one transaction`,
  { skip },
  () =>
    withDir("bun-sqlite", async (dir) => {
      const store = await open(`${dir}/log`);
      const hooks = (await adapter())._testHooks(store);
      const many = range(1, 1, 5000, 16);
      await store.append(many);
      assert.equal(hooks.transactions, 1);
      const big = normal(1, 5001, bytes(1 << 20, 5));
      await store.append([big]);
      assert.equal(hooks.transactions, 2);
      await store.purge({ term: 1, index: 4000 });
      assert.equal(hooks.transactions, 3);
      await store.close();
      const again = await open(`${dir}/log`);
      assert.deepEqual(views(await again.entries(1, 9999)), views([...many.slice(4000), big]));
      await again.close();
    }),
);

test(
  `${label}: an append interrupted mid-transaction leaves nothing of it`,
  { skip },
  () =>
    withDir("bun-sqlite", async (dir) => {
      const store = await open(`${dir}/log`);
      await store.append(range(1, 1, 10));
      (await adapter())._testHooks(store).crashAfterRows = 2500;
      assert.match((await rejection(store.append(range(2, 11, 5010)))).message, /simulated crash/);
      await rejection(store.logState()); // the crashed store is closed
      const again = await open(`${dir}/log`);
      assert.deepEqual((await again.logState()).lastLogId, { term: 1, index: 10 });
      assert.deepEqual(views(await again.entries(1, 9999)), views(range(1, 1, 10)));
      await again.append(range(2, 11, 12));
      await again.close();
    }),
);

test(
  `${label}: refuses a database with another layout version, and a corrupt log`,
  { skip },
  () =>
    withDir("bun-sqlite", async (dir) => {
      const { Database } = await import("bun:sqlite");
      const other = new Database(`${dir}/other`);
      other.exec("PRAGMA user_version = 7");
      other.close();
      assert.match((await rejection(open(`${dir}/other`))).message, /layout version 7/);
      const store = await open(`${dir}/log`);
      await store.append(range(1, 1, 5));
      await store.close();
      const raw = new Database(`${dir}/log`);
      raw.exec("DELETE FROM raft_log WHERE idx = 3");
      raw.close();
      assert.match((await rejection(open(`${dir}/log`))).message, /corrupt/);
    }),
);

test(
  `${label}: the whole state survives reopen exactly`,
  { skip },
  () =>
    withDir("bun-sqlite", async (dir) => {
      const store = await open(`${dir}/log`);
      await store.saveVote({ term: 4, votedFor: 2, committed: true });
      await store.append([...range(1, 1, 5), normal(2, 6, bytes(100_000, 6))]);
      await store.purge({ term: 1, index: 3 });
      await store.saveCommitted({ term: 2, index: 6 });
      const before = await snapshotOf(store);
      await store.close();
      const again = await open(`${dir}/log`);
      assert.deepEqual(await snapshotOf(again), before);
      await again.close();
    }),
);
