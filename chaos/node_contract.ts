/**
 * What the chaos harness knows about the node it drives (`examples/kv.ts`):
 * which flags its `--help` lists and how an address is written, so that the
 * harness builds command lines that the node in this checkout accepts.
 *
 * The node's contract (issue 14): `--id N --addr HOST:PORT --data DIR
 * --init | --join HOST:PORT --secret T --cluster-id C --snapshot-every N
 * --heartbeat MS --election-timeout MIN-MAX`; since issue 15 `--join` takes
 * a list and goes with `--init` (form the cluster only if none of the listed
 * members belongs to one). An older node took `--host`, `--port` and
 * `--join URL`; {@linkcode nodeArgs} writes either form, and leaves out the
 * timing flags a node does not list.
 *
 * @module
 */

import { spawn } from "node:child_process";

/** A JavaScript runtime that runs the node (and the harness). */
export type ChaosRuntime = "deno" | "bun";

/**
 * The command-line contract of the node, read from its `--help`.
 *
 * @example
 * ```ts
 * import { nodeArgs, type NodeContract } from "./node_contract.ts";
 * const contract: NodeContract = { flags: new Set(["addr", "join"]), addrFlag: true, initJoin: true };
 * const args = nodeArgs(contract, { id: 2, host: "127.0.0.1", port: 9002, data: "/tmp/d2",
 *   join: { host: "127.0.0.1", port: 9001 } });
 * console.assert(args.includes("--addr") && args.includes("127.0.0.1:9001"));
 * ```
 */
export interface NodeContract {
  /** Flags the node's `--help` lists, without the leading dashes. */
  readonly flags: ReadonlySet<string>;
  /** `--addr HOST:PORT` (and `--join HOST:PORT`); else `--host`/`--port` and `--join URL`. */
  readonly addrFlag: boolean;
  /** `--init --join A,B`: form the cluster only if none of A, B belongs to one (issue 15). */
  readonly initJoin: boolean;
}

/**
 * A node's address.
 *
 * @example
 * ```ts
 * import type { NodeEndpoint } from "./node_contract.ts";
 * const one: NodeEndpoint = { host: "127.0.0.1", port: 9001 };
 * ```
 */
export interface NodeEndpoint {
  /** Host. */
  readonly host: string;
  /** Port. */
  readonly port: number;
}

/**
 * How one node process is to be started.
 *
 * @example
 * ```ts
 * import type { NodeLaunch } from "./node_contract.ts";
 * const first: NodeLaunch = { id: 1, host: "127.0.0.1", port: 9001, data: "/tmp/d1", init: true };
 * ```
 */
export interface NodeLaunch {
  /** The node's id. */
  readonly id: number;
  /** Address it listens on and advertises. */
  readonly host: string;
  /** Port it listens on and advertises. */
  readonly port: number;
  /** Its data directory (durable log and snapshots). */
  readonly data: string;
  /** Form the cluster (first node only); with `join`, only if none of those belongs to one. */
  readonly init?: boolean;
  /** Members to join through (one, or a list: `--join A,B`). */
  readonly join?: NodeEndpoint | readonly NodeEndpoint[];
  /** The peers' shared secret. */
  readonly secret?: string;
  /** The cluster id given with `--init`. */
  readonly clusterId?: string;
  /** Take a snapshot every this many applied entries. */
  readonly snapshotEvery?: number;
  /** Log entries kept behind a snapshot before the purge. */
  readonly keepLogs?: number;
  /** Heartbeat interval, ms. */
  readonly heartbeatMs?: number;
  /** Election timeout range, ms. */
  readonly electionTimeoutMs?: readonly [number, number];
}

/**
 * The runtime flags a Deno node runs with, as `deno task node`, `npm run
 * node` and docs/deploying.md start it: V8's young generation capped at
 * 4 MB (two 2 MB semi-spaces). Under load Deno otherwise lets it grow to
 * 64 MB, and the leader's RSS peaks 40–50 MB higher at the same throughput
 * and CPU per write (bench/RESULTS.md, "A Deno node's young generation").
 * The harnesses start Deno nodes with these so that they measure and test
 * what is deployed; Bun takes no such flag.
 *
 * @example
 * ```ts
 * import { DENO_NODE_FLAGS } from "./node_contract.ts";
 * console.assert(DENO_NODE_FLAGS.every((flag) => flag.startsWith("--v8-flags=")));
 * ```
 */
export const DENO_NODE_FLAGS: readonly string[] = ["--v8-flags=--max-semi-space-size=2"];

/** The path of the node program, relative to the repository root. */
export const NODE_PROGRAM = "examples/kv.ts";

/**
 * The runtime's executable and the arguments that run `program` with it
 * (on Deno with {@linkcode DENO_NODE_FLAGS}).
 *
 * @example
 * ```ts
 * import { runtimeCommand } from "./node_contract.ts";
 * const [cmd, args] = runtimeCommand("/repo", "bun", "examples/kv.ts");
 * console.assert(cmd.endsWith("/bun") && args[0] === "run");
 * ```
 */
export function runtimeCommand(
  root: string,
  runtime: ChaosRuntime,
  program: string,
): [string, string[]] {
  if (runtime === "deno") {
    return [`${root}/node_modules/.bin/deno`, ["run", "-A", ...DENO_NODE_FLAGS, program]];
  }
  return [`${root}/node_modules/.bin/bun`, ["run", program]];
}

/**
 * Reads the node's `--help` (10 s at most) and returns its contract.
 */
export function detectNodeContract(root: string, runtime: ChaosRuntime): Promise<NodeContract> {
  const [cmd, args] = runtimeCommand(root, runtime, NODE_PROGRAM);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args, "--help"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout?.on("data", (b: Uint8Array) => out += new TextDecoder().decode(b));
    child.stderr?.on("data", (b: Uint8Array) => out += new TextDecoder().decode(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", () => {
      clearTimeout(timer);
      const contract = parseNodeHelp(out);
      if (contract.flags.size === 0) {
        reject(new Error(`${NODE_PROGRAM} --help listed no flags:\n${out.slice(0, 500)}`));
      } else resolve(contract);
    });
  });
}

/**
 * The contract described by a `--help` text.
 *
 * @example
 * ```ts
 * import { parseNodeHelp } from "./node_contract.ts";
 * const c = parseNodeHelp("  --addr HOST:PORT  listen\n  --snapshot-every N");
 * console.assert(c.addrFlag && c.flags.has("snapshot-every") && !c.initJoin);
 * ```
 */
export function parseNodeHelp(help: string): NodeContract {
  const flags = new Set<string>();
  for (const m of help.matchAll(/--([a-z][a-z-]*)/g)) flags.add(m[1]!);
  return { flags, addrFlag: flags.has("addr"), initJoin: /--init --join/.test(help) };
}

/**
 * The command-line arguments (after the program) that start `launch`:
 * timing and snapshot flags only where the node lists them.
 */
export function nodeArgs(contract: NodeContract, launch: NodeLaunch): string[] {
  const args = ["--id", String(launch.id)];
  if (contract.addrFlag) args.push("--addr", `${launch.host}:${launch.port}`);
  else args.push("--host", launch.host, "--port", String(launch.port));
  args.push("--data", launch.data);
  if (launch.init === true) args.push("--init");
  if (launch.join !== undefined) {
    const list: readonly NodeEndpoint[] = "host" in launch.join ? [launch.join] : launch.join;
    args.push(
      "--join",
      list.map(({ host, port }) => contract.addrFlag ? `${host}:${port}` : `http://${host}:${port}`)
        .join(","),
    );
  }
  if (launch.secret !== undefined) args.push("--secret", launch.secret);
  if (launch.clusterId !== undefined && launch.init === true) {
    args.push("--cluster-id", launch.clusterId);
  }
  const optional = (flag: string, value: string | undefined): void => {
    if (value !== undefined && contract.flags.has(flag)) args.push(`--${flag}`, value);
  };
  optional("snapshot-every", launch.snapshotEvery?.toString());
  optional("keep-logs", launch.keepLogs?.toString());
  optional("heartbeat", launch.heartbeatMs?.toString());
  const range = launch.electionTimeoutMs;
  optional("election-timeout", range === undefined ? undefined : `${range[0]}-${range[1]}`);
  return args;
}

/**
 * The base URL of a node address as a membership lists it (`host:port` or a URL).
 *
 * @example
 * ```ts
 * import { baseUrlOf } from "./node_contract.ts";
 * console.assert(baseUrlOf("127.0.0.1:9001") === "http://127.0.0.1:9001");
 * console.assert(baseUrlOf("http://127.0.0.1:9001/") === "http://127.0.0.1:9001");
 * ```
 */
export function baseUrlOf(addr: string): string {
  const url = /^https?:\/\//.test(addr) ? addr : `http://${addr}`;
  return url.replace(/\/+$/, "");
}
