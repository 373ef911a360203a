/**
 * The chaos suite's command line: real node processes of `examples/kv.ts`,
 * real faults, every history checked.
 *
 * ```sh
 * # mixed nemeses, register histories checked for linearizability
 * deno run -A chaos/run.ts --runtime deno --nodes 3 --seconds 60 --seed 7 \
 *   --nemesis kill,pause,transfer,membership,partition
 * # crash durability: kill -9 cycles while writes flow, every acknowledged write checked
 * deno run -A chaos/run.ts --mode crash --runtime bun --cycles 100 --seed 7
 * ```
 *
 * Prints one summary line per run (and the report of a failure: the key,
 * the minimal non-linearizable window, node log lines, the command that
 * reproduces the run); exits 0 when no anomaly was found, 1 otherwise, 2
 * on a bad flag. `--runs N` repeats with seeds S, S+1, ….
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { dirname } from "node:path";
import { runChaos } from "./chaos_run.ts";
import { runCrashDurability } from "./crash_durability.ts";
import { runPeerFuzzRun } from "./peer_fuzz_run.ts";
import { type ChaosCliOptions, parseChaosArgs } from "./cli_options.ts";
import { cleanupOwn } from "./stale_cleanup.ts";
import { cleanupStaleMounts } from "./small_disk.ts";

const _ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

async function _main(args: readonly string[]): Promise<number> {
  let o: ChaosCliOptions;
  try {
    o = parseChaosArgs(args);
  } catch (e) {
    console.error(`chaos/run.ts: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  if (o.help) {
    console.log(CHAOS_HELP);
    return 0;
  }
  const log = o.quiet ? undefined : (line: string): void => console.error(`# ${line}`);
  let failed = 0;
  for (let r = 0; r < o.runs; r++) {
    const seed = o.seed + r;
    if (o.mode === "fuzz") {
      const result = await runPeerFuzzRun({
        root: o.root ?? _ROOT,
        runtime: o.runtime,
        nodes: o.nodes,
        requests: o.requests,
        seed,
        keep: o.keep,
        ...(o.dir === undefined ? {} : { baseDir: o.dir }),
        ...(log === undefined ? {} : { log }),
      });
      console.log(result.summary);
      if (!result.ok) {
        failed++;
        console.log([`run dir: ${result.runDir}`, ...result.anomalies.slice(0, 50)].join("\n"));
      }
    } else if (o.mode === "crash") {
      const result = await runCrashDurability({
        root: o.root ?? _ROOT,
        runtime: o.runtime,
        nodes: o.nodes,
        cycles: o.cycles,
        seed,
        keep: o.keep,
        ...(o.dir === undefined ? {} : { baseDir: o.dir }),
        ...(log === undefined ? {} : { log }),
      });
      console.log(result.summary);
      if (!result.ok) {
        failed++;
        console.log(result.report);
      }
    } else {
      const result = await runChaos({
        root: o.root ?? _ROOT,
        runtime: o.runtime,
        nodes: o.nodes,
        seconds: o.seconds,
        seed,
        nemeses: o.nemeses,
        clients: o.clients,
        keys: o.keys,
        keep: o.keep,
        ...(o.dir === undefined ? {} : { baseDir: o.dir }),
        ...(log === undefined ? {} : { log }),
      });
      for (const note of result.notes) console.log(`note: ${note}`);
      console.log(result.summary);
      if (!result.ok) {
        failed++;
        console.log(result.report);
      }
    }
  }
  return failed === 0 ? 0 : 1;
}

/** What `--help` prints. */
export const CHAOS_HELP: string = [
  "usage: chaos/run.ts [--mode mixed|crash|fuzz] [--runtime deno|bun] [--nodes 3|5] [--seconds S]",
  "                    [--seed N] [--runs R] [--nemesis LIST] [--clients C] [--keys K]",
  "                    [--cycles N] [--requests N] [--root DIR] [--dir DIR] [--keep] [--quiet]",
  "",
  "  --mode mixed      register workload under the nemeses, history checked (default)",
  "  --mode crash      kill -9 cycles (random node or leader) while writes flow; every",
  "                    acknowledged write checked on every node (--cycles, default 20)",
  "  --mode fuzz       peer-RPC fuzz of a live cluster with a secret (--requests, default",
  "                    10000): no 5xx, no crash, nothing unauthenticated accepted, still commits",
  "  --nemesis LIST    of kill,pause,transfer,membership,partition,disk,wipe,wipe-init;",
  "                    default kill,pause,transfer,membership (partition needs root and nft:",
  "                    scripts/chaos_setup.sh; skipped with a note otherwise; wipe: a joined",
  "                    voter's data directory wiped, restarted with the same id and flags, then",
  "                    replaced; wipe-init: the same for the node that ran --init; disk: node",
  "                    2's data directory is a 16 MiB tmpfs, filled, freed, node restarted)",
  "  --root DIR        the checkout whose examples/kv.ts runs (default: this one); use a clean",
  "                    clone for long runs while the work tree is being edited",
  "  --dir DIR         where run directories go (default /tmp/xraft-chaos/runs); a failed",
  "                    run's directory is kept (node logs, history.json, report.txt)",
  "Exit: 0 no anomaly, 1 anomalies, 2 bad flag.",
].join("\n");

if (import.meta.main) {
  const args = "Bun" in globalThis ? process.argv.slice(2) : Deno.args;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      for (const line of [...cleanupOwn(), ...cleanupStaleMounts(true)]) console.error(`# ${line}`);
      process.exit(130);
    });
  }
  _main(args).then((code) => process.exit(code), (e) => {
    console.error(e);
    process.exit(1);
  });
}
