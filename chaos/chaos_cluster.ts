/**
 * The cluster of a chaos run: node processes on durable storage with the
 * peers' secret on, formed the way an operator does it (node 1 `--init
 * --join <the others>`, the others `--join <node 1>`, all started at once;
 * with an older node, node 1 `--init` then the others one by one), and what
 * the nemeses and the final checks need: the leader, metrics, membership
 * changes, a fresh node, convergence.
 *
 * @module
 */

import { join } from "node:path";
import { mkdir } from "node:fs/promises";
import { AdminClient, type AdminMetrics } from "./admin_client.ts";
import type { ChaosRuntime, NodeContract, NodeLaunch } from "./node_contract.ts";
import type { NodePlace, NodePlacement } from "./node_placement.ts";
import { NodeProcess } from "./node_process.ts";
import { mountSmallDisk, unmountSmallDisk } from "./small_disk.ts";
import { sleep } from "./sleep.ts";

/**
 * How the cluster's nodes run.
 */
export interface ChaosClusterOptions {
  /** The repository root. */
  readonly root: string;
  /** The node's runtime. */
  readonly runtime: ChaosRuntime;
  /** The node's command-line contract. */
  readonly contract: NodeContract;
  /** Where data directories and logs go. */
  readonly runDir: string;
  /** The run's clock, ms. */
  readonly clock: () => number;
  /** Where nodes listen. */
  readonly placement: NodePlacement;
  /** The peers' secret. */
  readonly secret: string;
  /** The cluster id. */
  readonly clusterId: string;
  /** Snapshot interval in entries (small, so snapshots happen during the run). */
  readonly snapshotEvery: number;
  /** Heartbeat interval, ms. */
  readonly heartbeatMs: number;
  /** Election timeout range, ms. */
  readonly electionTimeoutMs: readonly [number, number];
  /** Writes a line to the run's event log. */
  readonly event?: (line: string) => void;
  /** Told the OS process id of every node process started. */
  readonly onNodeStart?: (pid: number) => void;
  /** Nodes whose data directory is a small tmpfs (the full-disk nemesis), and its size. */
  readonly smallDisk?: { readonly ids: ReadonlySet<number>; readonly mib: number };
}

const _JOIN_TIMEOUT_MS = 30_000;

/**
 * Node processes forming one cluster.
 */
export class ChaosCluster {
  /** Options. */
  readonly options: ChaosClusterOptions;
  /** Admin calls. */
  readonly admin: AdminClient;
  /** Every node ever started, by id (removed ones too). */
  readonly nodes = new Map<number, NodeProcess>();
  /** The voters as the harness last set them. */
  voters: number[] = [];
  /** Small disks mounted, by node id (their mount points). */
  readonly smallDisks = new Map<number, string>();
  #nextId = 1;

  /** @param options how the nodes run */
  constructor(options: ChaosClusterOptions) {
    this.options = options;
    this.admin = new AdminClient(options.secret, 2_000);
  }

  /** The nodes that are voters (the harness's view). */
  members(): NodeProcess[] {
    return this.voters.map((id) => this.nodes.get(id)!).filter((n) => n !== undefined);
  }

  /** Whether the node at `origin` (a base URL) is known to have no process serving. */
  isDown(origin: string): boolean {
    for (const node of this.nodes.values()) {
      if (node.url === origin) return !node.serving;
    }
    return false;
  }

  /** Logs an event (run's event log and stderr). */
  event(line: string): void {
    this.options.event?.(`t=${this.options.clock().toFixed(1)} ${line}`);
  }

  /**
   * Starts `size` nodes: all at once, the first with `--init --join <the
   * others>` (it forms the cluster only once all answered, none in a
   * cluster), the others with `--join <the first>`; waits until all vote.
   * With a node that lacks `--init --join`: the first with `--init`, then
   * the others one by one with `--join`.
   */
  async start(size: number): Promise<void> {
    if (!this.options.contract.initJoin || size === 1) {
      const first = await this.#launch({ init: true });
      first.start();
      this.voters = [first.id];
      await this.waitLeader(20_000);
      for (let i = 1; i < size; i++) await this.addNode();
      return;
    }
    const places: { id: number; place: NodePlace }[] = [];
    for (let i = 0; i < size; i++) {
      const id = this.#nextId++;
      places.push({ id, place: await this.options.placement.place(id) });
    }
    const [head, ...tail] = places;
    const first = await this.#launch({
      init: true,
      join: tail.map(({ place }) => ({ host: place.host, port: place.port })),
    }, head);
    const rest: NodeProcess[] = [];
    for (const reserved of tail) {
      rest.push(
        await this.#launch(
          { join: { host: first.launch.host, port: first.launch.port } },
          reserved,
        ),
      );
    }
    const all = [first, ...rest];
    this.event(`start ${all.length} nodes at once: node ${first.id} --init --join the others`);
    for (const node of all) node.start();
    const ids = all.map((n) => n.id);
    const deadline = Date.now() + _JOIN_TIMEOUT_MS;
    for (let i = 0; Date.now() < deadline && i < 1000; i++) {
      const m = await this.admin.metrics(first.url);
      if (m !== null && ids.every((id) => m.membership.voters.includes(id))) {
        this.voters = [...m.membership.voters];
        return;
      }
      for (const node of all) {
        if (node.state === "stopped") {
          this.event(`node ${node.id} exited while the cluster formed; starting it again`);
          node.start();
        }
      }
      await sleep(200);
    }
    throw new Error(`the ${size} nodes did not all become voters in ${_JOIN_TIMEOUT_MS} ms`);
  }

  /** Starts a fresh node (new id, empty data directory) with `--join` and waits until it votes. */
  async addNode(): Promise<NodeProcess> {
    const through = this.members().find((n) => n.state === "running");
    if (through === undefined) throw new Error("no running member to join through");
    const node = await this.#launch({
      join: { host: through.launch.host, port: through.launch.port },
    });
    this.event(`add node ${node.id} joining through ${through.id}`);
    node.start();
    const deadline = Date.now() + _JOIN_TIMEOUT_MS;
    for (let i = 0; Date.now() < deadline && i < 1000; i++) {
      const m = await this.admin.metrics(node.url);
      if (m !== null && m.membership.voters.includes(node.id)) {
        this.voters = [...m.membership.voters];
        return node;
      }
      if (node.state === "stopped") {
        this.event(`node ${node.id} exited while joining; starting it again`);
        node.start();
      }
      await sleep(200);
    }
    throw new Error(`node ${node.id} did not become a voter in ${_JOIN_TIMEOUT_MS} ms`);
  }

  /** Removes voter `id` from the membership (through the leader), then stops its process. */
  async removeNode(id: number): Promise<boolean> {
    const voters = this.voters.filter((v) => v !== id);
    const ok = await this.changeVoters(voters);
    if (!ok) return false;
    this.voters = voters;
    await this.nodes.get(id)?.stop();
    return true;
  }

  /** `POST /cluster/membership` with `voters`, retried for up to 20 s; whether it was committed. */
  async changeVoters(voters: readonly number[]): Promise<boolean> {
    const deadline = Date.now() + 20_000;
    for (let i = 0; Date.now() < deadline && i < 100; i++) {
      const leader = await this.leader();
      if (leader !== null) {
        const a = await this.admin.call(
          this.nodes.get(leader)!.url,
          "POST",
          "/cluster/membership",
          { voters },
          10_000,
        );
        this.event(`membership -> [${voters}] via ${leader}: ${a.status} ${a.body.slice(0, 120)}`);
        if (a.status === 200) return true;
      }
      await sleep(500);
    }
    return false;
  }

  /** `POST /cluster/transfer-leader {to}` on the leader; whether it answered 200. */
  async transferLeader(to: number): Promise<boolean> {
    const leader = await this.leader();
    if (leader === null) return false;
    const a = await this.admin.call(
      this.nodes.get(leader)!.url,
      "POST",
      "/cluster/transfer-leader",
      { to },
      10_000,
    );
    this.event(`transfer-leader ${leader} -> ${to}: ${a.status} ${a.body.slice(0, 120)}`);
    return a.status === 200;
  }

  /** Metrics of every running member (the ones that answer). */
  async allMetrics(): Promise<Map<number, AdminMetrics>> {
    const out = new Map<number, AdminMetrics>();
    await Promise.all(
      this.members().filter((n) => n.state === "running").map(async (n) => {
        const m = await this.admin.metrics(n.url);
        if (m !== null) out.set(n.id, m);
      }),
    );
    return out;
  }

  /** The leader of the highest term among answering members, or `null`. */
  async leader(): Promise<number | null> {
    let best: AdminMetrics | null = null;
    for (const m of (await this.allMetrics()).values()) {
      if (m.state === "leader" && (best === null || m.term > best.term)) best = m;
    }
    return best?.id ?? null;
  }

  /** Waits (bounded) for a leader. */
  async waitLeader(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < 10_000; i++) {
      const leader = await this.leader();
      if (leader !== null) return leader;
      if (Date.now() > deadline) break;
      await sleep(100);
    }
    throw new Error(`no leader within ${timeoutMs} ms`);
  }

  /**
   * Waits until every member answers with the same applied index, equal to
   * its committed index, twice in a row; the metrics, or `null` on timeout.
   */
  async waitConverged(timeoutMs: number): Promise<Map<number, AdminMetrics> | null> {
    const deadline = Date.now() + timeoutMs;
    let previous = -1;
    for (let i = 0; Date.now() < deadline && i < 10_000; i++) {
      const all = await this.allMetrics();
      const applied = new Set([...all.values()].map((m) => m.applied));
      const settled = all.size === this.voters.length && applied.size === 1 &&
        [...all.values()].every((m) => m.applied === m.committed && m.leader !== null);
      if (settled) {
        const index = [...applied][0] ?? 0;
        if (index === previous) return all;
        previous = index ?? 0;
      } else previous = -1;
      await sleep(300);
    }
    return null;
  }

  /** Kills every process and closes the logs. */
  async close(): Promise<void> {
    await Promise.all([...this.nodes.values()].map((n) => n.close().catch(() => {})));
    for (const path of this.smallDisks.values()) unmountSmallDisk(path);
    this.smallDisks.clear();
  }

  async #launch(
    extra: Pick<NodeLaunch, "init" | "join">,
    reserved?: { readonly id: number; readonly place: NodePlace },
  ): Promise<NodeProcess> {
    const o = this.options;
    const id = reserved?.id ?? this.#nextId++;
    const place = reserved?.place ?? await o.placement.place(id);
    let data = join(o.runDir, `data-${id}`);
    if (o.smallDisk?.ids.has(id)) {
      const disk = mountSmallDisk(id, o.smallDisk.mib);
      if (!disk.ok) throw new Error(disk.reason);
      this.smallDisks.set(id, disk.path);
      data = join(disk.path, "data");
    }
    await mkdir(data, { recursive: true });
    const launch: NodeLaunch = {
      id,
      host: place.host,
      port: place.port,
      data,
      secret: o.secret,
      clusterId: o.clusterId,
      snapshotEvery: o.snapshotEvery,
      keepLogs: Math.max(1, Math.floor(o.snapshotEvery / 2)),
      heartbeatMs: o.heartbeatMs,
      electionTimeoutMs: o.electionTimeoutMs,
      ...extra,
    };
    const node = new NodeProcess(launch, {
      root: o.root,
      runtime: o.runtime,
      contract: o.contract,
      logPath: join(o.runDir, `node-${id}.log`),
      clock: o.clock,
      ...(o.onNodeStart === undefined ? {} : { onStart: o.onNodeStart }),
      ...(place.netns === undefined ? {} : { netns: place.netns }),
    });
    this.nodes.set(id, node);
    return node;
  }
}
