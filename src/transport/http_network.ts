/**
 * The client side of the HTTP transport: a {@linkcode RaftNetwork} that
 * POSTs each CBOR-encoded request to the peer's `raftRoutes()` with `fetch`.
 * Snapshots are streamed: the request body is a `ReadableStream` that reads
 * the snapshot's chunks only as fast as the connection takes them, so a
 * transfer holds a few chunks in memory, not the snapshot.
 *
 * @module
 */

import { type CodecLimits, decodeMessage, encodeMessage } from "../codec.ts";
import { InvalidMessage, Timeout, Unreachable } from "../errors.ts";
import type {
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  RaftRequest,
  RaftResponse,
} from "../messages.ts";
import type { RaftNetwork, SendOptions } from "../network.ts";
import type { NodeId, RaftNode } from "../types.ts";

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
 * @example
 * ```ts
 * import type { HttpNetworkOptions } from "./http_network.ts";
 * const options: HttpNetworkOptions = { timeout: 500 };
 * ```
 */
export interface HttpNetworkOptions {
  /** Per-request deadline in milliseconds, response body included. Default 1000. */
  readonly timeout?: number;
  /**
   * Deadline of a whole snapshot transfer in milliseconds, from the request
   * until the peer's answer (which comes once it installed the snapshot).
   * Default 600 000 (ten minutes): a large transfer that keeps moving is not
   * cut short; a stalled one is caught by `snapshotIdleTimeout`.
   */
  readonly snapshotTimeout?: number;
  /**
   * Longest time, in milliseconds, a snapshot's body may stall while being
   * sent — no chunk moves, because the peer stopped reading (e.g. its
   * install waits its turn behind a long apply) or the snapshot's own stream
   * is slow — before the transfer is abandoned (and retried by the leader).
   * Default 10 000.
   */
  readonly snapshotIdleTimeout?: number;
  /** The `fetch` to use; default `globalThis.fetch`. */
  readonly fetch?: FetchFn;
  /** Limits for decoding responses; default `DEFAULT_CODEC_LIMITS`. */
  readonly limits?: Partial<CodecLimits>;
}

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

const _anySignal: ((signals: AbortSignal[]) => AbortSignal) | undefined =
  typeof AbortSignal.any === "function" ? AbortSignal.any.bind(AbortSignal) : undefined;

/**
 * Sends Raft requests over HTTP: `POST ${node.addr}/raft/<type>` with the
 * request encoded by `encodeMessage`, and decodes the response, which must be
 * the matching response type. Every failure rejects with
 * {@linkcode Unreachable} whose `cause` tells why: the network error, a
 * {@linkcode Timeout}, an `Error` naming a non-2xx status, or an
 * {@linkcode InvalidMessage} for a response that does not decode or match.
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
 *   type: "vote", term: 2, candidateId: 1, lastLogId: null, transfer: false,
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

  /** @param options timeouts, fetch, decode limits */
  constructor(options: HttpNetworkOptions = {}) {
    this.#timeout = _positive("timeout", options.timeout ?? 1000);
    this.#snapshotTimeout = _positive("snapshotTimeout", options.snapshotTimeout ?? 600_000);
    this.#snapshotIdleTimeout = _positive(
      "snapshotIdleTimeout",
      options.snapshotIdleTimeout ?? 10_000,
    );
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#limits = options.limits;
  }

  /**
   * Sends `request` to `target` at `node.addr` and resolves with its
   * response; rejects with {@linkcode Unreachable}.
   *
   * @example
   * ```ts
   * import { HttpNetwork } from "./http_network.ts";
   * import { Unreachable } from "../errors.ts";
   *
   * const network = new HttpNetwork({
   *   fetch: () => Promise.resolve(new Response("busy", { status: 503 })),
   * });
   * const err = await network
   *   .send(3, { addr: "http://10.0.0.3:8000" }, { type: "timeout-now", term: 4, leaderId: 1 })
   *   .catch((e) => e);
   * console.assert(err instanceof Unreachable && err.nodeId === 3);
   * ```
   */
  send(
    target: NodeId,
    node: RaftNode,
    request: RaftRequest,
    options?: SendOptions,
  ): Promise<RaftResponse> {
    return this.#post(
      target,
      node,
      request.type,
      encodeMessage(request) as Uint8Array<ArrayBuffer>,
      this.#timeout,
      options?.signal,
    );
  }

  /**
   * Sends a snapshot to `target`: one POST to `/raft/install-snapshot` whose
   * body is a 4-byte big-endian length, the CBOR request (metadata), then the
   * snapshot's bytes. The body is streamed (`duplex: "half"`): `data` is read
   * a chunk at a time as the connection takes it, never whole. Resolves with
   * the peer's answer, which comes once it installed (or refused) the
   * snapshot. Rejects with {@linkcode Unreachable}, whose `cause` is a
   * {@linkcode Timeout} when the transfer stalled for `snapshotIdleTimeout`
   * or outlasted `snapshotTimeout`; `data` is then cancelled.
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
   *     type: "install-snapshot", term: 1, leaderId: 1,
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
    const header = encodeMessage(request);
    let frame: Uint8Array | null = new Uint8Array(4 + header.byteLength);
    new DataView(frame.buffer).setUint32(0, header.byteLength);
    frame.set(header, 4);
    const progress: _Progress = { last: performance.now(), done: false };
    const reader = data.getReader();
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

  async #post(
    target: NodeId,
    node: RaftNode,
    type: RaftRequest["type"],
    body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array<ArrayBuffer>>,
    timeout: number,
    outer: AbortSignal | undefined,
    progress?: _Progress,
  ): Promise<RaftResponse> {
    if (outer?.aborted) throw new Unreachable(target, { cause: outer.reason });
    const addr = node.addr;
    const url = (addr.endsWith("/") ? addr.slice(0, -1) : addr) + "/raft/" + type;
    const ctrl = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      ctrl.abort(new Timeout(`send ${type} to ${target}`, timeout));
    }, timeout);
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    if (progress !== undefined) {
      const idle = this.#snapshotIdleTimeout;
      const check = (): void => {
        idleTimer = undefined;
        if (progress.done || ctrl.signal.aborted) return;
        const wait = progress.last + idle - performance.now();
        if (wait > 0) {
          idleTimer = setTimeout(check, wait);
          return;
        }
        timedOut = true;
        ctrl.abort(new Timeout(`snapshot transfer to ${target} (stalled)`, idle));
      };
      idleTimer = setTimeout(check, idle);
    }
    let signal = ctrl.signal;
    let forward: (() => void) | undefined;
    if (outer !== undefined) {
      if (_anySignal !== undefined) {
        signal = _anySignal([ctrl.signal, outer]);
      } else {
        forward = () => ctrl.abort(outer.reason);
        outer.addEventListener("abort", forward, { once: true });
      }
    }
    try {
      let res: Response;
      let bytes: Uint8Array;
      try {
        const init: _StreamingInit = { method: "POST", headers: _HEADERS, body, signal };
        if (body instanceof ReadableStream) init.duplex = "half";
        res = await this.#fetch(url, init);
        if (!res.ok) {
          const text = await res.text().catch(() => "");
          throw new Error(
            `HTTP ${res.status} from ${url}` + (text ? `: ${text.slice(0, 300)}` : ""),
          );
        }
        bytes = new Uint8Array(await res.arrayBuffer());
      } catch (e) {
        const cause = timedOut ? ctrl.signal.reason : signal.aborted ? signal.reason ?? e : e;
        throw new Unreachable(target, { cause });
      }
      let response;
      try {
        response = decodeMessage(bytes, this.#limits);
      } catch (e) {
        throw new Unreachable(target, { cause: e });
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

function _positive(name: string, ms: number): number {
  if (!(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${ms}`);
  }
  return ms;
}
