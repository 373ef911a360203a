// LogIo: the storage executor. In order, one store call at a time, group commit; synchronous
// stores driven without promises; the commit index saved after queued writes, coalesced.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { LogIo } from "../../src/runtime/log_io.ts";
import { ManualClock } from "../../src/clock.ts";
import type { Entry, LogId } from "../../src/types.ts";

const blank = (term: number, index: number): Entry => ({ term, index, type: "blank" });
const append = (io: number, ...entries: Entry[]) => ({ type: "append-log", entries, io }) as const;

/** A memory store that answers with promises it settles on demand, and records every call. */
class GatedStore extends MemoryLogStore {
  readonly log: string[] = [];
  readonly gates: (() => void)[] = [];
  inFlight = 0;
  maxInFlight = 0;
  failCommitted: "no" | "throw" | "reject" = "no";

  #gate(what: string, write: () => Promise<void> | void): Promise<void> {
    this.log.push(what);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise<void>((resolve) => this.gates.push(resolve)).then(() => {
      this.inFlight--;
      return write();
    });
  }
  override append(entries: readonly Entry[]): Promise<void> {
    return this.#gate(
      `append ${entries.map((e) => e.index).join(",")}`,
      () => super.append(entries),
    );
  }
  override truncate(since: number): Promise<void> {
    return this.#gate(`truncate ${since}`, () => super.truncate(since));
  }
  override saveCommitted(committed: LogId | null): Promise<void> {
    if (this.failCommitted === "throw") throw new Error("no");
    if (this.failCommitted === "reject") {
      this.log.push(`committed ${committed?.index} (rejects)`);
      return Promise.reject(new Error("no"));
    }
    return this.#gate(`committed ${committed?.index}`, () => super.saveCommitted(committed));
  }
  /** Settles the oldest pending call, then lets the continuations run. */
  async release(): Promise<void> {
    this.gates.shift()?.();
    for (let i = 0; i < 10; i++) await Promise.resolve();
  }
}

test("log io: a synchronous store reports the flush before submit returns", () => {
  const flushed: number[] = [];
  const io = new LogIo(new MemoryLogStore(), (n) => flushed.push(n), () => assert.fail());
  io.submit(append(1, blank(1, 1)));
  assert.deepEqual(flushed, [1]);
  io.submit({ type: "save-vote", vote: { term: 1, votedFor: 1, committed: true }, io: 2 });
  io.submit(append(3, blank(1, 2)));
  assert.deepEqual(flushed, [1, 2, 3]);
});

test("log io: one call at a time, in order; appends queued meanwhile are merged", async () => {
  const store = new GatedStore();
  const flushed: number[] = [];
  const io = new LogIo(store, (n) => flushed.push(n), () => assert.fail());
  io.submit(append(1, blank(1, 1)));
  io.submit(append(2, blank(1, 2)));
  io.submit(append(3, blank(1, 3)));
  io.submit({ type: "truncate-log", since: 3, io: 4 });
  io.submit(append(5, blank(2, 3)));
  assert.deepEqual(flushed, []);
  await store.release();
  assert.deepEqual(flushed, [1], "the first append alone: it was running when the others came");
  await store.release();
  await store.release();
  await store.release();
  assert.deepEqual(flushed, [1, 5]);
  assert.deepEqual(store.log, ["append 1", "append 2,3", "truncate 3", "append 3"]);
  assert.equal(store.maxInFlight, 1, "never two store log at once");
  await io.idle();
});

test("log io: the commit index is saved after queued writes, never beside them, latest only", async () => {
  const store = new GatedStore();
  const io = new LogIo(store, () => {}, () => assert.fail());
  io.submit(append(1, blank(1, 1), blank(1, 2)));
  io.saveCommitted({ term: 1, index: 1 });
  io.saveCommitted({ term: 1, index: 2 });
  io.submit(append(2, blank(1, 3)));
  while (store.gates.length > 0) await store.release();
  await io.idle();
  assert.deepEqual(store.log, ["append 1,2", "append 3", "committed 2"]);
  assert.equal(store.maxInFlight, 1);
  assert.equal((await store.readCommitted())?.index, 2);
});

for (const mode of ["throw", "reject"] as const) {
  test(`log io: a failed commit-index save (${mode}) is ignored`, async () => {
    const store = new GatedStore();
    const flushed: number[] = [];
    const io = new LogIo(store, (n) => flushed.push(n), () => assert.fail("not fatal"));
    store.failCommitted = mode;
    io.saveCommitted({ term: 1, index: 1 });
    await io.idle();
    io.submit(append(1, blank(1, 1)));
    await store.release();
    await io.idle();
    assert.deepEqual(flushed, [1]);
  });
}

test("log io: a failed write is reported once; nothing after it runs", async () => {
  const store = new MemoryLogStore();
  const errors: string[] = [];
  const flushed: number[] = [];
  const io = new LogIo(store, (n) => flushed.push(n), (op) => errors.push(op));
  store.failNext("append", new Error("disk full"));
  io.submit(append(1, blank(1, 1)));
  io.submit(append(2, blank(1, 2)));
  await io.idle();
  for (let i = 0; i < 10; i++) await Promise.resolve();
  io.submit(append(3, blank(1, 1)));
  await io.idle();
  assert.deepEqual(errors, ["append"]);
  assert.deepEqual(flushed, []);
  assert.equal(store.contents("durable").lastLogId, null);
});

test("log io: append calls timed: every asynchronous one, one synchronous one in 8", async () => {
  let clock = 0;
  const reads: string[] = [];
  const now = () => (reads.push("now"), clock += 2);
  const startTime = () => (reads.push("start"), clock);
  const sync = new LogIo(new MemoryLogStore(), () => {}, () => assert.fail(), 100, now, startTime);
  for (let i = 1; i <= 16; i++) sync.submit(append(i, blank(1, i)));
  const s = sync.appendSeconds.snapshot();
  assert.equal(s.count, 2, "calls 8 and 16");
  assert.equal(reads.filter((r) => r === "now").length, 4, "the clock read around those only");
  assert.ok(Math.abs(s.sum - 0.004) < 1e-9, `each took 2 ms: ${s.sum}`);

  const store = new GatedStore();
  const gated = new LogIo(store, () => {}, () => assert.fail(), 100, now, startTime);
  gated.submit(append(1, blank(1, 1)));
  clock += 5;
  await store.release();
  gated.submit(append(2, blank(1, 2)));
  await store.release();
  const g = gated.appendSeconds.snapshot();
  assert.equal(g.count, 2, "both asynchronous calls");
  assert.equal(g.counts.reduce((a, b) => a + b), 2);
});

test("log io: with a clock, the commit index is saved at most once per interval; idle() saves a waiting one", async () => {
  const clock = new ManualClock();
  const saved: number[] = [];
  const store = new (class extends MemoryLogStore {
    override saveCommitted(committed: LogId | null) {
      saved.push(committed?.index ?? 0);
      return super.saveCommitted(committed);
    }
  })();
  const io = new LogIo(
    store,
    () => {},
    () => assert.fail(),
    undefined,
    () => clock.now(),
    () => clock.now(),
    { clock, commitSaveInterval: 100 },
  );
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  io.saveCommitted({ term: 1, index: 1 });
  await settle();
  assert.deepEqual(saved, [1], "the first save goes at once");
  clock.advance(10);
  io.saveCommitted({ term: 1, index: 2 });
  io.saveCommitted({ term: 1, index: 3 });
  await settle();
  assert.deepEqual(saved, [1], "within the interval: waits");
  clock.advance(89);
  await settle();
  assert.deepEqual(saved, [1]);
  clock.advance(1);
  await settle();
  assert.deepEqual(saved, [1, 3], "saved by the timer, the latest only");
  clock.advance(5);
  io.saveCommitted({ term: 1, index: 4 });
  await io.idle();
  assert.deepEqual(saved, [1, 3, 4], "idle() (as at shutdown) does not wait");
  assert.equal((await store.readCommitted())?.index, 4);
  clock.advance(1000);
  await settle();
  assert.deepEqual(saved, [1, 3, 4], "no timer left behind");
});
