// bench/wakeup_cost.ts --quick, as a process of the runtime under test: it starts its server
// in a child process, measures, prints one JSON line with every figure, and exits.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, run, within } from "../node/_process.ts";

test("wakeup_cost: --quick prints the CPU of an idle wake-up and of a fetch, then exits", {
  timeout: 60_000,
}, async () => {
  // exercises: ./node_modules/.bin/deno run -A bench/wakeup_cost.ts
  const child = run(["--quick"], { script: join(ROOT, "bench", "wakeup_cost.ts") });
  let code: number | string;
  try {
    code = await within(child.exited, 50_000, "wakeup_cost");
  } finally {
    child.kill("SIGKILL");
  }
  assert.equal(code, 0, child.stderr());
  const line = child.stdout().split("\n").find((l) => l.startsWith("{"));
  assert.ok(line !== undefined, child.stdout());
  const r = JSON.parse(line) as Record<string, unknown>;
  for (const k of ["timer25Us", "timer1Us", "fetchBackToBackUs", "fetchAfterIdleUs"]) {
    assert.ok(typeof r[k] === "number" && Number.isFinite(r[k]), `${k}: ${line}`);
  }
  assert.ok((r.fetchBackToBackUs as number) > 0, line);
});
