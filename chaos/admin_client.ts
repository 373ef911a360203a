/**
 * The harness's calls to a node's admin API (`/cluster/*`, with the peers'
 * secret as a Bearer token): metrics, membership changes, leadership
 * transfer. Every call is bounded in time and follows 307s to the leader.
 *
 * @module
 */

/**
 * `GET /cluster/metrics`, as far as the harness reads it.
 *
 * @example
 * ```ts
 * import type { AdminMetrics } from "./admin_client.ts";
 * const m: AdminMetrics = {
 *   id: 1, state: "leader", term: 2, leader: 1, lastLogIndex: 9, committed: 9, applied: 9,
 *   snapshot: null, purged: null,
 *   membership: { voters: [1, 2, 3], learners: [], nodes: { "1": "127.0.0.1:9001" } },
 * };
 * ```
 */
export interface AdminMetrics {
  /** The node. */
  readonly id: number;
  /** `leader`, `follower`, `candidate`, `learner`, `shutdown`. */
  readonly state: string;
  /** Current term. */
  readonly term: number;
  /** The leader it knows of. */
  readonly leader: number | null;
  /** Last log index. */
  readonly lastLogIndex: number;
  /** Committed index. */
  readonly committed: number | null;
  /** Applied index. */
  readonly applied: number | null;
  /** Last snapshot's index. */
  readonly snapshot: number | null;
  /** Last purged index. */
  readonly purged: number | null;
  /** The effective membership. */
  readonly membership: {
    readonly voters: readonly number[];
    readonly learners: readonly number[];
    readonly nodes: Readonly<Record<string, string>>;
  };
}

/**
 * What an admin call answered (after 307s), or why it has no answer.
 *
 * @example
 * ```ts
 * import type { AdminAnswer } from "./admin_client.ts";
 * const a: AdminAnswer = { status: 200, body: "{}" };
 * ```
 */
export type AdminAnswer = { readonly status: number; readonly body: string } | {
  readonly status: 0;
  readonly body: string;
};

/**
 * Admin calls with a secret and a deadline.
 */
export class AdminClient {
  readonly #secret: string | undefined;
  readonly #timeoutMs: number;

  /** @param secret the Bearer token; @param timeoutMs the default deadline of one call */
  constructor(secret: string | undefined, timeoutMs: number) {
    this.#secret = secret;
    this.#timeoutMs = timeoutMs;
  }

  /** The node's metrics, or `null` if it does not answer in time. */
  async metrics(base: string): Promise<AdminMetrics | null> {
    const a = await this.call(base, "GET", "/cluster/metrics");
    if (a.status !== 200) return null;
    try {
      return JSON.parse(a.body) as AdminMetrics;
    } catch {
      return null;
    }
  }

  /** One call, following up to 5 redirects; status 0 when there is no answer. */
  async call(
    base: string,
    method: string,
    path: string,
    json?: unknown,
    timeoutMs: number = this.#timeoutMs,
  ): Promise<AdminAnswer> {
    const signal = AbortSignal.timeout(timeoutMs);
    const headers: Record<string, string> = {};
    if (this.#secret !== undefined) headers["authorization"] = `Bearer ${this.#secret}`;
    if (json !== undefined) headers["content-type"] = "application/json";
    let url = base + path;
    for (let hop = 0; hop < 5; hop++) {
      try {
        const res = await fetch(url, {
          method,
          headers,
          redirect: "manual",
          signal,
          ...(json === undefined ? {} : { body: JSON.stringify(json) }),
        });
        const body = await res.text();
        const location = res.headers.get("location");
        if ((res.status === 307 || res.status === 308) && location !== null) {
          url = new URL(location, url).href;
          continue;
        }
        return { status: res.status, body };
      } catch (e) {
        return { status: 0, body: e instanceof Error ? e.message : String(e) };
      }
    }
    return { status: 0, body: "too many redirects" };
  }
}
