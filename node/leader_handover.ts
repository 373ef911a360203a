/**
 * {@linkcode handOverLeadership}: before a leader stops, it hands leadership
 * to its most caught-up voter, so the cluster does not wait an election
 * timeout for a new one.
 *
 * @module
 */

import type { Raft } from "../src/runtime/raft.ts";
import { type NodeId, votersOf } from "../src/types.ts";

/**
 * Options of {@linkcode handOverLeadership}.
 *
 * @example
 * ```ts
 * import type { HandOverOptions } from "./leader_handover.ts";
 * const options: HandOverOptions = { timeout: 600 };
 * ```
 */
export interface HandOverOptions {
  /**
   * How long to wait for another node to lead, in ms. Default: two maximum
   * election timeouts (`2 × config.electionTimeoutMax`).
   */
  readonly timeout?: number;
}

/**
 * The voter a leader should hand leadership to: the one whose replicated
 * log reaches furthest (ties: the lowest id), or `null` when `raft` is not
 * the leader or is the only voter.
 *
 * @example
 * ```ts
 * import { handOverTarget } from "./leader_handover.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { MemoryNetwork } from "../testing/memory_network.ts";
 *
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * await raft.initialize([1]);
 * await raft.metrics.wait({ timeout: 5000 }).role("leader");
 * console.assert(handOverTarget(raft) === null); // alone: nobody to hand over to
 * await raft.shutdown();
 * ```
 */
export function handOverTarget<R>(raft: Raft<R>): NodeId | null {
  const m = raft.metrics.current;
  if (m.state !== "leader" || m.replication === null) return null;
  let best: NodeId | null = null;
  let bestIndex = -1;
  for (const id of votersOf(m.membership.membership)) {
    if (id === m.id) continue;
    const index = m.replication.get(id)?.matched?.index ?? 0;
    if (index > bestIndex || (index === bestIndex && best !== null && id < best)) {
      best = id;
      bestIndex = index;
    }
  }
  return best;
}

/**
 * When `raft` leads a cluster with other voters, asks the most caught-up one
 * ({@linkcode handOverTarget}) to take over (`trigger.transferLeader`) and
 * waits, at most `timeout`, until another node leads. Resolves with the new
 * leader's id, or `null` when there was nobody to hand over to, `raft` was
 * not the leader, or no other node took over in time (the caller stops
 * anyway: the cluster then elects a leader after an election timeout).
 * Never rejects.
 *
 * @example
 * ```ts
 * import { handOverLeadership } from "./leader_handover.ts";
 * import { Raft } from "../src/runtime/raft.ts";
 * import { MemoryLogStore } from "../adapters/memory.ts";
 * import { MemoryStateMachine } from "../kv/mod.ts";
 * import { MemoryNetwork } from "../testing/memory_network.ts";
 *
 * const raft = await Raft.create({
 *   id: 1, logStore: new MemoryLogStore(), stateMachine: new MemoryStateMachine(),
 *   network: new MemoryNetwork().client(1),
 * });
 * await raft.initialize([1]);
 * await raft.metrics.wait({ timeout: 5000 }).role("leader");
 * console.assert((await handOverLeadership(raft)) === null); // a cluster of one keeps its leader
 * await raft.shutdown();
 * ```
 */
export function handOverLeadership<R>(
  raft: Raft<R>,
  options?: HandOverOptions,
): Promise<NodeId | null>;
export async function handOverLeadership<R>(
  raft: Raft<R>,
  options: HandOverOptions = {},
): Promise<NodeId | null> {
  const to = handOverTarget(raft);
  if (to === null) return null;
  const timeout = options.timeout ?? 2 * raft.config.electionTimeoutMax;
  const waiting = raft.metrics.wait({ timeout }).metrics(
    (m) => m.state !== "leader" && m.currentLeader !== null && m.currentLeader !== m.id,
    "another node leads",
  ).then((m) => m.currentLeader, () => null);
  try {
    await raft.trigger.transferLeader(to);
  } catch {
    return null; // `waiting` settles by itself at its deadline
  }
  return await waiting;
}
