/**
 * `RaftEngine`: the Raft protocol as a pure, synchronous, deterministic state
 * machine. Events go in (time, messages, proposals, storage progress,
 * administrative calls); commands come out through `takeCommands()`, in the
 * order the runtime must honour. No I/O, promises, timers or clocks: time
 * arrives with `tick(now)`, randomness from the injected source.
 *
 * @module
 */

import type { RaftMessage } from "../messages.ts";
import type { LogId, Membership, NodeId, SnapshotMeta, StoredMembership, Vote } from "../types.ts";
import type { AdminResult, Command, EngineInit, ProposeResult } from "./commands.ts";
import { assertNever } from "./_assert_never.ts";
import {
  campaign,
  countOwnVoteIfDurable,
  electionTick,
  electionTimerDeadline,
  handleTimeoutNow,
  handleVoteRequest,
  handleVoteResponse,
} from "./election.ts";
import { EngineCore, type Role, type RoleReason } from "./engine_core.ts";
import { peerRefusal } from "./peer_checks.ts";
import { handleAppendRequest } from "./follower_append.ts";
import { broadcast, handleUnreachable } from "./leader_replication.ts";
import {
  commitDurable,
  handleAppendResponse,
  heartbeatNow,
  leaderDeadline,
  leaderTick,
} from "./leader_progress.ts";
import { transferLeader } from "./leadership_transfer.ts";
import { changeMembership } from "./membership_change.ts";
import { handleReadIndexRequest, leaseValid, requestReads } from "./read_index.ts";
import { becomeFollower, followMembership } from "./roles.ts";
import {
  finishInterruptedInstall,
  handleInstallSnapshot,
  handleInstallSnapshotResponse,
  purgeLog,
  snapshotBuilt,
  snapshotInstalled,
  snapshotInstallFailed,
} from "./snapshot.ts";
import type { Entry } from "../types.ts";
import { isVoter } from "../types.ts";

/**
 * Replication state of one peer as the leader sees it.
 *
 * @example
 * ```ts
 * import type { PeerStatus } from "./engine.ts";
 * const p: PeerStatus = {
 *   matched: { term: 1, index: 4 }, state: "pipeline", inflight: 0, ackedAt: 1200,
 * };
 * ```
 */
export interface PeerStatus {
  /** Last log id known replicated to the peer. */
  readonly matched: LogId | null;
  /** Probing for the match point, pipelining, or sending a snapshot. */
  readonly state: "probe" | "pipeline" | "snapshot";
  /** Append requests in flight. */
  readonly inflight: number;
  /** When the peer last answered a request of this leader (engine time), or `null`. */
  readonly ackedAt: number | null;
}

/**
 * A read-only view of the engine's state, for metrics and tests.
 *
 * @example
 * ```ts
 * import type { EngineStatus } from "./engine.ts";
 * function describe(s: EngineStatus): string { return `${s.role} at term ${s.term}`; }
 * ```
 */
export interface EngineStatus {
  /** This node. */
  readonly id: NodeId;
  /** Current role. */
  readonly role: Role;
  /** Whether a candidate is still in its pre-vote round. */
  readonly preCandidate: boolean;
  /** Current term. */
  readonly term: number;
  /** Current vote. */
  readonly vote: Vote;
  /** Known leader of the current term. */
  readonly leaderId: NodeId | null;
  /** Last log id (written, not necessarily durable). */
  readonly lastLogId: LogId | null;
  /** Last log id durable in the store. */
  readonly durable: LogId | null;
  /** Last committed log id. */
  readonly committed: LogId | null;
  /** Last log id the state machine reported applied. */
  readonly applied: LogId | null;
  /** Last purged log id. */
  readonly purged: LogId | null;
  /** The current snapshot, if any. */
  readonly snapshot: SnapshotMeta | null;
  /** The effective (latest appended) membership. */
  readonly membership: StoredMembership;
  /** The latest committed membership. */
  readonly committedMembership: StoredMembership;
  /** Leader only: each peer's replication state. */
  readonly replication: ReadonlyMap<NodeId, PeerStatus>;
  /** Leader only: when the last round acknowledged by a quorum was sent (engine time). */
  readonly quorumAckAt: number | null;
  /** Leader only: whether a lease read would be served now. */
  readonly leaseValid: boolean;
  /** Leader only: the node a transfer is handing leadership to. */
  readonly transferTo: NodeId | null;
  /** Elections this node started (terms it campaigned in, pre-votes not counted). */
  readonly electionsStarted: number;
  /** Why the role or term last changed (for logs). */
  readonly roleReason: RoleReason;
}

/**
 * The Raft protocol engine. Feed it events; execute the commands it emits.
 *
 * @example
 * ```ts
 * import { RaftEngine } from "./engine.ts";
 * import { membershipOf } from "../types.ts";
 * const engine = new RaftEngine({
 *   id: 1, now: 0, random: { int: (min) => min },
 *   config: {
 *     electionTimeoutMin: 150, electionTimeoutMax: 300, heartbeatInterval: 50,
 *     maxPayloadEntries: 300, maxInflight: 64, preVote: true, checkQuorum: true,
 *     leaseMargin: 50, enableElect: true, enableHeartbeat: true,
 *   },
 * });
 * engine.initialize(membershipOf([1]));
 * for (const c of engine.takeCommands()) {
 *   if ("io" in c) engine.flushed(c.io); // a real runtime writes to storage first
 * }
 * engine.status().role; // "leader": a single voter elects itself
 * ```
 */
export class RaftEngine {
  readonly #core: EngineCore;

  /** Recovers an engine from what storage holds. */
  constructor(init: EngineInit) {
    this.#core = new EngineCore(init);
    finishInterruptedInstall(this.#core);
    // Committed entries the state machine has not applied yet are applied at once.
    this.#core.maybeApply();
  }

  /** Takes the commands emitted since the last call, in execution order. */
  takeCommands(): Command[] {
    return this.#core.takeCommands();
  }

  /**
   * Advances time to `now` (monotonic ms): campaigns when the election
   * timeout passed, sends heartbeats, checks quorum, expires transfers.
   */
  tick(now: number): void {
    const core = this.#core;
    if (now > core.now) core.now = now;
    if (core.leader !== null) leaderTick(core, core.leader);
    else electionTick(core);
  }

  /**
   * The earliest time at which {@linkcode tick} has something to do, or
   * `Infinity`. The runtime keeps one timer for it.
   */
  nextDeadline(): number {
    const core = this.#core;
    return core.leader !== null ? leaderDeadline(core, core.leader) : electionTimerDeadline(core);
  }

  /**
   * Handles a message from `from`. Requests need the runtime's `token`,
   * which the matching `reply` command carries back. A request of another
   * cluster, or of a term above `MAX_PEER_TERM`, is answered by a `refuse`
   * command instead and changes nothing; such a response is dropped.
   */
  receive(from: NodeId, message: RaftMessage, token = 0): void {
    const core = this.#core;
    const refusal = peerRefusal(core, from, message);
    if (refusal !== null) {
      if (token !== 0) core.emit({ type: "refuse", token, refusal });
      return;
    }
    switch (message.type) {
      case "append":
        handleAppendRequest(core, from, message, token);
        break;
      case "append-response":
        handleAppendResponse(core, from, message);
        break;
      case "vote":
      case "pre-vote":
        handleVoteRequest(core, from, message, token);
        break;
      case "vote-response":
      case "pre-vote-response":
        handleVoteResponse(core, from, message);
        break;
      case "timeout-now":
        handleTimeoutNow(core, from, message, token);
        break;
      case "timeout-now-response":
        if (message.term > core.vote.term) becomeFollower(core, message.term, null);
        break;
      case "install-snapshot":
        handleInstallSnapshot(core, from, message, token);
        break;
      case "install-snapshot-response":
        handleInstallSnapshotResponse(core, from, message);
        break;
      case "read-index":
        handleReadIndexRequest(core, from, message, token);
        break;
      case "read-index-response":
        // The runtime's pending reads take these (a follower read needs no engine state).
        break;
      default:
        assertNever(message);
    }
  }

  /** A request to `peer` failed (unreachable, timed out): probe it again later. */
  unreachable(peer: NodeId): void {
    handleUnreachable(this.#core, peer);
  }

  /**
   * Appends client commands (already encoded) as one batch, if leader; a
   * `null` payload appends a blank entry (a barrier: `writeBlank`).
   * Their results arrive through `apply` commands.
   */
  propose(payloads: readonly (Uint8Array | null)[]): ProposeResult {
    const core = this.#core;
    const leader = core.leader;
    if (leader === null) return { ok: false, reason: "not-leader", leaderId: core.leaderId };
    if (leader.transfer !== null) return { ok: false, reason: "transferring", leaderId: core.id };
    const term = core.vote.term;
    const firstIndex = core.log.lastIndex() + 1;
    const entries: Entry[] = new Array(payloads.length);
    for (let i = 0; i < payloads.length; i++) {
      const data = payloads[i]!;
      entries[i] = data === null
        ? { term, index: firstIndex + i, type: "blank" }
        : { term, index: firstIndex + i, type: "normal", data };
    }
    core.appendEntries(entries); // normal entries: the membership is unchanged
    broadcast(core, leader, false);
    return { ok: true, term, firstIndex };
  }

  /**
   * Asks for linearizable reads; answered by `read-ready` / `read-failed`.
   * Reads (and peers' `read-index` requests) that arrive before the
   * runtime takes the commands share one quorum round.
   */
  read(tokens: readonly number[], policy: "read-index" | "lease"): void {
    requestReads(this.#core, tokens, policy);
  }

  /** The state machine built a snapshot: record it (purging is separate). */
  snapshotBuilt(meta: SnapshotMeta): void {
    snapshotBuilt(this.#core, meta);
  }

  /**
   * Purges the log up to `upTo`, bounded by the snapshot and the applied
   * index. Returns the log id purged up to, or `null` if nothing was purged.
   */
  purgeLog(upTo: number): LogId | null {
    return purgeLog(this.#core, upTo);
  }

  /** The runtime installed the snapshot of an `install-snapshot` command. */
  snapshotInstalled(token: number): void {
    snapshotInstalled(this.#core, token);
  }

  /** The runtime could not install the snapshot of an `install-snapshot` command. */
  snapshotInstallFailed(token: number): void {
    snapshotInstallFailed(this.#core, token);
  }

  /** Storage made every command numbered up to `io` durable. */
  flushed(io: number): void {
    const core = this.#core;
    if (!core.onFlushed(io)) {
      countOwnVoteIfDurable(core);
      return;
    }
    countOwnVoteIfDurable(core);
    commitDurable(core);
    core.maybeApply();
  }

  /** The state machine applied everything up to `upTo`. */
  applied(upTo: LogId): void {
    const core = this.#core;
    if (core.applied === null || upTo.index > core.applied.index) core.applied = upTo;
  }

  /**
   * Initializes a blank node with its first membership, stored at index 1
   * (term 0). A voter of it campaigns at once.
   */
  initialize(membership: Membership): AdminResult {
    const core = this.#core;
    if (this.initialized) {
      return { ok: false, reason: "already-initialized", leaderId: core.leaderId };
    }
    if (!membership.nodes.has(core.id)) {
      return { ok: false, reason: "not-in-members", leaderId: null, nodeId: core.id };
    }
    if (membership.configs.length !== 1 || membership.configs[0]!.length === 0) {
      return { ok: false, reason: "empty-membership", leaderId: null };
    }
    const logId = { term: 0, index: 1 };
    if (core.appendEntries([{ ...logId, type: "membership", membership }])) followMembership(core);
    if (isVoter(membership, core.id)) campaign(core, { transfer: false });
    return { ok: true, logId };
  }

  /** Changes the voter set (joint consensus) or learners; see membership_change.ts. */
  changeMembership(target: Membership): AdminResult {
    return changeMembership(this.#core, target);
  }

  /** Hands leadership to `to`; see leadership_transfer.ts. */
  transferLeader(to: NodeId): AdminResult {
    return transferLeader(this.#core, to);
  }

  /** Campaigns now (with pre-vote when enabled), if a voter and not leading. */
  triggerElect(): void {
    campaign(this.#core, { transfer: false });
  }

  /** Leader: sends a heartbeat round now. */
  triggerHeartbeat(): void {
    const core = this.#core;
    if (core.leader !== null) heartbeatNow(core, core.leader);
  }

  /** Turns campaigning on the election timeout on or off. */
  setElectEnabled(enabled: boolean): void {
    const core = this.#core;
    core.electEnabled = enabled;
    if (enabled && core.role !== "leader") core.resetElectionTimer();
  }

  /** Turns scheduled heartbeats on or off. */
  setHeartbeatEnabled(enabled: boolean): void {
    this.#core.heartbeatEnabled = enabled;
  }

  /** The current role (cheaper than {@linkcode status}). */
  get role(): Role {
    return this.#core.role;
  }

  /** Why the role or term last changed, for logs (cheaper than {@linkcode status}). */
  get roleReason(): RoleReason {
    return this.#core.roleReason;
  }

  /** Whether a candidate is still in its pre-vote round (cheaper than {@linkcode status}). */
  get preCandidate(): boolean {
    return this.#core.preCandidate;
  }

  /** Elections this node started (cheaper than {@linkcode status}). */
  get electionsStarted(): number {
    return this.#core.electionsStarted;
  }

  /** The last purged index, 0 if none (cheaper than {@linkcode status}). */
  get purgedIndex(): number {
    return this.#core.log.purged()?.index ?? 0;
  }

  /** The current term (cheaper than {@linkcode status}). */
  get term(): number {
    return this.#core.vote.term;
  }

  /**
   * Whether this node has a log, a vote or a membership: exactly when
   * {@linkcode initialize} refuses with `already-initialized`.
   */
  get initialized(): boolean {
    const core = this.#core;
    return core.log.lastIndex() > 0 || core.vote.term > 0 || core.memberships.length > 0;
  }

  /** The effective membership (cheaper than {@linkcode status}). */
  effectiveMembership(): StoredMembership {
    return this.#core.effective();
  }

  /** The known leader of the current term (cheaper than {@linkcode status}). */
  get leaderId(): NodeId | null {
    return this.#core.leaderId;
  }

  /** A read-only view of the current state. */
  status(): EngineStatus {
    const core = this.#core;
    const leader = core.leader;
    const replication = new Map<NodeId, PeerStatus>();
    for (const [id, p] of leader?.progress ?? []) {
      replication.set(id, {
        matched: core.log.logIdAt(p.match),
        state: p.state,
        inflight: p.state === "probe" ? (p.probeInflight ? 1 : 0) : p.inflight.length,
        ackedAt: p.ackedAt > -Infinity ? p.ackedAt : null,
      });
    }
    return {
      id: core.id,
      role: core.role,
      preCandidate: core.preCandidate,
      term: core.vote.term,
      vote: core.vote,
      leaderId: core.leaderId,
      lastLogId: core.log.lastLogId(),
      durable: core.durable,
      committed: core.log.logIdAt(core.commit),
      applied: core.applied,
      purged: core.log.purged(),
      snapshot: core.snapshot,
      membership: core.effective(),
      committedMembership: core.committedMembership(),
      replication,
      quorumAckAt: leader !== null && leader.quorumAckAt > -Infinity ? leader.quorumAckAt : null,
      leaseValid: leaseValid(core),
      transferTo: leader?.transfer?.to ?? null,
      electionsStarted: core.electionsStarted,
      roleReason: core.roleReason,
    };
  }

  /** Ids of every entry in the log view (for tests and small logs). */
  logIds(): LogId[] {
    return this.#core.log.logIds();
  }
}
