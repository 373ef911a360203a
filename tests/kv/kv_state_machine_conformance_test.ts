// STATE_MACHINE_CASES against the kv MemoryStateMachine: in memory (restart =
// crash(): the current snapshot survives, the live state does not) and opened
// on a FileSnapshotStore in a directory of its own (restart = close the
// store, reopen it, MemoryStateMachine.open). Every case applies; none is
// skipped.
import { test } from "node:test";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { kvCas, kvDelete, kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import {
  type FileSnapshotStore,
  openFileSnapshotStore,
} from "../../adapters/file_snapshot_store.ts";
import type { StateMachine } from "../../src/storage.ts";
import {
  STATE_MACHINE_CASES,
  type StateMachineHarness,
} from "../../testing/state_machine_conformance.ts";

type KvResponse = Uint8Array | null;

/** Commands on four keys whose responses (previous values) reveal the state. */
function kvCommand(i: number): Uint8Array {
  const key = `k${i % 4}`;
  if (i % 9 === 0) return new Uint8Array([0xff, i & 0xff]); // not a kv command: a no-op
  if (i % 5 === 0) return kvDelete(key);
  if (i % 5 === 1) return kvCas(key, `v${i - 4}`, `c${i}`);
  if (i % 13 === 0) return kvSet(key, new Uint8Array(100_000).fill(i & 0xff)); // > 64 KiB
  return kvSet(key, `v${i}`);
}

const view = (sm: StateMachine<KvResponse>): unknown => (sm as MemoryStateMachine).pairs();

const inMemory: StateMachineHarness<KvResponse> = {
  open: () => Promise.resolve(new MemoryStateMachine()),
  command: kvCommand,
  view,
  restart: (sm) => Promise.resolve((sm as MemoryStateMachine).crash()),
};

for (const c of STATE_MACHINE_CASES) {
  test(`kv state machine (in memory): conformance: ${c.name}`, () => c.run(inMemory));
}

/** A harness whose every state machine has a FileSnapshotStore in a fresh directory under `root`. */
function onFiles(root: string): StateMachineHarness<KvResponse> {
  const stores = new Map<StateMachine<KvResponse>, { dir: string; store: FileSnapshotStore }>();
  let n = 0;
  const openIn = async (dir: string): Promise<StateMachine<KvResponse>> => {
    const store = await openFileSnapshotStore(dir);
    const sm = await MemoryStateMachine.open(store);
    stores.set(sm, { dir, store });
    return sm;
  };
  return {
    open: () => openIn(join(root, `sm-${++n}`)),
    command: kvCommand,
    view,
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
  test(`kv state machine (FileSnapshotStore): conformance: ${c.name}`, async () => {
    const root = await mkdtemp(join(tmpdir(), "raft-sm-conformance-"));
    try {
      await c.run(onFiles(root));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
}
