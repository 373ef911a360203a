/**
 * The chaos clients' HTTP calls to the node's KV API, each ending in one of
 * the history's outcomes:
 * - `ok` — a 2xx (a 404 for a read: the key is absent);
 * - `fail` — the operation certainly did not take effect: a 307 chain went
 *   nowhere, a 503 `NoLeader` / `ForwardToLeader` (answered before
 *   proposing), a 4xx; for reads, any failure;
 * - `unknown` — anything else after the request may have been sent: a
 *   timeout, a reset, another 5xx, and even a refused connection to a node
 *   that was up when the request left (a runtime's fetch may retry a request
 *   that the dying server had read on a new connection, and report only the
 *   refusal). Never a failure. A refused connection to a node known to be
 *   down (no process, or not listening yet) is a failure.
 * A 307 is followed (up to 5 hops) to its `Location`.
 *
 * @module
 */

import type { RegisterValue } from "../testing/linearizability.ts";

/**
 * The KV API generation of the node: the contract's (`POST /kv/:key/cas`,
 * `GET ?read=`) or the older one (no compare-and-set, `GET ?consistency=`).
 *
 * @example
 * ```ts
 * import type { KvApi } from "./kv_client.ts";
 * const api: KvApi = { cas: true, readParam: "read" };
 * ```
 */
export interface KvApi {
  /** Whether `POST /kv/:key/cas` exists. */
  readonly cas: boolean;
  /** The query parameter naming the read consistency. */
  readonly readParam: "read" | "consistency";
  /** Whether `?read=follower` (a linearizable read served by any member) exists. */
  readonly followerReads?: boolean;
}

/** A read's consistency. */
export type ReadMode = "linearizable" | "lease" | "follower" | "local";

/**
 * How a client call ended. `node` is the URL that answered last.
 *
 * @example
 * ```ts
 * import type { KvOutcome } from "./kv_client.ts";
 * const o: KvOutcome<string | null> = { status: "ok", output: "v1", node: "http://127.0.0.1:9001" };
 * ```
 */
export type KvOutcome<O> =
  | { readonly status: "ok"; readonly output: O; readonly node: string }
  | { readonly status: "fail" | "unknown"; readonly reason: string; readonly node: string };

interface _Answer {
  readonly status: number;
  readonly body: string;
  readonly node: string;
}

type _Sent = { readonly answer: _Answer; readonly trail: string } | {
  readonly error: "refused" | "undelivered" | "timeout" | "lost" | "redirects";
  readonly reason: string;
  readonly node: string;
  readonly trail: string;
};

const _MAX_HOPS = 5;

/**
 * Calls one node's KV API; every call ends within `timeoutMs`.
 */
export class KvClient {
  /** The API generation. */
  readonly api: KvApi;
  readonly #timeoutMs: number;

  readonly #isDown: (origin: string) => boolean;

  /**
   * @param api the node's KV API
   * @param timeoutMs the deadline of one call, 307s included
   * @param isDown whether the node at an origin is known to have no process
   *   serving (stopped, or started and not listening yet): a refused
   *   connection to it then proves the request was not delivered
   */
  constructor(api: KvApi, timeoutMs: number, isDown: (origin: string) => boolean = () => false) {
    this.api = api;
    this.#timeoutMs = timeoutMs;
    this.#isDown = isDown;
  }

  /** `PUT /kv/:key`. */
  async write(base: string, key: string, value: string): Promise<KvOutcome<null>> {
    return _mutation(await this.#send(base, "PUT", _path(key), value), () => null);
  }

  /** `DELETE /kv/:key`. */
  async remove(base: string, key: string): Promise<KvOutcome<null>> {
    return _mutation(await this.#send(base, "DELETE", _path(key), undefined), () => null);
  }

  /** `POST /kv/:key/cas`: whether the swap happened. */
  async cas(
    base: string,
    key: string,
    expected: RegisterValue,
    value: string,
  ): Promise<KvOutcome<boolean>> {
    const body = JSON.stringify({ expected, value });
    const sent = await this.#send(base, "POST", `${_path(key)}/cas`, body, "application/json");
    return _mutation(sent, (text) => {
      const parsed = JSON.parse(text) as { ok?: unknown };
      if (typeof parsed.ok !== "boolean") throw new Error(`cas answered ${text.slice(0, 100)}`);
      return parsed.ok;
    });
  }

  /** `GET /kv/:key?read=mode`: the value, `null` when absent. */
  async read(base: string, key: string, mode: ReadMode): Promise<KvOutcome<RegisterValue>> {
    const sent = await this.#send(base, "GET", `${_path(key)}?${this.api.readParam}=${mode}`);
    if ("error" in sent) return { status: "fail", reason: sent.reason, node: sent.node };
    const { status, body, node } = sent.answer;
    if (status === 200) return { status: "ok", output: body, node };
    if (status === 404 && _isNotFound(body)) return { status: "ok", output: null, node };
    return { status: "fail", reason: `${status} ${_errorName(body)}`, node };
  }

  async #send(
    base: string,
    method: string,
    path: string,
    body?: string,
    contentType?: string,
  ): Promise<_Sent> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    let url = base + path;
    let node = base;
    let trail = "";
    for (let hop = 0; hop < _MAX_HOPS; hop++) {
      node = new URL(url).origin;
      const down = this.#isDown(node);
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          redirect: "manual",
          signal,
          ...(body === undefined ? {} : { body }),
          ...(contentType === undefined ? {} : { headers: { "content-type": contentType } }),
        });
      } catch (e) {
        const c = _classify(e, signal);
        const error = c.error === "refused" && down ? "undelivered" : c.error;
        return { error, reason: c.reason, node, trail: trail + node };
      }
      let text: string;
      try {
        text = await res.text();
      } catch (e) {
        return { ..._classify(e, signal), node, trail: trail + node };
      }
      if (res.status === 307 || res.status === 308) {
        const location = res.headers.get("location");
        if (location === null) {
          return { answer: { status: res.status, body: text, node }, trail: trail + node };
        }
        trail += `${node} 307 -> `;
        url = new URL(location, url).href;
        continue;
      }
      return { answer: { status: res.status, body: text, node }, trail: trail + node };
    }
    return { error: "redirects", reason: `more than ${_MAX_HOPS} redirects`, node, trail };
  }
}

function _path(key: string): string {
  return `/kv/${encodeURIComponent(key)}`;
}

function _mutation<O>(sent: _Sent, parse: (body: string) => O): KvOutcome<O> {
  if ("error" in sent) {
    // A refused connection proves nothing unless the node was down before
    // the request: a runtime's fetch may have written it on a pooled
    // connection that the dying server read, then retried on a new one and
    // reported only the refusal (seen with Deno).
    const certain = sent.error === "redirects" || sent.error === "undelivered";
    return {
      status: certain ? "fail" : "unknown",
      reason: `${sent.reason} [${sent.trail}]`,
      node: sent.node,
    };
  }
  const { status, body, node } = sent.answer;
  if (status >= 200 && status < 300) {
    try {
      return { status: "ok", output: parse(body), node };
    } catch (e) {
      return { status: "unknown", reason: `unreadable answer: ${String(e)}`, node };
    }
  }
  const name = _errorName(body);
  const notProposed = status === 307 || status === 308 ||
    (status >= 400 && status < 500) ||
    (status === 503 && ["NoLeader", "ForwardToLeader", "NotInitialized"].includes(name));
  return {
    status: notProposed ? "fail" : "unknown",
    reason: `${status} ${name} [${sent.trail}]`,
    node,
  };
}

/** The `error` (or older `code`) field of a JSON error body, or "". */
function _errorName(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown; code?: unknown };
    const name = parsed.error ?? parsed.code;
    return typeof name === "string" ? name : "";
  } catch {
    return "";
  }
}

/** A 404 of an absent key (JSON `NotFound`, or an empty or non-JSON body), not of a missing route. */
function _isNotFound(body: string): boolean {
  if (body === "404 Not Found") return false; // Hono's default: the route does not exist
  return true;
}

function _classify(
  e: unknown,
  signal: AbortSignal,
): { error: "refused" | "timeout" | "lost"; reason: string } {
  const err = e as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown };
  const text = `${String(err?.name)} ${String(err?.code)} ${String(err?.message)} ${
    String((err?.cause as { message?: unknown; code?: unknown } | undefined)?.message)
  } ${String((err?.cause as { code?: unknown } | undefined)?.code)}`;
  if (signal.aborted) return { error: "timeout", reason: "timeout" };
  if (/refused/i.test(text)) return { error: "refused", reason: "connection refused" };
  return { error: "lost", reason: text.replace(/\s+/g, " ").slice(0, 160) };
}
