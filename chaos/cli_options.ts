/**
 * The flags of `chaos/run.ts`.
 *
 * @module
 */

import type { ChaosRuntime } from "./node_contract.ts";

/**
 * Parsed flags.
 *
 * @example
 * ```ts
 * import { parseChaosArgs } from "./cli_options.ts";
 * const o = parseChaosArgs(["--runtime", "bun", "--nemesis", "kill,pause"]);
 * console.assert(o.runtime === "bun" && o.nemeses.length === 2);
 * ```
 */
export interface ChaosCliOptions {
  /** `mixed` (register histories under nemeses), `crash` (kill -9 cycles), `fuzz` (peer RPCs). */
  readonly mode: "mixed" | "crash" | "fuzz";
  /** The nodes' runtime. */
  readonly runtime: ChaosRuntime;
  /** Cluster size. */
  readonly nodes: number;
  /** Seconds of load and faults (mixed). */
  readonly seconds: number;
  /** First seed. */
  readonly seed: number;
  /** Runs, with seeds seed, seed+1, …. */
  readonly runs: number;
  /** Nemeses (mixed). */
  readonly nemeses: readonly string[];
  /** Concurrent clients. */
  readonly clients: number;
  /** Register keys. */
  readonly keys: number;
  /** Kill cycles (crash). */
  readonly cycles: number;
  /** Malformed requests (fuzz). */
  readonly requests: number;
  /** Base directory of run directories. */
  readonly dir?: string;
  /** The checkout whose node runs (default: the one holding chaos/). */
  readonly root?: string;
  /** Keep passing runs' directories. */
  readonly keep: boolean;
  /** No progress lines. */
  readonly quiet: boolean;
  /** Print the help. */
  readonly help: boolean;
}

/** The nemeses `--nemesis` accepts. */
export const NEMESIS_NAMES: readonly string[] = [
  "kill",
  "pause",
  "transfer",
  "membership",
  "partition",
  "wipe",
  "wipe-init",
  "disk",
];

function _int(value: string, flag: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new RangeError(`${flag} takes an integer from ${min} to ${max}, got ${value}`);
  }
  return n;
}

/**
 * Parses `args`; a bad flag throws a `RangeError` with a one-line message.
 *
 * @example
 * ```ts
 * import { parseChaosArgs } from "./cli_options.ts";
 * console.assert(parseChaosArgs([]).nodes === 3);
 * ```
 */
export function parseChaosArgs(args: readonly string[]): ChaosCliOptions {
  const flags = new Map<string, string>();
  const booleans = new Set(["keep", "quiet", "help"]);
  for (let i = 0; i < args.length && i < 1000; i++) {
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(args[i]!);
    if (m === null) throw new RangeError(`unexpected argument ${args[i]} (see --help)`);
    const name = m[1]!;
    if (booleans.has(name)) {
      flags.set(name, "true");
      continue;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new RangeError(`--${name} needs a value`);
    flags.set(name, value);
  }
  const known = [
    "mode",
    "runtime",
    "nodes",
    "seconds",
    "seed",
    "runs",
    "nemesis",
    "clients",
    "keys",
    "cycles",
    "requests",
    "root",
    "dir",
    "keep",
    "quiet",
    "help",
  ];
  for (const name of flags.keys()) {
    if (!known.includes(name)) throw new RangeError(`unknown flag --${name} (see --help)`);
  }
  const mode = flags.get("mode") ?? "mixed";
  if (mode !== "mixed" && mode !== "crash" && mode !== "fuzz") {
    throw new RangeError(`--mode takes mixed, crash or fuzz`);
  }
  const runtime = flags.get("runtime") ?? ("Bun" in globalThis ? "bun" : "deno");
  if (runtime !== "deno" && runtime !== "bun") throw new RangeError(`--runtime takes deno or bun`);
  const nemeses = (flags.get("nemesis") ?? "kill,pause,transfer,membership")
    .split(",").map((s) => s.trim()).filter((s) => s !== "" && s !== "none");
  for (const n of nemeses) {
    if (!NEMESIS_NAMES.includes(n)) {
      throw new RangeError(`unknown nemesis ${n} (one of ${NEMESIS_NAMES.join(", ")})`);
    }
  }
  const dir = flags.get("dir");
  const root = flags.get("root");
  return {
    mode,
    runtime,
    nodes: _int(flags.get("nodes") ?? "3", "--nodes", 1, 9),
    seconds: _int(flags.get("seconds") ?? "60", "--seconds", 1, 86_400),
    seed: _int(flags.get("seed") ?? String(Date.now() % 1_000_000), "--seed", 0, 2 ** 40),
    runs: _int(flags.get("runs") ?? "1", "--runs", 1, 100_000),
    nemeses,
    clients: _int(flags.get("clients") ?? "4", "--clients", 1, 64),
    keys: _int(flags.get("keys") ?? "3", "--keys", 1, 100),
    cycles: _int(flags.get("cycles") ?? "20", "--cycles", 1, 100_000),
    requests: _int(flags.get("requests") ?? "10000", "--requests", 1, 10_000_000),
    ...(dir === undefined ? {} : { dir }),
    ...(root === undefined ? {} : { root }),
    keep: flags.has("keep"),
    quiet: flags.has("quiet"),
    help: flags.has("help"),
  };
}
