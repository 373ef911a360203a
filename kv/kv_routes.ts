/**
 * The replicated key-value API of a node as Hono routes, over a `Raft` whose
 * state machine is a {@linkcode MemoryStateMachine} (or anything that applies
 * `kvSet`/`kvDelete`/`kvCas` and answers with the key's previous value).
 * Mount it beside `raftRoutes` and `adminRoutes`
 * (`app.route("/", kvRoutes(raft, sm))`).
 *
 * ```text
 * PUT    /kv/:key            raw body = the value     → 200 {"index": n}
 * DELETE /kv/:key                                     → 200 {"index": n, "deleted": bool}
 * POST   /kv/:key/cas        {"expected": string|null, "value": string}
 *                                                     → 200 {"ok": bool, "value": string|null}
 * GET    /kv/:key?read=linearizable|lease|follower|local
 *                                                     → 200 the raw value | 404 NotFound
 * ```
 *
 * Writes and compare-and-sets are replicated and answered once applied
 * (`index` is the entry's log index). A compare-and-set is decided by the
 * state machine, atomically with the other writes: `ok` says whether the
 * key held `expected` (`null`: was absent) and so now holds `value`;
 * `value` is the key's value right after it (the new value, or the one that
 * was found). A value that is not UTF-8 is answered in base64 with
 * `"encoding": "base64"` beside it. Reads: `linearizable` (the default) confirms
 * leadership with a quorum round (ReadIndex) first, `lease` relies on the
 * leader lease (both on the leader: other nodes redirect), `follower` is
 * linearizable too but served by any member, learners included, without a
 * redirect (the node asks the leader for a read index with one request and
 * waits to have applied it: a follower read), `local` reads this node's
 * state machine as it is (possibly stale, served by any node);
 * `?consistency=` is accepted for `read=`.
 *
 * Failures answer `{"error": <name>, "message": <text>}` with a status by
 * name, as `adminRoutes` does:
 *
 * - 307 `ForwardToLeader` (writes, compare-and-sets and `linearizable` or
 *   `lease` reads on a non-leader): `Location` is the leader's address
 *   followed by the same path and query (a 307 keeps the method and body:
 *   `curl -L` resends them); with no leader (or no address) known, 503
 *   `NoLeader` with `Retry-After: 1`;
 * - 400: `InvalidMessage` (a body that is not a JSON object, or cannot be
 *   read), `InvalidArgument` (a field or an option of the wrong type or
 *   value);
 * - 401 `Unauthorized`: with the `token` option, a `/kv/*` request without
 *   `authorization: Bearer <token>`;
 * - 404 `NotFound`: no such key;
 * - 413 `PayloadTooLarge`: a body (declared by `content-length`, or read)
 *   or a command larger than the node's `maxPayloadBytes`;
 * - 415: a compare-and-set body that is not `application/json` (so no
 *   cross-site form can send one);
 * - 503: `QuorumNotEnough` (a read waited on a leader that lost its
 *   majority and was deposed) and
 *   `NotInitialized` (the node belongs to no cluster yet: initialize it or
 *   add it), both with `Retry-After: 1`; for a `follower` read, `NoLeader`
 *   (no leader known, or it refused: never a redirect) and `Unreachable`
 *   (the leader could not be asked), with `Retry-After: 1`; `ShuttingDown`,
 *   `StorageError`, `ApplyError`, `InternalError`, `LogDiverged` (the node
 *   stopped);
 * - 504: `OutcomeUnknown` (the node lost leadership with the write in its
 *   log: it may or may not have taken effect; read it back on the leader),
 *   `Timeout` (a read not confirmed in time);
 * - 500 `InternalError` for anything else, without its details.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ForwardToLeader, NotInitialized, RaftError } from "../src/errors.ts";
import { leaderRedirect } from "../src/transport/_leader_redirect.ts";
import type { Raft, ReadPolicy } from "../src/runtime/raft.ts";
import {
  readBoundedBody,
  readJsonObject,
  refuseUnlessJson,
} from "../src/transport/_request_body.ts";
import { AUTHORIZATION_HEADER, SecretCheck } from "../src/transport/_peer_auth.ts";
import { kvCas, kvDelete, kvSet } from "./kv_command.ts";

/**
 * Options of {@linkcode kvRoutes}.
 *
 * @example
 * ```ts
 * import type { KvRoutesOptions } from "./kv_routes.ts";
 * const options: KvRoutesOptions = { token: "client-t0ken" };
 * ```
 */
export interface KvRoutesOptions {
  /**
   * When set, every `/kv/*` route requires `authorization: Bearer <token>`
   * (401 otherwise; compared in constant time). A non-empty string of
   * visible ASCII; `kvRoutes` throws a `ConfigError` otherwise.
   */
  readonly token?: string;
}

/**
 * What the routes read values from: the node's state machine.
 *
 * @example
 * ```ts
 * import type { KvReader } from "./kv_routes.ts";
 * const empty: KvReader = { get: () => null };
 * ```
 */
export interface KvReader {
  /** The value of `key`, or `null`. */
  get(key: string): Uint8Array | null;
}

const _utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Builds the key-value routes of `raft`, reading values from `store` (see
 * the module doc). Throws a `ConfigError` for a malformed `token`. Build
 * them once per node: they listen to its leader changes
 * (`raft.onLeaderChange`) for as long as it lives.
 *
 * @example
 * ```ts
 * import { kvRoutes, MemoryStateMachine } from "./mod.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryNetwork } from "../testing/memory_network.ts";
 *
 * const sm = new MemoryStateMachine();
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: sm, network: new MemoryNetwork().client(1),
 * });
 * await raft.initialize([1]);
 * await raft.metrics.wait({ timeout: 5000 }).role("leader");
 * const app = kvRoutes(raft, sm);
 * const put = await app.request("/kv/greeting", { method: "PUT", body: "hello" });
 * console.assert(put.status === 200);
 * const get = await app.request("/kv/greeting");
 * console.assert((await get.text()) === "hello");
 * const cas = await app.request("/kv/greeting/cas", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: JSON.stringify({ expected: "hello", value: "hi" }),
 * });
 * console.assert((await cas.json()).ok === true);
 * await raft.shutdown();
 * ```
 */
export function kvRoutes(
  raft: Raft<Uint8Array | null>,
  store: KvReader,
  options?: KvRoutesOptions,
): Hono;
export function kvRoutes(
  raft: Raft<Uint8Array | null>,
  store: KvReader,
  options: KvRoutesOptions = {},
): Hono {
  const token = options.token === undefined ? null : new SecretCheck(options.token);
  const app = new Hono();
  // Whether this node leads, as of its last turn: every write checks it before reading its body.
  // Kept by a leader-change listener, not read from `raft.metrics`, which would be rebuilt
  // whole for the first write after every turn.
  const role = { leads: raft.metrics.current.state === "leader" };
  raft.onLeaderChange((change) => role.leads = change.role === "leader");

  if (token !== null) {
    app.use("/kv/*", async (c, next) => {
      if (!(await token.accepts(c.req.header(AUTHORIZATION_HEADER) ?? null))) {
        await c.req.raw.body?.cancel().catch(() => {});
        c.header("www-authenticate", 'Bearer realm="raft-kv"');
        return _error(c, "Unauthorized", "missing or wrong bearer token", 401);
      }
      await next();
    });
  }

  app.put("/kv/:key", async (c) => {
    const key = c.req.param("key");
    try {
      const value = await _readValue(c, raft, role.leads);
      if (value instanceof Response) return value;
      const { logId } = await raft.clientWrite(kvSet(key, value));
      return c.json({ index: logId.index });
    } catch (e) {
      return _failed(c, raft, e);
    }
  });

  app.delete("/kv/:key", async (c) => {
    const key = c.req.param("key");
    try {
      const early = role.leads ? null : await _forwardEarly(c, raft);
      if (early !== null) return early;
      const { logId, response } = await raft.clientWrite(kvDelete(key));
      return c.json({ index: logId.index, deleted: response != null });
    } catch (e) {
      return _failed(c, raft, e);
    }
  });

  app.post("/kv/:key/cas", async (c) => {
    const key = c.req.param("key");
    try {
      const body = await _readCas(c, raft, role.leads);
      if (body instanceof Response) return body;
      const { response } = await raft.clientWrite(kvCas(key, body.expected, body.value));
      const found = response ?? null;
      // The state machine answers with the value it found: the swap happened
      // exactly when that is the expected one (so also when expected === value).
      const ok = _sameBytes(found, body.expected);
      const current = ok ? body.value : found;
      return c.json({ ok, ..._valueJSON(current) });
    } catch (e) {
      return _failed(c, raft, e);
    }
  });

  app.get("/kv/:key", async (c) => {
    const key = c.req.param("key");
    try {
      const read = c.req.query("read") ?? c.req.query("consistency") ?? "linearizable";
      let policy: ReadPolicy | null;
      switch (read) {
        case "linearizable":
          policy = "read-index";
          break;
        case "lease":
          policy = "lease";
          break;
        case "follower":
          policy = "follower";
          break;
        case "local":
          policy = null;
          break;
        default:
          return _error(
            c,
            "InvalidArgument",
            "read must be linearizable, lease, follower or local, got " +
              JSON.stringify(read.slice(0, 40)),
            400,
          );
      }
      if (policy === "follower") {
        try {
          await raft.ensureLinearizable({ policy });
        } catch (e) {
          // Served here or not at all: no redirect to the leader.
          if (!(e instanceof ForwardToLeader)) throw e;
          c.header("retry-after", "1");
          return _error(c, "NoLeader", e.message, 503);
        }
      } else if (policy !== null) {
        await raft.ensureLinearizable({ policy });
      }
      const value = store.get(key);
      if (value === null) return _error(c, "NotFound", `no key ${JSON.stringify(key)}`, 404);
      return new Response(value.slice(), {
        headers: { "content-type": "application/octet-stream" },
      });
    } catch (e) {
      return _failed(c, raft, e);
    }
  });

  return app;
}

/**
 * On a node that surely does not lead (the metrics say so), the redirect (or
 * 503) to answer at once, before the body is read; `null` otherwise (the
 * call itself then decides). Called only when the node did not lead as of
 * its last turn.
 */
async function _forwardEarly(c: Context, raft: Raft<Uint8Array | null>): Promise<Response | null> {
  const m = raft.metrics.current;
  if (m.state === "leader" || m.state === "shutdown") return null;
  await c.req.raw.body?.cancel().catch(() => {});
  if (!raft.isInitialized()) return _failed(c, raft, new NotInitialized());
  const leader = m.currentLeader;
  const node = leader === null ? null : m.membership.membership.nodes.get(leader) ?? null;
  return _failed(c, raft, new ForwardToLeader(leader, node));
}

/** The PUT body (bounded by `maxPayloadBytes`), or the response refusing it. */
async function _readValue(
  c: Context,
  raft: Raft<Uint8Array | null>,
  leads: boolean,
): Promise<Uint8Array | Response> {
  const early = leads ? null : await _forwardEarly(c, raft);
  if (early !== null) return early;
  const body = await readBoundedBody(c.req.raw, raft.config.maxPayloadBytes);
  if (!body.ok) return _error(c, body.refusal.error, body.refusal.message, body.refusal.status);
  return body.value;
}

/** The compare-and-set body, checked, or the response refusing it. */
async function _readCas(
  c: Context,
  raft: Raft<Uint8Array | null>,
  leads: boolean,
): Promise<{ expected: Uint8Array | null; value: Uint8Array } | Response> {
  const req = c.req.raw;
  const refused = await refuseUnlessJson(req);
  if (refused !== null) return _error(c, refused.error, refused.message, refused.status);
  const early = leads ? null : await _forwardEarly(c, raft);
  if (early !== null) return early;
  const body = await readJsonObject(req, raft.config.maxPayloadBytes);
  if (!body.ok) return _error(c, body.refusal.error, body.refusal.message, body.refusal.status);
  const { expected, value } = body.value;
  if (expected !== null && typeof expected !== "string") {
    return _error(c, "InvalidArgument", "expected must be a string or null", 400);
  }
  if (typeof value !== "string") {
    return _error(c, "InvalidArgument", "value must be a string", 400);
  }
  const encoder = new TextEncoder();
  return {
    expected: expected === null ? null : encoder.encode(expected),
    value: encoder.encode(value),
  };
}

function _sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `{value}` as a string (or `null`), or in base64 with `encoding` when not UTF-8. */
function _valueJSON(v: Uint8Array | null): { value: string | null; encoding?: "base64" } {
  if (v === null) return { value: null };
  try {
    return { value: _utf8.decode(v) };
  } catch {
    let binary = "";
    for (let i = 0; i < v.length; i += 0x8000) {
      binary += String.fromCharCode(...v.subarray(i, i + 0x8000));
    }
    return { value: btoa(binary), encoding: "base64" };
  }
}

/** The HTTP status of a failed call, by error name (see the module doc). */
function _status(code: string): number {
  switch (code) {
    case "ForwardToLeader":
      return 307;
    case "InvalidMessage":
    case "InvalidArgument":
    case "TypeError":
      return 400;
    case "PayloadTooLarge":
      return 413;
    case "OutcomeUnknown":
    case "Timeout":
      return 504;
    case "NoLeader":
    case "QuorumNotEnough":
    case "ShuttingDown":
    case "StorageError":
    case "ApplyError":
    case "InternalError":
    case "LogDiverged":
    case "NotInitialized":
    case "Unreachable":
      return 503;
    default:
      return 500;
  }
}

/** The answer to a failed call, by {@linkcode _status}. */
function _failed(c: Context, raft: Raft<Uint8Array | null>, e: unknown): Response {
  if (e instanceof TypeError) return _error(c, "InvalidArgument", e.message, 400);
  if (!(e instanceof RaftError)) return _error(c, "InternalError", "internal error", 500);
  if (e instanceof ForwardToLeader) return _forward(c, raft, e);
  const status = _status(e.code);
  if (status === 500) return _error(c, "InternalError", "internal error", 500);
  // Worth retrying soon: a new leader is elected, the node is added, the leader answers.
  if (e.code === "QuorumNotEnough" || e.code === "NotInitialized" || e.code === "Unreachable") {
    c.header("retry-after", "1");
  }
  return _error(c, e.code, e.message, status);
}

/** 307 to the leader's same URL, or 503 `NoLeader` when its address is unknown. */
function _forward(c: Context, raft: Raft<Uint8Array | null>, e: ForwardToLeader): Response {
  const known = e.leaderId === null
    ? null
    : raft.metrics.current.membership.membership.nodes.get(e.leaderId) ?? null;
  return leaderRedirect(c.req.url, e, known, raft.id);
}

function _error(c: Context, error: string, message: string, status: number): Response {
  return c.json({ error, message }, status as ContentfulStatusCode);
}
