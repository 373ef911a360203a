// The simulator commands of docs/testing.md, run as written (deno and bun from
// node_modules/.bin, from the checkout's root): short runs that must pass and say so.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ROOT } from "./_doc_blocks.ts";

/** Runs `program args` in the root; resolves with its exit code and output; killed after 60 s. */
function run(
  program: "deno" | "bun",
  args: readonly string[],
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, "node_modules", ".bin", program), args, {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    const decoder = new TextDecoder();
    child.stdout.on("data", (d: Uint8Array) => (out += decoder.decode(d)));
    child.stderr.on("data", (d: Uint8Array) => (err += decoder.decode(d)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code: number | null) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

// exercises: deno task sim --seeds 3 --steps 500
test("docs/testing.md: deno task sim --seeds 3 --steps 500 passes three seeds", {
  timeout: 90_000,
}, async () => {
  const { code, out, err } = await run("deno", ["task", "sim", "--seeds", "3", "--steps", "500"]);
  assert.equal(code, 0, err);
  assert.match(out, /3 seeds from 1 \(500 fault steps each\) on deno .*: 3 ok, 0 failed/);
});

// exercises: ./node_modules/.bin/bun bench/sim.ts --seeds 3 --steps 500
test("docs/testing.md: bun bench/sim.ts --seeds 3 --steps 500 passes three seeds", {
  timeout: 90_000,
}, async () => {
  const { code, out, err } = await run("bun", ["bench/sim.ts", "--seeds", "3", "--steps", "500"]);
  assert.equal(code, 0, err);
  assert.match(out, /3 seeds from 1 \(500 fault steps each\) on bun .*: 3 ok, 0 failed/);
});

// exercises: deno task sim --from 7 --seeds 1 --steps 200 --verbose
test("docs/testing.md: --verbose replays one seed event by event, the same each time", {
  timeout: 90_000,
}, async () => {
  const args = ["task", "sim", "--from", "7", "--seeds", "1", "--steps", "200", "--verbose"];
  const first = await run("deno", args);
  assert.equal(first.code, 0, first.err);
  const events = first.out.split("\n").filter((l) => /^\d+\.\d{3} /.test(l));
  assert.ok(events.length > 50, `only ${events.length} events`);
  assert.match(events[0]!, /^0\.000 cluster: \d nodes/);
  assert.match(first.out, /1 seeds from 7 \(200 fault steps each\).*: 1 ok, 0 failed/);
  const second = await run("deno", args);
  const again = second.out.split("\n").filter((l) => /^\d+\.\d{3} /.test(l));
  assert.deepEqual(again, events, "the same seed, the same events");
});
