/**
 * {@linkcode nodeMetrics}: the JSON a node serves on `GET /metrics` — role,
 * term, leader and its address, log indexes, membership.
 *
 * @module
 */

import type { Raft } from "../src/runtime/raft.ts";
import { learnersOf, type NodeId, votersOf } from "../src/types.ts";

/**
 * The JSON `GET /metrics` serves.
 *
 * @example
 * ```ts
 * import type { NodeMetrics } from "./node_metrics.ts";
 * const m: NodeMetrics = {
 *   id: 1, role: "leader", term: 1, leader: 1, leaderAddr: "http://127.0.0.1:21001",
 *   lastLogIndex: 2, committed: 2, applied: 2,
 *   membership: { voters: [1], learners: [], joint: false, nodes: { "1": "http://127.0.0.1:21001" } },
 * };
 * ```
 */
export interface NodeMetrics {
  /** This node. */
  readonly id: NodeId;
  /** `leader`, `follower`, `candidate`, `learner` or `shutdown`. */
  readonly role: string;
  /** Current term. */
  readonly term: number;
  /** The known leader, or `null`. */
  readonly leader: NodeId | null;
  /** The known leader's address, or `null`. */
  readonly leaderAddr: string | null;
  /** Index of the last log entry. */
  readonly lastLogIndex: number;
  /** Committed index. */
  readonly committed: number;
  /** Applied index. */
  readonly applied: number;
  /** The effective membership. */
  readonly membership: {
    /** Voters (of every config, while joint). */
    readonly voters: NodeId[];
    /** Learners. */
    readonly learners: NodeId[];
    /** Whether a joint (two-config) membership is in effect. */
    readonly joint: boolean;
    /** Addresses by node id. */
    readonly nodes: Record<string, string>;
  };
}

/**
 * The metrics of `raft` as `GET /metrics` serves them.
 *
 * @example
 * ```ts
 * import { nodeMetrics } from "./node_metrics.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { HttpNetwork } from "../src/transport/mod.ts";
 *
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new HttpNetwork(),
 * });
 * console.assert(nodeMetrics(raft).leader === null);
 * await raft.shutdown();
 * ```
 */
export function nodeMetrics<R>(raft: Raft<R>): NodeMetrics {
  const m = raft.metrics.current;
  const membership = m.membership.membership;
  const nodes: Record<string, string> = {};
  for (const [id, node] of membership.nodes) nodes[String(id)] = node.addr;
  return {
    id: m.id,
    role: m.state,
    term: m.currentTerm,
    leader: m.currentLeader,
    leaderAddr: m.currentLeader === null
      ? null
      : membership.nodes.get(m.currentLeader)?.addr ?? null,
    lastLogIndex: m.lastLogIndex,
    committed: m.committed?.index ?? 0,
    applied: m.lastApplied?.index ?? 0,
    membership: {
      voters: votersOf(membership),
      learners: learnersOf(membership),
      joint: membership.configs.length > 1,
      nodes,
    },
  };
}
