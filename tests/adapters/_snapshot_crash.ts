// Shared by snapshot_crash_test.ts and its child process _snapshot_crash_child.ts.

import type { Config } from "../../src/config.ts";

export const IS_BUN: boolean = "Bun" in globalThis;

/**
 * A snapshot every 1,500 applied entries, keeping 5 behind it: a purge deletes
 * about 1,500 entries, more than one Deno KV atomic holds (at most 1,000
 * mutations), so a purge is several atomics there.
 */
export const CRASH_CONFIG: Partial<Config> = {
  electionTimeoutMin: 60,
  electionTimeoutMax: 120,
  heartbeatInterval: 15,
  leaseMargin: 10,
  snapshotPolicy: { kind: "logs-since-last", logs: 1500 },
  maxInSnapshotLogsToKeep: 5,
};

/** Write number `j`: the key it sets and the value it sets it to. */
export function writeOf(j: number): [string, string] {
  return [`k${j % 97}`, `v${j}-${"x".repeat(40)}`];
}

/** The map after writes `0..m` (inclusive); empty for `m < 0`. */
export function stateAfter(m: number): Map<string, string> {
  const out = new Map<string, string>();
  for (let j = Math.max(0, m - 96); j <= m; j++) {
    const [k, v] = writeOf(j);
    out.set(k, v);
  }
  return out;
}

/** The write number of a value made by {@linkcode writeOf}. */
export function writeNumberOf(value: string): number {
  const m = /^v(\d+)-/.exec(value);
  if (m === null) throw new Error(`not a value of writeOf: ${value.slice(0, 40)}`);
  return Number(m[1]);
}
