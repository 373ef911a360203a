/**
 * In-process cluster benchmark, the shape of openraft's `cluster_benchmark`:
 * 3 nodes in one process, {@linkcode MemoryLogStore} (default "always" sync
 * mode), {@linkcode CountingStateMachine}, {@linkcode MemoryNetwork} with no
 * faults (its direct path: a send is a plain call of the target's handler),
 * empty commands: one shared zero-length `Uint8Array` passed to every write,
 * like openraft's empty request (`--fresh` allocates a new array per write,
 * `--payload N` makes it N bytes). N concurrent clients each call `clientWrite` on the leader in
 * a loop, awaiting each write before the next. A run is timed from the first
 * write until every client's last write resolved — a write resolves only once
 * the leader applied it — and the leader's state machine count is checked.
 *
 *   deno task bench                                   # 1, 64, 256, 1024 clients
 *   ./node_modules/.bin/deno run -A bench/cluster_bench.ts --clients 1,64 --ops 200000
 *   ./node_modules/.bin/bun run bench/cluster_bench.ts --json
 *   ./node_modules/.bin/deno run -A bench/cluster_bench.ts --long   # 10M writes, heap over time
 *
 * Flags:
 *   --clients 1,64,256,1024  client counts, one run (fresh cluster) each
 *   --ops N                  total writes per run (default 100k for 1 client, 500k otherwise;
 *                            10M with --long)
 *   --payload N              command size in bytes (default 0)
 *   --fresh                  allocate each command (`new Uint8Array(N)`) instead of sharing one;
 *                            on Deno this alone costs ~1 µs per write (V8 ArrayBuffer allocation)
 *   --repeat N               runs per client count (default 1); the table shows the median
 *   --warmup N               writes (64 clients, own cluster, not reported) before the runs, so
 *                            that the JIT has compiled the hot path (default 50000; 0 for none)
 *   --gc                     force a full garbage collection before each run (off by default:
 *                            on Deno it makes the next run 30–40% slower, see `gc` below)
 *   --logger                 give every node a logger: consoleLogger at info, its lines counted
 *                            and dropped (the cost of the hooks when nothing is logged)
 *   --tracer                 give every node a tracer that opens a small span object per span
 *                            (one per append request) and drops it (the cost of tracing)
 *   --json                   print only the JSON lines
 *   --long                   one long run (64 clients unless --clients), printing heap and RSS
 *                            samples over time; stops early past --heap-limit-mb (default 3072)
 *
 * Output: a table (the median run of each client count), then one JSON line per run:
 * {runtime, version, clients, ops, seconds, putPerSec, nsPerOp, peakHeapMB, rssMB, cpuSeconds}
 * (peakHeapMB and rssMB are the peaks sampled during the run; cpuSeconds is the process's CPU
 * time over the run, all threads — GC helpers included —, a steadier figure than wall time when
 * other work shares the machine).
 *
 * @module
 */

import { Raft } from "../src/runtime/raft.ts";
import { consoleLogger } from "../src/runtime/console_logger.ts";
import type { Tracer } from "../src/runtime/tracer.ts";
import type { Config } from "../src/config.ts";
import type { NodeId } from "../src/types.ts";
import { SeededRandom } from "../src/random.ts";
import { MemoryLogStore } from "../adapters/memory.ts";
import { CountingStateMachine } from "../testing/counting_state_machine.ts";
import { MemoryNetwork } from "../testing/memory_network.ts";

// ---- runtime detection (Bun first: it also defines `process`) ----------------------

interface Mem {
  heapUsed: number;
  rss: number;
}

// deno-lint-ignore no-explicit-any
const G = globalThis as any;
const RUNTIME: "bun" | "deno" = G.Bun !== undefined ? "bun" : "deno";
const VERSION: string = RUNTIME === "bun" ? G.Bun.version : G.Deno.version.deno;
const ARGS: string[] = RUNTIME === "bun" ? G.process.argv.slice(2) : G.Deno.args;
const memoryUsage: () => Mem = RUNTIME === "bun"
  ? () => G.process.memoryUsage()
  : () => G.Deno.memoryUsage();
/** Process CPU time (user + system, all threads) in µs: robust to other load on the machine. */
const cpuMicros: () => number = await (async () => {
  try {
    const proc = RUNTIME === "bun" ? G.process : (await import("node:process")).default;
    return () => {
      const u = proc.cpuUsage();
      return u.user + u.system;
    };
  } catch {
    return () => NaN;
  }
})();

/**
 * With `--gc`, a forced full collection before each run. Off by default: on Deno the runs
 * after a forced (memory-reducing) collection measured 30–40% slower than runs without one
 * (the collector and JIT warm up again), which no long-running server ever sees.
 */
const gc: () => void = !ARGS.includes("--gc")
  ? () => {}
  : RUNTIME === "bun"
  ? () => G.Bun.gc(true)
  : await _v8Gc();

async function _v8Gc(): Promise<() => void> {
  if (typeof G.gc === "function") return () => G.gc();
  try {
    const v8 = await import("node:v8");
    const vm = await import("node:vm");
    v8.setFlagsFromString("--expose-gc");
    const f = vm.runInNewContext("gc") as () => void;
    return () => f();
  } catch {
    return () => {};
  }
}

const MB = 1024 * 1024;

// ---- flags ---------------------------------------------------------------------------

function flag(name: string): string | undefined {
  const i = ARGS.indexOf(`--${name}`);
  if (i >= 0) return ARGS[i + 1];
  const eq = ARGS.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}

function positiveInt(name: string, value: string): number {
  const n = Number(value.replace(/_/g, ""));
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`--${name}: bad number ${value}`);
  return n;
}

const LONG = ARGS.includes("--long");
const JSON_ONLY = ARGS.includes("--json");
const CLIENTS: number[] = (flag("clients") ?? (LONG ? "64" : "1,64,256,1024"))
  .split(",").map((s) => positiveInt("clients", s.trim()));
const OPS_FLAG = flag("ops");
const PAYLOAD = Number(flag("payload") ?? "0");
const FRESH = ARGS.includes("--fresh");
/** The library never mutates a command: sharing one is safe. */
const SHARED = new Uint8Array(PAYLOAD);
const HEAP_LIMIT_MB = Number(flag("heap-limit-mb") ?? "3072");
const REPEAT = positiveInt("repeat", flag("repeat") ?? "1");
const WARMUP = Number(flag("warmup") ?? (LONG ? "0" : "50000"));
const WITH_LOGGER = ARGS.includes("--logger");
const WITH_TRACER = ARGS.includes("--tracer");
/** Lines the `--logger` logger dropped, and spans the `--tracer` tracer ended. */
const HOOKS = { lines: 0, spans: 0 };
const LOGGER = consoleLogger({ level: "info", write: () => void HOOKS.lines++ });
const TRACER: Tracer = {
  startSpan: () => ({
    end() {
      HOOKS.spans++;
    },
  }),
};

function opsFor(clients: number): number {
  if (OPS_FLAG !== undefined) return positiveInt("ops", OPS_FLAG);
  if (LONG) return 10_000_000;
  return clients === 1 ? 100_000 : 500_000;
}

/** No election may happen during a run: long timeouts, a stable leader first. */
const CONFIG: Partial<Config> = {
  electionTimeoutMin: 1000,
  electionTimeoutMax: 2000,
  heartbeatInterval: 100,
};

// ---- the cluster -----------------------------------------------------------------------

interface Cluster {
  readonly net: MemoryNetwork;
  readonly nodes: Map<NodeId, Raft<number>>;
  readonly machines: Map<NodeId, CountingStateMachine>;
}

async function startCluster(): Promise<Cluster> {
  const net = new MemoryNetwork();
  const nodes = new Map<NodeId, Raft<number>>();
  const machines = new Map<NodeId, CountingStateMachine>();
  for (const id of [1, 2, 3]) {
    const sm = new CountingStateMachine();
    const raft = await Raft.create<number>({
      id,
      config: CONFIG,
      logStore: new MemoryLogStore(),
      stateMachine: sm,
      network: net.client(id),
      random: new SeededRandom(id),
      ...(WITH_LOGGER ? { logger: LOGGER } : {}),
      ...(WITH_TRACER ? { tracer: TRACER } : {}),
    });
    net.register(id, (_from, req) => raft.handle(req));
    nodes.set(id, raft);
    machines.set(id, sm);
  }
  await nodes.get(1)!.initialize([1, 2, 3]);
  return { net, nodes, machines };
}

/** Waits until one leader is known by all in its term and has applied its blank entry. */
async function stableLeader(c: Cluster): Promise<NodeId> {
  const deadline = performance.now() + 10_000;
  while (performance.now() < deadline) {
    const all = [...c.nodes.values()].map((r) => r.metrics.current);
    const leaders = all.filter((m) => m.state === "leader");
    if (leaders.length === 1) {
      const l = leaders[0]!;
      const agree = all.every((m) => m.currentLeader === l.id && m.currentTerm === l.currentTerm);
      const applied = (l.lastApplied?.index ?? 0) >= l.lastLogIndex;
      if (agree && applied) return l.id;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error("no stable leader within 10 s");
}

async function stopCluster(c: Cluster): Promise<void> {
  for (const [id, raft] of c.nodes) {
    c.net.unregister(id);
    await raft.shutdown();
  }
}

// ---- one run -----------------------------------------------------------------------------

interface Result {
  runtime: string;
  hooks: string;
  version: string;
  clients: number;
  ops: number;
  seconds: number;
  putPerSec: number;
  nsPerOp: number;
  peakHeapMB: number;
  rssMB: number;
  cpuSeconds: number;
}

/** Heap/RSS peaks, sampled every `every` completed writes and by a timer (if timers run). */
class Sampler {
  peakHeap = 0;
  peakRss = 0;
  sample(): Mem {
    const m = memoryUsage();
    if (m.heapUsed > this.peakHeap) this.peakHeap = m.heapUsed;
    if (m.rss > this.peakRss) this.peakRss = m.rss;
    return m;
  }
}

async function run(clients: number, ops: number, long: boolean): Promise<Result> {
  gc();
  const cluster = await startCluster();
  const leaderId = await stableLeader(cluster);
  const leader = cluster.nodes.get(leaderId)!;
  const sm = cluster.machines.get(leaderId)!;
  const base = sm.count;
  const term = leader.metrics.current.currentTerm;
  const sampler = new Sampler();
  sampler.sample();

  // Memory is sampled from the write loop (the whole run may be one chain of microtasks, in
  // which timers never fire) at most every 50 ms (memoryUsage() costs ~0.4 ms on Bun), and from
  // a timer for whatever time it does get.
  const every = long ? 100_000 : 1024;
  let lastSample = performance.now();
  let done = 0;
  let stop = false;
  const c0 = cpuMicros();
  const t0 = performance.now();
  let lastT = t0;
  let lastDone = 0;
  const onSample = (): void => {
    const now = performance.now();
    if (!long && now - lastSample < 50) return;
    lastSample = now;
    const m = sampler.sample();
    if (!long) return;
    const rate = (done - lastDone) / ((now - lastT) / 1000);
    lastT = now;
    lastDone = done;
    console.log(
      `${String(done).padStart(11)} writes  ${((now - t0) / 1000).toFixed(1).padStart(7)} s  ` +
        `heap ${(m.heapUsed / MB).toFixed(1).padStart(8)} MB  rss ${
          (m.rss / MB).toFixed(1).padStart(8)
        } MB  ${Math.round(rate).toLocaleString("en-US").padStart(9)} put/s`,
    );
    if (m.heapUsed / MB > HEAP_LIMIT_MB) {
      console.log(`heap over --heap-limit-mb ${HEAP_LIMIT_MB}: stopping the run early`);
      stop = true;
    }
  };
  const timer = setInterval(() => sampler.sample(), 100);

  const perClient = Math.floor(ops / clients);
  const extra = ops - perClient * clients;
  const client = async (n: number): Promise<void> => {
    for (let i = 0; i < n && !stop; i++) {
      await leader.clientWrite(FRESH ? new Uint8Array(PAYLOAD) : SHARED);
      if (++done % every === 0) onSample();
    }
  };
  const tasks: Promise<void>[] = [];
  for (let c = 0; c < clients; c++) tasks.push(client(perClient + (c < extra ? 1 : 0)));
  await Promise.all(tasks);
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = (cpuMicros() - c0) / 1e6;
  clearInterval(timer);
  sampler.sample();
  const applied = sm.count - base;
  if (applied !== done) throw new Error(`leader applied ${applied} writes, expected ${done}`);
  const m = leader.metrics.current;
  if (m.state !== "leader" || m.currentTerm !== term) {
    throw new Error("an election happened during the run");
  }
  await stopCluster(cluster);
  return {
    runtime: RUNTIME,
    hooks: [WITH_LOGGER ? "logger" : "", WITH_TRACER ? "tracer" : ""].filter((h) => h).join("+") ||
      "none",
    version: VERSION,
    clients,
    ops: done,
    seconds: round(seconds, 3),
    putPerSec: Math.round(done / seconds),
    nsPerOp: Math.round((seconds * 1e9) / done),
    peakHeapMB: round(sampler.peakHeap / MB, 1),
    rssMB: round(sampler.peakRss / MB, 1),
    cpuSeconds: round(cpuSeconds, 3),
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// ---- main --------------------------------------------------------------------------------

const results: Result[] = [];
const table: Result[] = [];
if (!JSON_ONLY) {
  console.log(
    `cluster_bench: ${RUNTIME} ${VERSION}, 3 nodes, memory store, counting state machine, ` +
      `direct network, ${PAYLOAD}-byte commands (${FRESH ? "fresh" : "shared"})` +
      (LONG ? ", long run" : ""),
  );
}
if (LONG) {
  if (!JSON_ONLY) {
    console.log(
      "note: heap stays flat only with snapshots and log purging; without them every node's " +
        "MemoryLogStore keeps the whole log",
    );
  }
  const r = await run(CLIENTS[0]!, opsFor(CLIENTS[0]!), true);
  results.push(r);
  table.push(r);
} else {
  if (WARMUP > 0) await run(64, WARMUP, false);
  for (const clients of CLIENTS) {
    const runs: Result[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const r = await run(clients, opsFor(clients), false);
      runs.push(r);
      results.push(r);
      if (!JSON_ONLY) {
        console.error(`  ${clients} clients: ${r.putPerSec.toLocaleString("en-US")} put/s`);
      }
    }
    runs.sort((a, b) => a.putPerSec - b.putPerSec);
    table.push(runs[(runs.length - 1) >> 1]!);
  }
}

if (!JSON_ONLY) {
  const rows = [
    ["clients", "ops", "seconds", "put/s", "ns/op", "peak heap MB", "peak RSS MB", "CPU s"],
    ...table.map((r) => [
      String(r.clients),
      r.ops.toLocaleString("en-US"),
      r.seconds.toFixed(2),
      r.putPerSec.toLocaleString("en-US"),
      r.nsPerOp.toLocaleString("en-US"),
      r.peakHeapMB.toFixed(1),
      r.rssMB.toFixed(1),
      r.cpuSeconds.toFixed(2),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) console.log(row.map((c, i) => c.padStart(widths[i]!)).join("  "));
}
for (const r of results) console.log(JSON.stringify(r));
if (!JSON_ONLY && (WITH_LOGGER || WITH_TRACER)) {
  console.error(`hooks: ${HOOKS.lines} log lines, ${HOOKS.spans} spans`);
}
