/**
 * A peer-RPC fuzz run: a cluster of node processes with the secret set
 * (loopback), {@linkcode runPeerFuzz} against it, one summary line.
 *
 * @module
 */

import { appendFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ChaosCluster } from "./chaos_cluster.ts";
import { type ChaosRuntime, detectNodeContract } from "./node_contract.ts";
import { loopbackPlacement } from "./node_placement.ts";
import { runPeerFuzz } from "./peer_fuzz.ts";
import { PidRegistry } from "./stale_cleanup.ts";
import { startRun } from "./run_start.ts";

/**
 * What a fuzz run found.
 *
 * @example
 * ```ts
 * import type { PeerFuzzRunResult } from "./peer_fuzz_run.ts";
 * const r: PeerFuzzRunResult = { ok: true, summary: "chaos fuzz … PASS", anomalies: [], runDir: "/tmp/x" };
 * ```
 */
export interface PeerFuzzRunResult {
  /** No anomaly. */
  readonly ok: boolean;
  /** One line: runtime, nodes, requests, answers by status, anomalies. */
  readonly summary: string;
  /** Anomalies. */
  readonly anomalies: readonly string[];
  /** The run directory (kept when the run failed). */
  readonly runDir: string;
}

/**
 * Starts `nodes` nodes, fuzzes them with `requests` requests, stops them.
 */
export async function runPeerFuzzRun(o: {
  readonly root: string;
  readonly runtime: ChaosRuntime;
  readonly nodes: number;
  readonly requests: number;
  readonly seed: number;
  readonly baseDir?: string;
  readonly keep?: boolean;
  readonly log?: (line: string) => void;
}): Promise<PeerFuzzRunResult> {
  const { clock, runDir } = await startRun("fuzz", o);
  const registry = new PidRegistry();
  const secret = `fuzz-secret-${o.seed}`;
  const clusterId = `fuzz-${o.seed}`;
  const cluster = new ChaosCluster({
    root: o.root,
    runtime: o.runtime,
    contract: await detectNodeContract(o.root, o.runtime),
    runDir,
    clock,
    placement: loopbackPlacement(),
    secret,
    clusterId,
    snapshotEvery: 64,
    heartbeatMs: 100,
    electionTimeoutMs: [500, 1000],
    event: (line) => appendFileSync(join(runDir, "events.log"), line + "\n"),
    onNodeStart: (pid) => registry.add(pid),
  });
  const anomalies: string[] = [];
  let requests = 0;
  let statuses = "";
  try {
    await cluster.start(o.nodes);
    const r = await runPeerFuzz(cluster, {
      seed: o.seed,
      requests: o.requests,
      secret,
      clusterId,
      ...(o.log === undefined ? {} : { log: o.log }),
    });
    requests = r.requests;
    anomalies.push(...r.anomalies);
    statuses = [...r.byStatus].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}:${n}`).join(",");
  } catch (e) {
    anomalies.push(`harness: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  } finally {
    await cluster.close();
    registry.clear();
  }
  const summary =
    `chaos fuzz runtime=${o.runtime} nodes=${o.nodes} seconds=${
      (clock() / 1000).toFixed(0)
    } seed=${o.seed} requests=${requests} answers ${statuses || "none"} ` +
    `anomalies=${anomalies.length} ${anomalies.length === 0 ? "PASS" : "FAIL"}`;
  if (anomalies.length > 0) {
    await writeFile(join(runDir, "report.txt"), [summary, ...anomalies].join("\n") + "\n");
  } else if (o.keep !== true) {
    await rm(runDir, { recursive: true, force: true });
  }
  return { ok: anomalies.length === 0, summary, anomalies, runDir };
}
