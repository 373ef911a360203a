/**
 * A conformance suite for {@linkcode SnapshotStore} implementations. Each
 * case gets a fresh {@linkcode SnapshotStoreHarness} over empty storage,
 * exercises one part of the contract, closes what it opened, and throws an
 * `Error` describing the first mismatch. It depends on no test framework and
 * uses Web APIs only; run each case as one test of yours.
 *
 * Some cases need the harness's optional hooks — `damage`,
 * `leavePartialWrite`, `list` — to simulate crashes and corruption, which
 * only the storage's owner can do; a case's `requires` names them (skip the
 * case without them).
 *
 * @module
 */

import { bytesToStream } from "../src/byte_stream.ts";
import { encodeSnapshotMeta } from "../src/codec.ts";
import type { SnapshotStore, StoredSnapshot } from "../src/snapshot_store.ts";
import type { SnapshotMeta } from "../src/types.ts";
import { membershipOf } from "../src/types.ts";
import { digestStream, StreamDigest } from "./large_snapshot_state_machine.ts";

/**
 * How {@linkcode SnapshotStoreHarness.damage} damages the stored current
 * snapshot: a flipped byte in its data or in its metadata, its end cut off,
 * or its contents replaced by another format's (a foreign file).
 *
 * @example
 * ```ts
 * import type { SnapshotDamage } from "./snapshot_store_conformance.ts";
 * const all: SnapshotDamage[] = ["flip-data", "flip-meta", "truncate", "foreign"];
 * ```
 */
export type SnapshotDamage = "flip-data" | "flip-meta" | "truncate" | "foreign";

/**
 * The storage a case runs on, and hooks to simulate what only its owner can.
 *
 * @example
 * ```ts
 * import type { SnapshotStoreHarness } from "./snapshot_store_conformance.ts";
 * import { openFileSnapshotStore } from "../adapters/file_snapshot_store.ts";
 * const harness = (dir: string): SnapshotStoreHarness => ({
 *   open: () => openFileSnapshotStore(dir),
 *   // damage, leavePartialWrite, list: see tests/adapters/_snapshot_files.ts
 * });
 * ```
 */
export interface SnapshotStoreHarness {
  /**
   * Opens a store on the harness's storage: empty at first; each later call
   * (the previous store closed) sees what was made durable before.
   */
  open(): Promise<SnapshotStore>;
  /** Damages the current snapshot in storage (every store closed). */
  damage?(how: SnapshotDamage): Promise<void>;
  /**
   * Leaves in storage what a crash in the middle of a write leaves (every
   * store closed): a partial, uncommitted snapshot.
   */
  leavePartialWrite?(): Promise<void>;
  /** The names of the objects (files) in storage, to check that nothing is left behind. */
  list?(): Promise<string[]>;
  /** The process's memory in bytes (e.g. resident set size), for the large-snapshot case. */
  memory?(): number;
}

/**
 * The optional hooks of a {@linkcode SnapshotStoreHarness} a case needs.
 *
 * @example
 * ```ts
 * import type { SnapshotStoreHook } from "./snapshot_store_conformance.ts";
 * const hook: SnapshotStoreHook = "damage";
 * ```
 */
export type SnapshotStoreHook = "damage" | "leavePartialWrite" | "list";

/**
 * One conformance case.
 *
 * @example
 * ```ts
 * import { SNAPSHOT_STORE_CASES, type SnapshotStoreCase } from "./snapshot_store_conformance.ts";
 * const runnable: SnapshotStoreCase[] = SNAPSHOT_STORE_CASES.filter((c) => c.requires.length === 0);
 * ```
 */
export interface SnapshotStoreCase {
  /** What the case checks. */
  readonly name: string;
  /** The harness hooks the case needs (it throws without them). */
  readonly requires: readonly SnapshotStoreHook[];
  /**
   * Runs the case on a fresh harness: resolves if the store conforms,
   * rejects with an `Error` describing the first mismatch otherwise.
   */
  run(harness: SnapshotStoreHarness): Promise<void>;
}

/**
 * The size of the large-snapshot case's snapshot (128 MiB).
 *
 * @example
 * ```ts
 * import { LARGE_SNAPSHOT_BYTES } from "./snapshot_store_conformance.ts";
 * console.assert(LARGE_SNAPSHOT_BYTES === 128 * 1024 * 1024);
 * ```
 */
export const LARGE_SNAPSHOT_BYTES: number = 128 * 1024 * 1024;

/**
 * How much the process's memory may grow while the large-snapshot case
 * writes and reads its {@linkcode LARGE_SNAPSHOT_BYTES}: three quarters of
 * them (96 MiB), which a store holding the snapshot whole would exceed.
 * Not less: the chunks streamed are garbage the collector takes its time
 * over — with `FileSnapshotStore`, memory grows by ~75 MiB under Deno (V8)
 * and ~40 MiB under Bun whatever the snapshot's size (64 MiB or 256 MiB).
 *
 * @example
 * ```ts
 * import { LARGE_SNAPSHOT_BYTES, LARGE_SNAPSHOT_MEMORY_BOUND } from "./snapshot_store_conformance.ts";
 * console.assert(LARGE_SNAPSHOT_MEMORY_BOUND < LARGE_SNAPSHOT_BYTES);
 * ```
 */
export const LARGE_SNAPSHOT_MEMORY_BOUND: number = (LARGE_SNAPSHOT_BYTES / 4) * 3;

// ------------------------------------------------------------------ helpers

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

function _meta(term: number, index: number, id: string): SnapshotMeta {
  return {
    lastLogId: { term, index },
    lastMembership: { logId: { term, index: 1 }, membership: membershipOf([1, 2, 3]) },
    snapshotId: id,
  };
}

function _sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** `n` bytes that depend on `seed`. */
function _bytes(n: number, seed: number): Uint8Array {
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

async function _readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream) chunks.push(c.slice());
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Throws unless `snap` is `meta` with `data`, read twice (each `open()` from the start). */
async function checkSnapshot(
  snap: StoredSnapshot | null,
  meta: SnapshotMeta,
  data: Uint8Array,
  what: string,
): Promise<void> {
  check(snap !== null, `${what}: current() returned null, expected snapshot ${meta.snapshotId}`);
  check(
    _sameBytes(encodeSnapshotMeta(snap.meta), encodeSnapshotMeta(meta)),
    `${what}: meta is ${JSON.stringify(snap.meta.snapshotId)}` +
      ` at ${JSON.stringify(snap.meta.lastLogId)}, expected ${meta.snapshotId}`,
  );
  check(snap.size === data.length, `${what}: size ${snap.size}, expected ${data.length}`);
  const first = _readAll(snap.open());
  const second = _readAll(snap.open());
  for (const back of [await first, await second]) {
    check(
      _sameBytes(back, data),
      `${what}: read back ${back.length} bytes that differ from the ${data.length} written`,
    );
  }
}

function _isStorageError(e: unknown): boolean {
  return e instanceof Error && (e as { code?: unknown }).code === "StorageError";
}

/** Runs `body`, which must fail with a `StorageError`. */
async function checkStorageError(body: () => Promise<unknown>, what: string): Promise<void> {
  try {
    await body();
  } catch (e) {
    check(
      _isStorageError(e),
      `${what}: expected a StorageError, got ${e instanceof Error ? `${e.name}: ${e.message}` : e}`,
    );
    return;
  }
  throw new Error(`${what}: expected a StorageError, but it succeeded`);
}

/** A stream fed by hand: `push` chunks, then `end()` or `fail()`. */
function _gate(): {
  stream: ReadableStream<Uint8Array>;
  push(c: Uint8Array): void;
  end(): void;
  fail(e: Error): void;
} {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return {
    stream,
    push: (c) => controller.enqueue(c),
    end: () => controller.close(),
    fail: (e) => controller.error(e),
  };
}

/** Lets pending I/O progress (a few event-loop turns). */
function _settle(ms = 20): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withStore(
  h: SnapshotStoreHarness,
  body: (s: SnapshotStore) => Promise<void>,
): Promise<void> {
  const store = await h.open();
  try {
    await body(store);
  } finally {
    await store.close();
  }
}

/** Writes snapshot A (2-10) and closes the store; returns its meta and data. */
async function _writeOld(h: SnapshotStoreHarness): Promise<[SnapshotMeta, Uint8Array]> {
  const meta = _meta(2, 10, "old");
  const data = _bytes(100_000, 1);
  await withStore(h, (s) => s.write(meta, bytesToStream(data, 7_000)));
  return [meta, data];
}

async function _checkOnlyCurrentLeft(h: SnapshotStoreHarness, what: string): Promise<void> {
  if (h.list === undefined) return;
  const names = await h.list();
  check(names.length === 1, `${what}: storage holds ${JSON.stringify(names)}, expected one object`);
}

/** Damage must show as a StorageError at open, or when the data is read — never as success. */
async function _checkDamageDetected(h: SnapshotStoreHarness, what: string): Promise<void> {
  let store: SnapshotStore;
  try {
    store = await h.open();
  } catch (e) {
    check(
      _isStorageError(e),
      `${what}: open failed, but not with a StorageError: ${e instanceof Error ? e.message : e}`,
    );
    return;
  }
  try {
    const snap = await store.current();
    check(snap !== null, `${what}: the damaged store opened as an empty store`);
    await checkStorageError(() => _readAll(snap.open()), `${what}: reading the damaged snapshot`);
  } finally {
    await store.close();
  }
}

function _case(
  name: string,
  requires: readonly SnapshotStoreHook[],
  run: (h: SnapshotStoreHarness) => Promise<void>,
): SnapshotStoreCase {
  return {
    name,
    requires,
    run: (h) => {
      for (const hook of requires) {
        check(h[hook] !== undefined, `case "${name}" needs the harness hook ${hook}`);
      }
      return run(h);
    },
  };
}

/** A stream of `n` generated bytes in chunks of 1 MiB, made as it is read. */
function _generated(n: number, seed: number, digest: StreamDigest): ReadableStream<Uint8Array> {
  let sent = 0;
  let x = seed >>> 0 || 1;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent >= n) {
        controller.close();
        return;
      }
      const size = Math.min(1 << 20, n - sent);
      const chunk = new Uint8Array(size);
      const words = new Uint32Array(chunk.buffer, 0, size >>> 2);
      for (let i = 0; i < words.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        words[i] = x;
      }
      digest.update(chunk);
      sent += size;
      controller.enqueue(chunk);
    },
  }, { highWaterMark: 0 });
}

// -------------------------------------------------------------------- cases

const _cases: SnapshotStoreCase[] = [
  _case("empty store: current() is null, also after reopen", [], async (h) => {
    await withStore(h, async (s) => {
      check((await s.current()) === null, "current() of an empty store is not null");
    });
    await withStore(h, async (s) => {
      check((await s.current()) === null, "current() of a reopened empty store is not null");
    });
  }),

  _case("write: meta, size and bytes read back, open() twice; durable across reopen", [], async (
    h,
  ) => {
    const meta = _meta(3, 42, "3-42-x");
    const parts = [_bytes(1, 1), new Uint8Array(0), _bytes(70_000, 2), _bytes(3, 3)];
    const data = Uint8Array.from(parts.flatMap((p) => [...p]));
    const chunks = [...parts];
    await withStore(h, async (s) => {
      await s.write(
        meta,
        new ReadableStream({
          pull: (c) => {
            const next = chunks.shift();
            if (next === undefined) c.close();
            else c.enqueue(next);
          },
        }),
      );
      await checkSnapshot(await s.current(), meta, data, "after write");
    });
    await withStore(h, async (s) => {
      await checkSnapshot(await s.current(), meta, data, "after reopen");
    });
    await _checkOnlyCurrentLeft(h, "after write");
  }),

  _case("write: an empty snapshot (0 bytes) round-trips", [], async (h) => {
    const meta = { ..._meta(1, 1, "empty"), lastLogId: null };
    await withStore(h, async (s) => {
      await s.write(meta, bytesToStream(new Uint8Array(0), 10));
      await checkSnapshot(await s.current(), meta, new Uint8Array(0), "after write");
    });
    await withStore(h, async (s) => {
      await checkSnapshot(await s.current(), meta, new Uint8Array(0), "after reopen");
    });
  }),

  _case(
    "replace: the old snapshot stays current and readable until the new one is durable, then goes",
    [],
    async (h) => {
      const [oldMeta, oldData] = await _writeOld(h);
      const newMeta = _meta(3, 20, "new");
      const newData = _bytes(300_000, 2);
      await withStore(h, async (s) => {
        const gate = _gate();
        const writing = s.write(newMeta, gate.stream);
        let settled = false;
        writing.then(() => settled = true, () => settled = true);
        gate.push(newData.subarray(0, 150_000));
        await _settle();
        check(!settled, "write() settled before its data stream ended");
        await checkSnapshot(await s.current(), oldMeta, oldData, "while the new one is written");
        gate.push(newData.subarray(150_000));
        gate.end();
        await writing;
        await checkSnapshot(await s.current(), newMeta, newData, "after the write resolved");
      });
      await _checkOnlyCurrentLeft(h, "after the replacement");
      await withStore(h, async (s) => {
        await checkSnapshot(await s.current(), newMeta, newData, "after reopen");
      });
    },
  ),

  _case(
    "replace: a stream already reading the old snapshot reads it whole; a stale handle never yields other bytes",
    [],
    async (h) => {
      const [oldMeta, oldData] = await _writeOld(h);
      await withStore(h, async (s) => {
        const old = await s.current();
        check(old !== null, "current() is null after a write and reopen");
        const reader = old.open().getReader();
        const first = await reader.read();
        check(!first.done, "the old snapshot's stream ended at once");
        await s.write(_meta(3, 20, "new"), bytesToStream(_bytes(50_000, 9), 4096));
        const chunks = [first.value.slice()];
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value.slice());
        }
        const back = Uint8Array.from(chunks.flatMap((c) => [...c]));
        check(_sameBytes(back, oldData), "the old snapshot's stream changed under its reader");
        // A handle from before the replacement: the old bytes, or a StorageError.
        try {
          const again = await _readAll(old.open());
          check(_sameBytes(again, oldData), "a stale handle streamed other bytes than its own");
        } catch (e) {
          check(_isStorageError(e), `a stale handle failed without a StorageError: ${e}`);
        }
        check(oldMeta.snapshotId === old.meta.snapshotId, "a handle's meta changed");
      });
    },
  ),

  _case(
    "a data stream that errors part-way: write rejects with StorageError, the old snapshot stays, nothing is left",
    [],
    async (h) => {
      const [oldMeta, oldData] = await _writeOld(h);
      await withStore(h, async (s) => {
        const gate = _gate();
        const writing = s.write(_meta(3, 20, "torn"), gate.stream);
        gate.push(_bytes(200_000, 3));
        await _settle();
        gate.fail(new Error("connection reset"));
        await checkStorageError(() => writing, "write() of a stream that errors");
        await checkSnapshot(await s.current(), oldMeta, oldData, "after the failed write");
      });
      await _checkOnlyCurrentLeft(h, "after the failed write");
      await withStore(h, async (s) => {
        await checkSnapshot(await s.current(), oldMeta, oldData, "after reopen");
      });
    },
  ),

  _case(
    "a crash in the middle of a write: after reopen the old snapshot is current and the partial one is cleaned up",
    ["leavePartialWrite"],
    async (h) => {
      const [oldMeta, oldData] = await _writeOld(h);
      await h.leavePartialWrite!();
      await withStore(h, async (s) => {
        await checkSnapshot(await s.current(), oldMeta, oldData, "after the crash and reopen");
      });
      await _checkOnlyCurrentLeft(h, "after the crash and reopen");
      const meta = _meta(4, 30, "after-crash");
      const data = _bytes(10_000, 4);
      await withStore(h, (s) => s.write(meta, bytesToStream(data, 1000)));
      await withStore(h, async (s) => {
        await checkSnapshot(await s.current(), meta, data, "a write after the crash");
      });
      await _checkOnlyCurrentLeft(h, "after a write following the crash");
    },
  ),

  ...(["flip-data", "flip-meta", "truncate", "foreign"] as const).map((how) =>
    _case(
      `damage (${how}): StorageError at open or when read, never an empty store`,
      ["damage"],
      async (h) => {
        await _writeOld(h);
        await h.damage!(how);
        await _checkDamageDetected(h, `after damage ${how}`);
      },
    )
  ),

  _case(
    "concurrent writes: serialized in call order, or the later one refused with StorageError",
    [],
    async (h) => {
      const metaA = _meta(2, 10, "a");
      const dataA = _bytes(120_000, 5);
      const metaB = _meta(2, 11, "b");
      const dataB = _bytes(80_000, 6);
      await withStore(h, async (s) => {
        const gate = _gate();
        const a = s.write(metaA, gate.stream);
        gate.push(dataA.subarray(0, 60_000));
        await _settle();
        const b = s.write(metaB, bytesToStream(dataB, 10_000));
        let bState = "pending" as "pending" | "resolved" | "rejected";
        let bError: unknown;
        b.then(() => bState = "resolved", (e) => {
          bState = "rejected";
          bError = e;
        });
        await _settle();
        check(bState !== "resolved", "a second write() resolved while the first was in progress");
        check(
          bState === "pending" || _isStorageError(bError),
          `a refused concurrent write() must reject with a StorageError, got ${bError}`,
        );
        gate.push(dataA.subarray(60_000));
        gate.end();
        await a;
        await b.catch(() => {});
        const settled = (): string => bState; // read afresh, after the awaits
        if (settled() === "resolved") {
          await checkSnapshot(await s.current(), metaB, dataB, "after both writes (serialized)");
        } else {
          check(_isStorageError(bError), `the second write() failed with ${bError}`);
          await checkSnapshot(await s.current(), metaA, dataA, "after the refused second write");
        }
      });
      await _checkOnlyCurrentLeft(h, "after concurrent writes");
    },
  ),

  _case("closed store: current() and write() reject with StorageError", [], async (h) => {
    const s = await h.open();
    await s.close();
    await checkStorageError(() => s.current(), "current() after close()");
    await checkStorageError(
      () => s.write(_meta(1, 1, "late"), bytesToStream(new Uint8Array(1), 1)),
      "write() after close()",
    );
  }),

  _case(
    `large: ${
      LARGE_SNAPSHOT_BYTES / (1 << 20)
    } MiB, generated as it streams, written and read with bounded memory`,
    [],
    async (h) => {
      const meta = _meta(5, 1_000_000, "large");
      const sent = new StreamDigest();
      const base = h.memory?.() ?? 0;
      let peak = base;
      const sample = (): void => {
        if (h.memory !== undefined) peak = Math.max(peak, h.memory());
      };
      const source = _generated(LARGE_SNAPSHOT_BYTES, 77, sent).pipeThrough(
        new TransformStream<Uint8Array, Uint8Array>({
          transform(chunk, controller) {
            sample();
            controller.enqueue(chunk);
          },
        }),
      );
      await withStore(h, async (s) => {
        await s.write(meta, source);
        const snap = await s.current();
        check(snap !== null, "current() is null after writing the large snapshot");
        check(snap.size === LARGE_SNAPSHOT_BYTES, `size ${snap.size}`);
        const back = await digestStream(
          snap.open().pipeThrough(
            new TransformStream<Uint8Array, Uint8Array>({
              transform(chunk, controller) {
                sample();
                controller.enqueue(chunk);
              },
            }),
          ),
        );
        check(
          back.bytes === sent.bytes && back.checksum === sent.checksum,
          `read back ${back.bytes} bytes (checksum ${back.checksum}), ` +
            `wrote ${sent.bytes} (checksum ${sent.checksum})`,
        );
      });
      check(
        peak - base <= LARGE_SNAPSHOT_MEMORY_BOUND,
        `memory grew by ${((peak - base) / (1 << 20)).toFixed(1)} MiB writing and reading ` +
          `${LARGE_SNAPSHOT_BYTES / (1 << 20)} MiB (bound ${
            LARGE_SNAPSHOT_MEMORY_BOUND / (1 << 20)
          } MiB)`,
      );
    },
  ),
];

/**
 * The conformance cases. Each runs on a fresh harness (empty storage) and
 * closes the stores it opens; they may run in any order.
 *
 * @example
 * ```ts
 * import { SNAPSHOT_STORE_CASES, type SnapshotStoreHarness } from "./snapshot_store_conformance.ts";
 * async function conforms(fresh: () => SnapshotStoreHarness): Promise<void> {
 *   for (const c of SNAPSHOT_STORE_CASES) {
 *     if (c.requires.length === 0) await c.run(fresh());
 *   }
 * }
 * ```
 */
export const SNAPSHOT_STORE_CASES: readonly SnapshotStoreCase[] = Object.freeze(_cases);
