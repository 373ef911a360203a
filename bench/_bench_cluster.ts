/**
 * What the deployed benchmark needs of a three-member cluster, ours or
 * etcd's, and the bounded waiting helpers both start-ups use.
 *
 * @module
 */

import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";

/** A running cluster of three member processes on 127.0.0.1. */
export interface BenchCluster {
  /** `ours-deno`, `ours-bun` or `etcd`. */
  readonly system: string;
  /** What runs it (`deno 2.9.6`, `bun 1.4.5`, `etcd 3.4.x`). */
  readonly version: string;
  /** The member processes, member 1 first. */
  readonly members: readonly BenchMember[];
  /** The member that leads now (asked of the cluster, bounded wait). */
  leader(): Promise<BenchMember>;
  /** Stops every member and removes their data. */
  stop(): Promise<void>;
  /**
   * Append requests `member` has sent so far (heartbeats included), when the
   * system reports it (ours: `raft_append_requests_sent_total` of `/metrics`).
   */
  appendsSent?(member: BenchMember): Promise<number | null>;
}

/** One member process. */
export interface BenchMember {
  /** 1, 2, 3. */
  readonly id: number;
  /** Its process id (the runtime's own process: no wrapper). */
  readonly pid: number;
  /** Port its client API listens on (127.0.0.1). */
  readonly port: number;
  /** The process. */
  readonly child: ChildProcess;
  /** Its combined stdout/stderr log file. */
  readonly log: string;
}

/**
 * Polls `probe` every `periodMs` until it answers a value (not `undefined`),
 * at most `timeoutMs`; throws `what` on time-out (with `hint()` appended).
 *
 * @example
 * ```ts
 * import { waitFor } from "./_bench_cluster.ts";
 * let n = 0;
 * console.assert((await waitFor("n reaches 2", () => ++n >= 2 ? n : undefined, 1_000, 1)) === 2);
 * ```
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  periodMs = 100,
  hint: () => string = () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const attempts = Math.ceil(timeoutMs / periodMs) + 1;
  for (let i = 0; i < attempts && Date.now() <= deadline; i++) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, periodMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${hint()}`);
}

/**
 * `fetch` of a JSON answer with a time-out: `{status, json}` (`json` is
 * `null` when the body is not JSON).
 */
export async function fetchJson(
  url: string,
  init: RequestInit = {},
  timeoutMs = 2_000,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, json };
}

/**
 * The last `lines` lines of `file` (or a note that it cannot be read), for
 * error messages.
 *
 * @example
 * ```ts
 * import { tail } from "./_bench_cluster.ts";
 * console.assert(tail("/nonexistent-log", 3).includes("cannot read"));
 * ```
 */
export function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines - 1).join("\n");
  } catch {
    return `(cannot read ${file})`;
  }
}
