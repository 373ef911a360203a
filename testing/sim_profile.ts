/**
 * What a simulation seed decides: {@linkcode deriveProfile} turns a seed
 * into a {@linkcode SimProfile} — cluster size, timings, network faults,
 * disk latency, clock skew, the mix and pace of injected faults, and the
 * client workload — so that seeds explore different clusters, not only
 * different interleavings of one.
 *
 * @module
 */

import type { DelayRange } from "./memory_network.ts";
import { SeededRandom } from "../src/random.ts";

/**
 * A kind of fault the simulator injects:
 * - `partition`: the nodes split into two groups that cannot talk (healed later);
 * - `cut`: one direction of one link fails (restored later);
 * - `isolate`: a node cannot talk to anyone (rejoins later);
 * - `crash`: a node stops, loses what was not durable, restarts later;
 * - `pause`: a node stops running (timers, messages, disk) and resumes later;
 * - `network`: new drop, duplicate and delay rates;
 * - `membership`: the leader adds a learner, promotes one, removes or replaces voters;
 * - `transfer`: the leader hands leadership to another voter;
 * - `elect`: a node campaigns at once;
 * - `snapshot`, `purge`: a node builds a snapshot or purges its log (when the runtime can).
 *
 * @example
 * ```ts
 * import type { FaultKind } from "./sim_profile.ts";
 * const k: FaultKind = "crash";
 * ```
 */
export type FaultKind =
  | "partition"
  | "cut"
  | "isolate"
  | "crash"
  | "pause"
  | "network"
  | "membership"
  | "transfer"
  | "elect"
  | "snapshot"
  | "purge"
  | "hostile"
  | "intruder";

/**
 * Every {@linkcode FaultKind}, in a fixed order.
 *
 * @example
 * ```ts
 * import { FAULT_KINDS } from "./sim_profile.ts";
 * console.assert(FAULT_KINDS.includes("partition"));
 * ```
 */
export const FAULT_KINDS: readonly FaultKind[] = [
  "partition",
  "cut",
  "isolate",
  "crash",
  "pause",
  "network",
  "membership",
  "transfer",
  "elect",
  "snapshot",
  "purge",
  "hostile",
  "intruder",
];

/**
 * Everything a seed decides about a simulated cluster. Durations are ms of
 * virtual time; ranges are drawn uniformly.
 *
 * @example
 * ```ts
 * import { deriveProfile } from "./sim_profile.ts";
 * const p = deriveProfile(42);
 * console.assert(p.nodes >= 3 && p.nodes <= 7 && p.heartbeatInterval < p.electionTimeoutMin);
 * ```
 */
export interface SimProfile {
  /** Nodes, 3 to 7 (ids 1..nodes). */
  readonly nodes: number;
  /** Voters of the initial membership (ids 1..initialVoters); the others start empty. */
  readonly initialVoters: number;
  /** Raft timing. */
  readonly electionTimeoutMin: number;
  /** Raft timing. */
  readonly electionTimeoutMax: number;
  /** Raft timing. */
  readonly heartbeatInterval: number;
  /** Lease margin, large enough for the clock drift below. */
  readonly leaseMargin: number;
  /** Most entries per append request. */
  readonly maxPayloadEntries: number;
  /** Append requests in flight per peer. */
  readonly maxInflight: number;
  /** Build a snapshot every this many applied entries (0: only when triggered). */
  readonly snapshotEvery: number;
  /** Entries kept in the log after a snapshot (for lagging followers). */
  readonly keepAfterSnapshot: number;
  /** Network latency of each leg, while faults run. */
  readonly delay: DelayRange;
  /** Probability a message leg is lost, while faults run. */
  readonly dropRate: number;
  /** Probability a request is delivered twice, while faults run. */
  readonly duplicateRate: number;
  /** Longest disk sync latency. */
  readonly fsyncMaxMs: number;
  /** Per node (index id - 1): clock rate error, |drift| small enough for `leaseMargin`. */
  readonly drift: readonly number[];
  /** Per node: clock offset. */
  readonly offset: readonly number[];
  /** Mean time between two injected faults. */
  readonly faultEveryMs: number;
  /** Relative weight of each fault kind (0: never). */
  readonly faultWeights: Readonly<Record<FaultKind, number>>;
  /** How long a crashed node stays down. */
  readonly downMs: readonly [number, number];
  /** How long a pause lasts. */
  readonly pauseMs: readonly [number, number];
  /** How long a partition, cut or isolation lasts. */
  readonly partitionMs: readonly [number, number];
  /** Clients. */
  readonly clients: number;
  /** Registers. */
  readonly keys: number;
  /** Longest pause between a client's operations. */
  readonly thinkMs: number;
  /** Fraction of writes. */
  readonly writeShare: number;
  /**
   * Largest append request in bytes: small ones make the runtime cut
   * batches into several consecutive requests.
   */
  readonly maxAppendBytes: number;
}

/**
 * The profile of a seed. Deterministic: the same seed, the same profile.
 *
 * @example
 * ```ts
 * import { deriveProfile } from "./sim_profile.ts";
 * console.assert(JSON.stringify(deriveProfile(7)) === JSON.stringify(deriveProfile(7)));
 * ```
 */
export function deriveProfile(seed: number): SimProfile {
  const r = new SeededRandom(seed);
  const between = (lo: number, hi: number): number => lo + r.next() * (hi - lo);
  const int = (lo: number, hiInclusive: number): number => r.int(lo, hiInclusive + 1);
  const chance = (p: number): boolean => r.next() < p;

  const nodes = int(3, 7);
  const initialVoters = chance(0.6) ? nodes : int(Math.min(3, nodes), nodes);
  const etMin = int(40, 200);
  const etMax = etMin + int(Math.ceil(etMin / 2), etMin * 2);
  const heartbeat = int(Math.max(2, Math.floor(etMin / 12)), Math.floor(etMin / 3));
  const leaseMargin = int(Math.ceil(etMin * 0.1), Math.floor(etMin * 0.4));
  // Lease safety needs the margin to cover the drift between a leader's clock
  // and a voter's over the minimum election timeout: 2ρ/(1+ρ)·etMin < margin.
  const maxDrift = Math.min(0.05, (0.9 * leaseMargin) / (2 * etMin));
  const delayMin = chance(0.3) ? 0 : between(0, 2);
  const delay = { min: delayMin, max: delayMin + between(0.2, etMin / 4) };
  const weights = {} as Record<FaultKind, number>;
  for (const k of FAULT_KINDS) weights[k] = chance(0.25) ? 0 : int(1, 4);
  return {
    nodes,
    initialVoters,
    electionTimeoutMin: etMin,
    electionTimeoutMax: etMax,
    heartbeatInterval: heartbeat,
    leaseMargin,
    maxPayloadEntries: chance(0.5) ? int(1, 8) : int(9, 300),
    maxInflight: int(1, 16),
    snapshotEvery: chance(0.4) ? 0 : int(5, 200),
    keepAfterSnapshot: chance(0.5) ? 0 : int(1, 50),
    delay,
    dropRate: chance(0.3) ? 0 : between(0, 0.15),
    duplicateRate: chance(0.4) ? 0 : between(0, 0.1),
    fsyncMaxMs: chance(0.2) ? 0 : between(0.05, etMin / 10),
    drift: Array.from({ length: nodes }, () => between(-maxDrift, maxDrift)),
    offset: Array.from({ length: nodes }, () => Math.floor(between(0, 1e6))),
    faultEveryMs: between(etMin / 2, etMax * 3),
    faultWeights: weights,
    downMs: [0, between(etMin, etMax * 5)],
    pauseMs: [etMin / 4, between(etMin, etMax * 4)],
    partitionMs: [etMin / 2, between(etMax, etMax * 8)],
    clients: int(1, 5),
    keys: int(1, 3),
    thinkMs: between(1, etMin),
    writeShare: between(0.3, 0.8),
    // Drawn last, so that the draws above (and the seeds' other settings) stay as they were.
    maxAppendBytes: chance(0.5) ? 4096 : int(4096, 65_536),
  };
}
