/**
 * {@linkcode joinCluster}: adds a node to a running cluster through the
 * admin API of any member (`adminRoutes`): as a learner first, then as a voter.
 *
 * @module
 */

import { RaftError } from "../src/errors.ts";
import type { AdminMetricsJSON } from "../src/transport/admin_routes.ts";
import type { FetchFn } from "../src/transport/http_network.ts";
import type { NodeId } from "../src/types.ts";

/**
 * A join that failed: the call that failed (`method`, `url`), the HTTP
 * status it got (0 when the member could not be reached) and the error code
 * of its JSON body, if any.
 *
 * @example
 * ```ts
 * import { JoinError } from "./join_cluster.ts";
 * const e = new JoinError("POST", "http://127.0.0.1:21001/cluster/learners", 401, "Unauthorized", "");
 * console.assert(e.status === 401 && e.message.includes("401"));
 * ```
 */
export class JoinError extends RaftError {
  /** `GET` or `POST`. */
  readonly method: string;
  /** The URL called last. */
  readonly url: string;
  /** Its HTTP status; 0 when it could not be reached. */
  readonly status: number;
  /** The `error` code of its JSON answer, or `""`. */
  readonly error: string;

  /**
   * A failed join.
   *
   * @param method `GET` or `POST`
   * @param url the URL called
   * @param status the HTTP status, 0 when unreachable
   * @param error the answer's error code, or `""`
   * @param detail the answer's message, or the network error
   * @param options standard error options (`cause`)
   */
  constructor(
    method: string,
    url: string,
    status: number,
    error: string,
    detail: string,
    options?: ErrorOptions,
  ) {
    super(
      "JoinError",
      `join: ${method} ${url} ${status === 0 ? "failed" : `answered ${status}`}` +
        `${error !== "" ? ` ${error}` : ""}${detail !== "" ? `: ${detail}` : ""}`,
      options,
    );
    this.method = method;
    this.url = url;
    this.status = status;
    this.error = error;
  }

  /** The structured fields of `toJSON()`. */
  protected override fields(): Record<string, unknown> {
    return { method: this.method, url: this.url, status: this.status, error: this.error };
  }
}

/**
 * Options of {@linkcode joinCluster}.
 *
 * @example
 * ```ts
 * import type { JoinClusterOptions } from "./join_cluster.ts";
 * const options: JoinClusterOptions = { secret: "s3cr3t", retries: 10 };
 * ```
 */
export interface JoinClusterOptions {
  /** The cluster's shared secret, sent as `authorization: Bearer <secret>`. */
  readonly secret?: string;
  /** The `fetch` to use (e.g. one that trusts the cluster's CA); `globalThis.fetch` by default. */
  readonly fetch?: FetchFn;
  /**
   * How many times a call is retried when the member cannot be reached yet,
   * has no leader yet (503) or is busy with another membership change (409
   * `InProgress`). Default 10.
   */
  readonly retries?: number;
  /** Backoff before the n-th retry: n × this, in ms. Default 200. */
  readonly backoff?: number;
  /** Deadline of each call, in ms (adding a learner waits for it to catch up). Default 60 000. */
  readonly timeout?: number;
}

/**
 * Adds the node `id` at `addr` to the cluster of the member at `member`
 * (any member's base URL: 307 redirects to the leader are followed, keeping
 * the secret): `POST /cluster/learners {"id", "addr"}` (answered once the
 * learner caught up), then `POST /cluster/membership` with the leader's
 * voters (`GET /cluster/metrics`) plus `id`. Calls that find no leader yet
 * (503), another change in progress (409 `InProgress`), or no member
 * listening yet are retried. Join one node at a time: two joins at once
 * may each read the voters before the other's change.
 *
 * @throws {JoinError} naming the call that failed.
 *
 * @example
 * ```ts ignore
 * import { joinCluster } from "@x/raft/node";
 * await joinCluster("http://127.0.0.1:21001", 2, "http://127.0.0.1:21002", { secret: "s3cr3t" });
 * ```
 */
export async function joinCluster(
  member: string,
  id: NodeId,
  addr: string,
  options: JoinClusterOptions = {},
): Promise<void> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (options.secret !== undefined) headers.authorization = `Bearer ${options.secret}`;
  const retries = options.retries ?? 10;
  const backoff = options.backoff ?? 200;
  const timeout = options.timeout ?? 60_000;
  const doFetch: FetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  const base = member.replace(/\/+$/, "");

  // One admin call: follows redirects itself (fetch drops `authorization` on
  // a cross-origin redirect), retries; the answer and the origin that gave it.
  const call = async (
    from: string,
    path: string,
    body?: unknown,
  ): Promise<{ json: Record<string, unknown>; origin: string }> => {
    const method = body === undefined ? "GET" : "POST";
    let url = from + path;
    for (let attempt = 0, hops = 0;;) {
      let res: Response;
      try {
        res = await doFetch(url, {
          method,
          headers,
          redirect: "manual",
          signal: AbortSignal.timeout(timeout),
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (e) {
        if (attempt++ < retries) {
          await _sleep(backoff * attempt);
          continue;
        }
        throw new JoinError(method, url, 0, "", e instanceof Error ? e.message : String(e), {
          cause: e,
        });
      }
      const location = res.headers.get("location");
      if ((res.status === 307 || res.status === 308) && location !== null && hops++ < 5) {
        await res.body?.cancel();
        url = new URL(location, url).href;
        continue;
      }
      const json = await res.json().catch(() => ({})) as Record<string, unknown>;
      const error = typeof json.error === "string" ? json.error : "";
      const retry = res.status === 503 || (res.status === 409 && error === "InProgress");
      if (retry && attempt++ < retries) {
        await _sleep(backoff * attempt);
        continue;
      }
      if (!res.ok) {
        throw new JoinError(method, url, res.status, error, String(json.message ?? ""));
      }
      return { json, origin: new URL(url).origin };
    }
  };

  const { origin: leader } = await call(base, "/cluster/learners", { id, addr });
  const { json } = await call(leader, "/cluster/metrics");
  const voters = (json as unknown as AdminMetricsJSON).membership.voters;
  if (voters.includes(id)) return;
  await call(leader, "/cluster/membership", { voters: [...new Set([...voters, id])] });
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
