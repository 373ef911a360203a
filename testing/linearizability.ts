/**
 * A linearizability checker for client histories of replicated state
 * machines: record what clients invoked and observed with a
 * {@linkcode HistoryRecorder}, describe the sequential behaviour of the
 * service as a {@linkcode Model} (or use {@linkcode registerModel}), and ask
 * {@linkcode checkLinearizable} whether some total order of the operations
 * respects both real time and the model.
 *
 * The search is Wing & Gong's, with Lowe's memoization ("Testing for
 * linearisability", 2017), as in the Go checker porcupine: depth-first over
 * the call/return events, backtracking, never revisiting a (set of
 * linearized operations, model state) pair. Histories are split per key
 * first (linearizability is compositional), and operations whose outcome is
 * unknown (a timed-out write) may take effect at any time after their call,
 * or never. Web APIs only.
 *
 * @example
 * ```ts
 * import { checkLinearizable, HistoryRecorder, registerModel } from "./linearizability.ts";
 * import type { RegisterInput, RegisterOutput } from "./linearizability.ts";
 * const h = new HistoryRecorder<RegisterInput, RegisterOutput>();
 * const w = h.invoke("a", { type: "write", value: "x" });
 * const r = h.invoke("b", { type: "read" }); // concurrent with the write
 * h.ok(w, null);
 * h.ok(r, "x");
 * console.assert(checkLinearizable(h.history(), registerModel).result === "ok");
 * ```
 *
 * @module
 */

/**
 * Identifies the client (process, session, thread) that issued an operation.
 *
 * @example
 * ```ts
 * import type { ClientId } from "./linearizability.ts";
 * const clients: ClientId[] = [1, "worker-2"];
 * ```
 */
export type ClientId = string | number;

/**
 * How an operation ended:
 * - `"ok"`: it completed, with an output; it took effect exactly once,
 *   between its call and its return;
 * - `"fail"`: it definitely did not take effect (it is ignored);
 * - `"unknown"`: the client does not know (a timeout, a lost connection):
 *   it may take effect at any time after its call, or never.
 *
 * @example
 * ```ts
 * import type { OperationStatus } from "./linearizability.ts";
 * const timedOut: OperationStatus = "unknown";
 * ```
 */
export type OperationStatus = "ok" | "fail" | "unknown";

/**
 * An operation that completed: it took effect once, between `call` and
 * `ret`, and returned `output`.
 *
 * @example
 * ```ts
 * import type { OkOperation, RegisterInput, RegisterOutput } from "./linearizability.ts";
 * const read: OkOperation<RegisterInput, RegisterOutput> = {
 *   id: 7, client: 1, key: "x", input: { type: "read" }, output: "v", call: 10, ret: 12,
 *   status: "ok",
 * };
 * ```
 */
export interface OkOperation<I, O> {
  /** Unique in the history. */
  readonly id: number;
  /** Who issued it. */
  readonly client: ClientId;
  /** The key it touches, for partitioning (see {@linkcode CheckOptions.partitionByKey}). */
  readonly key?: string;
  /** What was asked. */
  readonly input: I;
  /** What was answered. */
  readonly output: O;
  /** Invocation time (any unit, as long as the history uses one clock). */
  readonly call: number;
  /** Completion time, ≥ `call`. */
  readonly ret: number;
  /** `"ok"`. */
  readonly status: "ok";
}

/**
 * An operation whose outcome the client does not know: it may take effect
 * at any time after `call` (even after the client gave up), or never.
 *
 * @example
 * ```ts
 * import type { RegisterInput, UnknownOperation } from "./linearizability.ts";
 * const timedOutWrite: UnknownOperation<RegisterInput> = {
 *   id: 3, client: 2, input: { type: "write", value: "v" }, call: 5, ret: null, status: "unknown",
 * };
 * ```
 */
export interface UnknownOperation<I> {
  /** Unique in the history. */
  readonly id: number;
  /** Who issued it. */
  readonly client: ClientId;
  /** The key it touches, for partitioning. */
  readonly key?: string;
  /** What was asked. */
  readonly input: I;
  /** Never known. */
  readonly output?: undefined;
  /** Invocation time. */
  readonly call: number;
  /** `null`; a number (when the client gave up) is accepted and ignored. */
  readonly ret: number | null;
  /** `"unknown"`. */
  readonly status: "unknown";
}

/**
 * An operation that definitely did not take effect; the checker ignores it.
 *
 * @example
 * ```ts
 * import type { FailedOperation, RegisterInput } from "./linearizability.ts";
 * const rejected: FailedOperation<RegisterInput> = {
 *   id: 4, client: 2, input: { type: "write", value: "v" }, call: 5, ret: 6, status: "fail",
 * };
 * ```
 */
export interface FailedOperation<I> {
  /** Unique in the history. */
  readonly id: number;
  /** Who issued it. */
  readonly client: ClientId;
  /** The key it touches. */
  readonly key?: string;
  /** What was asked. */
  readonly input: I;
  /** Ignored. */
  readonly output?: undefined;
  /** Invocation time. */
  readonly call: number;
  /** When the failure was reported, if known. */
  readonly ret: number | null;
  /** `"fail"`. */
  readonly status: "fail";
}

/**
 * One operation of a history: invoked by `client` at time `call` with
 * `input`; see {@linkcode OperationStatus} for how it ended.
 *
 * Times are compared only with each other: `a` precedes `b` in real time iff
 * `a.ret < b.call`. Equal times count as overlapping (the permissive
 * reading, which cannot report a false violation).
 *
 * @example
 * ```ts
 * import type { Operation, RegisterInput, RegisterOutput } from "./linearizability.ts";
 * const history: Operation<RegisterInput, RegisterOutput>[] = [
 *   { id: 0, client: 1, input: { type: "write", value: "a" }, output: null, call: 0, ret: 1, status: "ok" },
 *   { id: 1, client: 2, input: { type: "read" }, output: "a", call: 2, ret: 3, status: "ok" },
 * ];
 * ```
 */
export type Operation<I, O> = OkOperation<I, O> | UnknownOperation<I> | FailedOperation<I>;

/**
 * What a {@linkcode Model} answers when asked to apply an operation.
 *
 * @example
 * ```ts
 * import type { StepResult } from "./linearizability.ts";
 * const rejected: StepResult<number> = { ok: false, state: 0 };
 * ```
 */
export interface StepResult<S> {
  /** Whether the operation, applied to the state, can produce the recorded output. */
  readonly ok: boolean;
  /** The state after the operation (ignored when `ok` is `false`). */
  readonly state: S;
}

/**
 * The sequential specification of a service: an initial state and a
 * transition function. Must be deterministic and must not mutate states
 * (the search revisits them).
 *
 * `step` receives `output: undefined` for an operation whose outcome is
 * unknown: it should then accept the operation if it can take effect at
 * all, and return the state it leads to. (So a model whose real outputs
 * include `undefined` cannot tell the two apart.)
 *
 * Memoization compares states: give `key` (a string that is equal for equal
 * states, and different otherwise) for speed, or `equal`; without either,
 * states are compared with `Object.is`, which is correct but memoizes only
 * states that are the same value (e.g. primitives).
 *
 * @example
 * ```ts
 * import { checkLinearizable, type Model } from "./linearizability.ts";
 * // A counter: "inc" returns the new value.
 * const counter: Model<number, "inc", number> = {
 *   init: () => 0,
 *   step: (n, _input, output) => ({ ok: output === undefined || output === n + 1, state: n + 1 }),
 *   key: (n) => String(n),
 * };
 * const result = checkLinearizable([
 *   { id: 0, client: 1, input: "inc", output: 2, call: 0, ret: 3, status: "ok" },
 *   { id: 1, client: 2, input: "inc", output: 1, call: 1, ret: 2, status: "ok" },
 * ], counter);
 * console.assert(result.result === "ok");
 * ```
 */
export interface Model<S, I, O> {
  /** The state before any operation. */
  init(): S;
  /**
   * Applies `input` to `state`: `ok` tells whether it can return `output`
   * (`undefined`: unknown, accept any), `state` is the next state.
   */
  step(state: S, input: I, output: O | undefined): StepResult<S>;
  /** A string identifying the state, for memoization. */
  key?(state: S): string;
  /** State equality, for memoization when there is no `key`. */
  equal?(a: S, b: S): boolean;
  /**
   * An optional hint for speed: `true` only if the operation, with this
   * output (`undefined`: unknown), changes no state in which the model
   * accepts it (a read; a compare-and-set that failed). The search then
   * linearizes such a completed operation as soon as it fits, without
   * trying alternatives — which is complete, as moving it earlier changes
   * no state — and so does not multiply the states it explores by the
   * subsets of pending reads; it drops such unknown operations, which can
   * always be left out. A wrong `true` can make the checker report false
   * violations.
   */
  readOnly?(input: I, output: O | undefined): boolean;
}

/**
 * The value of a register: a string, or `null` before the first write.
 *
 * @example
 * ```ts
 * import type { RegisterValue } from "./linearizability.ts";
 * const initial: RegisterValue = null;
 * ```
 */
export type RegisterValue = string | null;

/**
 * An operation on a register (see {@linkcode registerModel}):
 * - `{ type: "write", value }`: sets the value (its output is ignored);
 * - `{ type: "read" }`: outputs the value;
 * - `{ type: "cas", from, to }`: if the value is `from`, sets it to `to` and
 *   outputs `true`; otherwise outputs `false` and changes nothing.
 *
 * @example
 * ```ts
 * import type { RegisterInput } from "./linearizability.ts";
 * const ops: RegisterInput[] = [
 *   { type: "write", value: "a" },
 *   { type: "read" },
 *   { type: "cas", from: "a", to: "b" },
 * ];
 * ```
 */
export type RegisterInput =
  | { readonly type: "write"; readonly value: RegisterValue }
  | { readonly type: "read" }
  | { readonly type: "cas"; readonly from: RegisterValue; readonly to: RegisterValue };

/**
 * The output of a register operation: the value for a read, the success of
 * a compare-and-set, anything (conventionally `null`) for a write.
 *
 * @example
 * ```ts
 * import type { RegisterOutput } from "./linearizability.ts";
 * const casSucceeded: RegisterOutput = true;
 * ```
 */
export type RegisterOutput = RegisterValue | boolean;

/**
 * A single read/write/compare-and-set register holding a string or `null`
 * (initially). Use one per key with `partitionByKey` (the default when
 * operations have keys).
 *
 * @example
 * ```ts
 * import { registerModel } from "./linearizability.ts";
 * const s0 = registerModel.init();
 * const w = registerModel.step(s0, { type: "write", value: "a" }, null);
 * console.assert(w.ok && w.state === "a");
 * console.assert(!registerModel.step(w.state, { type: "read" }, "b").ok);
 * console.assert(registerModel.step(w.state, { type: "cas", from: "a", to: "c" }, true).ok);
 * ```
 */
export const registerModel: Model<RegisterValue, RegisterInput, RegisterOutput> = {
  init: (): RegisterValue => null,
  step: (
    state: RegisterValue,
    input: RegisterInput,
    output: RegisterOutput | undefined,
  ): StepResult<RegisterValue> => {
    switch (input.type) {
      case "write":
        return { ok: true, state: input.value };
      case "read":
        return { ok: output === undefined || output === state, state };
      case "cas": {
        const matches = state === input.from;
        if (output === undefined) return { ok: true, state: matches ? input.to : state };
        if (output === true) return { ok: matches, state: input.to };
        return { ok: output === false && !matches, state };
      }
      default:
        return { ok: false, state };
    }
  },
  // "" for null, "=" + value otherwise: distinct for distinct states.
  key: (state: RegisterValue): string => state === null ? "" : "=" + state,
  equal: (a: RegisterValue, b: RegisterValue): boolean => a === b,
  readOnly: (input: RegisterInput, output: RegisterOutput | undefined): boolean =>
    input.type === "read" || (input.type === "cas" && output === false),
};

/**
 * Options of a {@linkcode HistoryRecorder}.
 *
 * @example
 * ```ts
 * import type { HistoryRecorderOptions } from "./linearizability.ts";
 * const options: HistoryRecorderOptions = { now: () => performance.now() };
 * ```
 */
export interface HistoryRecorderOptions {
  /**
   * The clock stamping invocations and completions. It must never go back,
   * and must be shared by all clients. Default: a counter (0, 1, 2, …),
   * which is exact for a single-threaded recorder (a simulation, or clients
   * of one event loop): each event gets its own instant.
   */
  readonly now?: () => number;
}

interface RecordedOperation<I, O> {
  id: number;
  client: ClientId;
  key: string | undefined;
  input: I;
  output: O | undefined;
  call: number;
  ret: number | null;
  status: OperationStatus | "pending";
}

/**
 * Records a history while clients run: call {@linkcode HistoryRecorder.invoke}
 * just before sending a request and {@linkcode HistoryRecorder.ok},
 * {@linkcode HistoryRecorder.fail} or {@linkcode HistoryRecorder.unknown}
 * as soon as its outcome is known, then check
 * {@linkcode HistoryRecorder.history}.
 *
 * @example
 * ```ts
 * import { checkLinearizable, HistoryRecorder, registerModel } from "./linearizability.ts";
 * import type { RegisterInput, RegisterOutput } from "./linearizability.ts";
 * const h = new HistoryRecorder<RegisterInput, RegisterOutput>();
 * const w = h.invoke(1, { type: "write", value: "a" }, "k");
 * h.unknown(w); // timed out: may or may not have happened
 * const r = h.invoke(2, { type: "read" }, "k");
 * h.ok(r, "a"); // it did
 * console.assert(checkLinearizable(h.history(), registerModel).result === "ok");
 * ```
 */
export class HistoryRecorder<I, O> {
  #ops: RecordedOperation<I, O>[] = [];
  #tick = 0;
  #now: () => number;

  /**
   * Creates a {@linkcode HistoryRecorder}.
   *
   * @param options the clock; default a counter
   */
  constructor(options?: HistoryRecorderOptions);
  constructor(options: HistoryRecorderOptions = {}) {
    this.#now = options.now ?? ((): number => this.#tick++);
  }

  /** Number of operations recorded so far. */
  get size(): number {
    return this.#ops.length;
  }

  /**
   * Records the invocation of an operation and returns its id (0, 1, 2, …),
   * to pass to `ok`, `fail` or `unknown`.
   */
  invoke(client: ClientId, input: I, key?: string): number {
    const id = this.#ops.length;
    this.#ops.push({
      id,
      client,
      key,
      input,
      output: undefined,
      call: this.#now(),
      ret: null,
      status: "pending",
    });
    return id;
  }

  /**
   * Records that operation `id` completed with `output`.
   * @throws {Error} if `id` is not a pending operation
   */
  ok(id: number, output: O): void {
    const op = this.#pending(id);
    op.ret = this.#now();
    op.output = output;
    op.status = "ok";
  }

  /**
   * Records that operation `id` definitely did not take effect.
   * @throws {Error} if `id` is not a pending operation
   */
  fail(id: number): void {
    const op = this.#pending(id);
    op.ret = this.#now();
    op.status = "fail";
  }

  /**
   * Records that the outcome of operation `id` is unknown (it may take effect
   * later, or never).
   * @throws {Error} if `id` is not a pending operation
   */
  unknown(id: number): void {
    this.#pending(id).status = "unknown";
  }

  /**
   * The history so far, as new objects; operations still pending count as
   * `"unknown"`.
   */
  history(): Operation<I, O>[] {
    return this.#ops.map((op): Operation<I, O> => {
      const base = {
        id: op.id,
        client: op.client,
        ...(op.key === undefined ? {} : { key: op.key }),
        input: op.input,
        call: op.call,
      };
      if (op.status === "ok") {
        return { ...base, output: op.output as O, ret: op.ret as number, status: "ok" };
      }
      if (op.status === "fail") return { ...base, ret: op.ret, status: "fail" };
      return { ...base, ret: null, status: "unknown" };
    });
  }

  #pending(id: number): RecordedOperation<I, O> {
    const op = this.#ops[id];
    if (op === undefined || op.id !== id) throw new Error(`no operation with id ${id}`);
    if (op.status !== "pending") throw new Error(`operation ${id} already ended (${op.status})`);
    return op;
  }
}

/**
 * Options of {@linkcode checkLinearizable}.
 *
 * @example
 * ```ts
 * import type { CheckOptions } from "./linearizability.ts";
 * const options: CheckOptions = { timeLimitMs: 10_000 };
 * ```
 */
export interface CheckOptions {
  /**
   * Give up (result `"unknown"`) after this many milliseconds, as measured
   * by `now`. Default: no limit. The clock is read every 1024 search steps,
   * so the limit can be overrun by that many model steps.
   */
  readonly timeLimitMs?: number;
  /** The clock for `timeLimitMs`, in milliseconds; default `performance.now()`. */
  readonly now?: () => number;
  /**
   * Check the operations of each key separately (P-compositionality: a
   * history is linearizable iff each key's sub-history is, when keys are
   * independent objects), with a model of one object. Operations without a
   * key form a partition of their own. Default: `true` when some operation
   * has a key. With `false`, the model sees every operation.
   */
  readonly partitionByKey?: boolean;
  /**
   * How unknown operations are searched, for tuning and testing (the
   * verdict is the same):
   * - `"eager"`: tried before completed ones; fastest on linearizable
   *   histories, but refuting a violation may take time exponential in the
   *   number of unknown operations pending at that point;
   * - `"lazy"`: tried after completed ones, pruning configurations that
   *   differ by unknown operations only; refutes fast, but slower on
   *   linearizable histories with many pending unknown operations;
   * - `"auto"` (default): eager, then both in turns if it does not decide
   *   quickly.
   */
  readonly strategy?: "auto" | "eager" | "lazy";
}

/**
 * A linearization of one partition: the order in which its operations took
 * effect. Unknown operations that never took effect are absent.
 *
 * @example
 * ```ts
 * import type { Linearization } from "./linearizability.ts";
 * const l: Linearization = { key: "x", order: [0, 2, 1] };
 * ```
 */
export interface Linearization {
  /** The partition's key (absent for operations without a key, or without partitioning). */
  readonly key?: string;
  /** Operation ids, in linearization order. */
  readonly order: readonly number[];
}

/**
 * The history is linearizable; `linearizations` are witnesses, one per
 * partition, in the order the partitions were checked.
 *
 * @example
 * ```ts
 * import type { LinearizableResult } from "./linearizability.ts";
 * const r: LinearizableResult = { result: "ok", linearizations: [{ order: [0, 1] }] };
 * ```
 */
export interface LinearizableResult {
  /** `"ok"`. */
  readonly result: "ok";
  /** One per partition. */
  readonly linearizations: readonly Linearization[];
}

/**
 * The history is not linearizable. The explanation comes from the point of
 * the search where the most completed operations were linearized: `prefix`
 * is a linearizable prefix of partition `key`
 * (its operations, in this order, respect real time and the model, and no
 * completed operation outside it must precede them), after which the
 * completed operations of `unplaced` could come next in real time but do
 * not fit the model; the culprit is usually among them, or in the prefix.
 *
 * @example
 * ```ts
 * import type { ViolationResult } from "./linearizability.ts";
 * const r: ViolationResult = {
 *   result: "violation", key: "x", prefix: [0, 1], unplaced: [2], message: "…",
 * };
 * ```
 */
export interface ViolationResult {
  /** `"violation"`. */
  readonly result: "violation";
  /** The partition that is not linearizable (absent if its operations have no key). */
  readonly key?: string;
  /** The linearizable prefix found with the most completed operations, as operation ids. */
  readonly prefix: readonly number[];
  /** Completed operations that could come next after `prefix` but do not fit the model. */
  readonly unplaced: readonly number[];
  /** A short human-readable explanation. */
  readonly message: string;
}

/**
 * The time limit ran out before a verdict; partition `key` was being checked
 * (the partitions checked before it are linearizable).
 *
 * @example
 * ```ts
 * import type { UnknownResult } from "./linearizability.ts";
 * const r: UnknownResult = { result: "unknown", key: "x", message: "time limit" };
 * ```
 */
export interface UnknownResult {
  /** `"unknown"`. */
  readonly result: "unknown";
  /** The partition whose check was cut short. */
  readonly key?: string;
  /** A short human-readable explanation. */
  readonly message: string;
}

/**
 * The verdict of {@linkcode checkLinearizable}.
 *
 * @example
 * ```ts
 * import type { CheckResult } from "./linearizability.ts";
 * function verdict(r: CheckResult): string {
 *   return r.result === "violation" ? r.message : r.result;
 * }
 * ```
 */
export type CheckResult = LinearizableResult | ViolationResult | UnknownResult;

/**
 * Decides whether `history` is linearizable with respect to `model`: whether
 * its completed operations, and any subset of its unknown ones, can be put
 * in a total order that the model accepts and that keeps every operation
 * between its call and its return. Failed operations are ignored.
 *
 * The problem is NP-complete. The search is fast on histories with about
 * ten concurrent clients per key (thousands of operations per second of
 * checking, with timeouts), slows down as concurrency per key grows, and
 * many concurrent operations that the model cannot tell apart (e.g. many
 * overlapping writes, then an impossible read) make it exponential: set
 * `timeLimitMs` to get `"unknown"` instead of waiting. Deterministic: the
 * same history, model and options give the same result.
 *
 * @throws {RangeError} if the history is malformed (duplicate ids, times that
 * are not finite numbers, an `"ok"` operation whose `ret` is missing or
 * before its `call`, an unknown status), or an option is invalid
 *
 * @example
 * ```ts
 * import { checkLinearizable, type Operation, registerModel } from "./linearizability.ts";
 * import type { RegisterInput, RegisterOutput } from "./linearizability.ts";
 * // The read starts after the write of "b" completed, yet sees "a": a stale read.
 * const history: Operation<RegisterInput, RegisterOutput>[] = [
 *   { id: 0, client: 1, key: "k", input: { type: "write", value: "a" }, output: null, call: 0, ret: 1, status: "ok" },
 *   { id: 1, client: 1, key: "k", input: { type: "write", value: "b" }, output: null, call: 2, ret: 3, status: "ok" },
 *   { id: 2, client: 2, key: "k", input: { type: "read" }, output: "a", call: 4, ret: 5, status: "ok" },
 * ];
 * const result = checkLinearizable(history, registerModel, { timeLimitMs: 1000 });
 * console.assert(result.result === "violation" && result.key === "k");
 * if (result.result === "violation") console.log(result.message);
 * ```
 */
export function checkLinearizable<S, I, O>(
  history: readonly Operation<I, O>[],
  model: Model<S, I, O>,
  options?: CheckOptions,
): CheckResult;
export function checkLinearizable<S, I, O>(
  history: readonly Operation<I, O>[],
  model: Model<S, I, O>,
  options: CheckOptions = {},
): CheckResult {
  const now = options.now ?? ((): number => performance.now());
  const limit = options.timeLimitMs ?? Infinity;
  if (typeof limit !== "number" || Number.isNaN(limit) || limit < 0) {
    throw new RangeError(`timeLimitMs must be a number ≥ 0, got ${String(limit)}`);
  }
  const strategy = options.strategy ?? "auto";
  if (strategy !== "auto" && strategy !== "eager" && strategy !== "lazy") {
    throw new RangeError(`unknown strategy ${JSON.stringify(strategy)}`);
  }
  const deadline = limit === Infinity ? Infinity : now() + limit;
  const live = validate(history);
  const byKey = options.partitionByKey ?? live.some((op) => op.key !== undefined);

  const groups = new Map<string | undefined, Operation<I, O>[]>();
  for (const op of live) {
    const k = byKey ? op.key : undefined;
    let group = groups.get(k);
    if (group === undefined) groups.set(k, group = []);
    group.push(op);
  }
  // Smallest partitions first (a violation in a small one is found fast, and
  // a time limit cuts short as few partitions as possible), then by key.
  const partitions = [...groups].sort(([ka, a], [kb, b]) =>
    a.length - b.length || compareKeys(ka, kb)
  );

  const linearizations: Linearization[] = [];
  for (const [key, ops] of partitions) {
    const keyed = key === undefined ? {} : { key };
    if (now() > deadline) return timeLimitResult(keyed, limit, linearizations.length);
    const outcome = search(ops, model, now, deadline, strategy);
    if (outcome.kind === "timeout") return timeLimitResult(keyed, limit, linearizations.length);
    if (outcome.kind === "violation") {
      return {
        result: "violation",
        ...keyed,
        prefix: outcome.prefix,
        unplaced: outcome.unplaced,
        message: explain(key, ops, outcome.prefix, outcome.unplaced),
      };
    }
    linearizations.push({ ...keyed, order: outcome.order });
  }
  return { result: "ok", linearizations };
}

// ------------------------------------------------------------------ internals

const SLICE = 1024; // search steps between readings of the clock

/**
 * Eager steps per operation before the lazy search starts: linearizable
 * register histories with 10 clients take about 3 per operation over 5 keys
 * and 30 on one key.
 */
const EAGER_HEAD_START = 16;

/**
 * Checks one partition. With `"auto"`, an eager {@linkcode Search} runs
 * first; if it has not decided after {@linkcode EAGER_HEAD_START} steps per
 * operation, a lazy one starts and they take turns, a slice of steps each,
 * until one decides. (Without unknown operations they are the same: the
 * eager one runs alone.) Both are complete, so the first verdict is the
 * verdict. Deterministic, as slices are counted in steps.
 */
function search<S, I, O>(
  ops: readonly Operation<I, O>[],
  model: Model<S, I, O>,
  now: () => number,
  deadline: number,
  strategy: "auto" | "eager" | "lazy",
): SearchOutcome {
  const first = new Search(ops, model, strategy === "lazy");
  const headStart = strategy === "auto" ? EAGER_HEAD_START * ops.length : Infinity;
  let lazy: Search<S, I, O> | undefined;
  for (let steps = 0;; steps += SLICE) {
    const outcome = first.run(SLICE);
    if (outcome !== null) return outcome;
    if (now() > deadline) return { kind: "timeout" };
    if (first.unknownCount > 0 && steps >= headStart) {
      lazy ??= new Search(ops, model, true);
      const other = lazy.run(SLICE);
      if (other !== null) return other;
      if (now() > deadline) return { kind: "timeout" };
    }
  }
}

function compareKeys(a: string | undefined, b: string | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return a < b ? -1 : 1;
}

function timeLimitResult(
  keyed: { key?: string },
  limit: number,
  done: number,
): UnknownResult {
  const where = keyed.key === undefined ? "" : ` while checking key ${JSON.stringify(keyed.key)}`;
  return {
    result: "unknown",
    ...keyed,
    message: `time limit of ${limit} ms exceeded${where}` +
      ` (${done} partition${done === 1 ? "" : "s"} checked and linearizable)`,
  };
}

/** Checks the shape of every operation; returns those that are not failed. */
function validate<I, O>(history: readonly Operation<I, O>[]): Operation<I, O>[] {
  const ids = new Set<number>();
  const live: Operation<I, O>[] = [];
  for (const op of history) {
    if (ids.has(op.id)) throw new RangeError(`duplicate operation id ${op.id}`);
    ids.add(op.id);
    if (!Number.isFinite(op.call)) {
      throw new RangeError(`operation ${op.id}: call must be a finite number`);
    }
    const id = op.id;
    const status: string = op.status;
    switch (op.status) {
      case "ok":
        if (!Number.isFinite(op.ret) || op.ret < op.call) {
          throw new RangeError(`operation ${op.id}: ret must be a finite number ≥ call`);
        }
        live.push(op);
        break;
      case "unknown":
        live.push(op);
        break;
      case "fail":
        break;
      default:
        throw new RangeError(`operation ${id}: unknown status ${JSON.stringify(status)}`);
    }
  }
  return live;
}

type SearchOutcome =
  | { readonly kind: "ok"; readonly order: number[] }
  | { readonly kind: "violation"; readonly prefix: number[]; readonly unplaced: number[] }
  | { readonly kind: "timeout" };

/**
 * Memo of visited configurations: (completed operations linearized, unknown
 * operations linearized, model state), keyed by the completed set's string
 * key followed by the model's state key (without a state key: by the set
 * key, with a list of the states seen, compared with `equal`).
 *
 * - `"exact"`: a configuration is new unless it was visited; the unknown
 *   set is part of the key.
 * - `"dominance"`: a configuration is new unless one with the same
 *   completed operations and state, and a subset of its unknown operations,
 *   was visited: that one can do whatever this one can (unknown operations
 *   are optional), so if it failed, this one fails too.
 */
interface Memo<S> {
  /** Records the configuration; `false` if it was visited (or one that dominates it). */
  add(set: LinearizedSet, state: S): boolean;
}

/** Whether every bit of `a` is in `b` (same length). */
function subset(a: Uint16Array, b: Uint16Array): boolean {
  for (let i = 0; i < a.length; i++) if ((a[i]! & ~b[i]!) !== 0) return false;
  return true;
}

/**
 * Adds a copy of `u` to the antichain `list` unless a subset of it is there;
 * drops the supersets of `u` it replaces.
 */
function addMinimal(list: Uint16Array[], u: Uint16Array): boolean {
  for (const v of list) if (subset(v, u)) return false;
  let kept = 0;
  for (const v of list) if (!subset(u, v)) list[kept++] = v;
  list.length = kept;
  list.push(u.slice());
  return true;
}

function makeMemo<S, I, O>(model: Model<S, I, O>, mode: "exact" | "dominance"): Memo<S> {
  const key = model.key?.bind(model);
  if (mode === "exact") {
    if (key !== undefined) {
      const seen = new Set<string>();
      return {
        add(set: LinearizedSet, state: S): boolean {
          const size = seen.size;
          seen.add(set.key() + set.unknownKey() + key(state));
          return seen.size !== size;
        },
      };
    }
    const equal = model.equal?.bind(model) ?? Object.is;
    const seen = new Map<string, S[]>();
    return {
      add(set: LinearizedSet, state: S): boolean {
        const k = set.key() + set.unknownKey();
        const states = seen.get(k);
        if (states === undefined) {
          seen.set(k, [state]);
          return true;
        }
        for (const s of states) if (equal(s, state)) return false;
        states.push(state);
        return true;
      },
    };
  }
  if (key !== undefined) {
    const seen = new Map<string, Uint16Array[]>();
    return {
      add(set: LinearizedSet, state: S): boolean {
        const k = set.key() + key(state);
        const list = seen.get(k);
        if (list === undefined) {
          seen.set(k, [set.unknown.slice()]);
          return true;
        }
        return addMinimal(list, set.unknown);
      },
    };
  }
  const equal = model.equal?.bind(model) ?? Object.is;
  const seen = new Map<string, { state: S; unknown: Uint16Array[] }[]>();
  return {
    add(set: LinearizedSet, state: S): boolean {
      const k = set.key();
      let entries = seen.get(k);
      if (entries === undefined) seen.set(k, entries = []);
      for (const e of entries) if (equal(e.state, state)) return addMinimal(e.unknown, set.unknown);
      entries.push({ state, unknown: [set.unknown.slice()] });
      return true;
    },
  };
}

const CHUNK = 4096; // arguments per String.fromCharCode call

/** The 16-bit words `[from, to)` as a string of UTF-16 code units. */
function wordsToString(words: Uint16Array, from: number, to: number): string {
  if (to - from <= 4) {
    let s = "";
    for (let i = from; i < to; i++) s += String.fromCharCode(words[i]!);
    return s;
  }
  let s = "";
  for (let i = from; i < to; i += CHUNK) {
    const part = words.subarray(i, Math.min(to, i + CHUNK));
    s += String.fromCharCode.apply(null, part as unknown as number[]);
  }
  return s;
}

/**
 * The set of linearized operations of a partition. Completed operations are
 * numbered by call order and keyed compactly: at any point of the search,
 * those below `low` (the first one not linearized) are all linearized and
 * those above `high` (the last one linearized) are not, so the key holds
 * `low` and the bit words between `low` and `high` — a window about as wide
 * as the concurrency, not as the history. Unknown operations are a plain
 * bitset.
 */
class LinearizedSet {
  readonly #ok: Uint16Array;
  readonly unknown: Uint16Array;
  readonly #okCount: number;
  #low = 0;
  #high = -1;
  #unknownKey = "";
  #unknownDirty = true;

  constructor(okCount: number, unknownCount: number) {
    this.#ok = new Uint16Array((okCount + 15) >> 4);
    this.unknown = new Uint16Array((unknownCount + 15) >> 4);
    this.#okCount = okCount;
  }

  get low(): number {
    return this.#low;
  }

  get high(): number {
    return this.#high;
  }

  /** Adds completed operation `i` (not in the set). */
  addOk(i: number): void {
    const w = i >> 4;
    this.#ok[w] = this.#ok[w]! | (1 << (i & 15));
    if (i > this.#high) this.#high = i;
    if (i === this.#low) {
      let low = i + 1;
      while (low < this.#okCount && (this.#ok[low >> 4]! >> (low & 15)) & 1) low++;
      this.#low = low;
    }
  }

  /** Removes completed operation `i` (in the set), restoring the bounds from before its `addOk`. */
  removeOk(i: number, low: number, high: number): void {
    const w = i >> 4;
    this.#ok[w] = this.#ok[w]! & ~(1 << (i & 15));
    this.#low = low;
    this.#high = high;
  }

  /** Adds or removes unknown operation `j`. */
  toggleUnknown(j: number): void {
    const w = j >> 4;
    this.unknown[w] = this.unknown[w]! ^ (1 << (j & 15));
    this.#unknownDirty = true;
  }

  /**
   * The completed operations in the set, as a string: equal for equal sets,
   * different otherwise, and self-delimiting (two code units of `low`, two
   * of the window's length in words, then the window).
   */
  key(): string {
    const low = this.#low;
    const from = low >> 4;
    const to = this.#high >= low ? (this.#high >> 4) + 1 : from;
    const n = to - from;
    return String.fromCharCode(low & 0xffff, low >>> 16, n & 0xffff, n >>> 16) +
      wordsToString(this.#ok, from, to);
  }

  /** The unknown operations in the set, as a string of fixed length. */
  unknownKey(): string {
    if (this.#unknownDirty) {
      this.#unknownKey = wordsToString(this.unknown, 0, this.unknown.length);
      this.#unknownDirty = false;
    }
    return this.#unknownKey;
  }
}

interface Event {
  readonly time: number;
  readonly op: number; // index in the partition
  readonly call: boolean;
}

const COMPLETED = 1; // pass over the completed operations' calls
const UNKNOWN = 2; // pass over the unknown operations' calls

/**
 * Wing–Gong–Lowe search over one partition, resumable: {@linkcode run}
 * takes a number of steps and returns `null` if it needs more.
 *
 * The events of completed operations sit in a doubly linked list (arrays
 * `next`/`prev`; head 0, tail `end`); linearizing an operation lifts its
 * call and return out of the list, backtracking puts them back. Unknown
 * operations have no return (it is at +∞: they are never forced) and their
 * calls sit in a list of their own (`uNext`/`uPrev`). The operations that
 * may come next are those called before the first return in the main list,
 * tried in call order — completed ones and unknown ones in two passes. The
 * search succeeds once every completed operation is linearized.
 *
 * Two strategies, which differ only when there are unknown operations:
 * - eager (`lazy = false`): unknown operations first, with an exact memo.
 *   Finds witnesses fast, as a misplaced unknown write is refuted quickly
 *   by the next read, but must refute every subset of the unknown
 *   operations that are pending before it can report a violation;
 * - lazy (`lazy = true`): completed operations first, with the dominance
 *   memo: configurations without unknown operations are explored first and
 *   prune those with them. Refutes fast, but tries every pending unknown
 *   operation at each dead end.
 * {@linkcode checkLinearizable} runs the eager one, then both in turns
 * (see {@linkcode CheckOptions.strategy}).
 *
 * Trying completed operations in call order was measured to backtrack
 * least on register histories, compared with trying first the operation of
 * the first return (as in Lowe's just-in-time linearization) or by return
 * time. A read-only completed operation that fits is linearized without
 * alternative (see {@linkcode Model.readOnly}); read-only unknown
 * operations are dropped, as they can always be left out.
 */
class Search<S, I, O> {
  readonly #model: Model<S, I, O>;
  readonly #lazy: boolean;
  readonly #ops: readonly Operation<I, O>[];
  readonly #inputs: I[];
  readonly #outputs: (O | undefined)[];
  readonly #end: number;
  readonly #next: Int32Array;
  readonly #prev: Int32Array;
  readonly #uNext: Int32Array;
  readonly #uPrev: Int32Array;
  readonly #opOf: Int32Array;
  readonly #match: Int32Array; // call node of a completed operation → its return node; else -1
  readonly #index: Int32Array; // operation → its number among the completed (or unknown) ones
  readonly #mandatory: Uint8Array; // operation → 1 if completed
  readonly #readOnly: Uint8Array; // operation → 1 if completed and read-only
  readonly #set: LinearizedSet;
  readonly #memo: Memo<S>;
  // Per depth d: the call linearized at d, the state and set bounds before it.
  readonly #stackNode: Int32Array;
  readonly #stackState: (S | undefined)[];
  readonly #stackLow: Int32Array;
  readonly #stackHigh: Int32Array;
  // The dead end with the most completed operations linearized so far
  // (`bestDone`): `best` holds its first `bestLength` calls, of which the
  // first `agree` are also the current stack's (so recording a new one
  // copies only the calls pushed since: linear in the pushes).
  readonly #best: Int32Array;
  #bestDone = -1;
  #bestLength = 0;
  #agree = 0;
  #bestUnplaced: number[] = [];
  #depth = 0;
  #state: S;
  #remaining: number;
  // The next candidate, in pass COMPLETED (main list) or UNKNOWN (unknown
  // calls before `firstRet`, the first return in the main list).
  #cand = 0;
  #pass = COMPLETED;
  #firstRet = 0;

  /** Number of completed operations. */
  readonly #okCount: number;
  /** Number of unknown operations (that are not read-only). */
  readonly unknownCount: number;

  constructor(partition: readonly Operation<I, O>[], model: Model<S, I, O>, lazy: boolean) {
    this.#model = model;
    this.#lazy = lazy;
    const isReadOnly = model.readOnly?.bind(model);
    const ops = isReadOnly === undefined
      ? partition
      : partition.filter((op) => op.status === "ok" || !isReadOnly(op.input, undefined));
    this.#ops = ops;
    const m = ops.length;
    const events: Event[] = [];
    for (let i = 0; i < m; i++) {
      const op = ops[i]!;
      events.push({ time: op.call, op: i, call: true });
      if (op.status === "ok") events.push({ time: op.ret, op: i, call: false });
    }
    // By time; at equal times calls first (overlap); then by operation, for determinism.
    events.sort((a, b) => a.time - b.time || (a.call === b.call ? a.op - b.op : a.call ? -1 : 1));
    // Nodes 1..events.length are the events in order; 0 is the head of both
    // lists, `end` (after every event) their tail.
    const end = events.length + 1;
    this.#end = end;
    const next = this.#next = new Int32Array(end + 1);
    const prev = this.#prev = new Int32Array(end + 1);
    const uNext = this.#uNext = new Int32Array(end + 1);
    const uPrev = this.#uPrev = new Int32Array(end + 1);
    const opOf = this.#opOf = new Int32Array(end + 1);
    const match = this.#match = new Int32Array(end + 1).fill(-1);
    const index = this.#index = new Int32Array(m);
    const mandatory = this.#mandatory = new Uint8Array(m);
    const callNode = new Int32Array(m);
    let okCount = 0;
    let unknownCount = 0;
    let lastOk = 0;
    let lastUnknown = 0;
    for (let n = 1; n < end; n++) {
      const e = events[n - 1]!;
      const op = e.op;
      opOf[n] = op;
      if (ops[op]!.status === "ok") {
        if (e.call) {
          callNode[op] = n;
          index[op] = okCount++;
          mandatory[op] = 1;
        } else {
          match[callNode[op]!] = n;
        }
        next[lastOk] = n;
        prev[n] = lastOk;
        lastOk = n;
      } else {
        index[op] = unknownCount++;
        uNext[lastUnknown] = n;
        uPrev[n] = lastUnknown;
        lastUnknown = n;
      }
    }
    next[lastOk] = end;
    prev[end] = lastOk;
    uNext[lastUnknown] = end;
    uPrev[end] = lastUnknown;
    this.#okCount = okCount;
    this.unknownCount = unknownCount;

    this.#inputs = ops.map((op) => op.input);
    this.#outputs = ops.map((op) => op.status === "ok" ? op.output : undefined);
    this.#readOnly = new Uint8Array(m);
    if (isReadOnly !== undefined) {
      for (let i = 0; i < m; i++) {
        if (mandatory[i] && isReadOnly(this.#inputs[i]!, this.#outputs[i])) this.#readOnly[i] = 1;
      }
    }
    this.#remaining = okCount;
    this.#set = new LinearizedSet(okCount, unknownCount);
    this.#memo = makeMemo(model, lazy ? "dominance" : "exact");
    this.#stackNode = new Int32Array(m);
    this.#stackState = new Array<S | undefined>(m);
    this.#stackLow = new Int32Array(m);
    this.#stackHigh = new Int32Array(m);
    this.#best = new Int32Array(m);
    this.#state = model.init();
    this.#enterNode();
  }

  /** The first return in the main list (there is one while operations remain). */
  #firstReturn(): number {
    let n = this.#next[0]!;
    while (this.#match[n]! >= 0) n = this.#next[n]!;
    return n;
  }

  /** Starts trying the candidates of a new node. */
  #enterNode(): void {
    if (this.#lazy || this.unknownCount === 0) {
      this.#pass = COMPLETED;
      this.#cand = this.#next[0]!;
    } else {
      this.#pass = UNKNOWN;
      this.#cand = this.#uNext[0]!;
      this.#firstRet = this.#firstReturn();
    }
  }

  /** Runs up to `budget` steps: the verdict, or `null` if undecided yet. */
  run(budget: number): SearchOutcome | null {
    const model = this.#model;
    const lazy = this.#lazy;
    const inputs = this.#inputs;
    const outputs = this.#outputs;
    const next = this.#next;
    const prev = this.#prev;
    const uNext = this.#uNext;
    const uPrev = this.#uPrev;
    const opOf = this.#opOf;
    const match = this.#match;
    const index = this.#index;
    const mandatory = this.#mandatory;
    const readOnly = this.#readOnly;
    const set = this.#set;
    const memo = this.#memo;
    const stackNode = this.#stackNode;
    const stackState = this.#stackState;
    const stackLow = this.#stackLow;
    const stackHigh = this.#stackHigh;
    const hasUnknown = this.unknownCount > 0;
    let cand = this.#cand;
    let pass = this.#pass;
    let firstRet = this.#firstRet;
    let depth = this.#depth;
    let state = this.#state;
    try {
      for (let steps = 0; this.#remaining > 0; steps++) {
        if (steps === budget) return null;
        let exhausted = false;
        // End of a pass: on to the other one, or done with this node.
        if (pass === COMPLETED && match[cand]! < 0) {
          firstRet = cand;
          if (lazy && hasUnknown) {
            pass = UNKNOWN;
            cand = uNext[0]!;
          } else {
            exhausted = true;
          }
        } else if (pass === UNKNOWN && cand > firstRet) {
          if (lazy) {
            exhausted = true;
          } else {
            pass = COMPLETED;
            cand = next[0]!;
            continue;
          }
        }
        if (!exhausted && (pass === COMPLETED || cand < firstRet)) {
          // Try to linearize the candidate now.
          const op = opOf[cand]!;
          const r = model.step(state, inputs[op]!, outputs[op]);
          if (r.ok) {
            const low = set.low;
            const high = set.high;
            const i = index[op]!;
            if (pass === COMPLETED) set.addOk(i);
            else set.toggleUnknown(i);
            if (memo.add(set, r.state)) {
              if (this.#agree === depth && depth < this.#bestLength && this.#best[depth] === cand) {
                this.#agree++;
              }
              stackNode[depth] = cand;
              stackState[depth] = state;
              stackLow[depth] = low;
              stackHigh[depth] = high;
              depth++;
              state = r.state;
              if (pass === COMPLETED) {
                this.#remaining--;
                // lift: unlink the call and its return
                const ret = match[cand]!;
                next[prev[cand]!] = next[cand]!;
                prev[next[cand]!] = prev[cand]!;
                next[prev[ret]!] = next[ret]!;
                prev[next[ret]!] = prev[ret]!;
              } else {
                uNext[uPrev[cand]!] = uNext[cand]!;
                uPrev[uNext[cand]!] = uPrev[cand]!;
              }
              this.#enterNode();
              cand = this.#cand;
              pass = this.#pass;
              firstRet = this.#firstRet;
              continue;
            }
            if (pass === COMPLETED) set.removeOk(i, low, high);
            else set.toggleUnknown(i);
            // A read-only operation fits but was placed here before, in
            // vain: this node fails like that one (it needs no alternative).
            exhausted = readOnly[op] === 1;
          }
          if (!exhausted) {
            cand = pass === COMPLETED ? next[cand]! : uNext[cand]!;
            continue;
          }
        }
        // Every operation that may come next has been tried (or a read-only one failed).
        if (this.#okCount - this.#remaining > this.#bestDone) this.#recordDeadEnd(depth, state);
        // Backtrack; past a read-only operation, the node before it fails too.
        let back: number;
        let op: number;
        do {
          if (depth === 0) {
            const prefix: number[] = [];
            for (let d = 0; d < this.#bestLength; d++) {
              prefix.push(this.#ops[opOf[this.#best[d]!]!]!.id);
            }
            return { kind: "violation", prefix, unplaced: this.#bestUnplaced };
          }
          depth--;
          if (this.#agree > depth) this.#agree = depth;
          back = stackNode[depth]!;
          op = opOf[back]!;
          state = stackState[depth] as S;
          stackState[depth] = undefined;
          if (mandatory[op]) {
            set.removeOk(index[op]!, stackLow[depth]!, stackHigh[depth]!);
            this.#remaining++;
            // unlift, in the reverse order of lift
            const ret = match[back]!;
            next[prev[ret]!] = ret;
            prev[next[ret]!] = ret;
            next[prev[back]!] = back;
            prev[next[back]!] = back;
          } else {
            set.toggleUnknown(index[op]!);
            uNext[uPrev[back]!] = back;
            uPrev[uNext[back]!] = back;
          }
        } while (readOnly[op]);
        if (mandatory[op]) {
          pass = COMPLETED;
          cand = next[back]!;
        } else {
          pass = UNKNOWN;
          cand = uNext[back]!;
          firstRet = this.#firstReturn();
        }
      }
      const order: number[] = [];
      for (let d = 0; d < depth; d++) order.push(this.#ops[opOf[stackNode[d]!]!]!.id);
      return { kind: "ok", order };
    } finally {
      this.#cand = cand;
      this.#pass = pass;
      this.#firstRet = firstRet;
      this.#depth = depth;
      this.#state = state;
    }
  }

  /** Records the stack as the best dead end, with the completed candidates that do not fit. */
  #recordDeadEnd(depth: number, state: S): void {
    for (let d = this.#agree; d < depth; d++) this.#best[d] = this.#stackNode[d]!;
    this.#bestDone = this.#okCount - this.#remaining;
    this.#bestLength = depth;
    this.#agree = depth;
    this.#bestUnplaced = [];
    for (let n = this.#next[0]!; this.#match[n]! >= 0; n = this.#next[n]!) {
      const op = this.#opOf[n]!;
      if (!this.#model.step(state, this.#inputs[op]!, this.#outputs[op]).ok) {
        this.#bestUnplaced.push(this.#ops[op]!.id);
      }
    }
  }
}

const MAX_LISTED = 8;

function explain<I, O>(
  key: string | undefined,
  ops: readonly Operation<I, O>[],
  prefix: readonly number[],
  unplaced: readonly number[],
): string {
  const byId = new Map(ops.map((op) => [op.id, op]));
  const where = key === undefined ? "" : `key ${JSON.stringify(key)}: `;
  const completed = ops.filter((op) => op.status === "ok").length;
  const ids = prefix.length <= 2 * MAX_LISTED
    ? prefix.join(", ")
    : `${prefix.slice(0, MAX_LISTED).join(", ")}, …, ${prefix.slice(-MAX_LISTED).join(", ")}`;
  const listed = unplaced.slice(0, MAX_LISTED).map((id) => describe(byId.get(id)!));
  const more = unplaced.length > MAX_LISTED ? `; and ${unplaced.length - MAX_LISTED} more` : "";
  const after = unplaced.length === 0
    ? "every way to continue was refuted"
    : `these completed operations, which could come next, do not fit the model: ` +
      `${listed.join("; ")}${more}`;
  return `${where}not linearizable (${completed} completed operations): ` +
    `the linearizable prefix found with the most of them has ${prefix.length} operation(s) ` +
    `[${ids}]; ` +
    `after it, ${after}`;
}

function describe<I, O>(op: Operation<I, O>): string {
  return `op ${op.id} (client ${show(op.client)}, [${op.call}, ${op.ret}]) ` +
    `${show(op.input)} → ${show(op.output)}`;
}

function show(value: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(value) ?? String(value);
  } catch {
    s = String(value);
  }
  return s.length > 80 ? s.slice(0, 77) + "..." : s;
}
