// bench/cluster_bench.ts as docs/performance.md runs it, with shorter flags (the page's
// figures come from the longer run): a process of the runtime under test, two client
// counts, one JSON line per run with every write counted.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, run, within } from "../node/_process.ts";

test("cluster_bench: --clients 1,64 --ops 2000 --json prints one JSON line per client count", {
  timeout: 60_000,
}, async () => {
  // exercises: ./node_modules/.bin/deno run -A bench/cluster_bench.ts --clients 1,64 --ops 200000 --repeat 3
  const child = run(["--clients", "1,64", "--ops", "2000", "--warmup", "0", "--json"], {
    script: join(ROOT, "bench", "cluster_bench.ts"),
  });
  let code: number | string;
  try {
    code = await within(child.exited, 50_000, "cluster_bench");
  } finally {
    child.kill("SIGKILL");
  }
  assert.equal(code, 0, child.stderr());
  const runs = child.stdout().split("\n").filter((l) => l.startsWith("{")).map((l) =>
    JSON.parse(l) as { clients: number; ops: number; putPerSec: number }
  );
  assert.deepEqual(runs.map((r) => [r.clients, r.ops]), [[1, 2000], [64, 2000]]);
  for (const r of runs) assert.ok(r.putPerSec > 0, JSON.stringify(r));
});
