/**
 * One node process of a chaos run: started from a {@linkcode NodeLaunch},
 * killed with SIGKILL, paused with SIGSTOP/SIGCONT, restarted on the same
 * data directory, its stdout and stderr written line by line to a log file,
 * each line stamped with the run's clock (the clock of the history), so that
 * a reader can put node log lines beside the operations.
 *
 * @module
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import type { Readable } from "node:stream";
import {
  type ChaosRuntime,
  NODE_PROGRAM,
  nodeArgs,
  type NodeContract,
  type NodeLaunch,
  runtimeCommand,
} from "./node_contract.ts";

/** What a node process is doing, as far as the harness knows. */
export type NodeProcessState = "running" | "paused" | "stopped";

/**
 * Where and how to run one node.
 *
 * @example
 * ```ts
 * import type { NodeProcessOptions } from "./node_process.ts";
 * const o: NodeProcessOptions = {
 *   root: "/work/main", runtime: "deno", logPath: "/tmp/run/node-1.log",
 *   contract: { flags: new Set(["addr"]), addrFlag: true, initJoin: true },
 *   clock: () => performance.now(),
 * };
 * ```
 */
export interface NodeProcessOptions {
  /** The repository root (working directory of the node). */
  readonly root: string;
  /** The runtime that runs the node. */
  readonly runtime: ChaosRuntime;
  /** The node's command-line contract. */
  readonly contract: NodeContract;
  /** The log file (appended to across restarts). */
  readonly logPath: string;
  /** The run's clock, ms: stamps every log line. */
  readonly clock: () => number;
  /** A network namespace to run the node in (`ip netns exec`). */
  readonly netns?: string;
  /** Told the OS process id of every start (to clean up after a crash of the harness). */
  readonly onStart?: (pid: number) => void;
}

const _STOP_WAIT_MS = 5_000;

/**
 * A node process that can be killed, paused and restarted.
 */
export class NodeProcess {
  /** How the node is started (its `init`/`join` flags are kept for restarts). */
  readonly launch: NodeLaunch;
  readonly #options: NodeProcessOptions;
  #child: ChildProcess | null = null;
  #exited: Promise<number | null> = Promise.resolve(null);
  #state: NodeProcessState = "stopped";
  #log: WriteStream;
  /** Times the process was started. */
  starts = 0;
  /** Exit codes or signals of processes that ended on their own (not killed by the harness). */
  readonly unexpectedExits: string[] = [];
  /** How the last process ended (`code N` or a signal), or `null`. */
  lastExit: string | null = null;
  /** The last lines the node printed (stdout and stderr), newest last. */
  readonly lastLines: string[] = [];
  #expectExit = false;
  #listening = false;
  #startedAt = 0;

  /** @param launch the node; @param options where and how */
  constructor(launch: NodeLaunch, options: NodeProcessOptions) {
    this.launch = launch;
    this.#options = options;
    this.#log = createWriteStream(options.logPath, { flags: "a" });
  }

  /** The node's id. */
  get id(): number {
    return this.launch.id;
  }

  /** Its base URL. */
  get url(): string {
    return `http://${this.launch.host}:${this.launch.port}`;
  }

  /** Running, paused or stopped. */
  get state(): NodeProcessState {
    return this.#state;
  }

  /**
   * Whether the process exists and serves: it printed its "listening on"
   * line (or started more than 5 s ago, for a node that prints none).
   */
  get serving(): boolean {
    if (this.#state === "stopped") return false;
    return this.#listening || Date.now() - this.#startedAt > 5_000;
  }

  /** The OS process id, while it runs. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Writes a harness line into the node's log. */
  note(text: string): void {
    this.#log.write(`${this.#stamp()} harness ${text}\n`);
  }

  /** Starts the process (no-op if it runs). */
  start(): void {
    if (this.#state !== "stopped") return;
    const o = this.#options;
    const [cmd, runArgs] = runtimeCommand(o.root, o.runtime, NODE_PROGRAM);
    const args = [...runArgs, ...nodeArgs(o.contract, this.launch)];
    const argv = o.netns === undefined
      ? [cmd, ...args]
      : ["ip", "netns", "exec", o.netns, cmd, ...args];
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: o.root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
      // Its own process group: a signal to the harness's group (Ctrl-C) does
      // not reach it; the harness stops its nodes itself.
      detached: true,
    });
    this.#child = child;
    this.#state = "running";
    this.#listening = false;
    this.#startedAt = Date.now();
    this.#expectExit = false;
    this.starts++;
    this.note(`start #${this.starts} pid ${child.pid}: ${argv.join(" ")}`);
    if (child.pid !== undefined) o.onStart?.(child.pid);
    this.#pipe(child.stdout, "out");
    this.#pipe(child.stderr, "err");
    this.#exited = new Promise((resolve) => {
      child.on("error", (e) => {
        this.note(`spawn error: ${e.message}`);
        this.#ended(child, null);
        resolve(null);
      });
      child.on("exit", (code, signal) => {
        const how = signal ?? `code ${code}`;
        this.note(`exit (${how})`);
        this.lastExit = how;
        if (!this.#expectExit) this.unexpectedExits.push(how);
        this.#ended(child, code);
        resolve(code);
      });
    });
  }

  #ended(child: ChildProcess, _code: number | null): void {
    if (this.#child === child) {
      this.#child = null;
      this.#state = "stopped";
    }
  }

  /** Lets the running process exit on its own without counting it as unexpected. */
  allowExit(): void {
    this.#expectExit = true;
  }

  /** SIGKILL, then waits for the exit. */
  async kill9(): Promise<void> {
    await this.#signalAndWait("SIGKILL");
  }

  /** SIGTERM, then SIGKILL after 5 s; waits for the exit. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    if (this.#state === "paused") this.resume();
    this.#expectExit = true;
    this.note("SIGTERM");
    _signal(child, "SIGTERM");
    const done = await _within(this.#exited, _STOP_WAIT_MS);
    if (!done) await this.kill9();
  }

  async #signalAndWait(signal: "SIGKILL"): Promise<void> {
    const child = this.#child;
    if (child === null) return;
    this.#expectExit = true;
    this.note(`${signal}`);
    _signal(child, signal);
    if (this.#state === "paused") _signal(child, "SIGCONT");
    await _within(this.#exited, _STOP_WAIT_MS);
  }

  /** SIGSTOP. */
  pause(): void {
    if (this.#child === null || this.#state !== "running") return;
    this.note("SIGSTOP");
    _signal(this.#child, "SIGSTOP");
    this.#state = "paused";
  }

  /** SIGCONT. */
  resume(): void {
    if (this.#child === null || this.#state !== "paused") return;
    this.note("SIGCONT");
    _signal(this.#child, "SIGCONT");
    this.#state = "running";
  }

  /** Kills the process if it runs and closes the log. */
  async close(): Promise<void> {
    try {
      await this.kill9();
    } finally {
      await new Promise<void>((resolve) => this.#log.end(() => resolve()));
    }
  }

  #stamp(): string {
    return `t=${this.#options.clock().toFixed(1)}`;
  }

  #pipe(stream: Readable | null, tag: string): void {
    if (stream === null) return;
    let partial = "";
    const decoder = new TextDecoder();
    stream.on("data", (chunk: Uint8Array) => {
      const text = partial + decoder.decode(chunk, { stream: true });
      const lines = text.split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        this.#log.write(`${this.#stamp()} ${tag} ${line}\n`);
        if (line.includes("listening on")) this.#listening = true;
        this.lastLines.push(line);
        if (this.lastLines.length > 8) this.lastLines.shift();
      }
      if (partial.length > 16_384) {
        this.#log.write(`${this.#stamp()} ${tag} ${partial}\n`);
        partial = "";
      }
    });
    stream.on("end", () => {
      if (partial !== "") this.#log.write(`${this.#stamp()} ${tag} ${partial}\n`);
    });
  }
}

/**
 * Sends `signal` to the child's process id (not `child.kill`, which some
 * runtimes turn into a no-op after the first signal).
 */
function _signal(child: ChildProcess, signal: "SIGTERM" | "SIGKILL" | "SIGSTOP" | "SIGCONT"): void {
  if (child.pid === undefined) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // already gone
  }
}

/** Whether `p` settles within `ms`. */
function _within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((resolve) => timer = setTimeout(() => resolve(false), ms));
  return Promise.race([p.then(() => true), timeout]).finally(() => clearTimeout(timer));
}
