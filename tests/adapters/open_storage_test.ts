import { test } from "node:test";
import { ConfigError } from "../../src/errors.ts";
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { MemoryLogStore } from "../../adapters/memory.ts";
import {
  autoStorageKind,
  openStorage,
  STORAGE_FILES,
  type StorageKind,
} from "../../adapters/mod.ts";
import { type NodeApp, parseNodeFlags, startNode } from "../../node/mod.ts";
import { kvRoutes, MemoryStateMachine } from "../../kv/mod.ts";
import { IS_BUN, IS_DENO, range, rejection, withDir } from "./_durable.ts";

const durable: "deno-kv" | "bun-sqlite" = IS_BUN ? "bun-sqlite" : "deno-kv";
const foreign: "deno-kv" | "bun-sqlite" = IS_BUN ? "deno-kv" : "bun-sqlite";

test("openStorage: auto picks bun:sqlite under Bun, Deno KV under Deno", () => {
  assert.equal(autoStorageKind(), IS_BUN ? "bun-sqlite" : IS_DENO ? "deno-kv" : "memory");
});

test("openStorage: auto with a path opens the runtime's durable store in a new data dir", () =>
  withDir("open-storage", async (dir) => {
    const data = `${dir}/nested/node-1`;
    const store = await openStorage({ path: data });
    try {
      assert.equal(store.constructor.name, IS_BUN ? "BunSqliteLogStore" : "DenoKvLogStore");
      assert.ok(existsSync(`${data}/${STORAGE_FILES[durable]}`));
      await store.saveVote({ term: 2, votedFor: 1, committed: false });
      await store.append(range(1, 1, 3));
    } finally {
      await store.close();
    }
    const again = await openStorage({ path: `${data}/`, kind: durable });
    try {
      assert.deepEqual(await again.readVote(), { term: 2, votedFor: 1, committed: false });
      assert.deepEqual((await again.logState()).lastLogId, { term: 1, index: 3 });
    } finally {
      await again.close();
    }
  }));

test("openStorage: memory without a path, or when asked", async () => {
  assert.ok((await openStorage()) instanceof MemoryLogStore);
  assert.ok((await openStorage({})) instanceof MemoryLogStore);
  assert.ok((await openStorage({ kind: "memory" })) instanceof MemoryLogStore);
  assert.ok((await openStorage({ kind: "memory", path: "ignored" })) instanceof MemoryLogStore);
});

test("openStorage: a kind asked on the wrong runtime is a clear error", async () => {
  const e = await rejection(openStorage({ kind: foreign, path: ".tmp/never-created" }));
  assert.match(e.message, new RegExp(`kind "${foreign}" needs ${IS_BUN ? "Deno" : "Bun"}`));
  assert.equal(existsSync(".tmp/never-created"), false);
});

test("openStorage: bad options", async () => {
  const noPath = await rejection(openStorage({ kind: durable }));
  assert.ok(noPath instanceof ConfigError);
  assert.match(noPath.message, /needs a path/);
  const kind = await rejection(openStorage({ kind: "floppy" as unknown as StorageKind }));
  assert.ok(kind instanceof ConfigError);
  assert.ok((await rejection(openStorage({ path: "" }))) instanceof ConfigError);
});

test("openStorage: refuses a data dir that holds only the other runtime's store", () =>
  withDir("open-storage", async (dir) => {
    writeFileSync(`${dir}/${STORAGE_FILES[foreign]}`, "");
    const e = await rejection(openStorage({ path: dir }));
    assert.match(e.message, new RegExp(`holds a ${foreign} store`));
    assert.equal(existsSync(`${dir}/${STORAGE_FILES[durable]}`), false);
  }));

test("openStorage in a node (@x/raft/node, as examples/kv.ts runs it): a node restarted on its --data dir keeps its data", () =>
  withDir("open-storage", async (dir) => {
    const options = parseNodeFlags([
      ...["--addr", "127.0.0.1:0", "--init", "--data", `${dir}/node-1`],
      ...["--heartbeat", "15", "--election-timeout", "60-120"],
    ]);
    assert.equal(options.data, `${dir}/node-1`);
    const app: NodeApp<MemoryStateMachine> = {
      stateMachine: (s) => s === null ? new MemoryStateMachine() : MemoryStateMachine.open(s),
      routes: (raft, sm) => kvRoutes(raft, sm),
    };
    const first = await startNode(options, app);
    try {
      await first.raft.metrics.wait({ timeout: 5000 }).role("leader");
      for (const [k, v] of [["a", "1"], ["b", "2"], ["a", "3"]] as const) {
        const res = await fetch(`${first.url}/kv/${k}`, { method: "PUT", body: v });
        assert.equal(res.status, 200);
        await res.body?.cancel();
      }
    } finally {
      await first.stop();
    }
    const second = await startNode(options, app);
    try {
      await second.raft.metrics.wait({ timeout: 5000 }).role("leader");
      assert.equal(await (await fetch(`${second.url}/kv/a`)).text(), "3");
      assert.equal(await (await fetch(`${second.url}/kv/b`)).text(), "2");
      assert.ok(second.raft.metrics.current.currentTerm >= 2, "the term survived the restart");
    } finally {
      await second.stop();
    }
  }));
