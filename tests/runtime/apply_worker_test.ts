// ApplyWorker: ranges applied in chunks (synchronously when it can), installs in order
// behind earlier applies, snapshots built by policy, and close().
import { test } from "node:test";
import assert from "node:assert/strict";
import type { RaftEngine } from "../../src/engine/engine.ts";
import { ShuttingDown } from "../../src/errors.ts";
import { type ApplyHost, ApplyWorker, CHUNK } from "../../src/runtime/apply_worker.ts";
import type { ClientWrites } from "../../src/runtime/client_writes.ts";
import type { LogIo } from "../../src/runtime/log_io.ts";
import type { PendingReads } from "../../src/runtime/pending_reads.ts";
import type { Snapshot, StateMachine } from "../../src/storage.ts";
import type { Entry, LogId, SnapshotMeta } from "../../src/types.ts";
import { membershipOf } from "../../src/types.ts";

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const blank = (index: number): Entry => ({ term: 1, index, type: "blank" });
const meta = (index: number): SnapshotMeta => ({
  lastLogId: { term: 1, index },
  lastMembership: { logId: null, membership: membershipOf([1]) },
  snapshotId: `s${index}`,
});

interface Options {
  /** The state machine answers with a promise it settles when the test says. */
  asyncApply?: boolean;
  /** Build a snapshot every this many applied entries. */
  snapshotEvery?: number;
  /** `purgeBatchSize` (default 1). */
  purgeBatchSize?: number;
  unusable?: () => ShuttingDown | null;
}

/** A worker whose every collaborator records what it is told, in one event list. */
function setup(options: Options = {}) {
  const events: string[] = [];
  const gates: (() => void)[] = [];
  const posted: (() => void)[] = [];
  let installFails = false;
  let purged = 0;
  let lastApplied = 0;
  const stateMachine = {
    apply(entries: readonly Entry[]) {
      events.push(`apply ${entries[0]!.index}-${entries.at(-1)!.index}`);
      lastApplied = entries.at(-1)!.index;
      const responses = entries.map((e) => `r${e.index}`);
      if (!options.asyncApply) return responses;
      return new Promise<string[]>((resolve) => gates.push(() => resolve(responses)));
    },
    async installSnapshot(m: SnapshotMeta, data: ReadableStream<Uint8Array>) {
      events.push(`install ${m.snapshotId}`);
      await data.cancel();
      if (installFails) throw new Error("bad snapshot");
    },
    buildSnapshot(): Promise<Snapshot> {
      events.push("build");
      return Promise.resolve({
        meta: meta(Math.max(3, lastApplied)),
        open: () => new ReadableStream(),
      });
    },
  };
  const host: ApplyHost<string> = {
    stateMachine: stateMachine as unknown as StateMachine<string>,
    io: {
      cached: (first: number, last: number) => {
        const es: Entry[] = [];
        for (let i = first; i <= last; i++) es.push(blank(i));
        return es;
      },
      saveCommitted: (id: LogId) => events.push(`saveCommitted ${id.index}`),
    } as unknown as LogIo,
    engine: {
      applied: (id: LogId) => events.push(`engine.applied ${id.index}`),
      snapshotInstalled: (token: number) => events.push(`engine.snapshotInstalled ${token}`),
      snapshotInstallFailed: (token: number) => events.push(`engine.installFailed ${token}`),
      snapshotBuilt: (m: SnapshotMeta) => events.push(`engine.snapshotBuilt ${m.snapshotId}`),
      purgeLog: (upTo: number) => {
        purged = upTo;
        events.push(`engine.purgeLog ${upTo}`);
      },
      get purgedIndex() {
        return purged;
      },
    } as unknown as RaftEngine,
    writes: {
      applied: (entries: readonly Entry[]) => events.push(`writes ${entries.length}`),
      abandon: (_from: number, to: number) => events.push(`writes.abandon up to ${to}`),
    } as unknown as ClientWrites<string>,
    reads: {
      release: (index: number) => events.push(`reads.release ${index}`),
    } as unknown as PendingReads,
    tracer: null,
    now: () => performance.now(),
    logger: { debug() {}, info() {}, warn: (m) => events.push(`warn ${m}`), error() {} },
    config: {
      snapshotPolicy: options.snapshotEvery === undefined
        ? { kind: "never" }
        : { kind: "logs-since-last", logs: options.snapshotEvery },
      maxInSnapshotLogsToKeep: 1,
      purgeBatchSize: options.purgeBatchSize ?? 1,
    },
    post: (fn) => posted.push(fn),
    call: <T>(fn: () => T) => Promise.resolve().then(fn),
    fail: (op, e) => events.push(`fail ${op} ${(e as Error).message}`),
    applyFailed: (first, e) =>
      events.push(`applyFailed ${first?.index ?? "-"} ${(e as Error).message}`),
    unusable: options.unusable ?? (() => null),
    onApplied: () => events.push("metrics"),
  };
  const worker = new ApplyWorker(host, 0, 0);
  const runPosted = () => {
    for (const fn of posted.splice(0)) fn();
  };
  return {
    worker,
    events,
    gates,
    runPosted,
    failInstalls: () => installFails = true,
    stateMachine,
  };
}

test("apply worker: a range applies in chunks, at once when the state machine answers with arrays", () => {
  const { worker, events } = setup();
  const last = 2 * CHUNK + 500;
  worker.apply(1, { term: 1, index: last });
  // Synchronously: no promise in the way.
  assert.equal(worker.appliedIndex, last);
  assert.deepEqual(events.filter((e) => e.startsWith("apply")), [
    `apply 1-${CHUNK}`,
    `apply ${CHUNK + 1}-${2 * CHUNK}`,
    `apply ${2 * CHUNK + 1}-${last}`,
  ]);
  // Per chunk: writes answered, engine told, metrics stale, reads released; the commit
  // index is saved once the whole range is applied.
  assert.deepEqual(events.slice(0, 5), [
    `apply 1-${CHUNK}`,
    `writes ${CHUNK}`,
    `engine.applied ${CHUNK}`,
    "metrics",
    `reads.release ${CHUNK}`,
  ]);
  assert.deepEqual(events.filter((e) => e.startsWith("saveCommitted")), [`saveCommitted ${last}`]);
  assert.equal(events.at(-1), `saveCommitted ${last}`);
});

test("apply worker: an install waits behind earlier applies, and later applies wait behind it", async () => {
  const { worker, events, gates, runPosted } = setup({ asyncApply: true });
  worker.holdSnapshot(7, new ReadableStream());
  worker.apply(1, { term: 1, index: 2 });
  worker.install(7, meta(10));
  worker.apply(11, { term: 1, index: 11 });
  assert.deepEqual(events, ["apply 1-2"]);
  gates[0]!();
  await settle();
  assert.deepEqual(events.slice(1), [
    "writes 2",
    "engine.applied 2",
    "metrics",
    "reads.release 2",
    "saveCommitted 2",
    "install s10",
    "writes.abandon up to 10",
    "reads.release 10",
    "apply 11-11",
  ]);
  assert.equal(worker.appliedIndex, 10);
  runPosted();
  assert.ok(events.includes("engine.snapshotInstalled 7"));
  gates[1]!();
  await settle();
  assert.equal(worker.appliedIndex, 11);
});

test("apply worker: entries a snapshot installed ahead of them holds are not applied again", async () => {
  // A follower accepted appends while the snapshot it was installing was queued: the
  // engine's apply commands for entries at or below the snapshot come after the install.
  // (Found by the chaos suite: "entry 1-319 does not follow the last applied 1-320".)
  const { worker, events, runPosted } = setup();
  worker.holdSnapshot(7, new ReadableStream());
  worker.install(7, meta(10));
  worker.apply(5, { term: 1, index: 9 }); // wholly inside the snapshot
  worker.apply(10, { term: 1, index: 12 }); // partly
  await settle();
  runPosted();
  assert.deepEqual(events.filter((e) => e.startsWith("apply") || e.startsWith("install")), [
    "install s10",
    "apply 11-12",
  ]);
  assert.equal(worker.appliedIndex, 12);
});

test("apply worker: a failed install tells the engine; one whose bytes were dropped is skipped", async () => {
  const { worker, events, runPosted, failInstalls } = setup();
  failInstalls();
  worker.holdSnapshot(1, new ReadableStream());
  worker.install(1, meta(5));
  await settle();
  runPosted();
  assert.deepEqual(events, [
    "install s5",
    "warn cannot install snapshot",
    "engine.installFailed 1",
  ]);
  assert.equal(worker.appliedIndex, 0);
  let cancelled = false;
  worker.holdSnapshot(2, new ReadableStream({ cancel: () => void (cancelled = true) }));
  worker.dropSnapshot(2); // refused by the engine
  assert.ok(cancelled);
  worker.install(2, meta(6));
  worker.apply(1, { term: 1, index: 1 });
  await settle();
  assert.ok(!events.includes("install s6"));
  assert.equal(worker.appliedIndex, 1);
});

test("apply worker: close cancels held snapshot streams and stops applying", async () => {
  const { worker, events } = setup();
  const cancelled: number[] = [];
  for (const token of [1, 2]) {
    worker.holdSnapshot(token, new ReadableStream({ cancel: () => void cancelled.push(token) }));
  }
  worker.close();
  await settle();
  assert.deepEqual(cancelled, [1, 2]);
  worker.apply(1, { term: 1, index: 3 });
  assert.deepEqual(events, []);
  assert.equal(worker.appliedIndex, 0);
});

test("apply worker: a snapshot is built when the policy says, and the log purged behind it", async () => {
  const { worker, events } = setup({ snapshotEvery: 3 });
  worker.apply(1, { term: 1, index: 2 });
  assert.ok(!events.includes("build"));
  worker.apply(3, { term: 1, index: 3 });
  await settle();
  assert.deepEqual(events.slice(events.indexOf("build")), [
    "build",
    "engine.snapshotBuilt s3",
    "engine.purgeLog 2",
  ]);
});

test("apply worker: with purgeBatchSize, the log is purged only once that many entries can go", async () => {
  const { worker, events } = setup({ snapshotEvery: 3, purgeBatchSize: 4 });
  for (let i = 1; i <= 9; i++) {
    worker.apply(i, { term: 1, index: i });
    await settle();
  }
  // Snapshots at 3, 6 and 9 (one entry kept behind each): 2 entries could go at 3 (< 4,
  // kept), 5 at 6 (purged), 3 more at 9 (< 4, kept).
  assert.deepEqual(events.filter((e) => e.startsWith("engine.snapshotBuilt")), [
    "engine.snapshotBuilt s3",
    "engine.snapshotBuilt s6",
    "engine.snapshotBuilt s9",
  ]);
  assert.deepEqual(events.filter((e) => e.startsWith("engine.purgeLog")), ["engine.purgeLog 5"]);
});

test("apply worker: buildSnapshot joins the one being built; an unusable node refuses", async () => {
  let stopped: ShuttingDown | null = null;
  const { worker, events } = setup({ unusable: () => stopped });
  const a = worker.buildSnapshot();
  const b = worker.buildSnapshot();
  assert.equal(a, b);
  assert.equal((await a).snapshotId, "s3");
  assert.equal(events.filter((e) => e === "build").length, 1);
  stopped = new ShuttingDown();
  await assert.rejects(worker.buildSnapshot(), ShuttingDown);
});

test("apply worker: a state machine that throws stops the node (fail)", () => {
  const { worker, events, stateMachine } = setup();
  stateMachine.apply = () => {
    throw new Error("broken");
  };
  worker.apply(1, { term: 1, index: 1 });
  assert.deepEqual(events, ["applyFailed 1 broken"]);
});
