/**
 * {@linkcode runNode}: the `main` of a node process — flags, `--help`,
 * start, the line saying where it listens, and its lifecycle: SIGINT /
 * SIGTERM stop it gracefully (exit 0); a node that stops by itself (storage
 * failure, fenced storage) exits 1; a bad flag exits 2.
 *
 * @module
 */

import type { StateMachine } from "../src/storage.ts";
import { FlagError, NODE_HELP, type NodeOptions, parseNodeFlags } from "./node_flags.ts";
import { type NodeApp, type RunningNode, startNode, type StartNodeOptions } from "./start_node.ts";
import { processHost } from "./_process.ts";

/**
 * Options of {@linkcode runNode}.
 *
 * @example
 * ```ts
 * import type { RunNodeOptions } from "./node_process.ts";
 * const options: RunNodeOptions = { name: "kv.ts", whenEmpty: ["--init"] };
 * ```
 */
export interface RunNodeOptions extends StartNodeOptions {
  /** The program's name, prefixed to its one-line errors (e.g. `"kv.ts"`). */
  readonly name: string;
  /** What `--help` prints before the flags: usage and what the program is. */
  readonly about?: string;
  /** Flags used when there are none and no `RAFT_*` variable is set (see `parseNodeFlags`). */
  readonly whenEmpty?: readonly string[];
  /** Arguments; default the process's. */
  readonly args?: readonly string[];
  /** Environment; default the process's. */
  readonly env?: (name: string) => string | undefined;
}

/** How long a stop may take in all before the process exits anyway, in ms. */
const _STOP_DEADLINE = 15_000;

/**
 * Runs a node process for `app`:
 * - `--help` (or `-h`) prints `about` and {@linkcode NODE_HELP}, exits 0;
 * - a bad flag prints `<name>: <message>` on one line to stderr, exits 2;
 * - a node that cannot start (storage, TLS files, port, join) prints why
 *   and exits 1 — among them a node with empty storage whose id is a voter
 *   of the cluster it joins (`RejoinRefused`: its data was lost; the
 *   message says how to recover);
 * - while `--init --join` waits for a listed member, it says so on stdout;
 * - then prints `@x/raft node <id> listening on <url> (<role>)` and runs;
 * - SIGINT/SIGTERM: {@linkcode RunningNode.stop} (a leader hands leadership
 *   over first), then exit 0 (a second signal exits 1 at once);
 * - a node that stops by itself (its storage failed or was fenced by
 *   another process) prints `@x/raft node <id> stopped: <reason>` to stderr
 *   and exits 1.
 *
 * Resolves with the running node (the process exits by itself later).
 *
 * @example
 * ```ts
 * import { runNode } from "./node_process.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * // The main of my-node.ts (it reads the flags and serves until a signal stops it).
 * async function main(): Promise<void> {
 *   await runNode({ stateMachine: () => new MemoryStateMachine() }, { name: "my-node.ts" });
 * }
 * ```
 */
export async function runNode<S extends StateMachine<unknown>>(
  app: NodeApp<S>,
  options: RunNodeOptions,
): Promise<RunningNode<S>> {
  const host = processHost();
  const args = options.args ?? host.args;
  const env = options.env ?? ((name: string) => host.env(name));
  if (args.includes("--help") || args.includes("-h")) {
    console.log(options.about === undefined ? NODE_HELP : `${options.about}\n\n${NODE_HELP}`);
    return host.exit(0);
  }
  let flags: NodeOptions;
  try {
    flags = parseNodeFlags(
      args,
      env,
      options.whenEmpty !== undefined ? { whenEmpty: options.whenEmpty } : {},
    );
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    console.error(`${options.name}: ${e.message}`);
    return host.exit(2);
  }
  const tag = `@x/raft node ${flags.id}`;
  let node: RunningNode<S>;
  try {
    node = await startNode(flags, app, {
      log: (line) => console.log(`${tag}: ${line}`),
      ...options,
    });
  } catch (e) {
    console.error(`${tag} could not start: ${e instanceof Error ? e.message : String(e)}`);
    return host.exit(1);
  }
  const { raft } = node;

  let stopping = false;
  const stop = (code: number, handOver: boolean): void => {
    if (stopping) {
      host.exit(code === 0 ? 1 : code);
    }
    stopping = true;
    setTimeout(() => {
      console.error(`${tag}: stop took over ${_STOP_DEADLINE} ms, exiting`);
      host.exit(code === 0 ? 1 : code);
    }, _STOP_DEADLINE);
    node.stop({ handOver }).then(
      (report) => {
        if (report.handedTo !== null) {
          console.log(`${tag}: handed leadership to node ${report.handedTo}`);
        }
        console.log(`${tag}: stopped`);
        host.exit(code);
      },
      (e) => {
        console.error(`${tag}: stop failed: ${e instanceof Error ? e.message : String(e)}`);
        host.exit(code === 0 ? 1 : code);
      },
    );
  };
  host.onSignal(() => stop(0, true));
  node.failed.then((e) => {
    console.error(`${tag} stopped: ${e.message}`);
    stop(1, false);
  });

  if (raft.isInitialized()) {
    // A lone node elects itself within an election timeout; others may still be starting.
    await raft.metrics.wait({ timeout: 2 * raft.config.electionTimeoutMax }).leader().catch(
      () => {},
    );
  }
  const m = raft.metrics.current;
  const role = m.state === "leader"
    ? "leader"
    : !raft.isInitialized()
    ? "not initialized: waiting to be added to a cluster (--init forms one, --join joins one)"
    : `${m.state}, leader ${m.currentLeader ?? "unknown"}`;
  console.log(`${tag} listening on ${node.url} (${role})`);
  return node;
}
