/**
 * What a process pays, in CPU time, to wake from idle on this machine: a
 * calibration for the CPU-per-operation figures of `deployed_bench.ts` at
 * low load (1 client), where every write wakes each node several times.
 *
 *   deno run -A bench/wakeup_cost.ts
 *   bun bench/wakeup_cost.ts
 *   deno run -A bench/wakeup_cost.ts --quick   # a tenth of the iterations (a smoke test)
 *
 * Measures, in this process (all threads, from `process.cpuUsage()`):
 * - a timer that fires after 25 ms of idleness, and one after 1 ms;
 * - one `fetch` POST of 300 bytes to a server in another process (the
 *   same runtime, started by this one on a free port of 127.0.0.1), sent back to back,
 *   and sent after 25 ms of idleness each.
 *
 * On a virtual machine the difference between a wake-up after idleness
 * and the same work back to back can be several hundred microseconds (a
 * halted virtual CPU to wake, cold caches): measured here (a Firecracker
 * VM), a 25 ms timer costs ~200–350 µs of CPU under Deno, Bun and
 * Node alike, and a `fetch` after idleness ~4× one sent back to back.
 * Prints one line per measure and one JSON line.
 *
 * @module
 */

import process from "node:process";
import { spawn } from "node:child_process";

const FRAME = new Uint8Array(300).fill(7);
const IS_BUN = "Bun" in globalThis;
/** Iterations divided by this (`--quick`: 10). */
const SCALE = process.argv.includes("--quick") ? 10 : 1;

interface Runtimes {
  Bun?: {
    serve(
      o: { port: number; hostname: string; fetch: (r: Request) => Promise<Response> },
    ): { port: number };
  };
  Deno?: {
    serve(
      o: { port: number; hostname: string; onListen(a: { port: number }): void },
      h: (r: Request) => Promise<Response>,
    ): unknown;
  };
}

/** The server (child process): prints the port it listens on. */
function serve(): void {
  const handler = async (req: Request): Promise<Response> => {
    await req.arrayBuffer();
    return new Response(new Uint8Array(40));
  };
  const g = globalThis as Runtimes;
  if (g.Bun !== undefined) {
    console.log(g.Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler }).port);
  } else {
    g.Deno!.serve(
      { port: 0, hostname: "127.0.0.1", onListen: (a) => console.log(a.port) },
      handler,
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** CPU µs per iteration of `step` over `n` iterations. */
async function cpuPer(n: number, step: () => Promise<void>): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) await step();
  const used = process.cpuUsage(start);
  return Math.round((used.user + used.system) / n);
}

let url = "";

async function post(): Promise<void> {
  const res = await fetch(url, { method: "POST", body: FRAME });
  await res.arrayBuffer();
}

async function main(): Promise<void> {
  const script = new URL(import.meta.url).pathname;
  const args = IS_BUN ? [script, "--serve"] : ["run", "-A", script, "--serve"];
  const server = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
  try {
    const port = await new Promise<string>((resolve, reject) => {
      let out = "";
      server.stdout!.on("data", (d: Uint8Array) => {
        out += new TextDecoder().decode(d);
        const line = out.split("\n");
        if (line.length > 1) resolve(line[0]!.trim());
      });
      server.on("exit", (code) => reject(new Error(`the server exited (${code})`)));
      const timer = setTimeout(() => reject(new Error("no server within 10 s")), 10_000);
      server.stdout!.once("data", () => clearTimeout(timer));
    });
    url = `http://127.0.0.1:${port}/`;
    await post();
    const timer25 = await cpuPer(200 / SCALE, () => sleep(25));
    const timer1 = await cpuPer(500 / SCALE, () => sleep(1));
    for (let i = 0; i < 300 / SCALE; i++) await post();
    const fetchBackToBack = await cpuPer(2000 / SCALE, post);
    const fetchAfterIdle = await cpuPer(200 / SCALE, async () => {
      await sleep(25);
      await post();
    });
    const runtime = IS_BUN ? "bun" : "deno";
    console.log(`${runtime}: timer after 25 ms idle ${timer25} µs CPU, after 1 ms ${timer1} µs`);
    console.log(
      `${runtime}: fetch back to back ${fetchBackToBack} µs CPU, ` +
        `after 25 ms idle ${fetchAfterIdle - timer25} µs (+ the timer's ${timer25})`,
    );
    console.log(JSON.stringify({
      runtime,
      timer25Us: timer25,
      timer1Us: timer1,
      fetchBackToBackUs: fetchBackToBack,
      fetchAfterIdleUs: fetchAfterIdle - timer25,
    }));
  } finally {
    server.kill("SIGKILL");
  }
}

if (process.argv.includes("--serve")) serve();
else await main();
