// STATE_MACHINE_CASES against the state machines of testing/ — and, to show
// that the cases can fail, against a small state machine with one deliberate
// defect at a time. The kv MemoryStateMachine (in memory and on a
// FileSnapshotStore) runs in tests/kv/kv_state_machine_conformance_test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  STATE_MACHINE_CASES,
  type StateMachineCase,
  type StateMachineHarness,
} from "../../testing/state_machine_conformance.ts";
import { CountingStateMachine } from "../../testing/counting_state_machine.ts";
import { LargeSnapshotStateMachine } from "../../testing/large_snapshot_state_machine.ts";
import {
  type AppliedState,
  checkApplyOrder,
  type Snapshot,
  snapshotOfBytes,
  type StateMachine,
} from "../../src/storage.ts";
import { bytesToStream, readAllBytes } from "../../src/byte_stream.ts";
import {
  EMPTY_MEMBERSHIP,
  type Entry,
  type LogId,
  type SnapshotMeta,
  type StoredMembership,
} from "../../src/types.ts";

// --------------------------------------------------------- CountingStateMachine

// Every case but the `recovery:` ones: CountingStateMachine keeps nothing across
// a restart (no durable snapshot — its snapshot lives in the instance), so a
// restarted one is a new, empty one, and a node using it must start from an
// empty log; there is no restart to check.
const counting: StateMachineHarness<number> = {
  open: () => Promise.resolve(new CountingStateMachine()),
  command: (i) => new Uint8Array([i & 0xff]),
  view: (sm) => (sm as CountingStateMachine).count,
};

for (const c of STATE_MACHINE_CASES) {
  const skip = c.requires.includes("restart")
    ? "CountingStateMachine keeps nothing across a restart (no durable snapshot)"
    : false;
  test(`counting state machine: conformance: ${c.name}`, { skip }, () => c.run(counting));
}

// ---------------------------------------------------- LargeSnapshotStateMachine

// Every case; restart() keeps the current snapshot (as a durable snapshot would)
// and drops the live state. Snapshots of 200 KiB in 16 KiB chunks keep it fast.
const large: StateMachineHarness<number> = {
  open: () =>
    Promise.resolve(
      new LargeSnapshotStateMachine({ snapshotBytes: 200 * 1024, chunkBytes: 16 * 1024 }),
    ),
  command: (i) => new Uint8Array([i & 0xff]),
  view: (sm) => (sm as LargeSnapshotStateMachine).count,
  restart: (sm) => Promise.resolve((sm as LargeSnapshotStateMachine).restart()),
};

for (const c of STATE_MACHINE_CASES) {
  test(`large snapshot state machine: conformance: ${c.name}`, () => c.run(large));
}

// ------------------------------------------------------ the suite can fail

type Defect =
  | "none"
  | "no order check"
  | "lazy snapshot"
  | "install ignores membership"
  | "install before the stream ends"
  | "counts a batch's last entry twice"
  | "reuses snapshot ids";

/**
 * A counter like CountingStateMachine (snapshot: JSON of the count), with one
 * defect. `durable` is where its current snapshot survives a restart.
 */
class Tally implements StateMachine<number> {
  count = 0;
  lastApplied: LogId | null = null;
  membership: StoredMembership = { logId: null, membership: EMPTY_MEMBERSHIP };
  snapshot: { meta: SnapshotMeta; bytes: Uint8Array } | null = null;
  #ids = 0;
  constructor(readonly defect: Defect) {}

  appliedState(): Promise<AppliedState> {
    return Promise.resolve({ lastApplied: this.lastApplied, membership: this.membership });
  }

  apply(entries: readonly Entry[]): (number | undefined)[] {
    if (this.defect !== "no order check") checkApplyOrder("Tally", this.lastApplied, entries);
    const out = entries.map((e, i) => {
      if (e.type === "membership") {
        this.membership = { logId: { term: e.term, index: e.index }, membership: e.membership };
      }
      if (e.type !== "normal") return undefined;
      if (
        this.defect === "counts a batch's last entry twice" && i === entries.length - 1 && i > 0
      ) {
        this.count++;
      }
      return ++this.count;
    });
    const last = entries[entries.length - 1];
    if (last !== undefined) this.lastApplied = { term: last.term, index: last.index };
    return out;
  }

  #encode(): Uint8Array {
    return new TextEncoder().encode(JSON.stringify({ count: this.count }));
  }

  buildSnapshot(): Promise<Snapshot> {
    const id = this.defect === "reuses snapshot ids" ? 1 : ++this.#ids;
    const meta: SnapshotMeta = {
      lastLogId: this.lastApplied,
      lastMembership: this.membership,
      snapshotId: `tally-${id}`,
    };
    const bytes = this.#encode();
    this.snapshot = { meta, bytes };
    if (this.defect === "lazy snapshot") {
      return Promise.resolve({ meta, open: () => bytesToStream(this.#encode(), 64) });
    }
    return Promise.resolve(snapshotOfBytes(meta, bytes));
  }

  async installSnapshot(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    if (this.defect === "install before the stream ends") {
      this.lastApplied = meta.lastLogId;
      this.membership = meta.lastMembership;
    }
    const bytes = await readAllBytes(data);
    const { count } = JSON.parse(new TextDecoder().decode(bytes)) as { count: number };
    this.count = count;
    this.lastApplied = meta.lastLogId;
    if (this.defect !== "install ignores membership") this.membership = meta.lastMembership;
    this.snapshot = { meta, bytes };
  }

  currentSnapshot(): Promise<Snapshot | null> {
    const s = this.snapshot;
    return Promise.resolve(s === null ? null : snapshotOfBytes(s.meta, s.bytes));
  }

  /** A restart that keeps the current snapshot (or, with `forget`, nothing). */
  async restart(forget: boolean): Promise<Tally> {
    const next = new Tally(this.defect);
    next.#ids = this.#ids;
    if (!forget && this.snapshot !== null) {
      await next.installSnapshot(this.snapshot.meta, bytesToStream(this.snapshot.bytes, 64));
    }
    return next;
  }
}

function tally(defect: Defect, forgetOnRestart = false): StateMachineHarness<number> {
  return {
    open: () => Promise.resolve(new Tally(defect)),
    command: (i) => new Uint8Array([i & 0xff]),
    view: (sm) => (sm as Tally).count,
    restart: (sm) => (sm as Tally).restart(forgetOnRestart),
  };
}

async function failing(h: StateMachineHarness<number>): Promise<string[]> {
  const failed: string[] = [];
  for (const c of STATE_MACHINE_CASES) {
    try {
      await c.run(h);
    } catch {
      failed.push(c.name);
    }
  }
  return failed;
}

function byPrefix(prefix: string): StateMachineCase[] {
  const found = STATE_MACHINE_CASES.filter((c) => c.name.startsWith(prefix));
  assert.ok(found.length > 0, `no case named ${prefix}…`);
  return found;
}

async function assertCaught(prefix: string, h: StateMachineHarness<number>): Promise<string[]> {
  const failed = await failing(h);
  for (const c of byPrefix(prefix)) {
    assert.ok(failed.includes(c.name), `case "${c.name}" did not catch the defect`);
  }
  return failed;
}

test("state machine conformance: a correct state machine passes every case", async () => {
  assert.deepEqual(await failing(tally("none")), []);
  assert.ok(STATE_MACHINE_CASES.length >= 20);
  assert.equal(new Set(STATE_MACHINE_CASES.map((c) => c.name)).size, STATE_MACHINE_CASES.length);
  assert.deepEqual(
    [
      ...new Set(
        STATE_MACHINE_CASES.filter((c) => c.requires.length > 0).map((c) => c.name.split(":")[0]),
      ),
    ],
    ["recovery"],
  );
});

test("state machine conformance: the recovery cases need a restart hook", async () => {
  const { restart: _, ...noRestart } = tally("none");
  for (const c of byPrefix("recovery:")) {
    await assert.rejects(c.run(noRestart), /restart hook/, c.name);
  }
});

test("state machine conformance: catches apply without order checks", async () => {
  await assertCaught("apply: refuses a batch", tally("no order check"));
});

test("state machine conformance: catches a snapshot that reads the live state", async () => {
  const failed = await assertCaught("snapshot during apply: its stream", tally("lazy snapshot"));
  assert.ok(
    failed.every((n) => n.startsWith("snapshot during apply:") || n.startsWith("recovery:")),
    failed.join("; "),
  );
});

test("state machine conformance: catches an install that ignores the meta's membership", async () => {
  await assertCaught("snapshot: round trip", tally("install ignores membership"));
  await assertCaught("install: a replica's current snapshot", tally("install ignores membership"));
});

test("state machine conformance: catches an install that changes state before the stream ends", async () => {
  await assertCaught(
    "install: a stream that fails midway",
    tally("install before the stream ends"),
  );
});

test("state machine conformance: catches an entry applied twice", async () => {
  await assertCaught("apply: batches of any size", tally("counts a batch's last entry twice"));
});

test("state machine conformance: catches reused snapshot ids", async () => {
  await assertCaught("snapshot: ids of successive snapshots", tally("reuses snapshot ids"));
});

test("state machine conformance: catches a restart that loses the snapshot", async () => {
  const failed = await failing(tally("none", true));
  assert.deepEqual(
    failed,
    byPrefix("recovery:").map((c) => c.name).filter((n) =>
      !n.startsWith("recovery: a new state machine")
    ),
  );
});
