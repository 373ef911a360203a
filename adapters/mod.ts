/**
 * {@linkcode openStorage}: opens the durable {@linkcode LogStore} of the
 * runtime it runs on, in a data directory — bun:sqlite under Bun, Deno KV
 * under Deno — or a `MemoryLogStore`.
 *
 * The runtime-specific adapters are loaded with a dynamic `import()` only
 * on their own runtime, so this module loads anywhere. Import them directly
 * for more control: `@x/raft/adapters/deno-kv` (`DenoKvLogStore`) and
 * `@x/raft/adapters/bun-sqlite` (`BunSqliteLogStore`).
 *
 * @example
 * ```ts
 * import { openStorage } from "./mod.ts";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const path = await mkdtemp(join(tmpdir(), "node-1-"));
 * const logStore = await openStorage({ path }); // Bun: <path>/raft-log.sqlite; Deno: <path>/raft-log.kv
 * console.assert((await logStore.logState()).lastLogId === null);
 * await logStore.close();
 * ```
 *
 * @module
 */

import { ConfigError } from "../src/errors.ts";
import type { LogStore } from "../src/storage.ts";
import type { SnapshotStore } from "../src/snapshot_store.ts";
import { MemoryLogStore } from "./memory.ts";

/**
 * Which store {@linkcode openStorage} opens: `"auto"` picks by runtime.
 *
 * @example
 * ```ts
 * import type { StorageKind } from "./mod.ts";
 * const kind: StorageKind = "auto";
 * ```
 */
export type StorageKind = "auto" | "memory" | "deno-kv" | "bun-sqlite";

/**
 * Options of {@linkcode openStorage}.
 *
 * @example
 * ```ts
 * import type { OpenStorageOptions } from "./mod.ts";
 * const options: OpenStorageOptions = { path: "./data/node-1", kind: "auto" };
 * ```
 */
export interface OpenStorageOptions {
  /**
   * The data directory (created if missing). The store is a file in it,
   * named by {@linkcode STORAGE_FILES}. Required by the durable kinds.
   */
  readonly path?: string;
  /** Default `"auto"`. */
  readonly kind?: StorageKind;
}

/**
 * The file each durable kind keeps in the data directory.
 *
 * @example
 * ```ts
 * import { STORAGE_FILES } from "./mod.ts";
 * console.assert(STORAGE_FILES["bun-sqlite"] === "raft-log.sqlite");
 * ```
 */
export const STORAGE_FILES: Readonly<{ "deno-kv": string; "bun-sqlite": string }> = Object
  .freeze({
    "deno-kv": "raft-log.kv",
    "bun-sqlite": "raft-log.sqlite",
  });

/**
 * The kind `"auto"` opens given a path: `"bun-sqlite"` under Bun (checked
 * first), `"deno-kv"` under Deno, `"memory"` elsewhere.
 *
 * @example
 * ```ts
 * import { autoStorageKind } from "./mod.ts";
 * console.assert(["bun-sqlite", "deno-kv", "memory"].includes(autoStorageKind()));
 * ```
 */
export function autoStorageKind(): "deno-kv" | "bun-sqlite" | "memory" {
  if ("Bun" in globalThis) return "bun-sqlite";
  if ("Deno" in globalThis) return "deno-kv";
  return "memory";
}

function _runtimeName(): string {
  if ("Bun" in globalThis) return "Bun";
  if ("Deno" in globalThis) return "Deno";
  return "an unknown runtime";
}

const _KINDS: readonly string[] = ["auto", "memory", "deno-kv", "bun-sqlite"];

/**
 * Opens a {@linkcode LogStore}:
 * - `kind: "auto"` (the default) with a `path`: the runtime's durable store
 *   ({@linkcode autoStorageKind}); without a `path`: a `MemoryLogStore`
 *   (nothing survives the process);
 * - `kind: "deno-kv"` / `"bun-sqlite"`: that store, which needs `path` and
 *   its runtime (a clear error otherwise). Deno KV is an unstable API of
 *   Deno: without `--unstable-kv` (or `"unstable": ["kv"]` in `deno.json`)
 *   it rejects with a `StorageError` that says to add either, before
 *   creating the data directory;
 * - `kind: "memory"`: a `MemoryLogStore` (`path` is ignored).
 *
 * `path` is a data directory, created if missing; the store is the file
 * {@linkcode STORAGE_FILES} names in it. Rejects, rather than start an empty
 * log, when the directory holds only the other runtime's store (a node that
 * forgot its vote and log could break Raft's safety), and when a path is
 * given on a runtime with no durable store.
 *
 * @example
 * ```ts
 * import { openStorage } from "./mod.ts";
 * const store = await openStorage({ kind: "memory" });
 * await store.append([{ term: 1, index: 1, type: "blank" }]);
 * await store.close();
 * ```
 */
export function openStorage(options?: OpenStorageOptions): Promise<LogStore>;
export async function openStorage(options: OpenStorageOptions = {}): Promise<LogStore> {
  const kind = options.kind ?? "auto";
  if (!_KINDS.includes(kind)) {
    throw new ConfigError(
      "kind",
      `openStorage: kind must be one of ${_KINDS.join(", ")}; got ${kind}`,
    );
  }
  const path = options.path;
  if (path !== undefined && (typeof path !== "string" || path === "")) {
    throw new ConfigError(
      "path",
      "openStorage: path must be a non-empty string (a data directory)",
    );
  }
  if (kind === "memory" || (kind === "auto" && path === undefined)) return new MemoryLogStore();
  const chosen = kind === "auto" ? autoStorageKind() : kind;
  if (chosen === "memory") {
    throw new Error(
      `openStorage: no durable store for ${_runtimeName()} (Deno KV needs Deno, bun:sqlite ` +
        `needs Bun); pass kind: "memory" to run without durability`,
    );
  }
  const needs = chosen === "deno-kv" ? "Deno" : "Bun";
  if (autoStorageKind() !== chosen) {
    throw new Error(
      `openStorage: kind "${chosen}" needs ${needs}, but this is ${_runtimeName()}` +
        ` (use kind "auto" to pick this runtime's store)`,
    );
  }
  if (path === undefined) {
    throw new ConfigError(
      "path",
      `openStorage: kind "${chosen}" needs a path (a data directory)`,
    );
  }
  if (chosen === "bun-sqlite") {
    const file = await _prepare(path, chosen);
    const { BunSqliteLogStore } = await import("./bun_sqlite.ts");
    return await BunSqliteLogStore.open(file);
  }
  const { DenoKvLogStore, requireDenoKv } = await import("./deno_kv.ts");
  // Before the data directory is created: without --unstable-kv, say so and change nothing.
  requireDenoKv();
  return await DenoKvLogStore.open(await _prepare(path, chosen));
}

/** Creates the data directory; refuses one that holds only the other runtime's store. */
async function _prepare(dir: string, kind: "deno-kv" | "bun-sqlite"): Promise<string> {
  const fs = await import("node:fs/promises");
  await fs.mkdir(dir, { recursive: true });
  const join = (name: string): string => dir.replace(/[/\\]+$/, "") + "/" + name;
  const exists = (p: string): Promise<boolean> => fs.stat(p).then(() => true, () => false);
  const file = join(STORAGE_FILES[kind]);
  const other = kind === "deno-kv" ? "bun-sqlite" : "deno-kv";
  const otherFile = join(STORAGE_FILES[other]);
  if (!(await exists(file)) && (await exists(otherFile))) {
    throw new Error(
      `openStorage: ${dir} holds a ${other} store (${otherFile}) but no ${kind} store; ` +
        `open it under ${other === "deno-kv" ? "Deno" : "Bun"} (starting an empty log ` +
        `instead would make this node forget its vote and log)`,
    );
  }
  return file;
}

/**
 * The sub-directory of a node's data directory that holds its snapshot store
 * ({@linkcode openNodeStorage}).
 *
 * @example
 * ```ts
 * import { SNAPSHOT_DIR } from "./mod.ts";
 * console.assert(SNAPSHOT_DIR === "snapshots");
 * ```
 */
export const SNAPSHOT_DIR = "snapshots";

/**
 * What {@linkcode openNodeStorage} opens: the log store, the snapshot store
 * (`null` when in memory), and `close()`, which closes both.
 *
 * @example
 * ```ts
 * import type { NodeStorage } from "./mod.ts";
 * async function logOnly(s: NodeStorage): Promise<void> {
 *   await s.snapshotStore?.close();
 * }
 * ```
 */
export interface NodeStorage {
  /** The vote and the log ({@linkcode openStorage}). */
  readonly logStore: LogStore;
  /**
   * The durable snapshot store in `<path>/snapshots` (a `FileSnapshotStore`),
   * or `null` when the storage is in memory (no `path`, or `kind: "memory"`).
   */
  readonly snapshotStore: SnapshotStore | null;
  /**
   * Closes both stores. `Raft.shutdown()` already closes the log store, so
   * after a shutdown this closes the snapshot store (closing a log store
   * twice is harmless).
   */
  close(): Promise<void>;
}

/**
 * Opens a node's data directory: the log store as {@linkcode openStorage}
 * does (same options, same checks), and a durable snapshot store
 * (`FileSnapshotStore`, `@x/raft/adapters/file-snapshot-store`) in
 * `<path>/snapshots` ({@linkcode SNAPSHOT_DIR}). In memory (no `path`, or
 * `kind: "memory"`) there is no snapshot store (`null`). If the snapshot
 * store cannot be opened (say, a damaged file), the log store is closed and
 * this rejects.
 *
 * Give the snapshot store to a state machine that keeps its snapshots there
 * (`MemoryStateMachine.open(snapshotStore)`); the runtime then purges the log
 * behind each durable snapshot, and a restart re-applies only the log after
 * the stored snapshot.
 *
 * @example
 * ```ts
 * import { openNodeStorage } from "./mod.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryNetwork } from "../testing/memory_network.ts";
 * import { mkdtemp } from "node:fs/promises";
 * import { tmpdir } from "node:os";
 * import { join } from "node:path";
 * const storage = await openNodeStorage({ path: await mkdtemp(join(tmpdir(), "node-1-")) });
 * const stateMachine = storage.snapshotStore === null
 *   ? new MemoryStateMachine()
 *   : await MemoryStateMachine.open(storage.snapshotStore);
 * const network = new MemoryNetwork().client(1);
 * const raft = await Raft.create({ id: 1, logStore: storage.logStore, stateMachine, network });
 * await raft.shutdown();
 * await storage.close();
 * ```
 *
 * @example In memory
 * ```ts
 * import { openNodeStorage } from "./mod.ts";
 * const storage = await openNodeStorage({ kind: "memory" });
 * console.assert(storage.snapshotStore === null);
 * await storage.close();
 * ```
 */
export function openNodeStorage(options?: OpenStorageOptions): Promise<NodeStorage>;
export async function openNodeStorage(options: OpenStorageOptions = {}): Promise<NodeStorage> {
  const logStore = await openStorage(options);
  const kind = options.kind ?? "auto";
  if (kind === "memory" || options.path === undefined) {
    return { logStore, snapshotStore: null, close: () => logStore.close() };
  }
  let snapshotStore: SnapshotStore;
  try {
    const { openFileSnapshotStore } = await import("./file_snapshot_store.ts");
    snapshotStore = await openFileSnapshotStore(
      options.path.replace(/[/\\]+$/, "") + "/" + SNAPSHOT_DIR,
    );
  } catch (e) {
    await logStore.close().catch(() => {});
    throw e;
  }
  return {
    logStore,
    snapshotStore,
    close: async () => {
      try {
        await logStore.close();
      } finally {
        await snapshotStore.close();
      }
    },
  };
}
