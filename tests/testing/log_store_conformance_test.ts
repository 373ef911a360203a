// The conformance suite must catch broken stores: each test here runs it
// against a MemoryLogStore with one deliberate defect and checks that the
// case aimed at that defect fails (and that an honest store passes them all,
// which tests/adapters/memory_test.ts also does one case per test).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  LOG_STORE_CASES,
  type LogStoreCase,
  type OpenLogStore,
  type ReopenLogStore,
} from "../../testing/log_store_conformance.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import type { LogState, LogStore } from "../../src/storage.ts";
import type { Entry, LogId, Vote } from "../../src/types.ts";

/** A LogStore that delegates to a MemoryLogStore; tests override one method to break it. */
class Delegating implements LogStore {
  constructor(readonly inner: MemoryLogStore = new MemoryLogStore()) {}
  readVote(): Promise<Vote | null> {
    return this.inner.readVote();
  }
  saveVote(vote: Vote): Promise<void> | void {
    return this.inner.saveVote(vote);
  }
  logState(): Promise<LogState> {
    return this.inner.logState();
  }
  entries(from: number, to: number): Promise<Entry[]> {
    return this.inner.entries(from, to);
  }
  append(entries: readonly Entry[]): Promise<void> | void {
    return this.inner.append(entries);
  }
  truncate(since: number): Promise<void> | void {
    return this.inner.truncate(since);
  }
  purge(upTo: LogId): Promise<void> | void {
    return this.inner.purge(upTo);
  }
  saveCommitted(committed: LogId | null): Promise<void> | void {
    return this.inner.saveCommitted(committed);
  }
  readCommitted(): Promise<LogId | null> {
    return this.inner.readCommitted();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function byName(prefix: string): LogStoreCase[] {
  const found = LOG_STORE_CASES.filter((c) => c.name.startsWith(prefix));
  assert.ok(found.length > 0, `no case named ${prefix}…`);
  return found;
}

const honestReopen: ReopenLogStore = (closed) =>
  Promise.resolve(new Delegating((closed as Delegating).inner.crash()));

/** Runs the cases and returns the names of those that failed. */
async function failing(
  open: OpenLogStore,
  reopen: ReopenLogStore = honestReopen,
): Promise<string[]> {
  const failed: string[] = [];
  for (const c of LOG_STORE_CASES) {
    try {
      await c.run(open, reopen);
    } catch {
      failed.push(c.name);
    }
  }
  return failed;
}

/** Asserts that the case(s) starting with `prefix` fail against the broken store. */
async function assertCaught(prefix: string, open: OpenLogStore, reopen?: ReopenLogStore) {
  const failed = await failing(open, reopen);
  for (const c of byName(prefix)) {
    assert.ok(failed.includes(c.name), `case "${c.name}" did not catch the defect`);
  }
  return failed;
}

test("log store conformance: an honest store passes every case", async () => {
  assert.deepEqual(await failing(() => Promise.resolve(new Delegating())), []);
  assert.ok(LOG_STORE_CASES.length >= 45, `only ${LOG_STORE_CASES.length} cases`);
  assert.equal(new Set(LOG_STORE_CASES.map((c) => c.name)).size, LOG_STORE_CASES.length);
  assert.deepEqual(
    [...new Set(LOG_STORE_CASES.filter((c) => c.requiresReopen).map((c) => c.name.split(":")[0]))],
    ["reopen"],
  );
  assert.ok(LOG_STORE_CASES.filter((c) => c.requiresReopen).length >= 10);
});

test("log store conformance: the reopen cases need a reopen function", async () => {
  for (const c of byName("reopen:")) {
    await assert.rejects(
      c.run(() => Promise.resolve(new MemoryLogStore())),
      /needs a reopen function/,
      c.name,
    );
  }
});

/** Every reopen case but the one a store that forgets everything passes (it reopens empty). */
const _reopenCatchers = (): string[] =>
  byName("reopen:").map((c) => c.name).filter((n) => !n.startsWith("reopen: an empty store"));

test("log store conformance: catches a store that loses state on reopen", async () => {
  const failed = await failing(
    () => Promise.resolve(new Delegating()),
    () => Promise.resolve(new Delegating()),
  );
  assert.deepEqual(failed, _reopenCatchers());
});

test("log store conformance: catches an unsynced store reopened after a crash", async () => {
  const failed = await failing(
    () => Promise.resolve(new Delegating(new MemoryLogStore({ syncMode: "manual" }))),
    honestReopen,
  );
  assert.deepEqual(failed, _reopenCatchers());
});

test("log store conformance: catches a store that does not reject gaps", async () => {
  class Lenient extends Delegating {
    override append(entries: readonly Entry[]): Promise<void> | void {
      return Promise.resolve(this.inner.append(entries)).catch(() => {});
    }
  }
  await assertCaught("append: rejects a gap", () => Promise.resolve(new Lenient()));
  await assertCaught("append: rejects overwriting", () => Promise.resolve(new Lenient()));
});

test("log store conformance: catches entries() that does not clamp to the purge point", async () => {
  class Unclamped extends Delegating {
    override async entries(from: number, to: number): Promise<Entry[]> {
      const got = await this.inner.entries(from, to);
      const purged = this.inner.contents().lastPurged;
      // Invents the purged entries back, as blank entries.
      const ghosts: Entry[] = [];
      for (let i = Math.max(from, 1); i <= Math.min(to, purged?.index ?? 0); i++) {
        ghosts.push({ term: purged!.term, index: i, type: "blank" });
      }
      return [...ghosts, ...got];
    }
  }
  await assertCaught("purge: logState and entries", () => Promise.resolve(new Unclamped()));
});

test("log store conformance: catches a store that returns its internal array", async () => {
  class Leaky extends Delegating {
    #cache = new Map<string, Entry[]>();
    override async entries(from: number, to: number): Promise<Entry[]> {
      const key = `${from}:${to}`;
      const cached = this.#cache.get(key);
      if (cached !== undefined) return cached;
      const got = await this.inner.entries(from, to);
      this.#cache.set(key, got);
      return got;
    }
  }
  await assertCaught("entries: the returned array", () => Promise.resolve(new Leaky()));
});

test("log store conformance: catches a store that stores a subarray's whole buffer", async () => {
  class WholeBuffer extends Delegating {
    override append(entries: readonly Entry[]): Promise<void> | void {
      return this.inner.append(
        entries.map((e) => e.type === "normal" ? { ...e, data: new Uint8Array(e.data.buffer) } : e),
      );
    }
  }
  await assertCaught("append: payload bytes", () => Promise.resolve(new WholeBuffer()));
});

test("log store conformance: catches a store that flips a payload byte", async () => {
  class Corrupting extends Delegating {
    override async entries(from: number, to: number): Promise<Entry[]> {
      return (await this.inner.entries(from, to)).map((e) => {
        if (e.type !== "normal" || e.data.length < 1000) return e;
        const data = e.data.slice();
        data[data.length - 1]! ^= 1;
        return { ...e, data };
      });
    }
  }
  await assertCaught("append: payload bytes", () => Promise.resolve(new Corrupting()));
});

test("log store conformance: catches a membership whose nodes come back as a plain object", async () => {
  class PlainNodes extends Delegating {
    override async entries(from: number, to: number): Promise<Entry[]> {
      return (await this.inner.entries(from, to)).map((e) =>
        e.type === "membership"
          ? {
            ...e,
            membership: {
              ...e.membership,
              nodes: Object.fromEntries(e.membership.nodes) as unknown as Map<number, never>,
            },
          }
          : e
      );
    }
  }
  await assertCaught("append: blank and membership", () => Promise.resolve(new PlainNodes()));
});

test("log store conformance: catches a joint config collapsed to one", async () => {
  class OneConfig extends Delegating {
    override async entries(from: number, to: number): Promise<Entry[]> {
      return (await this.inner.entries(from, to)).map((e) =>
        e.type === "membership"
          ? { ...e, membership: { ...e.membership, configs: e.membership.configs.slice(0, 1) } }
          : e
      );
    }
  }
  await assertCaught("append: blank and membership", () => Promise.resolve(new OneConfig()));
});

test("log store conformance: catches an off-by-one truncate", async () => {
  class OffByOne extends Delegating {
    override truncate(since: number): Promise<void> | void {
      return this.inner.truncate(since + 1);
    }
  }
  await assertCaught("truncate: at the middle", () => Promise.resolve(new OffByOne()));
});

test("log store conformance: catches lastLogId null for a log emptied by purge", async () => {
  class ForgetsPurged extends Delegating {
    override async logState(): Promise<LogState> {
      const s = await this.inner.logState();
      return this.inner.writtenEntries().length === 0 ? { ...s, lastLogId: null } : s;
    }
  }
  const failed = await assertCaught(
    "purge: beyond the last",
    () => Promise.resolve(new ForgetsPurged()),
  );
  assert.ok(failed.includes(byName("purge: logState")[0]!.name));
});

test("log store conformance: catches a vote that loses `committed`", async () => {
  class NoCommit extends Delegating {
    override async readVote(): Promise<Vote | null> {
      const v = await this.inner.readVote();
      return v === null ? null : { ...v, committed: false };
    }
  }
  await assertCaught("vote:", () => Promise.resolve(new NoCommit()));
});

test("log store conformance: catches a store that ignores saveCommitted(null)", async () => {
  class StickyCommitted extends Delegating {
    override saveCommitted(committed: LogId | null): Promise<void> | void {
      return committed === null ? undefined : this.inner.saveCommitted(committed);
    }
  }
  await assertCaught("committed:", () => Promise.resolve(new StickyCommitted()));
});

test("log store conformance: catches a store whose empty state is not empty", async () => {
  class Haunted extends Delegating {
    override readVote(): Promise<Vote | null> {
      return Promise.resolve({ term: 0, votedFor: null, committed: false });
    }
  }
  await assertCaught("empty store:", () => Promise.resolve(new Haunted()));
});

test("log store conformance: every case closes the store it opened", async () => {
  const opened: MemoryLogStore[] = [];
  const open = (): Promise<LogStore> => {
    const store = new MemoryLogStore();
    opened.push(store);
    return Promise.resolve(store);
  };
  for (const c of LOG_STORE_CASES) {
    await c.run(open, (closed) => {
      const next = (closed as MemoryLogStore).crash();
      opened.push(next);
      return Promise.resolve(next);
    });
  }
  assert.ok(opened.length > LOG_STORE_CASES.length);
  assert.ok(opened.every((s) => s.closed));
});

// ------------------------------------------- defects aimed at the newer cases

test("log store conformance: catches a store that drops a purge", async () => {
  class DropsPurge extends Delegating {
    override purge(_upTo: LogId): Promise<void> | void {}
  }
  const failed = await assertCaught(
    "purge: the first entry only",
    () => Promise.resolve(new DropsPurge()),
  );
  for (
    const prefix of ["purge: in steps", "purge then append:", "reopen: the purge point", "model:"]
  ) {
    for (const c of byName(prefix)) assert.ok(failed.includes(c.name), c.name);
  }
});

test("log store conformance: catches a log emptied by purge that reopens with no last log id", async () => {
  // As a SQL store computing the last log id as MAX(index) of its entries table would.
  class ReopenedForgetsPurged extends Delegating {
    override async logState(): Promise<LogState> {
      const s = await this.inner.logState();
      return this.inner.writtenEntries().length === 0 ? { ...s, lastLogId: null } : s;
    }
  }
  const failed = await failing(
    () => Promise.resolve(new Delegating()),
    (closed) => Promise.resolve(new ReopenedForgetsPurged((closed as Delegating).inner.crash())),
  );
  assert.ok(failed.length > 0);
  assert.ok(failed.every((n) => n.startsWith("reopen:")), failed.join("; "));
  for (const c of byName("reopen: a log emptied by purge")) assert.ok(failed.includes(c.name));
});

test("log store conformance: catches a truncate that keeps the last entry", async () => {
  class KeepsLast extends Delegating {
    override async truncate(since: number): Promise<void> {
      const last = (await this.inner.logState()).lastLogId?.index ?? 0;
      if (since < last) await this.inner.truncate(since);
    }
  }
  await assertCaught("truncate: at the last entry", () => Promise.resolve(new KeepsLast()));
});

test("log store conformance: catches a store that accepts a vote going back", async () => {
  class Unchecked extends Delegating {
    #vote: Vote | null = null;
    override saveVote(vote: Vote): void {
      this.#vote = { ...vote };
    }
    override readVote(): Promise<Vote | null> {
      return Promise.resolve(this.#vote);
    }
  }
  await assertCaught("vote: refuses", () => Promise.resolve(new Unchecked()));
});

test("log store conformance: catches an append that writes a valid prefix of a refused batch", async () => {
  class NotAtomic extends Delegating {
    override async append(entries: readonly Entry[]): Promise<void> {
      for (const e of entries) await this.inner.append([e]);
    }
  }
  await assertCaught("append: a refused batch", () => Promise.resolve(new NotAtomic()));
});

test("log store conformance: catches entries() that drops the last index of a range", async () => {
  class Exclusive extends Delegating {
    override entries(from: number, to: number): Promise<Entry[]> {
      return this.inner.entries(from, to - 1);
    }
  }
  await assertCaught("entries: every range", () => Promise.resolve(new Exclusive()));
});

test("log store conformance: catches a store still usable after close", async () => {
  class NeverCloses extends Delegating {
    override close(): Promise<void> {
      return Promise.resolve();
    }
  }
  await assertCaught("close:", () => Promise.resolve(new NeverCloses()));
});

test("log store conformance: catches reads that miss an answered write while another is pending", async () => {
  class SlowReads extends Delegating {
    #pending: Promise<unknown> = Promise.resolve();
    #snapshot: Entry[] | null = null;
    override append(entries: readonly Entry[]): Promise<void> {
      // Reads during this append see the log as it was before the previous one.
      const before = this.inner.writtenEntries();
      const done = Promise.resolve(this.inner.append(entries)).then(() => {
        this.#snapshot = null;
      });
      this.#snapshot = before.slice(0, Math.max(0, before.length - 1));
      this.#pending = done;
      return done;
    }
    override entries(from: number, to: number): Promise<Entry[]> {
      const stale = this.#snapshot;
      if (stale === null) return this.inner.entries(from, to);
      return Promise.resolve(stale.filter((e) => e.index >= from && e.index <= to));
    }
  }
  await assertCaught("reads during a pending write", () => Promise.resolve(new SlowReads()));
});
