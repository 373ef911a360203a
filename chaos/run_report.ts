/**
 * What a chaos run prints: one summary line, and for a failure a report a
 * reader can act on — the key, the minimal non-linearizable window of
 * operations, the node log lines around it, and the seeded command that
 * reproduces the run.
 *
 * @module
 */

import { readFile } from "node:fs/promises";
import type { KeyVerdict, RegisterOperation } from "./history_check.ts";
import type { OperationNote } from "./register_workload.ts";
import type { ClusterTimeline } from "./cluster_timeline.ts";

/**
 * The figures of one run, for its summary line.
 *
 * @example
 * ```ts
 * import { summaryLine } from "./run_report.ts";
 * const line = summaryLine({ mode: "mixed", runtime: "deno", nodes: 3, seconds: 30, seed: 1,
 *   ok: 10, fail: 1, unknown: 0, faults: new Map([["kill", 2]]), snapshots: 3, anomalies: 0 });
 * console.assert(line.includes("faults kill=2") && line.endsWith("PASS"));
 * ```
 */
export interface RunFigures {
  /** `mixed` (register histories) or `crash` (durability cycles). */
  readonly mode: string;
  /** Runtime of the nodes. */
  readonly runtime: string;
  /** Cluster size. */
  readonly nodes: number;
  /** Seconds of faults and load (measured). */
  readonly seconds: number;
  /** The seed. */
  readonly seed: number;
  /** Operations that completed. */
  readonly ok: number;
  /** Operations that certainly did not happen. */
  readonly fail: number;
  /** Operations of unknown outcome. */
  readonly unknown: number;
  /** Faults injected, by nemesis. */
  readonly faults: ReadonlyMap<string, number>;
  /** Snapshots taken (largest count of distinct snapshot indexes seen on one node). */
  readonly snapshots: number;
  /** Anomalies found. */
  readonly anomalies: number;
  /** Extra `name=value` figures. */
  readonly extra?: string;
}

/** One line: runtime, nodes, seconds, ops ok/fail/unknown, faults, anomalies, verdict. */
export function summaryLine(f: RunFigures): string {
  const faults = [...f.faults].map(([k, v]) => `${k}=${v}`).join(",") || "none";
  const total = [...f.faults.values()].reduce((a, b) => a + b, 0);
  return `chaos ${f.mode} runtime=${f.runtime} nodes=${f.nodes} seconds=${f.seconds.toFixed(0)} ` +
    `seed=${f.seed} ops ok=${f.ok} fail=${f.fail} unknown=${f.unknown} ` +
    `faults ${faults} (${total}) snapshots=${f.snapshots}${f.extra ? " " + f.extra : ""} ` +
    `anomalies=${f.anomalies} ${f.anomalies === 0 ? "PASS" : "FAIL"}`;
}

/**
 * One operation as a report line.
 *
 * @example
 * ```ts
 * import { describeOperation } from "./run_report.ts";
 * const line = describeOperation({ id: 3, client: 1, key: "r0", input: { type: "read" },
 *   output: "c1-2", call: 10, ret: 12.5, status: "ok" }, undefined);
 * console.assert(line.includes("read") && line.includes("c1-2"));
 * ```
 */
export function describeOperation(op: RegisterOperation, note: OperationNote | undefined): string {
  const input = op.input;
  const what = input.type === "write"
    ? (input.value === null ? "delete" : `write ${JSON.stringify(input.value)}`)
    : input.type === "cas"
    ? `cas ${JSON.stringify(input.from)} -> ${JSON.stringify(input.to)}`
    : note?.kind ?? "read";
  const result = op.status === "ok"
    ? `= ${JSON.stringify(op.output)}`
    : `${op.status.toUpperCase()}${note?.reason ? ` (${note.reason})` : ""}`;
  const ret = op.ret === null ? "…" : op.ret.toFixed(1);
  const at = note?.node ? ` @ ${note.node}` : "";
  return `op ${op.id} client ${op.client} [${op.call.toFixed(1)} .. ${ret}] ${what} ${result}${at}`;
}

/**
 * The report of a failed run: anomalies, each violation's window with the
 * node log lines around it, and the command that reproduces the run.
 */
export async function failureReport(input: {
  readonly verdicts: readonly KeyVerdict[];
  readonly notes: ReadonlyMap<number, OperationNote>;
  readonly anomalies: readonly string[];
  readonly logs: ReadonlyMap<number, string>;
  readonly reproduce: string;
  readonly runDir: string;
  readonly timeline?: ClusterTimeline;
}): Promise<string> {
  const out: string[] = [];
  out.push(`run dir: ${input.runDir}`, `reproduce: ${input.reproduce}`, "", "anomalies:");
  for (const a of input.anomalies) out.push(`  - ${a}`);
  for (const v of input.verdicts) {
    if (v.result !== "violation" || v.window === undefined) continue;
    out.push("", `key ${v.key}: NOT LINEARIZABLE (${v.operations} operations)`, `  ${v.message}`);
    out.push(`  minimal non-linearizable window (${v.window.length} operations):`);
    for (const op of v.window.slice(0, 60)) {
      out.push(`    ${describeOperation(op, input.notes.get(op.id))}`);
    }
    const from = Math.min(...v.window.map((op) => op.call)) - 2000;
    const to = Math.max(...v.window.map((op) => op.ret ?? op.call)) + 2000;
    if (input.timeline !== undefined) {
      out.push(
        `  cluster state in [${from.toFixed(0)}, ${
          to.toFixed(0)
        }] ms (role, term, commit, applied):`,
      );
      for (const line of input.timeline.linesBetween(from, to).slice(-30)) out.push(`    ${line}`);
    }
    out.push(`  node log lines in [${from.toFixed(0)}, ${to.toFixed(0)}] ms:`);
    for (const [id, path] of input.logs) {
      const lines = await logLinesBetween(path, from, to, 40);
      out.push(`    node ${id} (${path}):`);
      for (const line of lines) out.push(`      ${line}`);
    }
  }
  return out.join("\n");
}

/**
 * The lines of a node log stamped `t=` within `[from, to]` ms (at most `limit`, the last ones).
 */
export async function logLinesBetween(
  path: string,
  from: number,
  to: number,
  limit: number,
): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch {
    return ["(no log)"];
  }
  const lines = text.split("\n").filter((line) => {
    const m = /^t=(\d+(?:\.\d+)?)/.exec(line);
    if (m === null) return false;
    const t = Number(m[1]);
    return t >= from && t <= to;
  });
  const cut = lines.length > limit ? [`(… ${lines.length - limit} earlier lines)`] : [];
  return [...cut, ...lines.slice(-limit)].map((l) => l.slice(0, 300));
}
