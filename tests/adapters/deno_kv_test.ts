import { test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { _testHooks, DenoKvLogStore } from "../../adapters/deno_kv.ts";
import {
  blank,
  bytes,
  durableSuite,
  IS_DENO,
  normal,
  range,
  rejection,
  snapshotOf,
  view,
  views,
  withDir,
} from "./_durable.ts";

const skip = IS_DENO ? false : "Deno only";
const label = "deno kv log store";

durableSuite({
  label,
  skip,
  open: (file) => DenoKvLogStore.open(file),
  command: () => [process.execPath, "run", "-A"],
});

test(`${label}: an entry of 1 MiB (chunked) and one of 3 MiB (several atomics) round-trip`, {
  skip,
}, () =>
  withDir("deno-kv", async (dir) => {
    const file = `${dir}/log`;
    const big = bytes(1 << 20, 1);
    const huge = bytes(3 * (1 << 20) + 7, 2);
    const entries = [normal(1, 1, big), blank(1, 2), normal(1, 3, huge), normal(1, 4)];
    const store = await DenoKvLogStore.open(file);
    const hooks = _testHooks(store);
    await store.append(entries);
    // 1 MiB + 3 MiB in atomics of at most 780 KB: 6 of them.
    assert.equal(hooks.commits, 6);
    assert.deepEqual(views(await store.entries(1, 4)), views(entries));
    assert.deepEqual(views(await store.entries(3, 3)), views([entries[2]!]));
    await store.close();
    const again = await DenoKvLogStore.open(file);
    assert.deepEqual(views(await again.entries(1, 4)), views(entries));
    await again.truncate(2);
    await again.append([normal(2, 2, bytes(10, 3))]);
    assert.deepEqual(
      views(await again.entries(1, 9)),
      views([entries[0]!, normal(2, 2, bytes(10, 3))]),
    );
    await again.close();
  }));

test(`${label}: an append of 5,000 small entries takes 6 atomics (999 entries each + the marker)`, {
  skip,
}, () =>
  withDir("deno-kv", async (dir) => {
    const file = `${dir}/log`;
    const many = range(1, 1, 5000, 16);
    const store = await DenoKvLogStore.open(file);
    const hooks = _testHooks(store);
    await store.append(many);
    assert.equal(hooks.commits, 6);
    await store.append(range(1, 5001, 5100, 16));
    assert.equal(hooks.commits, 7, "an append of 100 small entries is one atomic");
    await store.close();
    const again = await DenoKvLogStore.open(file);
    assert.deepEqual((await again.logState()).lastLogId, { term: 1, index: 5100 });
    assert.deepEqual(views(await again.entries(1, 5000)), views(many));
    await again.close();
  }));

test(`${label}: a crash after the first atomic of a split append reads back as a prefix`, {
  skip,
}, () =>
  withDir("deno-kv", async (dir) => {
    const file = `${dir}/log`;
    const store = await DenoKvLogStore.open(file);
    await store.append(range(1, 1, 10));
    const many = range(2, 11, 5010, 16);
    _testHooks(store).crashAfterCommits = 1;
    assert.match((await rejection(store.append(many))).message, /simulated crash/);
    await rejection(store.logState()); // the crashed store is closed
    const again = await DenoKvLogStore.open(file);
    const last = (await again.logState()).lastLogId;
    // The first atomic held 999 entries: 11..1009.
    assert.deepEqual(last, { term: 2, index: 1009 });
    assert.deepEqual(
      views(await again.entries(1, 6000)),
      views([...range(1, 1, 10), ...many.slice(0, 999)]),
    );
    // The log continues from the prefix.
    await again.append(many.slice(999));
    assert.deepEqual(views(await again.entries(1000, 6000)), views(many.slice(989)));
    await again.close();
  }));

test(`${label}: a crash inside a large entry leaves it out; its chunks are cleaned up`, {
  skip,
}, () =>
  withDir("deno-kv", async (dir) => {
    const file = `${dir}/log`;
    const store = await DenoKvLogStore.open(file);
    const huge = normal(1, 2, bytes(2 * (1 << 20), 9));
    _testHooks(store).crashAfterCommits = 1;
    await rejection(store.append([normal(1, 1), huge, normal(1, 3)]));
    const again = await DenoKvLogStore.open(file);
    assert.deepEqual(views(await again.entries(1, 9)), views([normal(1, 1)]));
    // A smaller entry at the same index must not pick up the stale chunks.
    await again.append([normal(1, 2, bytes(5, 1))]);
    await again.close();
    const third = await DenoKvLogStore.open(file);
    assert.deepEqual(
      views(await third.entries(1, 9)),
      views([normal(1, 1), normal(1, 2, bytes(5, 1))]),
    );
    await third.close();
  }));

test(`${label}: a crash after the first atomic of a truncate or a purge keeps its effect`, {
  skip,
}, () =>
  withDir("deno-kv", async (dir) => {
    const file = `${dir}/log`;
    let store = await DenoKvLogStore.open(file);
    await store.append(range(1, 1, 3000, 8));
    _testHooks(store).crashAfterCommits = 1;
    await rejection(store.truncate(11)); // deletes 2,990 keys: 3 atomics
    store = await DenoKvLogStore.open(file);
    assert.deepEqual((await store.logState()).lastLogId, { term: 1, index: 10 });
    assert.deepEqual(views(await store.entries(1, 3000)), views(range(1, 1, 10, 8)));
    await store.append(range(2, 11, 3000, 8));
    _testHooks(store).crashAfterCommits = 1;
    await rejection(store.purge({ term: 2, index: 2500 }));
    store = await DenoKvLogStore.open(file);
    assert.deepEqual(await store.logState(), {
      lastPurged: { term: 2, index: 2500 },
      lastLogId: { term: 2, index: 3000 },
    });
    assert.deepEqual(views(await store.entries(0, 3000)), views(range(2, 2501, 3000, 8)));
    await store.close();
  }));

test(
  `${label}: a second opener fences the first; a failed store stays failed`,
  { skip },
  () =>
    withDir("deno-kv", async (dir) => {
      const file = `${dir}/log`;
      const first = await DenoKvLogStore.open(file);
      await first.append(range(1, 1, 2));
      const second = await DenoKvLogStore.open(file);
      assert.match(
        (await rejection(first.append(range(1, 3, 3)))).message,
        /another store opened this database/,
      );
      // Later calls say why the store failed, not only that it did.
      assert.match(
        (await rejection(first.logState())).message,
        /an earlier write failed \(.*another store opened this database.*\)/,
      );
      await first.close();
      await second.append(range(1, 3, 4));
      assert.deepEqual((await second.logState()).lastLogId, { term: 1, index: 4 });
      await second.close();
    }),
);

test(
  `${label}: refuses a database with another layout version`,
  { skip },
  () =>
    withDir("deno-kv", async (dir) => {
      const file = `${dir}/log`;
      const kv = await Deno.openKv(file);
      await kv.set(["raft", "format"], 99);
      kv.close();
      assert.match((await rejection(DenoKvLogStore.open(file))).message, /layout version 99/);
      await rejection(DenoKvLogStore.open(""));
    }),
);

test(
  `${label}: the whole state survives reopen exactly`,
  { skip },
  () =>
    withDir("deno-kv", async (dir) => {
      const file = `${dir}/log`;
      const store = await DenoKvLogStore.open(file);
      await store.saveVote({ term: 4, votedFor: 2, committed: true });
      await store.append([...range(1, 1, 5), normal(2, 6, bytes(100_000, 6))]);
      await store.purge({ term: 1, index: 3 });
      await store.saveCommitted({ term: 2, index: 6 });
      const before = await snapshotOf(store);
      await store.close();
      const again = await DenoKvLogStore.open(file);
      assert.deepEqual(await snapshotOf(again), before);
      assert.deepEqual(
        view((await again.entries(6, 6))[0]!),
        view(normal(2, 6, bytes(100_000, 6))),
      );
      await again.close();
    }),
);

/** Keys under the store's log prefix, counted by opening the closed database directly. */
async function logKeys(file: string): Promise<number> {
  const kv = await Deno.openKv(file);
  let n = 0;
  for await (const _ of kv.list({ prefix: ["raft", "log"] })) n++;
  kv.close();
  return n;
}

test(
  `${label}: a purge of thousands of entries resolves after one atomic; the other keys go between later calls`,
  {
    skip,
  },
  () =>
    withDir("deno-kv", async (dir) => {
      const file = `${dir}/log`;
      const store = await DenoKvLogStore.open(file);
      const hooks = _testHooks(store);
      await store.append(range(1, 1, 3000, 8));
      const before = hooks.commits;
      await store.purge({ term: 1, index: 2900 });
      assert.equal(hooks.commits, before + 1, "the purge resolved after its first atomic");
      assert.deepEqual((await store.logState()).lastPurged, { term: 1, index: 2900 });
      await store.append(range(1, 3001, 3001, 8));
      // The append waited for one sweep atomic (queued before it), not for all of them.
      assert.ok(hooks.commits <= before + 4, `${hooks.commits - before} atomics before the append`);
      assert.deepEqual(views(await store.entries(1, 3001)), views(range(1, 2901, 3001, 8)));
      // 2,900 purged keys, 250 per atomic: the sweep ends within a bounded number of calls.
      for (let i = 0; i < 40 && hooks.commits < before + 13; i++) await store.logState();
      assert.equal(
        hooks.commits,
        before + 13,
        "the first atomic, 11 sweep atomics and the append; then no more",
      );
      await store.close();
      assert.equal(await logKeys(file), 101, "only 2901..3001 remain");
    }),
);

test(`${label}: purged keys a close left behind are deleted when the store is opened`, {
  skip,
}, () =>
  withDir("deno-kv", async (dir) => {
    const file = `${dir}/log`;
    const store = await DenoKvLogStore.open(file);
    await store.append(range(1, 1, 3000, 8));
    await store.purge({ term: 1, index: 2990 });
    await store.close(); // the sweep is cut short
    assert.ok(await logKeys(file) > 10, "purged keys are still there after the close");
    const again = await DenoKvLogStore.open(file);
    assert.deepEqual(views(await again.entries(1, 3000)), views(range(1, 2991, 3000, 8)));
    await again.close();
    assert.equal(await logKeys(file), 10);
  }));

/** `range(term, from, to, 8)` with the entries at `big` replaced by ones of the given sizes. */
function withBig(term: number, from: number, to: number, big: Record<number, number>) {
  return range(term, from, to, 8).map((e) =>
    big[e.index] === undefined ? e : normal(term, e.index, bytes(big[e.index]!, e.index))
  );
}

/** Lets a queued sweep finish: each call waits behind the sweep atomics queued before it. */
async function settleSweep(store: DenoKvLogStore): Promise<void> {
  for (let i = 0; i < 60; i++) await store.logState();
}

test(
  `${label}: a purge deletes every key of the purged entries, chunked ones included, whether written before or since the open`,
  { skip },
  () =>
    withDir("deno-kv", async (dir) => {
      const file = `${dir}/log`;
      const first = await DenoKvLogStore.open(file);
      // Before the open: 1..400, entry 100 in 4 chunks.
      await first.append(withBig(1, 1, 400, { 100: 200_000 }));
      await first.close();
      const store = await DenoKvLogStore.open(file);
      // Since the open: 401..800, entry 600 in 2 chunks, 700 in 3.
      await store.append(withBig(1, 401, 800, { 600: 70_000, 700: 140_000 }));
      await store.purge({ term: 1, index: 650 });
      await settleSweep(store);
      assert.deepEqual(
        views(await store.entries(1, 800)),
        views(withBig(1, 651, 800, { 700: 140_000 })),
      );
      await store.close();
      assert.equal(await logKeys(file), 150 + 2, "651..800, entry 700 with 3 keys");
      // Purging past the end after a truncate: keys above the truncation are gone already.
      const again = await DenoKvLogStore.open(file);
      await again.truncate(751);
      await again.append(withBig(1, 751, 760, { 755: 70_000 }));
      await again.purge({ term: 1, index: 5_000 });
      await settleSweep(again);
      assert.deepEqual((await again.logState()).lastLogId, { term: 1, index: 5_000 });
      await again.append(range(1, 5_001, 5_002, 8));
      await again.close();
      assert.equal(await logKeys(file), 2, "only 5001 and 5002");
    }),
);

test(
  `${label}: a purge deletes an entry with more chunks than one atomic takes (1,001 chunks)`,
  { skip },
  () =>
    withDir("deno-kv", async (dir) => {
      const file = `${dir}/log`;
      const store = await DenoKvLogStore.open(file);
      const size = 1_001 * 65_536 - 100; // 1,001 chunks: more than the 1,000 mutations of an atomic
      await store.append([
        ...range(1, 1, 2, 8),
        normal(1, 3, new Uint8Array(size)),
        ...range(1, 4, 5, 8),
      ]);
      await store.purge({ term: 1, index: 4 });
      await settleSweep(store);
      assert.deepEqual(views(await store.entries(1, 5)), views(range(1, 5, 5, 8)));
      await store.close();
      assert.equal(await logKeys(file), 1, "only entry 5");
    }),
);

test(
  `${label}: opening and writing while another process writes the database succeed (SQLite's "database is locked" is retried)`,
  { skip, timeout: 60_000 },
  () =>
    withDir("deno-kv", async (dir) => {
      const file = `${dir}/log`;
      await (await DenoKvLogStore.open(file)).close();
      // Another process writing the same file, as a node being replaced may still be: without
      // the retry, most opens here failed at their claim with "database is locked".
      const script = `const kv = await Deno.openKv(${JSON.stringify(file)});
await kv.set(["hammer", -1], 0);
console.log("ready");
const end = Date.now() + 30_000;
for (let i = 0; Date.now() < end; i++) await kv.set(["hammer", i % 100], i);`;
      const writer = spawn(process.execPath, ["eval", "--unstable-kv", script], {
        stdio: ["ignore", "pipe", "inherit"],
      });
      try {
        await new Promise<void>((resolve, reject) => {
          writer.stdout!.on("data", (d: Uint8Array) => {
            if (new TextDecoder().decode(d).includes("ready")) resolve();
          });
          writer.on("exit", (code) => reject(new Error(`writer exited early (${code})`)));
        });
        for (let i = 0; i < 30; i++) {
          const store = await DenoKvLogStore.open(file);
          await store.saveVote({ term: i + 1, votedFor: 1, committed: false });
          assert.equal((await store.readVote())?.term, i + 1);
          await store.close();
        }
      } finally {
        writer.kill("SIGKILL");
        await new Promise((resolve) =>
          writer.exitCode !== null ? resolve(null) : writer.on("exit", resolve)
        );
      }
    }),
);
