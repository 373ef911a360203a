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
      assert.equal(await hooks.pragma("journal_mode"), "wal");
      assert.equal(await hooks.pragma("synchronous"), 2);
      assert.equal(await hooks.pragma("locking_mode"), "exclusive");
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

test(
  `${label}: the event loop runs while an append commits, and its promise means durable`,
  { skip },
  () =>
    withDir("bun-sqlite", async (dir) => {
      const store = await open(`${dir}/log`);
      const hooks = (await adapter())._testHooks(store);
      // 5,000 entries of 1 KiB: one transaction of ~5 MB, committed (fsync) in the worker.
      const many = range(1, 1, 5000, 1024);
      let spins = 0;
      let done = false;
      const spin = (): void => {
        if (done) return;
        spins++;
        setImmediate(spin);
      };
      setImmediate(spin);
      const appended = store.append(many);
      assert.ok(appended instanceof Promise);
      await appended;
      done = true;
      // A commit on the event loop would have completed inside append(): no turn between.
      assert.ok(spins > 0, "the event loop did not turn while the append committed");
      assert.equal(hooks.transactions, 1);
      // close() waits for the append before it, which resolves first, once committed.
      const order: string[] = [];
      const last = range(1, 5001, 5001, 1024);
      const tail = store.append(last).then(() => order.push("append"));
      const closed = store.close().then(() => order.push("close"));
      await Promise.all([tail, closed]);
      assert.deepEqual(order, ["append", "close"]);
      const again = await open(`${dir}/log`); // a fresh connection in a fresh worker
      assert.deepEqual((await again.logState()).lastLogId, { term: 1, index: 5001 });
      assert.deepEqual(views(await again.entries(1, 9999)), views([...many, ...last]));
      await again.close();
    }),
);

test(
  `${label}: if its worker dies, the write in flight rejects and the store stays failed`,
  { skip },
  () =>
    withDir("bun-sqlite", async (dir) => {
      const store = await open(`${dir}/log`);
      await store.append(range(1, 1, 10));
      const inFlight = store.append(range(1, 11, 5010, 1024));
      (await adapter())._testHooks(store).killWorker();
      assert.match((await rejection(inFlight)).message, /its worker exited/);
      assert.match(
        (await rejection(store.append(range(1, 11, 11)))).message,
        /^BunSqliteLogStore\.append: an earlier write failed \(BunSqliteLogStore: its worker exited\)/,
      );
      assert.match((await rejection(store.logState())).message, /an earlier write failed/);
      await store.close();
      assert.match((await rejection(store.readVote())).message, /closed/);
    }),
);
