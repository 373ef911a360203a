/**
 * {@linkcode startNode}: a deployable node from its flags
 * ({@linkcode NodeOptions}) and an application ({@linkcode NodeApp}: a
 * state machine and its routes): storage, `Raft`, HTTP(S) server with the
 * Raft, admin and metrics routes, `--init` / `--join`, and a graceful stop.
 *
 * @module
 */

import { Hono } from "hono";
import { AlreadyInitialized, type RaftError } from "../src/errors.ts";
import { Raft } from "../src/runtime/raft.ts";
import { consoleLogger } from "../src/runtime/console_logger.ts";
import type { Logger } from "../src/runtime/logger.ts";
import type { SnapshotStore } from "../src/snapshot_store.ts";
import type { StateMachine } from "../src/storage.ts";
import { adminRoutes } from "../src/transport/admin_routes.ts";
import { PROMETHEUS_CONTENT_TYPE, prometheusMetrics } from "../src/transport/prometheus_metrics.ts";
import { type FetchFn, HttpNetwork } from "../src/transport/http_network.ts";
import { raftRoutes } from "../src/transport/raft_routes.ts";
import type { NodeId } from "../src/types.ts";
import { type NodeStorage, openNodeStorage, type StorageKind } from "../adapters/mod.ts";
import { tlsFetch, type TlsFetchFn } from "../adapters/tls_fetch.ts";
import { memoryUsage } from "node:process";
import { dashboard } from "./dashboard.ts";
import { joinCluster, JoinError, probeCluster } from "./join_cluster.ts";
import { handOverLeadership } from "./leader_handover.ts";
import type { NodeOptions, NodeStorageFlag } from "./node_flags.ts";
import { nodeMetrics } from "./node_metrics.ts";
import { onNodeStopped } from "./node_stopped.ts";
import { serve, type Server } from "./serve.ts";

/**
 * What the state machine `S` answers to a write: the `R` of its
 * `StateMachine<R>`, and so of its node's `Raft<R>`.
 *
 * @example
 * ```ts
 * import type { ResponseOf } from "./start_node.ts";
 * import type { MemoryStateMachine } from "../kv/mod.ts";
 * const previous: ResponseOf<MemoryStateMachine> = null; // Uint8Array | null
 * ```
 */
export type ResponseOf<S> = S extends StateMachine<infer R> ? R : never;

/**
 * The application a node runs: its state machine `S` and its client routes.
 *
 * @example
 * ```ts
 * import type { NodeApp } from "./start_node.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * const app: NodeApp<MemoryStateMachine> = {
 *   stateMachine: (snapshots) =>
 *     snapshots === null ? new MemoryStateMachine() : MemoryStateMachine.open(snapshots),
 * };
 * ```
 */
export interface NodeApp<S extends StateMachine<unknown>> {
  /**
   * Builds the state machine; with durable storage `snapshots` is the
   * node's snapshot store (restore from it and keep snapshots in it, e.g.
   * `MemoryStateMachine.open(snapshots)`), `null` in memory.
   */
  stateMachine(snapshots: SnapshotStore | null): S | Promise<S>;
  /**
   * The application's routes, mounted after the node's own (`/raft/*`,
   * `/health`, `/ready`, `/cluster/*`, `/metrics`, `/metrics.json`, the
   * dashboard's `/` and `/dashboard/*`). Default: none.
   */
  routes?(raft: Raft<ResponseOf<S>>, stateMachine: S, options: NodeOptions): Hono;
}

/**
 * The node's default `maxInflight` (append requests in flight per peer):
 * 2, not the library's 64. Over HTTP every append is a request of its own,
 * so a deep pipeline sends nearly one per write; with two in flight, writes
 * that arrive meanwhile share the next one. Measured with
 * `bench/deployed_bench.ts` (bench/RESULTS.md): PUT at 64 clients went
 * from about 1,000 to 2,800–3,000/s on Deno and 1,200 to 1,900/s on Bun,
 * leader CPU per write from about 900 to 250 µs. `NodeOptions.config`
 * (`maxInflight`) overrides it.
 *
 * @example
 * ```ts
 * import { NODE_MAX_INFLIGHT } from "./start_node.ts";
 * console.assert(NODE_MAX_INFLIGHT === 2);
 * ```
 */
export const NODE_MAX_INFLIGHT = 2;

/**
 * Extra options of {@linkcode startNode}, beyond the flags.
 *
 * @example
 * ```ts
 * import type { StartNodeOptions } from "./start_node.ts";
 * const options: StartNodeOptions = { rpcTimeout: 500 };
 * ```
 */
export interface StartNodeOptions {
  /**
   * The `fetch` for calls to peers (Raft RPCs and `--join`). Default: with
   * `tls.ca`, one that trusts that CA (`tlsFetch` of
   * `@x/raft/adapters/tls-fetch`); else `globalThis.fetch`.
   */
  readonly fetch?: FetchFn;
  /** Per-RPC timeout of `HttpNetwork`, in ms. Default 1000. */
  readonly rpcTimeout?: number;
  /** How long a stop waits for requests in flight before closing anyway, in ms. Default 3000. */
  readonly drainTimeout?: number;
  /**
   * Told what the node is waiting for while it starts (`--init --join`
   * waiting for an unreachable member). Default: nothing is said.
   */
  readonly log?: (line: string) => void;
  /** How often `--init --join` asks the listed members again, in ms. Default 1000. */
  readonly probeInterval?: number;
  /**
   * Ends a start that waits (`--init --join` waiting for a listed member):
   * it rejects with the signal's reason, everything opened closed.
   */
  readonly signal?: AbortSignal;
  /**
   * The node's logger. Default: `consoleLogger({ level: options.logLevel })`
   * (JSON lines on stderr; none with `logLevel: "off"`).
   */
  readonly logger?: Logger;
}

/**
 * What {@linkcode RunningNode.stop} did.
 *
 * @example
 * ```ts
 * import type { NodeStopReport } from "./start_node.ts";
 * const report: NodeStopReport = { handedTo: 2 };
 * ```
 */
export interface NodeStopReport {
  /** The node that took over leadership, or `null` (not the leader, alone, or no taker in time). */
  readonly handedTo: NodeId | null;
}

/**
 * A running node.
 *
 * @example
 * ```ts
 * import type { RunningNode } from "./start_node.ts";
 * import type { MemoryStateMachine } from "../kv/mod.ts";
 * // What a caller of startNode does with the node it gets (startNode serves HTTP on a port).
 * async function report(node: RunningNode<MemoryStateMachine>): Promise<void> {
 *   console.log(`node ${node.raft.id} serves ${node.url}`);
 *   await node.stop();
 * }
 * ```
 */
export interface RunningNode<S extends StateMachine<unknown>> {
  /** The flags it was started with. */
  readonly options: NodeOptions;
  /** The Raft node. */
  readonly raft: Raft<ResponseOf<S>>;
  /** Its state machine. */
  readonly stateMachine: S;
  /** Its base URL, which is also its address in the membership (`https://` with TLS). */
  readonly url: string;
  /**
   * Resolves with the error that stopped the node when it stops by itself
   * (storage failure, fenced storage, internal error); never resolves
   * after {@linkcode RunningNode.stop}. The node is then useless: stop it
   * (`stop({ handOver: false })`) and exit non-zero.
   */
  readonly failed: Promise<RaftError>;
  /**
   * Stops the node: a leader first hands leadership to its most caught-up
   * voter (at most two election timeouts; skipped when alone or with
   * `handOver: false`), then the server stops accepting and answers what
   * is in flight (at most `drainTimeout`), `raft.shutdown()`, the server
   * closes, the storage closes. Calling it again returns the same promise.
   */
  stop(options?: { readonly handOver?: boolean }): Promise<NodeStopReport>;
}

/** The `openNodeStorage` kind of a `--storage` value. */
function _storageKind(flag: NodeStorageFlag): StorageKind {
  switch (flag) {
    case "auto":
    case "memory":
    case "deno-kv":
      return flag;
    case "sqlite":
      return "bun-sqlite";
  }
}

/**
 * Starts a node as its flags say: opens its storage (`--storage`, `--data`,
 * via `openNodeStorage`), builds the state machine (`app.stateMachine`, given
 * the snapshot store), creates the `Raft` over `HttpNetwork` (with the
 * secret, the cluster's CA), serves on `--addr` (HTTPS with `--tls-cert`)
 * the Raft routes, the admin routes, `GET /metrics` (Prometheus text,
 * `prometheusMetrics`), `GET /metrics.json` ({@linkcode nodeMetrics}), the
 * dashboard at `/` (`dashboard`) and `app.routes`; then, on empty storage:
 *
 * - `--init` alone: forms a cluster of itself alone (`--cluster-id`) — on
 *   the first start only: started so again after losing its data, a node
 *   forms a new cluster;
 * - `--init --join a,b`: asks every listed member ({@linkcode probeCluster},
 *   again every `probeInterval` while one is unreachable, saying so through
 *   `log`); forms a cluster of itself only when all answered and none
 *   belongs to a cluster, else joins the cluster found;
 * - `--join a,b`: joins the cluster of the first member that can be reached
 *   ({@linkcode joinCluster}); refused with `RejoinRefused` when this node's
 *   id is a voter already (it lost its data). Until that check passed the
 *   node answers Raft RPCs with 503: a wiped voter never votes again.
 *
 * Otherwise it waits: a node with state rejoins its cluster, a new one
 * waits to be added; it never forms a cluster by itself. On failure
 * everything opened is closed and it rejects.
 *
 * @example
 * ```ts
 * import { startNode } from "./start_node.ts";
 * import { parseNodeFlags } from "./node_flags.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 *
 * const node = await startNode(parseNodeFlags(["--init", "--storage", "memory", "--addr", "127.0.0.1:0"]), {
 *   stateMachine: () => new MemoryStateMachine(),
 * });
 * await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
 * console.assert((await fetch(`${node.url}/ready`)).ok);
 * await node.stop();
 * ```
 */
export function startNode<S extends StateMachine<unknown>>(
  options: NodeOptions,
  app: NodeApp<S>,
  extra?: StartNodeOptions,
): Promise<RunningNode<S>>;
export async function startNode<S extends StateMachine<unknown>>(
  options: NodeOptions,
  app: NodeApp<S>,
  extra: StartNodeOptions = {},
): Promise<RunningNode<S>> {
  const tls = options.tls === undefined ? undefined : await _readTls(options.tls);
  const drainTimeout = extra.drainTimeout ?? 3000;
  const secret = options.secret !== undefined ? { secret: options.secret } : {};

  const cleanups: (() => Promise<void>)[] = [];
  const cleanUp = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  };
  try {
    let caFetch: TlsFetchFn | null = null;
    if (extra.fetch === undefined && tls?.ca !== undefined) {
      caFetch = await tlsFetch({ caCert: tls.ca });
      const opened = caFetch;
      cleanups.push(() => Promise.resolve(opened.close()));
    }
    const peerFetch = extra.fetch ?? caFetch ?? undefined;
    const storage: NodeStorage = await openNodeStorage(
      options.storage === "memory"
        ? { kind: "memory" }
        : { kind: _storageKind(options.storage), path: options.data },
    );
    cleanups.push(() => storage.close());
    const stateMachine = await app.stateMachine(storage.snapshotStore);
    const level = options.logLevel ?? "info";
    const logger = extra.logger ?? (level === "off" ? undefined : consoleLogger({ level }));
    const raft = await Raft.create<ResponseOf<S>>({
      id: options.id,
      config: { maxInflight: NODE_MAX_INFLIGHT, ...options.config },
      ...(logger !== undefined ? { logger } : {}),
      logStore: storage.logStore,
      stateMachine: stateMachine as StateMachine<ResponseOf<S>>,
      network: new HttpNetwork({
        ...(extra.rpcTimeout !== undefined ? { timeout: extra.rpcTimeout } : {}),
        ...(peerFetch !== undefined ? { fetch: peerFetch } : {}),
        ...secret,
      }),
    });
    cleanups.push(() => raft.shutdown());

    // The routes need this node's URL, known once the server listens (port 0).
    // Raft RPCs wait until a node with empty storage knows it may answer them.
    let routes: Hono | null = null;
    let raftOpen = raft.isInitialized() || (!options.init && options.join === undefined);
    const server: Server = await serve(
      (req) =>
        routes === null
          ? Response.json({ error: "NotReady", message: "starting" }, { status: 503 })
          : !raftOpen && new URL(req.url).pathname.startsWith("/raft/")
          ? Response.json({
            error: "NotReady",
            message: "starting: checking that this node may join (its id must not be a voter)",
          }, { status: 503 })
          : routes.fetch(req),
      {
        hostname: options.hostname,
        port: options.port,
        ...(tls !== undefined ? { tls: { cert: tls.cert, key: tls.key } } : {}),
      },
    );
    cleanups.push(() => server.close({ force: true }));
    const host = options.hostname.includes(":") ? `[${options.hostname}]` : options.hostname;
    const url = `${tls !== undefined ? "https" : "http"}://${host}:${server.port}`;
    const hono = new Hono();
    hono.route("/", raftRoutes(raft, secret));
    hono.route("/", adminRoutes(raft, { ...secret, selfAddr: url }));
    hono.get("/metrics", (c) =>
      c.body(prometheusMetrics(raft, { memory: memoryUsage }), 200, {
        "content-type": PROMETHEUS_CONTENT_TYPE,
      }));
    hono.get("/metrics.json", (c) => c.json(nodeMetrics(raft)));
    const board = dashboard(raft, {
      selfAddr: url,
      ...secret,
      ...(peerFetch !== undefined ? { fetch: peerFetch } : {}),
    });
    cleanups.push(() => Promise.resolve(board.close()));
    hono.route("/", board.routes);
    if (app.routes !== undefined) hono.route("/", app.routes(raft, stateMachine, options));
    routes = hono;

    if (!raft.isInitialized()) {
      // The list may name this node too (the same --join on every node).
      const joins = (options.joinList ?? (options.join !== undefined ? [options.join] : []))
        .filter((addr) => addr !== url);
      const peerOptions = { ...secret, ...(peerFetch !== undefined ? { fetch: peerFetch } : {}) };
      const join = async (members: readonly string[]): Promise<void> => {
        for (const [i, member] of members.entries()) {
          try {
            return await joinCluster(member, options.id, url, {
              ...peerOptions,
              retries: 20,
              onChecked: () => raftOpen = true,
            });
          } catch (e) {
            // Unreachable: try the next one listed.
            if (!(e instanceof JoinError && e.status === 0) || i === members.length - 1) throw e;
          }
        }
      };
      let member: string | null = null;
      if (options.init && joins.length > 0) {
        member = await _findCluster(joins, peerOptions, extra);
      }
      if (options.init && member === null) {
        raftOpen = true;
        try {
          await raft.initialize(
            new Map([[options.id, { addr: url }]]),
            options.clusterId !== undefined ? { clusterId: options.clusterId } : {},
          );
        } catch (e) {
          if (!(e instanceof AlreadyInitialized)) throw e;
        }
      } else if (member !== null) {
        extra.log?.(`${member} belongs to a cluster: joining it instead of forming one`);
        await join([member]);
      } else if (joins.length > 1) {
        // Several listed: one that answers as a member first.
        const probe = await probeCluster(joins, peerOptions).catch(() => null);
        const first = probe?.kind === "member" ? probe.member : joins[0]!;
        await join([first, ...joins.filter((addr) => addr !== first)]);
      } else if (joins.length > 0) await join(joins);
    }
    raftOpen = true;

    let stopping: Promise<NodeStopReport> | null = null;
    let failedWith: (e: RaftError) => void = () => {};
    const failed = new Promise<RaftError>((resolve) => failedWith = resolve);
    const unwatch = onNodeStopped(raft, (e) => {
      if (stopping === null) failedWith(e);
    });
    const stop = async (handOver: boolean): Promise<NodeStopReport> => {
      unwatch();
      const handedTo = handOver ? await handOverLeadership(raft) : null;
      board.close(); // event streams never end by themselves
      await _within(server.close(), drainTimeout);
      await raft.shutdown();
      await _within(server.close({ force: true }), drainTimeout);
      caFetch?.close();
      await storage.close();
      return { handedTo };
    };
    return {
      options,
      raft,
      stateMachine,
      url,
      failed,
      stop: (o = {}) => stopping ??= stop(o.handOver ?? true),
    };
  } catch (e) {
    await cleanUp();
    throw e;
  }
}

/**
 * `--init --join`: the base URL of a listed member of an initialized
 * cluster, or `null` once every listed address answered and none is; asks
 * again while some cannot be reached (never forms a cluster then).
 */
async function _findCluster(
  addrs: readonly string[],
  peer: { readonly secret?: string; readonly fetch?: FetchFn },
  extra: StartNodeOptions,
): Promise<string | null> {
  const interval = extra.probeInterval ?? 1000;
  let said = "";
  let saidAt = 0;
  for (;;) {
    extra.signal?.throwIfAborted();
    const probe = await probeCluster(addrs, peer);
    if (probe.kind === "member") return probe.member;
    if (probe.kind === "blank") return null;
    const line = "--init --join: waiting for every listed member to answer before forming a " +
      `cluster (none may belong to one already); not answering: ${probe.unreachable.join(", ")}`;
    if (line !== said || Date.now() - saidAt > 10_000) {
      extra.log?.(line);
      said = line;
      saidAt = Date.now();
    }
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        extra.signal?.removeEventListener("abort", done);
        resolve();
      }, interval);
      extra.signal?.addEventListener("abort", done, { once: true });
    });
  }
}

/** Resolves when `p` settles or after `ms`, whichever is first; never rejects. */
async function _within(p: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    p.catch(() => {}),
    new Promise<void>((resolve) => timer = setTimeout(resolve, ms)),
  ]);
  clearTimeout(timer);
}

interface _TlsPem {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
}

async function _readTls(files: NonNullable<NodeOptions["tls"]>): Promise<_TlsPem> {
  const { readFile } = await import("node:fs/promises");
  const read = async (flag: string, path: string): Promise<string> => {
    try {
      return await readFile(path, "utf8");
    } catch (e) {
      throw new Error(`${flag} ${path}: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
  };
  return {
    cert: await read("--tls-cert", files.cert),
    key: await read("--tls-key", files.key),
    ...(files.ca !== undefined ? { ca: await read("--tls-ca", files.ca) } : {}),
  };
}
