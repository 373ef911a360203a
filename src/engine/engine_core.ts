/**
 * The engine's state and the mechanics every protocol concern shares:
 * emitting commands, sequencing storage I/O (and holding back output that
 * must wait for it), mutating the log view, tracking memberships and the
 * commit index. What only a leader keeps is one `LeaderState`
 * (leader_state.ts) in `leader`; role changes are in `roles.ts`. The
 * protocol lives beside it: `election.ts`, `follower_append.ts`,
 * `leader_replication.ts` (with `leader_progress.ts`), `read_index.ts`,
 * `leadership_transfer.ts`, `membership_change.ts`, `snapshot.ts`.
 *
 * Internal to the engine: applications use `RaftEngine` (engine.ts).
 *
 * @module
 */

import type { Command, EngineConfig, EngineInit, EngineRandom } from "./commands.ts";
import type { LeaderState } from "./leader_state.ts";
import { LogView } from "./log_view.ts";
import type { Entry, LogId, NodeId, SnapshotMeta, StoredMembership, Vote } from "../types.ts";
import { EMPTY_MEMBERSHIP, INITIAL_VOTE, isVoter } from "../types.ts";

/**
 * The role of a node. A `learner` is any node that is not a voter in its
 * effective membership (including an uninitialized node).
 *
 * @example
 * ```ts
 * import type { Role } from "./engine_core.ts";
 * const r: Role = "follower";
 * ```
 */
export type Role = "follower" | "candidate" | "leader" | "learner";

/**
 * Why the node's role or term last changed, for logs and traces (the
 * engine records it with each change; nothing depends on it):
 * - `startup`: recovered from storage, no change since;
 * - `election-timeout`: no leader heard from within the election timeout: a campaign;
 * - `election-triggered`: a campaign asked for (`trigger.elect()`, `initialize`);
 * - `leadership-transfer`: the leader asked this node to campaign (TimeoutNow), or
 *   a leader handing over stepped down for the new leader's term;
 * - `election-won`: a quorum voted for this candidate;
 * - `higher-term`: a message of a higher term was seen;
 * - `leader-seen`: a request from the leader of the current term (a candidate yields);
 * - `check-quorum`: a leader no quorum acknowledged within the election timeout stepped down;
 * - `removed`: a membership without this node as a voter committed (a leader steps
 *   down) or took effect (a candidate gives up);
 * - `membership`: the membership changed this node between voter and learner.
 *
 * @example
 * ```ts
 * import type { RoleReason } from "./engine_core.ts";
 * const r: RoleReason = "check-quorum";
 * ```
 */
export type RoleReason =
  | "startup"
  | "election-timeout"
  | "election-triggered"
  | "leadership-transfer"
  | "election-won"
  | "higher-term"
  | "leader-seen"
  | "check-quorum"
  | "removed"
  | "membership";

/**
 * The engine's state and shared mechanics. Fields are public for the
 * engine's own protocol modules; outside `src/engine/` only tests that hook
 * the engine (tests/testing/simulator_bugs_test.ts) touch them.
 *
 * @example
 * ```ts
 * import { EngineCore } from "./engine_core.ts";
 * const core = new EngineCore({
 *   id: 1, now: 0, random: { int: (min) => min },
 *   config: {
 *     electionTimeoutMin: 150, electionTimeoutMax: 300, heartbeatInterval: 50,
 *     maxPayloadEntries: 300, maxInflight: 64, preVote: true, checkQuorum: true,
 *     leaseMargin: 50, enableElect: true, enableHeartbeat: true,
 *   },
 * });
 * core.role; // "learner": not initialized
 * ```
 */
export class EngineCore {
  /** This node. */
  readonly id: NodeId;
  /** Protocol options. */
  readonly config: EngineConfig;
  /** Election jitter. */
  readonly random: EngineRandom;
  /** Time of the latest event, ms. */
  now: number;

  /** Current term and vote (what was last handed to storage). */
  vote: Vote;
  /** Current role. */
  role: Role = "learner";
  /** Why the role or term last changed (for logs: see `RoleReason`). */
  roleReason: RoleReason = "startup";
  /** A candidate still asking for pre-votes. */
  preCandidate = false;
  /** The known leader of the current term. */
  leaderId: NodeId | null = null;

  /** Terms of the log's entries. */
  readonly log: LogView;
  /** Highest index known committed. */
  commit: number;
  /** Highest index handed to the state machine. */
  applyRequested: number;
  /** Highest log id the state machine reported applied. */
  applied: LogId | null;
  /** Memberships in the log (and snapshot), ascending; last = effective. */
  memberships: StoredMembership[];
  /** The current snapshot. */
  snapshot: SnapshotMeta | null;

  /** Number of the last storage command emitted. */
  ioSeq = 0;
  /** Number of the last storage command reported durable. */
  flushedIo = 0;
  /** Log writes not yet durable, with the last log id each leaves behind. */
  pendingLogIo: { io: number; last: LogId | null }[] = [];
  /** Last log id known durable in the current log. */
  durable: LogId | null;
  /** Output held back until storage catches up. */
  deferred: { io: number; cmd: Command }[] = [];

  /** When to campaign, if a voter that is not leading. */
  electionDeadline: number;
  /** When a valid leader was last heard from (or was ourselves). */
  leaderSeenAt = -Infinity;
  /** Votes (or pre-votes) granted in the current campaign. */
  votesGranted: Set<NodeId> = new Set();
  /** Candidate: its own vote, counted once storage reports `io` durable. */
  pendingSelfVote: { term: number; io: number } | null = null;
  /** Whether the current campaign was asked for by a leader (TimeoutNow). */
  campaignByTransfer = false;
  /** Elections started (terms campaigned in): a counter for metrics. */
  electionsStarted = 0;
  /** Campaign when the election timeout passes. */
  electEnabled: boolean;
  /** Send heartbeats on schedule. */
  heartbeatEnabled: boolean;

  /**
   * Leader: the state of this leadership, created on taking office and
   * dropped on stepping down (roles.ts). Non-null exactly while `role` is
   * `"leader"`.
   */
  leader: LeaderState | null = null;
  /** Follower: a received snapshot being installed by the runtime. */
  pendingInstall: { token: number; meta: SnapshotMeta } | null = null;

  #out: Command[] = [];

  /** Recovers an engine from `init`. */
  constructor(init: EngineInit) {
    this.id = init.id;
    this.config = init.config;
    this.random = init.random;
    this.now = init.now;
    this.vote = init.vote ?? INITIAL_VOTE;
    this.snapshot = init.snapshot ?? null;
    // `purged: null` means "nothing purged" (a snapshot may still exist beside the whole log).
    const purged = init.purged !== undefined ? init.purged : this.snapshot?.lastLogId ?? null;
    this.log = LogView.fromLogIds(init.logIds ?? [], purged);
    this.durable = this.log.lastLogId();
    const applied = init.applied ?? null;
    this.applied = applied;
    const lowest = Math.max(applied?.index ?? 0, this.snapshot?.lastLogId?.index ?? 0);
    this.commit = Math.min(Math.max(init.committed?.index ?? 0, lowest), this.log.lastIndex());
    this.applyRequested = applied?.index ?? 0;
    this.memberships = [...(init.memberships ?? [])];
    if (this.memberships.length === 0 && this.snapshot !== null) {
      this.memberships.push(this.snapshot.lastMembership);
    }
    this.electEnabled = init.config.enableElect;
    this.heartbeatEnabled = init.config.enableHeartbeat;
    this.electionDeadline = Infinity;
    // After a restart the node may have acknowledged a leader just before: it honours that
    // leader's lease (refuses other candidates) for the minimum election timeout.
    this.leaderSeenAt = init.heardFromLeaderAt ?? -Infinity;
    this.role = this.isVoter() ? "follower" : "learner";
    this.resetElectionTimer();
  }

  // ---- output ---------------------------------------------------------------

  /** Emits a command now. */
  emit(cmd: Command): void {
    this.#out.push(cmd);
  }

  /** Emits a command once every storage write emitted so far is durable. */
  emitAfterIo(cmd: Command): void {
    if (this.flushedIo >= this.ioSeq && this.deferred.length === 0) this.#out.push(cmd);
    else this.deferred.push({ io: this.ioSeq, cmd });
  }

  /** Takes the commands emitted since the last call. */
  takeCommands(): Command[] {
    const out = this.#out;
    this.#out = [];
    // What was emitted is on its way: a read arriving from now on needs a newer round.
    if (this.leader !== null) this.leader.roundUnsent = false;
    return out;
  }

  // ---- storage --------------------------------------------------------------

  /** Sets and persists the vote (no-op when unchanged). */
  saveVote(vote: Vote): void {
    const v = this.vote;
    if (v.term === vote.term && v.votedFor === vote.votedFor && v.committed === vote.committed) {
      return;
    }
    this.vote = vote;
    this.emit({ type: "save-vote", vote, io: ++this.ioSeq });
  }

  /**
   * Appends entries to the log view and emits the write. Membership entries
   * take effect at once (a leader's replication targets follow each one).
   * Returns whether the effective membership changed: the caller then lets
   * the role follow it (`followMembership`, roles.ts).
   */
  appendEntries(entries: readonly Entry[]): boolean {
    if (entries.length === 0) return false;
    this.log.append(entries);
    const io = ++this.ioSeq;
    this.pendingLogIo.push({ io, last: this.log.lastLogId() });
    this.emit({ type: "append-log", entries, io });
    let changed = false;
    for (const e of entries) {
      if (e.type === "membership") {
        this.memberships.push({
          logId: { term: e.term, index: e.index },
          membership: e.membership,
        });
        this.syncProgress();
        changed = true;
      }
    }
    return changed;
  }

  /**
   * Removes entries from `since` on (never committed ones, unless a snapshot
   * covering them replaces the log: `bySnapshot`) and emits the write.
   * Memberships in the removed entries are reverted. Returns whether the
   * effective membership changed: the caller then lets the role follow it
   * (`followMembership`, roles.ts).
   */
  truncateEntries(since: number, bySnapshot = false): boolean {
    if (since <= this.commit && !bySnapshot) {
      throw new RangeError(`truncate at ${since} ≤ commit ${this.commit}`);
    }
    this.log.truncate(since);
    const keep = this.log.lastLogId();
    if (this.durable !== null && this.durable.index >= since) this.durable = keep;
    for (const p of this.pendingLogIo) {
      if (p.last !== null && p.last.index >= since) p.last = keep;
    }
    const io = ++this.ioSeq;
    this.pendingLogIo.push({ io, last: keep });
    this.emit({ type: "truncate-log", since, io });
    const before = this.memberships.length;
    while (this.memberships.length > 0) {
      const last = this.memberships[this.memberships.length - 1]!;
      if (last.logId === null || last.logId.index < since) break;
      this.memberships.pop();
    }
    if (this.memberships.length === before) return false;
    this.syncProgress();
    return true;
  }

  /**
   * Forgets entries up to `upTo` (covered by a snapshot) and emits the write.
   * Keeps the latest membership at or before `upTo`.
   */
  purgeEntries(upTo: LogId): void {
    this.log.purge(upTo);
    const io = ++this.ioSeq;
    this.pendingLogIo.push({ io, last: this.log.lastLogId() });
    this.emit({ type: "purge-log", upTo, io });
    let keepFrom = 0;
    for (let i = this.memberships.length - 1; i >= 0; i--) {
      const m = this.memberships[i]!;
      if (m.logId === null || m.logId.index <= upTo.index) {
        keepFrom = i;
        break;
      }
    }
    if (keepFrom > 0) this.memberships.splice(0, keepFrom);
  }

  /**
   * Storage reports every command up to `io` durable: advance the durable
   * log id and release held-back output. Returns whether `durable` moved.
   */
  onFlushed(io: number): boolean {
    if (io <= this.flushedIo) return false;
    this.flushedIo = Math.min(io, this.ioSeq);
    // Usually everything pending is flushed at once: empty the queues rather than shift them.
    const pending = this.pendingLogIo;
    let n = 0;
    while (n < pending.length && pending[n]!.io <= this.flushedIo) n++;
    if (n > 0) {
      this.durable = pending[n - 1]!.last;
      if (n === pending.length) pending.length = 0;
      else pending.splice(0, n);
    }
    const deferred = this.deferred;
    let k = 0;
    while (k < deferred.length && deferred[k]!.io <= this.flushedIo) {
      this.#out.push(deferred[k]!.cmd);
      k++;
    }
    if (k === deferred.length) deferred.length = 0;
    else if (k > 0) deferred.splice(0, k);
    return n > 0;
  }

  /** Index of the last entry known durable. */
  durableIndex(): number {
    return this.durable?.index ?? this.log.purged()?.index ?? 0;
  }

  // ---- membership -----------------------------------------------------------

  /** The effective membership: the latest appended. */
  effective(): StoredMembership {
    return this.memberships[this.memberships.length - 1] ??
      { logId: null, membership: EMPTY_MEMBERSHIP };
  }

  /**
   * The cluster this node belongs to: its effective membership's id (`""`
   * for a node without one, or one from before cluster ids existed).
   */
  clusterId(): string {
    return this.effective().membership.clusterId;
  }

  /** The latest membership at or before the commit index. */
  committedMembership(): StoredMembership {
    for (let i = this.memberships.length - 1; i >= 0; i--) {
      const m = this.memberships[i]!;
      if (m.logId === null || m.logId.index <= this.commit) return m;
    }
    return { logId: null, membership: EMPTY_MEMBERSHIP };
  }

  /** Whether this node votes in its effective membership. */
  isVoter(): boolean {
    return isVoter(this.effective().membership, this.id);
  }

  /**
   * Whether this node may campaign: a voter of any membership it holds from
   * the latest known committed one on. Until it knows that a change dropping
   * it committed, the others may still hold a configuration whose quorum
   * needs it (it counts votes by its effective configuration, which excludes
   * itself). After a restart the commit index may be unknown, so every
   * retained membership counts, not only the committed one.
   */
  mayCampaign(): boolean {
    for (const m of this.memberships) if (isVoter(m.membership, this.id)) return true;
    return false;
  }

  /** Voter sets of the effective membership. */
  voterSets(): readonly (readonly NodeId[])[] {
    return this.effective().membership.configs;
  }

  /**
   * Replaces every membership (with a snapshot's, then those in the entries
   * kept after it). A leader's replication targets follow; the caller lets
   * the role follow (`followMembership`, roles.ts).
   */
  resetMemberships(memberships: StoredMembership[]): void {
    this.memberships = memberships;
    this.syncProgress();
  }

  /** Drops memberships older than the latest committed one. */
  trimMemberships(): void {
    let keepFrom = 0;
    for (let i = this.memberships.length - 1; i >= 0; i--) {
      const m = this.memberships[i]!;
      if (m.logId === null || m.logId.index <= this.commit) {
        keepFrom = i;
        break;
      }
    }
    if (keepFrom > 0) this.memberships.splice(0, keepFrom);
  }

  /**
   * Leader: keeps one progress per replication target: every node of the
   * effective and the committed membership except itself.
   */
  syncProgress(): void {
    const leader = this.leader;
    if (leader === null) return;
    const targets = new Set<NodeId>(this.effective().membership.nodes.keys());
    for (const id of this.committedMembership().membership.nodes.keys()) targets.add(id);
    targets.delete(this.id);
    leader.syncProgress(targets, this.log.lastIndex() + 1);
  }

  // ---- time -------------------------------------------------------------------

  /** Picks a new random election deadline. */
  resetElectionTimer(): void {
    const { electionTimeoutMin: min, electionTimeoutMax: max } = this.config;
    // `electionTimeoutMax` is exclusive, as documented: int() draws from [min, max).
    this.electionDeadline = this.now + this.random.int(min, max);
  }

  /** Whether a live leader was heard from within the minimum election timeout. */
  inLeaderLease(): boolean {
    if (!this.config.checkQuorum) return false;
    if (this.role === "leader") return true;
    return this.now - this.leaderSeenAt < this.config.electionTimeoutMin;
  }

  /** Moves the commit index forward to `index` and applies what is durable. */
  setCommit(index: number): void {
    if (index <= this.commit) return;
    this.commit = index;
    this.trimMemberships();
    this.maybeApply();
  }

  /** Emits `apply` for newly committed entries that are durable here. */
  maybeApply(): void {
    const upTo = Math.min(this.commit, this.durableIndex());
    if (upTo <= this.applyRequested) return;
    const last = this.log.logIdAt(upTo);
    if (last === null) return;
    this.emit({ type: "apply", first: this.applyRequested + 1, last });
    this.applyRequested = upTo;
  }
}
