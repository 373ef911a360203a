// A RaftMetrics value for checker tests: a follower at term 1 with nothing in its log.
import type { RaftMetrics } from "../../src/runtime/metrics.ts";
import { EMPTY_MEMBERSHIP, type NodeId } from "../../src/types.ts";

/** Metrics of node `id` (default 1), with `over` applied. */
export function followerMetrics(over: Partial<RaftMetrics>, id: NodeId = 1): RaftMetrics {
  return {
    id,
    state: "follower",
    currentTerm: 1,
    vote: { term: 1, votedFor: null, committed: false },
    currentLeader: null,
    lastLogId: null,
    lastLogIndex: 0,
    committed: null,
    lastApplied: null,
    snapshot: null,
    purged: null,
    membership: { logId: null, membership: EMPTY_MEMBERSHIP },
    replication: null,
    millisSinceQuorumAck: null,
    storageError: null,
    ...over,
  } as RaftMetrics;
}
