// In-process clusters of real Raft nodes for runtime tests: memory storage,
// the in-memory network with fault controls, fast timeouts, real clock.
import { Raft } from "../../src/runtime/raft.ts";
import type { Config } from "../../src/config.ts";
import type { NodeId } from "../../src/types.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { MemoryStateMachine } from "../../kv/mod.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { SeededRandom } from "../../src/random.ts";
import type { Logger } from "../../src/runtime/logger.ts";
import type { Tracer } from "../../src/runtime/tracer.ts";

export const FAST: Partial<Config> = {
  electionTimeoutMin: 60,
  electionTimeoutMax: 120,
  heartbeatInterval: 15,
  leaseMargin: 10,
};

/** Timeouts that keep a leader on a loaded machine (for tests that wait for what they cause). */
export const CALM: Partial<Config> = {
  ...FAST,
  electionTimeoutMin: 300,
  electionTimeoutMax: 600,
  heartbeatInterval: 30,
  leaseMargin: 50,
};

export type KvRaft = Raft<Uint8Array | null>;

export class RuntimeCluster {
  readonly net: MemoryNetwork;
  readonly nodes = new Map<NodeId, KvRaft>();
  readonly stores = new Map<NodeId, MemoryLogStore>();
  readonly machines = new Map<NodeId, MemoryStateMachine>();
  #seed = 1;
  /** The logger each node starts with (silent when unset). */
  loggerFor: ((id: NodeId) => Logger) | null = null;
  /** The tracer each node starts with (none when unset). */
  tracerFor: ((id: NodeId) => Tracer) | null = null;

  constructor(readonly config: Partial<Config> = FAST) {
    this.net = new MemoryNetwork({ random: new SeededRandom(42) });
  }

  /** Starts `ids` (fresh stores unless kept from an earlier start). */
  async start(ids: NodeId[]): Promise<void> {
    for (const id of ids) await this.startNode(id);
  }

  async startNode(id: NodeId, keepState = false): Promise<KvRaft> {
    // A restart keeps what was durable: the log store's synced state and the
    // state machine's snapshot (the memory state machine's live map is lost).
    const store = keepState ? this.stores.get(id)!.crash() : new MemoryLogStore();
    const sm = keepState
      ? this.machines.get(id)!.crash()
      : new MemoryStateMachine({ recordApplyLog: true });
    const raft = await Raft.create({
      id,
      config: this.config,
      logStore: store,
      stateMachine: sm,
      network: this.net.client(id),
      random: new SeededRandom(this.#seed++),
      ...(this.loggerFor === null ? {} : { logger: this.loggerFor(id) }),
      ...(this.tracerFor === null ? {} : { tracer: this.tracerFor(id) }),
    });
    this.stores.set(id, store);
    this.machines.set(id, sm);
    this.nodes.set(id, raft);
    this.net.register(id, (_from, req, data) => raft.handle(req, data));
    return raft;
  }

  node(id: NodeId): KvRaft {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Initializes on the first id and waits for any leader; returns its id. */
  async bootstrap(ids: NodeId[]): Promise<NodeId> {
    await this.start(ids);
    await this.node(ids[0]!).initialize(ids);
    return await this.waitLeader();
  }

  /** Waits until some running node is leader and all running nodes agree on it. */
  async waitLeader(timeout = 5000, among?: NodeId[]): Promise<NodeId> {
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      const running = [...this.nodes.entries()].filter(([id]) => !among || among.includes(id));
      const leaders = running.filter(([, r]) => r.metrics.current.state === "leader");
      if (leaders.length === 1) {
        const [lid, lraft] = leaders[0]!;
        const term = lraft.metrics.current.currentTerm;
        const agree = running.every(([, r]) =>
          r.metrics.current.currentLeader === lid && r.metrics.current.currentTerm === term
        );
        if (agree) return lid;
      }
      await sleep(5);
    }
    throw new Error("no stable leader");
  }

  /** Stops a node (as a crash would: no more messages) and forgets its handle. */
  async stop(id: NodeId): Promise<void> {
    this.net.unregister(id);
    await this.node(id).shutdown();
    this.nodes.delete(id);
  }

  async shutdown(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stop(id);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const dec = (b: Uint8Array | null | undefined): string | null =>
  b == null ? null : new TextDecoder().decode(b);
