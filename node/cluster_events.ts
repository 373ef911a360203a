/**
 * {@linkcode ClusterWatch}: what a node sees of its whole cluster — its own
 * metrics and every other member's `GET /cluster/metrics`, polled while
 * somebody watches — and {@linkcode clusterEventStream}, the same as
 * server-sent events (`event: cluster`, one JSON {@linkcode ClusterView} per
 * round), for the dashboard.
 *
 * A member that cannot be reached (down, paused, wrong secret) is reported
 * as such (`ok: false` with the reason); the stream goes on.
 *
 * @module
 */

import type { AdminMetricsJSON } from "../src/transport/admin_routes.ts";
import { metricsJSON } from "../src/transport/admin_routes.ts";
import type { FetchFn } from "../src/transport/http_network.ts";
import type { RaftMetrics } from "../src/runtime/metrics.ts";
import type { NodeId } from "../src/types.ts";

/**
 * One member as the watching node sees it: its metrics, or why it could not
 * be read.
 *
 * @example
 * ```ts
 * import type { NodeView } from "./cluster_events.ts";
 * const down: NodeView = { id: 2, addr: "http://127.0.0.1:21002", ok: false, error: "unreachable" };
 * ```
 */
export type NodeView =
  | {
    /** The member's id. */
    readonly id: NodeId;
    /** Its address in the membership. */
    readonly addr: string;
    /** Read. */
    readonly ok: true;
    /** Its `GET /cluster/metrics`. */
    readonly metrics: AdminMetricsJSON;
    /** How long reading it took, in ms (0 for the watching node). */
    readonly millis: number;
  }
  | {
    /** The member's id. */
    readonly id: NodeId;
    /** Its address in the membership. */
    readonly addr: string;
    /** Not read. */
    readonly ok: false;
    /** Why: `unreachable`, `timeout`, `HTTP 401`, … */
    readonly error: string;
  };

/**
 * One round of {@linkcode ClusterWatch}: every member, by id.
 *
 * @example
 * ```ts
 * import type { ClusterView } from "./cluster_events.ts";
 * const v: ClusterView = { at: Date.now(), self: 1, nodes: [] };
 * ```
 */
export interface ClusterView {
  /** When the round ended, in ms since the epoch. */
  readonly at: number;
  /** The watching node. */
  readonly self: NodeId;
  /** Every member known to the watching node or to the leader it reached, by id. */
  readonly nodes: readonly NodeView[];
}

/**
 * Options of {@linkcode ClusterWatch}.
 *
 * @example
 * ```ts
 * import type { ClusterWatchOptions } from "./cluster_events.ts";
 * const o: ClusterWatchOptions = { selfAddr: "http://127.0.0.1:21001", interval: 500 };
 * ```
 */
export interface ClusterWatchOptions {
  /** The watching node's own address. */
  readonly selfAddr: string;
  /** The cluster's secret, sent to the members as `authorization: Bearer`. */
  readonly secret?: string;
  /** The `fetch` for the members (e.g. trusting the cluster's CA). Default `globalThis.fetch`. */
  readonly fetch?: FetchFn;
  /** Pause between rounds, in ms. Default 500. */
  readonly interval?: number;
  /** How long one member may take to answer, in ms. Default 1000. */
  readonly timeout?: number;
}

/**
 * What a {@linkcode ClusterWatch} reads of its node; a `Raft` satisfies it.
 *
 * @example
 * ```ts
 * import type { WatchedNode } from "./cluster_events.ts";
 * import type { Raft } from "../src/runtime/raft.ts";
 * const watched = (raft: Raft<unknown>): WatchedNode => raft;
 * ```
 */
export interface WatchedNode {
  /** The node's id. */
  readonly id: NodeId;
  /** Its metrics. */
  readonly metrics: { readonly current: RaftMetrics };
}

/**
 * Polls every member of the node's cluster while it has subscribers (and
 * not otherwise), and hands each round's {@linkcode ClusterView} to them.
 *
 * @example
 * ```ts
 * import { ClusterWatch } from "./cluster_events.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { MemoryNetwork } from "../testing/memory_network.ts";
 *
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * const watch = new ClusterWatch(raft, { selfAddr: "http://127.0.0.1:21001" });
 * const view = await watch.poll();
 * console.assert(view.nodes.length === 1 && view.nodes[0]!.ok);
 * watch.close();
 * await raft.shutdown();
 * ```
 */
export class ClusterWatch {
  readonly #node: WatchedNode;
  readonly #selfAddr: string;
  readonly #headers: Record<string, string>;
  readonly #fetch: FetchFn;
  readonly #interval: number;
  readonly #timeout: number;
  readonly #listeners = new Set<(view: ClusterView) => void>();
  readonly #closers = new Set<() => void>();
  #latest: ClusterView | null = null;
  #running = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /** Watches `node`'s cluster. */
  constructor(node: WatchedNode, options: ClusterWatchOptions) {
    this.#node = node;
    this.#selfAddr = options.selfAddr;
    this.#headers = options.secret === undefined
      ? {}
      : { authorization: `Bearer ${options.secret}` };
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#interval = options.interval ?? 500;
    this.#timeout = options.timeout ?? 1000;
  }

  /** How many subscribers it has (open event streams among them). */
  get subscribers(): number {
    return this.#listeners.size;
  }

  /** The last round, or `null` before the first. */
  get latest(): ClusterView | null {
    return this.#latest;
  }

  /**
   * Calls `listener` with every round from now on (at once with the last
   * one, if recent); the first subscriber starts the polling, the last one
   * to leave stops it. Returns a function that unsubscribes. `onClose` is
   * called if the watch is closed meanwhile.
   */
  subscribe(listener: (view: ClusterView) => void, onClose?: () => void): () => void {
    if (this.#closed) {
      onClose?.();
      return () => {};
    }
    this.#listeners.add(listener);
    if (onClose !== undefined) this.#closers.add(onClose);
    const latest = this.#latest;
    if (latest !== null && Date.now() - latest.at < 2 * this.#interval) listener(latest);
    if (!this.#running) {
      this.#running = true;
      void this.#loop();
    }
    return () => {
      this.#listeners.delete(listener);
      if (onClose !== undefined) this.#closers.delete(onClose);
    };
  }

  /** Stops polling for good and tells every subscriber (their streams end). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#listeners.clear();
    const closers = [...this.#closers];
    this.#closers.clear();
    for (const c of closers) c();
  }

  /** One round now: this node's metrics and every other member's. */
  async poll(): Promise<ClusterView> {
    const self = this.#node.metrics.current;
    const selfJSON = metricsJSON(self);
    const addrs = new Map<NodeId, string>();
    for (const [id, addr] of Object.entries(selfJSON.membership.nodes)) addrs.set(Number(id), addr);
    if (!addrs.has(self.id)) addrs.set(self.id, this.#selfAddr);
    const views = new Map<NodeId, NodeView>();
    views.set(self.id, {
      id: self.id,
      addr: addrs.get(self.id)!,
      ok: true,
      metrics: selfJSON,
      millis: 0,
    });
    const read = async (ids: NodeId[]): Promise<void> => {
      await Promise.all(ids.map(async (id) => {
        views.set(id, await this.#read(id, addrs.get(id)!));
      }));
    };
    await read([...addrs.keys()].filter((id) => id !== self.id));
    // Members the leader knows of and this node does not yet (a learner being added).
    const leader = self.currentLeader === null ? undefined : views.get(self.currentLeader);
    if (leader?.ok === true) {
      const more: NodeId[] = [];
      for (const [key, addr] of Object.entries(leader.metrics.membership.nodes)) {
        const id = Number(key);
        if (!addrs.has(id)) {
          addrs.set(id, addr);
          more.push(id);
        }
      }
      await read(more);
    }
    const nodes = [...views.values()].sort((a, b) => a.id - b.id);
    return { at: Date.now(), self: self.id, nodes };
  }

  async #read(id: NodeId, addr: string): Promise<NodeView> {
    const started = Date.now();
    try {
      const res = await this.#fetch(`${addr}/cluster/metrics`, {
        headers: this.#headers,
        signal: AbortSignal.timeout(this.#timeout),
      });
      if (!res.ok) {
        await res.body?.cancel().catch(() => {});
        return { id, addr, ok: false, error: `HTTP ${res.status}` };
      }
      const metrics = await res.json() as AdminMetricsJSON;
      if (typeof metrics !== "object" || metrics === null || metrics.id !== id) {
        return { id, addr, ok: false, error: "another node answers at this address" };
      }
      return { id, addr, ok: true, metrics, millis: Date.now() - started };
    } catch (e) {
      const timedOut = e instanceof DOMException && e.name === "TimeoutError";
      return { id, addr, ok: false, error: timedOut ? "timeout" : "unreachable" };
    }
  }

  async #loop(): Promise<void> {
    while (!this.#closed && this.#listeners.size > 0) {
      let view: ClusterView;
      try {
        view = await this.poll();
      } catch {
        view = { at: Date.now(), self: this.#node.id, nodes: [] };
      }
      if (this.#closed) break;
      this.#latest = view;
      for (const l of [...this.#listeners]) {
        try {
          l(view);
        } catch {
          // One subscriber's failure must not stop the others.
        }
      }
      await new Promise<void>((resolve) => this.#timer = setTimeout(resolve, this.#interval));
    }
    this.#running = false;
  }
}

/**
 * A `text/event-stream` response of `watch`'s rounds: `event: cluster`
 * with a {@linkcode ClusterView} as JSON, a `retry: 1000` first (browsers
 * reconnect after a second). It ends when the client goes away (the
 * stream is cancelled, or the optional `signal` aborts) or the watch is
 * closed.
 *
 * @example
 * ```ts
 * import { clusterEventStream } from "./cluster_events.ts";
 * import { dashboard } from "./dashboard.ts";
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
 * const d = dashboard(raft, { selfAddr: "http://127.0.0.1:21001" });
 * const res = clusterEventStream(d.watch); // e.g. app.get("/events", () => clusterEventStream(watch))
 * console.assert(res.headers.get("content-type")!.startsWith("text/event-stream"));
 * await res.body?.cancel();
 * d.close();
 * await raft.shutdown();
 * ```
 */
export function clusterEventStream(watch: ClusterWatch, signal?: AbortSignal): Response {
  const encoder = new TextEncoder();
  let stop = (): void => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let ended = false;
      let off = (): void => {};
      const end = (): void => {
        if (ended) return;
        ended = true;
        off();
        signal?.removeEventListener("abort", end);
        try {
          controller.close();
        } catch {
          // Already cancelled by the client.
        }
      };
      stop = end;
      controller.enqueue(encoder.encode("retry: 1000\n\n"));
      off = watch.subscribe((view) => {
        if (ended) return;
        try {
          controller.enqueue(encoder.encode(`event: cluster\ndata: ${JSON.stringify(view)}\n\n`));
        } catch {
          end();
        }
      }, end);
      if (signal?.aborted === true) end();
      else signal?.addEventListener("abort", end, { once: true });
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, {
    headers: {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    },
  });
}
