/**
 * A state machine of your own, persisted: a replicated inventory (items and
 * their stock) whose snapshots live in the node's data directory. The model
 * for docs/state_machine.md, which walks through it.
 *
 * - Typed commands (`restock`, `reserve`) as JSON (`jsonCodec`), proposed
 *   with `TypedClient` and decoded in `apply` with `typedApply`.
 * - A command that cannot be carried out (not enough stock, malformed) is
 *   answered with an error *response*, never a throw: a throw in `apply`
 *   stops every node.
 * - Commands carrying a request id (`client`, `seq`) take effect once, even
 *   when a client retries after a timeout.
 * - Snapshots are written to a `SnapshotStore` (a `FileSnapshotStore` in
 *   `<data>/snapshots`) and loaded by `InventoryStateMachine.open` before
 *   `Raft.create`; the log after the snapshot is re-applied on start.
 *
 * ```sh
 * deno run -A examples/inventory.ts ./data/inventory   # or: bun run examples/inventory.ts …
 * ```
 *
 * Each run restocks and reserves a few items on a one-node cluster in that
 * directory and prints the stock; run it twice and the stock has grown.
 *
 * @module
 */

import {
  type AppliedState,
  bytesToStream,
  checkApplyOrder,
  EMPTY_MEMBERSHIP,
  type Entry,
  InvalidArgument,
  jsonCodec,
  type LogId,
  Raft,
  readAllBytes,
  type Snapshot,
  type SnapshotMeta,
  snapshotOfBytes,
  type SnapshotStore,
  type StateMachine,
  type StoredMembership,
  typedApply,
  TypedClient,
} from "../mod.ts";
import { openNodeStorage } from "../adapters/mod.ts";
import { MemoryNetwork } from "../testing/mod.ts";

/** Who sent a command, and its number among that client's commands (1, 2, …). */
export interface RequestId {
  readonly client: string;
  readonly seq: number;
}

/** What clients propose. */
export interface Command {
  readonly op: "restock" | "reserve";
  readonly item: string;
  readonly qty: number;
  /** Set it to make retries safe: a command is applied once per (client, seq). */
  readonly id?: RequestId;
}

/** What applying a command answers: the item's stock after it. */
export type Response =
  | { readonly ok: true; readonly stock: number }
  | {
    readonly ok: false;
    readonly error: "out-of-stock" | "invalid" | "stale";
    readonly stock: number;
  };

/** Commands travel as JSON: the same codec on both sides. */
export const codec = jsonCodec<Command>();

/** Why `command` is malformed, or `null` if it is fine. Checked before proposing and in `apply`. */
export function validate(command: Command): string | null {
  if (typeof command !== "object" || command === null) return "not an object";
  if (command.op !== "restock" && command.op !== "reserve") return "op must be restock or reserve";
  if (typeof command.item !== "string" || command.item.length === 0 || command.item.length > 100) {
    return "item must be a string of 1 to 100 characters";
  }
  if (!Number.isSafeInteger(command.qty) || command.qty < 1 || command.qty > 1_000_000) {
    return "qty must be an integer from 1 to 1000000";
  }
  const id = command.id;
  if (id !== undefined && (typeof id?.client !== "string" || !Number.isSafeInteger(id.seq))) {
    return "id must be { client: string, seq: integer }";
  }
  return null;
}

/** The snapshot's bytes: the whole state as JSON, keys sorted (equal states, equal bytes). */
interface SnapshotData {
  readonly version: 1;
  readonly stock: [string, number][];
  readonly sessions: [string, { seq: number; response: Response }][];
}

const SNAPSHOT_CHUNK = 64 * 1024;

/** The inventory as a Raft state machine; its snapshots are durable in a `SnapshotStore`. */
export class InventoryStateMachine implements StateMachine<Response> {
  #stock = new Map<string, number>();
  /** The last request of each client and its response: what a retry is answered. */
  #sessions = new Map<string, { seq: number; response: Response }>();
  #lastApplied: LogId | null = null;
  #membership: StoredMembership = { logId: null, membership: EMPTY_MEMBERSHIP };
  readonly #store: SnapshotStore;
  readonly #applyCommands = typedApply(codec, (command: Command) => this.#execute(command));

  private constructor(store: SnapshotStore) {
    this.#store = store;
  }

  /** Loads the state from `store`'s current snapshot (empty when there is none). */
  static async open(store: SnapshotStore): Promise<InventoryStateMachine> {
    const sm = new InventoryStateMachine(store);
    const current = await store.current();
    if (current !== null) sm.#adopt(current.meta, await readAllBytes(current.open()));
    return sm;
  }

  /** An item's stock as this node has applied it (read after `raft.ensureLinearizable()`). */
  stock(item: string): number {
    return this.#stock.get(item) ?? 0;
  }

  /** The whole state as plain data, items sorted. */
  toJSON(): { stock: [string, number][] } {
    return { stock: [...this.#stock].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0) };
  }

  appliedState(): Promise<AppliedState> {
    return Promise.resolve({ lastApplied: this.#lastApplied, membership: this.#membership });
  }

  apply(entries: readonly Entry[]): (Response | undefined)[] {
    checkApplyOrder("InventoryStateMachine", this.#lastApplied, entries);
    // Normal entries: decoded and executed. Blank and membership entries: undefined.
    const responses = this.#applyCommands(entries);
    for (const e of entries) {
      if (e.type === "membership") {
        this.#membership = { logId: { term: e.term, index: e.index }, membership: e.membership };
      }
    }
    const last = entries.at(-1);
    if (last !== undefined) this.#lastApplied = { term: last.term, index: last.index };
    return responses;
  }

  #execute(command: Command): Response {
    // Never throw here: answer what cannot be done. Only the same input gives the same
    // output on every node, so no clocks, no randomness, no I/O.
    if (validate(command) !== null) return { ok: false, error: "invalid", stock: 0 };
    const have = this.#stock.get(command.item) ?? 0;
    const id = command.id;
    const seen = id === undefined ? undefined : this.#sessions.get(id.client);
    if (id !== undefined && seen !== undefined && id.seq <= seen.seq) {
      // A retry of the last request gets its answer again; an older one changes nothing.
      return id.seq === seen.seq ? seen.response : { ok: false, error: "stale", stock: have };
    }
    let response: Response;
    if (command.op === "restock") {
      response = { ok: true, stock: have + command.qty };
    } else if (have < command.qty) {
      response = { ok: false, error: "out-of-stock", stock: have };
    } else {
      response = { ok: true, stock: have - command.qty };
    }
    if (response.ok) this.#stock.set(command.item, response.stock);
    if (id !== undefined) this.#sessions.set(id.client, { seq: id.seq, response });
    return response;
  }

  async buildSnapshot(): Promise<Snapshot> {
    const last = this.#lastApplied;
    const meta: SnapshotMeta = {
      lastLogId: last,
      lastMembership: this.#membership,
      // Unique among this node's snapshots, across restarts too.
      snapshotId: `${last?.term ?? 0}-${last?.index ?? 0}-${crypto.randomUUID()}`,
    };
    const bytes = this.#encode(); // the state now; apply may change it once this resolves
    await this.#store.write(meta, bytesToStream(bytes, SNAPSHOT_CHUNK)); // durable on return
    return snapshotOfBytes(meta, bytes, SNAPSHOT_CHUNK);
  }

  async installSnapshot(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    const bytes = await readAllBytes(data); // rejects if the transfer breaks: nothing changed
    InventoryStateMachine.#decode(bytes); // rejects a malformed snapshot: nothing changed
    await this.#store.write(meta, bytesToStream(bytes, SNAPSHOT_CHUNK)); // durable first,
    this.#adopt(meta, bytes); // then the state
  }

  currentSnapshot(): Promise<Snapshot | null> {
    return this.#store.current();
  }

  #adopt(meta: SnapshotMeta, bytes: Uint8Array): void {
    const data = InventoryStateMachine.#decode(bytes);
    this.#stock = new Map(data.stock);
    this.#sessions = new Map(data.sessions);
    this.#lastApplied = meta.lastLogId;
    this.#membership = meta.lastMembership;
  }

  #encode(): Uint8Array {
    const sorted = <V>(m: Map<string, V>): [string, V][] =>
      [...m].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
    const data: SnapshotData = {
      version: 1,
      stock: sorted(this.#stock),
      sessions: sorted(this.#sessions),
    };
    return new TextEncoder().encode(JSON.stringify(data));
  }

  static #decode(bytes: Uint8Array): SnapshotData {
    const data = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes),
    ) as SnapshotData;
    if (data?.version !== 1 || !Array.isArray(data.stock) || !Array.isArray(data.sessions)) {
      throw new Error("InventoryStateMachine: not an inventory snapshot");
    }
    return data;
  }
}

/** A node of the inventory service on its data directory, and how to write to it. */
export interface InventoryNode {
  readonly raft: Raft<Response>;
  readonly stateMachine: InventoryStateMachine;
  /** Validates `command`, then writes it: resolves with its response once applied here. */
  submit(command: Command): Promise<Response>;
  /** Shuts Raft down, then closes the storage. */
  close(): Promise<void>;
}

/**
 * Opens the one-node inventory cluster kept in `dir`: its storage, the
 * state machine loaded from its snapshot, Raft (initialized on first use),
 * once it leads. (Several nodes: give each a network, `HttpNetwork` of
 * `@x/raft/transport`, and initialize the cluster once with every member.)
 */
export async function openInventoryNode(dir: string): Promise<InventoryNode> {
  const storage = await openNodeStorage({ path: dir }); // raft-log.* and snapshots/
  let raft: Raft<Response>;
  let stateMachine: InventoryStateMachine;
  try {
    stateMachine = await InventoryStateMachine.open(storage.snapshotStore!);
    raft = await Raft.create<Response>({
      id: 1,
      logStore: storage.logStore,
      stateMachine,
      network: new MemoryNetwork().client(1), // one node: no peers to reach
      config: { snapshotPolicy: { kind: "logs-since-last", logs: 1000 } },
    });
  } catch (e) {
    await storage.close();
    throw e;
  }
  try {
    if (!raft.isInitialized()) await raft.initialize([1]);
    await raft.metrics.wait({ timeout: 5000 }).role("leader");
  } catch (e) {
    await raft.shutdown();
    await storage.close();
    throw e;
  }
  const client = new TypedClient(raft, codec);
  return {
    raft,
    stateMachine,
    async submit(command) {
      const problem = validate(command);
      if (problem !== null) throw new InvalidArgument("command", problem); // nothing proposed
      return (await client.write(command)).response;
    },
    async close() {
      await raft.shutdown();
      await storage.close();
    },
  };
}

if (import.meta.main) {
  const { argv } = await import("node:process");
  const dir = argv.find((a, i) => i >= 2 && !a.startsWith("-")) ?? "./data/inventory";
  const node = await openInventoryNode(dir);
  try {
    await node.submit({ op: "restock", item: "apples", qty: 10 });
    const reserved = await node.submit({ op: "reserve", item: "apples", qty: 3 });
    const tooMany = await node.submit({ op: "reserve", item: "pears", qty: 1 });
    console.log("reserve 3 apples:", JSON.stringify(reserved));
    console.log("reserve 1 pear:", JSON.stringify(tooMany));
    await node.raft.ensureLinearizable();
    console.log("stock:", JSON.stringify(node.stateMachine.toJSON()), "in", dir);
  } finally {
    await node.close();
  }
}
