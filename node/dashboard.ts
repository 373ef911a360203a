/**
 * {@linkcode dashboard}: a live view of the whole cluster that a node
 * serves at `/` — plain HTML, CSS and JavaScript shipped with the node (no
 * build step, nothing fetched from elsewhere), fed by server-sent events of
 * a {@linkcode ClusterWatch}:
 *
 * ```text
 * GET  /                         → the page
 * GET  /dashboard/app.js, app.css → its script and style
 * GET  /dashboard/events         → text/event-stream of ClusterView (event: cluster)
 * GET  /dashboard/view           → one ClusterView as JSON
 * POST /dashboard/admin/transfer-leader | learners | membership
 *                                → forwarded to the leader's /cluster/<action>, with the
 *                                  caller's authorization header (the page sends the
 *                                  secret the operator typed; the node never puts its own
 *                                  in the page)
 * ```
 *
 * Viewing needs no secret (it shows what `GET /metrics` does, for every
 * member); the node reads its peers' `/cluster/metrics` with its own secret.
 *
 * @module
 */

import { Hono } from "hono";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { readBody } from "../src/transport/_bytes.ts";
import type { FetchFn } from "../src/transport/http_network.ts";
import {
  clusterEventStream,
  ClusterWatch,
  type ClusterWatchOptions,
  type WatchedNode,
} from "./cluster_events.ts";
import { DASHBOARD_HTML } from "./dashboard/page_html.ts";
import { DASHBOARD_CSS } from "./dashboard/page_style.ts";
import { DASHBOARD_SCRIPT } from "./dashboard/page_script.ts";

/**
 * Options of {@linkcode dashboard}: those of its {@linkcode ClusterWatch}
 * (this node's address, the cluster's secret, the `fetch` for peers, the
 * polling interval and timeout), plus how long a forwarded admin call may
 * take.
 *
 * @example
 * ```ts
 * import type { DashboardOptions } from "./dashboard.ts";
 * const o: DashboardOptions = { selfAddr: "http://127.0.0.1:21001", adminTimeout: 40_000 };
 * ```
 */
export interface DashboardOptions extends ClusterWatchOptions {
  /** How long a forwarded admin call may take, in ms. Default 40 s (adding a learner waits for it). */
  readonly adminTimeout?: number;
}

/**
 * A node's dashboard: its routes, and `close()` to end its event streams
 * (call it before draining the server: an event stream never ends by itself).
 *
 * @example
 * ```ts
 * import { dashboard } from "./dashboard.ts";
 * import type { Dashboard } from "./dashboard.ts";
 * import { Hono } from "hono";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { MemoryNetwork } from "../testing/memory_network.ts";
 * const raft = await Raft.create({
 *   id: 1,
 *   logStore: new MemoryLogStore(),
 *   stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * const d: Dashboard = dashboard(raft, { selfAddr: "http://127.0.0.1:21001" });
 * const app = new Hono();
 * app.route("/", d.routes);
 * console.assert((await app.request("/")).status === 200);
 * d.close(); // on stop
 * await raft.shutdown();
 * ```
 */
export interface Dashboard {
  /** `GET /`, `/dashboard/*`. */
  readonly routes: Hono;
  /** The watch feeding the event streams. */
  readonly watch: ClusterWatch;
  /** Ends every event stream and stops polling. */
  close(): void;
}

/** The admin actions the page may forward, by the `/cluster/` route they call. */
const ADMIN_ACTIONS: ReadonlySet<string> = new Set([
  "transfer-leader",
  "learners",
  "membership",
  "snapshot",
]);
const MAX_ADMIN_BODY = 64 * 1024;

/** No inline code, nothing from elsewhere, no framing. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
};

/**
 * The dashboard of `raft` (see the module doc).
 *
 * @example
 * ```ts
 * import { dashboard } from "./dashboard.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { MemoryNetwork } from "../testing/memory_network.ts";
 *
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * const d = dashboard(raft, { selfAddr: "http://127.0.0.1:21001" });
 * const page = await d.routes.request("/");
 * console.assert(page.headers.get("content-type")!.startsWith("text/html"));
 * d.close();
 * await raft.shutdown();
 * ```
 */
export function dashboard(raft: WatchedNode, options: DashboardOptions): Dashboard {
  const watch = new ClusterWatch(raft, options);
  const peerFetch: FetchFn = options.fetch ?? ((input, init) => fetch(input, init));
  const adminTimeout = options.adminTimeout ?? 40_000;
  const app = new Hono();

  const asset = (body: string, type: string) => (c: Context): Response =>
    c.body(body, 200, { ...PAGE_HEADERS, "content-type": type });
  app.get("/", asset(DASHBOARD_HTML, "text/html; charset=utf-8"));
  app.get("/dashboard/app.js", asset(DASHBOARD_SCRIPT, "text/javascript; charset=utf-8"));
  app.get("/dashboard/app.css", asset(DASHBOARD_CSS, "text/css; charset=utf-8"));
  // Not the request's signal: the stream's cancel tells when the client goes away.
  app.get("/dashboard/events", () => clusterEventStream(watch));
  app.get("/dashboard/view", async (c) => c.json(await watch.poll()));

  app.post("/dashboard/admin/:action", async (c) => {
    const action = c.req.param("action");
    if (!ADMIN_ACTIONS.has(action)) {
      await c.req.raw.body?.cancel().catch(() => {});
      return _error(c, "NotFound", `no admin action ${action}`, 404);
    }
    const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") {
      await c.req.raw.body?.cancel().catch(() => {});
      return _error(c, "InvalidMessage", "the content type must be application/json", 415);
    }
    const body = await readBody(c.req.raw, MAX_ADMIN_BODY).catch(() => null);
    if (body === null) return _error(c, "InvalidMessage", "cannot read the request body", 400);
    if (typeof body === "number") {
      return _error(c, "PayloadTooLarge", `the body exceeds ${MAX_ADMIN_BODY} bytes`, 413);
    }
    const m = raft.metrics.current;
    const nodes = m.membership.membership.nodes;
    const leaderAddr = m.currentLeader === null ? undefined : nodes.get(m.currentLeader)?.addr;
    if (leaderAddr === undefined) {
      c.header("retry-after", "1");
      return _error(c, "NoLeader", "no leader known to this node", 503);
    }
    const origins = new Set([...nodes.values()].map((n) => _origin(n.addr)));
    const headers: Record<string, string> = { "content-type": "application/json" };
    const auth = c.req.header("authorization");
    if (auth !== undefined) headers.authorization = auth;
    let url = `${leaderAddr}/cluster/${action}`;
    try {
      for (let hop = 0;; hop++) {
        const res = await peerFetch(url, {
          method: "POST",
          headers,
          body: body as Uint8Array<ArrayBuffer>,
          redirect: "manual",
          signal: AbortSignal.timeout(adminTimeout),
        });
        const location = res.headers.get("location");
        // The leader changed meanwhile: follow once, to a member only.
        if (res.status === 307 && location !== null && hop === 0) {
          const next = new URL(location, url);
          if (origins.has(next.origin)) {
            await res.body?.cancel().catch(() => {});
            url = next.href;
            continue;
          }
        }
        return new Response(await res.arrayBuffer(), {
          status: res.status,
          headers: { "content-type": res.headers.get("content-type") ?? "application/json" },
        });
      }
    } catch (e) {
      const timedOut = e instanceof DOMException && e.name === "TimeoutError";
      return _error(
        c,
        timedOut ? "Timeout" : "Unreachable",
        `${url}: ${timedOut ? "no answer in time" : "cannot reach the leader"}`,
        timedOut ? 504 : 502,
      );
    }
  });

  return { routes: app, watch, close: () => watch.close() };
}

function _origin(addr: string): string {
  try {
    return new URL(addr).origin;
  } catch {
    return "";
  }
}

function _error(c: Context, error: string, message: string, status: number): Response {
  return c.json({ error, message }, status as ContentfulStatusCode);
}
