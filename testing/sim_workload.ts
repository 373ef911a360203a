/**
 * The client workload of a simulation: {@linkcode SimWorkload} runs clients
 * that write and read registers (keys of a {@linkcode MemoryStateMachine})
 * through whichever node they believe leads, and records every operation
 * (invoke, then ok / fail / unknown) for the linearizability checker, with
 * {@linkcode swapRegisterModel} as the sequential specification.
 *
 * Outcomes, from what the runtime guarantees:
 * - a write that resolves took effect once; its response is the key's
 *   previous value, which the model checks too (a write is a swap);
 * - a write rejected with `ForwardToLeader` did not happen: the runtime
 *   rejects with it only before proposing, or when another entry took its
 *   index (so it can never commit);
 * - any other failure of a write (shutdown, storage, a crash) is unknown:
 *   it may take effect later, or never; so is a write the client stops
 *   waiting for (it carries on as a new client, as in Jepsen);
 * - a read (`ensureLinearizable` with policy `read-index` or `lease`, then
 *   a read of the node's state machine) has no effect: a failed read is
 *   dropped. A `follower` read goes to any live node (not the client's
 *   guess of the leader) and reads that node's state machine: a follower
 *   read, checked like the others.
 *
 * @module
 */

import { kvCas, kvSet, type MemoryStateMachine } from "../kv/mod.ts";
import { ForwardToLeader } from "../src/errors.ts";
import type { Random } from "../src/random.ts";
import type { Raft, ReadPolicy } from "../src/runtime/raft.ts";
import type { NodeId } from "../src/types.ts";
import { HistoryRecorder, type Model, type Operation } from "./linearizability.ts";

/**
 * An operation on one register: a write (whose output is the previous
 * value) or a read with a read policy.
 *
 * @example
 * ```ts
 * import type { SimOp } from "./sim_workload.ts";
 * const ops: SimOp[] = [{ type: "write", value: "a" }, { type: "read", policy: "lease" }];
 * ```
 */
export type SimOp =
  | { readonly type: "write"; readonly value: string }
  | { readonly type: "cas"; readonly from: string | null; readonly to: string }
  | { readonly type: "read"; readonly policy: ReadPolicy };

/**
 * A register whose writes return the value they replace (the
 * {@linkcode MemoryStateMachine}'s `set`): a read must return the current
 * value, a write the previous one; a compare-and-set returns the value it
 * found and swaps only when that was `from`; an output of `undefined`
 * (unknown outcome) is accepted.
 *
 * @example
 * ```ts
 * import { swapRegisterModel } from "./sim_workload.ts";
 * const s1 = swapRegisterModel.step(null, { type: "write", value: "a" }, null);
 * console.assert(s1.ok && s1.state === "a");
 * console.assert(!swapRegisterModel.step("a", { type: "write", value: "b" }, null).ok);
 * console.assert(swapRegisterModel.step("a", { type: "read", policy: "lease" }, "a").ok);
 * ```
 */
export const swapRegisterModel: Model<string | null, SimOp, string | null> = {
  init: (): string | null => null,
  step: (state: string | null, input: SimOp, output: string | null | undefined) => ({
    ok: output === undefined || output === state,
    state: input.type === "write"
      ? input.value
      : input.type === "cas" && state === input.from
      ? input.to
      : state,
  }),
  key: (state: string | null): string => state === null ? "" : "=" + state,
};

/**
 * A node as clients see it.
 *
 * @example
 * ```ts
 * import type { WorkloadNode } from "./sim_workload.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { MemoryNetwork } from "./memory_network.ts";
 * const sm = new MemoryStateMachine();
 * const raft = await Raft.create({
 *   id: 1,
 *   logStore: new MemoryLogStore(),
 *   stateMachine: sm,
 *   network: new MemoryNetwork().client(1),
 * });
 * const node: WorkloadNode = { raft, sm };
 * await node.raft.shutdown();
 * ```
 */
export interface WorkloadNode {
  /** The running node. */
  readonly raft: Raft<Uint8Array | null>;
  /** Its state machine (reads come from it). */
  readonly sm: MemoryStateMachine;
}

/**
 * What the workload needs from the simulator.
 *
 * @example
 * ```ts
 * import type { WorkloadHost } from "./sim_workload.ts";
 * import { SeededRandom } from "../src/random.ts";
 * const host: WorkloadHost = {
 *   ids: [1, 2, 3],
 *   node: () => null, // no node runs: every operation waits for one
 *   leader: () => null,
 *   setTimer: () => {},
 *   random: new SeededRandom(1),
 *   trace: () => {},
 * };
 * ```
 */
export interface WorkloadHost {
  /** Every node id. */
  readonly ids: readonly NodeId[];
  /** The node, if it runs and is not paused. */
  node(id: NodeId): WorkloadNode | null;
  /** A node that reports itself leader, or `null`. */
  leader(): NodeId | null;
  /** Schedules `fn` after `ms` of virtual time. */
  setTimer(ms: number, fn: () => void): void;
  /** The workload's randomness. */
  readonly random: Random;
  /** Records an event in the simulation trace. */
  trace(event: string): void;
}

/**
 * Shape of a workload.
 *
 * @example
 * ```ts
 * import type { WorkloadOptions } from "./sim_workload.ts";
 * const options: WorkloadOptions = {
 *   clients: 3, keys: 2, thinkMs: 20, giveUpMs: 2000, readTimeoutMs: 1000, writeShare: 0.5,
 * };
 * ```
 */
export interface WorkloadOptions {
  /** Concurrent clients. */
  readonly clients: number;
  /** Registers (keys `k0`, `k1`, …). */
  readonly keys: number;
  /** Longest pause between a client's operations, ms (drawn uniformly from [0, thinkMs]). */
  readonly thinkMs: number;
  /** A client stops waiting for an answer after this long, ms. */
  readonly giveUpMs: number;
  /** `ensureLinearizable` timeout, ms. */
  readonly readTimeoutMs: number;
  /** Fraction of operations that are writes. */
  readonly writeShare: number;
}

/**
 * Counts of recorded operations.
 *
 * @example
 * ```ts
 * import type { WorkloadStats } from "./sim_workload.ts";
 * const s: WorkloadStats = { ok: 10, fail: 2, unknown: 1, pending: 0 };
 * ```
 */
export interface WorkloadStats {
  /** Completed. */
  readonly ok: number;
  /** Definitely not done. */
  readonly fail: number;
  /** Outcome unknown. */
  readonly unknown: number;
  /** Still waiting for an answer. */
  readonly pending: number;
}

interface _Client {
  readonly index: number;
  gen: number;
  guess: NodeId | null;
}

const _dec = new TextDecoder();

function _text(b: Uint8Array | null | undefined): string | null {
  return b == null ? null : _dec.decode(b);
}

/**
 * Clients of a simulated cluster; see the module documentation. The
 * simulator {@linkcode SimWorkload.start}s them with the faults,
 * {@linkcode SimWorkload.stop}s them when faults end, then runs
 * {@linkcode SimWorkload.startFinal}: on every key a read of each policy, a
 * write and a read that must all succeed.
 *
 * @example
 * ```ts
 * import { SimWorkload, swapRegisterModel } from "./sim_workload.ts";
 * import type { WorkloadHost } from "./sim_workload.ts";
 * import { checkLinearizable } from "./linearizability.ts";
 * import { SeededRandom } from "../src/random.ts";
 * const host: WorkloadHost = {
 *   ids: [1, 2, 3],
 *   node: () => null, // no node runs: every operation waits for one
 *   leader: () => null,
 *   setTimer: () => {},
 *   random: new SeededRandom(1),
 *   trace: () => {},
 * };
 * const workload = new SimWorkload(host, {
 *   clients: 2,
 *   keys: 1,
 *   thinkMs: 10,
 *   giveUpMs: 1000,
 *   readTimeoutMs: 500,
 *   writeShare: 0.5,
 * });
 * workload.start(); // the simulator then runs its steps (see Simulator)
 * const result = checkLinearizable(workload.history(), swapRegisterModel);
 * console.assert(result.result === "ok"); // nothing completed yet: trivially linearizable
 * ```
 */
export class SimWorkload {
  readonly #host: WorkloadHost;
  readonly #opts: WorkloadOptions;
  readonly #recorder = new HistoryRecorder<SimOp, string | null>();
  readonly #status = new Map<number, "pending" | "ok" | "fail" | "unknown">();
  #active = false;
  #seq = 0;
  /** The value last seen on each key (a heuristic for CAS's expected value). */
  readonly #seen = new Map<string, string | null>();
  #finalLeft = -1;
  /** What each operation was, for reports. */
  readonly #labels = new Map<number, string>();

  /**
   * Creates a {@linkcode SimWorkload}.
   *
   * @param host the simulator
   * @param options the shape of the workload
   */
  constructor(host: WorkloadHost, options: WorkloadOptions) {
    this.#host = host;
    this.#opts = options;
  }

  /** Starts the clients. */
  start(): void {
    this.#active = true;
    for (let i = 0; i < this.#opts.clients; i++) {
      this.#next({ index: i, gen: 0, guess: null });
    }
  }

  /** Clients issue no new operations (those under way go on). */
  stop(): void {
    this.#active = false;
  }

  /** The history so far (pending operations count as unknown). */
  history(): Operation<SimOp, string | null>[] {
    return this.#recorder.history();
  }

  /** How long a read may wait before it fails (ms). */
  get readTimeoutMs(): number {
    return this.#opts.readTimeoutMs;
  }

  /** The operations still pending, described (`""` if none). */
  pendingSummary(): string {
    const pending = [...this.#status].filter(([, s]) => s === "pending").map(([id]) => id);
    if (pending.length === 0) return "";
    const labels = pending.slice(0, 5).map((id) => this.#labels.get(id) ?? `#${id}`);
    return `; pending client calls: ${pending.length} (${labels.join(", ")})`;
  }

  /** Counts by outcome. */
  stats(): WorkloadStats {
    let ok = 0, fail = 0, unknown = 0, pending = 0;
    for (const s of this.#status.values()) {
      if (s === "ok") ok++;
      else if (s === "fail") fail++;
      else if (s === "unknown") unknown++;
      else pending++;
    }
    return { ok, fail, unknown, pending };
  }

  /**
   * Starts the final operations: on each key, a read with each policy, a
   * write, a read; each retried until it succeeds — except the lease read,
   * given up after 10 attempts (the engine may legitimately refuse leases
   * for the rest of a term, e.g. after an abandoned leadership transfer).
   */
  startFinal(): void {
    const keys = this.#opts.keys;
    this.#finalLeft = keys;
    for (let k = 0; k < keys; k++) {
      const key = `k${k}`;
      const ops: SimOp[] = [
        { type: "read", policy: "read-index" },
        { type: "read", policy: "lease" },
        { type: "write", value: `final:${k}` },
        { type: "read", policy: "read-index" },
      ];
      this.#finalStep(key, ops, 0, 0);
    }
  }

  /** Whether every final operation succeeded. */
  get finalDone(): boolean {
    return this.#finalLeft === 0;
  }

  #finalStep(key: string, ops: SimOp[], at: number, attempt: number): void {
    if (at === ops.length) {
      this.#finalLeft--;
      return;
    }
    const op = ops[at]!;
    if (attempt >= 10 && op.type === "read" && op.policy === "lease") {
      this.#host.trace(`final.${key} lease reads unavailable: skipped`);
      this.#finalStep(key, ops, at + 1, 0);
      return;
    }
    const retry = (): void =>
      this.#host.setTimer(
        Math.max(1, this.#opts.thinkMs),
        () => this.#finalStep(key, ops, at, attempt + 1),
      );
    const leader = this.#host.leader();
    const node = leader === null ? null : this.#host.node(leader);
    if (node === null || leader === null) {
      retry();
      return;
    }
    this.#run(`final.${key}.${attempt}`, leader, node, key, op, (ok) => {
      if (ok) this.#finalStep(key, ops, at + 1, 0);
      else retry();
    });
  }

  #next(c: _Client): void {
    if (!this.#active) return;
    const delay = this.#host.random.next() * this.#opts.thinkMs;
    this.#host.setTimer(delay, () => this.#issue(c));
  }

  #pick(c: _Client): NodeId | null {
    const h = this.#host;
    if (c.guess !== null && h.node(c.guess) !== null) return c.guess;
    const up = h.ids.filter((id) => h.node(id) !== null);
    if (up.length === 0) return null;
    return up[h.random.int(0, up.length)]!;
  }

  #issue(c: _Client): void {
    if (!this.#active) return;
    const h = this.#host, r = h.random;
    const target = this.#pick(c);
    const node = target === null ? null : h.node(target);
    if (target === null || node === null) {
      this.#next(c);
      return;
    }
    const key = `k${r.int(0, this.#opts.keys)}`;
    // Every third write is a compare-and-set from the value last seen on the key. Chosen by
    // the counter, not a random draw, so each seed's random stream (faults) stays the same.
    const op: SimOp = r.next() < this.#opts.writeShare
      ? (++this.#seq % 3 === 0
        ? { type: "cas", from: this.#seen.get(key) ?? null, to: `${c.index}:${this.#seq}` }
        : { type: "write", value: `${c.index}:${this.#seq}` })
      : { type: "read", policy: _readPolicy(r.next()) };
    if (op.type === "read" && op.policy === "follower") {
      // A follower read is served where it is asked: any live node, chosen by the counter
      // (no random draw), so most of them run on followers.
      const up = h.ids.filter((id) => h.node(id) !== null);
      const at = up[++this.#seq % up.length]!;
      this.#issueAt(c, at, h.node(at)!, key, op);
      return;
    }
    this.#issueAt(c, target, node, key, op);
  }

  #issueAt(c: _Client, target: NodeId, node: WorkloadNode, key: string, op: SimOp): void {
    const h = this.#host;
    let waiting = true;
    const label = `c${c.index}.${c.gen}`;
    h.setTimer(this.#opts.giveUpMs, () => {
      if (!waiting) return;
      waiting = false;
      c.gen++;
      c.guess = null;
      h.trace(`${label} gives up`);
      this.#next(c);
    });
    this.#run(label, target, node, key, op, (ok, leaderHint) => {
      // A follower read that succeeded on a follower says nothing about the leader.
      const followerRead = op.type === "read" && op.policy === "follower";
      if (leaderHint !== undefined && !(ok && followerRead)) c.guess = leaderHint;
      if (!waiting) return;
      waiting = false;
      this.#next(c);
    });
  }

  /** Runs one operation; `done(ok, leaderHint)` when its outcome is known. */
  #run(
    label: string,
    target: NodeId,
    node: WorkloadNode,
    key: string,
    op: SimOp,
    done: (ok: boolean, leaderHint?: NodeId | null) => void,
  ): void {
    const h = this.#host;
    const id = this.#recorder.invoke(label, op, key);
    this.#status.set(id, "pending");
    this.#labels.set(id, `${label} ${op.type} ${key} @${target}`);
    const what = op.type === "write"
      ? `write ${key}=${op.value}`
      : op.type === "cas"
      ? `cas ${key} ${op.from}->${op.to}`
      : `read ${key} (${op.policy})`;
    h.trace(`${label} ${what} @${target}`);
    const end = (status: "ok" | "fail" | "unknown", output?: string | null): void => {
      if (status === "ok") {
        // What the key holds now, as far as this client saw: the next CAS expects it.
        const out = output ?? null;
        const now = op.type === "read"
          ? out
          : op.type === "write"
          ? op.value
          : out === op.from
          ? op.to
          : out;
        this.#seen.set(key, now);
      }
      if (status === "ok") this.#recorder.ok(id, output ?? null);
      else if (status === "fail") this.#recorder.fail(id);
      else this.#recorder.unknown(id);
      this.#status.set(id, status);
    };
    const hint = (e: unknown): NodeId | null | undefined =>
      e instanceof ForwardToLeader ? e.leaderId : undefined;
    if (op.type !== "read") {
      const command = op.type === "write" ? kvSet(key, op.value) : kvCas(key, op.from, op.to);
      node.raft.clientWrite(command).then(
        (r) => {
          const prev = _text(r.response);
          end("ok", prev);
          h.trace(`${label} ok (was ${prev})`);
          done(true, target);
        },
        (e) => {
          const definite = e instanceof ForwardToLeader;
          end(definite ? "fail" : "unknown");
          h.trace(`${label} ${definite ? "fail" : "unknown"}: ${_code(e)}`);
          done(false, hint(e));
        },
      );
      return;
    }
    const sm = node.sm;
    node.raft.ensureLinearizable({ policy: op.policy, timeout: this.#opts.readTimeoutMs }).then(
      () => {
        const v = _text(sm.get(key));
        end("ok", v);
        h.trace(`${label} ok ${v}`);
        done(true, target);
      },
      (e) => {
        end("fail");
        h.trace(`${label} fail: ${_code(e)}`);
        done(false, hint(e));
      },
    );
  }
}

/** A read policy from a uniform draw: a third each of read-index, lease and follower. */
function _readPolicy(x: number): ReadPolicy {
  return x < 1 / 3 ? "read-index" : x < 2 / 3 ? "lease" : "follower";
}

function _code(e: unknown): string {
  if (e !== null && typeof e === "object" && "code" in e) return String(e.code);
  return e instanceof Error ? e.name : String(e);
}
