/**
 * The Raft safety invariants a simulation checks, after every step and at
 * every storage write, metrics publication and answered request:
 * {@linkcode InvariantChecker}. It keeps what it has seen across the whole
 * run (leaders of every term, every committed entry, every applied entry,
 * every entry ever written anywhere) so that each check costs little.
 *
 * | invariant | how it is checked |
 * |---|---|
 * | election safety | leaders per term, from metrics and from stored votes (`votedFor` = self, committed) |
 * | leader append-only | a store truncated while its vote says it leads that term |
 * | log matching | every written entry `(index, term)` must have the same predecessor term and payload as every other copy |
 * | leader completeness | a leader's log holds every entry committed in an earlier term (checked once its store caught up) |
 * | state machine safety | no two state machines apply different entries at one index; applied entries are committed |
 * | committed entries immutable | no two nodes (nor one node over time) report different entries committed at an index; a newly committed entry extends the committed log |
 * | committed on a quorum | a committed entry is durable on a majority of each config of a membership that may have committed it |
 * | per-node monotonic | term, vote within a term, commit and applied never go back while a node runs |
 * | ordering | purged ≤ snapshot ≤ applied ≤ committed ≤ last log index; the last entry's term ≤ the node's term |
 * | acknowledged ⇒ durable | a granted vote and an append acknowledgement are durable when sent |
 * | storage contract | no store call is refused (a refused call is a misuse by the runtime) |
 *
 * @module
 */

import type { AppendRequest, RaftRequest, RaftResponse } from "../src/messages.ts";
import type { RaftMetrics } from "../src/runtime/metrics.ts";
import type { Entry, NodeId, Vote } from "../src/types.ts";
import type { SimLogStore, SimStoreObserver } from "./sim_store.ts";
import type { MemoryStateMachine } from "../kv/mod.ts";

/**
 * A broken invariant.
 *
 * @example
 * ```ts
 * import type { InvariantViolation } from "./sim_invariants.ts";
 * const v: InvariantViolation = { invariant: "election safety", message: "two leaders in term 3" };
 * ```
 */
export interface InvariantViolation {
  /** The invariant's name (see the module documentation). */
  readonly invariant: string;
  /** What was seen. */
  readonly message: string;
}

/**
 * What the checker reads of a node at the end of a step.
 *
 * @example
 * ```ts
 * import type { NodeView } from "./sim_invariants.ts";
 * import { SimLogStore } from "./sim_store.ts";
 * import { ManualClock } from "../src/clock.ts";
 * import { SeededRandom } from "../src/random.ts";
 * const clock = new ManualClock();
 * const store = new SimLogStore({ node: 1, clock, random: new SeededRandom(1), fsyncMaxMs: 2 });
 * // A crashed node: down, with only its store (no metrics, no state machine).
 * const view: NodeView = {
 *   id: 1,
 *   life: 0,
 *   up: false,
 *   store,
 *   metrics: null,
 *   sm: null,
 *   snapshotIndex: 0,
 * };
 * ```
 */
export interface NodeView {
  /** The node. */
  readonly id: NodeId;
  /** Its incarnation (0, then +1 per restart). */
  readonly life: number;
  /** Whether it runs (a crashed node is down; its store holds its durable state). */
  readonly up: boolean;
  /** Its store (for a down node: what it will restart from). */
  readonly store: SimLogStore;
  /** Its latest metrics, when up. */
  readonly metrics: RaftMetrics | null;
  /** Its state machine, when up. */
  readonly sm: MemoryStateMachine | null;
  /** Last index covered by its durable snapshot (0 if none): it holds those entries too. */
  readonly snapshotIndex: number;
}

/**
 * Which groups of checks run.
 *
 * @example
 * ```ts
 * import type { InvariantOptions } from "./sim_invariants.ts";
 * const onlyConsequences: InvariantOptions = { acks: false };
 * ```
 */
export interface InvariantOptions {
  /**
   * Check what a node stores against what it says (default `true`):
   * "acknowledged ⇒ durable" when answers are sent, and the stored entries'
   * terms against the stored vote. Turn off to see whether a durability bug
   * is also caught by its consequences (lost entries, two leaders in a term).
   */
  readonly acks?: boolean;
}

/**
 * What {@linkcode InvariantChecker.received} noted when an append request
 * arrived: the entry it would acknowledge, whether it was durable already,
 * and the store's sync count.
 *
 * @example
 * ```ts
 * import type { ReceiptNote } from "./sim_invariants.ts";
 * const note: ReceiptNote = { index: 7, term: 2, durable: false, syncs: 41 };
 * ```
 */
export interface ReceiptNote {
  /** The last index the request covers. */
  readonly index: number;
  /** Its term. */
  readonly term: number;
  /** Whether the store held it durably on arrival. */
  readonly durable: boolean;
  /** The store's sync count on arrival. */
  readonly syncs: number;
}

interface _EntryInfo {
  readonly prev: number | undefined;
  readonly fingerprint: string;
}

interface _MembershipRecord {
  readonly index: number;
  readonly term: number;
  readonly configs: readonly (readonly NodeId[])[];
}

interface _LifeState {
  life: number;
  metrics: RaftMetrics;
  applyConsumed: number;
}

const UNKNOWN = -1;

function _fingerprint(e: Entry): string {
  switch (e.type) {
    case "blank":
      return "b";
    case "membership": {
      const m = e.membership;
      const nodes = [...m.nodes.keys()].sort((a, b) => a - b).join(",");
      return `m${JSON.stringify(m.configs)}/${nodes}`;
    }
    case "normal": {
      // FNV-1a over the payload, plus its length.
      let h = 0x811c9dc5;
      for (let i = 0; i < e.data.length; i++) {
        h ^= e.data[i]!;
        h = Math.imul(h, 0x01000193);
      }
      return `n${e.data.length}:${(h >>> 0).toString(16)}`;
    }
  }
}

function _idx(id: { index: number } | null | undefined): number {
  return id?.index ?? 0;
}

function _fmtVote(v: Vote | null): string {
  return v === null ? "none" : `${v.term}/${v.votedFor ?? "-"}${v.committed ? "/c" : ""}`;
}

/**
 * Checks the invariants of one simulated cluster; see the module
 * documentation. The simulator feeds it events and calls
 * {@linkcode InvariantChecker.checkStep} after each step; the first
 * violation is kept in {@linkcode InvariantChecker.violation}.
 *
 * @example
 * ```ts
 * import { InvariantChecker } from "./sim_invariants.ts";
 * const checker = new InvariantChecker();
 * checker.appended(1, [{ term: 1, index: 1, type: "blank" }], 0);
 * checker.appended(2, [{ term: 1, index: 1, type: "normal", data: new Uint8Array(1) }], 0);
 * console.assert(checker.violation?.invariant === "log matching");
 * ```
 */
export class InvariantChecker implements SimStoreObserver {
  #violation: InvariantViolation | null = null;
  readonly #acks: boolean;
  /** term → leader. */
  readonly #leaders = new Map<number, NodeId>();
  /**
   * Committed entries: `#record[i]` is the term of index i, traced back from a committed
   * entry along the predecessors seen written (`UNKNOWN` if no link and no store has it).
   */
  readonly #record: number[] = [0];
  /** `#commitTerm[i]`: a term by which index i was committed (the lowest seen). */
  readonly #commitTerm: number[] = [0];
  /** Commits reported by nodes (index → term) not yet covered by `#record`. */
  readonly #claims = new Map<number, number>();
  /** Applied entries: index → term. */
  readonly #applied: number[] = [0];
  /** Every entry ever written: `${index}/${term}` → predecessor term and payload. */
  readonly #entries = new Map<string, _EntryInfo>();
  /** Every membership entry ever written, by index. */
  readonly #memberships: _MembershipRecord[] = [];
  readonly #membershipKeys = new Set<string>();
  readonly #lives = new Map<NodeId, _LifeState>();
  /** Leaders whose completeness is still to be checked. */
  #newLeaders: { node: NodeId; term: number }[] = [];
  #recheckQuorum = false;

  /**
   * Creates an {@linkcode InvariantChecker}.
   *
   * @param options which checks run
   */
  constructor(options?: InvariantOptions);
  constructor(options: InvariantOptions = {}) {
    this.#acks = options.acks ?? true;
  }

  /** The first violation seen, or `null`. */
  get violation(): InvariantViolation | null {
    return this.#violation;
  }

  /** Records a violation (the first one is kept). */
  fail(invariant: string, message: string): void {
    if (this.#violation === null) this.#violation = { invariant, message };
  }

  /** How many entries are known committed. */
  get committedLength(): number {
    return this.#record.length - 1;
  }

  // ---- storage ----------------------------------------------------------------

  /**
   * Entries were written: log matching, terms along the log, memberships.
   * (A node may still write an entry of an old term at a committed index:
   * a lagging node that has not heard of the later terms. What must not
   * change is what a node reports committed, and what is applied.)
   */
  appended(node: NodeId, entries: readonly Entry[], prevTerm: number | undefined): void {
    let prev = prevTerm;
    for (const e of entries) {
      if (prev !== undefined && e.term < prev) {
        this.fail(
          "log terms non-decreasing",
          `node ${node} wrote ${e.term}-${e.index} after an entry of term ${prev}`,
        );
      }
      const key = `${e.index}/${e.term}`;
      const fp = _fingerprint(e);
      const seen = this.#entries.get(key);
      if (seen === undefined) {
        this.#entries.set(key, { prev, fingerprint: fp });
        if (e.type === "membership") this.#addMembership(e.index, e.term, e.membership.configs);
      } else {
        if (seen.prev === undefined && prev !== undefined) {
          this.#entries.set(key, { prev, fingerprint: seen.fingerprint });
        }
        if (seen.fingerprint !== fp) {
          this.fail(
            "log matching",
            `node ${node} wrote entry ${e.term}-${e.index} with a payload that differs from ` +
              `another copy (${fp} vs ${seen.fingerprint})`,
          );
        } else if (seen.prev !== undefined && prev !== undefined && seen.prev !== prev) {
          this.fail(
            "log matching",
            `node ${node} holds ${e.term}-${e.index} after an entry of term ${prev}; another ` +
              `log holds it after term ${seen.prev}`,
          );
        }
      }
      prev = e.term;
    }
  }

  /**
   * Entries were removed: leader append-only. (Removing committed entries is
   * allowed: a log replaced by a snapshot that covers them.)
   */
  truncated(node: NodeId, since: number, removed: readonly number[], vote: Vote | null): void {
    if (removed.length === 0) return;
    if (vote !== null && vote.committed && vote.votedFor === node) {
      this.fail(
        "leader append-only",
        `node ${node}, leader of term ${vote.term}, truncated its log from index ${since}`,
      );
    }
  }

  /** A vote was written: `votedFor` = self and committed means leading the term. */
  saved(node: NodeId, vote: Vote): void {
    if (vote.committed && vote.votedFor === node) this.#leader(node, vote.term, "stored vote");
  }

  /** A store refused a call. */
  rejected(node: NodeId, operation: string, error: unknown): void {
    this.fail("storage contract", `node ${node}: ${operation} refused: ${String(error)}`);
  }

  // ---- lives and metrics ----------------------------------------------------------

  /** A node (re)started with these metrics. */
  started(node: NodeId, life: number, m: RaftMetrics): void {
    this.#lives.set(node, { life, metrics: m, applyConsumed: 0 });
    this.#observeCommit(node, m);
  }

  /** A node crashed: durability may have shrunk; recheck committed entries. */
  crashed(node: NodeId): void {
    this.#lives.delete(node);
    this.#recheckQuorum = true;
  }

  /** A running node published metrics. */
  metrics(node: NodeId, life: number, m: RaftMetrics): void {
    if (m.state === "shutdown") return;
    const st = this.#lives.get(node);
    if (st === undefined || st.life !== life) return;
    const p = st.metrics;
    const where = `node ${node}`;
    if (m.currentTerm < p.currentTerm) {
      this.fail("monotonic term", `${where}: term went from ${p.currentTerm} to ${m.currentTerm}`);
    } else if (m.currentTerm === p.currentTerm) {
      const a = p.vote, b = m.vote;
      if (a.votedFor !== null && b.votedFor !== a.votedFor) {
        this.fail(
          "vote within a term",
          `${where}: vote in term ${m.currentTerm} went from ${_fmtVote(a)} to ${_fmtVote(b)}`,
        );
      } else if (a.committed && !b.committed) {
        this.fail("vote within a term", `${where}: vote ${_fmtVote(a)} became ${_fmtVote(b)}`);
      }
    }
    if (_idx(m.committed) < _idx(p.committed)) {
      this.fail(
        "monotonic commit",
        `${where}: commit went from ${_idx(p.committed)} to ${_idx(m.committed)}`,
      );
    }
    if (_idx(m.lastApplied) < _idx(p.lastApplied)) {
      this.fail(
        "monotonic applied",
        `${where}: applied went from ${_idx(p.lastApplied)} to ${_idx(m.lastApplied)}`,
      );
    }
    st.metrics = m;
    // A config counts from when it is appended to a node's log, which its store may
    // not hold yet: learn it from the metrics too.
    const ms = m.membership;
    if (ms.logId !== null) {
      this.#addMembership(ms.logId.index, ms.logId.term, ms.membership.configs);
    }
    this.#checkOrdering(node, m);
    if (m.state === "leader") this.#leader(node, m.currentTerm, "metrics");
    if (m.storageError !== null) {
      this.fail("storage contract", `${where} stopped: ${String(m.storageError)}`);
    }
    this.#observeCommit(node, m);
  }

  #checkOrdering(node: NodeId, m: RaftMetrics): void {
    const chain: [string, number][] = [["purged", _idx(m.purged)]];
    if (m.snapshot !== null) chain.push(["snapshot", m.snapshot.index]);
    chain.push(
      ["applied", _idx(m.lastApplied)],
      ["committed", _idx(m.committed)],
      ["last log index", m.lastLogIndex],
    );
    for (let k = 1; k < chain.length; k++) {
      const [an, a] = chain[k - 1]!, [bn, b] = chain[k]!;
      if (a > b) {
        this.fail("index ordering", `node ${node}: ${an} ${a} > ${bn} ${b}`);
        return;
      }
    }
    if (m.lastLogId !== null && m.lastLogId.term > m.currentTerm) {
      this.fail(
        "entry term ≤ node term",
        `node ${node}: last entry ${m.lastLogId.term}-${m.lastLogId.index} is of a term above ` +
          `its term ${m.currentTerm}`,
      );
    }
  }

  #leader(node: NodeId, term: number, source: string): void {
    const other = this.#leaders.get(term);
    if (other === undefined) {
      this.#leaders.set(term, node);
      this.#newLeaders.push({ node, term });
    } else if (other !== node) {
      this.fail(
        "election safety",
        `nodes ${other} and ${node} both led term ${term} (seen in ${source})`,
      );
    }
  }

  #observeCommit(node: NodeId, m: RaftMetrics): void {
    const c = m.committed;
    if (c === null || c.index === 0) return;
    // Commit terms: index i was committed by term ≤ the observer's term.
    const ct = this.#commitTerm;
    for (let i = c.index; i >= 1; i--) {
      const t = ct[i];
      if (t !== undefined && t <= m.currentTerm) break;
      ct[i] = m.currentTerm;
    }
    if (c.index < this.#record.length) {
      const t = this.#record[c.index]!;
      if (t !== UNKNOWN && t !== c.term) {
        this.fail(
          "committed entries immutable",
          `node ${node} reports ${c.term}-${c.index} committed; ${t}-${c.index} was committed`,
        );
      }
      return;
    }
    const claimed = this.#claims.get(c.index);
    if (claimed === undefined) this.#claims.set(c.index, c.term);
    else if (claimed !== c.term) {
      this.fail(
        "committed entries immutable",
        `node ${node} reports ${c.term}-${c.index} committed; another node reports ` +
          `${claimed}-${c.index}`,
      );
    }
  }

  // ---- network --------------------------------------------------------------------

  /**
   * Node `node` was handed `req`: returns what {@linkcode InvariantChecker.answered}
   * needs to know about the moment it arrived.
   */
  received(store: SimLogStore, req: RaftRequest): ReceiptNote | null {
    if (!this.#acks || req.type !== "append") return null;
    const index = (req.prevLogId?.index ?? 0) + req.entries.length;
    const term = _termInRequest(req, index);
    if (index === 0 || term === undefined) return null;
    return { index, term, durable: store.termAt(index, "durable") === term, syncs: store.syncs };
  }

  /**
   * Node `node` answered `req` with `res`: what it acknowledges must have been
   * durable at some moment since the request arrived (`note`, from
   * {@linkcode InvariantChecker.received}). An acknowledgement held back until
   * storage caught up may leave after later writes changed the log: it speaks
   * of the log when it was made, like a reply delayed by the network.
   */
  answered(
    node: NodeId,
    store: SimLogStore,
    req: RaftRequest,
    res: RaftResponse,
    note: ReceiptNote | null,
  ): void {
    if (!this.#acks) return;
    if (res.type === "vote-response" && res.granted && req.type === "vote") {
      const v = store.vote("durable");
      if (
        v === null || v.term < res.term || (v.term === res.term && v.votedFor !== req.candidateId)
      ) {
        this.fail(
          "acknowledged ⇒ durable",
          `node ${node} granted its vote in term ${res.term} to ${req.candidateId}; ` +
            `its durable vote is ${_fmtVote(v)}`,
        );
      }
      return;
    }
    if (res.type === "append-response" && res.success && req.type === "append" && note !== null) {
      if (res.index !== note.index || note.durable) return;
      const { index, term } = note;
      if (index <= store.purgedIndex("durable") || store.termAt(index, "durable") === term) return;
      const madeDurable = store.madeDurableAt(index, term);
      if (madeDurable !== undefined && madeDurable > note.syncs) return;
      this.fail(
        "acknowledged ⇒ durable",
        `node ${node} acknowledged ${term}-${index} to leader ${req.leaderId} (term ` +
          `${req.term}); it was not durable at any time since the request arrived`,
      );
    }
  }

  // ---- step -----------------------------------------------------------------------

  /** Checks what needs the whole cluster; call after every step. */
  checkStep(views: readonly NodeView[]): void {
    if (this.#violation !== null) return;
    this.#extendRecord(views);
    if (this.#violation !== null) return;
    for (const v of views) if (v.up) this.#consumeApplied(v);
    if (this.#violation !== null) return;
    for (const v of views) {
      if (!v.up || !this.#acks) continue;
      const s = v.store, vote = s.vote();
      const last = s.lastIndex();
      const lastTerm = last === 0 ? 0 : s.termAt(last) ?? 0;
      if (lastTerm > (vote?.term ?? 0)) {
        this.fail(
          "entry term ≤ node term",
          `node ${v.id} stores an entry of term ${lastTerm} at ${last} with vote ${_fmtVote(vote)}`,
        );
      }
    }
    this.#checkNewLeaders(views);
    if (this.#recheckQuorum) {
      this.#recheckQuorum = false;
      for (let i = 1; i < this.#record.length && this.#violation === null; i++) {
        this.#checkQuorum(i, views);
      }
    }
  }

  #extendRecord(views: readonly NodeView[]): void {
    let target = 0;
    for (const i of this.#claims.keys()) if (i > target) target = i;
    if (target < this.#record.length) {
      this.#claims.clear();
      return;
    }
    const targetTerm = this.#claims.get(target)!;
    if (!this.#entries.has(`${target}/${targetTerm}`)) return; // not written yet: try later
    // The committed log is the chain of entries that ends at the target (log matching):
    // walk it back along the predecessor terms seen written, which no purge can take
    // away (a store may purge its log behind a snapshot before its commit is seen).
    const from = this.#record.length;
    const terms: number[] = [];
    let t = targetTerm;
    for (let i = target; i >= from; i--) {
      terms.push(t);
      t = t === UNKNOWN ? UNKNOWN : this.#prevTerm(i, t, views);
    }
    terms.reverse();
    const before = this.#record[from - 1]!;
    if (t !== UNKNOWN && before !== UNKNOWN && t !== before) {
      this.fail(
        "committed entries immutable",
        `${targetTerm}-${target} was reported committed after ${t}-${from - 1}, but ` +
          `${before}-${from - 1} was committed`,
      );
    }
    for (let i = from; i <= target; i++) {
      const t = terms[i - from]!;
      this.#record.push(t);
      const claim = this.#claims.get(i);
      if (claim !== undefined && t !== UNKNOWN && claim !== t) {
        this.fail(
          "committed entries immutable",
          `${claim}-${i} was reported committed, but the committed log holds ${t}-${i}`,
        );
      }
      const applied = this.#applied[i];
      if (applied !== undefined && t !== UNKNOWN && applied !== t) {
        this.fail(
          "state machine safety",
          `entry ${applied}-${i} was applied, but ${t}-${i} is the committed entry`,
        );
      }
      if (t !== UNKNOWN) this.#checkQuorum(i, views);
    }
    for (const i of [...this.#claims.keys()]) if (i <= target) this.#claims.delete(i);
  }

  /**
   * The term of the entry before `term`-`index`: as seen when it was written, else
   * from a store that holds it (written or durable), else `UNKNOWN`.
   */
  #prevTerm(index: number, term: number, views: readonly NodeView[]): number {
    if (index === 1) return 0;
    const prev = this.#entries.get(`${index}/${term}`)?.prev;
    if (prev !== undefined) return prev;
    for (const v of views) {
      for (const layer of ["written", "durable"] as const) {
        if (v.store.termAt(index, layer) !== term) continue;
        const x = v.store.termAt(index - 1, layer);
        if (x !== undefined) return x;
      }
    }
    return UNKNOWN;
  }

  #checkQuorum(i: number, views: readonly NodeView[]): void {
    const t = this.#record[i]!;
    if (t === UNKNOWN) return;
    const holders = new Set<NodeId>();
    for (const v of views) {
      const s = v.store;
      const covered = Math.max(s.purgedIndex("durable"), v.snapshotIndex);
      if (i <= covered || s.termAt(i, "durable") === t) holders.add(v.id);
    }
    // The membership that committed i: the latest committed one at or before i, or any
    // written after i (a leader counts with its latest config, committed or not).
    let gov: _MembershipRecord | undefined;
    for (const m of this.#memberships) {
      if (m.index > i) break;
      if (this.#record[m.index] === m.term) gov = m;
    }
    const candidates = this.#memberships.filter((m) => m.index > i);
    if (gov !== undefined) candidates.unshift(gov);
    if (candidates.length === 0) return;
    const ok = candidates.some((m) =>
      m.configs.every((c) => c.filter((id) => holders.has(id)).length * 2 > c.length)
    );
    if (!ok) {
      const cfg = gov === undefined ? "?" : JSON.stringify(gov.configs);
      this.fail(
        "committed on a quorum",
        `committed entry ${t}-${i} is durable only on [${[...holders].join(", ")}] ` +
          `(membership ${cfg})`,
      );
    }
  }

  #consumeApplied(v: NodeView): void {
    const st = this.#lives.get(v.id);
    if (st === undefined || v.sm === null) return;
    const log = v.sm.applyLog;
    for (let k = st.applyConsumed; k < log.length; k++) {
      const { index: i, term: t } = log[k]!;
      const seen = this.#applied[i];
      if (seen !== undefined && seen !== t) {
        this.fail(
          "state machine safety",
          `node ${v.id} applied ${t}-${i}; another node applied ${seen}-${i}`,
        );
        return;
      }
      this.#applied[i] = t;
      const c = this.#record[i];
      if (c !== undefined && c !== UNKNOWN && c !== t) {
        this.fail(
          "state machine safety",
          `node ${v.id} applied ${t}-${i}, but ${c}-${i} is the committed entry`,
        );
        return;
      }
    }
    st.applyConsumed = log.length;
  }

  #checkNewLeaders(views: readonly NodeView[]): void {
    if (this.#newLeaders.length === 0) return;
    const keep: { node: NodeId; term: number }[] = [];
    for (const l of this.#newLeaders) {
      const v = views.find((x) => x.id === l.node);
      const m = v?.metrics;
      if (v === undefined || !v.up || m == null) continue;
      if (m.state !== "leader" || m.currentTerm !== l.term) continue; // gone: cannot check
      const s = v.store;
      const last = s.lastIndex();
      if (last !== m.lastLogIndex || (s.termAt(last) ?? -2) !== (m.lastLogId?.term ?? 0)) {
        keep.push(l); // its store has not caught up with its log yet
        continue;
      }
      const purged = s.purgedIndex();
      for (let i = purged + 1; i < this.#record.length; i++) {
        const ct = this.#commitTerm[i];
        if (ct === undefined || ct >= l.term) continue;
        const t = this.#record[i]!;
        if (t === UNKNOWN) continue;
        const have = s.termAt(i);
        if (have !== t) {
          this.fail(
            "leader completeness",
            `node ${l.node}, leader of term ${l.term}, lacks ${t}-${i}, committed by term ${ct}` +
              ` (it has ${have === undefined ? "nothing" : `term ${have}`} there)`,
          );
          return;
        }
      }
    }
    this.#newLeaders = keep;
  }

  #addMembership(index: number, term: number, configs: readonly (readonly NodeId[])[]): void {
    const key = `${index}/${term}`;
    if (this.#membershipKeys.has(key)) return;
    this.#membershipKeys.add(key);
    const list = this.#memberships;
    let k = list.length;
    while (k > 0 && list[k - 1]!.index > index) k--;
    list.splice(k, 0, { index, term, configs });
  }
}

function _termInRequest(req: AppendRequest, index: number): number | undefined {
  const prev = req.prevLogId;
  if (prev !== null && prev.index === index) return prev.term;
  const first = req.entries[0];
  if (first === undefined) return undefined;
  return req.entries[index - first.index]?.term;
}
