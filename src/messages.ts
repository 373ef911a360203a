/**
 * The Raft RPC messages exchanged between nodes: plain data, encoded on the
 * wire by `codec.ts`. Each request has exactly one response, whose type is
 * the request's followed by `-response`. {@linkcode REQUEST_TYPES} lists the
 * requests; the HTTP routes (`src/transport/raft_routes.ts`) and the
 * in-process network of the test kit (`testing/memory_network.ts`) are built
 * from it.
 *
 * Where each message is handled: a peer's request reaches the node through
 * `Raft.handle` (`src/runtime/raft.ts`), and the answers to the requests it
 * sent come back to the same file; both go to `RaftEngine.receive`
 * (`src/engine/engine.ts`), which first refuses what no node may accept —
 * another cluster's request, a term above `MAX_PEER_TERM` — with
 * `peerRefusal` (`src/engine/peer_checks.ts`; a refused request is answered
 * by a `refuse` command, a refused response dropped), then dispatches by type:
 *
 * | message                          | engine handler                | file in src/engine/   |
 * | -------------------------------- | ----------------------------- | --------------------- |
 * | append                           | handleAppendRequest           | follower_append.ts    |
 * | append-response                  | handleAppendResponse          | leader_progress.ts    |
 * | vote, pre-vote                   | handleVoteRequest             | election.ts           |
 * | vote-response, pre-vote-response | handleVoteResponse            | election.ts           |
 * | timeout-now                      | handleTimeoutNow              | election.ts           |
 * | timeout-now-response             | receive itself (a newer term) | engine.ts             |
 * | install-snapshot                 | handleInstallSnapshot         | snapshot.ts           |
 * | install-snapshot-response        | handleInstallSnapshotResponse | snapshot.ts           |
 * | read-index                       | handleReadIndexRequest        | read_index.ts         |
 *
 * A `read-index-response` goes to the runtime's pending reads
 * (`src/runtime/pending_reads.ts`), not to the engine: a follower read
 * needs no protocol state on the follower.
 *
 * A request that fails to arrive (unreachable peer, timeout) is reported with
 * `RaftEngine.unreachable`, handled by `handleUnreachable`
 * (`src/engine/leader_replication.ts`).
 *
 * @example
 * ```ts
 * import { type RaftRequest, REQUEST_TYPES } from "./messages.ts";
 * const request: RaftRequest = { type: "timeout-now", clusterId: "c1", term: 3, leaderId: 1 };
 * console.assert(REQUEST_TYPES.includes(request.type));
 * ```
 *
 * @module
 */

import type { Entry, LogId, NodeId, SnapshotMeta } from "./types.ts";

/**
 * Replicates entries (or, with none, serves as a heartbeat) from a leader.
 *
 * @example
 * ```ts
 * import type { AppendRequest } from "./messages.ts";
 * const heartbeat: AppendRequest = {
 *   type: "append", term: 1, leaderId: 1, prevLogId: null, entries: [], leaderCommit: 0, round: 1,
 *   clusterId: "5f2c9a01d4e8b7c6",
 * };
 * ```
 */
export interface AppendRequest {
  /** Discriminant. */
  readonly type: "append";
  /** The leader's cluster id: a node of another cluster refuses the request. */
  readonly clusterId: string;
  /** The leader's term. */
  readonly term: number;
  /** The leader, so followers can redirect clients. */
  readonly leaderId: NodeId;
  /** The entry immediately before `entries`; `null` for the start of the log. */
  readonly prevLogId: LogId | null;
  /** Entries to store, consecutive from `prevLogId.index + 1`. */
  readonly entries: readonly Entry[];
  /** The leader's commit index. */
  readonly leaderCommit: number;
  /** The leader's heartbeat round when sent; echoed in the response (ReadIndex, lease). */
  readonly round: number;
}

/**
 * A follower's answer to an {@linkcode AppendRequest}.
 *
 * On success `index` is the highest index the follower now durably holds in
 * agreement with the leader. On failure `index` is the rejected
 * `prevLogId.index`, and the hint tells the leader where to retry:
 * `hintTerm` is the follower's term at that index (0 when its log is shorter)
 * and `hintIndex` the first index it holds of `hintTerm` (or its last index + 1).
 *
 * @example
 * ```ts
 * import type { AppendResponse } from "./messages.ts";
 * const ok: AppendResponse = {
 *   type: "append-response", term: 1, round: 1, success: true, index: 5, hintTerm: 0, hintIndex: 0,
 * };
 * ```
 */
export interface AppendResponse {
  /** Discriminant. */
  readonly type: "append-response";
  /** The follower's term. */
  readonly term: number;
  /** The request's round, echoed; 0 when the request's term is older than the follower's. */
  readonly round: number;
  /** Whether `prevLogId` matched and the entries were stored. */
  readonly success: boolean;
  /** Matched index (success) or rejected index (failure). */
  readonly index: number;
  /** Failure hint: the follower's term at `index`, 0 if it has no entry there. */
  readonly hintTerm: number;
  /** Failure hint: first index of `hintTerm` in the follower's log, or its last index + 1. */
  readonly hintIndex: number;
}

/**
 * Asks for a vote (`type: "vote"`) or, without changing anybody's term, asks
 * whether a vote would be granted (`type: "pre-vote"`).
 *
 * @example
 * ```ts
 * import type { VoteRequest } from "./messages.ts";
 * const req: VoteRequest = {
 *   type: "vote", term: 2, candidateId: 1, lastLogId: { term: 1, index: 4 }, transfer: false,
 *   clusterId: "5f2c9a01d4e8b7c6",
 * };
 * ```
 */
export interface VoteRequest {
  /** Discriminant. */
  readonly type: "vote" | "pre-vote";
  /** The candidate's cluster id: a node of another cluster refuses the request. */
  readonly clusterId: string;
  /** The term the candidate campaigns for. */
  readonly term: number;
  /** The candidate. */
  readonly candidateId: NodeId;
  /** The candidate's last log id, for the up-to-date check. */
  readonly lastLogId: LogId | null;
  /** Set when the leader asked for this election (TimeoutNow): voters skip their leader lease. */
  readonly transfer: boolean;
}

/**
 * The answer to a {@linkcode VoteRequest}.
 *
 * @example
 * ```ts
 * import type { VoteResponse } from "./messages.ts";
 * const res: VoteResponse = { type: "vote-response", term: 2, granted: true };
 * ```
 */
export interface VoteResponse {
  /** Discriminant. */
  readonly type: "vote-response" | "pre-vote-response";
  /** The voter's term (for a granted pre-vote: the term asked for). */
  readonly term: number;
  /** Whether the vote (or pre-vote) was granted. */
  readonly granted: boolean;
}

/**
 * Sent by a leader transferring leadership: the target campaigns at once.
 *
 * @example
 * ```ts
 * import type { TimeoutNowRequest } from "./messages.ts";
 * const req: TimeoutNowRequest = { type: "timeout-now", term: 3, leaderId: 1, clusterId: "c1" };
 * ```
 */
export interface TimeoutNowRequest {
  /** Discriminant. */
  readonly type: "timeout-now";
  /** The leader's cluster id: a node of another cluster refuses the request. */
  readonly clusterId: string;
  /** The leader's term. */
  readonly term: number;
  /** The leader handing over. */
  readonly leaderId: NodeId;
}

/**
 * The answer to a {@linkcode TimeoutNowRequest}.
 *
 * @example
 * ```ts
 * import type { TimeoutNowResponse } from "./messages.ts";
 * const res: TimeoutNowResponse = { type: "timeout-now-response", term: 3, accepted: true };
 * ```
 */
export interface TimeoutNowResponse {
  /** Discriminant. */
  readonly type: "timeout-now-response";
  /** The receiver's term. */
  readonly term: number;
  /** Whether the receiver started an election. */
  readonly accepted: boolean;
}

/**
 * Metadata of a snapshot a leader installs on a follower; the snapshot's
 * bytes travel beside it as a stream.
 *
 * @example
 * ```ts
 * import type { InstallSnapshotRequest } from "./messages.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * const req: InstallSnapshotRequest = {
 *   type: "install-snapshot", term: 2, leaderId: 1,
 *   meta: { lastLogId: { term: 2, index: 9 }, lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP }, snapshotId: "s1" },
 *   clusterId: "c1",
 * };
 * ```
 */
export interface InstallSnapshotRequest {
  /** Discriminant. */
  readonly type: "install-snapshot";
  /** The leader's cluster id: a node of another cluster refuses the request. */
  readonly clusterId: string;
  /** The leader's term. */
  readonly term: number;
  /** The leader. */
  readonly leaderId: NodeId;
  /** What the snapshot covers. */
  readonly meta: SnapshotMeta;
}

/**
 * The answer to an {@linkcode InstallSnapshotRequest}.
 *
 * @example
 * ```ts
 * import type { InstallSnapshotResponse } from "./messages.ts";
 * const res: InstallSnapshotResponse = {
 *   type: "install-snapshot-response", term: 2, lastLogId: { term: 2, index: 9 },
 * };
 * ```
 */
export interface InstallSnapshotResponse {
  /** Discriminant. */
  readonly type: "install-snapshot-response";
  /** The follower's term. */
  readonly term: number;
  /** The snapshot's last log id once installed; `null` if refused. */
  readonly lastLogId: LogId | null;
}

/**
 * Asks the leader for a read index (a follower read): the leader confirms
 * it still leads with a quorum round started after the request arrived
 * (batched with its other reads), and answers with its commit index as of
 * the request's arrival. Once the asking node has applied up to that
 * index, a local read there is linearizable.
 *
 * @example
 * ```ts
 * import type { ReadIndexRequest } from "./messages.ts";
 * const req: ReadIndexRequest = { type: "read-index", term: 3, readerId: 2, clusterId: "c1" };
 * ```
 */
export interface ReadIndexRequest {
  /** Discriminant. */
  readonly type: "read-index";
  /** The asking node's cluster id: a node of another cluster refuses the request. */
  readonly clusterId: string;
  /**
   * The asking node's term. A leader of an older term refuses (a newer
   * leader may exist); one of a newer term serves it.
   */
  readonly term: number;
  /** The node asking (a follower or a learner). */
  readonly readerId: NodeId;
}

/**
 * The answer to a {@linkcode ReadIndexRequest}.
 *
 * @example
 * ```ts
 * import type { ReadIndexResponse } from "./messages.ts";
 * const served: ReadIndexResponse = { type: "read-index-response", term: 3, index: 42, leaderId: 1 };
 * const refused: ReadIndexResponse = {
 *   type: "read-index-response", term: 4, index: null, leaderId: 3,
 * };
 * ```
 */
export interface ReadIndexResponse {
  /** Discriminant. */
  readonly type: "read-index-response";
  /** The answering node's term. */
  readonly term: number;
  /** The read index, confirmed by a quorum; `null` if refused (not the leader, or not any more). */
  readonly index: number | null;
  /** The leader the answering node knows of (itself when it served the read), or `null`. */
  readonly leaderId: NodeId | null;
}

/**
 * Any request a node sends to another.
 *
 * @example
 * ```ts
 * import type { RaftRequest } from "./messages.ts";
 * function kind(r: RaftRequest): string { return r.type; }
 * ```
 */
export type RaftRequest =
  | AppendRequest
  | VoteRequest
  | TimeoutNowRequest
  | InstallSnapshotRequest
  | ReadIndexRequest;

/**
 * Any response to a {@linkcode RaftRequest}.
 *
 * @example
 * ```ts
 * import type { RaftResponse } from "./messages.ts";
 * function term(r: RaftResponse): number { return r.term; }
 * ```
 */
export type RaftResponse =
  | AppendResponse
  | VoteResponse
  | TimeoutNowResponse
  | InstallSnapshotResponse
  | ReadIndexResponse;

/**
 * Any Raft RPC message.
 *
 * @example
 * ```ts
 * import type { RaftMessage } from "./messages.ts";
 * function isRequest(m: RaftMessage): boolean { return !m.type.endsWith("-response"); }
 * ```
 */
export type RaftMessage = RaftRequest | RaftResponse;

/**
 * The type of a request: `"append"`, `"vote"`, `"pre-vote"`,
 * `"timeout-now"`, `"install-snapshot"` or `"read-index"`.
 *
 * @example
 * ```ts
 * import type { RequestType } from "./messages.ts";
 * const t: RequestType = "pre-vote";
 * ```
 */
export type RequestType = RaftRequest["type"];

/**
 * Every {@linkcode RequestType}, each once: a key per type, no other (a
 * request type added to {@linkcode RaftRequest} but not here, or here but
 * not there, does not compile). The order is {@linkcode REQUEST_TYPES}'s.
 */
const _REQUEST_TYPES: { readonly [T in RequestType]: true } = {
  "append": true,
  "vote": true,
  "pre-vote": true,
  "timeout-now": true,
  "install-snapshot": true,
  "read-index": true,
};

/**
 * Every type of {@linkcode RaftRequest}, each once: what the HTTP routes
 * serve (`/raft/<type>`) and the memory network counts. The compiler keeps it
 * complete: a request type added to {@linkcode RaftRequest} without being
 * added here (or the reverse) is a type error.
 *
 * @example
 * ```ts
 * import { REQUEST_TYPES } from "./messages.ts";
 * console.assert(
 *   REQUEST_TYPES.join() === "append,vote,pre-vote,timeout-now,install-snapshot,read-index",
 * );
 * ```
 */
export const REQUEST_TYPES: readonly RequestType[] = Object.freeze(
  Object.keys(_REQUEST_TYPES) as RequestType[],
);
