/**
 * The server side of the HTTP transport: Hono routes that decode a peer's
 * CBOR request, hand it to the node and answer with the CBOR response.
 *
 * ```text
 * POST /raft/append            AppendRequest      → AppendResponse
 * POST /raft/vote              VoteRequest        → VoteResponse
 * POST /raft/pre-vote          VoteRequest        → VoteResponse (pre-vote)
 * POST /raft/timeout-now       TimeoutNowRequest  → TimeoutNowResponse
 * POST /raft/install-snapshot  501 (not supported over HTTP yet)
 * ```
 *
 * Bodies are `application/cbor` (see `codec.ts`). Failures answer JSON
 * (`application/json`, a {@linkcode RaftErrorJSON}): 400 for a body that does
 * not decode or whose type does not match the route (`InvalidMessage`), 413
 * for a body over `maxBodyBytes` (`PayloadTooLarge`), 503 when the node
 * refuses with a {@linkcode RaftError} (`ShuttingDown`, `StorageError`), 500
 * for anything else. A handler never throws.
 *
 * @module
 */

import { Hono } from "hono";
import { type CodecLimits, decodeMessage, encodeMessage } from "../codec.ts";
import { InvalidMessage, PayloadTooLarge, RaftError, type RaftErrorJSON } from "../errors.ts";
import type { RaftRequest, RaftResponse } from "../messages.ts";

/**
 * What the routes need from a node: its RPC entry point. `Raft` satisfies it.
 *
 * @example
 * ```ts
 * import type { RaftHandler } from "./raft_routes.ts";
 * const refuseVotes: RaftHandler = {
 *   handle: (req) => Promise.resolve({ type: "vote-response", term: req.term, granted: false }),
 * };
 * ```
 */
export interface RaftHandler {
  /**
   * Handles one request from a peer and resolves with its response;
   * `data` carries an install-snapshot request's bytes.
   */
  handle(request: RaftRequest, data?: Uint8Array): Promise<RaftResponse>;
}

/**
 * Options of {@linkcode raftRoutes}.
 *
 * @example
 * ```ts
 * import type { RaftRoutesOptions } from "./raft_routes.ts";
 * const options: RaftRoutesOptions = { maxBodyBytes: 16 * 1024 * 1024 };
 * ```
 */
export interface RaftRoutesOptions {
  /** Largest request body accepted, in bytes; larger ones get 413. Default 64 MiB. */
  readonly maxBodyBytes?: number;
  /** Largest snapshot accepted on `/raft/install-snapshot`, in bytes. Default 1 GiB. */
  readonly maxSnapshotBytes?: number;
  /** Limits for decoding requests; default `DEFAULT_CODEC_LIMITS`. */
  readonly limits?: Partial<CodecLimits>;
}

/**
 * The default of {@linkcode RaftRoutesOptions.maxBodyBytes}: 64 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_BODY_BYTES } from "./raft_routes.ts";
 * console.assert(DEFAULT_MAX_BODY_BYTES === 64 * 1024 * 1024);
 * ```
 */
export const DEFAULT_MAX_BODY_BYTES: number = 64 * 1024 * 1024;

/** The request types served, by route (route name = message type). */
const _ROUTES: readonly RaftRequest["type"][] = ["append", "vote", "pre-vote", "timeout-now"];

const _CBOR_INIT: ResponseInit = { headers: { "content-type": "application/cbor" } };

/**
 * Builds a Hono app serving the Raft RPC routes for `raft`. Mount it in a
 * larger app with `app.route("/", raftRoutes(raft))`, or serve it alone.
 *
 * @example
 * ```ts
 * import { raftRoutes } from "./raft_routes.ts";
 * import { decodeMessage, encodeMessage } from "../codec.ts";
 *
 * const app = raftRoutes({
 *   handle: (req) => Promise.resolve({ type: "vote-response", term: req.term, granted: true }),
 * });
 * const res = await app.request("/raft/vote", {
 *   method: "POST",
 *   headers: { "content-type": "application/cbor" },
 *   body: encodeMessage({
 *     type: "vote", term: 2, candidateId: 1, lastLogId: null, transfer: false,
 *   }).slice(), // a Uint8Array<ArrayBuffer>, as BodyInit wants
 * });
 * const reply = decodeMessage(new Uint8Array(await res.arrayBuffer()));
 * console.assert(res.status === 200 && reply.type === "vote-response");
 * ```
 */
export function raftRoutes(raft: RaftHandler, options: RaftRoutesOptions = {}): Hono {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
    throw new RangeError(`maxBodyBytes must be a non-negative integer, got ${maxBodyBytes}`);
  }
  const limits = options.limits;
  const app = new Hono();
  for (const type of _ROUTES) {
    app.post(`/raft/${type}`, (c) => _serve(raft, c.req.raw, type, maxBodyBytes, limits));
  }
  const maxSnapshotBytes = options.maxSnapshotBytes ?? 1024 * 1024 * 1024;
  app.post(
    "/raft/install-snapshot",
    (c) => _serveSnapshot(raft, c.req.raw, maxSnapshotBytes, limits),
  );
  return app;
}

async function _serve(
  raft: RaftHandler,
  req: Request,
  type: RaftRequest["type"],
  maxBodyBytes: number,
  limits: Partial<CodecLimits> | undefined,
): Promise<Response> {
  try {
    let body: Uint8Array | number;
    try {
      body = await _readBody(req, maxBodyBytes);
    } catch (e) {
      return _json(400, new InvalidMessage("cannot read the request body", { cause: e }).toJSON());
    }
    if (typeof body === "number") {
      return _json(413, new PayloadTooLarge(body, maxBodyBytes).toJSON());
    }
    let request;
    try {
      request = decodeMessage(body, limits);
    } catch (e) {
      const err = e instanceof InvalidMessage ? e : new InvalidMessage(String(e), { cause: e });
      return _json(400, err.toJSON());
    }
    if (request.type !== type) {
      return _json(
        400,
        new InvalidMessage(`expected a ${type} request on /raft/${type}, got ${request.type}`)
          .toJSON(),
      );
    }
    let response: RaftResponse;
    try {
      response = await raft.handle(request as RaftRequest);
    } catch (e) {
      if (e instanceof RaftError) return _json(503, e.toJSON());
      return _json(500, _internal(e));
    }
    if (response?.type !== `${type}-response`) {
      return _json(
        500,
        new InvalidMessage(`the node answered a ${type} request with ${response?.type}`).toJSON(),
      );
    }
    return new Response(encodeMessage(response) as Uint8Array<ArrayBuffer>, _CBOR_INIT);
  } catch (e) {
    return _json(500, _internal(e));
  }
}

/**
 * Serves `/raft/install-snapshot`: a 4-byte big-endian length, the CBOR
 * install-snapshot request, then the snapshot's bytes.
 */
async function _serveSnapshot(
  raft: RaftHandler,
  req: Request,
  max: number,
  limits: Partial<CodecLimits> | undefined,
): Promise<Response> {
  try {
    let body: Uint8Array | number;
    try {
      body = await _readBody(req, max);
    } catch (e) {
      return _json(400, new InvalidMessage("cannot read the request body", { cause: e }).toJSON());
    }
    if (typeof body === "number") return _json(413, new PayloadTooLarge(body, max).toJSON());
    const headerLength = body.byteLength >= 4
      ? new DataView(body.buffer, body.byteOffset, body.byteLength).getUint32(0)
      : -1;
    if (headerLength < 0 || 4 + headerLength > body.byteLength) {
      return _json(400, new InvalidMessage("truncated install-snapshot frame").toJSON());
    }
    let request;
    try {
      request = decodeMessage(body.subarray(4, 4 + headerLength), limits);
    } catch (e) {
      const err = e instanceof InvalidMessage ? e : new InvalidMessage(String(e), { cause: e });
      return _json(400, err.toJSON());
    }
    if (request.type !== "install-snapshot") {
      return _json(
        400,
        new InvalidMessage(`expected an install-snapshot request, got ${request.type}`).toJSON(),
      );
    }
    let response: RaftResponse;
    try {
      response = await raft.handle(request, body.subarray(4 + headerLength));
    } catch (e) {
      if (e instanceof RaftError) return _json(503, e.toJSON());
      return _json(500, _internal(e));
    }
    if (response?.type !== "install-snapshot-response") {
      return _json(500, new InvalidMessage(`unexpected answer ${response?.type}`).toJSON());
    }
    return new Response(encodeMessage(response) as Uint8Array<ArrayBuffer>, _CBOR_INIT);
  } catch (e) {
    return _json(500, _internal(e));
  }
}

/**
 * Reads the whole body, or returns the number of bytes seen once they
 * exceed `max` (without reading further).
 */
async function _readBody(req: Request, max: number): Promise<Uint8Array | number> {
  const declared = req.headers.get("content-length");
  if (declared !== null) {
    const n = Number(declared);
    if (n > max) {
      await req.body?.cancel().catch(() => {});
      return n;
    }
    const bytes = new Uint8Array(await req.arrayBuffer());
    return bytes.byteLength > max ? bytes.byteLength : bytes;
  }
  const stream = req.body;
  if (stream === null) return new Uint8Array(0);
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > max) {
      await reader.cancel().catch(() => {});
      return total;
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

function _internal(e: unknown): RaftErrorJSON {
  if (e instanceof RaftError) return e.toJSON();
  return {
    code: "InternalError",
    message: e instanceof Error ? `${e.name}: ${e.message}` : String(e),
  };
}

function _json(status: number, body: RaftErrorJSON): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}
