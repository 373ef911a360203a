/**
 * Random register histories that are linearizable by construction: for
 * testing a linearizability checker and for measuring its speed.
 *
 * @module
 */

import { SeededRandom } from "../src/random.ts";
import type { Operation, RegisterInput, RegisterOutput, RegisterValue } from "./linearizability.ts";

/**
 * What {@linkcode generateRegisterHistory} generates.
 *
 * @example
 * ```ts
 * import type { RegisterHistoryOptions } from "./register_history.ts";
 * const options: RegisterHistoryOptions = { seed: 1, count: 100, keys: 2, clients: 4 };
 * ```
 */
export interface RegisterHistoryOptions {
  /** Seeds every random choice: the same options give the same history. */
  readonly seed: number;
  /** Operations to invoke. */
  readonly count: number;
  /** Keys ("k0", "k1", …) the operations spread over. */
  readonly keys: number;
  /** Clients, each with at most one operation pending. */
  readonly clients: number;
  /** Share of operations that time out (take effect later, or never); default 0.02. */
  readonly unknownRate?: number;
  /** Share of operations that fail (never take effect); default 0.02. */
  readonly failRate?: number;
}

interface Pending {
  readonly id: number;
  readonly key: string;
  readonly input: RegisterInput;
  readonly call: number;
  readonly fate: "ok" | "fail" | "unknown";
  applied: boolean;
  output: RegisterOutput;
}

/**
 * A history of a real (sequential, in-memory) register store: clients
 * invoke operations (half reads, writes, compare-and-sets), each takes
 * effect at a random instant while pending and returns later, so the
 * history is linearizable by construction. Written values are unique ("v0",
 * "v1", …). Some operations fail (never take effect) or time out (take
 * effect later, or never).
 *
 * @example
 * ```ts
 * import { generateRegisterHistory } from "./register_history.ts";
 * import { checkLinearizable, registerModel } from "./linearizability.ts";
 * const history = generateRegisterHistory({ seed: 1, count: 200, keys: 2, clients: 4 });
 * console.assert(checkLinearizable(history, registerModel).result === "ok");
 * ```
 */
export function generateRegisterHistory(
  options: RegisterHistoryOptions,
): Operation<RegisterInput, RegisterOutput>[] {
  const { seed, count, keys, clients, unknownRate = 0.02, failRate = 0.02 } = options;
  const rnd = new SeededRandom(seed);
  const store = new Map<string, RegisterValue>();
  const written: string[] = [];
  const history: Operation<RegisterInput, RegisterOutput>[] = [];
  const busy: (Pending | null)[] = new Array<Pending | null>(clients).fill(null);
  const lingering: Pending[] = []; // timed out, may still take effect
  let time = 0;
  let started = 0;
  const apply = (p: Pending): void => {
    const current = store.get(p.key) ?? null;
    const input = p.input;
    if (input.type === "write") {
      store.set(p.key, input.value);
      p.output = null;
    } else if (input.type === "read") {
      p.output = current;
    } else {
      p.output = current === input.from;
      if (p.output) store.set(p.key, input.to);
    }
    p.applied = true;
  };
  while (started < count || busy.some((b) => b !== null)) {
    if (lingering.length > 0 && rnd.next() < 0.05) {
      const [late] = lingering.splice(rnd.int(0, lingering.length), 1);
      if (late !== undefined && rnd.next() < 0.5) apply(late);
      continue;
    }
    const client = rnd.int(0, clients);
    const p = busy[client];
    if (p === null || p === undefined) {
      if (started >= count) continue;
      const key = "k" + rnd.int(0, keys);
      const x = rnd.next();
      let input: RegisterInput;
      if (x < 0.5) {
        input = { type: "read" };
      } else if (x < 0.8 || written.length === 0) {
        const value = "v" + written.length;
        written.push(value);
        input = { type: "write", value };
      } else {
        const from = rnd.next() < 0.6
          ? (store.get(key) ?? null)
          : written[rnd.int(0, written.length)]!;
        const to = "v" + written.length;
        written.push(to);
        input = { type: "cas", from, to };
      }
      const y = rnd.next();
      const fate = y < unknownRate ? "unknown" : y < unknownRate + failRate ? "fail" : "ok";
      busy[client] = {
        id: started++,
        key,
        input,
        call: time++,
        fate,
        applied: false,
        output: null,
      };
    } else if (!p.applied && p.fate === "ok") {
      apply(p);
    } else {
      busy[client] = null;
      const base = { id: p.id, client, key: p.key, input: p.input, call: p.call };
      if (p.fate === "ok") {
        history.push({ ...base, output: p.output, ret: time++, status: "ok" });
      } else if (p.fate === "fail") {
        history.push({ ...base, ret: time++, status: "fail" });
      } else {
        history.push({ ...base, ret: null, status: "unknown" });
        lingering.push(p);
      }
    }
  }
  return history;
}
