/**
 * An in-process {@linkcode RaftNetwork}: nodes of one process send each other
 * requests by calling each other's handlers, with faults that tests control
 * at runtime — isolation, partitions, one-way cuts, random drops,
 * duplicates, and random delays (which reorder messages). Randomness comes
 * from an injected {@linkcode Random}, time from an injected
 * {@linkcode Clock}, so that a run replays from its seed.
 *
 * @module
 */

import type { Clock } from "../src/clock.ts";
import { SystemClock } from "../src/clock.ts";
import { RaftError } from "../src/errors.ts";
import {
  type InstallSnapshotRequest,
  type InstallSnapshotResponse,
  type RaftRequest,
  type RaftResponse,
  REQUEST_TYPES,
  type RequestType,
} from "../src/messages.ts";
import type { RaftNetwork, SendOptions } from "../src/network.ts";
import { readAllBytes } from "../src/byte_stream.ts";
import { type Random, SeededRandom } from "../src/random.ts";
import type { NodeId, RaftNode } from "../src/types.ts";

/**
 * Receives the requests sent to a node and answers them: usually the node's
 * RPC entry point.
 *
 * @example
 * ```ts
 * import type { RequestHandler } from "./memory_network.ts";
 * const alwaysNo: RequestHandler = (_from, request) =>
 *   Promise.resolve({ type: "vote-response", term: request.term, granted: false });
 * ```
 */
export type RequestHandler = (
  from: NodeId,
  request: RaftRequest,
  data?: Uint8Array,
) => Promise<RaftResponse>;

export type { RequestType } from "../src/messages.ts";

/**
 * A range of one-way message latency, in milliseconds; each message leg
 * (request, response) gets a delay drawn uniformly from `[min, max]`.
 *
 * @example
 * ```ts
 * import type { DelayRange } from "./memory_network.ts";
 * const lan: DelayRange = { min: 1, max: 5 };
 * ```
 */
export interface DelayRange {
  /** Shortest delay, ≥ 0. */
  readonly min: number;
  /** Longest delay, ≥ `min`. */
  readonly max: number;
}

/**
 * Options of a {@linkcode MemoryNetwork}; every fault can also be changed
 * later through the network's properties.
 *
 * @example
 * ```ts
 * import { ManualClock } from "../src/clock.ts";
 * import { SeededRandom } from "../src/random.ts";
 * import type { MemoryNetworkOptions } from "./memory_network.ts";
 * const options: MemoryNetworkOptions = {
 *   random: new SeededRandom(42),
 *   clock: new ManualClock(),
 *   dropRate: 0.05,
 *   delay: { min: 1, max: 10 },
 * };
 * ```
 */
export interface MemoryNetworkOptions {
  /** Source of every random decision; default `new SeededRandom(0)`. */
  readonly random?: Random;
  /** Time for delays; default a {@linkcode SystemClock}. */
  readonly clock?: Clock;
  /** Probability (0..1) that a message leg is lost; default 0. */
  readonly dropRate?: number;
  /** Probability (0..1) that a request is delivered twice; default 0. */
  readonly duplicateRate?: number;
  /** Latency of each message leg; default `null` (none: delivered at once). */
  readonly delay?: DelayRange | null;
  /**
   * Deliver `structuredClone`d requests and responses instead of the
   * sender's objects, to catch code that mutates or keeps what it was sent.
   * Default `false`.
   */
  readonly cloneMessages?: boolean;
}

/**
 * Why a {@linkcode NetworkError} happened:
 * - `"unknown-node"`: the target is not registered;
 * - `"partitioned"`: isolation, a partition or a cut blocks the request;
 * - `"dropped"`: the request was lost at random (`dropRate`);
 * - `"response-lost"`: the handler ran, but its answer was lost (at random,
 *   or blocked on the way back).
 *
 * @example
 * ```ts
 * import type { NetworkFailure } from "./memory_network.ts";
 * const f: NetworkFailure = "partitioned";
 * ```
 */
export type NetworkFailure = "unknown-node" | "partitioned" | "dropped" | "response-lost";

/**
 * A message of a {@linkcode MemoryNetwork} was lost. `reason` says how.
 *
 * @example
 * ```ts
 * import { NetworkError } from "./memory_network.ts";
 * const e = new NetworkError(1, 2, "partitioned");
 * console.assert(e.code === "NetworkError" && e.to === 2 && e.reason === "partitioned");
 * ```
 */
export class NetworkError extends RaftError {
  /** The sender. */
  readonly from: NodeId;
  /** The target. */
  readonly to: NodeId;
  /** What happened. */
  readonly reason: NetworkFailure;

  /**
   * Creates a {@linkcode NetworkError}.
   *
   * @param from the sender
   * @param to the target
   * @param reason what happened
   */
  constructor(from: NodeId, to: NodeId, reason: NetworkFailure) {
    super("NetworkError", `message from ${from} to ${to}: ${reason}`);
    this.from = from;
    this.to = to;
    this.reason = reason;
  }

  /** This error's fields for `toJSON`: `from`, `to`, `reason`. */
  protected override fields(): Record<string, unknown> {
    return { from: this.from, to: this.to, reason: this.reason };
  }
}

/**
 * Counters of a {@linkcode MemoryNetwork}, for one request type or all.
 *
 * @example
 * ```ts
 * import type { MessageCounts } from "./memory_network.ts";
 * function lost(c: MessageCounts): number { return c.dropped + c.responsesLost; }
 * ```
 */
export interface MessageCounts {
  /** Requests sent (`send` calls not aborted before sending). */
  readonly sent: number;
  /** Requests that reached a handler, duplicates included. */
  readonly delivered: number;
  /** Requests lost before reaching a handler (any {@linkcode NetworkFailure} but `"response-lost"`). */
  readonly dropped: number;
  /** Responses lost after the handler ran. */
  readonly responsesLost: number;
  /** Requests chosen to be delivered a second time. */
  readonly duplicated: number;
}

interface _Counts {
  sent: number;
  delivered: number;
  dropped: number;
  responsesLost: number;
  duplicated: number;
}

function _zero(): _Counts {
  return { sent: 0, delivered: 0, dropped: 0, responsesLost: 0, duplicated: 0 };
}

function _checkRate(name: string, rate: number): number {
  if (typeof rate !== "number" || !(rate >= 0 && rate <= 1)) {
    throw new RangeError(`${name} must be a number in [0, 1], got ${rate}`);
  }
  return rate;
}

function _checkDelay(delay: DelayRange | null): DelayRange | null {
  if (delay === null) return null;
  const { min, max } = delay;
  if (!Number.isFinite(min) || !Number.isFinite(max) || min < 0 || max < min) {
    throw new RangeError(`delay must have 0 <= min <= max, got {min: ${min}, max: ${max}}`);
  }
  return { min, max };
}

/** One caller waiting for a response; also the abort listener. */
class _Call implements EventListenerObject {
  done = false;
  constructor(
    readonly resolve: (r: RaftResponse) => void,
    readonly reject: (e: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {
    signal?.addEventListener("abort", this, { once: true });
  }

  handleEvent(): void {
    this.fail(this.signal?.reason);
  }

  succeed(response: RaftResponse): void {
    if (this.done) return;
    this.done = true;
    this.signal?.removeEventListener("abort", this);
    this.resolve(response);
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.done = true;
    this.signal?.removeEventListener("abort", this);
    this.reject(error);
  }
}

/**
 * Connects nodes of one process. Each node {@linkcode MemoryNetwork.register}s
 * a handler and sends through its {@linkcode MemoryNetwork.client}.
 *
 * With no fault configured a request is a direct call of the target's
 * handler: no timers, no copies. Faults, all changeable at any time:
 * - {@linkcode MemoryNetwork.isolate}, {@linkcode MemoryNetwork.partition}
 *   (symmetric), {@linkcode MemoryNetwork.cut} (one way),
 *   {@linkcode MemoryNetwork.rejoin}, {@linkcode MemoryNetwork.heal}: a
 *   blocked link is checked when a message leaves and when it arrives; a
 *   response travels back over the reverse link, so `cut(1, 2)` loses node
 *   1's requests to node 2 and also node 1's answers to node 2's requests;
 * - `dropRate`: each leg (request, response) is lost with this probability;
 * - `duplicateRate`: a request is delivered twice (the second answer is
 *   discarded);
 * - `delay`: each leg waits a random time on the clock, so messages reorder.
 *
 * A lost request or response rejects the sender's promise with a
 * {@linkcode NetworkError} — after the leg's delay if one is configured,
 * otherwise at once (so a caller must not retry in a tight loop). A handler
 * that rejects rejects the sender with the same error. `options.signal`
 * aborts the wait (rejecting with the signal's reason); a request already
 * on its way is still delivered, as on a real network.
 *
 * @example
 * ```ts
 * import { MemoryNetwork } from "./memory_network.ts";
 * const net = new MemoryNetwork();
 * net.register(2, (_from, req) => Promise.resolve({ type: "vote-response", term: req.term, granted: true }));
 * const client = net.client(1);
 * const res = await client.send(2, { addr: "" }, {
 *   type: "vote", term: 1, candidateId: 1, lastLogId: null, transfer: false, clusterId: "",
 * });
 * console.assert(res.type === "vote-response" && res.granted);
 * net.isolate(2);
 * const err = await client.send(2, { addr: "" }, {
 *   type: "vote", term: 2, candidateId: 1, lastLogId: null, transfer: false, clusterId: "",
 * }).catch((e) => e);
 * console.assert(err.reason === "partitioned");
 * ```
 */
export class MemoryNetwork {
  readonly #random: Random;
  readonly #clock: Clock;
  readonly #handlers = new Map<NodeId, RequestHandler>();
  readonly #isolated = new Set<NodeId>();
  /** from → targets it cannot reach. */
  readonly #blocked = new Map<NodeId, Set<NodeId>>();
  readonly #counts = new Map<RequestType, _Counts>();
  #dropRate = 0;
  #duplicateRate = 0;
  #delay: DelayRange | null = null;
  #cloneMessages = false;
  /** Whether any fault (or cloning) is on: otherwise sends take the direct path. */
  #faulty = false;
  #inFlight = 0;

  /**
   * Creates a {@linkcode MemoryNetwork}.
   *
   * @param options randomness, clock and initial faults
   */
  constructor(options?: MemoryNetworkOptions);
  constructor(options: MemoryNetworkOptions = {}) {
    this.#random = options.random ?? new SeededRandom(0);
    this.#clock = options.clock ?? new SystemClock();
    this.#dropRate = _checkRate("dropRate", options.dropRate ?? 0);
    this.#duplicateRate = _checkRate("duplicateRate", options.duplicateRate ?? 0);
    this.#delay = _checkDelay(options.delay ?? null);
    this.#cloneMessages = options.cloneMessages ?? false;
    for (const t of REQUEST_TYPES) this.#counts.set(t, _zero());
    this.#update();
  }

  #update(): void {
    this.#faulty = this.#dropRate > 0 || this.#duplicateRate > 0 || this.#delay !== null ||
      this.#cloneMessages || this.#isolated.size > 0 || this.#blocked.size > 0;
  }

  /**
   * Probability (0..1) that a message leg is lost.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.dropRate = 0.1;
   * console.assert(net.dropRate === 0.1);
   * ```
   */
  get dropRate(): number {
    return this.#dropRate;
  }

  set dropRate(rate: number) {
    this.#dropRate = _checkRate("dropRate", rate);
    this.#update();
  }

  /**
   * Probability (0..1) that a request is delivered twice.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork({ duplicateRate: 0.5 });
   * console.assert(net.duplicateRate === 0.5);
   * ```
   */
  get duplicateRate(): number {
    return this.#duplicateRate;
  }

  set duplicateRate(rate: number) {
    this.#duplicateRate = _checkRate("duplicateRate", rate);
    this.#update();
  }

  /**
   * Latency of each message leg, or `null` for none.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.delay = { min: 1, max: 20 };
   * console.assert(net.delay?.max === 20);
   * net.delay = null;
   * ```
   */
  get delay(): DelayRange | null {
    return this.#delay;
  }

  set delay(delay: DelayRange | null) {
    this.#delay = _checkDelay(delay);
    this.#update();
  }

  /**
   * Whether messages are delivered as `structuredClone` copies.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.cloneMessages = true;
   * ```
   */
  get cloneMessages(): boolean {
    return this.#cloneMessages;
  }

  set cloneMessages(on: boolean) {
    this.#cloneMessages = on;
    this.#update();
  }

  /**
   * How many message legs wait on the clock (delayed requests, responses
   * and failures): 0 means nothing delayed is in flight.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * console.assert(new MemoryNetwork().inFlight === 0);
   * ```
   */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Makes node `id` reachable at `handler`.
   *
   * @throws {Error} if `id` is already registered.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.register(1, () => Promise.reject(new Error("not implemented")));
   * console.assert(net.isRegistered(1));
   * ```
   */
  register(id: NodeId, handler: RequestHandler): void {
    if (this.#handlers.has(id)) throw new Error(`MemoryNetwork: node ${id} is already registered`);
    this.#handlers.set(id, handler);
  }

  /**
   * Removes node `id` (e.g. a crashed node): requests to it fail with
   * `"unknown-node"`, including those already in flight. Faults set on it stay.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.register(1, () => Promise.reject(new Error("x")));
   * net.unregister(1);
   * console.assert(!net.isRegistered(1));
   * ```
   */
  unregister(id: NodeId): void {
    this.#handlers.delete(id);
  }

  /**
   * Whether node `id` is registered.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * console.assert(!new MemoryNetwork().isRegistered(1));
   * ```
   */
  isRegistered(id: NodeId): boolean {
    return this.#handlers.has(id);
  }

  /**
   * The {@linkcode RaftNetwork} node `from` sends with. The `node` argument
   * of `send` (the target's address) is ignored: targets are found by id.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * import type { RaftNetwork } from "../src/network.ts";
   * const net = new MemoryNetwork();
   * const network: RaftNetwork = net.client(1);
   * ```
   */
  client(from: NodeId): RaftNetwork {
    return {
      send: (
        target: NodeId,
        _node: RaftNode,
        request: RaftRequest,
        options?: SendOptions,
      ): Promise<RaftResponse> => this.#send(from, target, request, options?.signal, undefined),
      installSnapshot: async (
        target: NodeId,
        _node: RaftNode,
        request: InstallSnapshotRequest,
        data: ReadableStream<Uint8Array>,
        options?: SendOptions,
      ): Promise<InstallSnapshotResponse> => {
        const bytes = await readAllBytes(data);
        const res = await this.#send(from, target, request, options?.signal, bytes);
        if (res.type !== "install-snapshot-response") {
          throw new TypeError(`expected install-snapshot-response, got ${res.type}`);
        }
        return res;
      },
    };
  }

  /**
   * Cuts node `id` off: nothing reaches it and nothing from it arrives,
   * until {@linkcode MemoryNetwork.rejoin} or {@linkcode MemoryNetwork.heal}.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.isolate(3);
   * console.assert(!net.canReach(1, 3) && !net.canReach(3, 1));
   * ```
   */
  isolate(id: NodeId): void {
    this.#isolated.add(id);
    this.#update();
  }

  /**
   * Splits the nodes into groups that cannot reach each other (both ways);
   * adds to the faults already set. Nodes listed in no group are unaffected.
   *
   * @throws {Error} if a node is listed in two groups.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.partition([1, 2], [3, 4, 5]);
   * console.assert(net.canReach(1, 2) && !net.canReach(2, 3) && !net.canReach(4, 1));
   * ```
   */
  partition(...groups: readonly (readonly NodeId[])[]): void {
    const groupOf = new Map<NodeId, number>();
    groups.forEach((group, g) => {
      for (const id of group) {
        const other = groupOf.get(id);
        if (other !== undefined && other !== g) {
          throw new Error(`MemoryNetwork.partition: node ${id} is in two groups`);
        }
        groupOf.set(id, g);
      }
    });
    for (const [a, ga] of groupOf) {
      for (const [b, gb] of groupOf) if (ga !== gb) this.#block(a, b);
    }
    this.#update();
  }

  /**
   * Blocks messages from `from` to `to` only (a one-way fault): `to` still
   * reaches `from`, but `from`'s answers to it are lost too.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.cut(1, 2);
   * console.assert(!net.canReach(1, 2) && net.canReach(2, 1));
   * ```
   */
  cut(from: NodeId, to: NodeId): void {
    this.#block(from, to);
    this.#update();
  }

  /**
   * Undoes {@linkcode MemoryNetwork.cut}`(from, to)` (and the same direction
   * of a partition).
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.cut(1, 2);
   * net.uncut(1, 2);
   * console.assert(net.canReach(1, 2));
   * ```
   */
  uncut(from: NodeId, to: NodeId): void {
    const set = this.#blocked.get(from);
    if (set !== undefined) {
      set.delete(to);
      if (set.size === 0) this.#blocked.delete(from);
    }
    this.#update();
  }

  /**
   * Reconnects node `id`: ends its isolation and every cut or partition
   * link to or from it.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.partition([1], [2, 3]);
   * net.rejoin(1);
   * console.assert(net.canReach(1, 2) && net.canReach(3, 1));
   * ```
   */
  rejoin(id: NodeId): void {
    this.#isolated.delete(id);
    this.#blocked.delete(id);
    for (const [from, set] of this.#blocked) {
      set.delete(id);
      if (set.size === 0) this.#blocked.delete(from);
    }
    this.#update();
  }

  /**
   * Ends every isolation, partition and cut. Rates and delay stay.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.isolate(1);
   * net.heal();
   * console.assert(net.canReach(1, 2));
   * ```
   */
  heal(): void {
    this.#isolated.clear();
    this.#blocked.clear();
    this.#update();
  }

  /**
   * Whether isolation, partitions and cuts let a message go from `from` to
   * `to` (random drops and registration aside).
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * console.assert(new MemoryNetwork().canReach(1, 2));
   * ```
   */
  canReach(from: NodeId, to: NodeId): boolean {
    if (this.#isolated.size > 0 && (this.#isolated.has(from) || this.#isolated.has(to))) {
      return false;
    }
    return this.#blocked.get(from)?.has(to) !== true;
  }

  /**
   * Counters for one request type, or summed over all.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * console.assert(net.counts("append").sent === 0 && net.counts().dropped === 0);
   * ```
   */
  counts(type?: RequestType): MessageCounts {
    if (type !== undefined) return { ...(this.#counts.get(type) ?? _zero()) };
    const sum = _zero();
    for (const c of this.#counts.values()) {
      sum.sent += c.sent;
      sum.delivered += c.delivered;
      sum.dropped += c.dropped;
      sum.responsesLost += c.responsesLost;
      sum.duplicated += c.duplicated;
    }
    return sum;
  }

  /**
   * Sets every counter back to 0.
   *
   * @example
   * ```ts
   * import { MemoryNetwork } from "./memory_network.ts";
   * const net = new MemoryNetwork();
   * net.resetCounts();
   * ```
   */
  resetCounts(): void {
    for (const c of this.#counts.values()) Object.assign(c, _zero());
  }

  #block(from: NodeId, to: NodeId): void {
    const set = this.#blocked.get(from);
    if (set === undefined) this.#blocked.set(from, new Set([to]));
    else set.add(to);
  }

  #countsOf(type: RequestType): _Counts {
    let c = this.#counts.get(type);
    if (c === undefined) {
      c = _zero();
      this.#counts.set(type, c);
    }
    return c;
  }

  #send(
    from: NodeId,
    target: NodeId,
    request: RaftRequest,
    signal: AbortSignal | undefined,
    data: Uint8Array | undefined,
  ): Promise<RaftResponse> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const counts = this.#countsOf(request.type);
    counts.sent++;
    if (this.#faulty) {
      return new Promise<RaftResponse>((resolve, reject) => {
        this.#sendFaulty(from, target, request, counts, new _Call(resolve, reject, signal), data);
      });
    }
    // The direct path.
    const handler = this.#handlers.get(target);
    if (handler === undefined) {
      counts.dropped++;
      return Promise.reject(new NetworkError(from, target, "unknown-node"));
    }
    counts.delivered++;
    const response = _deliver(handler, from, request, data);
    if (signal === undefined) return response;
    return new Promise<RaftResponse>((resolve, reject) => {
      const call = new _Call(resolve, reject, signal);
      response.then((r) => call.succeed(r), (e) => call.fail(e));
    });
  }

  #roll(rate: number): boolean {
    return rate > 0 && this.#random.next() < rate;
  }

  #sampleDelay(): number | null {
    const d = this.#delay;
    if (d === null) return null;
    return d.max === d.min ? d.min : d.min + this.#random.next() * (d.max - d.min);
  }

  /** Runs `fn` after `delay` ms on the clock, or now if `delay` is `null`. */
  #after(delay: number | null, fn: () => void): void {
    if (delay === null) {
      fn();
      return;
    }
    this.#inFlight++;
    this.#clock.setTimer(delay, () => {
      this.#inFlight--;
      fn();
    });
  }

  #sendFaulty(
    from: NodeId,
    target: NodeId,
    request: RaftRequest,
    counts: _Counts,
    call: _Call,
    data: Uint8Array | undefined,
  ): void {
    const req = this.#cloneMessages ? structuredClone(request) : request;
    const delay = this.#sampleDelay();
    const failure: NetworkFailure | null = !this.canReach(from, target)
      ? "partitioned"
      : this.#roll(this.#dropRate)
      ? "dropped"
      : null;
    if (failure !== null) {
      counts.dropped++;
      this.#after(delay, () => call.fail(new NetworkError(from, target, failure)));
      return;
    }
    const duplicate = this.#roll(this.#duplicateRate);
    this.#after(delay, () => this.#deliver(from, target, req, counts, call, data));
    if (duplicate) {
      counts.duplicated++;
      const copy = this.#cloneMessages ? structuredClone(request) : request;
      this.#after(
        this.#sampleDelay(),
        () => this.#deliver(from, target, copy, counts, null, data),
      );
    }
  }

  /** Delivers a request that arrived; `call` is `null` for a duplicate. */
  #deliver(
    from: NodeId,
    target: NodeId,
    request: RaftRequest,
    counts: _Counts,
    call: _Call | null,
    data: Uint8Array | undefined,
  ): void {
    const handler = this.#handlers.get(target);
    const failure: NetworkFailure | null = handler === undefined
      ? "unknown-node"
      : !this.canReach(from, target)
      ? "partitioned"
      : null;
    if (failure !== null || handler === undefined) {
      counts.dropped++;
      call?.fail(new NetworkError(from, target, failure ?? "unknown-node"));
      return;
    }
    counts.delivered++;
    const response = _deliver(handler, from, request, data);
    if (call === null) {
      response.catch(() => {}); // a duplicate's answer is discarded
      return;
    }
    response.then(
      (r) => this.#respond(from, target, counts, call, r, null),
      (e) => this.#respond(from, target, counts, call, null, { error: e }),
    );
  }

  /** Sends a handler's answer (or its error) back to the caller. */
  #respond(
    from: NodeId,
    target: NodeId,
    counts: _Counts,
    call: _Call,
    response: RaftResponse | null,
    failed: { error: unknown } | null,
  ): void {
    if (call.done) return; // aborted meanwhile: nobody waits for the answer
    const delay = this.#sampleDelay();
    const lost = !this.canReach(target, from) || this.#roll(this.#dropRate);
    const res = response !== null && this.#cloneMessages ? structuredClone(response) : response;
    this.#after(delay, () => {
      if (lost || !this.canReach(target, from)) {
        counts.responsesLost++;
        call.fail(new NetworkError(from, target, "response-lost"));
      } else if (failed !== null) call.fail(failed.error);
      else call.succeed(res!);
    });
  }
}

/** Calls a node's handler; a handler that throws answers with that rejection. */
function _deliver(
  handler: RequestHandler,
  from: NodeId,
  request: RaftRequest,
  data: Uint8Array | undefined,
): Promise<RaftResponse> {
  try {
    return handler(from, request, data);
  } catch (e) {
    return Promise.reject(e);
  }
}
