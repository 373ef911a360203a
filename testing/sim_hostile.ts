/**
 * What a simulation sends that no honest node would: {@linkcode hostileRequest}
 * makes well-formed but hostile requests (a term no cluster reaches, another
 * cluster's id, a forged TimeoutNow), each with the answer the node must
 * give; {@linkcode SimIntruder} is a node started from another cluster's
 * data that tries to pull members of the simulated cluster into its own.
 *
 * @module
 */

import { PEER_TERM_SLACK } from "../src/engine/peer_checks.ts";
import { MemoryLogStore } from "../adapters/memory.ts";
import { MemoryStateMachine } from "../kv/mod.ts";
import type { RaftRequest, RaftResponse } from "../src/messages.ts";
import type { RaftNetwork } from "../src/network.ts";
import type { Random } from "../src/random.ts";
import { SeededRandom } from "../src/random.ts";
import type { RaftMetrics } from "../src/runtime/metrics.ts";
import { Raft } from "../src/runtime/raft.ts";
import { MAX_PEER_TERM, MAX_TERM, type NodeId } from "../src/types.ts";
import type { NodeClock } from "./sim_clock.ts";

/**
 * A hostile request and what the node must answer: a refusal with that
 * error `code`, or (for a forged TimeoutNow of its own cluster) a response
 * that does not accept it.
 */
export interface HostileRequest {
  /** The request. */
  readonly request: RaftRequest;
  /** Snapshot bytes, for an install-snapshot request. */
  readonly data?: Uint8Array;
  /** The answer required. */
  readonly expect: "ClusterMismatch" | "InvalidMessage" | "not-accepted";
  /** For the trace. */
  readonly describe: string;
}

/** The id hostile requests claim to come from when they do not forge a member's. */
export const HOSTILE_ID: NodeId = 99;

/**
 * A hostile request for the node whose metrics are `m` (it must have joined
 * its cluster: a blank node accepts any cluster's requests).
 */
export function hostileRequest(r: Random, m: RaftMetrics): HostileRequest {
  const own = m.membership.membership.clusterId;
  const other = `hostile-${r.int(0, 1000)}`;
  const term = m.currentTerm;
  const huge = MAX_PEER_TERM + PEER_TERM_SLACK + 1 +
    r.int(0, MAX_TERM - MAX_PEER_TERM - PEER_TERM_SLACK);
  const from = r.next() < 0.5 ? HOSTILE_ID : (m.currentLeader ?? HOSTILE_ID);
  const entries = [{ term: term + 7, index: 1, type: "blank" as const }];
  switch (r.int(0, 7)) {
    case 0:
      return {
        request: {
          type: "append",
          term: huge,
          leaderId: from,
          prevLogId: null,
          entries: [],
          leaderCommit: 0,
          round: 1,
          clusterId: own,
        },
        expect: "InvalidMessage",
        describe: `append at term ${huge} (above MAX_PEER_TERM)`,
      };
    case 1:
      return {
        request: {
          type: r.next() < 0.5 ? "vote" : "pre-vote",
          term: huge,
          candidateId: from,
          lastLogId: { term: huge, index: 1e9 },
          transfer: true,
          clusterId: own,
        },
        expect: "InvalidMessage",
        describe: `vote at term ${huge} (above MAX_PEER_TERM)`,
      };
    case 2:
      return {
        request: {
          type: "append",
          term: term + 7,
          leaderId: from,
          prevLogId: null,
          entries,
          leaderCommit: 1,
          round: 1,
          clusterId: other,
        },
        expect: "ClusterMismatch",
        describe: `append of cluster ${other} at term ${term + 7} overwriting index 1`,
      };
    case 3:
      return {
        request: {
          type: "vote",
          term: term + 7,
          candidateId: from,
          lastLogId: { term: term + 7, index: 1e9 },
          transfer: true,
          clusterId: other,
        },
        expect: "ClusterMismatch",
        describe: `vote of cluster ${other} at term ${term + 7}`,
      };
    case 4:
      return {
        request: { type: "timeout-now", term, leaderId: from, clusterId: other },
        expect: "ClusterMismatch",
        describe: `timeout-now of cluster ${other}`,
      };
    case 5: {
      // Of this cluster, but not from the leader this node follows (or of a newer term).
      // (A newer term far ahead: the node cannot reach it before the request is handled.)
      const newer = r.next() < 0.5;
      const claimed = newer ? from : HOSTILE_ID;
      const at = newer ? term + 1000 : term;
      return {
        request: { type: "timeout-now", term: at, leaderId: claimed, clusterId: own },
        expect: "not-accepted",
        describe: `forged timeout-now from ${claimed} at term ${at}`,
      };
    }
    default:
      return {
        request: {
          type: "install-snapshot",
          term: term + 7,
          leaderId: from,
          meta: {
            lastLogId: { term: term + 7, index: 1e6 },
            lastMembership: {
              logId: { term: term + 7, index: 1 },
              membership: {
                configs: [[from]],
                nodes: new Map([[from, { addr: "" }]]),
                clusterId: other,
              },
            },
            snapshotId: "hostile",
          },
          clusterId: other,
        },
        data: new Uint8Array(16),
        expect: "ClusterMismatch",
        describe: `install-snapshot of cluster ${other}`,
      };
  }
}

/**
 * Judges a node's answer to a hostile request: `null` if it is the answer
 * required, else what is wrong. A node that stopped meanwhile
 * (`ShuttingDown`) answered nothing wrong, nor one that refused a request
 * it would not accept with `NotAMember`.
 */
export function judgeHostileAnswer(
  h: HostileRequest,
  answer: { readonly response: RaftResponse } | { readonly error: unknown },
): string | null {
  if ("error" in answer) {
    const code = (answer.error as { code?: unknown } | null)?.code;
    if (code === "ShuttingDown" || code === h.expect) return null;
    // A forged request from a non-member that turned out older than the node's term
    // (it moved on meanwhile) is refused as such: not accepted either.
    if (h.expect === "not-accepted" && code === "NotAMember") return null;
    return `${h.describe}: refused with ${String(code ?? answer.error)}, expected ${h.expect}`;
  }
  const res = answer.response;
  if (h.expect === "not-accepted" && res.type === "timeout-now-response" && !res.accepted) {
    return null;
  }
  return `${h.describe}: answered ${JSON.stringify(res)}, expected ${h.expect}`;
}

/**
 * A node started from another cluster's data: a one-node cluster of its own
 * (id `id`, cluster id `intruder-…`) that adds members of the simulated
 * cluster as learners, as an operator who pointed a node at the wrong data
 * directory and joined it would. The members must refuse it; it never
 * learns a match from them.
 */
export class SimIntruder {
  readonly #raft: Raft<Uint8Array | null>;
  readonly #targets: readonly NodeId[];

  private constructor(raft: Raft<Uint8Array | null>, targets: readonly NodeId[]) {
    this.#raft = raft;
    this.#targets = targets;
  }

  /** Starts the intruder and has it add `targets` as learners. */
  static async start(
    id: NodeId,
    targets: readonly NodeId[],
    network: RaftNetwork,
    clock: NodeClock,
    seed: number,
  ): Promise<SimIntruder> {
    const raft = await Raft.create<Uint8Array | null>({
      id,
      config: {
        electionTimeoutMin: 40,
        electionTimeoutMax: 80,
        heartbeatInterval: 10,
        leaseMargin: 5,
      },
      logStore: new MemoryLogStore(),
      stateMachine: new MemoryStateMachine(),
      network,
      clock,
      random: new SeededRandom(seed),
    });
    const intruder = new SimIntruder(raft, targets);
    raft.initialize([id], { clusterId: `intruder-${id}` }).then(async () => {
      await raft.metrics.wait({ timeout: 1000 }).role("leader");
      for (const t of targets) {
        await raft.addLearner(t, { addr: "" }, { blocking: false });
      }
    }).catch(() => {});
    return intruder;
  }

  /** The Raft handle, for the network to deliver to. */
  get raft(): Raft<Uint8Array | null> {
    return this.#raft;
  }

  /** A target that answered the intruder's appends as a member would: it must never happen. */
  acceptedBy(): NodeId | null {
    const rep = this.#raft.metrics.current.replication;
    for (const t of this.#targets) if ((rep?.get(t)?.matched?.index ?? 0) > 0) return t;
    return null;
  }

  /** Stops it. */
  stop(): Promise<void> {
    return this.#raft.shutdown().catch(() => {});
  }
}
