/**
 * The client side of the HTTP transport: a {@linkcode RaftNetwork} that
 * POSTs each CBOR-encoded request to the peer's `raftRoutes()` with `fetch`.
 * Snapshots are streamed: the request body is a `ReadableStream` that reads
 * the snapshot's chunks only as fast as the connection takes them, so a
 * transfer holds a few chunks in memory, not the snapshot.
 *
 * A call never throws: every failure — the request cannot be encoded, the
 * peer cannot be reached, times out, refuses, answers something that is
 * not the expected response, or the call is aborted through
 * `SendOptions.signal` (the node shuts down: the fetch is aborted, and a
 * snapshot's stream cancelled) — is a promise rejected with
 * {@linkcode Unreachable}, whose `cause` tells why (see
 * {@linkcode HttpNetwork}); when the peer answered with an HTTP error, it is
 * a {@linkcode PeerRefused} with the status and the peer's error. A peer is never trusted: its answer is read up
 * to `maxResponseBytes`, its error body up to 64 KiB, and redirects are not
 * followed.
 *
 * Every request carries, besides its CBOR body, headers the peer's
 * `raftRoutes` checks before reading it: `x-raft-to` (the target's node id),
 * `x-raft-from` (the sender's, from the request) and `x-raft-cluster` (the
 * request's cluster id, percent-encoded; left out while it is empty), and,
 * with `HttpNetwork({ secret })`, `authorization: Bearer <secret>`.
 *
 * @module
 */

import { concatChunks, readDeclared } from "./_bytes.ts";
import { type CodecLimits, decodeMessage, encodeMessage } from "../codec.ts";
import {
  ClusterMismatch,
  ConfigError,
  InvalidMessage,
  NotAMember,
  PayloadTooLarge,
  Timeout,
  Unreachable,
} from "../errors.ts";
import type {
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  RaftRequest,
  RaftResponse,
  ReadIndexRequest,
  ReadIndexResponse,
} from "../messages.ts";
import type { RaftNetwork, SendOptions } from "../network.ts";
import { isNodeId, type NodeId, type RaftNode } from "../types.ts";
import {
  AUTHORIZATION_HEADER,
  checkSecret,
  CLUSTER_HEADER,
  FROM_HEADER,
  TO_HEADER,
} from "./_peer_auth.ts";
import { countOption } from "./_option_checks.ts";

/**
 * The `fetch` signature {@linkcode HttpNetwork} uses (the global one by default).
 *
 * @example
 * ```ts
 * import type { FetchFn } from "./http_network.ts";
 * const refuse: FetchFn = () => Promise.reject(new TypeError("connection refused"));
 * ```
 */
export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

/**
 * Options of {@linkcode HttpNetwork}.
 *
 * **Which timeout applies where.** An `HttpNetwork` call ends at the first
 * of these deadlines (each starts when the call does); when one fires, the
 * fetch is aborted, a snapshot's data stream cancelled, and the call
 * rejects with {@linkcode Unreachable} whose `cause` is a `Timeout` (or
 * the signal's reason):
 *
 * | deadline | applies to | measures |
 * | --- | --- | --- |
 * | `timeout` (1 s) | `send`: append (heartbeats included), vote, pre-vote, timeout-now | the whole exchange: connect, request, answer and its body |
 * | `snapshotTimeout` (10 min) | `installSnapshot` | the whole transfer, until the peer's answer (sent once it installed the snapshot) |
 * | `snapshotIdleTimeout` (10 s) | `installSnapshot`, while its body is being sent | the longest stall: no chunk moved (the peer stopped reading, or the snapshot's stream is slow); once the body is all sent, only `snapshotTimeout` bounds the wait for the answer |
 * | `SendOptions.signal` | both | whatever the caller decides: the runtime aborts every call in flight when the node shuts down |
 *
 * `timeout` never applies to snapshots, and the snapshot deadlines never to
 * `send`. The node's `Config` timeouts (`sendTimeout`,
 * `installSnapshotTimeout`, where the config has them) are not read here: `HttpNetwork` sees only its own options and the
 * call's `signal`, so a node-level deadline reaches it only as that signal
 * (and then the earlier of the two wins).
 *
 * @example
 * ```ts
 * import type { HttpNetworkOptions } from "./http_network.ts";
 * const options: HttpNetworkOptions = {
 *   timeout: 500, // each append, vote, pre-vote, timeout-now
 *   snapshotIdleTimeout: 30_000, // a snapshot may stall 30 s (a busy follower)
 *   snapshotTimeout: 3_600_000, // and take up to an hour in all
 * };
 * ```
 */
export interface HttpNetworkOptions {
  /**
   * Deadline of each `send` (append, vote, pre-vote, timeout-now) in
   * milliseconds, from the request until the answer's body is read; never
   * applied to `installSnapshot`. Default 1000.
   */
  readonly timeout?: number;
  /**
   * Deadline of a whole snapshot transfer (`installSnapshot`) in
   * milliseconds, from the request until the peer's answer (which comes once
   * it installed the snapshot). Default 600 000 (ten minutes): a large
   * transfer that keeps moving is not cut short; a stalled one is caught by
   * `snapshotIdleTimeout`.
   */
  readonly snapshotTimeout?: number;
  /**
   * Longest time, in milliseconds, a snapshot's body may stall while being
   * sent — no chunk moves, because the peer stopped reading (e.g. its
   * install waits its turn behind a long apply) or the snapshot's own stream
   * is slow — before the transfer is abandoned (and retried by the leader).
   * Checked only while the body is being sent: the wait for the peer's
   * answer afterwards is bounded by `snapshotTimeout`. This is what a
   * "per chunk" timeout means for a streamed snapshot. Default 10 000.
   */
  readonly snapshotIdleTimeout?: number;
  /** The `fetch` to use; default `globalThis.fetch`. */
  readonly fetch?: FetchFn;
  /** Limits for decoding responses; default `DEFAULT_CODEC_LIMITS`. */
  readonly limits?: Partial<CodecLimits>;
  /**
   * Largest response body accepted from a peer, in bytes: a longer one is
   * not read further and the call rejects with {@linkcode Unreachable} whose
   * `cause` is a {@linkcode PayloadTooLarge}. Raft responses are a few dozen
   * bytes. Default 1 MiB.
   */
  readonly maxResponseBytes?: number;
  /**
   * Shared secret of the cluster, sent as `authorization: Bearer <secret>`
   * on every request, for peers serving `raftRoutes(raft, { secret })`
   * (which answer 401 to a missing or wrong one: the call rejects with a
   * {@linkcode PeerRefused} whose `status` is 401 and whose message says
   * "wrong or missing secret"). A non-empty
   * string of visible ASCII (`!` to `~`); throws a `TypeError` otherwise.
   * Default: none.
   */
  readonly secret?: string;
}

/**
 * The default of {@linkcode HttpNetworkOptions.maxResponseBytes}: 1 MiB.
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_RESPONSE_BYTES } from "./http_network.ts";
 * console.assert(DEFAULT_MAX_RESPONSE_BYTES === 1024 * 1024);
 * ```
 */
export const DEFAULT_MAX_RESPONSE_BYTES: number = 1024 * 1024;

/** How much of a non-2xx answer's body is read (for its message, or its JSON error). */
const _MAX_ERROR_BODY = 64 * 1024;

const _HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "application/cbor",
  accept: "application/cbor",
});

/** A `RequestInit` that may carry a streamed body (`duplex` is not in every lib's type). */
type _StreamingInit = RequestInit & { duplex?: "half" };

/** When a streamed body last moved, for the idle timeout; `done` once it was all read. */
interface _Progress {
  last: number;
  done: boolean;
}

/**
 * Sends Raft requests over HTTP: `POST ${node.addr}/raft/<type>` with the
 * request encoded by `encodeMessage`, and decodes the response, which must be
 * the matching response type.
 *
 * A call never throws: every failure rejects with {@linkcode Unreachable}
 * (one failure path for the caller, which retries later as it would after a
 * lost message), whose `cause` tells why:
 *
 * - an {@linkcode InvalidMessage} "cannot encode …" when the request itself
 *   is malformed (e.g. a term that is not a safe integer) or is not one
 *   this method sends; nothing was sent, and the encoder's error is its own
 *   `cause`. Sending it again will not help: it is the caller's bug;
 * - a {@linkcode ConfigError} (`field` `"addr"`) when `node.addr` is not an
 *   absolute `http://` or `https://` URL — empty, say, while the node has not
 *   learnt its peer's address; nothing was sent;
 * - the network error, a {@linkcode Timeout}, or the reason `options.signal`
 *   aborted with (e.g. `ShuttingDown`);
 * - a {@linkcode ClusterMismatch} when the peer answered 409 (or 412, from
 *   its check of the `x-raft-cluster` header) with a well-formed
 *   `ClusterMismatch` JSON error: it belongs to another cluster
 *   (`expected` is its cluster id, `got` the one we sent, `from` our id);
 *   test it with `err.cause instanceof ClusterMismatch` (or
 *   `err.cause.code === "ClusterMismatch"`);
 * - a {@linkcode NotAMember} when the peer answered 410 (`Gone`) with a
 *   well-formed `NotAMember` JSON error: it holds this node (`nodeId`) for
 *   removed from its cluster;
 * - the peer's error for any other non-2xx status (redirects included: they
 *   are not followed).
 *
 *   Whenever the peer answered with a status other than 2xx (the three
 *   cases above included), the rejection is a {@linkcode PeerRefused}: an
 *   `Unreachable` that also has the `status` and the peer's error `code`
 *   (`peerCode`), and whose message says what the status most likely means
 *   — `peer 2 refused: HTTP 401 Unauthorized (wrong or missing secret: …)`,
 *   so a misconfigured secret says so in a log line;
 * - a {@linkcode PayloadTooLarge} for a response over `maxResponseBytes`;
 * - an {@linkcode InvalidMessage} for a response that does not decode or is
 *   not the matching response.
 *
 * @example
 * ```ts
 * import { HttpNetwork } from "./http_network.ts";
 * import { encodeMessage } from "../codec.ts";
 *
 * // A fake peer, so the example runs without a server.
 * const network = new HttpNetwork({
 *   timeout: 500,
 *   fetch: (url) => {
 *     console.assert(url === "http://127.0.0.1:8002/raft/vote");
 *     return Promise.resolve(
 *       new Response(encodeMessage({ type: "vote-response", term: 2, granted: true }).slice()),
 *     );
 *   },
 * });
 * const res = await network.send(2, { addr: "http://127.0.0.1:8002" }, {
 *   type: "vote", clusterId: "c1", term: 2, candidateId: 1, lastLogId: null, transfer: false,
 * });
 * console.assert(res.type === "vote-response" && res.granted);
 * ```
 */
export class HttpNetwork implements RaftNetwork {
  readonly #timeout: number;
  readonly #snapshotTimeout: number;
  readonly #snapshotIdleTimeout: number;
  readonly #fetch: FetchFn;
  readonly #limits: Partial<CodecLimits> | undefined;
  readonly #maxResponseBytes: number;
  readonly #authorization: string | null;

  /**
   * Builds a network from `options`; throws a `ConfigError` for a timeout
   * that is not a positive number or a limit that is not a non-negative
   * integer, or a malformed `secret`.
   *
   * @param options timeouts, fetch, decode limits, response size limit, secret
   */
  constructor(options?: HttpNetworkOptions);
  constructor(options: HttpNetworkOptions = {}) {
    this.#timeout = _positive("timeout", options.timeout ?? 1000);
    this.#snapshotTimeout = _positive("snapshotTimeout", options.snapshotTimeout ?? 600_000);
    this.#snapshotIdleTimeout = _positive(
      "snapshotIdleTimeout",
      options.snapshotIdleTimeout ?? 10_000,
    );
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#limits = options.limits;
    if (this.#limits !== undefined) {
      // Checked now: a bad limit would otherwise fail every response.
      for (const [name, value] of Object.entries(this.#limits)) {
        if (value !== undefined) countOption(`limits.${name}`, value);
      }
    }
    this.#maxResponseBytes = countOption(
      "maxResponseBytes",
      options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    );
    this.#authorization = options.secret === undefined
      ? null
      : `Bearer ${checkSecret("secret", options.secret)}`;
  }

  /** The headers of a request of `request` to `target`. */
  #headers(target: NodeId, request: RaftRequest): Record<string, string> {
    const headers: Record<string, string> = { ..._HEADERS, [TO_HEADER]: String(target) };
    const from = _senderOf(request);
    if (from !== null) headers[FROM_HEADER] = String(from);
    const cluster: unknown = (request as { clusterId?: unknown }).clusterId;
    if (typeof cluster === "string" && cluster !== "") {
      headers[CLUSTER_HEADER] = encodeURIComponent(cluster);
    }
    if (this.#authorization !== null) headers[AUTHORIZATION_HEADER] = this.#authorization;
    return headers;
  }

  /**
   * Sends `request` (an append, vote, pre-vote, timeout-now or read-index
   * request) to `target` at `node.addr` and resolves with its response;
   * rejects (never throws) with {@linkcode Unreachable}.
   *
   * @example
   * ```ts
   * import { HttpNetwork } from "./http_network.ts";
   * import { InvalidMessage, Unreachable } from "../errors.ts";
   *
   * const network = new HttpNetwork({
   *   fetch: () => Promise.resolve(new Response("busy", { status: 503 })),
   * });
   * const addr = { addr: "http://10.0.0.3:8000" };
   * const err = await network
   *   .send(3, addr, { type: "timeout-now", clusterId: "c1", term: 4, leaderId: 1 })
   *   .catch((e) => e);
   * console.assert(err instanceof Unreachable && err.nodeId === 3);
   *
   * // A request that cannot be encoded rejects too, and is not sent.
   * const bad = await network
   *   .send(3, addr, { type: "timeout-now", clusterId: "c1", term: 0.5, leaderId: 1 })
   *   .catch((e) => e);
   * console.assert(bad instanceof Unreachable && bad.cause instanceof InvalidMessage);
   * ```
   */
  async send(
    target: NodeId,
    node: RaftNode,
    request: RaftRequest,
    options?: SendOptions,
  ): Promise<RaftResponse> {
    const body = _encode(target, request, _SENT_BY_SEND);
    return await this.#post(
      target,
      node,
      request.type,
      this.#headers(target, request),
      body as Uint8Array<ArrayBuffer>,
      this.#timeout,
      options?.signal,
    );
  }

  /**
   * Asks `target` (the leader) for a read index: a follower read's one
   * request, `POST /raft/read-index` — {@linkcode HttpNetwork.send} with the
   * response typed. Rejects (never throws) with {@linkcode Unreachable}.
   *
   * @example
   * ```ts
   * import { HttpNetwork } from "./http_network.ts";
   * import { Unreachable } from "../errors.ts";
   *
   * const net = new HttpNetwork({ timeout: 200 });
   * await net
   *   .readIndex(1, { addr: "" }, { type: "read-index", clusterId: "c1", term: 3, readerId: 2 })
   *   .catch((e) => console.assert(e instanceof Unreachable)); // no address known yet
   * ```
   */
  async readIndex(
    target: NodeId,
    node: RaftNode,
    request: ReadIndexRequest,
    options?: SendOptions,
  ): Promise<ReadIndexResponse> {
    return await this.send(target, node, request, options) as ReadIndexResponse;
  }

  /**
   * Sends a snapshot to `target`: one POST to `/raft/install-snapshot` whose
   * body is a 4-byte big-endian length, the CBOR request (metadata), then the
   * snapshot's bytes. The body is streamed (`duplex: "half"`): `data` is read
   * a chunk at a time as the connection takes it, never whole. Resolves with
   * the peer's answer, which comes once it installed (or refused) the
   * snapshot. Rejects (never throws) with {@linkcode Unreachable}, as
   * {@linkcode HttpNetwork} lists; its `cause` is a {@linkcode Timeout} when
   * the transfer stalled for `snapshotIdleTimeout` or outlasted
   * `snapshotTimeout`. On any failure `data` is cancelled.
   *
   * @example
   * ```ts
   * import { HttpNetwork } from "./http_network.ts";
   * import { bytesToStream } from "../byte_stream.ts";
   * import { Unreachable } from "../errors.ts";
   * import { EMPTY_MEMBERSHIP } from "../types.ts";
   *
   * const network = new HttpNetwork({ fetch: () => Promise.reject(new Error("refused")) });
   * const err = await network.installSnapshot(
   *   2,
   *   { addr: "http://10.0.0.2:8000" },
   *   {
   *     type: "install-snapshot", clusterId: "c1", term: 1, leaderId: 1,
   *     meta: { lastLogId: null, lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP }, snapshotId: "s" },
   *   },
   *   bytesToStream(new Uint8Array(8), 4),
   * ).catch((e) => e);
   * console.assert(err instanceof Unreachable);
   * ```
   */
  async installSnapshot(
    target: NodeId,
    node: RaftNode,
    request: InstallSnapshotRequest,
    data: ReadableStream<Uint8Array>,
    options?: SendOptions,
  ): Promise<InstallSnapshotResponse> {
    let header: Uint8Array;
    let headers: Record<string, string>;
    let reader: ReadableStreamDefaultReader<Uint8Array>;
    try {
      header = _encode(target, request, _SENT_BY_INSTALL);
      headers = this.#headers(target, request);
      reader = data.getReader();
    } catch (e) {
      const err = e instanceof Unreachable ? e : new Unreachable(target, { cause: e });
      try {
        void data.cancel(err).catch(() => {});
      } catch {
        // Not a stream, or locked: nothing of ours to release.
      }
      throw err;
    }
    let frame: Uint8Array | null = new Uint8Array(4 + header.byteLength);
    new DataView(frame.buffer).setUint32(0, header.byteLength);
    frame.set(header, 4);
    const progress: _Progress = { last: performance.now(), done: false };
    // Pulled only when the connection wants more (highWaterMark 0): at most a
    // chunk or two of the snapshot is held here at a time.
    const body = new ReadableStream<Uint8Array<ArrayBuffer>>({
      async pull(controller): Promise<void> {
        progress.last = performance.now();
        if (frame !== null) {
          controller.enqueue(frame as Uint8Array<ArrayBuffer>);
          frame = null;
          return;
        }
        const { done, value } = await reader.read();
        progress.last = performance.now();
        if (done) {
          progress.done = true;
          controller.close();
          return;
        }
        controller.enqueue(value as Uint8Array<ArrayBuffer>);
      },
      cancel(reason): Promise<void> {
        progress.done = true;
        return reader.cancel(reason);
      },
    }, { highWaterMark: 0 });
    try {
      const res = await this.#post(
        target,
        node,
        "install-snapshot",
        headers,
        body,
        this.#snapshotTimeout,
        options?.signal,
        progress,
      );
      return res as InstallSnapshotResponse;
    } finally {
      if (!progress.done) {
        // Failed, or answered before the peer read it all (a refused snapshot): release it.
        progress.done = true;
        void reader.cancel(new Error("snapshot transfer ended before its end was sent"))
          .catch(() => {});
      }
    }
  }

  /** POSTs `body` and decodes the answer; every failure becomes `Unreachable(target)`. */
  async #post(
    target: NodeId,
    node: RaftNode,
    type: RaftRequest["type"],
    headers: Record<string, string>,
    body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array<ArrayBuffer>>,
    timeout: number,
    outer: AbortSignal | undefined,
    progress?: _Progress,
  ): Promise<RaftResponse> {
    try {
      return await this.#exchange(target, node, type, headers, body, timeout, outer, progress);
    } catch (e) {
      // Whatever slipped through (a node without an address, an odd signal): still Unreachable.
      throw e instanceof Unreachable ? e : new Unreachable(target, { cause: e });
    }
  }

  async #exchange(
    target: NodeId,
    node: RaftNode,
    type: RaftRequest["type"],
    headers: Record<string, string>,
    body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array<ArrayBuffer>>,
    timeout: number,
    outer: AbortSignal | undefined,
    progress?: _Progress,
  ): Promise<RaftResponse> {
    if (outer?.aborted) throw new Unreachable(target, { cause: outer.reason });
    const addr = _addressOf(target, node);
    const url = (addr.endsWith("/") ? addr.slice(0, -1) : addr) + "/raft/" + type;
    const ctrl = new AbortController();
    // Every way this request ends early aborts `signal`: its timeout, a stalled snapshot, the
    // caller's signal; the reason says which.
    const signal = ctrl.signal;
    const timer = setTimeout(() => {
      ctrl.abort(new Timeout(`send ${type} to ${target}`, timeout));
    }, timeout);
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    if (progress !== undefined) {
      const idle = this.#snapshotIdleTimeout;
      const check = (): void => {
        idleTimer = undefined;
        if (progress.done || signal.aborted) return;
        const wait = progress.last + idle - performance.now();
        if (wait > 0) {
          idleTimer = setTimeout(check, wait);
          return;
        }
        ctrl.abort(new Timeout(`snapshot transfer to ${target} (stalled)`, idle));
      };
      idleTimer = setTimeout(check, idle);
    }
    // The caller's signal (long-lived: the node's, until shutdown) aborts this request through a
    // listener removed when it ends — not `AbortSignal.any([signal, outer])`: under Deno the
    // signals made so stay referenced from `outer` until a later GC cycle clears them (~80 MB
    // for 200,000 requests in a microbenchmark).
    let forward: (() => void) | undefined;
    if (outer !== undefined) {
      forward = () => ctrl.abort(outer.reason);
      outer.addEventListener("abort", forward, { once: true });
    }
    try {
      let bytes: Uint8Array;
      try {
        const init: _StreamingInit = {
          method: "POST",
          headers,
          body,
          signal,
          // A Raft peer never redirects: a 3xx is a failure, not a new target.
          redirect: "manual",
        };
        if (body instanceof ReadableStream) init.duplex = "half";
        // Settles once `signal` aborts even if a `fetch` does not honour it.
        const res = await _untilAborted(this.#fetch(url, init), signal);
        if (!res.ok) {
          const head = await _untilAborted(_readUpTo(res, _MAX_ERROR_BODY, false), signal)
            .catch(() => null);
          if (signal.aborted) throw signal.reason;
          throw _refusal(target, res.status, url, head, this.#authorization !== null);
        }
        const read = await _untilAborted(_readUpTo(res, this.#maxResponseBytes, true), signal);
        if (read.over) throw new PayloadTooLarge(read.seen, this.#maxResponseBytes);
        bytes = read.bytes;
      } catch (e) {
        if (e instanceof PeerRefused && !signal.aborted) throw e;
        const cause = signal.aborted ? signal.reason ?? e : e;
        throw new Unreachable(target, { cause });
      }
      let response;
      try {
        response = decodeMessage(bytes, this.#limits);
      } catch (e) {
        const cause = e instanceof InvalidMessage
          ? e
          : new InvalidMessage(`cannot decode the answer of ${url}`, { cause: e });
        throw new Unreachable(target, { cause });
      }
      if (response.type !== `${type}-response`) {
        throw new Unreachable(target, {
          cause: new InvalidMessage(
            `expected a ${type}-response from ${url}, got ${response.type}`,
          ),
        });
      }
      return response as RaftResponse;
    } finally {
      clearTimeout(timer);
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      if (forward !== undefined) outer!.removeEventListener("abort", forward);
    }
  }
}

/**
 * `p`, or a rejection with `signal`'s reason as soon as it aborts (then `p`'s
 * own outcome is ignored).
 */
function _untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/**
 * `node.addr` if it is an absolute http(s) URL, else throws
 * `Unreachable(target)` caused by a {@linkcode ConfigError} saying what is
 * wrong with it (nothing is sent): e.g. an empty address, which a node has
 * until it learns its peer's.
 */
function _addressOf(target: NodeId, node: RaftNode): string {
  const addr: unknown = (node as { addr?: unknown } | null | undefined)?.addr;
  let problem: string | null = null;
  if (typeof addr !== "string" || addr === "") {
    problem = `node ${target} has no address (its RaftNode.addr is ${_describe(addr)})`;
  } else {
    let url: URL | null = null;
    try {
      url = new URL(addr);
    } catch {
      // Reported below.
    }
    if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
      problem = `node ${target}'s address ${_describe(addr.slice(0, 200))} is not an ` +
        "absolute http:// or https:// URL";
    }
  }
  if (problem !== null) throw new Unreachable(target, { cause: new ConfigError("addr", problem) });
  return addr as string;
}

/** The sender's id a request carries (`leaderId`, `candidateId` or `readerId`), or `null`. */
function _senderOf(request: RaftRequest): NodeId | null {
  const r = request as { leaderId?: unknown; candidateId?: unknown; readerId?: unknown };
  const id = r.leaderId ?? r.candidateId ?? r.readerId;
  return isNodeId(id) ? id : null;
}

/** The request types each method sends (the route is the type). */
const _SENT_BY_SEND: ReadonlySet<string> = new Set([
  "append",
  "vote",
  "pre-vote",
  "timeout-now",
  "read-index",
]);
const _SENT_BY_INSTALL: ReadonlySet<string> = new Set(["install-snapshot"]);

/**
 * Encodes `request`, or throws `Unreachable(target)` whose cause is an
 * {@linkcode InvalidMessage} saying why it cannot be sent.
 */
function _encode(target: NodeId, request: RaftRequest, allowed: ReadonlySet<string>): Uint8Array {
  const type: unknown = (request as { type?: unknown } | null | undefined)?.type;
  if (typeof type !== "string" || !allowed.has(type)) {
    throw new Unreachable(target, {
      cause: new InvalidMessage(
        `cannot encode a request of type ${_describe(type)} here: ` +
          `expected ${[...allowed].join(", ")}`,
      ),
    });
  }
  try {
    return encodeMessage(request);
  } catch (e) {
    throw new Unreachable(target, {
      cause: new InvalidMessage(`cannot encode the ${type} request: ${_describe(e)}`, {
        cause: e,
      }),
    });
  }
}

/** What {@linkcode _readUpTo} read: `over` if the body exceeded the limit (`seen` bytes). */
interface _Read {
  readonly bytes: Uint8Array;
  readonly over: boolean;
  readonly seen: number;
}

/**
 * Reads `res`'s body, at most `max` bytes: past them it stops (and cancels
 * the rest) with `over` set and the first `max` bytes. With `strict`, a
 * declared `content-length` over `max` is refused unread.
 */
async function _readUpTo(res: Response, max: number, strict: boolean): Promise<_Read> {
  const declared = Number(res.headers.get("content-length") ?? NaN);
  if (strict && declared > max) {
    void res.body?.cancel().catch(() => {});
    return { bytes: new Uint8Array(0), over: true, seen: declared };
  }
  if (declared >= 0 && declared <= max) {
    // Without touching `res.body`: on Deno the getter builds a stream.
    const bytes = await readDeclared(res);
    if (bytes.byteLength <= max) return { bytes, over: false, seen: bytes.byteLength };
    return { bytes: bytes.subarray(0, max), over: true, seen: bytes.byteLength };
  }
  const stream = res.body;
  if (stream === null) return { bytes: new Uint8Array(0), over: false, seen: 0 };
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.byteLength;
    if (total > max) {
      void reader.cancel().catch(() => {});
      return { bytes: concatChunks(chunks, total).subarray(0, max), over: true, seen: total };
    }
  }
  return { bytes: concatChunks(chunks, total), over: false, seen: total };
}

/**
 * The rejection for a non-2xx answer: a {@linkcode PeerRefused} whose cause
 * is a {@linkcode ClusterMismatch} rebuilt from a 409 or 412 whose (whole)
 * JSON body is a well-formed one, a {@linkcode NotAMember} from such a 410,
 * else the peer's error (see {@linkcode PeerRefused}); `head` is the start
 * of the body, or `null` if unreadable.
 */
function _refusal(
  target: NodeId,
  status: number,
  url: string,
  head: _Read | null,
  withSecret: boolean,
): PeerRefused {
  const text = head === null ? "" : new TextDecoder().decode(head.bytes);
  const whole = head !== null && !head.over;
  const peer = whole ? _peerError(text) : null;
  let cause: Error | null = null;
  // 409 from the node's check of the body, 412 from the route's check of `x-raft-cluster`.
  if ((status === 409 || status === 412) && whole) cause = _clusterMismatch(text);
  // 410: the peer holds this node for removed from its cluster.
  if (status === 410 && whole) cause = _notAMember(text);
  if (cause === null) {
    const said = peer === null ? _printable(text.slice(0, 300)) : peer.message;
    cause = new Error(`HTTP ${status} from ${url}` + (said ? `: ${said}` : ""));
    if (peer !== null) {
      cause.name = peer.code;
      (cause as Error & { code?: string }).code = peer.code;
    }
  }
  const hint = _hint(status, cause, withSecret);
  const reason = _REASONS[status];
  const said = peer === null ? "" : `: ${peer.code}: ${peer.message}`;
  return new PeerRefused(
    target,
    status,
    peer?.code ?? null,
    `peer ${target} refused: HTTP ${status}${reason === undefined ? "" : " " + reason}` +
      (hint === null ? "" : ` (${hint})`) + said,
    { cause },
  );
}

/**
 * The rejection of a call whose peer answered with an HTTP status other than
 * 2xx: an {@linkcode Unreachable} (its `code` and `name` are `"Unreachable"`,
 * so code that handles any failure to reach a peer handles it) that keeps
 * what the peer said. `status` is the HTTP status, `peerCode` the `code` of
 * the peer's JSON error (a `RaftErrorJSON`, as `raftRoutes` answers), or
 * `null` when the body was not one (e.g. a proxy's page). The message says
 * what the status most likely means, e.g.
 * `peer 2 refused: HTTP 401 Unauthorized (wrong or missing secret: this node
 * sends none): InvalidMessage: …`.
 *
 * The `cause` is a {@linkcode ClusterMismatch} (409, 412) or a
 * {@linkcode NotAMember} (410) rebuilt from a well-formed answer, else an
 * `Error` whose `name` (and `code`) is the peer's error code and whose
 * message is `HTTP <status> from <url>: <the peer's message>` (or the start
 * of the body, when it was not a JSON error).
 *
 * | status | what it means with `raftRoutes` |
 * | --- | --- |
 * | 400 | the peer could not decode the request (another codec version?) or refused it as invalid |
 * | 401 | wrong or missing shared secret: `HttpNetwork({ secret })` must match the peer's `raftRoutes(raft, { secret })` |
 * | 404 | no Raft routes at that address (`raftRoutes` not mounted at the root) |
 * | 409, 412 | another cluster (`ClusterMismatch`), or (412) the address serves another node |
 * | 410 | the peer holds this node for removed (`NotAMember`) |
 * | 413 | the request exceeds the peer's `maxBodyBytes` / `maxSnapshotBytes` |
 * | 415 | not `application/cbor` (something between the nodes rewrote it) |
 * | 500 | the peer failed (a bug: see its log) |
 * | 503 | the peer cannot serve now (shutting down, its storage failed): retried |
 * | 3xx | a redirect (never followed: give the node's own address) |
 *
 * @example
 * ```ts
 * import { HttpNetwork, PeerRefused } from "./http_network.ts";
 * import { Unreachable } from "../errors.ts";
 *
 * // A peer that refuses the secret, as `raftRoutes(raft, { secret })` does.
 * const network = new HttpNetwork({
 *   secret: "not-the-clusters",
 *   fetch: () =>
 *     Promise.resolve(Response.json(
 *       { code: "InvalidMessage", message: "invalid message: missing or wrong peer secret" },
 *       { status: 401 },
 *     )),
 * });
 * const err = await network
 *   .send(2, { addr: "http://10.0.0.2:8000" }, { type: "timeout-now", clusterId: "c1", term: 4, leaderId: 1 })
 *   .catch((e) => e);
 * console.assert(err instanceof Unreachable && err instanceof PeerRefused);
 * console.assert(err.status === 401 && err.peerCode === "InvalidMessage");
 * console.assert(err.message.startsWith("peer 2 refused: HTTP 401 Unauthorized (wrong or missing secret"));
 * console.assert(err.toJSON().status === 401);
 * ```
 */
export class PeerRefused extends Unreachable {
  /** The HTTP status the peer answered with (not 2xx). */
  readonly status: number;
  /** The `code` of the peer's JSON error, e.g. `"InvalidMessage"`, or `null` if it sent none. */
  readonly peerCode: string | null;

  /**
   * Builds the rejection of a call to `nodeId` answered with `status`.
   *
   * @param nodeId the peer
   * @param status the HTTP status it answered with
   * @param peerCode the code of its JSON error, or `null`
   * @param message the whole message (see {@linkcode PeerRefused})
   * @param options standard error options: the peer's error as `cause`
   */
  constructor(
    nodeId: NodeId,
    status: number,
    peerCode: string | null,
    message: string,
    options?: ErrorOptions,
  ) {
    super(nodeId, options);
    this.message = message;
    this.status = status;
    this.peerCode = peerCode;
  }

  /** The structured fields of `toJSON()`: `nodeId`, `status` and `peerCode`. */
  protected override fields(): Record<string, unknown> {
    return { ...super.fields(), status: this.status, peerCode: this.peerCode };
  }
}

/** Standard reason phrases (a peer's own phrase is not trusted into a message). */
const _REASONS: Readonly<Record<number, string>> = Object.freeze({
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
});

/** What a status most likely means from a peer serving `raftRoutes`, or `null`. */
function _hint(status: number, cause: Error, withSecret: boolean): string | null {
  if (cause instanceof ClusterMismatch) return "the peer belongs to another cluster";
  if (cause instanceof NotAMember) return "the peer holds this node for removed from its cluster";
  if (status >= 300 && status < 400) {
    return "a redirect, not followed: give the node's own address";
  }
  switch (status) {
    case 400:
      return "the peer cannot decode or refuses the request: same codec version on both?";
    case 401:
      return withSecret
        ? "wrong or missing secret: the peer does not accept this node's secret"
        : "wrong or missing secret: the peer requires one and this node sends none";
    case 403:
      return "forbidden by the peer or a proxy in front of it";
    case 404:
      return "no Raft routes at this address: is raftRoutes mounted at the server's root?";
    case 412:
      return "the address serves another node than the one addressed";
    case 413:
      return "the request exceeds the peer's maxBodyBytes or maxSnapshotBytes";
    case 415:
      return "the peer takes only application/cbor";
    case 500:
      return "the peer failed: see its log";
    case 503:
      return "the peer cannot serve now: shutting down, or its storage failed";
    default:
      return null;
  }
}

/** The `code` and `message` of a JSON error body (a `RaftErrorJSON`), or `null`. */
function _peerError(text: string): { code: string; message: string } | null {
  const json = _jsonObject(text);
  if (json === null) return null;
  const { code, message } = json;
  if (typeof code !== "string" || !/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(code)) return null;
  return { code, message: typeof message === "string" ? _printable(message.slice(0, 300)) : "" };
}

/** `text` parsed as a JSON object, or `null`. */
function _jsonObject(text: string): Record<string, unknown> | null {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof json === "object" && json !== null ? json as Record<string, unknown> : null;
}

/** `s` without control characters (a peer's text goes into log lines). */
function _printable(s: string): string {
  // deno-lint-ignore no-control-regex
  return s.replace(/[\u0000-\u001f\u007f]+/g, " ").trim();
}

function _notAMember(text: string): NotAMember | null {
  const json = _jsonObject(text);
  if (json === null) return null;
  const { code, nodeId } = json;
  return code === "NotAMember" && isNodeId(nodeId) ? new NotAMember(nodeId) : null;
}

function _clusterMismatch(text: string): ClusterMismatch | null {
  const json = _jsonObject(text);
  if (json === null) return null;
  const { code, expected, got, from } = json;
  if (code !== "ClusterMismatch") return null;
  if (typeof expected !== "string" || typeof got !== "string" || !isNodeId(from)) return null;
  return new ClusterMismatch(expected, got, from);
}

function _describe(v: unknown): string {
  try {
    if (v instanceof Error) return v.message;
    return typeof v === "string" ? JSON.stringify(v) : String(v);
  } catch {
    return "an undescribable value";
  }
}

function _positive(name: string, ms: number): number {
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new ConfigError(name, `${name} must be a positive number of milliseconds, got ${ms}`);
  }
  return ms;
}
