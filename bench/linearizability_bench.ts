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
} from "../testing/linearizability.ts";
import { generateRegisterHistory } from "../testing/register_history.ts";

type Op = Operation<RegisterInput, RegisterOutput>;

const ROUNDS = 5;
const MIN_MS = 1000;

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
const h1k = generateRegisterHistory({ seed: 1, count: 1_000, keys: 5, clients: 10 });
const h10k = generateRegisterHistory({ seed: 2, count: 10_000, keys: 5, clients: 10 });
measure("1k ops, 10 clients, 5 keys", h1k);
measure("10k ops, 10 clients, 5 keys", h10k);
measure("10k ops, 10 clients, 5 keys, 1 bad", corruptOneRead(h10k));
measure(
  "10k ops, 10 clients, 1 key",
  generateRegisterHistory({ seed: 3, count: 10_000, keys: 1, clients: 10 }),
);
