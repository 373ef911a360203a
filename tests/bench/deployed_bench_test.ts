// bench/deployed_bench.ts in its smallest configuration, as a process of the
// runtime that runs the tests (the harness runs under Deno or Bun): one op
// (put), 1 client, 1 s, no warm-up, Deno nodes, no etcd. Checks the shape of
// its one JSON line and that it left nothing behind — never a figure.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import process from "node:process";
import { join } from "node:path";
import { ROOT, run, within } from "../node/_process.ts";

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A base port whose next three ports are free, or `null`. */
async function freeBase(): Promise<number | null> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    const free = await Promise.all([0, 1, 2].map((i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  return null;
}

const benchDirs = () => readdirSync(tmpdir()).filter((d) => d.startsWith("raft-deployed-bench-"));

test(
  "deployed_bench: put × 1 client × 1 s on three Deno nodes, no etcd: one JSON line of the documented shape, nothing left behind",
  { timeout: 120_000 },
  async (t) => {
    const base = await freeBase();
    if (base === null) {
      t.skip("cannot bind three consecutive ports on 127.0.0.1: deployed benchmark not run");
      return;
    }
    const dirsBefore = new Set(benchDirs());
    // exercises: ./node_modules/.bin/deno run -A bench/deployed_bench.ts --runtime deno,bun --repeat 2
    const child = run([
      "--ops",
      "put",
      "--clients",
      "1",
      "--seconds",
      "1",
      "--warmup",
      "0",
      "--runtime",
      "deno",
      "--etcd",
      "off",
      "--json",
      "--base-port",
      String(base),
    ], { script: join(ROOT, "bench", "deployed_bench.ts") });
    let code: number | string;
    try {
      // Bounded; typically 4–10 s (three node start-ups, 1 s of load, three stops).
      code = await within(child.exited, 100_000, "the deployed benchmark");
    } catch (e) {
      child.kill("SIGINT");
      await within(child.exited, 10_000, "the deployed benchmark after SIGINT").catch(() =>
        child.kill("SIGKILL")
      );
      throw new Error(
        `${
          e instanceof Error ? e.message : String(e)
        }\nstdout: ${child.stdout()}\nstderr: ${child.stderr()}`,
      );
    }
    if (code === 3) {
      t.skip(`cannot bind the benchmark's ports: ${child.stderr().trim()}`);
      return;
    }
    assert.equal(code, 0, `exit ${code}\nstderr: ${child.stderr()}\nstdout: ${child.stdout()}`);
    const lines = child.stdout().split("\n").filter((l) => l.trim() !== "");
    assert.equal(lines.length, 1, `--json prints only the JSON line:\n${child.stdout()}`);
    const r = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(r.bench, "deployed");
    assert.equal(r.system, "ours-deno");
    assert.match(String(r.version), /^deno \d+\.\d+\.\d+$/);
    assert.equal(r.op, "put");
    assert.equal(r.clients, 1);
    assert.equal(r.round, 1);
    assert.equal(r.valueBytes, 256);
    assert.equal(r.keys, 1000);
    for (const k of ["ops", "errors", "seconds", "opsPerSec", "clientCpuSeconds"]) {
      assert.equal(typeof r[k], "number", k);
      assert.ok((r[k] as number) >= 0, k);
    }
    assert.ok((r.ops as number) > 0, "some writes were answered");
    for (const k of ["p50Ms", "p99Ms", "p999Ms", "maxMs"]) assert.equal(typeof r[k], "number", k);
    assert.ok((r.p50Ms as number) <= (r.p99Ms as number));
    assert.ok((r.p99Ms as number) <= (r.p999Ms as number));
    assert.ok(["perf-tracepoints", "proc-io-syscw"].includes(String(r.fsyncSource)));
    assert.match(String(r.client), /^(node-http|fetch) on (deno|bun) /);
    assert.equal(typeof r.statuses, "object");
    const nodes = r.nodes as Record<string, unknown>[];
    assert.deepEqual(nodes.map((n) => n.id), [1, 2, 3]);
    assert.equal(nodes.filter((n) => n.leader === true).length, 1);
    assert.equal(nodes.find((n) => n.leader === true)?.id, r.leader);
    for (const n of nodes) {
      assert.equal(typeof n.pid, "number");
      for (const k of ["cpuSeconds", "cpuUsPerOp", "rssPeakMB", "hwmMB"]) {
        assert.equal(typeof n[k], "number", k);
        assert.ok((n[k] as number) >= 0, k);
      }
      assert.ok((n.rssPeakMB as number) > 0, "rss sampled");
      assert.ok(n.fsyncs === null || typeof n.fsyncs === "number");
      assert.ok(n.fsyncsPerSec === null || typeof n.fsyncsPerSec === "number");
      // Every node process was stopped.
      assert.throws(() => process.kill(n.pid as number, 0), `node pid ${n.pid} is gone`);
    }
    assert.deepEqual(benchDirs().filter((d) => !dirsBefore.has(d)), [], "temp dirs removed");
  },
);
