/**
 * One chaos run of the register workload: start the cluster, run the
 * clients and the nemeses for the given seconds, heal, check convergence
 * and acknowledged writes, check the history per key, and report.
 *
 * @module
 */

import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SeededRandom } from "../src/random.ts";
import {
  HistoryRecorder,
  type RegisterInput,
  type RegisterOutput,
} from "../testing/linearizability.ts";
import { ChaosCluster } from "./chaos_cluster.ts";
import { checkConvergence } from "./convergence_check.ts";
import { checkRegisterHistory, type KeyVerdict } from "./history_check.ts";
import { KvClient } from "./kv_client.ts";
import { detectKvApi } from "./kv_api_probe.ts";
import { type FaultLog, type Nemesis, type NemesisContext, runNemesisSchedule } from "./nemesis.ts";
import { type ChaosRuntime, detectNodeContract } from "./node_contract.ts";
import { loopbackPlacement, type NodePlacement } from "./node_placement.ts";
import { openNetnsTopology } from "./netns_topology.ts";
import { partitionNemesis } from "./partition_nemesis.ts";
import { PROCESS_NEMESES } from "./process_nemeses.ts";
import { wipeNemesis } from "./wipe_nemesis.ts";
import { diskNemesis } from "./disk_nemesis.ts";
import { type OperationNote, runRegisterWorkload } from "./register_workload.ts";
import { failureReport, summaryLine } from "./run_report.ts";
import { PidRegistry } from "./stale_cleanup.ts";
import { startRun } from "./run_start.ts";
import { ClusterTimeline } from "./cluster_timeline.ts";

/**
 * The parameters of a run (what `chaos/run.ts` takes on the command line).
 *
 * @example
 * ```ts
 * import type { ChaosRunOptions } from "./chaos_run.ts";
 * const o: ChaosRunOptions = { root: "/work/main", runtime: "deno", nodes: 3, seconds: 30,
 *   seed: 1, nemeses: ["kill", "pause"] };
 * ```
 */
export interface ChaosRunOptions {
  /** The repository root. */
  readonly root: string;
  /** The nodes' runtime. */
  readonly runtime: ChaosRuntime;
  /** Cluster size (3 or 5). */
  readonly nodes: number;
  /** Seconds of load and faults. */
  readonly seconds: number;
  /** Seeds every choice. */
  readonly seed: number;
  /** Nemeses by name: kill, pause, transfer, membership, partition, wipe. */
  readonly nemeses: readonly string[];
  /** Concurrent clients; default 4. */
  readonly clients?: number;
  /** Register keys; default 3. */
  readonly keys?: number;
  /** Where run directories go; default /tmp/xraft-chaos/runs. */
  readonly baseDir?: string;
  /** Keep the run directory of a passing run too. */
  readonly keep?: boolean;
  /** Snapshot interval in entries; default 64. */
  readonly snapshotEvery?: number;
  /** Election timeout range, ms; default [500, 1000]. */
  readonly electionTimeoutMs?: readonly [number, number];
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

/**
 * What a run found.
 */
export interface ChaosRunResult {
  /** No anomaly. */
  readonly ok: boolean;
  /** The summary line. */
  readonly summary: string;
  /** The run directory (deleted when the run passed, unless kept). */
  readonly runDir: string;
  /** Operation counts. */
  readonly ops: { readonly ok: number; readonly fail: number; readonly unknown: number };
  /** Faults injected. */
  readonly faults: FaultLog;
  /** Anomalies, one line each. */
  readonly anomalies: readonly string[];
  /** Per-key verdicts. */
  readonly verdicts: readonly KeyVerdict[];
  /** Snapshots seen taken. */
  readonly snapshots: number;
  /** For a failure, the full report (also in `report.txt`). */
  readonly report: string;
  /** Notes: nemeses skipped and why. */
  readonly notes: readonly string[];
}

/**
 * The command that reproduces a run.
 *
 * @example
 * ```ts
 * import { reproduceCommand } from "./chaos_run.ts";
 * const cmd = reproduceCommand({ root: ".", runtime: "bun", nodes: 3, seconds: 20, seed: 9,
 *   nemeses: ["kill"] });
 * console.assert(cmd.includes("--seed 9") && cmd.includes("--runtime bun"));
 * ```
 */
export function reproduceCommand(o: ChaosRunOptions): string {
  return `node_modules/.bin/deno run -A chaos/run.ts --runtime ${o.runtime} --nodes ${o.nodes} ` +
    `--seconds ${o.seconds} --seed ${o.seed} --nemesis ${o.nemeses.join(",") || "none"} ` +
    `--clients ${o.clients ?? 4} --keys ${o.keys ?? 3}`;
}

/**
 * Runs one chaos run; never leaves a process or a namespace behind.
 */
export async function runChaos(o: ChaosRunOptions): Promise<ChaosRunResult> {
  const log = o.log ?? (() => {});
  const { clock, runDir, event } = await startRun("mixed", { ...o, log });
  const notes: string[] = [];
  const rnd = new SeededRandom(o.seed);
  const registry = new PidRegistry();
  const electionTimeoutMs = o.electionTimeoutMs ?? [500, 1000];

  // Placement: network namespaces when partitions are asked for and can be made.
  let placement: NodePlacement = loopbackPlacement();
  const nemeses: Nemesis[] = [];
  const topology = o.nemeses.includes("partition") ? await openNetnsTopology() : null;
  if (typeof topology === "string") {
    notes.push(`partition nemesis skipped: ${topology}`);
    log(`partition nemesis skipped: ${topology}`);
  } else if (topology !== null) {
    placement = topology;
    nemeses.push(partitionNemesis(topology));
  }
  for (const name of o.nemeses) {
    const n = PROCESS_NEMESES.get(name) ?? (name === "disk" ? diskNemesis : undefined) ??
      (name === "wipe" || name === "wipe-init" ? wipeNemesis(name === "wipe-init") : undefined);
    if (n !== undefined) nemeses.push(n);
    else if (name !== "partition") throw new RangeError(`unknown nemesis ${name}`);
  }

  const contract = await detectNodeContract(o.root, o.runtime);
  const cluster = new ChaosCluster({
    root: o.root,
    runtime: o.runtime,
    contract,
    runDir,
    clock,
    placement,
    secret: `chaos-secret-${o.seed}`,
    clusterId: `chaos-${o.seed}`,
    snapshotEvery: o.snapshotEvery ?? 64,
    heartbeatMs: Math.max(20, Math.round(electionTimeoutMs[0] / 5)),
    electionTimeoutMs,
    event,
    onNodeStart: (pid) => registry.add(pid),
    // The full-disk nemesis works on node 2 (the first to join): a 16 MiB tmpfs.
    ...(o.nemeses.includes("disk") ? { smallDisk: { ids: new Set([2]), mib: 16 } } : {}),
  });
  const anomalies: string[] = [];
  const context: NemesisContext = {
    cluster,
    rnd,
    electionTimeoutMs,
    anomaly: (line) => {
      anomalies.push(line);
      event(`ANOMALY ${line}`);
    },
  };
  const history = new HistoryRecorder<RegisterInput, RegisterOutput>({ now: clock });
  const keyCount = o.keys ?? 3;
  let faults: FaultLog = { counts: new Map(), lines: [] };
  let verdicts: KeyVerdict[] = [];
  let notesById = new Map<number, OperationNote>();
  let seconds = 0;
  const timeline = new ClusterTimeline();
  try {
    log(`run dir ${runDir}; starting ${o.nodes} ${o.runtime} nodes (${placement.kind})`);
    await cluster.start(o.nodes);
    const api = await detectKvApi(cluster);
    if (!api.cas) notes.push("the node has no POST /kv/:key/cas yet: no compare-and-set");
    const client = new KvClient(api, 3_000, (origin) => cluster.isDown(origin));
    log(`cluster up (voters [${cluster.voters}]); load and faults for ${o.seconds} s`);
    const stop = new AbortController();
    const started = clock();
    const workload = runRegisterWorkload({
      seed: o.seed,
      clients: o.clients ?? 4,
      keys: keyCount,
      client,
      // Clients send to members whose process exists (paused ones included).
      targets: () => cluster.members().filter((n) => n.serving).map((n) => n.url),
      history,
      stop: stop.signal,
    });
    const schedule = runNemesisSchedule(nemeses, context, stop.signal, [500, 2000]);
    const watching = timeline.watch(cluster, stop.signal);
    const timer = setTimeout(() => stop.abort(), o.seconds * 1000);
    let work;
    try {
      [faults, work] = await Promise.all([schedule, workload]);
    } finally {
      clearTimeout(timer);
      stop.abort();
      await watching;
    }
    seconds = (clock() - started) / 1000;
    notesById = work.notes;
    const reasons = new Map<string, number>();
    for (const note of work.notes.values()) {
      const why = note.reason.replace(/ \[.*\]$/, "");
      if (why !== "") reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    const top = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 6);
    notes.push(`not ok, by reason: ${top.map(([r, n]) => `${n}x ${r}`).join("; ") || "none"}`);
    log(`healing after ${seconds.toFixed(1)} s (${history.size} operations)`);
    for (const n of nemeses) await n.heal(context);
    topology !== null && typeof topology !== "string" && topology.healAll();
    await cluster.waitLeader(30_000).catch((e) => anomalies.push(String(e)));
    // A final linearizable read of every key, recorded like any operation.
    const keys = [...work.keys].sort();
    for (const key of keys) {
      for (let i = 0; i < 20; i++) {
        const target = cluster.members()[i % cluster.members().length]!.url;
        const id = history.invoke("final", { type: "read" }, key);
        const out = await client.read(target, key, "linearizable");
        if (out.status === "ok") {
          history.ok(id, out.output);
          break;
        }
        history.fail(id);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    const convergence = await checkConvergence(cluster, client, keys, work.acknowledged, 30_000);
    anomalies.push(...convergence.anomalies);
    await timeline.sample(cluster);
    for (const node of cluster.nodes.values()) {
      for (const how of node.unexpectedExits) {
        const hint = how === "code 0" ? ": a SIGTERM/SIGINT from outside the harness?" : "";
        anomalies.push(`node ${node.id} exited on its own (${how}${hint})`);
      }
    }
    verdicts = checkRegisterHistory(history.history(), 60_000);
    for (const v of verdicts) {
      if (v.result === "violation") anomalies.push(`key ${v.key}: not linearizable`);
      if (v.result === "unknown") anomalies.push(`key ${v.key}: check undecided (${v.message})`);
    }
  } catch (e) {
    anomalies.push(`harness: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  } finally {
    await cluster.close();
    registry.clear();
    if (topology !== null && typeof topology !== "string") topology.destroy();
  }
  const ops = { ok: 0, fail: 0, unknown: 0 };
  const ran = history.history();
  for (const op of ran) ops[op.status]++;
  const summary = summaryLine({
    mode: "mixed",
    runtime: o.runtime,
    nodes: o.nodes,
    seconds,
    seed: o.seed,
    ...ops,
    faults: faults.counts,
    snapshots: timeline.snapshotCount(),
    anomalies: anomalies.length,
  });
  await writeFile(join(runDir, "history.json"), JSON.stringify(ran));
  await writeFile(
    join(runDir, "timeline.txt"),
    timeline.linesBetween(-Infinity, Infinity).join("\n") + "\n",
  );
  await writeFile(
    join(runDir, "operations.jsonl"),
    ran.map((op) => JSON.stringify({ ...op, note: notesById.get(op.id) })).join("\n") + "\n",
  );
  await writeFile(join(runDir, "faults.txt"), faults.lines.join("\n") + "\n");
  await writeFile(join(runDir, "summary.txt"), summary + "\n" + notes.join("\n") + "\n");
  let report = "";
  if (anomalies.length > 0) {
    const logs = new Map(
      [...cluster.nodes.keys()].map((id) => [id, join(runDir, `node-${id}.log`)]),
    );
    report = await failureReport({
      verdicts,
      notes: notesById,
      anomalies,
      logs,
      reproduce: reproduceCommand(o),
      runDir,
      timeline,
    });
    await writeFile(join(runDir, "report.txt"), report + "\n");
  } else if (o.keep !== true) {
    await rm(runDir, { recursive: true, force: true });
  }
  return {
    ok: anomalies.length === 0,
    summary,
    runDir,
    ops,
    faults,
    anomalies,
    verdicts,
    snapshots: timeline.snapshotCount(),
    report,
    notes,
  };
}
