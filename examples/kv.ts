/**
 * A replicated key-value server: `@x/raft` over HTTP (Hono routes +
 * `HttpNetwork`), with a small client API beside the Raft routes.
 *
 * ```sh
 * # one node, initialized alone, on 127.0.0.1:8001 (what `deno task node` runs)
 * deno run -A examples/kv.ts --init     # or: bun run examples/kv.ts --init
 * deno run -A examples/kv.ts --init --data .data/node-1   # durable log + snapshots (Storage below)
 *
 * # three nodes: one forms the cluster, the others join it
 * deno run -A examples/kv.ts --id 1 --init &
 * deno run -A examples/kv.ts --id 2 --join http://127.0.0.1:8001 &
 * deno run -A examples/kv.ts --id 3 --join http://127.0.0.1:8001 &
 *
 * curl -X PUT --data-binary hello http://127.0.0.1:8001/kv/greeting
 * curl http://127.0.0.1:8001/kv/greeting               # hello
 * curl http://127.0.0.1:8001/metrics
 * ```
 *
 * Flags (environment variable in brackets; `--help` lists them): `--id N`
 * [RAFT_ID] default 1; `--port P` [RAFT_PORT] default 8000 + id; `--host H`
 * [RAFT_HOST] default 127.0.0.1; `--peers 1=http://…,2=http://…`
 * [RAFT_PEERS]; `--init` [RAFT_INIT=1] initializes the cluster with the
 * peers (and this node) as voters; `--cluster-id NAME` [RAFT_CLUSTER_ID] the
 * cluster's id given to `initialize` (default: a random one); `--secret TOKEN`
 * [RAFT_SECRET] the shared secret of the peers (`HttpNetwork` and
 * `raftRoutes`) and of the admin routes; `--data DIR` [RAFT_DATA] keeps the
 * log and the snapshots in DIR; `--join URL` [RAFT_JOIN] joins the cluster of
 * the node at URL (see {@linkcode joinCluster}).
 *
 * A node initializes only with `--init` (an already initialized one is left
 * as it is). With `--join URL`, a node with no state asks URL (any member) to
 * add it as a learner, then as a voter; a node that already belongs to a
 * cluster (a restart) does not join again. With neither, a node with no
 * state waits to be added (`POST /cluster/learners` on the leader) and says
 * so. An unknown or malformed flag, or `--join` with `--init`, prints one
 * line and exits with code 2; SIGINT and SIGTERM shut the node down and exit
 * 0; a storage failure or a failed join exits 1.
 *
 * Client API:
 * - `PUT /kv/:key` (body = value) and `DELETE /kv/:key`: replicated writes.
 *   On a follower: 307 to the leader (`Location`, and the leader in the JSON body).
 * - `GET /kv/:key?consistency=linearizable|lease|local` (default linearizable):
 *   the value's bytes, or 404.
 * - `GET /metrics`: role, term, leader, log indexes, membership (JSON).
 *
 * Admin API (`adminRoutes` of `@x/raft/transport`; with `--secret`, the
 * `/cluster/*` routes need `authorization: Bearer <secret>`): `GET /health`,
 * `GET /ready`, `POST /cluster/init`, `POST /cluster/learners`
 * `{"id": 4, "addr": "http://…"}`, `POST /cluster/membership`
 * `{"voters": [1, 2, 4]}`, `POST /cluster/transfer-leader` `{"to": 2}`,
 * `GET /cluster/metrics`; on a follower, the membership calls answer 307 to
 * the leader.
 *
 * Storage: with `--data DIR`, the vote, the log and the snapshots are
 * durable in DIR, opened by `openNodeStorage()` (the log in bun:sqlite under
 * Bun, Deno KV under Deno; snapshots in DIR/snapshots). The state machine
 * (`MemoryStateMachine.open`) restarts from its last snapshot and re-applies
 * only the log after it; snapshots follow the default policy (one every
 * 5000 applied entries) and the log is purged behind them, so it stays
 * bounded. Without `--data`, everything is in memory and a restarted node
 * starts empty.
 *
 * @module
 */

import { Hono } from "hono";
import type { Config } from "../src/config.ts";
import {
  AlreadyInitialized,
  ChangeMembershipError,
  ForwardToLeader,
  InvalidMessage,
  NotInMembers,
  PayloadTooLarge,
  RaftError,
  type RaftErrorJSON,
} from "../src/errors.ts";
import { Raft, type ReadPolicy } from "../src/runtime/raft.ts";
import {
  type AdminMetricsJSON,
  adminRoutes,
  HttpNetwork,
  raftRoutes,
} from "../src/transport/mod.ts";
import { learnersOf, type NodeId, type RaftNode, votersOf } from "../src/types.ts";
import { MemoryLogStore } from "../adapters/memory.ts";
import { kvDelete, kvSet, MemoryStateMachine } from "../kv/mod.ts";
import { openNodeStorage } from "../adapters/mod.ts";

// ------------------------------------------------------------------ the app

/**
 * What the app reads values from: the node's state machine.
 *
 * @example
 * ```ts
 * import type { KvStore } from "./kv.ts";
 * const empty: KvStore = { get: () => null };
 * ```
 */
export interface KvStore {
  /** The value of `key`, or `null`. */
  get(key: string): Uint8Array | null;
}

/**
 * The node the app serves: a `Raft` whose state machine answers writes
 * with the previous value (as `MemoryStateMachine` does).
 *
 * @example
 * ```ts ignore
 * const raft: KvRaft = await Raft.create({ id: 1, stateMachine: new MemoryStateMachine(), ... });
 * ```
 */
export type KvRaft = Raft<Uint8Array | null>;

const _JSON_HEADERS = { "content-type": "application/json" } as const;
const _decoder = new TextDecoder();

/**
 * Builds the server of one node: the Raft RPC routes (`raftRoutes`), the
 * admin routes (`adminRoutes`: `/health`, `/ready`, `/cluster/*`, with the
 * same `secret`; `selfAddr` is this node's address) and the client API
 * described in the module documentation.
 *
 * @example
 * ```ts
 * import { createKvApp } from "./kv.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { HttpNetwork } from "../src/transport/mod.ts";
 *
 * const sm = new MemoryStateMachine();
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: sm, network: new HttpNetwork(),
 * });
 * await raft.initialize([1]);
 * await raft.metrics.wait({ timeout: 5000 }).role("leader");
 * const app = createKvApp(raft, sm);
 * await app.request("/kv/greeting", { method: "PUT", body: "hello" });
 * const res = await app.request("/kv/greeting");
 * console.assert((await res.text()) === "hello");
 * await raft.shutdown();
 * ```
 */
export function createKvApp(
  raft: KvRaft,
  store: KvStore,
  options: { readonly secret?: string; readonly selfAddr?: string } = {},
): Hono {
  const app = new Hono();
  const secret = options.secret !== undefined ? { secret: options.secret } : {};
  app.route("/", raftRoutes(raft, secret));
  app.route("/", adminRoutes(raft, { ...secret, selfAddr: options.selfAddr ?? "" }));

  app.put("/kv/:key", async (c) => {
    try {
      const declared = Number(c.req.header("content-length") ?? 0);
      if (declared > raft.config.maxPayloadBytes) {
        throw new PayloadTooLarge(declared, raft.config.maxPayloadBytes);
      }
      const value = new Uint8Array(await c.req.arrayBuffer());
      const r = await raft.clientWrite(kvSet(c.req.param("key"), value));
      return _json(200, { logId: r.logId, created: r.response === null });
    } catch (e) {
      return _errorResponse(raft, c.req.raw, e);
    }
  });

  app.delete("/kv/:key", async (c) => {
    try {
      const r = await raft.clientWrite(kvDelete(c.req.param("key")));
      return _json(200, { logId: r.logId, deleted: r.response !== null });
    } catch (e) {
      return _errorResponse(raft, c.req.raw, e);
    }
  });

  app.get("/kv/:key", async (c) => {
    try {
      const consistency = c.req.query("consistency") ?? "linearizable";
      let policy: ReadPolicy | null;
      if (consistency === "linearizable") policy = "read-index";
      else if (consistency === "lease") policy = "lease";
      else if (consistency === "local") policy = null;
      else {
        return _json(400, {
          code: "BadRequest",
          message: `consistency must be linearizable, lease or local, got ${consistency}`,
        });
      }
      if (policy !== null) await raft.ensureLinearizable({ policy });
      const key = c.req.param("key");
      const value = store.get(key);
      if (value === null) return _json(404, { code: "NotFound", message: `no key ${key}`, key });
      return new Response(value.slice(), {
        headers: { "content-type": "application/octet-stream" },
      });
    } catch (e) {
      return _errorResponse(raft, c.req.raw, e);
    }
  });

  app.get("/metrics", () => _json(200, kvMetrics(raft)));

  return app;
}

/**
 * The JSON `GET /metrics` serves.
 *
 * @example
 * ```ts
 * import type { KvMetrics } from "./kv.ts";
 * const m: KvMetrics = {
 *   id: 1, role: "leader", term: 1, leader: 1, leaderAddr: "http://127.0.0.1:8001",
 *   lastLogIndex: 2, committed: 2, applied: 2,
 *   membership: { voters: [1], learners: [], joint: false, nodes: { "1": "http://127.0.0.1:8001" } },
 * };
 * ```
 */
export interface KvMetrics {
  /** This node. */
  readonly id: NodeId;
  /** `leader`, `follower`, `candidate`, `learner` or `shutdown`. */
  readonly role: string;
  /** Current term. */
  readonly term: number;
  /** The known leader, or `null`. */
  readonly leader: NodeId | null;
  /** The known leader's address, or `null`. */
  readonly leaderAddr: string | null;
  /** Index of the last log entry. */
  readonly lastLogIndex: number;
  /** Committed index. */
  readonly committed: number;
  /** Applied index. */
  readonly applied: number;
  /** The effective membership. */
  readonly membership: {
    /** Voters (of every config, while joint). */
    readonly voters: NodeId[];
    /** Learners. */
    readonly learners: NodeId[];
    /** Whether a joint (two-config) membership is in effect. */
    readonly joint: boolean;
    /** Addresses by node id. */
    readonly nodes: Record<string, string>;
  };
}

/**
 * The metrics of `raft` as `GET /metrics` serves them.
 *
 * @example
 * ```ts
 * import { kvMetrics } from "./kv.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { HttpNetwork } from "../src/transport/mod.ts";
 *
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new HttpNetwork(),
 * });
 * console.assert(kvMetrics(raft).leader === null);
 * await raft.shutdown();
 * ```
 */
export function kvMetrics(raft: KvRaft): KvMetrics {
  const m = raft.metrics.current;
  const membership = m.membership.membership;
  const nodes: Record<string, string> = {};
  for (const [id, node] of membership.nodes) nodes[String(id)] = node.addr;
  return {
    id: m.id,
    role: m.state,
    term: m.currentTerm,
    leader: m.currentLeader,
    leaderAddr: m.currentLeader === null
      ? null
      : membership.nodes.get(m.currentLeader)?.addr ?? null,
    lastLogIndex: m.lastLogIndex,
    committed: m.committed?.index ?? 0,
    applied: m.lastApplied?.index ?? 0,
    membership: {
      voters: votersOf(membership),
      learners: learnersOf(membership),
      joint: membership.configs.length > 1,
      nodes,
    },
  };
}

function _json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { ..._JSON_HEADERS, ...headers },
  });
}

function _errorResponse(raft: KvRaft, req: Request, e: unknown): Response {
  if (e instanceof ForwardToLeader) {
    const leader = e.leaderId === null ? null : e.leaderNode ??
      raft.metrics.current.membership.membership.nodes.get(e.leaderId) ?? null;
    const body = { ...e.toJSON(), leaderNode: leader };
    if (leader === null || e.leaderId === raft.id) {
      return _json(503, body, { "retry-after": "1" });
    }
    const url = new URL(req.url);
    const location = leader.addr.replace(/\/$/, "") + url.pathname + url.search;
    return _json(307, body, { location });
  }
  if (e instanceof RaftError) return _json(_statusOf(e), e.toJSON());
  if (e instanceof TypeError || e instanceof RangeError) {
    return _json(400, { code: "BadRequest", message: e.message });
  }
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return _json(500, { code: "InternalError", message } satisfies RaftErrorJSON);
}

function _statusOf(e: RaftError): number {
  if (e instanceof PayloadTooLarge) return 413;
  if (e instanceof InvalidMessage) return 400;
  if (e instanceof ChangeMembershipError) return e.code === "InProgress" ? 409 : 400;
  if (e instanceof NotInMembers) return 400;
  return 503; // ShuttingDown, StorageError, QuorumNotEnough, Timeout, NotInitialized
}

// --------------------------------------------------------------- the server

/**
 * Where and how a node runs; see {@linkcode parseKvArgs}.
 *
 * @example
 * ```ts
 * import type { KvNodeOptions } from "./kv.ts";
 * const options: KvNodeOptions = {
 *   id: 1, host: "127.0.0.1", port: 0, peers: new Map(), init: true,
 * };
 * ```
 */
export interface KvNodeOptions {
  /** This node's id. */
  readonly id: NodeId;
  /** Interface to listen on. */
  readonly host: string;
  /** Port to listen on; 0 picks a free one. */
  readonly port: number;
  /** Addresses of the cluster's nodes (may include this one), by id. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** Initialize the cluster with `peers` (and this node) as voters. */
  readonly init: boolean;
  /** Raft options (timeouts…); defaults otherwise. */
  readonly config?: Partial<Config>;
  /** Per-request timeout of the HTTP network, ms; default 1000. */
  readonly rpcTimeout?: number;
  /** Data directory of the durable log and snapshots (`openNodeStorage`); in memory when absent. */
  readonly data?: string;
  /** The peers' shared secret (`HttpNetwork` and `raftRoutes`); none when absent. */
  readonly secret?: string;
  /** The cluster id given to `initialize` with `init`; a random one when absent. */
  readonly clusterId?: string;
  /** A member's URL: a node with no state joins its cluster (see {@linkcode joinCluster}). */
  readonly join?: string;
}

/**
 * Reads node options from command-line `args`, falling back to the
 * environment (`RAFT_ID`, `RAFT_PORT`, `RAFT_HOST`, `RAFT_PEERS`,
 * `RAFT_INIT`, `RAFT_CLUSTER_ID`, `RAFT_SECRET`, `RAFT_DATA`, `RAFT_JOIN`).
 * `init` is on only when asked (`--init`, or `RAFT_INIT` not
 * `0`/`false`/`no`). An unknown or malformed flag, or `join` with `init`,
 * throws a `RangeError` with a one-line message.
 *
 * @example
 * ```ts
 * import { parseKvArgs } from "./kv.ts";
 * const o = parseKvArgs(["--id", "2", "--peers", "1=http://127.0.0.1:8001,2=http://127.0.0.1:8002"]);
 * console.assert(o.id === 2 && o.port === 8002 && o.peers.size === 2 && !o.init);
 * ```
 */
export function parseKvArgs(
  args: readonly string[],
  env: (name: string) => string | undefined = () => undefined,
): KvNodeOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    if (m === null) throw new RangeError(`unexpected argument ${arg} (see --help)`);
    const name = m[1]!;
    if (name === "init") {
      flags.set(name, m[2] ?? "true");
      continue;
    }
    if (!_VALUE_FLAGS.includes(name)) throw new RangeError(`unknown flag --${name} (see --help)`);
    const value = m[2] ?? args[++i];
    if (value === undefined) throw new RangeError(`--${name} needs a value (see --help)`);
    flags.set(name, value);
  }
  const get = (name: string): string | undefined =>
    flags.get(name) ?? env(`RAFT_${name.toUpperCase().replaceAll("-", "_")}`);
  const id = _int(get("id") ?? "1", "--id");
  const port = _int(get("port") ?? String(8000 + id), "--port");
  if (port > 65535) throw new RangeError(`--port must be at most 65535, got ${port}`);
  const host = get("host") ?? "127.0.0.1";
  if (host === "") throw new RangeError("--host needs a host name or address");
  const peers = new Map<NodeId, string>();
  for (const part of (get("peers") ?? "").split(",")) {
    if (part.trim() === "") continue;
    const eq = part.indexOf("=");
    const addr = part.slice(eq + 1).trim();
    if (eq < 0 || !/^https?:\/\/[^/\s]+\/?$/.test(addr)) {
      throw new RangeError(`--peers takes id=http://host:port,...; got ${part.trim()}`);
    }
    peers.set(_int(part.slice(0, eq).trim(), "a --peers id"), addr.replace(/\/$/, ""));
  }
  const initFlag = get("init");
  const init = initFlag !== undefined && !/^(0|false|no|)$/i.test(initFlag);
  const data = get("data");
  if (data === "") throw new RangeError("--data needs a directory");
  const secret = get("secret");
  if (secret !== undefined && !/^[\x21-\x7e]+$/.test(secret)) {
    throw new RangeError("--secret must be a non-empty token of visible ASCII characters");
  }
  const clusterId = get("cluster-id");
  if (clusterId !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(clusterId)) {
    throw new RangeError(
      `--cluster-id must be 1 to 64 letters, digits, '_', '.' or '-', got ${clusterId}`,
    );
  }
  const join = get("join")?.replace(/\/$/, "");
  if (join !== undefined && !/^https?:\/\/[^/\s]+$/.test(join)) {
    throw new RangeError(`--join takes a member's URL, http://host:port; got ${join}`);
  }
  if (join !== undefined && init) {
    throw new RangeError(
      "--join and --init exclude each other: a node forms a cluster or joins one",
    );
  }
  return {
    id,
    host,
    port,
    peers,
    init,
    ...(data !== undefined ? { data } : {}),
    ...(secret !== undefined ? { secret } : {}),
    ...(clusterId !== undefined ? { clusterId } : {}),
    ...(join !== undefined ? { join } : {}),
  };
}

const _VALUE_FLAGS: readonly string[] = [
  "id",
  "port",
  "host",
  "peers",
  "data",
  "secret",
  "cluster-id",
  "join",
];

/**
 * The one-line usage of the example.
 *
 * @example
 * ```ts
 * import { KV_USAGE } from "./kv.ts";
 * console.assert(KV_USAGE.includes("--peers"));
 * ```
 */
export const KV_USAGE: string =
  "usage: kv.ts [--id N] [--port P] [--host H] [--peers 1=http://h:p,2=...] [--init] " +
  "[--join URL] [--cluster-id NAME] [--secret TOKEN] [--data DIR] [--help]";

/**
 * What `--help` prints: every flag with its environment variable and default.
 *
 * @example
 * ```ts
 * import { KV_HELP } from "./kv.ts";
 * console.assert(KV_HELP.includes("RAFT_SECRET"));
 * ```
 */
export const KV_HELP: string = [
  KV_USAGE,
  "",
  "A node of the replicated key-value example of @x/raft.",
  "Each flag can also be set by the environment variable in brackets; flags win.",
  "",
  "  --id N              [RAFT_ID]          this node's id (default: 1)",
  "  --port P            [RAFT_PORT]        port to listen on, 0 = any free one (default: 8000 + id)",
  "  --host H            [RAFT_HOST]        interface to listen on (default: 127.0.0.1)",
  "  --peers 1=URL,2=URL [RAFT_PEERS]       the cluster's nodes and addresses (default: none)",
  "  --init              [RAFT_INIT=1]      initialize the cluster with the peers and this node",
  "                                         as voters (default: off; without it a new node waits",
  "                                         to be added; an initialized node ignores it)",
  "  --join URL          [RAFT_JOIN]        join the cluster of the member at URL: added as a",
  "                                         learner, then as a voter (default: none; a node",
  "                                         that already has state does not join again)",
  "  --cluster-id NAME   [RAFT_CLUSTER_ID]  the cluster id given to initialize with --init",
  "                                         (default: a random one)",
  "  --secret TOKEN      [RAFT_SECRET]      shared secret the peers send and require, also",
  "                                         on /cluster/* (default: none, unauthenticated)",
  "  --data DIR          [RAFT_DATA]        keep the vote, log and snapshots in DIR",
  "                                         (default: none, all in memory)",
  "  --help                                 print this help and exit",
  "",
  "Exit codes: 0 after SIGINT/SIGTERM, 1 on a storage or join failure, 2 on a bad flag.",
].join("\n");

function _int(s: string, what: string): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n)) {
    throw new RangeError(`${what} must be a non-negative integer, got ${s}`);
  }
  return n;
}

/**
 * A running node: its Raft handle, state machine, URL, and how to stop it.
 *
 * @example
 * ```ts ignore
 * const node: KvNode = await startKvNode(parseKvArgs([]));
 * await node.close();
 * ```
 */
export interface KvNode {
  /** The Raft node. */
  readonly raft: KvRaft;
  /** Its state machine. */
  readonly store: MemoryStateMachine;
  /** The base URL it serves on (and its address in the membership). */
  readonly url: string;
  /** Shuts the node down and closes the server. */
  close(): Promise<void>;
}

/**
 * Starts a node: creates it (the log and the snapshots in `data` via
 * `openNodeStorage`, the state machine restored from the last snapshot;
 * else all in memory; `HttpNetwork`), serves
 * {@linkcode createKvApp} on `host:port`, and initializes the cluster when
 * `init` is set (an already initialized node is left as it is).
 *
 * @example
 * ```ts
 * import { startKvNode } from "./kv.ts";
 * const node = await startKvNode({
 *   id: 1, host: "127.0.0.1", port: 0, peers: new Map(), init: true,
 * });
 * await node.raft.metrics.wait({ timeout: 5000 }).role("leader");
 * await fetch(`${node.url}/kv/a`, { method: "PUT", body: "1" }).then((r) => r.body?.cancel());
 * console.assert((await fetch(`${node.url}/kv/a`).then((r) => r.text())) === "1");
 * await node.close();
 * ```
 */
export async function startKvNode(options: KvNodeOptions): Promise<KvNode> {
  // With a data dir: the log and the snapshots are durable there; the state
  // machine restarts from its last snapshot and the log is purged behind it.
  const storage = options.data !== undefined
    ? await openNodeStorage({ path: options.data })
    : { logStore: new MemoryLogStore(), snapshotStore: null, close: () => Promise.resolve() };
  let store: MemoryStateMachine;
  let raft: KvRaft;
  try {
    store = storage.snapshotStore === null
      ? new MemoryStateMachine()
      : await MemoryStateMachine.open(storage.snapshotStore);
    raft = await Raft.create({
      id: options.id,
      config: options.config ?? {},
      logStore: storage.logStore,
      stateMachine: store,
      network: new HttpNetwork({
        ...(options.rpcTimeout ? { timeout: options.rpcTimeout } : {}),
        ...(options.secret !== undefined ? { secret: options.secret } : {}),
      }),
    });
  } catch (e) {
    await storage.close();
    throw e;
  }
  // The app needs this node's address, known once the server listens (port 0).
  let app: Hono | null = null;
  let server: Server;
  try {
    server = await serve((req) => app === null ? _json(503, {}) : app.fetch(req), {
      hostname: options.host,
      port: options.port,
    });
  } catch (e) {
    await raft.shutdown();
    await storage.close();
    throw e;
  }
  const host = options.host.includes(":") ? `[${options.host}]` : options.host;
  const url = options.peers.get(options.id) ?? `http://${host}:${server.port}`;
  const secret = options.secret !== undefined ? { secret: options.secret } : {};
  app = createKvApp(raft, store, { ...secret, selfAddr: url });
  const close = async (): Promise<void> => {
    await raft.shutdown();
    await server.close();
    await storage.close();
  };
  if (options.init) {
    const members = new Map<NodeId, RaftNode>();
    for (const [id, addr] of options.peers) members.set(id, { addr });
    members.set(options.id, { addr: url });
    try {
      await raft.initialize(
        members,
        options.clusterId !== undefined ? { clusterId: options.clusterId } : {},
      );
    } catch (e) {
      if (!(e instanceof AlreadyInitialized)) {
        await close();
        throw e;
      }
    }
  }
  if (options.join !== undefined && !raft.isInitialized()) {
    try {
      await joinCluster(options.join, options.id, url, secret);
    } catch (e) {
      await close();
      throw e;
    }
  }
  return { raft, store, url, close };
}

/**
 * Adds the node `id` at `addr` to the cluster of the member at `member`
 * (any member: 307 redirects to the leader are followed; a 503, no leader
 * yet, is retried a few times with a short backoff):
 * `POST /cluster/learners {"id", "addr"}` (answered once the learner caught
 * up), then `POST /cluster/membership` with the leader's voters
 * (`GET /cluster/metrics`) plus `id`. Sends `authorization: Bearer <secret>`
 * when `secret` is set. Rejects with an `Error` saying which call failed.
 *
 * @example
 * ```ts ignore
 * await joinCluster("http://127.0.0.1:8001", 2, "http://127.0.0.1:8002");
 * ```
 */
export async function joinCluster(
  member: string,
  id: NodeId,
  addr: string,
  options: { readonly secret?: string; readonly retries?: number; readonly backoff?: number } = {},
): Promise<void> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.secret !== undefined) headers.authorization = `Bearer ${options.secret}`;
  const retries = options.retries ?? 5;
  const backoff = options.backoff ?? 200;
  // One admin call: follows redirects itself (fetch drops `authorization`
  // on a cross-origin redirect), retries 503s; the answer and where it came from.
  const call = async (base: string, path: string, body?: unknown) => {
    let url = base + path;
    for (let attempt = 0, hops = 0;;) {
      const res = await fetch(url, {
        method: body === undefined ? "GET" : "POST",
        headers,
        redirect: "manual",
        signal: AbortSignal.timeout(60_000),
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const location = res.headers.get("location");
      if ((res.status === 307 || res.status === 308) && location !== null && hops++ < 5) {
        await res.body?.cancel();
        url = new URL(location, url).href;
        continue;
      }
      if (res.status === 503 && attempt++ < retries) {
        await res.body?.cancel();
        await new Promise((r) => setTimeout(r, backoff * attempt));
        continue;
      }
      const json = await res.json().catch(() => ({})) as Record<string, unknown>;
      if (!res.ok) {
        throw new Error(
          `join: ${body === undefined ? "GET" : "POST"} ${url} answered ${res.status} ` +
            `${String(json.error ?? "")}: ${String(json.message ?? "")}`,
        );
      }
      return { json, base: new URL(url).origin };
    }
  };
  const { base: leader } = await call(member, "/cluster/learners", { id, addr });
  const { json } = await call(leader, "/cluster/metrics");
  const voters = (json as unknown as AdminMetricsJSON).membership.voters;
  await call(leader, "/cluster/membership", { voters: [...new Set([...voters, id])] });
}

// ------------------------------------------------------- runtime specifics

/**
 * A running HTTP server.
 *
 * @example
 * ```ts ignore
 * const server: Server = await serve(app.fetch, { hostname: "127.0.0.1", port: 0 });
 * ```
 */
export interface Server {
  /** The port it listens on. */
  readonly port: number;
  /** Stops it (closing open connections) and resolves once it stopped. */
  close(): Promise<void>;
}

/**
 * The request handler {@linkcode serve} takes (`app.fetch` of a Hono app).
 *
 * @example
 * ```ts
 * import type { FetchHandler } from "./kv.ts";
 * const hello: FetchHandler = () => new Response("hello");
 * ```
 */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

interface _DenoServer {
  readonly addr: { readonly port: number };
  shutdown(): Promise<void>;
}

interface _Deno {
  serve(
    options: { hostname: string; port: number; onListen: () => void },
    handler: FetchHandler,
  ): _DenoServer;
  readonly args: readonly string[];
  readonly env: { get(name: string): string | undefined };
  addSignalListener(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  exit(code?: number): never;
}

interface _BunServer {
  readonly port: number;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
}

interface _Bun {
  serve(options: { hostname: string; port: number; fetch: FetchHandler }): _BunServer;
  readonly argv: readonly string[];
  readonly env: Record<string, string | undefined>;
}

interface _Process {
  on(signal: "SIGINT" | "SIGTERM", handler: () => void): void;
  exit(code?: number): never;
}

interface _Globals {
  readonly Bun?: _Bun;
  readonly Deno?: _Deno;
  readonly process?: _Process;
}

const _globals = globalThis as unknown as _Globals;

/**
 * Serves `handler` on `hostname:port` (port 0: a free one) with `Bun.serve`
 * under Bun and `Deno.serve` under Deno.
 *
 * @example
 * ```ts
 * import { serve } from "./kv.ts";
 * const server = await serve(() => new Response("hi"), { hostname: "127.0.0.1", port: 0 });
 * console.assert((await fetch(`http://127.0.0.1:${server.port}/`).then((r) => r.text())) === "hi");
 * await server.close();
 * ```
 */
export function serve(
  handler: FetchHandler,
  options: { readonly hostname: string; readonly port: number },
): Promise<Server> {
  const { hostname, port } = options;
  if ("Bun" in globalThis && _globals.Bun !== undefined) {
    const server = _globals.Bun.serve({ hostname, port, fetch: handler });
    return Promise.resolve({
      port: server.port,
      close: async () => {
        await server.stop(true);
      },
    });
  }
  if (_globals.Deno !== undefined) {
    const server = _globals.Deno.serve({ hostname, port, onListen: () => {} }, handler);
    return Promise.resolve({ port: server.addr.port, close: () => server.shutdown() });
  }
  return Promise.reject(new Error("serve() needs Deno or Bun"));
}

interface _Runtime {
  readonly args: readonly string[];
  env(name: string): string | undefined;
  onSignal(handler: () => void): void;
  exit(code: number): never;
}

function _runtime(): _Runtime {
  const { Bun, Deno, process } = _globals;
  if ("Bun" in globalThis && Bun !== undefined && process !== undefined) {
    return {
      args: Bun.argv.slice(2),
      env: (name) => Bun.env[name],
      onSignal: (handler) => {
        process.on("SIGINT", handler);
        process.on("SIGTERM", handler);
      },
      exit: (code) => process.exit(code),
    };
  }
  if (Deno !== undefined) {
    return {
      args: Deno.args,
      env: (name) => Deno.env.get(name),
      onSignal: (handler) => {
        Deno.addSignalListener("SIGINT", handler);
        Deno.addSignalListener("SIGTERM", handler);
      },
      exit: (code) => Deno.exit(code),
    };
  }
  throw new Error("examples/kv.ts runs under Deno or Bun");
}

/**
 * Calls `handler` once with the node's storage error when its storage fails
 * (`metrics.storageError` set: the node stopped); returns a function that
 * stops watching.
 *
 * @example
 * ```ts ignore
 * onStorageError(raft, (e) => { console.error(e.message); exit(1); });
 * ```
 */
export function onStorageError(raft: KvRaft, handler: (error: Error) => void): () => void {
  let done = false;
  let off = (): void => {};
  const check = (error: Error | null): void => {
    if (done || error === null) return;
    done = true;
    off();
    handler(error);
  };
  off = raft.metrics.subscribe((m) => check(m.storageError));
  check(raft.metrics.current.storageError);
  return () => {
    done = true;
    off();
  };
}

async function _main(): Promise<void> {
  const rt = _runtime();
  if (rt.args.includes("--help") || rt.args.includes("-h")) {
    console.log(KV_HELP);
    return rt.exit(0);
  }
  let options: KvNodeOptions;
  try {
    options = parseKvArgs(rt.args, rt.env);
  } catch (e) {
    console.error(`kv.ts: ${e instanceof Error ? e.message : String(e)}`);
    return rt.exit(2);
  }
  const node = await startKvNode(options);
  const { raft } = node;
  let stopping = false;
  const stop = (code: number): void => {
    if (stopping) return;
    stopping = true;
    node.close().then(
      () => rt.exit(code),
      (e) => {
        console.error(e);
        rt.exit(code === 0 ? 1 : code);
      },
    );
  };
  rt.onSignal(() => stop(0));
  onStorageError(raft, (e) => {
    console.error(`@x/raft node ${options.id}: storage failed, stopping: ${e.message}`);
    stop(1);
  });
  if (options.init || options.join !== undefined) {
    // A lone node elects itself within an election timeout; others may not be up yet.
    await raft.metrics.wait({ timeout: 1000 }).leader().catch(() => {});
  }
  const m = raft.metrics.current;
  const role = m.state === "leader"
    ? "leader"
    : !raft.isInitialized()
    ? "not initialized: waiting to be added to a cluster (pass --init to form one, --join to join one)"
    : `${m.state}, leader ${m.currentLeader ?? "unknown"}`;
  console.log(`@x/raft node ${options.id} listening on ${node.url} (${role})`);
}

if (import.meta.main) {
  _main().catch((e) => {
    console.error(e);
    _runtime().exit(1);
  });
}
