// Deterministic simulation from the command line, under Deno or Bun:
//
//   deno task sim --seeds 200 --from 1 --steps 3000
//   bun bench/sim.ts --seeds 200
//
// Runs seeds from..from+seeds-1, stops at the first violation (unless --keep-going),
// prints it with a one-line command that reproduces it, and exits 1 if any seed failed.
// Options:
//   --seeds N          how many seeds (default 100)
//   --from S           first seed (default 1)
//   --steps M          steps with faults per seed, before the liveness phase (default 3000)
//   --without a,b      fault kinds never injected (partition, cut, isolate, crash, pause,
//                      network, membership, transfer, elect, snapshot, purge)
//   --keep-going       run every seed, report every failure
//   --determinism      run every seed twice and compare the trace hashes
//   --paranoid         check that each step's drain left nothing running
//   --hashes           print each seed's trace hash (compare runs, runtimes, commits)
//   --verbose          print every event (use with --seeds 1)
//   --detail           with --verbose: also every message and storage write
import { formatViolation, type SimResult, Simulator } from "../testing/simulator.ts";
import { FAULT_KINDS, type FaultKind } from "../testing/sim_profile.ts";

interface Host {
  Deno?: { args: string[]; exit(code: number): never; version: { deno: string } };
  Bun?: { version: string };
  process?: { argv: string[]; exit(code: number): never };
}
const host = globalThis as unknown as Host;
const args = host.Deno?.args ?? host.process?.argv.slice(2) ?? [];
const runtime = host.Bun !== undefined
  ? `bun ${host.Bun.version}`
  : host.Deno !== undefined
  ? `deno ${host.Deno.version.deno}`
  : "unknown runtime";

function exit(code: number): never {
  if (host.Deno !== undefined) host.Deno.exit(code);
  if (host.process !== undefined) host.process.exit(code);
  throw new Error(`exit ${code}`);
}

function usage(message: string): never {
  console.error(`sim: ${message}`);
  console.error(
    "usage: sim [--seeds N] [--from S] [--steps M] [--without kinds] [--keep-going] " +
      "[--determinism] [--paranoid] [--hashes] [--verbose] [--detail]",
  );
  exit(2);
}

const opts = {
  seeds: 100,
  from: 1,
  steps: 3000,
  without: [] as FaultKind[],
  keepGoing: false,
  determinism: false,
  paranoid: false,
  hashes: false,
  verbose: false,
  detail: false,
};
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  const value = (): string => {
    const v = args[++i];
    if (v === undefined) usage(`${a} needs a value`);
    return v;
  };
  const int = (): number => {
    const v = value();
    const n = Number(v);
    if (!Number.isSafeInteger(n)) usage(`${a} needs an integer, got ${v}`);
    return n;
  };
  switch (a) {
    case "--seeds":
      opts.seeds = int();
      break;
    case "--from":
      opts.from = int();
      break;
    case "--steps":
      opts.steps = int();
      break;
    case "--without":
      for (const k of value().split(",").filter((x) => x !== "")) {
        if (!FAULT_KINDS.includes(k as FaultKind)) usage(`unknown fault kind ${k}`);
        opts.without.push(k as FaultKind);
      }
      break;
    case "--keep-going":
      opts.keepGoing = true;
      break;
    case "--determinism":
      opts.determinism = true;
      break;
    case "--paranoid":
      opts.paranoid = true;
      break;
    case "--hashes":
      opts.hashes = true;
      break;
    case "--verbose":
      opts.verbose = true;
      break;
    case "--detail":
      opts.detail = true;
      break;
    default:
      usage(`unknown argument ${a}`);
  }
}
if (opts.seeds < 1 || opts.steps < 0) usage("--seeds must be ≥ 1 and --steps ≥ 0");

function reproduce(seed: number): string {
  const without = opts.without.length > 0 ? ` --without ${opts.without.join(",")}` : "";
  return `deno task sim --from ${seed} --seeds 1 --steps ${opts.steps}${without} --verbose`;
}

function run(seed: number): Promise<SimResult> {
  return new Simulator({
    seed,
    steps: opts.steps,
    without: opts.without,
    paranoidDrain: opts.paranoid,
    detail: opts.detail,
    ...(opts.verbose ? { onEvent: (e: string) => console.log(e) } : {}),
  }).run();
}

const started = performance.now();
let ok = 0, steps = 0, ops = 0, virtualMs = 0;
const failed: number[] = [];
const unknownLin: number[] = [];
for (let seed = opts.from; seed < opts.from + opts.seeds; seed++) {
  const r = await run(seed);
  if (opts.hashes) {
    console.log(`seed ${seed} ${r.traceHash} ${r.ok ? "ok" : r.violation?.invariant}`);
  }
  steps += r.steps;
  virtualMs += r.virtualMs;
  ops += r.operations.ok + r.operations.fail + r.operations.unknown + r.operations.pending;
  if (r.linearizability === "unknown") unknownLin.push(seed);
  if (opts.determinism && r.ok) {
    const again = await run(seed);
    if (again.traceHash !== r.traceHash) {
      console.log(
        `seed ${seed}: NOT DETERMINISTIC: trace hash ${r.traceHash} then ${again.traceHash}`,
      );
      console.log(`  reproduce: ${reproduce(seed)}`);
      failed.push(seed);
      if (!opts.keepGoing) break;
      continue;
    }
  }
  if (r.ok) {
    ok++;
    continue;
  }
  failed.push(seed);
  console.log(formatViolation(r.violation!));
  console.log(`  reproduce: ${reproduce(seed)}`);
  if (!opts.keepGoing) break;
}
const seconds = (performance.now() - started) / 1000;
const ran = ok + failed.length;
console.log(
  `${ran} seeds from ${opts.from} (${opts.steps} fault steps each) on ${runtime}: ` +
    `${ok} ok, ${failed.length} failed; ${(ran / seconds).toFixed(1)} seeds/s, ` +
    `${Math.round(steps / seconds)} steps/s, ${ops} client operations, ` +
    `${(virtualMs / 1000).toFixed(0)} s of virtual time in ${seconds.toFixed(1)} s`,
);
if (unknownLin.length > 0) {
  console.log(
    `linearizability check timed out (verdict unknown) on seeds ${unknownLin.join(", ")}`,
  );
}
if (failed.length > 0) {
  console.log(`FAILED seeds: ${failed.join(", ")}; first: ${reproduce(failed[0]!)}`);
  exit(1);
}
