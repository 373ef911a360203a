/**
 * The chaos clients: concurrent loops doing register operations on a few
 * keys through the KV API — write, compare-and-set, delete, linearizable
 * read, follower read, lease read — each recorded in a {@linkcode HistoryRecorder}
 * (invoke just before sending, then ok / fail / unknown), plus writes of
 * unique keys whose acknowledgement is remembered, to check after healing
 * that every acknowledged write is there.
 *
 * @module
 */

import { SeededRandom } from "../src/random.ts";
import type {
  HistoryRecorder,
  RegisterInput,
  RegisterOutput,
  RegisterValue,
} from "../testing/linearizability.ts";
import type { KvClient, KvOutcome, ReadMode } from "./kv_client.ts";
import { sleep } from "./sleep.ts";

/** The register history of a chaos run. */
export type ChaosHistory = HistoryRecorder<RegisterInput, RegisterOutput>;

/**
 * What the harness remembers of one operation beside the history.
 *
 * @example
 * ```ts
 * import type { OperationNote } from "./register_workload.ts";
 * const n: OperationNote = { kind: "lease-read", node: "http://127.0.0.1:9001", reason: "" };
 * ```
 */
export interface OperationNote {
  /** `write`, `cas`, `delete`, `read`, `follower-read`, `lease-read`. */
  readonly kind: string;
  /** The URL that answered last. */
  readonly node: string;
  /** Why it failed or is unknown ("" when ok). */
  readonly reason: string;
}

/**
 * The workload's parameters.
 */
export interface RegisterWorkloadOptions {
  /** Seeds every client's choices. */
  readonly seed: number;
  /** Concurrent clients. */
  readonly clients: number;
  /** Keys of the registers (`r0`, `r1`, …). */
  readonly keys: number;
  /** The HTTP client. */
  readonly client: KvClient;
  /** The base URLs a client may send to (read at each operation). */
  readonly targets: () => readonly string[];
  /** Where operations are recorded. */
  readonly history: ChaosHistory;
  /** Ends the loops (each finishes its operation in flight). */
  readonly stop: AbortSignal;
  /** Pause between a client's operations, ms: up to this; default 20. */
  readonly thinkMs?: number;
  /**
   * The clients move to fresh keys (`r<epoch>-<i>`) every this many ms, so
   * that each key's history stays small enough to check in a long run;
   * default 30 s.
   */
  readonly keyEpochMs?: number;
}

/**
 * What the workload did.
 *
 * @example
 * ```ts
 * import type { WorkloadResult } from "./register_workload.ts";
 * const r: WorkloadResult = { notes: new Map(), acknowledged: new Map([["u-0-1", "v"]]),
 *   unsure: new Set(), keys: new Set(["r0-0"]) };
 * ```
 */
export interface WorkloadResult {
  /** Per history operation id. */
  readonly notes: Map<number, OperationNote>;
  /** Unique keys whose write was acknowledged, with their value. */
  readonly acknowledged: Map<string, string>;
  /** Unique keys whose write's outcome is unknown. */
  readonly unsure: Set<string>;
  /** Every register key used. */
  readonly keys: Set<string>;
}

/**
 * The key of register `i` in key epoch `epoch`.
 *
 * @example
 * ```ts
 * import { registerKey } from "./register_workload.ts";
 * console.assert(registerKey(0, 2) === "r0-2");
 * ```
 */
export function registerKey(epoch: number, i: number): string {
  return `r${epoch}-${i}`;
}

/**
 * Runs the clients until `stop`; resolves when every loop has ended.
 */
export async function runRegisterWorkload(
  options: RegisterWorkloadOptions,
): Promise<WorkloadResult> {
  const result: WorkloadResult = {
    notes: new Map(),
    acknowledged: new Map(),
    unsure: new Set(),
    keys: new Set(),
  };
  const started = performance.now();
  const epochMs = options.keyEpochMs ?? 30_000;
  const epoch = (): number => Math.floor((performance.now() - started) / epochMs);
  const loops: Promise<void>[] = [];
  for (let c = 0; c < options.clients; c++) {
    loops.push(_clientLoop(c, options, result, epoch));
  }
  await Promise.all(loops);
  return result;
}

async function _clientLoop(
  c: number,
  o: RegisterWorkloadOptions,
  result: WorkloadResult,
  epoch: () => number,
): Promise<void> {
  const rnd = new SeededRandom(o.seed * 1_000 + c);
  const seen = new Map<string, RegisterValue>();
  const think = o.thinkMs ?? 20;
  for (let n = 0; !o.stop.aborted && n < 10_000_000; n++) {
    const targets = o.targets();
    if (targets.length === 0) {
      await sleep(100);
      continue;
    }
    const base = targets[rnd.int(0, targets.length)]!;
    const key = registerKey(epoch(), rnd.int(0, o.keys));
    result.keys.add(key);
    const value = `c${c}-${n}`;
    const x = rnd.next();
    let status: string;
    if (x < 0.05) {
      const unique = `u-c${c}-${n}`;
      const out = await o.client.write(base, unique, value);
      if (out.status === "ok") result.acknowledged.set(unique, value);
      else if (out.status === "unknown") result.unsure.add(unique);
      status = out.status;
    } else if (x < 0.35 || (x < 0.55 && !o.client.api.cas)) {
      status = (await _record(o, result, c, key, { type: "write", value }, "write", () =>
        o.client.write(base, key, value))).status;
    } else if (x < 0.55) {
      const from = seen.get(key) ?? null;
      status = (await _record(o, result, c, key, { type: "cas", from, to: value }, "cas", () =>
        o.client.cas(base, key, from, value))).status;
    } else if (x < 0.6) {
      status = (await _record(o, result, c, key, { type: "write", value: null }, "delete", () =>
        o.client.remove(base, key))).status;
    } else {
      // Follower reads (where the node has them) on any member, not redirected.
      const mode: ReadMode = x < 0.8 || (x < 0.9 && !o.client.api.followerReads)
        ? "linearizable"
        : x < 0.9
        ? "follower"
        : "lease";
      const out = await _record(
        o,
        result,
        c,
        key,
        { type: "read" },
        mode === "lease" ? "lease-read" : mode === "follower" ? "follower-read" : "read",
        () => o.client.read(base, key, mode),
      );
      if (out.status === "ok") seen.set(key, out.output);
      status = out.status;
    }
    // After an operation that did not complete, back off (a 503 asks for it).
    const backoff = status === "ok" ? 0 : 100;
    await sleep(rnd.int(0, think + 1) + backoff);
  }
}

async function _record<O extends RegisterOutput>(
  o: RegisterWorkloadOptions,
  result: WorkloadResult,
  client: number,
  key: string,
  input: RegisterInput,
  kind: string,
  call: () => Promise<KvOutcome<O>>,
): Promise<KvOutcome<O>> {
  const id = o.history.invoke(client, input, key);
  let out: KvOutcome<O>;
  try {
    out = await call();
  } catch (e) {
    out = { status: "unknown", reason: `client error: ${String(e)}`, node: "" };
  }
  if (out.status === "ok") o.history.ok(id, out.output);
  else if (out.status === "fail") o.history.fail(id);
  else o.history.unknown(id);
  result.notes.set(id, { kind, node: out.node, reason: out.status === "ok" ? "" : out.reason });
  return out;
}
