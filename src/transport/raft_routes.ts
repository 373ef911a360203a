/**
 * The server side of the HTTP transport: Hono routes that decode a peer's
 * CBOR request, hand it to the node and answer with the CBOR response: one
 * route per request type of `REQUEST_TYPES` (`messages.ts`).
 *
 * ```text
 * POST /raft/append            AppendRequest      → AppendResponse
 * POST /raft/vote              VoteRequest        → VoteResponse
 * POST /raft/pre-vote          VoteRequest        → VoteResponse (pre-vote)
 * POST /raft/timeout-now       TimeoutNowRequest  → TimeoutNowResponse
 * POST /raft/install-snapshot  frame + snapshot bytes → InstallSnapshotResponse
 * POST /raft/read-index        ReadIndexRequest   → ReadIndexResponse (follower reads)
 * ```
 *
 * Bodies are `application/cbor` (see `codec.ts`). An install-snapshot body
 * is a frame — a 4-byte big-endian length and the CBOR
 * `InstallSnapshotRequest` — followed by the snapshot's bytes, which are
 * handed to the node as a stream while they arrive (never buffered whole).
 *
 * Every route requires the `Content-Type` `application/cbor`: the media type
 * is compared case-insensitively and its parameters (`; charset=…`, which
 * mean nothing to CBOR) are ignored. Anything else — no content type,
 * `text/plain`, a form — is refused before the body is read. (It also keeps
 * browsers out: a cross-origin page can POST a "simple" content type without
 * asking, never `application/cbor`.)
 *
 * **Peer checks.** Before anything reaches the node, a request passes these
 * checks, in this order; the first that fails answers, the body is left
 * unread (cancelled), and the node is never called:
 *
 * 1. content type (415, above);
 * 2. shared secret, with `raftRoutes(raft, { secret })`: the request must
 *    carry `authorization: Bearer <secret>`, else 401 `InvalidMessage` (with
 *    `www-authenticate: Bearer`). The SHA-256 digests of the offered token
 *    and of the secret are compared in constant time. Without `secret`, no
 *    header is required (and one sent is ignored);
 * 3. target node: a request whose `x-raft-to` header names another node id
 *    than the handler's `id` (an address now used by another node, a stale
 *    membership) gets 412 `InvalidMessage`. A request without the header
 *    (an older sender) is accepted: the header guards against misrouting,
 *    not against an attacker (the secret does that). Skipped when the
 *    handler has no `id`;
 * 4. cluster: a request whose `x-raft-cluster` header (the sender's cluster
 *    id, percent-encoded) differs from the node's — when the node has one
 *    (its membership's `clusterId` is not empty) — gets 412
 *    `ClusterMismatch`, carrying the sender from `x-raft-from`. Without
 *    either header (an older sender), or before the node knows its cluster,
 *    the request goes on and the node's own check of the cluster id inside
 *    the body (409, below) still applies;
 * 5. body size (413), then decoding (400), below.
 *
 * Failures answer JSON (`application/json`, a {@linkcode RaftErrorJSON}),
 * never a throw:
 *
 * - 400 `InvalidMessage`: a body that cannot be read or does not decode, a
 *   request whose type does not match the route, a truncated snapshot frame —
 *   or the node refused the request as invalid (e.g. a term beyond the
 *   largest it accepts);
 * - 401 `InvalidMessage`: a missing or wrong shared secret;
 * - 409 `ClusterMismatch`: the node refused a request from a node of another
 *   cluster;
 * - 410 `NotAMember` (with the sender's `nodeId`): the node refused a
 *   request from a node that is not a member of its committed membership
 *   (removed), one it would have refused anyway (an older term, a vote it
 *   would not grant: see `removedSender` in `src/engine/peer_checks.ts`);
 *   a request from a member it has not heard of yet is handled as usual;
 * - 412 `InvalidMessage`: `x-raft-to` names another node; 412
 *   `ClusterMismatch`: `x-raft-cluster` names another cluster;
 * - 413 `PayloadTooLarge`: a body over `maxBodyBytes`, a snapshot frame
 *   claiming more, or a snapshot over `maxSnapshotBytes`;
 * - 415 `InvalidMessage`: a content type other than `application/cbor`;
 * - 503: the node refused with any other {@linkcode RaftError}
 *   (`ShuttingDown`, `StorageError`, …): try again later or elsewhere;
 * - 500: the node failed with an `InternalError` (a bug), or with something
 *   that is not a {@linkcode RaftError} (reported as `InternalError`), or
 *   answered with a response of the wrong type (`InvalidMessage`).
 *
 * The status of a node's {@linkcode RaftError} is chosen by its `code`.
 *
 * @module
 */

import { concatChunks, readBody } from "./_bytes.ts";
import { Hono } from "hono";
import { type CodecLimits, decodeMessage, encodeMessage } from "../codec.ts";
import {
  ClusterMismatch,
  ConfigError,
  InvalidMessage,
  PayloadTooLarge,
  RaftError,
  type RaftErrorJSON,
} from "../errors.ts";
import { isNodeId, type NodeId } from "../types.ts";
import { APPEND_FRAMING_BYTES } from "../runtime/append_batches.ts";
import {
  AUTHORIZATION_HEADER,
  CLUSTER_HEADER,
  FROM_HEADER,
  SecretCheck,
  TO_HEADER,
} from "./_peer_auth.ts";
import {
  type RaftRequest,
  type RaftResponse,
  REQUEST_TYPES,
  type RequestType,
} from "../messages.ts";
import { countOption } from "./_option_checks.ts";

/**
 * What the routes need from a node: its RPC entry point, and optionally its
 * id and metrics (for the `x-raft-to` and `x-raft-cluster` checks). `Raft`
 * satisfies it.
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
   * `data` carries an install-snapshot request's bytes: from
   * {@linkcode raftRoutes}, a stream of them as they arrive, which errors
   * (with {@linkcode PayloadTooLarge}, or the connection's error) if the
   * transfer fails part-way.
   */
  handle(
    request: RaftRequest,
    data?: Uint8Array | ReadableStream<Uint8Array>,
  ): Promise<RaftResponse>;
  /** The node's id: a request whose `x-raft-to` names another gets 412. */
  readonly id?: NodeId;
  /**
   * The node's size limits: {@linkcode raftRoutes} refuses (throws
   * {@linkcode ConfigError}) a `maxBodyBytes` too small for the appends
   * such nodes send — below `maxAppendBytes`, or below `maxPayloadBytes`
   * plus `APPEND_FRAMING_BYTES` (the largest single entry, alone) — since
   * such a request would be refused (413) every time it is resent.
   */
  readonly config?: { readonly maxPayloadBytes: number; readonly maxAppendBytes: number };
  /**
   * The node's metrics: once its membership has a cluster id, a request
   * whose `x-raft-cluster` names another cluster gets 412. Read until the
   * cluster id is known (it never changes afterwards), not for every request.
   */
  readonly metrics?: {
    readonly current: {
      readonly membership: { readonly membership: { readonly clusterId: string } };
    };
  };
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
  /**
   * Largest request body accepted, in bytes; larger ones get 413. Also bounds
   * the frame (metadata) of an install-snapshot request. Must be at least
   * the node's `maxAppendBytes` and its `maxPayloadBytes` plus
   * `APPEND_FRAMING_BYTES` (512), else {@linkcode raftRoutes} throws
   * {@linkcode ConfigError}: the cluster's nodes would send appends this
   * node refuses forever. Default 64 MiB.
   */
  readonly maxBodyBytes?: number;
  /**
   * Largest snapshot accepted on `/raft/install-snapshot`, in bytes, counted
   * while it streams in: past it, the stream the node reads errors with
   * {@linkcode PayloadTooLarge} and the request gets 413. Default 1 GiB.
   */
  readonly maxSnapshotBytes?: number;
  /** Limits for decoding requests; default `DEFAULT_CODEC_LIMITS`. */
  readonly limits?: Partial<CodecLimits>;
  /**
   * Shared secret of the cluster: every request must carry
   * `authorization: Bearer <secret>` (as `HttpNetwork({ secret })` sends),
   * else 401. A non-empty string of visible ASCII (`!` to `~`); throws a
   * `TypeError` otherwise. Default: none, no header required.
   */
  readonly secret?: string;
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

/**
 * The default of {@linkcode RaftRoutesOptions.maxSnapshotBytes}: 1 GiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_SNAPSHOT_BYTES } from "./raft_routes.ts";
 * console.assert(DEFAULT_MAX_SNAPSHOT_BYTES === 1024 * 1024 * 1024);
 * ```
 */
export const DEFAULT_MAX_SNAPSHOT_BYTES: number = 1024 * 1024 * 1024;

/** The one media type of requests and responses. */
const _CBOR = "application/cbor";

const _CBOR_INIT: ResponseInit = { headers: { "content-type": _CBOR } };

/**
 * Builds a Hono app serving the Raft RPC routes for `raft`. Mount it in a
 * larger app with `app.route("/", raftRoutes(raft))`, or serve it alone.
 * Throws a `ConfigError` for an option that is not a non-negative integer,
 * or a malformed `secret`, and for a
 * `maxBodyBytes` below what the node's appends may take (see
 * {@linkcode RaftRoutesOptions.maxBodyBytes}). Peer checks (secret, target node,
 * cluster) come before the body is read: see the module doc.
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
 *     type: "vote", clusterId: "c1", term: 2, candidateId: 1, lastLogId: null, transfer: false,
 *   }).slice(), // a Uint8Array<ArrayBuffer>, as BodyInit wants
 * });
 * const reply = decodeMessage(new Uint8Array(await res.arrayBuffer()));
 * console.assert(res.status === 200 && reply.type === "vote-response");
 *
 * // Any other content type is refused unread.
 * const text = await app.request("/raft/vote", { method: "POST", body: "hello" });
 * console.assert(text.status === 415);
 * ```
 */
export function raftRoutes(raft: RaftHandler, options?: RaftRoutesOptions): Hono;
export function raftRoutes(raft: RaftHandler, options: RaftRoutesOptions = {}): Hono {
  const maxBodyBytes = countOption("maxBodyBytes", options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES);
  const maxSnapshotBytes = countOption(
    "maxSnapshotBytes",
    options.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES,
  );
  _checkBodyLimit(raft, maxBodyBytes);
  const limits = options.limits;
  if (limits !== undefined) {
    // Checked now: a bad limit is this node's mistake, not every peer's (400).
    for (const [name, value] of Object.entries(limits)) {
      if (value !== undefined) countOption(`limits.${name}`, value);
    }
  }
  const peer: _Peer = {
    raft,
    secret: options.secret === undefined ? null : new SecretCheck(options.secret),
    clusterId: "",
  };
  const app = new Hono();
  // One route per request type (route name = message type): a snapshot
  // streams, every other request is one CBOR body.
  for (const type of REQUEST_TYPES) {
    app.post(
      `/raft/${type}`,
      type === "install-snapshot"
        ? (c) => _serveSnapshot(peer, c.req.raw, maxBodyBytes, maxSnapshotBytes, limits)
        : (c) => _serve(peer, c.req.raw, type, maxBodyBytes, limits),
    );
  }
  return app;
}

/**
 * Throws a {@linkcode ConfigError} if `maxBodyBytes` cannot take every append
 * a node configured as `raft` sends (when the handler tells its config).
 */
function _checkBodyLimit(raft: RaftHandler, maxBodyBytes: number): void {
  const config = raft.config;
  if (config === undefined) return;
  const { maxAppendBytes, maxPayloadBytes } = config;
  if (maxBodyBytes < maxAppendBytes) {
    throw new ConfigError(
      "maxBodyBytes",
      `maxBodyBytes (${maxBodyBytes}) must be at least the node's maxAppendBytes ` +
        `(${maxAppendBytes}): larger appends would be refused (413) every time they are resent`,
    );
  }
  if (maxBodyBytes < maxPayloadBytes + APPEND_FRAMING_BYTES) {
    throw new ConfigError(
      "maxBodyBytes",
      `maxBodyBytes (${maxBodyBytes}) must be at least the node's maxPayloadBytes ` +
        `(${maxPayloadBytes}) + ${APPEND_FRAMING_BYTES}: an append carrying the largest ` +
        "entry a client may write would be refused (413) every time it is resent",
    );
  }
}

/**
 * The HTTP status answering a {@linkcode RaftError} the node refused a
 * request with, by its `code` (so an error from another copy of the module,
 * or one this file does not import, maps the same).
 */
function _status(e: RaftError): number {
  switch (e.code) {
    case "InvalidMessage":
      return 400; // the node judged the request invalid: sending it again will not help
    case "ClusterMismatch":
      return 409; // a node of another cluster
    case "NotAMember":
      return 410; // a node removed from the cluster (Gone)
    case "PayloadTooLarge":
      return 413;
    case "InternalError":
      return 500; // a bug in the node (which stops), as for a failure that is not a RaftError
    default:
      return 503; // ShuttingDown, StorageError, …: this node cannot serve now
  }
}

/** The answer to the node's failure: its RaftError with {@linkcode _status}, else 500. */
function _refused(e: unknown): Response {
  if (e instanceof RaftError) return _json(_status(e), e.toJSON());
  return _json(500, _internal(e));
}

/**
 * `null` if `req` carries `application/cbor` (any case, parameters ignored),
 * else the 415 answer; the body is then left unread (and cancelled).
 */
function _checkContentType(req: Request, route: string): Response | null {
  const header = req.headers.get("content-type");
  if (header !== null) {
    const semi = header.indexOf(";");
    const essence = (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase();
    if (essence === _CBOR) return null;
  }
  void req.body?.cancel().catch(() => {});
  const got = header === null
    ? "none"
    : JSON.stringify(header.length > 100 ? header.slice(0, 100) + "…" : header);
  return _json(
    415,
    new InvalidMessage(`${route} takes Content-Type ${_CBOR}, got ${got}`).toJSON(),
  );
}

/** The node and the secret check, as the routes see them. */
interface _Peer {
  readonly raft: RaftHandler;
  readonly secret: SecretCheck | null;
  /**
   * The node's cluster id once its membership has one (`""` until then): it
   * never changes afterwards, so it is read from the metrics only until
   * known — reading them for every request would rebuild them for most.
   */
  clusterId: string;
}

/**
 * The checks before the body is read, in order — content type (415), secret
 * (401), target node (412), cluster (412) — as `null` if all pass, else the
 * answer (the body is then cancelled unread).
 */
async function _admit(peer: _Peer, req: Request, route: string): Promise<Response | null> {
  const unsupported = _checkContentType(req, route);
  if (unsupported !== null) return unsupported;
  const refused = await _checkPeer(peer, req, route);
  if (refused !== null) void req.body?.cancel().catch(() => {});
  return refused;
}

async function _checkPeer(peer: _Peer, req: Request, route: string): Promise<Response | null> {
  if (peer.secret !== null && !(await peer.secret.accepts(req.headers.get(AUTHORIZATION_HEADER)))) {
    const res = _json(
      401,
      new InvalidMessage(`${route}: missing or wrong peer secret (authorization: Bearer …)`)
        .toJSON(),
    );
    res.headers.set("www-authenticate", 'Bearer realm="raft"');
    return res;
  }
  const { id, metrics } = peer.raft;
  const to = req.headers.get(TO_HEADER);
  if (to !== null && id !== undefined && to.trim() !== String(id)) {
    const named = to.length > 40 ? to.slice(0, 40) + "…" : to;
    return _json(
      412,
      new InvalidMessage(
        `${route}: request meant for node ${JSON.stringify(named)} reached node ${id}`,
      ).toJSON(),
    );
  }
  const cluster = req.headers.get(CLUSTER_HEADER);
  const fromHeader = req.headers.get(FROM_HEADER);
  if (cluster !== null && fromHeader !== null && metrics !== undefined) {
    if (peer.clusterId === "") {
      const known = metrics.current?.membership?.membership?.clusterId;
      if (typeof known === "string") peer.clusterId = known;
    }
    const expected = peer.clusterId;
    const from = Number(fromHeader);
    const got = _percentDecoded(cluster);
    if (
      expected !== "" && isNodeId(from) &&
      String(from) === fromHeader.trim() && got !== null && got !== expected
    ) {
      return _json(412, new ClusterMismatch(expected, got, from).toJSON());
    }
  }
  return null;
}

/** `decodeURIComponent(s)`, or `null` if `s` is not well-formed. */
function _percentDecoded(s: string): string | null {
  try {
    return decodeURIComponent(s);
  } catch {
    return null;
  }
}

async function _serve(
  peer: _Peer,
  req: Request,
  type: RequestType,
  maxBodyBytes: number,
  limits: Partial<CodecLimits> | undefined,
): Promise<Response> {
  const raft = peer.raft;
  try {
    const refused = await _admit(peer, req, `/raft/${type}`);
    if (refused !== null) return refused;
    let body: Uint8Array | number;
    try {
      body = await readBody(req, maxBodyBytes);
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
      return _json(400, _invalid(e).toJSON());
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
      return _refused(e);
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
 * install-snapshot request, then the snapshot's bytes. Only the frame is
 * read here; the node gets the rest as a stream, pulled from the request
 * body as it reads (so the sender is held back by TCP flow control, and
 * memory stays at a chunk or two).
 */
async function _serveSnapshot(
  peer: _Peer,
  req: Request,
  maxFrame: number,
  max: number,
  limits: Partial<CodecLimits> | undefined,
): Promise<Response> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let handedOver = false;
  const raft = peer.raft;
  try {
    const refused = await _admit(peer, req, "/raft/install-snapshot");
    if (refused !== null) return refused;
    const body = req.body;
    if (body === null) {
      return _json(400, new InvalidMessage("truncated install-snapshot frame").toJSON());
    }
    reader = body.getReader();
    let frame: _Frame | number | null;
    try {
      frame = await _readFrame(reader, maxFrame);
    } catch (e) {
      return _json(400, new InvalidMessage("cannot read the request body", { cause: e }).toJSON());
    }
    if (frame === null) {
      return _json(400, new InvalidMessage("truncated install-snapshot frame").toJSON());
    }
    if (typeof frame === "number") {
      return _json(413, new PayloadTooLarge(frame, maxFrame).toJSON());
    }
    let request;
    try {
      request = decodeMessage(frame.header, limits);
    } catch (e) {
      return _json(400, _invalid(e).toJSON());
    }
    if (request.type !== "install-snapshot") {
      return _json(
        400,
        new InvalidMessage(`expected an install-snapshot request, got ${request.type}`).toJSON(),
      );
    }
    const declared = Number(req.headers.get("content-length") ?? NaN);
    const declaredData = declared - 4 - frame.header.byteLength;
    if (declaredData > max) return _json(413, new PayloadTooLarge(declaredData, max).toJSON());
    const data = new _SnapshotBody(reader, frame.rest, max);
    handedOver = true;
    let response: RaftResponse | PayloadTooLarge;
    try {
      const handled = Promise.resolve(raft.handle(request, data.stream));
      // Past the limit, answer 413 at once: the node sees the error in its stream.
      response = await Promise.race([handled, data.tooLarge]);
      if (response instanceof PayloadTooLarge) handled.catch(() => {});
    } catch (e) {
      return _refused(e);
    } finally {
      // The node is done with the bytes (or refused them): stop reading the body.
      data.close();
    }
    if (response instanceof PayloadTooLarge) return _json(413, response.toJSON());
    if (response?.type !== "install-snapshot-response") {
      return _json(500, new InvalidMessage(`unexpected answer ${response?.type}`).toJSON());
    }
    return new Response(encodeMessage(response) as Uint8Array<ArrayBuffer>, _CBOR_INIT);
  } catch (e) {
    return _json(500, _internal(e));
  } finally {
    if (!handedOver && reader !== undefined) void reader.cancel().catch(() => {});
  }
}

/** A decoding failure as an InvalidMessage (the codec throws nothing else on input). */
function _invalid(e: unknown): InvalidMessage {
  return e instanceof InvalidMessage ? e : new InvalidMessage(_describe(e), { cause: e });
}

/** An install-snapshot frame: the encoded request, and the bytes read after it. */
interface _Frame {
  readonly header: Uint8Array;
  readonly rest: Uint8Array;
}

/**
 * Reads the frame at the start of an install-snapshot body: `null` if the
 * body ends first, or the header length if it exceeds `max` (then nothing
 * more is read). Chunks are kept aside and joined once enough arrived, so a
 * frame sent in many small pieces costs linear time, not quadratic.
 */
async function _readFrame(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  max: number,
): Promise<_Frame | number | null> {
  let chunks: Uint8Array[] = [];
  let total = 0;
  let need = 4;
  let headerLength = -1;
  for (;;) {
    if (total >= need) {
      const buf = concatChunks(chunks, total);
      chunks = [buf];
      if (headerLength < 0) {
        headerLength = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0);
        if (headerLength > max) return headerLength;
        need = 4 + headerLength;
        continue;
      }
      return { header: buf.subarray(4, need), rest: buf.subarray(need) };
    }
    const { done, value } = await reader.read();
    if (done) return null;
    if (value.byteLength === 0) continue;
    chunks.push(value);
    total += value.byteLength;
  }
}

/**
 * The snapshot bytes after the frame, as a stream the node reads at its own
 * pace: each read pulls the next chunk of the request body. Past `max`
 * bytes the stream errors with {@linkcode PayloadTooLarge} (which the
 * state machine sees) and `tooLarge` resolves.
 */
class _SnapshotBody {
  readonly stream: ReadableStream<Uint8Array>;
  readonly tooLarge: Promise<PayloadTooLarge>;
  #reader: ReadableStreamDefaultReader<Uint8Array>;
  #rest: Uint8Array | null;
  #total = 0;
  #done = false;
  #exceeded!: (e: PayloadTooLarge) => void;

  constructor(reader: ReadableStreamDefaultReader<Uint8Array>, rest: Uint8Array, max: number) {
    this.#reader = reader;
    this.#rest = rest.byteLength > 0 ? rest : null;
    this.tooLarge = new Promise((resolve) => (this.#exceeded = resolve));
    this.stream = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let chunk = this.#rest;
        this.#rest = null;
        if (chunk === null) {
          let r: ReadableStreamReadResult<Uint8Array>;
          try {
            r = await this.#reader.read();
          } catch (e) {
            this.#done = true;
            controller.error(e);
            return;
          }
          if (r.done) {
            this.#done = true;
            controller.close();
            return;
          }
          chunk = r.value;
        }
        this.#total += chunk.byteLength;
        if (this.#total > max) {
          const err = new PayloadTooLarge(this.#total, max);
          controller.error(err);
          this.close(err);
          this.#exceeded(err);
          return;
        }
        controller.enqueue(chunk);
      },
      cancel: (reason) => this.close(reason),
    }, { highWaterMark: 0 });
  }

  /** Stops reading the request body (if not read to its end). */
  close(reason?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#rest = null;
    void this.#reader.cancel(reason).catch(() => {});
  }
}

function _describe(e: unknown): string {
  try {
    return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  } catch {
    return "an undescribable value";
  }
}

function _internal(e: unknown): RaftErrorJSON {
  if (e instanceof RaftError) return e.toJSON();
  return { code: "InternalError", message: _describe(e) };
}

function _json(status: number, body: RaftErrorJSON): Response {
  let text: string;
  try {
    text = JSON.stringify(body);
  } catch (e) {
    // A field that does not serialize (a bigint, a cycle): keep the code.
    text = JSON.stringify({ code: String(body.code), message: _describe(e) });
  }
  return new Response(text, { status, headers: { "content-type": "application/json" } });
}
