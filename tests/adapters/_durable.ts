// Tests every durable LogStore adapter shares: the conformance suite with
// reopen, the same rejections as MemoryLogStore, a randomized comparison with
// MemoryLogStore across reopens, and kill -9 of a process in the middle of
// appends. Each adapter's test file calls durableSuite() with its opener.

import { rejection } from "../_entries.ts";
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { MemoryLogStore } from "../../adapters/memory.ts";
import type { LogStore } from "../../src/storage.ts";
import type { Entry, LogId, Membership, Vote } from "../../src/types.ts";
import { LOG_STORE_CASES } from "../../testing/log_store_conformance.ts";

export const IS_BUN: boolean = "Bun" in globalThis;
export const IS_DENO: boolean = !IS_BUN && "Deno" in globalThis;

const _root = fileURLToPath(new URL("../../", import.meta.url));

/** A fresh directory under .tmp/; remove it with `cleanup()`. */
export function tempDir(prefix: string): { path: string; cleanup(): void } {
  const base = `${_root}.tmp`;
  mkdirSync(base, { recursive: true });
  const path = mkdtempSync(`${base}/${prefix}-`);
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Runs `body` with a fresh temp dir, removed afterwards. */
export async function withDir<T>(prefix: string, body: (dir: string) => Promise<T>): Promise<T> {
  const dir = tempDir(prefix);
  try {
    return await body(dir.path);
  } finally {
    dir.cleanup();
  }
}

export function blank(term: number, index: number): Entry {
  return { term, index, type: "blank" };
}

export function normal(term: number, index: number, data?: Uint8Array): Entry {
  return { term, index, type: "normal", data: data ?? new Uint8Array([index & 0xff, term & 0xff]) };
}

/** `n` bytes that depend on `seed`. */
export function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function range(term: number, from: number, to: number, size = 2): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(normal(term, i, bytes(size, i)));
  return out;
}

function _membershipView(m: Membership): unknown {
  return {
    configs: m.configs.map((c) => [...c]),
    nodes: [...m.nodes].map(([id, n]) => [id, n.addr]).sort((a, b) => Number(a[0]) - Number(b[0])),
  };
}

/** An entry as plain comparable data. */
export function view(e: Entry): unknown {
  const id = { term: e.term, index: e.index, type: e.type };
  if (e.type === "normal") return { ...id, data: e.data.slice() };
  if (e.type === "membership") return { ...id, membership: _membershipView(e.membership) };
  return id;
}

export function views(es: readonly Entry[]): unknown[] {
  return es.map(view);
}

function _ids(id: LogId | null): unknown {
  return id === null ? null : { term: id.term, index: id.index };
}

/** Everything a store holds, as plain data. */
export async function snapshotOf(s: LogStore): Promise<unknown> {
  const state = await s.logState();
  const vote: Vote | null = await s.readVote();
  return {
    vote: vote === null ? null : { ...vote },
    lastPurged: _ids(state.lastPurged),
    lastLogId: _ids(state.lastLogId),
    committed: _ids(await s.readCommitted()),
    entries: views(await s.entries(0, Number.MAX_SAFE_INTEGER)),
  };
}

/** A small seeded PRNG (xorshift32). */
export function prng(seed: number): (n: number) => number {
  let x = seed >>> 0 || 1;
  return (n: number) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

export interface DurableSuiteOptions {
  /** Test name prefix, e.g. "deno kv log store". */
  readonly label: string;
  /** `false` to run, or why the tests are skipped on this runtime. */
  readonly skip: string | false;
  /** Opens the store in a file (which may or may not exist yet). */
  readonly open: (file: string) => Promise<LogStore>;
  /** The runtime's command line to run a script: [executable, ...args before the script]. */
  readonly command: () => string[];
}

export function durableSuite(o: DurableSuiteOptions): void {
  const { label, skip } = o;
  const prefix = label.replaceAll(" ", "-");

  for (const c of LOG_STORE_CASES) {
    test(`${label}: conformance: ${c.name}`, { skip }, () =>
      withDir(prefix, async (dir) => {
        const file = `${dir}/log`;
        await c.run(() => o.open(file), () => o.open(file));
      }));
  }

  test(
    `${label}: a vote never goes back (same rejections as MemoryLogStore)`,
    { skip },
    () =>
      withDir(prefix, async (dir) => {
        const store = await o.open(`${dir}/log`);
        try {
          await store.saveVote({ term: 2, votedFor: null, committed: false });
          await store.saveVote({ term: 2, votedFor: 1, committed: false });
          await store.saveVote({ term: 2, votedFor: 1, committed: false });
          assert.match(
            (await rejection(store.saveVote({ term: 2, votedFor: 3, committed: false }))).message,
            /already has a vote for 1/,
          );
          await rejection(store.saveVote({ term: 2, votedFor: null, committed: false }));
          await store.saveVote({ term: 2, votedFor: 1, committed: true });
          await rejection(store.saveVote({ term: 2, votedFor: 1, committed: false }));
          assert.match(
            (await rejection(store.saveVote({ term: 1, votedFor: 1, committed: false }))).message,
            /goes back/,
          );
          await rejection(store.saveVote({ term: -1, votedFor: 1, committed: false }));
          await store.saveVote({ term: 3, votedFor: 2, committed: false });
          assert.deepEqual(await store.readVote(), { term: 3, votedFor: 2, committed: false });
        } finally {
          await store.close();
        }
      }),
  );

  test(
    `${label}: append, truncate, purge and entries validate like MemoryLogStore`,
    { skip },
    () =>
      withDir(prefix, async (dir) => {
        const store = await o.open(`${dir}/log`);
        const memory = new MemoryLogStore();
        try {
          for (const s of [store, memory]) {
            await s.append(range(1, 1, 2));
            await s.append(range(2, 3, 4));
            assert.match(
              (await rejection(s.append([normal(2, 4)]))).message,
              /does not continue the log: expected index 5 \(truncate conflicting entries first\)/,
            );
            assert.match((await rejection(s.append([normal(2, 6)]))).message, /\(gap\)/);
            assert.match((await rejection(s.append([normal(1, 5)]))).message, /lower term/);
            await rejection(s.append([{ term: 2, index: 5, type: "normal" } as unknown as Entry]));
            await rejection(s.purge({ term: 2, index: 2 })); // entry 2 has term 1
            assert.match(
              (await rejection(s.purge({ term: 2, index: 2 }))).message,
              /conflicts with the entry 1-2/,
            );
            await s.purge({ term: 1, index: 2 });
            assert.match((await rejection(s.purge({ term: 1, index: 1 }))).message, /below/);
            await rejection(s.purge({ term: 2, index: 2 })); // conflicts with the purge point
            await s.purge({ term: 1, index: 2 }); // the same point: a no-op
            assert.match((await rejection(s.truncate(2))).message, /at or below the purge point/);
            await rejection(s.truncate(0));
            await s.truncate(99); // beyond the last: a no-op
            await rejection(s.purge({ term: 1, index: 9 })); // beyond the last, lower term
            await rejection(s.entries(Number.NaN, 3));
            await rejection(s.entries(1, Infinity));
            assert.deepEqual(views(await s.entries(-5, 3)), views(range(2, 3, 3)));
            assert.deepEqual(await s.entries(4, 3), []);
            await s.append([]);
          }
          assert.deepEqual(await snapshotOf(store), await snapshotOf(memory));
        } finally {
          await store.close();
        }
      }),
  );

  test(
    `${label}: calls after close reject; closing twice is harmless`,
    { skip },
    () =>
      withDir(prefix, async (dir) => {
        const store = await o.open(`${dir}/log`);
        await store.append(range(1, 1, 3));
        await store.close();
        await store.close();
        assert.match((await rejection(store.logState())).message, /closed/);
        await rejection(store.append(range(1, 4, 4)));
        await rejection(store.readVote());
        const again = await o.open(`${dir}/log`);
        assert.deepEqual((await again.logState()).lastLogId, { term: 1, index: 3 });
        await again.close();
      }),
  );

  test(
    `${label}: an entry the codec cannot write rejects without harming the store`,
    { skip },
    () =>
      withDir(prefix, async (dir) => {
        const store = await o.open(`${dir}/log`);
        try {
          await store.append(range(1, 1, 2));
          const bad: Entry = {
            term: 1,
            index: 4,
            type: "membership",
            membership: { configs: [[-1]], nodes: new Map(), clusterId: "" },
          };
          await rejection(store.append([normal(1, 3), bad]));
          assert.deepEqual((await store.logState()).lastLogId, { term: 1, index: 2 });
          await store.append(range(1, 3, 4));
          assert.deepEqual(views(await store.entries(1, 9)), views(range(1, 1, 4)));
        } finally {
          await store.close();
        }
      }),
  );

  test(
    `${label}: randomized operations with reopens agree with MemoryLogStore`,
    { skip },
    () =>
      withDir(prefix, async (dir) => {
        const file = `${dir}/log`;
        const rand = prng(20240611);
        const model = new MemoryLogStore();
        let store = await o.open(file);
        let term = 1;
        let voteTerm = 0;
        const joint: Membership = {
          configs: [[1, 2, 3], [3, 4]],
          nodes: new Map([1, 2, 3, 4, 5].map((id) => [id, { addr: `http://n${id}:80` }])),
          clusterId: "c0ffee",
        };
        try {
          for (let step = 0; step < 250; step++) {
            const last = (await model.logState()).lastLogId;
            const lastIndex = last?.index ?? 0;
            const purgedIndex = (await model.logState()).lastPurged?.index ?? 0;
            const op = rand(100);
            const both = async (f: (s: LogStore) => Promise<unknown> | void): Promise<void> => {
              let a: unknown = null;
              let b: unknown = null;
              await Promise.resolve(f(model)).catch((e) => (a = e));
              await Promise.resolve(f(store)).catch((e) => (b = e));
              assert.equal(b === null, a === null, `step ${step}: ${String(a)} vs ${String(b)}`);
            };
            if (op < 45) {
              if (rand(4) === 0) term++;
              const n = 1 + rand(rand(5) === 0 ? 300 : 8);
              const big = rand(5) === 0 ? rand(n) : -1;
              const bigSize = rand(3) === 0 ? 900_000 : 70_000 + rand(200_000);
              const es: Entry[] = [];
              for (let i = 0; i < n; i++) {
                const index = lastIndex + 1 + i;
                const kind = rand(40);
                if (kind === 0) es.push(blank(term, index));
                else if (kind === 1) {
                  es.push({ term, index, type: "membership", membership: joint });
                } else {
                  const size = i === big ? bigSize : rand(64);
                  es.push(normal(term, index, bytes(size, index * 31 + term)));
                }
              }
              await both((s) => s.append(es));
            } else if (op < 55) {
              const since = purgedIndex + 1 + rand(lastIndex - purgedIndex + 2);
              await both((s) => s.truncate(since));
            } else if (op < 65) {
              const index = Math.max(1, purgedIndex + rand(lastIndex - purgedIndex + 3));
              const at = (await model.entries(index, index))[0];
              const t = at?.term ?? (index === purgedIndex ? last?.term ?? 0 : term);
              const upTo = { term: rand(8) === 0 ? t + 1 : t, index };
              await both((s) => s.purge(upTo));
            } else if (op < 72) {
              if (rand(2) === 0) voteTerm++;
              const vote = { term: voteTerm, votedFor: rand(4) || null, committed: rand(2) === 0 };
              await both((s) => s.saveVote(vote));
            } else if (op < 80) {
              const c = rand(3) === 0 ? null : { term: rand(5), index: rand(lastIndex + 1) };
              await both((s) => s.saveCommitted(c));
            } else if (op < 90) {
              const from = rand(lastIndex + 3);
              const to = from + rand(50);
              assert.deepEqual(
                views(await store.entries(from, to)),
                views(await model.entries(from, to)),
                `step ${step}: entries(${from}, ${to})`,
              );
            } else {
              await store.close();
              store = await o.open(file);
            }
            if (step % 10 === 9 || op >= 90) {
              assert.deepEqual(await snapshotOf(store), await snapshotOf(model), `step ${step}`);
            } else {
              assert.deepEqual(await store.logState(), await model.logState(), `step ${step}`);
              assert.deepEqual(await store.readVote(), await model.readVote(), `step ${step}`);
            }
          }
        } finally {
          await store.close();
        }
      }),
  );

  test(
    `${label}: kill -9 during appends loses nothing acknowledged`,
    { skip },
    () =>
      withDir(prefix, async (dir) => {
        const file = `${dir}/log`;
        const child = fileURLToPath(new URL("./_append_child.ts", import.meta.url));
        const [exe, ...pre] = o.command();
        let acked = 0;
        for (let round = 0; round < 3; round++) {
          const target = acked + 3 * 1500;
          const proc = spawn(exe!, [...pre, child, file], {
            cwd: _root,
            stdio: ["ignore", "pipe", "pipe"],
          });
          let err = "";
          proc.stderr!.on("data", (d: Uint8Array) => (err += new TextDecoder().decode(d)));
          const exited = new Promise<void>((resolve) => proc.on("exit", () => resolve()));
          await new Promise<void>((resolve, reject) => {
            let buf = "";
            proc.stdout!.on("data", (d: Uint8Array) => {
              buf += new TextDecoder().decode(d);
              let nl: number;
              while ((nl = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                const m = /^acked (\d+)$/.exec(line);
                if (m !== null) acked = Math.max(acked, Number(m[1]));
              }
              if (acked >= target) {
                proc.kill("SIGKILL");
                resolve();
              }
            });
            proc.on("exit", (code) => {
              if (acked < target) reject(new Error(`child exited (${code}) early: ${err}`));
            });
          });
          await exited;
          const store = await o.open(file);
          try {
            const state = await store.logState();
            const last = state.lastLogId?.index ?? 0;
            assert.ok(last >= acked, `round ${round}: last ${last} < acknowledged ${acked}`);
            const es = await store.entries(1, last);
            assert.equal(es.length, last);
            for (const e of es) {
              assert.deepEqual(view(e), view(normal(1, e.index, bytes(600, e.index))));
            }
          } finally {
            await store.close();
          }
        }
      }),
  );
}

export { rejection };
