/**
 * The chaos suite's short run for CI (issue 15): three node processes of
 * examples/kv.ts on the runtime running this test, durable storage, the
 * peer secret on, concurrent register clients, kill -9 and SIGSTOP faults on
 * loopback, and — where network namespaces and nftables can be made — a
 * short partition run. Asserts that faults were actually injected, that
 * operations completed, and that no anomaly was found (histories
 * linearizable per key, members converged, nothing acknowledged lost).
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runChaos } from "../../chaos/chaos_run.ts";
import { openNetnsTopology } from "../../chaos/netns_topology.ts";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const RUNTIME = "Bun" in globalThis ? "bun" : "deno";
const SEED = 15_001;

function explain(r: Awaited<ReturnType<typeof runChaos>>): string {
  return `${r.summary}\n${r.notes.join("\n")}\n${r.report}`;
}

test(`chaos (short, ${RUNTIME}): kill -9 and pauses on loopback, zero anomalies`, {
  timeout: 90_000,
}, async () => {
  const r = await runChaos({
    root: ROOT,
    runtime: RUNTIME,
    nodes: 3,
    seconds: 20,
    seed: SEED,
    nemeses: ["kill", "pause"],
    clients: 4,
    keys: 3,
  });
  console.log(r.summary);
  assert.deepEqual(r.anomalies, [], explain(r));
  assert.ok((r.faults.counts.get("kill") ?? 0) >= 1, `no kill -9 injected\n${explain(r)}`);
  assert.ok((r.faults.counts.get("pause") ?? 0) >= 1, `no pause injected\n${explain(r)}`);
  assert.ok(r.ops.ok >= 100, `too few operations completed\n${explain(r)}`);
  const mutations = r.verdicts.reduce((n, v) => n + v.operations, 0);
  assert.ok(mutations > 0 && r.verdicts.every((v) => v.result === "ok"), explain(r));
});

test(`chaos (short, ${RUNTIME}): one network partition run in namespaces, zero anomalies`, {
  timeout: 90_000,
}, async (t) => {
  const probe = await openNetnsTopology();
  if (typeof probe === "string") {
    t.skip(`network partitions skipped: ${probe}`);
    return;
  }
  probe.destroy();
  const r = await runChaos({
    root: ROOT,
    runtime: RUNTIME,
    nodes: 3,
    seconds: 15,
    seed: SEED + 1,
    nemeses: ["partition"],
    clients: 4,
    keys: 3,
  });
  console.log(r.summary);
  assert.deepEqual(r.anomalies, [], explain(r));
  assert.ok((r.faults.counts.get("partition") ?? 0) >= 1, `no partition injected\n${explain(r)}`);
  assert.ok(r.ops.ok >= 100, `too few operations completed\n${explain(r)}`);
});
