/**
 * Deterministic simulation of whole Raft clusters: {@linkcode Simulator}
 * runs real {@linkcode Raft} nodes (the runtime and engine, unchanged) in
 * virtual time, injects faults, checks the safety invariants after every
 * step, checks the clients' history for linearizability, then heals
 * everything and checks that the cluster recovers. One seed determines
 * everything: run it again and the trace (and its hash) is the same.
 *
 * **Time and scheduling.** One {@linkcode ManualClock} orders every event by
 * (due time, scheduling order): node timers, network legs, disk syncs,
 * faults and client operations. Each node sees it through a
 * {@linkcode NodeClock} (offset, drift, pause). A step fires the next timer,
 * then waits on a {@linkcode MacrotaskBarrier} until every microtask has
 * run — the runtime's turns, storage completions, message handlers — and
 * then checks the invariants. Nothing uses real time.
 *
 * **Durability.** Nodes store on {@linkcode SimLogStore}s: a write is
 * visible at once, durable at the next disk sync (after a random latency),
 * and resolves only then — as the `LogStore` contract says. A crash keeps
 * the durable state (and, at random, also the writes still waiting for
 * their sync, which a real disk may or may not have kept); the node's
 * in-memory state machine restarts from its last snapshot. So a crash is
 * allowed at any moment, and anything acknowledged that a crash loses is a
 * bug. (Crashing nodes whose writes resolve before they are durable would
 * break "acknowledged ⇒ durable" by construction; that is what the
 * `storeFault: "ack-before-sync"` option does on purpose, to test the
 * simulator.)
 *
 * @example
 * ```ts
 * import { Simulator } from "./simulator.ts";
 * const result = await new Simulator({ seed: 1, steps: 300 }).run();
 * if (!result.ok) console.log(result.violation);
 * console.assert(typeof result.traceHash === "string");
 * ```
 *
 * @module
 */

import { MemoryStateMachine } from "../kv/mod.ts";
import { ManualClock } from "../src/clock.ts";
import { AlreadyInitialized, ShuttingDown, StorageError } from "../src/errors.ts";
import type { Config } from "../src/config.ts";
import type { RaftRequest, RaftResponse } from "../src/messages.ts";
import type { RaftNetwork } from "../src/network.ts";
import { SeededRandom } from "../src/random.ts";
import type { RaftMetrics } from "../src/runtime/metrics.ts";
import { Raft } from "../src/runtime/raft.ts";
import type { ChangeMembers } from "../src/runtime/change_members.ts";
import type { LogId, NodeId } from "../src/types.ts";
import { checkLinearizable } from "./linearizability.ts";
import { MemoryNetwork } from "./memory_network.ts";
import { NodeClock } from "./sim_clock.ts";
import { MacrotaskBarrier } from "./sim_drain.ts";
import { InvariantChecker, type NodeView } from "./sim_invariants.ts";
import { deriveProfile, FAULT_KINDS, type FaultKind, type SimProfile } from "./sim_profile.ts";
import { SimLogStore, type SimStoreFault, type SimStoreObserver } from "./sim_store.ts";
import { hostileRequest, judgeHostileAnswer, SimIntruder } from "./sim_hostile.ts";
import { SimWorkload, swapRegisterModel, type WorkloadStats } from "./sim_workload.ts";

/**
 * Options of a {@linkcode Simulator}.
 *
 * @example
 * ```ts
 * import type { SimOptions } from "./simulator.ts";
 * const options: SimOptions = { seed: 42, steps: 5000, profile: { nodes: 5 } };
 * ```
 */
export interface SimOptions {
  /** Decides everything (a safe integer). */
  readonly seed: number;
  /** Steps (fired timers) with faults, before the liveness phase. Default 3000. */
  readonly steps?: number;
  /** Overrides parts of the profile the seed derives (see {@linkcode deriveProfile}). */
  readonly profile?: Partial<SimProfile>;
  /** Fault kinds never injected, whatever the seed says (e.g. to bisect a failure). */
  readonly without?: readonly FaultKind[];
  /** A deliberate storage bug (default `"none"`), to test the simulator itself. */
  readonly storeFault?: SimStoreFault;
  /** Check "acknowledged ⇒ durable" when answers are sent (default `true`). */
  readonly checkAcks?: boolean;
  /** Check linearizability of the history (default `true`). */
  readonly checkLinearizability?: boolean;
  /** Time limit of the linearizability check, real ms (default 5000); over it: "unknown". */
  readonly linearizabilityTimeLimitMs?: number;
  /** Run the liveness phase (default `true`). */
  readonly liveness?: boolean;
  /** Events kept for a violation report (default 30). */
  readonly traceSize?: number;
  /**
   * After each step, drain a second time and fail if anything happened (a
   * check that one barrier drains everything). Default `false`.
   */
  readonly paranoidDrain?: boolean;
  /** Called with every trace event (for debugging); default none. */
  readonly onEvent?: (event: string) => void;
  /**
   * Also trace every message delivered and answered and every storage
   * write (for debugging a seed; not part of the trace hash). Default `false`.
   */
  readonly detail?: boolean;
}

/**
 * A broken invariant, with what is needed to reproduce and understand it.
 *
 * @example
 * ```ts
 * import type { SimViolation } from "./simulator.ts";
 * function oneLine(v: SimViolation): string {
 *   return `seed ${v.seed} step ${v.step}: ${v.invariant}: ${v.message}`;
 * }
 * ```
 */
export interface SimViolation {
  /** The seed. */
  readonly seed: number;
  /** The step at which it was seen. */
  readonly step: number;
  /** Virtual time, ms. */
  readonly time: number;
  /** `"faults"` or `"liveness"`. */
  readonly phase: string;
  /** Which invariant (see `sim_invariants.ts`), or `linearizability`, `liveness`. */
  readonly invariant: string;
  /** What was seen. */
  readonly message: string;
  /** The last events before it. */
  readonly trace: readonly string[];
}

/**
 * The outcome of a run.
 *
 * @example
 * ```ts
 * import type { SimResult } from "./simulator.ts";
 * function summary(r: SimResult): string {
 *   return r.ok ? `seed ${r.seed} ok (${r.steps} steps)` : `seed ${r.seed}: ${r.violation?.invariant}`;
 * }
 * ```
 */
export interface SimResult {
  /** The seed. */
  readonly seed: number;
  /** No violation. */
  readonly ok: boolean;
  /** The first violation, or `null`. */
  readonly violation: SimViolation | null;
  /** Steps run (both phases). */
  readonly steps: number;
  /** Virtual time at the end, ms. */
  readonly virtualMs: number;
  /** Hash of the whole event trace and every step's state: equal for equal runs. */
  readonly traceHash: string;
  /** Client operations by outcome. */
  readonly operations: WorkloadStats;
  /** The linearizability verdict: `"ok"`, `"violation"`, `"unknown"` (time limit) or `"skipped"`. */
  readonly linearizability: "ok" | "violation" | "unknown" | "skipped";
  /** Entries known committed at the end. */
  readonly committed: number;
  /** The profile the run used. */
  readonly profile: SimProfile;
}

/**
 * Formats a violation for people: the seed, the step, the invariant, the
 * trace, and how to run it again.
 *
 * @example
 * ```ts
 * import { formatViolation } from "./simulator.ts";
 * console.log(formatViolation({
 *   seed: 7, step: 120, time: 3.5, phase: "faults", invariant: "election safety",
 *   message: "nodes 1 and 2 both led term 3", trace: ["3.000 crash 2"],
 * }));
 * ```
 */
export function formatViolation(v: SimViolation): string {
  return [
    `seed ${v.seed}: ${v.invariant} violated at step ${v.step} (t=${v.time.toFixed(3)} ms, ` +
    `${v.phase} phase)`,
    `  ${v.message}`,
    `  last events:`,
    ...v.trace.map((e) => `    ${e}`),
  ].join("\n");
}

type _Status = "up" | "down" | "starting";

interface _Slot {
  readonly id: NodeId;
  readonly clock: NodeClock;
  readonly network: RaftNetwork;
  life: number;
  status: _Status;
  raft: Raft<Uint8Array | null> | null;
  store: SimLogStore;
  sm: MemoryStateMachine;
  unsubscribe: (() => void) | null;
  lastRole: string;
}

/** A 53-bit string hash (cyrb53), fed incrementally. */
class _Hash {
  #h1 = 0xdeadbeef;
  #h2 = 0x41c6ce57;
  update(s: string): void {
    let h1 = this.#h1, h2 = this.#h2;
    for (let i = 0; i < s.length; i++) {
      const ch = s.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    this.#h1 = h1;
    this.#h2 = h2;
  }
  digest(): string {
    let h1 = this.#h1, h2 = this.#h2;
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
    h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
    h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return (h2 >>> 0).toString(16).padStart(8, "0") + (h1 >>> 0).toString(16).padStart(8, "0");
  }
}

function _fmtId(id: LogId | null): string {
  return id === null ? "0" : `${id.term}-${id.index}`;
}

function _sameId(a: LogId | null, b: LogId | null): boolean {
  return (a?.term ?? 0) === (b?.term ?? 0) && (a?.index ?? 0) === (b?.index ?? 0);
}

/**
 * One simulated cluster, driven by one seed; see the module documentation.
 * A simulator runs once.
 *
 * @example
 * ```ts
 * import { Simulator } from "./simulator.ts";
 * const a = await new Simulator({ seed: 3, steps: 200 }).run();
 * const b = await new Simulator({ seed: 3, steps: 200 }).run();
 * console.assert(a.traceHash === b.traceHash);
 * ```
 */
export class Simulator {
  /** The seed. */
  readonly seed: number;
  /** The profile (derived from the seed, with the overrides). */
  readonly profile: SimProfile;
  readonly #opts: SimOptions;
  readonly #clock = new ManualClock(0);
  readonly #net: MemoryNetwork;
  readonly #faults: SeededRandom;
  readonly #nodeSeeds: SeededRandom;
  readonly #slots = new Map<NodeId, _Slot>();
  readonly #ids: NodeId[];
  readonly #checker: InvariantChecker;
  readonly #observer: SimStoreObserver;
  readonly #workload: SimWorkload;
  readonly #config: Partial<Config>;
  readonly #trace: string[] = [];
  readonly #hash = new _Hash();
  #barrier: MacrotaskBarrier | null = null;
  #step = 0;
  #phase: "faults" | "liveness" | "done" = "faults";
  #activity = 0;
  #stillAt = -1;
  #stillSteps = 0;
  #violation: SimViolation | null = null;
  #ran = false;
  /** Node 1's `initialize` failed (it crashed first): an operator calls it again on restart. */
  #initializeAgain = false;
  /** A node of another cluster trying to pull members into its own (the "intruder" fault). */
  #intruder: SimIntruder | null = null;
  #intruders = 0;

  /**
   * Creates a {@linkcode Simulator}.
   *
   * @param options the seed and options
   */
  constructor(options: SimOptions) {
    if (!Number.isSafeInteger(options.seed)) {
      throw new RangeError(`seed must be a safe integer, got ${options.seed}`);
    }
    this.#opts = options;
    this.seed = options.seed;
    const root = new SeededRandom(options.seed);
    const profile = { ...deriveProfile(root.nextUint32()), ...options.profile };
    this.profile = profile;
    this.#faults = new SeededRandom(root.nextUint32());
    this.#nodeSeeds = new SeededRandom(root.nextUint32());
    const netRandom = new SeededRandom(root.nextUint32());
    const workRandom = new SeededRandom(root.nextUint32());
    this.#ids = Array.from({ length: profile.nodes }, (_, i) => i + 1);
    this.#config = {
      electionTimeoutMin: profile.electionTimeoutMin,
      electionTimeoutMax: profile.electionTimeoutMax,
      heartbeatInterval: profile.heartbeatInterval,
      leaseMargin: profile.leaseMargin,
      maxPayloadEntries: profile.maxPayloadEntries,
      maxInflight: profile.maxInflight,
      maxAppendBytes: profile.maxAppendBytes,
      snapshotPolicy: profile.snapshotEvery > 0
        ? { kind: "logs-since-last", logs: profile.snapshotEvery }
        : { kind: "never" },
      maxInSnapshotLogsToKeep: profile.keepAfterSnapshot,
      purgeBatchSize: 1,
    };
    this.#net = new MemoryNetwork({
      random: netRandom,
      clock: this.#clock,
      delay: profile.delay,
      dropRate: profile.dropRate,
      duplicateRate: profile.duplicateRate,
    });
    this.#checker = new InvariantChecker({ acks: options.checkAcks ?? true });
    const checker = this.#checker;
    this.#observer = options.detail
      ? {
        appended: (node, entries, prev) => {
          const a = entries[0], b = entries[entries.length - 1];
          if (a !== undefined && b !== undefined) {
            this.#detail(`n${node} store append ${_fmtId(a)}..${_fmtId(b)}`);
          }
          checker.appended(node, entries, prev);
        },
        truncated: (node, since, removed, vote) => {
          this.#detail(`n${node} store truncate from ${since} (${removed.length} entries)`);
          checker.truncated(node, since, removed, vote);
        },
        saved: (node, vote) => {
          this.#detail(
            `n${node} store vote ${vote.term}/${vote.votedFor ?? "-"}${vote.committed ? "/c" : ""}`,
          );
          checker.saved(node, vote);
        },
        rejected: (node, op, e) => checker.rejected(node, op, e),
      }
      : checker;
    this.#workload = new SimWorkload({
      ids: this.#ids,
      node: (id) => {
        const s = this.#slots.get(id);
        if (s === undefined || s.status !== "up" || s.clock.paused || s.raft === null) return null;
        return { raft: s.raft, sm: s.sm };
      },
      leader: () => this.#leader()?.id ?? null,
      setTimer: (ms, fn) => {
        this.#clock.setTimer(ms, fn);
      },
      random: workRandom,
      trace: (e) => this.#event(e),
    }, {
      clients: profile.clients,
      keys: profile.keys,
      thinkMs: profile.thinkMs,
      giveUpMs: profile.electionTimeoutMax * 6,
      readTimeoutMs: profile.electionTimeoutMax * 3,
      writeShare: profile.writeShare,
    });
    for (const id of this.#ids) {
      const clock = new NodeClock(this.#clock, {
        offset: profile.offset[id - 1] ?? 0,
        drift: profile.drift[id - 1] ?? 0,
      });
      const client = this.#net.client(id);
      // A paused node hears nothing back until it resumes.
      const held = <T>(p: Promise<T>): Promise<T> =>
        new Promise<T>((resolve, reject) => {
          p.then(
            (r) => clock.whenRunning(() => resolve(r)),
            (e) => clock.whenRunning(() => reject(e)),
          );
        });
      const network: RaftNetwork = {
        send: (to, node, req, opts) => {
          this.#activity++;
          return held(client.send(to, node, req, opts));
        },
        installSnapshot: (to, node, req, data, opts) => {
          this.#activity++;
          return held(client.installSnapshot(to, node, req, data, opts));
        },
      };
      this.#slots.set(id, {
        id,
        clock,
        network,
        life: -1,
        status: "down",
        raft: null,
        store: new SimLogStore({
          node: id,
          clock,
          random: new SeededRandom(this.#nodeSeeds.nextUint32()),
          fsyncMaxMs: profile.fsyncMaxMs,
          fault: options.storeFault ?? "none",
          observer: this.#observer,
        }),
        sm: new MemoryStateMachine({ recordApplyLog: true }),
        unsubscribe: null,
        lastRole: "",
      });
    }
  }

  /** Runs the simulation: the fault phase, the liveness phase, the history check. */
  async run(): Promise<SimResult> {
    if (this.#ran) throw new Error("a Simulator runs once");
    this.#ran = true;
    const barrier = new MacrotaskBarrier();
    this.#barrier = barrier;
    const onError = (e: Event): void => {
      e.preventDefault();
      const reason = "reason" in e ? (e as PromiseRejectionEvent).reason : (e as ErrorEvent).error;
      this.#checker.fail("exception", `uncaught: ${_describe(reason)}`);
    };
    const g = globalThis as unknown as {
      addEventListener?: (t: string, f: (e: Event) => void) => void;
      removeEventListener?: (t: string, f: (e: Event) => void) => void;
    };
    g.addEventListener?.("error", onError);
    g.addEventListener?.("unhandledrejection", onError);
    try {
      await this.#setUp();
      const steps = this.#opts.steps ?? 3000;
      while (this.#step < steps && !this.#stopped()) await this.#stepOnce();
      if (!this.#stopped() && (this.#opts.liveness ?? true)) await this.#livenessPhase();
      this.#phase = "done";
      await this.#tearDown();
      if (!this.#stopped()) this.#checkHistory();
    } catch (e) {
      this.#checker.fail("exception", `the simulation threw: ${_describe(e)}`);
      this.#noteViolation();
    } finally {
      barrier.close();
      g.removeEventListener?.("error", onError);
      g.removeEventListener?.("unhandledrejection", onError);
    }
    this.#noteViolation();
    return {
      seed: this.seed,
      ok: this.#violation === null,
      violation: this.#violation,
      steps: this.#step,
      virtualMs: this.#clock.now(),
      traceHash: this.#hash.digest(),
      operations: this.#workload.stats(),
      linearizability: this.#linearizability,
      committed: this.#checker.committedLength,
      profile: this.profile,
    };
  }

  #linearizability: SimResult["linearizability"] = "skipped";

  // ---- set-up and tear-down -------------------------------------------------------

  async #setUp(): Promise<void> {
    const p = this.profile;
    this.#event(
      `cluster: ${p.nodes} nodes, voters 1..${p.initialVoters}, election ` +
        `${p.electionTimeoutMin}-${p.electionTimeoutMax} ms, heartbeat ${p.heartbeatInterval} ms`,
    );
    for (const slot of this.#slots.values()) this.#start(slot);
    await this.#barrier!.drain();
    const first = this.#slots.get(1)!;
    if (first.raft === null) throw new Error("node 1 did not start");
    this.#initialize(first.raft);
    this.#scheduleFault();
    this.#workload.start();
  }

  async #tearDown(): Promise<void> {
    const done: Promise<void>[] = [];
    for (const s of this.#slots.values()) {
      s.clock.resume();
      s.unsubscribe?.();
      s.unsubscribe = null;
      if (s.raft !== null) done.push(s.raft.shutdown().catch(() => {}));
      s.raft = null;
      s.status = "down";
      // Interrupt writes waiting for a sync, so that shutdowns finish without time passing.
      s.store = s.store.crash(true);
    }
    await this.#barrier!.drain();
    await Promise.all(done);
  }

  /**
   * Initializes the cluster on node 1, as an operator would: `initialize`
   * resolves once the first membership is durable; if node 1 crashes before
   * (the call rejects), it is called again once node 1 restarts. A call that
   * finds the node initialized (the entry became durable just before the
   * crash) has done its work.
   */
  #initialize(raft: Raft<Uint8Array | null>): void {
    const voters = this.#ids.slice(0, this.profile.initialVoters);
    raft.initialize(voters).then(
      () => this.#event(`initialized [${voters.join(", ")}]`),
      (e) => {
        if (e instanceof AlreadyInitialized) {
          this.#event("initialize: n1 was initialized before it crashed");
        } else if (e instanceof ShuttingDown || e instanceof StorageError) {
          this.#event(`initialize failed (${e.code}): called again once n1 restarts`);
          this.#initializeAgain = true;
        } else {
          this.#checker.fail("initialize", _describe(e));
        }
      },
    );
  }

  // ---- nodes ----------------------------------------------------------------------

  #start(slot: _Slot): void {
    slot.status = "starting";
    const life = ++slot.life;
    Raft.create<Uint8Array | null>({
      id: slot.id,
      config: this.#config,
      logStore: slot.store,
      stateMachine: slot.sm,
      network: slot.network,
      clock: slot.clock,
      random: new SeededRandom(this.#nodeSeeds.nextUint32()),
    }).then((raft) => {
      if (slot.life !== life || slot.status !== "starting") {
        void raft.shutdown().catch(() => {});
        return;
      }
      slot.raft = raft;
      slot.status = "up";
      this.#checker.started(slot.id, life, raft.metrics.current);
      this.#observe(slot, raft.metrics.current);
      slot.unsubscribe = raft.metrics.subscribe((m) => {
        this.#activity++;
        this.#checker.metrics(slot.id, life, m);
        this.#observe(slot, m);
      });
      this.#net.register(slot.id, (_from, req, data) => this.#deliver(slot, life, raft, req, data));
      if (life > 0) this.#event(`n${slot.id} restarted (term ${raft.metrics.current.currentTerm})`);
      if (slot.id === 1 && this.#initializeAgain) {
        this.#initializeAgain = false;
        this.#initialize(raft);
      }
    }, (e) => this.#checker.fail("restart", `node ${slot.id} could not start: ${_describe(e)}`));
  }

  #deliver(
    slot: _Slot,
    life: number,
    raft: Raft<Uint8Array | null>,
    req: RaftRequest,
    data: Uint8Array | undefined,
  ): Promise<RaftResponse> {
    return new Promise((resolve, reject) => {
      slot.clock.whenRunning(() => {
        if (slot.life !== life || slot.status !== "up") {
          reject(new Error(`node ${slot.id} is down`));
          return;
        }
        this.#activity++;
        if (this.#opts.detail) this.#detail(`n${slot.id} <- ${_fmtRequest(req)}`);
        const store = slot.store;
        const note = this.#checker.received(store, req);
        raft.handle(req, data).then((res) => {
          if (this.#opts.detail) this.#detail(`n${slot.id} -> ${_fmtResponse(res)}`);
          if (slot.life === life) this.#checker.answered(slot.id, store, req, res, note);
          resolve(res);
        }, reject);
      });
    });
  }

  #observe(slot: _Slot, m: RaftMetrics): void {
    const role = `${m.state} t${m.currentTerm}`;
    if (role === slot.lastRole) return;
    slot.lastRole = role;
    this.#event(`n${slot.id} ${role}`);
  }

  #crash(slot: _Slot): void {
    if (slot.status !== "up" || slot.raft === null) return;
    const raft = slot.raft;
    const keep = this.#faults.next() < 0.5;
    this.#event(`crash n${slot.id}${keep ? " (unsynced writes survive)" : ""}`);
    slot.clock.resume();
    slot.unsubscribe?.();
    slot.unsubscribe = null;
    this.#net.unregister(slot.id);
    slot.raft = null;
    slot.status = "down";
    slot.lastRole = "down";
    void raft.shutdown().catch(() => {});
    slot.store = slot.store.crash(keep);
    slot.sm = slot.sm.crash();
    this.#checker.crashed(slot.id);
  }

  #leader(): _Slot | null {
    let best: _Slot | null = null;
    for (const s of this.#slots.values()) {
      if (s.status !== "up" || s.raft === null || s.clock.paused) continue;
      const m = s.raft.metrics.current;
      if (m.state !== "leader") continue;
      if (best === null || m.currentTerm > best.raft!.metrics.current.currentTerm) best = s;
    }
    return best;
  }

  // ---- steps ----------------------------------------------------------------------

  #stopped(): boolean {
    this.#noteViolation();
    return this.#violation !== null;
  }

  async #stepOnce(): Promise<void> {
    this.#step++;
    const now = this.#clock.now();
    if (now !== this.#stillAt) {
      this.#stillAt = now;
      this.#stillSteps = 0;
    } else if (++this.#stillSteps === 10_000) {
      this.#checker.fail(
        "livelock",
        `10000 steps at t=${now} ms without time passing: timers keep firing at once ` +
          `(a deadline that is due but that the node does not act on?)`,
      );
    }
    try {
      if (!this.#clock.runNext()) this.#clock.advance(this.profile.heartbeatInterval);
    } catch (e) {
      this.#checker.fail("exception", `a timer callback threw: ${_describe(e)}`);
    }
    await this.#barrier!.drain();
    if (this.#opts.paranoidDrain) {
      const before = this.#activity;
      await this.#barrier!.drain();
      if (this.#activity !== before) {
        this.#checker.fail(
          "drain",
          `work continued after the barrier (${this.#activity - before} events)`,
        );
      }
    }
    this.#checker.checkStep(await this.#views());
    this.#digest();
  }

  async #views(): Promise<NodeView[]> {
    const out: NodeView[] = [];
    for (const s of this.#slots.values()) {
      const up = s.status === "up" && s.raft !== null;
      // A crashed node's state machine is the one it restarts with: its snapshot is durable.
      const snapshot = await s.sm.currentSnapshot();
      out.push({
        id: s.id,
        life: s.life,
        up,
        store: s.store,
        metrics: up ? s.raft!.metrics.current : null,
        sm: up ? s.sm : null,
        snapshotIndex: snapshot?.meta.lastLogId?.index ?? 0,
      });
    }
    return out;
  }

  #digest(): void {
    let d = `${this.#clock.now()}|`;
    for (const s of this.#slots.values()) {
      if (s.raft === null) {
        d += `${s.id}${s.status[0]};`;
        continue;
      }
      const m = s.raft.metrics.current;
      d += `${s.id}${m.state[0]}${m.currentTerm}.${m.lastLogIndex}.${_fmtId(m.committed)}.` +
        `${m.lastApplied?.index ?? 0}${s.clock.paused ? "p" : ""};`;
    }
    this.#hash.update(d);
  }

  #event(e: string): void {
    const line = `${this.#clock.now().toFixed(3)} ${e}`;
    this.#hash.update(line);
    this.#trace.push(line);
    const max = this.#opts.traceSize ?? 30;
    if (this.#trace.length > max) this.#trace.splice(0, this.#trace.length - max);
    this.#opts.onEvent?.(line);
  }

  #detail(e: string): void {
    const line = `${this.#clock.now().toFixed(3)}   ${e}`;
    this.#trace.push(line);
    const max = this.#opts.traceSize ?? 30;
    if (this.#trace.length > max) this.#trace.splice(0, this.#trace.length - max);
    this.#opts.onEvent?.(line);
  }

  #noteViolation(): void {
    if (this.#violation !== null) return;
    const v = this.#checker.violation;
    if (v === null) return;
    this.#violation = {
      seed: this.seed,
      step: this.#step,
      time: this.#clock.now(),
      phase: this.#phase,
      invariant: v.invariant,
      message: v.message,
      trace: this.#trace.slice(),
    };
  }

  // ---- faults ---------------------------------------------------------------------

  #scheduleFault(): void {
    const delay = this.#faults.next() * 2 * this.profile.faultEveryMs;
    this.#clock.setTimer(delay, () => {
      if (this.#phase !== "faults") return;
      this.#injectFault();
      this.#scheduleFault();
    });
  }

  #later(range: readonly [number, number], fn: () => void): void {
    const [lo, hi] = range;
    this.#clock.setTimer(lo + this.#faults.next() * (hi - lo), () => {
      if (this.#phase === "faults") fn();
    });
  }

  #pickKind(): FaultKind | null {
    const w = this.profile.faultWeights;
    const without = this.#opts.without ?? [];
    const weight = (k: FaultKind): number => without.includes(k) ? 0 : w[k] ?? 0;
    let total = 0;
    for (const k of FAULT_KINDS) total += weight(k);
    if (total <= 0) return null;
    let x = this.#faults.next() * total;
    for (const k of FAULT_KINDS) {
      x -= weight(k);
      if (x < 0) return k;
    }
    return null;
  }

  #anyId(): NodeId {
    return this.#ids[this.#faults.int(0, this.#ids.length)]!;
  }

  #injectFault(): void {
    const kind = this.#pickKind();
    if (kind === null) return;
    const r = this.#faults, p = this.profile, net = this.#net;
    switch (kind) {
      case "partition": {
        const ids = this.#ids.slice();
        for (let i = ids.length - 1; i > 0; i--) {
          const j = r.int(0, i + 1);
          [ids[i], ids[j]] = [ids[j]!, ids[i]!];
        }
        const cut = r.int(1, ids.length);
        const a = ids.slice(0, cut), b = ids.slice(cut);
        net.partition(a, b);
        this.#event(`partition [${a.join(",")}] | [${b.join(",")}]`);
        this.#later(p.partitionMs, () => {
          for (const x of a) {
            for (const y of b) {
              net.uncut(x, y);
              net.uncut(y, x);
            }
          }
          this.#event(`end partition [${a.join(",")}] | [${b.join(",")}]`);
        });
        return;
      }
      case "cut": {
        const from = this.#anyId();
        let to = this.#anyId();
        if (to === from) to = (from % this.#ids.length) + 1;
        net.cut(from, to);
        this.#event(`cut ${from}->${to}`);
        this.#later(p.partitionMs, () => {
          net.uncut(from, to);
          this.#event(`uncut ${from}->${to}`);
        });
        return;
      }
      case "isolate": {
        const id = this.#anyId();
        net.isolate(id);
        this.#event(`isolate n${id}`);
        this.#later(p.partitionMs, () => {
          net.rejoin(id);
          this.#event(`rejoin n${id}`);
        });
        return;
      }
      case "crash": {
        const slot = this.#slots.get(this.#anyId())!;
        if (slot.status !== "up") return;
        this.#crash(slot);
        this.#later(p.downMs, () => this.#restart(slot));
        return;
      }
      case "pause": {
        const slot = this.#slots.get(this.#anyId())!;
        if (slot.status !== "up" || slot.clock.paused) return;
        slot.clock.pause();
        const life = slot.life;
        this.#event(`pause n${slot.id}`);
        this.#later(p.pauseMs, () => {
          if (slot.life !== life || !slot.clock.paused) return;
          slot.clock.resume();
          this.#event(`resume n${slot.id}`);
        });
        return;
      }
      case "network": {
        net.dropRate = r.next() < 0.3 ? 0 : r.next() * 0.2;
        net.duplicateRate = r.next() < 0.4 ? 0 : r.next() * 0.1;
        const min = r.next() * p.delay.min * 2;
        net.delay = { min, max: min + r.next() * p.electionTimeoutMin / 2 };
        this.#event(
          `network drop ${net.dropRate.toFixed(3)} dup ${net.duplicateRate.toFixed(3)} delay ` +
            `${net.delay.min.toFixed(2)}-${net.delay.max.toFixed(2)}`,
        );
        return;
      }
      case "membership":
        this.#changeMembership();
        return;
      case "transfer": {
        const leader = this.#leader();
        if (leader === null) return;
        const voters = leader.raft!.metrics.current.membership.membership.configs.flat()
          .filter((id) => id !== leader.id);
        if (voters.length === 0) return;
        const to = voters[r.int(0, voters.length)]!;
        this.#event(`transfer n${leader.id} -> n${to}`);
        leader.raft!.trigger.transferLeader(to).catch((e) =>
          this.#event(`transfer to n${to}: ${_describe(e)}`)
        );
        return;
      }
      case "elect": {
        const slot = this.#slots.get(this.#anyId())!;
        if (slot.status !== "up" || slot.raft === null || slot.clock.paused) return;
        this.#event(`elect n${slot.id}`);
        slot.raft.trigger.elect().catch(() => {});
        return;
      }
      case "snapshot": {
        const slot = this.#slots.get(this.#anyId())!;
        if (slot.status !== "up" || slot.raft === null || slot.clock.paused) return;
        this.#event(`snapshot n${slot.id}`);
        slot.raft.trigger.snapshot().then(
          (meta) => this.#event(`snapshot n${slot.id}: ${_fmtId(meta.lastLogId)}`),
          (e) => this.#event(`snapshot n${slot.id}: ${_describe(e)}`),
        );
        return;
      }
      case "hostile": {
        const slot = this.#slots.get(this.#anyId())!;
        if (slot.status !== "up" || slot.raft === null || slot.clock.paused) return;
        const m = slot.raft.metrics.current;
        // Only a node whose first membership is committed for good (a blank node, or one
        // whose membership may still be truncated, rightly takes any cluster's requests).
        if ((m.committed?.index ?? 0) < 1 || m.membership.membership.configs.length === 0) return;
        const h = hostileRequest(r, m);
        this.#event(`hostile -> n${slot.id}: ${h.describe}`);
        const judge = (answer: Parameters<typeof judgeHostileAnswer>[1]): void => {
          const wrong = judgeHostileAnswer(h, answer);
          if (wrong !== null) this.#checker.fail("hostile peer", `n${slot.id}: ${wrong}`);
        };
        slot.raft.handle(h.request, h.data).then(
          (response) => judge({ response }),
          (error) => judge({ error }),
        );
        return;
      }
      case "intruder": {
        if (this.#intruder !== null) {
          const intruder = this.#intruder;
          this.#intruder = null;
          this.#stopIntruder(intruder);
          return;
        }
        const id = 90 + (this.#intruders++ % 9);
        // Members only: a blank node rightly joins whichever cluster adds it first (and
        // would then refuse this one for good), so the simulation spares the blank ones.
        const targets = this.#ids.filter((id) => {
          const m = this.#slots.get(id)!.raft?.metrics.current;
          return r.next() < 0.5 && m !== undefined && (m.committed?.index ?? 0) >= 1;
        });
        if (targets.length === 0) return;
        const clock = new NodeClock(this.#clock, {});
        this.#event(`intruder n${id} (another cluster's data) adds [${targets.join(", ")}]`);
        const seed = this.#nodeSeeds.nextUint32();
        void SimIntruder.start(id, targets, this.#net.client(id), clock, seed).then((intruder) => {
          if (this.#phase !== "faults" || this.#intruder !== null) {
            void intruder.stop();
            return;
          }
          this.#intruder = intruder;
          this.#net.register(id, (_from, req, data) => intruder.raft.handle(req, data));
        }, (e) => this.#checker.fail("intruder", `could not start: ${_describe(e)}`));
        return;
      }
      case "purge": {
        const slot = this.#slots.get(this.#anyId())!;
        if (slot.status !== "up" || slot.raft === null || slot.clock.paused) return;
        const m = slot.raft.metrics.current;
        const top = Math.max(m.snapshot?.index ?? 0, m.lastApplied?.index ?? 0);
        if (top === 0) return;
        const at = r.int(Math.max(1, top - 20), top + 3);
        this.#event(`purge n${slot.id} up to ${at}`);
        slot.raft.trigger.purgeLog(at).then(
          (id) => this.#event(`purge n${slot.id}: ${_fmtId(id)}`),
          (e) => this.#event(`purge n${slot.id}: ${_describe(e)}`),
        );
        return;
      }
    }
  }

  #restart(slot: _Slot): void {
    if (slot.status !== "down") return;
    this.#start(slot);
  }

  #changeMembership(): void {
    const leader = this.#leader();
    if (leader === null) return;
    const raft = leader.raft!;
    const m = raft.metrics.current.membership.membership;
    if (m.configs.length !== 1) return;
    const r = this.#faults;
    const voters = m.configs[0]!;
    const learners = [...m.nodes.keys()].filter((id) => !voters.includes(id));
    const outsiders = this.#ids.filter((id) => !m.nodes.has(id));
    const choices: (() => void)[] = [];
    const run = (what: string, p: Promise<unknown>): void => {
      this.#event(`membership ${what} via n${leader.id}`);
      p.then(
        () => this.#event(`membership ${what}: done`),
        (e) => this.#event(`membership ${what}: ${_describe(e)}`),
      );
    };
    const pick = <T>(xs: readonly T[]): T => xs[r.int(0, xs.length)]!;
    if (outsiders.length > 0) {
      choices.push(() => {
        const id = pick(outsiders);
        run(`add learner n${id}`, raft.addLearner(id, { addr: "" }, { blocking: false }));
      });
    }
    if (learners.length > 0) {
      choices.push(() => {
        const id = pick(learners);
        const change: ChangeMembers = { type: "add-voter-ids", ids: [id] };
        run(`promote n${id}`, raft.changeMembership(change));
      });
      choices.push(() => {
        const id = pick(learners);
        run(`remove learner n${id}`, raft.changeMembership({ type: "remove-nodes", ids: [id] }));
      });
    }
    if (voters.length > 1) {
      choices.push(() => {
        const id = pick(voters);
        const retain = r.next() < 0.5;
        run(
          `remove voter n${id}${retain ? " (retain)" : ""}`,
          raft.changeMembership({ type: "remove-voters", ids: [id] }, { retain }),
        );
      });
    }
    const members = [...m.nodes.keys()];
    if (members.length > 1) {
      choices.push(() => {
        const ids = members.filter(() => r.next() < 0.6);
        if (ids.length === 0) ids.push(pick(members));
        ids.sort((a, b) => a - b);
        const retain = r.next() < 0.5;
        run(
          `replace voters with [${ids.join(",")}]${retain ? " (retain)" : ""}`,
          raft.changeMembership({ type: "replace-all-voters", ids }, { retain }),
        );
      });
    }
    if (choices.length > 0) pick(choices)();
  }

  /** Stops an intruder: none of the nodes it tried to add may have taken its entries. */
  #stopIntruder(intruder: SimIntruder): void {
    const id = intruder.raft.id;
    const took = intruder.acceptedBy();
    if (took !== null) {
      this.#checker.fail("cluster identity", `n${took} took entries of intruder n${id}'s cluster`);
    }
    this.#event(`intruder n${id} stops`);
    this.#net.unregister(id);
    void intruder.stop();
  }

  // ---- liveness -------------------------------------------------------------------

  async #livenessPhase(): Promise<void> {
    this.#phase = "liveness";
    this.#workload.stop();
    const p = this.profile, net = this.#net;
    net.heal();
    net.dropRate = 0;
    net.duplicateRate = 0;
    net.delay = { min: 0.1, max: Math.max(0.2, Math.min(2, p.delay.max)) };
    this.#event("liveness: faults stop, network healed");
    if (this.#intruder !== null) {
      this.#stopIntruder(this.#intruder);
      this.#intruder = null;
    }
    for (const s of this.#slots.values()) {
      if (s.clock.paused) {
        s.clock.resume();
        this.#event(`resume n${s.id}`);
      }
      if (s.status === "down") this.#start(s);
    }
    const budget = 40 * p.electionTimeoutMax + 2000;
    if (!await this.#until(() => this.#converged(), budget, "elect a leader and converge")) return;
    this.#event("liveness: converged; final operations");
    this.#workload.startFinal();
    if (!await this.#until(() => this.#workload.finalDone, budget, "serve every key")) return;
    if (!await this.#until(() => this.#converged(), budget, "converge after the final writes")) {
      return;
    }
    this.#compareStateMachines();
    // With a stable leader, no client call may stay pending: a write is answered, or
    // settled when its node lost leadership (or stopped); a read has its timeout.
    const settle = 3 * p.electionTimeoutMax + this.#workload.readTimeoutMs;
    await this.#until(
      () => this.#workload.stats().pending === 0,
      settle,
      "settle every client call",
    );
  }

  async #until(done: () => boolean, budget: number, what: string): Promise<boolean> {
    const deadline = this.#clock.now() + budget;
    let steps = 0;
    while (!done()) {
      if (this.#stopped()) return false;
      if (this.#clock.now() > deadline || steps > 500_000) {
        this.#checker.fail(
          "liveness",
          `could not ${what} within ${budget.toFixed(0)} ms after faults stopped: ` +
            this.#summary() + this.#workload.pendingSummary(),
        );
        this.#noteViolation();
        return false;
      }
      await this.#stepOnce();
      steps++;
    }
    return !this.#stopped();
  }

  #summary(): string {
    const parts: string[] = [];
    for (const s of this.#slots.values()) {
      if (s.raft === null) {
        parts.push(`n${s.id} ${s.status}`);
        continue;
      }
      const m = s.raft.metrics.current;
      const voters = m.membership.membership.configs.map((c) => `[${c.join(",")}]`).join("+");
      parts.push(
        `n${s.id} ${m.state} t${m.currentTerm} leader ${m.currentLeader ?? "-"} last ` +
          `${_fmtId(m.lastLogId)} commit ${_fmtId(m.committed)} applied ${
            _fmtId(m.lastApplied)
          } voters ${voters}`,
      );
    }
    return parts.join("; ");
  }

  /** One leader; every member of its (non-joint) membership follows it with its whole log applied. */
  #converged(): boolean {
    const leader = this.#leader();
    if (leader === null) return false;
    const L = leader.raft!.metrics.current;
    const mem = L.membership.membership;
    if (mem.configs.length !== 1) return false;
    if (!_sameId(L.committed, L.lastLogId) || !_sameId(L.lastApplied, L.lastLogId)) return false;
    for (const id of mem.nodes.keys()) {
      const s = this.#slots.get(id);
      if (s === undefined || s.status !== "up" || s.raft === null || s.clock.paused) return false;
      const m = s.raft.metrics.current;
      if (m.currentTerm !== L.currentTerm || m.currentLeader !== leader.id) return false;
      if (!_sameId(m.lastLogId, L.lastLogId) || !_sameId(m.committed, L.lastLogId)) return false;
      if (!_sameId(m.lastApplied, L.lastLogId)) return false;
    }
    return true;
  }

  #compareStateMachines(): void {
    const leader = this.#leader();
    if (leader === null) return;
    const want = JSON.stringify(leader.sm.pairs().map(([k, v]) => [k, [...v]]));
    for (const id of leader.raft!.metrics.current.membership.membership.nodes.keys()) {
      const s = this.#slots.get(id)!;
      const got = JSON.stringify(s.sm.pairs().map(([k, v]) => [k, [...v]]));
      if (got !== want) {
        this.#checker.fail(
          "state machine convergence",
          `node ${id}'s state differs from leader ${leader.id}'s after convergence`,
        );
        return;
      }
    }
  }

  // ---- history --------------------------------------------------------------------

  #checkHistory(): void {
    if (!(this.#opts.checkLinearizability ?? true)) return;
    const result = checkLinearizable(this.#workload.history(), swapRegisterModel, {
      timeLimitMs: this.#opts.linearizabilityTimeLimitMs ?? 5000,
    });
    this.#linearizability = result.result;
    if (result.result === "violation") {
      this.#checker.fail("linearizability", result.message);
    }
  }
}

function _fmtRequest(r: RaftRequest): string {
  switch (r.type) {
    case "append": {
      const a = r.entries[0], b = r.entries[r.entries.length - 1];
      const range = a === undefined || b === undefined ? "[]" : `[${_fmtId(a)}..${_fmtId(b)}]`;
      return `append t${r.term} from n${r.leaderId} prev ${_fmtId(r.prevLogId)} ${range} ` +
        `commit ${r.leaderCommit} round ${r.round}`;
    }
    case "vote":
    case "pre-vote":
      return `${r.type} t${r.term} from n${r.candidateId} last ${_fmtId(r.lastLogId)}` +
        (r.transfer ? " (transfer)" : "");
    case "timeout-now":
      return `timeout-now t${r.term} from n${r.leaderId}`;
    case "install-snapshot":
      return `install-snapshot t${r.term} from n${r.leaderId} ${_fmtId(r.meta.lastLogId)}`;
    case "read-index":
      return `read-index t${r.term} from n${r.readerId}`;
  }
}

function _fmtResponse(r: RaftResponse): string {
  switch (r.type) {
    case "append-response":
      return `append-response t${r.term} ${r.success ? "ok" : "refused"} ${r.index}` +
        (r.success ? "" : ` hint ${r.hintTerm}/${r.hintIndex}`) + ` round ${r.round}`;
    case "vote-response":
    case "pre-vote-response":
      return `${r.type} t${r.term} ${r.granted ? "granted" : "refused"}`;
    case "timeout-now-response":
      return `timeout-now-response t${r.term} ${r.accepted ? "accepted" : "refused"}`;
    case "install-snapshot-response":
      return `install-snapshot-response t${r.term} ${_fmtId(r.lastLogId)}`;
    case "read-index-response":
      return `read-index-response t${r.term} ` +
        (r.index === null ? `refused (leader ${r.leaderId ?? "?"})` : `index ${r.index}`);
  }
}

function _describe(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/**
 * Runs one seed: `new Simulator(options).run()`.
 *
 * @example
 * ```ts
 * import { simulate } from "./simulator.ts";
 * const r = await simulate({ seed: 11, steps: 200 });
 * console.assert(r.seed === 11);
 * ```
 */
export function simulate(options: SimOptions): Promise<SimResult> {
  return new Simulator(options).run();
}
