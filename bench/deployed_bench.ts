/**
 * Deployed benchmark (issue 16): three node processes of `examples/kv.ts`
 * (the deployable node) with the runtime's default durable storage (Deno
 * KV on Deno, bun:sqlite on Bun), talking HTTP to each other, loaded over
 * HTTP by a load generator in its own process (`_load_generator.ts`: fixed
 * concurrency, one keep-alive connection per client, a warm-up, then N
 * seconds) — and, when `etcd` is on PATH, the same load against a
 * three-member etcd through its v3 JSON gateway, in the same run, with the
 * same client, and the ratio ours/etcd.
 *
 *   deno task bench:deployed                                  # every op × 1,64,256 clients, Deno nodes
 *   ./node_modules/.bin/deno run -A bench/deployed_bench.ts --runtime deno,bun --repeat 2
 *   ./node_modules/.bin/bun run bench/deployed_bench.ts --runtime bun   # the harness under Bun too
 *
 * Flags:
 *   --ops put,get,lease     PUT /kv/:key (256-byte values), linearizable GET /kv/:key, lease GET
 *                           (`?read=lease`); etcd: put, linearizable range, serializable range
 *   --clients 1,64,256      concurrent clients (one connection each, one request at a time)
 *   --seconds 10            measured seconds per run
 *   --warmup 2              seconds of the same load before each run, not reported
 *   --runtime deno          runtime(s) of OUR nodes: deno, bun or deno,bun (one cluster each)
 *   --repeat 1              rounds; each round runs every system once per (op, clients),
 *                           the order reversed every other round (ours/etcd alternate)
 *   --etcd auto             auto (etcd from PATH if there), off, or the path of an etcd binary
 *   --client node-http      the load generator's HTTP client: node-http or fetch (see below)
 *   --client-runtime R      runtime of the load generator (default: the one running this)
 *   --fsync auto            auto | perf | syscw (see below)
 *   --keys 1000             keys spread over (uniformly at random)
 *   --value-bytes 256       size of each written value
 *   --base-port 22001       ours on Deno: 22001–22003, ours on Bun: +10, etcd clients +20, peers +30
 *   --node-args "ARGS"      extra runtime flags for our nodes, {id} = the node's id
 *                           (e.g. "--inspect=127.0.0.1:933{id}" for bench/_cdp_profile.ts); Deno
 *                           nodes always get DENO_NODE_FLAGS (chaos/node_contract.ts) first, as
 *                           deployed; a later --v8-flags value overrides theirs
 *   --node-flags "FLAGS"    extra examples/kv.ts flags (e.g. "--election-timeout 1000-2000",
 *                           etcd's default, to keep one leader while profiling a loaded machine)
 *   --json                  print only the JSON lines
 *
 * Per run it prints ops/s, p50 / p99 / p999 latency, and per member process
 * (from `/proc`): CPU seconds per operation (utime + stime over the
 * window, every thread), peak RSS (VmRSS sampled every 200 ms over the
 * window, and VmHWM, the process's lifetime peak), fsyncs per second; then
 * one JSON line. At the end, a table per op of every system with the
 * ratios ours/etcd (the median of the rounds).
 *
 * fsyncs: counted with `perf stat` on the kernel tracepoints
 * `syscalls:sys_enter_fsync` + `sys_enter_fdatasync` for each member
 * process (no slowdown: counted in the kernel; `strace -c -p` would stop
 * every thread at every syscall and distort the throughput measured). When
 * perf cannot count them, `/proc/<pid>/io` syscw (every write-family
 * syscall, sockets included) is reported instead, as a proxy, and the JSON
 * says which (`fsyncSource`).
 *
 * The client: `node:http` with a keep-alive Agent by default, `maxSockets`
 * = clients, so each client is exactly one connection (the fixed
 * concurrency asked for), and the same client issue 16's first side-by-side
 * figures used for etcd and ours, so the numbers compare. `--client fetch`
 * is there to compare: measured here (Deno 2.9.6 load generator, 64
 * clients, alternating runs) both kept one connection per client (64
 * established, no reconnects) and cost the load generator the same CPU per
 * request within the noise (~100 µs per lease GET, ~190 µs per PUT) — the
 * load generator shares the 2 cores with the members, so what it costs is
 * in every figure, and equally for ours and etcd.
 *
 * Every cluster is started before the first run and stopped at the end;
 * every process and temp dir is removed on the way out, Ctrl-C included.
 * Exit codes: 0; 1 on a failure; 2 on a bad flag; 3 when a port cannot be
 * bound.
 *
 * The harness runs under Deno (`deno task bench:deployed`) or Bun (`bun run
 * bench/deployed_bench.ts`); which runtime runs OUR NODES is `--runtime`,
 * independent of it.
 *
 * @module
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, release } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { BenchCluster, BenchMember } from "./_bench_cluster.ts";
import { cleanupAll, installCleanupHandlers, stopChild, trackChild } from "./_cleanup.ts";
import { findEtcd, startEtcdCluster } from "./_etcd_cluster.ts";
import { countFsyncs, type FsyncSource, perfCanCountFsyncs } from "./_fsync_counter.ts";
import type { LoadConfig, LoadResult } from "./_load_generator.ts";
import { cpuSeconds, memoryMB, RssSampler } from "./_proc_stats.ts";
import { startRaftCluster, versionOf } from "./_raft_cluster.ts";

/** The flags of the benchmark, parsed. */
export interface DeployedBenchOptions {
  /** Operations to run. */
  readonly ops: readonly LoadConfig["op"][];
  /** Client counts to run. */
  readonly clients: readonly number[];
  /** Measured seconds per run. */
  readonly seconds: number;
  /** Warm-up seconds per run. */
  readonly warmup: number;
  /** Runtimes of our nodes (one cluster each). */
  readonly runtimes: readonly ("deno" | "bun")[];
  /** Rounds. */
  readonly repeat: number;
  /** `auto`, `off` or a path. */
  readonly etcd: string;
  /** The load generator's HTTP client. */
  readonly client: LoadConfig["client"];
  /** The load generator's runtime. */
  readonly clientRuntime: "deno" | "bun";
  /** fsync counting. */
  readonly fsync: "auto" | "perf" | "syscw";
  /** Number of keys. */
  readonly keys: number;
  /** Value size in bytes. */
  readonly valueBytes: number;
  /** First port. */
  readonly basePort: number;
  /** Extra runtime flags for our nodes. */
  readonly nodeArgs: readonly string[];
  /** Extra `examples/kv.ts` flags for our nodes. */
  readonly nodeFlags: readonly string[];
  /** JSON lines only. */
  readonly json: boolean;
}

/** Per member process, over one run's window. */
export interface NodeFigures {
  /** 1, 2, 3. */
  readonly id: number;
  /** Whether it led during the run. */
  readonly leader: boolean;
  /** Its process id. */
  readonly pid: number;
  /** CPU seconds (user + system) over the window. */
  readonly cpuSeconds: number;
  /** CPU µs per operation of the run. */
  readonly cpuUsPerOp: number;
  /** Peak VmRSS sampled over the window, MiB. */
  readonly rssPeakMB: number;
  /** VmHWM at the end of the window (lifetime peak), MiB. */
  readonly hwmMB: number;
  /** fsync + fdatasync calls over the window (or write syscalls: see `fsyncSource`). */
  readonly fsyncs: number | null;
  /** The same per second. */
  readonly fsyncsPerSec: number | null;
}

/** The JSON line of one run. */
export interface RunRecord extends LoadResult {
  /** Always `deployed`. */
  readonly bench: "deployed";
  /** `ours-deno`, `ours-bun` or `etcd`. */
  readonly system: string;
  /** The version of what ran it. */
  readonly version: string;
  /** The operation. */
  readonly op: LoadConfig["op"];
  /** Concurrent clients. */
  readonly clients: number;
  /** Round number, from 1. */
  readonly round: number;
  /** The leading member's id when the run started (its figures are the "leader" ones). */
  readonly leader: number;
  /** The leading member's id when the run ended (differs if leadership moved). */
  readonly leaderAtEnd: number | null;
  /** Per member. */
  readonly nodes: readonly NodeFigures[];
  /**
   * Append requests the leader sent per operation over the window, heartbeats
   * included (ours only; `null` for etcd or when unknown): ~2 means one
   * request per write to each of the 2 followers, no batching.
   */
  readonly leaderAppendsPerOp: number | null;
  /** Where the fsync figures come from. */
  readonly fsyncSource: FsyncSource;
  /** The load generator's client and runtime. */
  readonly client: string;
  /** Value size. */
  readonly valueBytes: number;
  /** Key count. */
  readonly keys: number;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const HARNESS_RUNTIME: "deno" | "bun" = "Bun" in globalThis ? "bun" : "deno";

class FlagError extends Error {}

const FLAGS_WITH_VALUE = new Set([
  "--ops",
  "--clients",
  "--seconds",
  "--warmup",
  "--runtime",
  "--repeat",
  "--etcd",
  "--client",
  "--client-runtime",
  "--fsync",
  "--keys",
  "--value-bytes",
  "--base-port",
  "--node-args",
  "--node-flags",
]);

function list(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function positive(name: string, v: string, allowZero = false): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) {
    throw new FlagError(`${name}: not a ${allowZero ? "non-negative" : "positive"} number: ${v}`);
  }
  return n;
}

/**
 * Parses the flags (see the module doc); throws on a bad one.
 *
 * @example
 * ```ts
 * import { parseDeployedBenchFlags } from "./deployed_bench.ts";
 * const o = parseDeployedBenchFlags(["--ops", "put", "--clients", "1,64"]);
 * console.assert(o.ops.length === 1 && o.clients[1] === 64);
 * ```
 */
export function parseDeployedBenchFlags(argv: readonly string[]): DeployedBenchOptions {
  const o = {
    ops: ["put", "get", "lease"] as LoadConfig["op"][],
    clients: [1, 64, 256],
    seconds: 10,
    warmup: 2,
    runtimes: ["deno"] as ("deno" | "bun")[],
    repeat: 1,
    etcd: "auto",
    client: "node-http" as LoadConfig["client"],
    clientRuntime: HARNESS_RUNTIME as "deno" | "bun",
    fsync: "auto" as "auto" | "perf" | "syscw",
    keys: 1000,
    valueBytes: 256,
    basePort: 22001,
    nodeArgs: [] as string[],
    nodeFlags: [] as string[],
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    if (flag === "--json") {
      o.json = true;
      continue;
    }
    if (flag === "--help" || flag === "-h") throw new FlagError("help");
    const [name, inline] = flag.includes("=") ? flag.split(/=(.*)/s, 2) : [flag, undefined];
    if (!FLAGS_WITH_VALUE.has(name!)) throw new FlagError(`unknown flag ${name}`);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new FlagError(`${name}: missing value`);
    switch (name) {
      case "--ops":
        o.ops = list(value).map((op) => {
          if (op !== "put" && op !== "get" && op !== "lease") {
            throw new FlagError(`--ops: unknown op ${op} (put, get, lease)`);
          }
          return op;
        });
        break;
      case "--clients":
        o.clients = list(value).map((c) => Math.floor(positive("--clients", c)));
        break;
      case "--seconds":
        o.seconds = positive("--seconds", value);
        break;
      case "--warmup":
        o.warmup = positive("--warmup", value, true);
        break;
      case "--runtime":
        o.runtimes = list(value).map((r) => {
          if (r !== "deno" && r !== "bun") throw new FlagError(`--runtime: deno or bun, not ${r}`);
          return r;
        });
        break;
      case "--repeat":
        o.repeat = Math.floor(positive("--repeat", value));
        break;
      case "--etcd":
        o.etcd = value;
        break;
      case "--client":
        if (value !== "node-http" && value !== "fetch") {
          throw new FlagError(`--client: node-http or fetch, not ${value}`);
        }
        o.client = value;
        break;
      case "--client-runtime":
        if (value !== "deno" && value !== "bun") {
          throw new FlagError(`--client-runtime: deno or bun, not ${value}`);
        }
        o.clientRuntime = value;
        break;
      case "--fsync":
        if (value !== "auto" && value !== "perf" && value !== "syscw") {
          throw new FlagError(`--fsync: auto, perf or syscw, not ${value}`);
        }
        o.fsync = value;
        break;
      case "--keys":
        o.keys = Math.floor(positive("--keys", value));
        break;
      case "--value-bytes":
        o.valueBytes = Math.floor(positive("--value-bytes", value));
        break;
      case "--base-port":
        o.basePort = Math.floor(positive("--base-port", value));
        if (o.basePort + 32 > 65_535) throw new FlagError(`--base-port: too high: ${value}`);
        break;
      case "--node-args":
        o.nodeArgs = value.split(/\s+/).filter((s) => s !== "");
        break;
      case "--node-flags":
        o.nodeFlags = value.split(/\s+/).filter((s) => s !== "");
        break;
      default:
        throw new FlagError(`unknown flag ${name}`);
    }
  }
  if (o.ops.length === 0 || o.clients.length === 0 || o.runtimes.length === 0) {
    throw new FlagError("--ops, --clients and --runtime need at least one value each");
  }
  return o;
}

function binaryOf(runtime: "deno" | "bun"): string {
  return join(ROOT, "node_modules", ".bin", runtime);
}

function portFree(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", (e: Error) => resolve(e.message));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(null)));
  });
}

/** Runs one load generator over `member` of `cluster`, measuring the members over its window. */
async function runOnce(
  cluster: BenchCluster,
  o: DeployedBenchOptions,
  op: LoadConfig["op"],
  clients: number,
  round: number,
  prefill: boolean,
  fsyncSource: FsyncSource,
  clientLabel: string,
): Promise<RunRecord> {
  const leader: BenchMember = await cluster.leader();
  const config: LoadConfig = {
    target: cluster.system === "etcd" ? "etcd" : "ours",
    host: "127.0.0.1",
    port: leader.port,
    op,
    clients,
    warmupSeconds: o.warmup,
    seconds: o.seconds,
    keys: o.keys,
    valueBytes: o.valueBytes,
    client: o.client,
    prefill,
  };
  const script = join(ROOT, "bench", "_load_generator.ts");
  const args = o.clientRuntime === "deno"
    ? ["run", "-A", script, JSON.stringify(config)]
    : ["run", script, JSON.stringify(config)];
  const child = trackChild(
    spawn(binaryOf(o.clientRuntime), args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] }),
  );
  const pids = cluster.members.map((m) => m.pid);
  let cpuBefore: (number | null)[] = [];
  let cpuAfter: (number | null)[] = [];
  let sampler: RssSampler | null = null;
  let peaks: number[] = [];
  let hwm: number[] = [];
  let fsyncWindows: ReturnType<typeof countFsyncs>[] = [];
  let fsyncCounts: Promise<(number | null)[]> = Promise.resolve([]);
  let result: LoadResult | null = null;
  const appendsSent = cluster.appendsSent?.bind(cluster);
  let appendsBefore: Promise<number | null> = Promise.resolve(null);
  let appendsAfter: Promise<number | null> = Promise.resolve(null);
  let stderr = "";
  let buffered = "";
  child.stderr?.on("data", (d: Uint8Array) => {
    stderr = (stderr + new TextDecoder().decode(d)).slice(-4_000);
  });
  const onLine = (line: string) => {
    if (line === "START") {
      cpuBefore = pids.map(cpuSeconds);
      fsyncWindows = pids.map((pid) => countFsyncs(pid, fsyncSource));
      sampler = new RssSampler(pids, 200);
      if (appendsSent !== undefined) appendsBefore = appendsSent(leader);
    } else if (line === "END") {
      cpuAfter = pids.map(cpuSeconds);
      fsyncCounts = Promise.all(fsyncWindows.map((w) => w.stop()));
      peaks = sampler?.stop() ?? [];
      hwm = pids.map((pid) => memoryMB(pid)?.hwm ?? NaN);
      if (appendsSent !== undefined) appendsAfter = appendsSent(leader);
    } else if (line.startsWith("RESULT ")) {
      result = JSON.parse(line.slice("RESULT ".length)) as LoadResult;
    }
  };
  child.stdout?.on("data", (d: Uint8Array) => {
    buffered += new TextDecoder().decode(d);
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) onLine(line.trim());
  });
  const limitMs = (o.warmup + o.seconds + (prefill ? 120 : 0) + 60) * 1000;
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      stopChild(child, 2_000, "SIGTERM");
      resolve(null);
    }, limitMs);
    child.once("exit", (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  const counts = await fsyncCounts;
  const [a0, a1] = await Promise.all([appendsBefore, appendsAfter]);
  const leaderAtEnd = await cluster.leader().then((m) => m.id, () => null);
  (sampler as RssSampler | null)?.stop();
  const r = result as LoadResult | null;
  if (code !== 0 || r === null) {
    throw new Error(
      `${cluster.system} ${op} ${clients} clients: the load generator ${
        code === null ? "timed out" : `exited ${code}`
      }: ${stderr.trim()}`,
    );
  }
  const nodes: NodeFigures[] = cluster.members.map((m, i) => {
    const cpu = (cpuAfter[i] ?? NaN) - (cpuBefore[i] ?? NaN);
    const fsyncs = counts[i] ?? null;
    return {
      id: m.id,
      leader: m.id === leader.id,
      pid: m.pid,
      cpuSeconds: cpu,
      cpuUsPerOp: r.ops > 0 ? (cpu / r.ops) * 1e6 : NaN,
      rssPeakMB: peaks[i] ?? NaN,
      hwmMB: hwm[i] ?? NaN,
      fsyncs,
      fsyncsPerSec: fsyncs === null ? null : fsyncs / r.seconds,
    };
  });
  return {
    bench: "deployed",
    system: cluster.system,
    version: cluster.version,
    op,
    clients,
    round,
    ...r,
    leader: leader.id,
    leaderAtEnd,
    nodes,
    leaderAppendsPerOp: a0 === null || a1 === null || r.ops === 0 ? null : (a1 - a0) / r.ops,
    fsyncSource,
    client: clientLabel,
    valueBytes: o.valueBytes,
    keys: o.keys,
  };
}

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n)
    ? n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits })
    : "–";
const ms = (n: number): string => (n < 10 ? fmt(n, 2) : n < 100 ? fmt(n, 1) : fmt(n));

function describe(r: RunRecord): string {
  const head = `${r.system.padEnd(9)} ${r.op.padEnd(5)} ${String(r.clients).padStart(3)} clients` +
    ` (round ${r.round}): ${fmt(r.opsPerSec).padStart(7)} ops/s  p50 ${ms(r.p50Ms)} ms  p99 ${
      ms(r.p99Ms)
    } ms  p999 ${ms(r.p999Ms)} ms` +
    (r.errors > 0 ? `  ERRORS ${r.errors} (statuses ${JSON.stringify(r.statuses)})` : "") +
    (r.leaderAtEnd !== r.leader
      ? `  LEADER MOVED ${r.leader} → ${r.leaderAtEnd ?? "none"} (${r.redirects} redirects)`
      : "");
  const fsyncLabel = r.fsyncSource === "perf-tracepoints" ? "fsyncs" : "write syscalls (proxy)";
  const nodes = r.nodes.map((n) =>
    `    member ${n.id}${n.leader ? " (leader)" : "         "}: cpu ${
      fmt(n.cpuUsPerOp).padStart(5)
    } µs/op (${fmt(n.cpuSeconds, 2)} s)  rss peak ${fmt(n.rssPeakMB)} MB (hwm ${
      fmt(n.hwmMB)
    })  ${fsyncLabel} ${n.fsyncsPerSec === null ? "–" : fmt(n.fsyncsPerSec)}/s${
      n.leader && n.fsyncs !== null && n.fsyncs > 0 && r.op === "put"
        ? ` (${fmt(r.ops / n.fsyncs, 1)} writes per fsync)`
        : ""
    }`
  );
  const appends = r.leaderAppendsPerOp === null ? [] : [
    `    leader sent ${fmt(r.leaderAppendsPerOp, 2)} append requests per op (heartbeats included)`,
  ];
  return [head, ...nodes, ...appends].join("\n");
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function summary(records: RunRecord[], systems: string[], o: DeployedBenchOptions): string {
  const out: string[] = [];
  const hasEtcd = systems.includes("etcd");
  for (const op of o.ops) {
    out.push(
      `\n${op} (median of ${o.repeat} round${o.repeat > 1 ? "s" : ""}; ops/s (p99 ms)${
        hasEtcd ? "; ×: ours/etcd" : ""
      }; leader CPU µs/op)`,
    );
    out.push(["clients", ...systems].map((s) => s.padStart(s === "clients" ? 7 : 30)).join(" | "));
    for (const clients of o.clients) {
      const cell = (system: string): { ops: number; text: string } => {
        const rs = records.filter((r) =>
          r.op === op && r.clients === clients && r.system === system
        );
        const ops = median(rs.map((r) => r.opsPerSec));
        const p99 = median(rs.map((r) => r.p99Ms));
        const cpu = median(rs.map((r) => r.nodes.find((n) => n.leader)?.cpuUsPerOp ?? NaN));
        return { ops, text: `${fmt(ops)} (${ms(p99)}) ${fmt(cpu)}µs` };
      };
      const etcd = hasEtcd ? cell("etcd").ops : NaN;
      const cells = systems.map((s) => {
        const c = cell(s);
        const ratio = s !== "etcd" && Number.isFinite(etcd) && etcd > 0
          ? ` ×${fmt(c.ops / etcd, 2)}`
          : "";
        return (c.text + ratio).padStart(30);
      });
      out.push([String(clients).padStart(7), ...cells].join(" | "));
    }
  }
  return out.join("\n");
}

/**
 * Runs the benchmark with `o`: starts the clusters, runs every (op,
 * clients, round, system), prints as it goes, stops everything. Answers
 * the records.
 */
export async function runDeployedBench(o: DeployedBenchOptions): Promise<RunRecord[]> {
  const say = (s: string) => {
    if (!o.json) process.stdout.write(s + "\n");
  };
  installCleanupHandlers();
  const portsOf = (runtime: "deno" | "bun") =>
    [0, 1, 2].map((i) => o.basePort + (runtime === "deno" ? 0 : 10) + i);
  let etcdBinary: string | null = null;
  if (o.etcd === "auto") etcdBinary = findEtcd();
  else if (o.etcd !== "off") etcdBinary = o.etcd;
  const ports = [
    ...o.runtimes.flatMap(portsOf),
    ...(etcdBinary === null ? [] : [20, 21, 22, 30, 31, 32].map((d) => o.basePort + d)),
  ];
  for (const port of ports) {
    const err = await portFree(port);
    if (err !== null) {
      process.stderr.write(`cannot bind 127.0.0.1:${port}: ${err}\n`);
      process.exit(3);
    }
  }
  const fsyncSource: FsyncSource = o.fsync === "syscw"
    ? "proc-io-syscw"
    : perfCanCountFsyncs()
    ? "perf-tracepoints"
    : "proc-io-syscw";
  if (o.fsync === "perf" && fsyncSource !== "perf-tracepoints") {
    throw new Error("--fsync perf: perf cannot count the fsync tracepoints here");
  }
  const clientLabel = `${o.client} on ${versionOf(o.clientRuntime, binaryOf(o.clientRuntime))}`;
  const cpuList = cpus();
  say(`deployed benchmark — ${new Date().toISOString()}`);
  say(
    `machine: ${cpuList.length} cores (${cpuList[0]?.model ?? "?"}), Linux ${release()}; ` +
      `harness on ${HARNESS_RUNTIME}, load generator: ${clientLabel}`,
  );
  say(
    `fsyncs: ${
      fsyncSource === "perf-tracepoints"
        ? "perf stat on syscalls:sys_enter_fsync + sys_enter_fdatasync per process"
        : "perf cannot count them here: /proc/<pid>/io syscw (all write syscalls) as a proxy"
    }`,
  );
  if (etcdBinary === null) {
    say(
      o.etcd === "off"
        ? "etcd: off (--etcd off): ours only"
        : "etcd: not on PATH — ours only, no side-by-side (apt-get install etcd-server gives etcd 3.4)",
    );
  }
  const clusters: BenchCluster[] = [];
  const records: RunRecord[] = [];
  try {
    for (const runtime of o.runtimes) {
      say(`starting ours on ${runtime} (ports ${portsOf(runtime).join(", ")})…`);
      const c = await startRaftCluster({
        runtime,
        binary: binaryOf(runtime),
        root: ROOT,
        basePort: o.basePort + (runtime === "deno" ? 0 : 10),
        runtimeArgs: o.nodeArgs,
        nodeFlags: o.nodeFlags,
      });
      clusters.push(c);
      say(`  ${c.version}: pids ${c.members.map((m) => m.pid).join(", ")}`);
    }
    if (etcdBinary !== null) {
      say(`starting etcd (${etcdBinary}; client ports ${o.basePort + 20}–${o.basePort + 22})…`);
      const c = await startEtcdCluster({
        binary: etcdBinary,
        clientBase: o.basePort + 20,
        peerBase: o.basePort + 30,
      });
      clusters.push(c);
      say(`  ${c.version}: pids ${c.members.map((m) => m.pid).join(", ")}`);
    }
    const prefilled = new Set<string>();
    for (const op of o.ops) {
      for (const clients of o.clients) {
        for (let round = 1; round <= o.repeat; round++) {
          const order = round % 2 === 1 ? clusters : [...clusters].reverse();
          for (const cluster of order) {
            const prefill = op !== "put" && !prefilled.has(cluster.system);
            if (prefill) prefilled.add(cluster.system);
            const r = await runOnce(
              cluster,
              o,
              op,
              clients,
              round,
              prefill,
              fsyncSource,
              clientLabel,
            );
            records.push(r);
            say(describe(r));
            process.stdout.write(JSON.stringify(r) + "\n");
          }
        }
      }
    }
    say(summary(records, clusters.map((c) => c.system), o));
  } finally {
    await Promise.all(clusters.map((c) => c.stop()));
    await cleanupAll();
  }
  return records;
}

/** The usage lines and flags of the module doc above (one source of truth). */
function usage(): string {
  const source = readFileSync(fileURLToPath(import.meta.url), "utf8");
  const lines = source.split("\n");
  const from = lines.findIndex((l) => l.includes("deno task bench:deployed"));
  const to = lines.findIndex((l) => l.startsWith(" * Per run it prints"));
  return "usage: deployed_bench.ts [flags]\n\n" +
    lines.slice(from, to).map((l) => l.replace(/^ \* ?/, "")).join("\n") + "\n";
}

if (import.meta.main) {
  let options: DeployedBenchOptions;
  try {
    options = parseDeployedBenchFlags(process.argv.slice(2));
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    const doc = "deployed_bench.ts --help lists the flags";
    if (e.message === "help") {
      process.stdout.write(usage());
      process.exit(0);
    }
    process.stderr.write(`deployed_bench.ts: ${e.message} (${doc})\n`);
    process.exit(2);
  }
  try {
    await runDeployedBench(options);
    process.exit(0);
  } catch (e) {
    process.stderr.write(`deployed_bench.ts: ${e instanceof Error ? e.message : String(e)}\n`);
    await cleanupAll(3_000);
    process.exit(1);
  }
}
