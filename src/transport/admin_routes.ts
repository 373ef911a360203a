/**
 * The admin API of a node as Hono routes: health and readiness probes,
 * cluster initialization, membership changes, leader transfer and metrics.
 * Mount it beside {@linkcode raftRoutes} (`app.route("/", adminRoutes(raft))`).
 *
 * ```text
 * GET  /health                  → 200 {"ok": true}
 * GET  /ready                   → 200 {"ok": true} | 503 NotReady
 * POST /cluster/init            {"members"?: {"1": "http://…"}, "clusterId"?} → {"clusterId"}
 * POST /cluster/learners        {"id": 4, "addr": "host:port" or "http(s)://…", "promote"?: true} → {"logId"} once caught up
 * POST /cluster/membership      {"voters": [1, 2, 4], "retain"?: false} → {"logId"} once committed
 * POST /cluster/transfer-leader {"to": 2}                      → {"leader": 2} once 2 leads
 * POST /cluster/snapshot        {}                             → {"snapshotId", "lastLogId"} of the
 *                                                                snapshot this node built
 * GET  /cluster/metrics         → the node's metrics as JSON
 * ```
 *
 * Bodies are JSON in and out. POSTs require `Content-Type: application/json`
 * (415 otherwise) and a body of at most `maxBodyBytes` (413); malformed JSON
 * or fields of the wrong type get 400. Failures answer
 * `{"error": <code>, "message": <text>}`, the code being the
 * {@linkcode RaftError}'s; the status is chosen by that code:
 *
 * - 307 `ForwardToLeader` (membership, learner and transfer calls on a
 *   non-leader): `Location` is the leader's address followed by the same
 *   path; with no leader (or no address) known, 503 `NoLeader` with
 *   `Retry-After: 1`;
 * - 400: `EmptyMembership`, `LearnerNotFound`, `NotInMembers`,
 *   `InvalidMessage`, and bad input (`InvalidArgument`);
 * - 401 `Unauthorized`: with the `secret` option, a `/cluster/*` request
 *   without `authorization: Bearer <secret>`;
 * - 409: `AlreadyInitialized`, `InProgress`, `ClusterMismatch`, and
 *   `AlreadyVoter`: `POST /cluster/learners` (without `promote`) for an id
 *   that is a voter already — a node joining under a voter's id has lost
 *   its data (it forgot its vote) and must not come back under that id:
 *   remove it, and join again under a new id;
 * - 504 `Timeout`;
 * - 503: `ShuttingDown`, `StorageError`, `InternalError`, and `NotReady`
 *   from `/ready`;
 * - 500 `InternalError` for anything else, without its details.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ConfigError, ForwardToLeader, InvalidArgument, RaftError } from "../errors.ts";
import { leaderRedirect } from "./_leader_redirect.ts";
import type { Raft } from "../runtime/raft.ts";
import type { RaftMetrics } from "../runtime/metrics.ts";
import {
  isNodeId,
  isVoter,
  learnersOf,
  type LogId,
  type NodeId,
  type RaftNode,
  votersOf,
} from "../types.ts";
import { AUTHORIZATION_HEADER, SecretCheck } from "./_peer_auth.ts";
import { readJsonObject, refuseUnlessJson } from "./_request_body.ts";
import { countOption } from "./_option_checks.ts";

/**
 * What the admin routes need from a node; `Raft` satisfies it.
 *
 * @example
 * ```ts
 * import type { AdminRaft } from "./admin_routes.ts";
 * import type { Raft } from "../runtime/raft.ts";
 * const asAdmin = (raft: Raft<Uint8Array | null>): AdminRaft => raft;
 * ```
 */
export type AdminRaft = Pick<
  Raft<unknown>,
  "id" | "metrics" | "trigger" | "initialize" | "addLearner" | "changeMembership"
>;

/**
 * Options of {@linkcode adminRoutes}.
 *
 * @example
 * ```ts
 * import type { AdminRoutesOptions } from "./admin_routes.ts";
 * const options: AdminRoutesOptions = { selfAddr: "http://127.0.0.1:21001", secret: "s3cr3t" };
 * ```
 */
export interface AdminRoutesOptions {
  /**
   * This node's own Raft address: used by `POST /cluster/init` with no
   * `members` (a cluster of this node alone). Default `""`.
   */
  readonly selfAddr?: string;
  /**
   * When set, every `/cluster/*` route requires
   * `authorization: Bearer <secret>` (401 otherwise; compared in constant
   * time); `/health` and `/ready` stay open. A non-empty string of visible
   * ASCII; `adminRoutes` throws a `ConfigError` otherwise.
   */
  readonly secret?: string;
  /** Largest POST body accepted, in bytes; larger ones get 413. Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /** How long `/cluster/learners` waits for the learner to catch up, in ms. Default 30 s. */
  readonly learnerTimeout?: number;
  /** How long `/cluster/transfer-leader` waits for the new leader, in ms. Default 10 s. */
  readonly transferTimeout?: number;
}

/**
 * The default of {@linkcode AdminRoutesOptions.maxBodyBytes}: 64 KiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_ADMIN_MAX_BODY_BYTES } from "./admin_routes.ts";
 * console.assert(DEFAULT_ADMIN_MAX_BODY_BYTES === 64 * 1024);
 * ```
 */
export const DEFAULT_ADMIN_MAX_BODY_BYTES: number = 64 * 1024;

/**
 * The JSON of `GET /cluster/metrics`: indexes are numbers (or `null`).
 *
 * @example
 * ```ts
 * import type { AdminMetricsJSON } from "./admin_routes.ts";
 * const isLeader = (m: AdminMetricsJSON): boolean => m.state === "leader";
 * ```
 */
export interface AdminMetricsJSON {
  /** This node. */
  readonly id: NodeId;
  /** Its role, or `shutdown`. */
  readonly state: string;
  /** Current term. */
  readonly term: number;
  /** The leader it knows of, or `null`. */
  readonly leader: NodeId | null;
  /** Index of the last log entry (0 for none). */
  readonly lastLogIndex: number;
  /** Last committed index. */
  readonly committed: number | null;
  /** Last applied index. */
  readonly applied: number | null;
  /** Last index in the current snapshot. */
  readonly snapshot: number | null;
  /** Last purged index. */
  readonly purged: number | null;
  /** The effective membership: voters, learners and every node's address. */
  readonly membership: {
    readonly voters: NodeId[];
    readonly learners: NodeId[];
    readonly nodes: Record<string, string>;
  };
  /** On the leader, each peer's matched index and lag; `null` elsewhere. */
  readonly replication: Record<string, { matched: number | null; lag: number }> | null;
}

/**
 * The JSON form of metrics served by `GET /cluster/metrics`.
 *
 * @example
 * ```ts
 * import { metricsJSON } from "./admin_routes.ts";
 * import { Raft } from "../runtime/raft.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryStateMachine } from "../../kv/mod.ts";
 * import { MemoryNetwork } from "../../testing/memory_network.ts";
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * console.assert(metricsJSON(raft.metrics.current).committed === null);
 * await raft.shutdown();
 * ```
 */
export function metricsJSON(m: RaftMetrics): AdminMetricsJSON {
  const nodes: Record<string, string> = {};
  for (const [id, node] of m.membership.membership.nodes) nodes[String(id)] = node.addr;
  let replication: Record<string, { matched: number | null; lag: number }> | null = null;
  if (m.replication !== null) {
    replication = {};
    for (const [id, r] of m.replication) {
      replication[String(id)] = { matched: r.matched?.index ?? null, lag: r.lag };
    }
  }
  return {
    id: m.id,
    state: m.state,
    term: m.currentTerm,
    leader: m.currentLeader,
    lastLogIndex: m.lastLogIndex,
    committed: m.committed?.index ?? null,
    applied: m.lastApplied?.index ?? null,
    snapshot: m.snapshot?.index ?? null,
    purged: m.purged?.index ?? null,
    membership: {
      voters: votersOf(m.membership.membership),
      learners: learnersOf(m.membership.membership),
      nodes,
    },
    replication,
  };
}

/**
 * Why a node is not ready, or `null` when it is: it belongs to a cluster
 * (has a membership that includes it), knows a leader, has applied
 * everything committed, and has not stopped.
 *
 * @example
 * ```ts
 * import { notReadyReason } from "./admin_routes.ts";
 * import { Raft } from "../runtime/raft.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryStateMachine } from "../../kv/mod.ts";
 * import { MemoryNetwork } from "../../testing/memory_network.ts";
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * console.assert(notReadyReason(raft.metrics.current) !== null); // not in a cluster yet
 * await raft.shutdown();
 * ```
 */
export function notReadyReason(m: RaftMetrics): string | null {
  if (m.storageError !== null) return `the node stopped: ${m.storageError.code}`;
  if (m.state === "shutdown") return "the node is shut down";
  const nodes = m.membership.membership.nodes;
  if (nodes.size === 0) return "waiting to be added to a cluster";
  if (!nodes.has(m.id)) return "this node is not a member of its cluster";
  if (m.currentLeader === null) return "no leader known";
  const committed = m.committed?.index ?? 0;
  const applied = m.lastApplied?.index ?? 0;
  if (applied < committed) return `applying: applied ${applied} of ${committed} committed`;
  return null;
}

/**
 * The HTTP status of an admin call's failure, by error code (see the module
 * doc). `ForwardToLeader` maps to 307; the routes answer 503 `NoLeader`
 * instead when no leader address is known.
 *
 * @example
 * ```ts
 * import { adminErrorStatus } from "./admin_routes.ts";
 * console.assert(adminErrorStatus("AlreadyInitialized") === 409);
 * console.assert(adminErrorStatus("Timeout") === 504);
 * console.assert(adminErrorStatus("SomethingElse") === 500);
 * ```
 */
export function adminErrorStatus(code: string): number {
  switch (code) {
    case "ForwardToLeader":
      return 307;
    case "EmptyMembership":
    case "LearnerNotFound":
    case "NotInMembers":
    case "InvalidMessage":
    case "InvalidArgument":
    case "TypeError":
      return 400;
    case "PreconditionFailed":
      return 412;
    case "AlreadyInitialized":
    case "AlreadyVoter":
    case "InProgress":
    case "ClusterMismatch":
      return 409;
    case "Timeout":
      return 504;
    case "NoLeader":
    case "NotReady":
    case "NotInitialized":
    case "ShuttingDown":
    case "StorageError":
    case "ApplyError":
    case "InternalError":
      return 503;
    default:
      return 500;
  }
}

/**
 * Builds the admin routes of `raft` (see the module doc). Throws a
 * `ConfigError` naming the option for a malformed `secret` or `selfAddr`,
 * or a limit that is not a non-negative integer.
 *
 * @example
 * ```ts
 * import { adminRoutes } from "./admin_routes.ts";
 * import { Raft } from "../runtime/raft.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryStateMachine } from "../../kv/mod.ts";
 * import { MemoryNetwork } from "../../testing/memory_network.ts";
 *
 * const net = new MemoryNetwork();
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: net.client(1),
 * });
 * const app = adminRoutes(raft, { selfAddr: "http://127.0.0.1:21001" });
 * console.assert((await app.request("/health")).status === 200);
 * const init = await app.request("/cluster/init", {
 *   method: "POST", headers: { "content-type": "application/json" }, body: "{}",
 * });
 * console.assert(init.status === 200);
 * await raft.shutdown();
 * ```
 */
export function adminRoutes(raft: AdminRaft, options?: AdminRoutesOptions): Hono;
export function adminRoutes(raft: AdminRaft, options: AdminRoutesOptions = {}): Hono {
  const maxBodyBytes = countOption(
    "maxBodyBytes",
    options.maxBodyBytes ?? DEFAULT_ADMIN_MAX_BODY_BYTES,
  );
  const learnerTimeout = countOption("learnerTimeout", options.learnerTimeout ?? 30_000);
  const transferTimeout = countOption("transferTimeout", options.transferTimeout ?? 10_000);
  const selfAddr = options.selfAddr ?? "";
  if (typeof selfAddr !== "string") throw new ConfigError("selfAddr", "selfAddr must be a string");
  const secret = options.secret === undefined ? null : new SecretCheck(options.secret);
  const app = new Hono();

  app.get("/health", (c) => c.json({ ok: true }));
  app.get("/ready", (c) => {
    const reason = notReadyReason(raft.metrics.current);
    return reason === null ? c.json({ ok: true }) : _error(c, "NotReady", reason);
  });

  if (secret !== null) {
    app.use("/cluster/*", async (c, next) => {
      if (!(await secret.accepts(c.req.header(AUTHORIZATION_HEADER) ?? null))) {
        await c.req.raw.body?.cancel().catch(() => {});
        c.header("www-authenticate", 'Bearer realm="raft-admin"');
        return _error(c, "Unauthorized", "missing or wrong bearer token", 401);
      }
      await next();
    });
  }

  app.get("/cluster/metrics", (c) => c.json(metricsJSON(raft.metrics.current)));

  app.post("/cluster/init", (c) =>
    _post(c, maxBodyBytes, async (body) => {
      const clusterId = _optional(body, "clusterId", "string") as string | undefined;
      let members: Map<NodeId, RaftNode>;
      if (body.members === undefined) {
        members = new Map([[raft.id, { addr: selfAddr }]]);
      } else {
        members = _members(body.members, selfAddr);
      }
      await raft.initialize(members, clusterId === undefined ? {} : { clusterId });
      return { clusterId: raft.metrics.current.membership.membership.clusterId };
    }));

  // A learner joins in two calls: without `promote` (refused for a voter's
  // id: that node lost its data), then with it (idempotent: a retry after a
  // lost answer finds it a voter already).
  app.post("/cluster/learners", (c) =>
    _post(c, maxBodyBytes, async (body) => {
      const id = _nodeId(body.id, "id");
      const addr = _peerAddress(body.addr, selfAddr, "addr");
      const promote = _optional(body, "promote", "boolean") === true;
      const m = raft.metrics.current;
      if (!promote && m.state === "leader" && isVoter(m.membership.membership, id)) {
        throw new _AlreadyVoter(id, votersOf(m.membership.membership));
      }
      const { logId } = await raft.addLearner(id, { addr }, {
        blocking: true,
        timeout: learnerTimeout,
      });
      if (!promote) return { logId: _logIdJSON(logId) };
      const promoted = await raft.changeMembership({ type: "add-voter-ids", ids: [id] });
      return { logId: _logIdJSON(promoted.index === 0 ? logId : promoted) };
    }));

  app.post("/cluster/membership", (c) =>
    _post(c, maxBodyBytes, async (body) => {
      if (!Array.isArray(body.voters)) {
        throw new InvalidArgument("voters", "voters must be an array of node ids");
      }
      const ids = body.voters.map((v, i) => _nodeId(v, `voters[${i}]`));
      const retain = _optional(body, "retain", "boolean") as boolean | undefined;
      const logId = await raft.changeMembership(
        { type: "replace-all-voters", ids },
        { retain: retain ?? false },
      );
      return { logId: _logIdJSON(logId) };
    }));

  app.post("/cluster/transfer-leader", (c) =>
    _post(c, maxBodyBytes, async (body) => {
      const to = _nodeId(body.to, "to");
      await raft.trigger.transferLeader(to);
      await raft.metrics.wait({ timeout: transferTimeout }).leader(to);
      return { leader: to };
    }));

  // A snapshot of this node's state machine now (the log behind it is then purged as after
  // any snapshot); each member builds its own.
  app.post("/cluster/snapshot", (c) =>
    _post(c, maxBodyBytes, async () => {
      const meta = await raft.trigger.snapshot();
      return {
        snapshotId: meta.snapshotId,
        lastLogId: meta.lastLogId === null ? null : _logIdJSON(meta.lastLogId),
      };
    }));

  return app;
}

/** `POST /cluster/learners` for a voter's id: 409 `AlreadyVoter`. */
class _AlreadyVoter extends RaftError {
  readonly nodeId: NodeId;
  readonly voters: readonly NodeId[];

  constructor(nodeId: NodeId, voters: readonly NodeId[]) {
    super(
      "AlreadyVoter",
      `node ${nodeId} is already a voter (voters ${voters.join(", ")}): a node joining under ` +
        "a voter's id has most likely lost its data (wiped data directory, new disk) and must " +
        "not come back under that id: it forgot its vote and could vote twice in one term. " +
        `Remove node ${nodeId} (POST /cluster/membership with the other voters), then join ` +
        "again under a new id",
    );
    this.nodeId = nodeId;
    this.voters = voters;
  }

  protected override fields(): Record<string, unknown> {
    return { nodeId: this.nodeId, voters: this.voters };
  }
}

/** A log id as JSON: `{term, index}` (numbers). */
function _logIdJSON(id: LogId): { term: number; index: number } {
  return { term: id.term, index: id.index };
}

function _nodeId(v: unknown, name: string): NodeId {
  if (!isNodeId(v)) {
    throw new InvalidArgument(name, `${name} must be a node id (a non-negative integer)`);
  }
  return v;
}

function _optional(body: Record<string, unknown>, name: string, type: string): unknown {
  const v = body[name];
  if (v !== undefined && typeof v !== type) {
    throw new InvalidArgument(name, `${name} must be a ${type}`);
  }
  return v;
}

/**
 * A peer's address as the membership keeps it: the base URL of its
 * `raftRoutes`. A bare `host:port` gets the scheme of `selfAddr` (`https`
 * when this node serves TLS, else `http`); anything that is not an `http(s)`
 * URL without a query, fragment or credentials is an `InvalidArgument` naming `what`.
 */
function _peerAddress(v: unknown, selfAddr: string, what: string): string {
  if (typeof v !== "string" || v === "") {
    throw new InvalidArgument(what, `${what} must be a non-empty string`);
  }
  const scheme = selfAddr.startsWith("https://") ? "https" : "http";
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `${scheme}://${v}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgument(
      what,
      `${what} ${JSON.stringify(v.slice(0, 80))} is not host:port or a URL`,
    );
  }
  if (
    (url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "" ||
    url.hash !== "" || url.username !== "" || url.password !== ""
  ) {
    throw new InvalidArgument(
      what,
      `${what} ${JSON.stringify(v.slice(0, 80))} must be host:port or an http(s) base URL`,
    );
  }
  return url.href.replace(/\/+$/, "");
}

/** `{"1": "http://…", …}` as a map of node ids to nodes; InvalidArgument on bad input. */
function _members(v: unknown, selfAddr: string): Map<NodeId, RaftNode> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new InvalidArgument("members", "members must be an object of node ids to addresses");
  }
  const members = new Map<NodeId, RaftNode>();
  for (const [key, addr] of Object.entries(v)) {
    const id = Number(key);
    if (!isNodeId(id) || String(id) !== key) {
      throw new InvalidArgument(
        "members",
        `members: ${JSON.stringify(key.slice(0, 40))} is not a node id`,
      );
    }
    members.set(id, { addr: _peerAddress(addr, selfAddr, `members: the address of ${id}`) });
  }
  if (members.size === 0) throw new InvalidArgument("members", "members must not be empty");
  return members;
}

/**
 * Serves a POST: checks the content type (415) and size (413), parses the
 * JSON object (400), runs `handle` and answers its result, or its failure.
 */
async function _post(
  c: Context,
  max: number,
  handle: (body: Record<string, unknown>) => Promise<unknown>,
): Promise<Response> {
  const req = c.req.raw;
  const refused = await refuseUnlessJson(req);
  if (refused !== null) return _error(c, refused.error, refused.message, refused.status);
  const body = await readJsonObject(req, max);
  if (!body.ok) return _error(c, body.refusal.error, body.refusal.message, body.refusal.status);
  try {
    return c.json(await handle(body.value) as Record<string, unknown>);
  } catch (e) {
    return _failed(c, e);
  }
}

/** The answer to a failed admin call, by {@linkcode adminErrorStatus}. */
function _failed(c: Context, e: unknown): Response {
  if (e instanceof TypeError) return _error(c, "InvalidArgument", e.message, 400);
  if (!(e instanceof RaftError)) return _error(c, "InternalError", "internal error", 500);
  if (e instanceof ForwardToLeader) return leaderRedirect(c.req.url, e);
  const status = adminErrorStatus(e.code);
  if (status === 500) return _error(c, "InternalError", "internal error", 500);
  return _error(c, e.code, e.message, status);
}

function _error(c: Context, error: string, message: string, status?: number): Response {
  return c.json({ error, message }, (status ?? adminErrorStatus(error)) as ContentfulStatusCode);
}
