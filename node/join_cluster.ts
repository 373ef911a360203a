/**
 * {@linkcode joinCluster}: adds a node to a running cluster through the
 * admin API of any member (`adminRoutes`): as a learner first, then as a
 * voter — refused ({@linkcode RejoinRefused}) when its id is a voter
 * already (a voter that lost its data). {@linkcode probeCluster}: whether
 * any of a list of addresses belongs to an initialized cluster (what
 * `--init --join` asks before forming one).
 *
 * @module
 */

import { RaftError } from "../src/errors.ts";
import type { AdminMetricsJSON } from "../src/transport/admin_routes.ts";
import type { FetchFn } from "../src/transport/http_network.ts";
import type { NodeId } from "../src/types.ts";

/**
 * A join refused because this node's id is a voter of the cluster already:
 * the node has empty storage (it joins only then), so its data was most
 * probably lost (wiped data directory, new disk). It must not come back
 * under that id: it forgot its vote and could vote twice in one term. The
 * message says how to recover: remove it, then join under a new id
 * (`suggestedId`, the largest id the cluster uses now plus one). The
 * cluster does not remember the ids of nodes removed earlier: if one of
 * those was larger, the new id must be larger still — an id is never
 * reused.
 *
 * @example
 * ```ts
 * import { RejoinRefused } from "./join_cluster.ts";
 * const e = new RejoinRefused(2, [1, 2, 3], "http://127.0.0.1:21001", 4);
 * console.assert(e.code === "RejoinRefused" && e.message.includes("--id 4"));
 * ```
 */
export class RejoinRefused extends RaftError {
  /** This node's id, a voter of the cluster. */
  readonly nodeId: NodeId;
  /** The cluster's voters, as the member that answered knows them. */
  readonly voters: readonly NodeId[];
  /** The base URL of the member that answered. */
  readonly member: string;
  /**
   * The largest id the cluster uses now, plus one: unused unless a node
   * removed earlier had it (the cluster does not remember those).
   */
  readonly suggestedId: NodeId;

  /**
   * A refused rejoin.
   *
   * @param nodeId this node's id
   * @param voters the cluster's voters
   * @param member the member that answered
   * @param suggestedId an unused id to join under
   * @param options standard error options (`cause`)
   */
  constructor(
    nodeId: NodeId,
    voters: readonly NodeId[],
    member: string,
    suggestedId: NodeId,
    options?: ErrorOptions,
  ) {
    const others = voters.filter((v) => v !== nodeId);
    super(
      "RejoinRefused",
      `refused to join: node ${nodeId} is already a voter of the cluster of ${member} ` +
        `(voters ${voters.join(", ")}) but its data directory is empty: its data was probably ` +
        "lost (wiped, new disk). A voter that lost its data must not come back under its id: it " +
        "forgot its vote and could vote twice in one term. To recover: remove node " +
        `${nodeId} from the cluster (POST ${member}/cluster/membership ` +
        `{"voters":[${others.join(",")}]}), then start this node under a new id with ` +
        `--join and an id this cluster has never used (e.g. --id ${suggestedId} --join ` +
        `${member.replace(/^http:\/\//, "")}, if no node removed earlier had ${suggestedId} ` +
        "or more: an id is never reused)",
      options,
    );
    this.nodeId = nodeId;
    this.voters = voters;
    this.member = member;
    this.suggestedId = suggestedId;
  }

  /** The structured fields of `toJSON()`. */
  protected override fields(): Record<string, unknown> {
    return {
      nodeId: this.nodeId,
      voters: this.voters,
      member: this.member,
      suggestedId: this.suggestedId,
    };
  }
}

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
  /**
   * Called once the cluster's membership was read and this node's id is
   * not a voter in it, before the node is added: the moment to start
   * answering Raft RPCs (a node that may be a wiped voter must not answer
   * them before: it would vote again).
   */
  readonly onChecked?: () => void;
}

/**
 * Adds the node `id` at `addr`, a node with empty storage, to the cluster
 * of the member at `member` (any member's base URL: 307 redirects to the
 * leader are followed, keeping the secret):
 *
 * 1. `GET /cluster/metrics` of the member (and of the leader it names):
 *    if `id` is a voter there, the node lost its data: refused with
 *    {@linkcode RejoinRefused}; else `options.onChecked()`;
 * 2. `POST /cluster/learners {"id", "addr"}`, answered once the learner
 *    caught up (the leader refuses a voter's id: 409 `AlreadyVoter`, also
 *    {@linkcode RejoinRefused});
 * 3. `POST /cluster/learners {"id", "addr", "promote": true}`: the leader
 *    makes it a voter (one change of its own, so joins at once are safe).
 *
 * A learner's id is not refused (learners do not vote). Calls that find no
 * leader or no cluster yet (503), another change in progress (409
 * `InProgress`), or no member listening yet are retried.
 *
 * @throws {RejoinRefused} when `id` is a voter already.
 * @throws {JoinError} naming the call that failed.
 *
 * @example
 * ```ts
 * import { joinCluster } from "./join_cluster.ts";
 * // Node 2, serving at :21002, asks the member at :21001 to add it (needs that cluster running).
 * async function join(): Promise<void> {
 *   await joinCluster("http://127.0.0.1:21001", 2, "http://127.0.0.1:21002", { secret: "s3cr3t" });
 * }
 * ```
 */
export function joinCluster(
  member: string,
  id: NodeId,
  addr: string,
  options?: JoinClusterOptions,
): Promise<void>;
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

  // 1. Is this id a voter already? The member's view, or better its leader's
  // (only if that one still leads: the leader a member names may be this
  // very node, before it lost its data).
  const seen = await call(base, "/cluster/metrics");
  let view = seen.json as unknown as AdminMetricsJSON;
  let viewFrom = seen.origin;
  const self = addr.replace(/\/+$/, "");
  const leaderAddr = view.leader === null || view.state === "leader"
    ? undefined
    : view.membership?.nodes?.[String(view.leader)]?.replace(/\/+$/, "");
  if (leaderAddr !== undefined && leaderAddr !== self) {
    const fromLeader = await call(leaderAddr, "/cluster/metrics").catch(() => null);
    const json = fromLeader?.json as unknown as AdminMetricsJSON | undefined;
    if (fromLeader !== null && json?.state === "leader") {
      view = json;
      viewFrom = fromLeader.origin;
    }
  }
  const refused = (m: AdminMetricsJSON, from: string, cause?: unknown) => {
    const voters = m.membership?.voters ?? [];
    const ids = [id, ...voters, ...Object.keys(m.membership?.nodes ?? {}).map(Number)];
    return new RejoinRefused(
      id,
      voters,
      from,
      Math.max(...ids) + 1,
      cause === undefined ? undefined : { cause },
    );
  };
  if ((view.membership?.voters ?? []).includes(id)) throw refused(view, viewFrom);
  options.onChecked?.();

  // 2. As a learner (the leader refuses a voter's id), 3. then as a voter.
  let leader: string;
  try {
    leader = (await call(base, "/cluster/learners", { id, addr })).origin;
  } catch (e) {
    if (e instanceof JoinError && e.error === "AlreadyVoter") {
      // The refusing leader's membership, for the message.
      const origin = new URL(e.url).origin;
      const json = (await call(origin, "/cluster/metrics").catch(() => null))?.json as
        | AdminMetricsJSON
        | undefined;
      const m = json?.membership?.voters?.includes(id) === true ? json : {
        ...view,
        membership: { ...view.membership, voters: [...(view.membership?.voters ?? []), id] },
      };
      throw refused(m, origin, e);
    }
    throw e;
  }
  await call(leader, "/cluster/learners", { id, addr, promote: true });
}

/**
 * What {@linkcode probeCluster} found: a member of an initialized cluster
 * (`member`, its base URL, and its metrics), or that every address answered
 * and none is initialized (`blank`), or that some did not answer
 * (`unreachable`, with why).
 *
 * @example
 * ```ts
 * import type { ClusterProbe } from "./join_cluster.ts";
 * const describe = (p: ClusterProbe): string =>
 *   p.kind === "member" ? `member ${p.member}` : p.kind === "blank" ? "blank" :
 *   `waiting for ${p.unreachable.join(", ")}`;
 * ```
 */
export type ClusterProbe =
  | { readonly kind: "member"; readonly member: string; readonly metrics: AdminMetricsJSON }
  | { readonly kind: "blank" }
  | { readonly kind: "unreachable"; readonly unreachable: readonly string[] };

/**
 * Asks every address of `addrs` (base URLs) once, at the same time, whether
 * it belongs to an initialized cluster (`GET /cluster/metrics`: a
 * membership with voters). Any answer from a member wins (`member`); a node
 * that cannot be reached, or answers anything but 200 (e.g. 503 while it
 * starts), is `unreachable`; `blank` only when every address answered with
 * no membership. `--init --join` forms a cluster only on `blank`.
 *
 * @throws {JoinError} when an address refuses the secret (401/403): that
 * will not get better by waiting.
 *
 * @example
 * ```ts
 * import { probeCluster } from "./join_cluster.ts";
 * const blank = () => Promise.resolve(Response.json({ membership: { voters: [] } }));
 * const p = await probeCluster(["http://n2:21002", "http://n3:21003"], { fetch: blank });
 * console.assert(p.kind === "blank");
 * ```
 */
export function probeCluster(
  addrs: readonly string[],
  options?: Pick<JoinClusterOptions, "secret" | "fetch" | "timeout">,
): Promise<ClusterProbe>;
export async function probeCluster(
  addrs: readonly string[],
  options: Pick<JoinClusterOptions, "secret" | "fetch" | "timeout"> = {},
): Promise<ClusterProbe> {
  const headers: Record<string, string> = {};
  if (options.secret !== undefined) headers.authorization = `Bearer ${options.secret}`;
  const doFetch: FetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  const timeout = options.timeout ?? 2_000;
  const answers = await Promise.all(addrs.map(async (addr) => {
    const base = addr.replace(/\/+$/, "");
    const url = `${base}/cluster/metrics`;
    let res: Response;
    try {
      res = await doFetch(url, {
        method: "GET",
        headers,
        redirect: "manual",
        signal: AbortSignal.timeout(timeout),
      });
    } catch (e) {
      return { base, why: e instanceof Error ? e.message : String(e) };
    }
    const json = await res.json().catch(() => null) as Record<string, unknown> | null;
    if (res.status === 401 || res.status === 403) {
      const error = typeof json?.error === "string" ? json.error : "";
      throw new JoinError("GET", url, res.status, error, String(json?.message ?? ""));
    }
    const metrics = json as AdminMetricsJSON | null;
    if (res.status !== 200 || !Array.isArray(metrics?.membership?.voters)) {
      return { base, why: `answered ${res.status}` };
    }
    return { base, metrics: metrics! };
  }));
  const unreachable: string[] = [];
  for (const a of answers) {
    if ("metrics" in a) {
      if (a.metrics.membership.voters.length > 0) {
        return { kind: "member", member: a.base, metrics: a.metrics };
      }
    } else unreachable.push(`${a.base} (${a.why})`);
  }
  return unreachable.length === 0 ? { kind: "blank" } : { kind: "unreachable", unreachable };
}

function _sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
