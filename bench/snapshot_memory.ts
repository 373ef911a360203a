/**
 * Peak memory while a 100 MiB snapshot is sent to a lagging follower over
 * HTTP: three Raft nodes in this process, each with `HttpNetwork` and
 * `raftRoutes` on 127.0.0.1, and `LargeSnapshotStateMachine` (snapshots
 * generated on the fly, installed with a running checksum). One follower is
 * cut off, the leader writes, snapshots and purges its log, the follower
 * rejoins and installs the snapshot. `process.memoryUsage()` is sampled
 * every 2 ms from the rejoin until the follower applied the snapshot; the
 * peaks are printed beside the baseline taken just before.
 *
 *   deno run -A --v8-flags=--expose-gc bench/snapshot_memory.ts [--mib 100] [--buffered]
 *   bun bench/snapshot_memory.ts [--mib 100] [--buffered]
 *
 * `--buffered` reproduces the transport before streaming, for comparison:
 * the sender reads the whole snapshot before sending it and the receiver
 * reads the whole body before handing it to the node.
 *
 * @module
 */

import process from "node:process";
import { Raft } from "../src/runtime/raft.ts";
import { HttpNetwork } from "../src/transport/http_network.ts";
import { raftRoutes } from "../src/transport/raft_routes.ts";
import { Unreachable } from "../src/errors.ts";
import { bytesToStream, readAllBytes } from "../src/byte_stream.ts";
import type { InstallSnapshotRequest, RaftRequest, RaftResponse } from "../src/messages.ts";
import type { RaftNetwork, SendOptions } from "../src/network.ts";
import type { NodeId, RaftNode } from "../src/types.ts";
import { SeededRandom } from "../src/random.ts";
import { MemoryLogStore } from "../adapters/memory.ts";
import { LargeSnapshotStateMachine } from "../testing/large_snapshot_state_machine.ts";
import { serve } from "../node/serve.ts";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const mibAt = args.indexOf("--mib");
const SNAPSHOT_MIB = mibAt >= 0 ? Number(args[mibAt + 1]) : 100;
const BUFFERED = args.includes("--buffered");
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "unknown";

interface _BunServe {
  serve(options: {
    hostname: string;
    port: number;
    fetch: (request: Request) => Response | Promise<Response>;
    maxRequestBodySize: number;
    idleTimeout: number;
  }): { port: number; stop(force: boolean): Promise<void> | void };
}

/**
 * Serves on 127.0.0.1. Under Bun, raises `maxRequestBodySize` (default 128 MiB, which
 * would answer 413 to larger snapshots) and `idleTimeout` (default 10 s).
 */
function serveLocal(
  fetch: (request: Request) => Response | Promise<Response>,
): Promise<{ port: number; close(): Promise<void> }> {
  const bun = (globalThis as unknown as { Bun?: _BunServe }).Bun;
  if (bun === undefined) return serve(fetch, { hostname: "127.0.0.1", port: 0 });
  const server = bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch,
    maxRequestBodySize: 16 * 1024 * MiB,
    idleTimeout: 0,
  });
  return Promise.resolve({ port: server.port, close: async () => await server.stop(true) });
}

interface _Gc {
  gc?: () => void;
  Bun?: { gc(force: boolean): void };
}

function collect(): void {
  const g = globalThis as unknown as _Gc;
  if (g.Bun !== undefined) g.Bun.gc(true);
  else g.gc?.();
}

/** Fails requests to or from an isolated node; `buffered` reads snapshots whole first. */
class BenchNetwork implements RaftNetwork {
  constructor(
    readonly from: NodeId,
    readonly inner: HttpNetwork,
    readonly isolated: Set<NodeId>,
  ) {}

  send(target: NodeId, node: RaftNode, request: RaftRequest, options?: SendOptions) {
    if (this.isolated.has(this.from) || this.isolated.has(target)) {
      return Promise.reject(new Unreachable(target));
    }
    return this.inner.send(target, node, request, options);
  }

  async installSnapshot(
    target: NodeId,
    node: RaftNode,
    request: InstallSnapshotRequest,
    data: ReadableStream<Uint8Array>,
    options?: SendOptions,
  ) {
    if (this.isolated.has(this.from) || this.isolated.has(target)) {
      await data.cancel();
      throw new Unreachable(target);
    }
    if (BUFFERED) data = bytesToStream(await readAllBytes(data), 4 * MiB);
    return this.inner.installSnapshot(target, node, request, data, options);
  }
}

interface Peak {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

function sample(): Peak {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

const ids = [1, 2, 3];
const isolated = new Set<NodeId>();
const nodes = new Map<NodeId, Raft<number>>();
const machines = new Map<NodeId, LargeSnapshotStateMachine>();
const servers: { close(): Promise<void> }[] = [];
const addrs = new Map<NodeId, RaftNode>();
for (const id of ids) {
  const sm = new LargeSnapshotStateMachine({ snapshotBytes: SNAPSHOT_MIB * MiB, seed: 7 });
  const raft = await Raft.create({
    id,
    config: {
      electionTimeoutMin: 1000,
      electionTimeoutMax: 2000,
      heartbeatInterval: 100,
      leaseMargin: 20,
      snapshotPolicy: { kind: "never" },
      maxInSnapshotLogsToKeep: 0,
    },
    logStore: new MemoryLogStore(),
    stateMachine: sm,
    network: new BenchNetwork(id, new HttpNetwork(), isolated),
    random: new SeededRandom(id),
  });
  const routes = raftRoutes(
    BUFFERED
      ? {
        // The receiver of the old transport: the whole body first, then the node.
        async handle(request: RaftRequest, data?: Uint8Array | ReadableStream<Uint8Array>) {
          const bytes = data instanceof ReadableStream ? await readAllBytes(data) : data;
          return await raft.handle(request, bytes) as RaftResponse;
        },
      }
      : raft,
  );
  const server = await serveLocal(routes.fetch);
  servers.push(server);
  nodes.set(id, raft);
  machines.set(id, sm);
  addrs.set(id, { addr: `http://127.0.0.1:${server.port}` });
}
const node = (id: NodeId) => nodes.get(id)!;
await node(1).initialize(addrs);
const first = await node(1).metrics.wait({ timeout: 10_000 }).metrics(
  (m) => m.currentLeader !== null && m.lastApplied !== null,
  "a leader",
);
const leader = first.currentLeader!;
const lagging = ids.find((id) => id !== leader)!;
isolated.add(lagging);
let last = 0;
for (let i = 0; i < 50; i++) {
  last = (await node(leader).clientWrite(new Uint8Array([i]))).logId.index;
}
await node(leader).trigger.snapshot();
await node(leader).metrics.wait({ timeout: 5000 }).metrics(
  (m) => m.purged?.index === last,
  "purge",
);

collect();
await new Promise((r) => setTimeout(r, 200));
collect();
const base = sample();
const peak: Peak = { ...base };
const timer = setInterval(() => {
  const s = sample();
  peak.rss = Math.max(peak.rss, s.rss);
  peak.heapUsed = Math.max(peak.heapUsed, s.heapUsed);
  peak.external = Math.max(peak.external, s.external);
  peak.arrayBuffers = Math.max(peak.arrayBuffers, s.arrayBuffers);
}, 2);
const start = performance.now();
isolated.delete(lagging);
await node(lagging).metrics.wait({ timeout: 300_000 }).appliedAtLeast(last);
const ms = performance.now() - start;
clearInterval(timer);
const installed = machines.get(lagging)!.installed;
if (installed === null || installed.bytes !== SNAPSHOT_MIB * MiB + 28) {
  // E.g. a leader change (an overloaded machine) let another node send entries instead.
  const roles = [...nodes].map(([id, r]) => `${id}: ${r.metrics.current.state}`).join(", ");
  throw new Error(`the follower caught up without installing the snapshot (${roles})`);
}
for (const raft of nodes.values()) await raft.shutdown();
for (const s of servers) await s.close();

const mib = (n: number) => (n / MiB).toFixed(0).padStart(4);
console.log(
  `${runtime} ${BUFFERED ? "buffered " : "streaming"} snapshot ${SNAPSHOT_MIB} MiB in ` +
    `${Math.round(ms)} ms (${(SNAPSHOT_MIB / (ms / 1000)).toFixed(0)} MiB/s); peak − baseline:`,
);
console.log(
  `  rss ${mib(peak.rss - base.rss)} MiB (${mib(base.rss)} → ${mib(peak.rss)})` +
    `  heapUsed ${mib(peak.heapUsed - base.heapUsed)} MiB` +
    `  external ${mib(peak.external - base.external)} MiB` +
    `  arrayBuffers ${mib(peak.arrayBuffers - base.arrayBuffers)} MiB`,
);
