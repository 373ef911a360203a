/**
 * Checks a chaos run's register history per key with the project's checker
 * ({@linkcode checkLinearizable} and {@linkcode registerModel}), and for a
 * key that is not linearizable finds a minimal window: the shortest run of
 * consecutive operations (by invocation) that cannot be linearized even
 * from an arbitrary initial value — what a reader looks at first.
 *
 * @module
 */

import {
  checkLinearizable,
  type Model,
  type Operation,
  type RegisterInput,
  registerModel,
  type RegisterOutput,
  type RegisterValue,
} from "../testing/linearizability.ts";

/** A register operation of a chaos history. */
export type RegisterOperation = Operation<RegisterInput, RegisterOutput>;

/**
 * The verdict on one key.
 *
 * @example
 * ```ts
 * import type { KeyVerdict } from "./history_check.ts";
 * const v: KeyVerdict = { key: "r0", result: "ok", operations: 120, message: "" };
 * ```
 */
export interface KeyVerdict {
  /** The key. */
  readonly key: string;
  /** `ok`, `violation`, or `unknown` (the time limit ran out). */
  readonly result: "ok" | "violation" | "unknown";
  /** Operations on the key (failed ones included). */
  readonly operations: number;
  /** The checker's explanation ("" when ok). */
  readonly message: string;
  /** For a violation: the minimal non-linearizable window, in invocation order. */
  readonly window?: readonly RegisterOperation[];
}

/** A register whose value before the window is not known: `undefined`. */
type _OpenState = RegisterValue | undefined;

/**
 * The register model from an arbitrary initial value: the first read (or
 * successful compare-and-set) fixes it. More permissive than
 * {@linkcode registerModel}, so a window it refutes is not linearizable
 * whatever happened before it.
 *
 * @example
 * ```ts
 * import { openRegisterModel } from "./history_check.ts";
 * const s = openRegisterModel.init();
 * console.assert(openRegisterModel.step(s, { type: "read" }, "x").ok);
 * ```
 */
export const openRegisterModel: Model<_OpenState, RegisterInput, RegisterOutput> = {
  init: (): _OpenState => undefined,
  step: (state, input, output) => {
    if (state !== undefined) return registerModel.step(state, input, output);
    if (input.type === "write") return { ok: true, state: input.value };
    if (input.type === "read") {
      return { ok: true, state: output === undefined ? undefined : output as RegisterValue };
    }
    if (input.type === "cas" && output === true) return { ok: true, state: input.to };
    return { ok: true, state: undefined };
  },
  key: (state) => state === undefined ? "?" : registerModel.key!(state),
  readOnly: registerModel.readOnly!,
};

/**
 * Checks every key of `history`; each key's check is cut at `timeLimitMs`.
 *
 * @example
 * ```ts
 * import { checkRegisterHistory } from "./history_check.ts";
 * const verdicts = checkRegisterHistory([
 *   { id: 0, client: 1, key: "a", input: { type: "write", value: "x" }, output: null, call: 0, ret: 1, status: "ok" },
 *   { id: 1, client: 2, key: "a", input: { type: "read" }, output: "y", call: 2, ret: 3, status: "ok" },
 * ], 1000);
 * console.assert(verdicts[0]!.result === "violation" && verdicts[0]!.window!.length === 2);
 * ```
 */
export function checkRegisterHistory(
  history: readonly RegisterOperation[],
  timeLimitMs: number,
): KeyVerdict[] {
  const byKey = new Map<string, RegisterOperation[]>();
  for (const op of history) {
    const key = op.key ?? "";
    let ops = byKey.get(key);
    if (ops === undefined) byKey.set(key, ops = []);
    ops.push(op);
  }
  const verdicts: KeyVerdict[] = [];
  for (const [key, ops] of [...byKey].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0)) {
    const r = checkLinearizable(ops, registerModel, { timeLimitMs, partitionByKey: false });
    if (r.result === "ok") {
      verdicts.push({ key, result: "ok", operations: ops.length, message: "" });
    } else if (r.result === "unknown") {
      verdicts.push({ key, result: "unknown", operations: ops.length, message: r.message });
    } else {
      verdicts.push({
        key,
        result: "violation",
        operations: ops.length,
        message: r.message,
        window: minimalWindow(ops, timeLimitMs),
      });
    }
  }
  return verdicts;
}

/**
 * A short run of consecutive operations of one key (by invocation, failed
 * ones left out) that is not linearizable: from an arbitrary initial value
 * when possible, else from the start of the history.
 *
 * @example
 * ```ts
 * import { minimalWindow } from "./history_check.ts";
 * const w = minimalWindow([
 *   { id: 0, client: 1, input: { type: "write", value: "x" }, output: null, call: 0, ret: 1, status: "ok" },
 *   { id: 1, client: 1, input: { type: "write", value: "y" }, output: null, call: 2, ret: 3, status: "ok" },
 *   { id: 2, client: 2, input: { type: "read" }, output: "x", call: 4, ret: 5, status: "ok" },
 * ], 1000);
 * console.assert(w.length === 2 && w[0]!.id === 1);
 * ```
 */
export function minimalWindow(
  ops: readonly RegisterOperation[],
  timeLimitMs: number,
): RegisterOperation[] {
  const sorted = ops.filter((op) => op.status !== "fail").sort((a, b) => a.call - b.call);
  const open = _violates(sorted, openRegisterModel, timeLimitMs);
  const model = open ? openRegisterModel : registerModel;
  const violates = (from: number, to: number): boolean =>
    _violates(
      sorted.slice(from, to),
      model as Model<_OpenState, RegisterInput, RegisterOutput>,
      timeLimitMs,
    );
  if (!violates(0, sorted.length)) return sorted;
  // The shortest prefix that violates (binary search, then the first that really does).
  let lo = 1;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (violates(0, mid)) hi = mid;
    else lo = mid + 1;
  }
  let end = lo;
  while (end < sorted.length && !violates(0, end)) end++;
  if (!open) return sorted.slice(0, end);
  // The latest start that still violates.
  let a = 0;
  let b = end - 1;
  while (a < b) {
    const mid = (a + b + 1) >> 1;
    if (violates(mid, end)) a = mid;
    else b = mid - 1;
  }
  let start = a;
  while (start > 0 && !violates(start, end)) start--;
  return sorted.slice(start, end);
}

function _violates(
  ops: readonly RegisterOperation[],
  model: Model<_OpenState, RegisterInput, RegisterOutput>,
  timeLimitMs: number,
): boolean {
  const r = checkLinearizable(ops, model, { timeLimitMs, partitionByKey: false });
  return r.result === "violation";
}
