/**
 * Throughput of the linearizability checker on generated register
 * histories: 10 concurrent clients on 5 keys, 1k and 10k operations (2% of
 * them failed, 2% timed out), as produced by a real sequential store with
 * random overlapping intervals; plus the same 10k history with one read
 * corrupted (a violation to find), and one hot key for contrast.
 *
 *   deno run bench/linearizability_bench.ts
 *   bun bench/linearizability_bench.ts
 *
 * @module
 */

import {
  checkLinearizable,
  type Operation,
  type RegisterInput,
  registerModel,
  type RegisterOutput,
  type RegisterValue,
} from "../testing/linearizability.ts";
import { SeededRandom } from "../src/random.ts";

type Op = Operation<RegisterInput, RegisterOutput>;

const ROUNDS = 5;
const MIN_MS = 1000;

interface Pending {
  readonly id: number;
  readonly key: string;
  readonly input: RegisterInput;
  readonly call: number;
  readonly fate: "ok" | "fail" | "unknown";
  applied: boolean;
  output: RegisterOutput;
}

/** Same generator as tests/testing/linearizability_test.ts: linearizable by construction. */
function generate(seed: number, count: number, keys: number, clients: number): Op[] {
  const rnd = new SeededRandom(seed);
  const store = new Map<string, RegisterValue>();
  let values = 0;
  const history: Op[] = [];
  const busy: (Pending | null)[] = new Array<Pending | null>(clients).fill(null);
  const lingering: Pending[] = [];
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
      const input: RegisterInput = x < 0.5
        ? { type: "read" }
        : x < 0.8 || values === 0
        ? { type: "write", value: "v" + values++ }
        : {
          type: "cas",
          from: rnd.next() < 0.6 ? (store.get(key) ?? null) : "v" + rnd.int(0, values),
          to: "v" + values++,
        };
      const y = rnd.next();
      const fate = y < 0.02 ? "unknown" : y < 0.04 ? "fail" : "ok";
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
      if (p.fate === "ok") history.push({ ...base, output: p.output, ret: time++, status: "ok" });
      else if (p.fate === "fail") history.push({ ...base, ret: time++, status: "fail" });
      else {
        history.push({ ...base, ret: null, status: "unknown" });
        lingering.push(p);
      }
    }
  }
  return history;
}

function corruptOneRead(history: readonly Op[]): Op[] {
  const reads = history.filter((op) => op.status === "ok" && op.input.type === "read");
  const victim = reads[Math.floor(reads.length * 0.7)]!;
  return history.map((op) =>
    op === victim && op.status === "ok" ? { ...op, output: "never-written" } : op
  );
}

function measure(name: string, history: readonly Op[]): void {
  let result = "";
  for (let i = 0; i < 3; i++) result = checkLinearizable(history, registerModel).result; // warm up
  let best = 0;
  let bestMs = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < MIN_MS / ROUNDS || n === 0) {
      result = checkLinearizable(history, registerModel).result;
      n++;
      elapsed = performance.now() - start;
    }
    best = Math.max(best, (n * history.length * 1000) / elapsed);
    bestMs = Math.min(bestMs, elapsed / n);
  }
  console.log(
    `${name.padEnd(34)} ${result.padEnd(9)} ${
      Math.round(best).toLocaleString("en-US").padStart(11)
    } ops/s  (${bestMs.toFixed(2)} ms per check)`,
  );
}

const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "unknown";
console.log(`linearizability bench on ${runtime}: register histories, best of ${ROUNDS} rounds`);
const h1k = generate(1, 1_000, 5, 10);
const h10k = generate(2, 10_000, 5, 10);
measure("1k ops, 10 clients, 5 keys", h1k);
measure("10k ops, 10 clients, 5 keys", h10k);
measure("10k ops, 10 clients, 5 keys, 1 bad", corruptOneRead(h10k));
measure("10k ops, 10 clients, 1 key", generate(3, 10_000, 1, 10));
