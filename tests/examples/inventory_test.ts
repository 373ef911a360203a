// examples/inventory.ts, the state machine of docs/state_machine.md: the
// library's STATE_MACHINE_CASES conformance suite (every case, restarts
// included, on a FileSnapshotStore in a directory of its own), its commands,
// a node restarted from its data directory, a snapshot install surviving a
// restart, and the program as the page runs it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  codec,
  type Command,
  InventoryStateMachine,
  openInventoryNode,
  type Response,
  validate,
} from "../../examples/inventory.ts";
import {
  type FileSnapshotStore,
  openFileSnapshotStore,
} from "../../adapters/file_snapshot_store.ts";
import { InvalidArgument, type StateMachine } from "../../mod.ts";
import {
  STATE_MACHINE_CASES,
  type StateMachineHarness,
} from "../../testing/state_machine_conformance.ts";
import { ROOT, run, tempDir, within } from "../node/_process.ts";

/** Commands on three items whose responses (stock after, or refusals) reveal the state. */
function command(i: number): Uint8Array {
  const item = `item-${i % 3}`;
  const c: Command = i % 4 === 0
    ? { op: "reserve", item, qty: 1 + (i % 5) }
    : i % 7 === 0
    ? { op: "restock", item, qty: 2, id: { client: "c", seq: i } }
    : { op: "restock", item, qty: i % 6 + 1 };
  return codec.encode(c);
}

/** Every state machine of a case gets a FileSnapshotStore in a fresh directory under `root`. */
function harness(root: string): StateMachineHarness<Response> {
  const stores = new Map<StateMachine<Response>, { dir: string; store: FileSnapshotStore }>();
  let n = 0;
  const openIn = async (dir: string): Promise<StateMachine<Response>> => {
    const store = await openFileSnapshotStore(dir);
    const sm = await InventoryStateMachine.open(store);
    stores.set(sm, { dir, store });
    return sm;
  };
  return {
    open: () => openIn(join(root, `sm-${++n}`)),
    command,
    view: (sm) => (sm as InventoryStateMachine).toJSON(),
    async restart(sm) {
      const { dir, store } = stores.get(sm)!;
      await store.close();
      return await openIn(dir);
    },
    async close(sm) {
      await stores.get(sm)?.store.close();
    },
  };
}

for (const c of STATE_MACHINE_CASES) {
  test(`inventory state machine: conformance: ${c.name}`, async () => {
    const dir = await tempDir("raft-inventory-sm-");
    try {
      await c.run(harness(dir.path));
    } finally {
      await dir.remove();
    }
  });
}

const normal = (index: number, c: Command) => ({
  term: 1,
  index,
  type: "normal" as const,
  data: codec.encode(c),
});

test("inventory: reserve refuses what is not in stock with a response; invalid commands too", async () => {
  const dir = await tempDir("raft-inventory-");
  const store = await openFileSnapshotStore(dir.path);
  try {
    const sm = await InventoryStateMachine.open(store);
    const out = sm.apply([
      { term: 1, index: 1, type: "blank" },
      normal(2, { op: "restock", item: "a", qty: 2 }),
      normal(3, { op: "reserve", item: "a", qty: 3 }),
      normal(4, { op: "reserve", item: "a", qty: 2 }),
      normal(5, { op: "reserve", item: "", qty: 1 }),
      { term: 1, index: 6, type: "normal", data: new TextEncoder().encode('{"op":"steal"}') },
    ]);
    assert.deepEqual(out, [
      undefined,
      { ok: true, stock: 2 },
      { ok: false, error: "out-of-stock", stock: 2 },
      { ok: true, stock: 0 },
      { ok: false, error: "invalid", stock: 0 },
      { ok: false, error: "invalid", stock: 0 },
    ]);
    assert.equal((await sm.appliedState()).lastApplied?.index, 6);
    assert.equal(
      validate({ op: "reserve", item: "a", qty: 0 }),
      "qty must be an integer from 1 to 1000000",
    );
    assert.equal(validate({ op: "reserve", item: "a", qty: 1 }), null);
  } finally {
    await store.close();
    await dir.remove();
  }
});

test("inventory: a request id is applied once; a retry gets the first answer, an older one 'stale'", async () => {
  const dir = await tempDir("raft-inventory-");
  const store = await openFileSnapshotStore(dir.path);
  try {
    const sm = await InventoryStateMachine.open(store);
    const id = { client: "web-1", seq: 5 };
    const out = sm.apply([
      normal(1, { op: "restock", item: "a", qty: 4, id }),
      normal(2, { op: "restock", item: "a", qty: 4, id }),
      normal(3, { op: "restock", item: "a", qty: 4, id: { client: "web-1", seq: 4 } }),
      normal(4, { op: "restock", item: "a", qty: 1, id: { client: "web-1", seq: 6 } }),
    ]);
    assert.deepEqual(out, [
      { ok: true, stock: 4 },
      { ok: true, stock: 4 },
      { ok: false, error: "stale", stock: 4 },
      { ok: true, stock: 5 },
    ]);
    assert.equal(sm.stock("a"), 5);
  } finally {
    await store.close();
    await dir.remove();
  }
});

test("inventory: a node restarted on its data directory keeps its state and applied index", {
  timeout: 30_000,
}, async () => {
  const dir = await tempDir("raft-inventory-node-");
  try {
    let node = await openInventoryNode(dir.path);
    let applied: number;
    try {
      await node.submit({ op: "restock", item: "apples", qty: 10 });
      await node.raft.trigger.snapshot(); // durable snapshot at this point…
      await node.submit({ op: "reserve", item: "apples", qty: 3 }); // …and one entry after it
      const retry = { op: "restock", item: "pears", qty: 2, id: { client: "c", seq: 1 } } as const;
      await node.submit(retry);
      await assert.rejects(
        node.submit({ op: "reserve", item: "apples", qty: -1 }),
        InvalidArgument,
      );
      applied = node.raft.metrics.current.lastApplied!.index;
    } finally {
      await node.close();
    }

    // Before Raft.create: the state machine holds the snapshot, not the entries after it.
    const store = await openFileSnapshotStore(join(dir.path, "snapshots"));
    try {
      const loaded = await InventoryStateMachine.open(store);
      assert.equal(loaded.stock("apples"), 10);
      assert.equal(loaded.stock("pears"), 0);
      assert.ok((await loaded.appliedState()).lastApplied!.index < applied);
    } finally {
      await store.close();
    }

    // With Raft: the log after the snapshot is re-applied, each entry once.
    node = await openInventoryNode(dir.path);
    try {
      await node.raft.ensureLinearizable({ timeout: 5000 });
      assert.ok(node.raft.metrics.current.lastApplied!.index >= applied);
      assert.deepEqual(node.stateMachine.toJSON(), { stock: [["apples", 7], ["pears", 2]] });
      // The retried request was remembered across the restart: applied once.
      const again = await node.submit({
        op: "restock",
        item: "pears",
        qty: 2,
        id: { client: "c", seq: 1 },
      });
      assert.deepEqual(again, { ok: true, stock: 2 });
      assert.equal(node.stateMachine.stock("pears"), 2);
    } finally {
      await node.close();
    }
  } finally {
    await dir.remove();
  }
});

test("inventory: an installed snapshot is durable: a restart loads it", async () => {
  const dir = await tempDir("raft-inventory-");
  try {
    const sourceStore = await openFileSnapshotStore(join(dir.path, "source"));
    const targetStore = await openFileSnapshotStore(join(dir.path, "target"));
    try {
      const source = await InventoryStateMachine.open(sourceStore);
      source.apply([
        normal(1, { op: "restock", item: "a", qty: 7 }),
        normal(2, { op: "reserve", item: "a", qty: 2 }),
      ]);
      const snap = await source.buildSnapshot();
      const target = await InventoryStateMachine.open(targetStore);
      await target.installSnapshot(snap.meta, snap.open());
      assert.equal(target.stock("a"), 5);
    } finally {
      await sourceStore.close();
      await targetStore.close();
    }
    const reopened = await openFileSnapshotStore(join(dir.path, "target"));
    try {
      const restarted = await InventoryStateMachine.open(reopened);
      assert.equal(restarted.stock("a"), 5);
      assert.deepEqual((await restarted.appliedState()).lastApplied, { term: 1, index: 2 });
      assert.equal((await restarted.currentSnapshot())?.meta.lastLogId?.index, 2);
    } finally {
      await reopened.close();
    }
  } finally {
    await dir.remove();
  }
});

// exercises: deno run -A examples/inventory.ts ./data/inventory
test("inventory: the program, run twice on one data directory, keeps the stock", {
  timeout: 60_000,
}, async () => {
  const cwd = await tempDir("raft-inventory-run-");
  try {
    const script = join(ROOT, "examples", "inventory.ts");
    for (const expected of [7, 14]) {
      const child = run(["./data/inventory"], { cwd: cwd.path, script });
      try {
        assert.equal(await within(child.exited, 30_000, "inventory.ts"), 0, child.stderr());
        const out = child.stdout();
        assert.match(out, /^reserve 3 apples: \{"ok":true,"stock":\d+\}$/m);
        assert.match(out, /^reserve 1 pear: \{"ok":false,"error":"out-of-stock","stock":0\}$/m);
        assert.match(
          out,
          new RegExp(`^stock: \\{"stock":\\[\\["apples",${expected}\\]\\]\\}`, "m"),
        );
      } finally {
        child.kill("SIGKILL");
      }
    }
  } finally {
    await cwd.remove();
  }
});
