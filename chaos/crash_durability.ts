/**
 * Crash durability: N cycles of kill -9 (a random node, or the leader half
 * of the time) while writes of unique keys flow, then a restart on the same
 * data directory. After each cycle the restarted node, once caught up, must
 * hold every write acknowledged since the previous cycle; at the end every
 * node must hold every acknowledged write.
 *
 * @module
 */

import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SeededRandom } from "../src/random.ts";
import { ChaosCluster } from "./chaos_cluster.ts";
import { checkConvergence } from "./convergence_check.ts";
import { detectKvApi } from "./kv_api_probe.ts";
import { KvClient } from "./kv_client.ts";
import { type ChaosRuntime, detectNodeContract } from "./node_contract.ts";
import { loopbackPlacement } from "./node_placement.ts";
import { summaryLine } from "./run_report.ts";
import { sleep, sleepUnless } from "./sleep.ts";
import { ClusterTimeline } from "./cluster_timeline.ts";
import { PidRegistry } from "./stale_cleanup.ts";
import { startRun } from "./run_start.ts";

/**
 * Parameters of a crash-durability run.
 *
 * @example
 * ```ts
 * import type { CrashDurabilityOptions } from "./crash_durability.ts";
 * const o: CrashDurabilityOptions = { root: "/work/main", runtime: "bun", nodes: 3, cycles: 100, seed: 1 };
 * ```
 */
export interface CrashDurabilityOptions {
  /** The repository root. */
  readonly root: string;
  /** The nodes' runtime. */
  readonly runtime: ChaosRuntime;
  /** Cluster size. */
  readonly nodes: number;
  /** kill -9 cycles. */
  readonly cycles: number;
  /** Seeds every choice. */
  readonly seed: number;
  /** Concurrent writers; default 3. */
  readonly writers?: number;
  /** Where run directories go; default /tmp/xraft-chaos/runs. */
  readonly baseDir?: string;
  /** Keep a passing run's directory. */
  readonly keep?: boolean;
  /** Progress lines. */
  readonly log?: (line: string) => void;
}

/**
 * What a crash-durability run found.
 */
export interface CrashDurabilityResult {
  /** No anomaly. */
  readonly ok: boolean;
  /** The summary line. */
  readonly summary: string;
  /** Cycles completed. */
  readonly cycles: number;
  /** Acknowledged writes. */
  readonly acknowledged: number;
  /** Anomalies. */
  readonly anomalies: readonly string[];
  /** Run directory. */
  readonly runDir: string;
  /** Report of a failure. */
  readonly report: string;
}

/**
 * Runs the cycles; never leaves a process behind.
 */
export async function runCrashDurability(
  o: CrashDurabilityOptions,
): Promise<CrashDurabilityResult> {
  const log = o.log ?? (() => {});
  const { clock, runDir, event } = await startRun("crash", { ...o, log });
  const rnd = new SeededRandom(o.seed);
  const registry = new PidRegistry();
  const contract = await detectNodeContract(o.root, o.runtime);
  const cluster = new ChaosCluster({
    root: o.root,
    runtime: o.runtime,
    contract,
    runDir,
    clock,
    placement: loopbackPlacement(),
    secret: `chaos-secret-${o.seed}`,
    clusterId: `chaos-${o.seed}`,
    snapshotEvery: 64,
    heartbeatMs: 100,
    electionTimeoutMs: [500, 1000],
    event,
    onNodeStart: (pid) => registry.add(pid),
  });
  const anomalies: string[] = [];
  const acknowledged = new Map<string, string>();
  const counts = { ok: 0, fail: 0, unknown: 0 };
  let cycles = 0;
  let since: string[] = [];
  const timeline = new ClusterTimeline();
  const started = clock();
  try {
    await cluster.start(o.nodes);
    const client = new KvClient(
      await detectKvApi(cluster),
      3_000,
      (origin) => cluster.isDown(origin),
    );
    const stop = new AbortController();
    const writer = async (w: number): Promise<void> => {
      const r = new SeededRandom(o.seed * 1000 + w);
      for (let n = 0; !stop.signal.aborted && n < 10_000_000; n++) {
        const members = cluster.members().filter((m) => m.serving);
        if (members.length === 0) {
          await sleepUnless(100, stop.signal);
          continue;
        }
        const target = members[r.int(0, members.length)]!.url;
        const key = `d-w${w}-${n}`;
        const out = await client.write(target, key, `${n}`);
        counts[out.status]++;
        if (out.status === "ok") {
          acknowledged.set(key, `${n}`);
          since.push(key);
        }
        await sleepUnless(r.int(0, 10) + (out.status === "ok" ? 0 : 100), stop.signal);
      }
    };
    const writers = Array.from({ length: o.writers ?? 3 }, (_, w) => writer(w));
    const watching = timeline.watch(cluster, stop.signal);
    try {
      for (; cycles < o.cycles; cycles++) {
        await sleep(rnd.int(300, 1200));
        const leader = await cluster.leader();
        const members = cluster.members();
        const victim = rnd.next() < 0.5 && leader !== null
          ? cluster.nodes.get(leader)!
          : members[rnd.int(0, members.length)]!;
        const atRisk = since;
        since = [];
        await victim.kill9();
        event(
          `t=${clock().toFixed(1)} cycle ${cycles + 1}: kill -9 ${
            victim.id === leader ? "leader " : ""
          }${victim.id} (${atRisk.length} writes acknowledged since the last cycle)`,
        );
        await sleep(rnd.int(100, 1000));
        victim.start();
        const missing = await _verifyOn(cluster, client, victim.url, atRisk, acknowledged);
        for (const m of missing) anomalies.push(`cycle ${cycles + 1}: node ${victim.id}: ${m}`);
        if (cycles % 10 === 9) {
          log(`${cycles + 1}/${o.cycles} cycles, ${acknowledged.size} acknowledged`);
        }
        if (anomalies.length > 0) break;
      }
    } finally {
      stop.abort();
      await Promise.all(writers);
      await watching;
    }
    const final = await checkConvergence(cluster, client, [], acknowledged, 60_000);
    anomalies.push(...final.anomalies);
    for (const node of cluster.nodes.values()) {
      for (const how of node.unexpectedExits) {
        anomalies.push(`node ${node.id} exited on its own (${how})`);
      }
    }
  } catch (e) {
    anomalies.push(`harness: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  } finally {
    await cluster.close();
    registry.clear();
  }
  const summary = summaryLine({
    mode: "crash",
    runtime: o.runtime,
    nodes: o.nodes,
    seconds: (clock() - started) / 1000,
    seed: o.seed,
    ...counts,
    faults: new Map([["kill", cycles]]),
    snapshots: timeline.snapshotCount(),
    anomalies: anomalies.length,
    extra: `acknowledged=${acknowledged.size}`,
  });
  let report = "";
  if (anomalies.length > 0) {
    report = [
      `run dir: ${runDir}`,
      `reproduce: node_modules/.bin/deno run -A chaos/run.ts --mode crash --runtime ${o.runtime} ` +
      `--nodes ${o.nodes} --cycles ${o.cycles} --seed ${o.seed}`,
      "anomalies:",
      ...anomalies.slice(0, 50).map((a) => `  - ${a}`),
    ].join("\n");
    await writeFile(join(runDir, "report.txt"), report + "\n");
    await writeFile(join(runDir, "acknowledged.json"), JSON.stringify([...acknowledged]));
  } else if (o.keep !== true) {
    await rm(runDir, { recursive: true, force: true });
  }
  return {
    ok: anomalies.length === 0,
    summary,
    cycles,
    acknowledged: acknowledged.size,
    anomalies,
    runDir,
    report,
  };
}

/**
 * Waits (up to 30 s) until the node at `url` has applied what the leader
 * had committed, then reads `keys` locally on it; the problems found.
 */
async function _verifyOn(
  cluster: ChaosCluster,
  client: KvClient,
  url: string,
  keys: readonly string[],
  acknowledged: ReadonlyMap<string, string>,
): Promise<string[]> {
  const deadline = Date.now() + 30_000;
  let target: number | null = null;
  for (let i = 0; Date.now() < deadline && i < 1000; i++) {
    if (target === null) {
      const leader = await cluster.leader();
      const m = leader === null
        ? null
        : await cluster.admin.metrics(cluster.nodes.get(leader)!.url);
      target = m?.committed ?? null;
    }
    const mine = await cluster.admin.metrics(url);
    if (target !== null && mine !== null && (mine.applied ?? 0) >= target) break;
    await sleep(100);
  }
  if (Date.now() >= deadline) return [`did not catch up within 30 s after restart`];
  const problems: string[] = [];
  for (const key of keys) {
    const out = await client.read(url, key, "local");
    if (out.status !== "ok") problems.push(`key ${key}: local read failed (${out.reason})`);
    else if (out.output !== acknowledged.get(key)) {
      problems.push(`key ${key}: acknowledged ${acknowledged.get(key)}, found ${out.output}`);
    }
  }
  return problems;
}
