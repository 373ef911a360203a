// A synchronous, deterministic harness for engine tests: several RaftEngines
// with in-memory logs, a FIFO message queue with faults (isolate, one-way cuts,
// drops), manual time, and storage that can hold writes back (crash tests).
import { RaftEngine } from "../../src/engine/engine.ts";
import type { Command, EngineConfig, FatalReason, ReadFailure } from "../../src/engine/commands.ts";
import type { AppendRequest, RaftMessage, RaftResponse } from "../../src/messages.ts";
import type {
  Entry,
  LogId,
  Membership,
  NodeId,
  SnapshotMeta,
  StoredMembership,
  Vote,
} from "../../src/types.ts";
import { INITIAL_VOTE, membershipOf } from "../../src/types.ts";
import { SeededRandom } from "../../src/random.ts";

export const TEST_CONFIG: EngineConfig = {
  electionTimeoutMin: 150,
  electionTimeoutMax: 300,
  heartbeatInterval: 50,
  maxPayloadEntries: 300,
  maxInflight: 64,
  preVote: true,
  checkQuorum: true,
  leaseMargin: 50,
  enableElect: true,
  enableHeartbeat: true,
};

/** An in-flight message. `token` correlates a request with its reply. */
export interface Envelope {
  from: NodeId;
  to: NodeId;
  message: RaftMessage;
  token: number;
  /** install-snapshot only: the snapshot's content (the entries it covers). */
  data?: Entry[];
}

/** One node: its engine plus a fake store that records durable state. */
export class TestNode {
  engine: RaftEngine;
  /** Entries written (index i at position i - 1 - purgedIndex). */
  log: Entry[] = [];
  vote: Vote = INITIAL_VOTE;
  /** Storage commands not yet flushed (when autoFlush is off). */
  pendingIo: Command[] = [];
  /** What is durable: survives crash(). */
  durableLog: Entry[] = [];
  durableVote: Vote = INITIAL_VOTE;
  applied: Entry[] = [];
  readsReady = new Map<number, number>();
  readsFailed = new Map<number, ReadFailure>();
  membershipsDone: LogId[] = [];
  /** The `fatal` command's reason, once the engine asked to stop the node. */
  fatal: FatalReason | null = null;
  /** `peer-log-reverted` commands, in order. */
  reversions: { peer: NodeId; matched: number; index: number; reset: boolean }[] = [];
  /** The node's current snapshot: its meta and the entries it covers (their state). */
  snapshot: { meta: SnapshotMeta; entries: Entry[] } | null = null;
  /** Snapshot contents received, by request token, until installed. */
  receivedSnapshots = new Map<number, Entry[]>();
  /** Snapshots installed into this node's state machine. */
  installs = 0;
  commands: Command[] = [];
  autoFlush = true;
  seed: number;

  constructor(
    readonly id: NodeId,
    readonly config: EngineConfig,
    now: number,
    seed: number,
    initial?: { log?: Entry[]; vote?: Vote; memberships?: StoredMembership[] },
  ) {
    this.seed = seed;
    this.log = [...(initial?.log ?? [])];
    this.durableLog = [...this.log];
    this.vote = initial?.vote ?? INITIAL_VOTE;
    this.durableVote = this.vote;
    this.engine = this.#makeEngine(now, initial?.memberships);
  }

  #makeEngine(now: number, memberships?: StoredMembership[]): RaftEngine {
    const ms: StoredMembership[] = memberships ? [...memberships] : [];
    for (const e of this.log) {
      if (e.type === "membership") {
        ms.push({ logId: { term: e.term, index: e.index }, membership: e.membership });
      }
    }
    return new RaftEngine({
      id: this.id,
      config: this.config,
      random: new SeededRandom(this.seed++),
      now,
      vote: this.vote,
      logIds: this.log.map((e) => ({ term: e.term, index: e.index })),
      memberships: ms,
      applied: null,
    });
  }

  /** Loses everything not durable and restarts the engine from the durable state. */
  crashAndRestart(now: number, memberships?: StoredMembership[]): void {
    this.pendingIo = [];
    this.log = [...this.durableLog];
    this.vote = this.durableVote;
    this.applied = [];
    this.engine = this.#makeEngine(now, memberships);
  }

  /** Writes one storage command (not yet durable). */
  write(c: Command): void {
    if (c.type === "save-vote") this.vote = c.vote;
    else if (c.type === "append-log") this.log.push(...c.entries);
    else if (c.type === "truncate-log") this.log.length = c.since - 1;
  }

  /** Makes every written storage command durable and tells the engine. */
  flush(): void {
    if (this.pendingIo.length === 0) return;
    const last = this.pendingIo[this.pendingIo.length - 1]!;
    this.pendingIo = [];
    this.durableLog = [...this.log];
    this.durableVote = this.vote;
    this.engine.flushed((last as { io: number }).io);
  }

  entry(index: number): Entry | undefined {
    return this.log[index - 1];
  }

  /** Log as (index, term) pairs' terms, from index 1. */
  terms(): number[] {
    return this.log.map((e) => e.term);
  }
}

export class TestCluster {
  nodes = new Map<NodeId, TestNode>();
  now = 0;
  queue: Envelope[] = [];
  nextToken = 1;
  replyTo = new Map<number, NodeId>();
  isolated = new Set<NodeId>();
  /** Directional cuts: "a>b" drops a's messages to b. */
  cuts = new Set<string>();
  /** Drop every message for which this returns true. */
  dropIf: ((e: Envelope) => boolean) | null = null;
  delivered: Envelope[] = [];
  /** Every leader seen, per term: for election-safety checks. */
  leadersByTerm = new Map<number, Set<NodeId>>();

  constructor(
    ids: NodeId[],
    readonly config: EngineConfig = TEST_CONFIG,
    opts: {
      seed?: number;
      logs?: Map<NodeId, number[]>;
      votes?: Map<NodeId, Vote>;
      membership?: Membership;
      ids?: NodeId[];
    } = {},
  ) {
    const membership = opts.membership ?? membershipOf(ids);
    const stored: StoredMembership[] = [{ logId: null, membership }];
    let seed = opts.seed ?? 1;
    for (const id of ids) {
      const terms = opts.logs?.get(id) ?? [];
      const log: Entry[] = terms.map((term, i) => ({ term, index: i + 1, type: "blank" }));
      const init: { log: Entry[]; memberships: StoredMembership[]; vote?: Vote } = {
        log,
        memberships: stored,
      };
      const vote = opts.votes?.get(id);
      if (vote !== undefined) init.vote = vote;
      this.nodes.set(id, new TestNode(id, config, this.now, seed++ * 1000, init));
    }
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  /** Adds a node with an empty log and no membership (a fresh learner). */
  addNode(id: NodeId, memberships?: StoredMembership[]): TestNode {
    const n = new TestNode(
      id,
      this.config,
      this.now,
      id * 7919,
      memberships ? { memberships } : {},
    );
    this.nodes.set(id, n);
    return n;
  }

  /** Executes every pending command of every node (repeatedly, until none). */
  process(): void {
    let again = true;
    while (again) {
      again = false;
      for (const n of this.nodes.values()) {
        const cmds = n.engine.takeCommands();
        if (cmds.length > 0) again = true;
        for (const c of cmds) this.#execute(n, c);
        if (n.autoFlush && n.pendingIo.length > 0) {
          n.flush();
          again = true;
        }
        const s = n.engine.status();
        if (s.role === "leader") {
          let set = this.leadersByTerm.get(s.term);
          if (!set) this.leadersByTerm.set(s.term, set = new Set());
          set.add(n.id);
        }
      }
    }
  }

  #execute(n: TestNode, c: Command): void {
    n.commands.push(c);
    switch (c.type) {
      case "save-vote":
      case "append-log":
      case "truncate-log":
        n.write(c);
        n.pendingIo.push(c);
        break;
      case "send": {
        const token = this.nextToken++;
        this.replyTo.set(token, n.id);
        this.queue.push({ from: n.id, to: c.to, message: c.message, token });
        break;
      }
      case "replicate": {
        const token = this.nextToken++;
        this.replyTo.set(token, n.id);
        const p = c.plan;
        const entries: Entry[] = [];
        for (let i = p.first; i <= p.last; i++) entries.push(n.entry(i)!);
        const message: AppendRequest = {
          type: "append",
          term: p.term,
          leaderId: p.leaderId,
          prevLogId: p.prevLogId,
          entries,
          leaderCommit: p.leaderCommit,
          clusterId: p.clusterId,
          round: p.round,
        };
        this.queue.push({ from: n.id, to: c.to, message, token });
        break;
      }
      case "reply": {
        const to = this.replyTo.get(c.token);
        if (to === undefined) throw new Error(`reply to unknown token ${c.token}`);
        this.replyTo.delete(c.token);
        this.queue.push({ from: n.id, to, message: c.message, token: 0 });
        break;
      }
      case "apply": {
        for (let i = c.first; i <= c.last.index; i++) n.applied.push(n.entry(i)!);
        n.engine.applied(c.last);
        break;
      }
      case "read-ready":
        n.readsReady.set(c.token, c.index);
        break;
      case "read-failed":
        n.readsFailed.set(c.token, c.reason);
        break;
      case "membership-done":
        n.membershipsDone.push(c.logId);
        break;
      case "fatal":
        n.fatal = c.reason;
        break;
      case "peer-log-reverted":
        n.reversions.push({ peer: c.peer, matched: c.matched, index: c.index, reset: c.reset });
        break;
      case "purge-log": {
        // The harness keeps purged entries readable (tests compare whole logs), but a
        // log that a snapshot replaced gets the snapshot's entries as its prefix.
        const snap = n.snapshot;
        const have = n.entry(c.upTo.index);
        if ((have === undefined || have.term !== c.upTo.term) && snap !== null) {
          n.log = [...snap.entries, ...n.log.slice(c.upTo.index)];
        }
        n.pendingIo.push(c);
        break;
      }
      case "send-snapshot": {
        const snap = n.snapshot;
        if (snap === null) throw new Error(`node ${n.id} has no snapshot to send`);
        const token = this.nextToken++;
        this.replyTo.set(token, n.id);
        this.queue.push({
          from: n.id,
          to: c.to,
          message: {
            clusterId: "",
            type: "install-snapshot",
            term: c.term,
            leaderId: c.leaderId,
            meta: snap.meta,
          },
          token,
          data: snap.entries,
        });
        break;
      }
      case "install-snapshot": {
        const data = n.receivedSnapshots.get(c.token);
        if (data === undefined) throw new Error(`no snapshot data for token ${c.token}`);
        n.receivedSnapshots.delete(c.token);
        n.snapshot = { meta: c.meta, entries: data };
        n.applied = [...data];
        n.installs++;
        n.engine.snapshotInstalled(c.token);
        break;
      }
    }
  }

  /** Builds a snapshot of what `id` applied and purges its log up to `upTo` (default: all of it). */
  snapshot(id: NodeId, upTo?: number): SnapshotMeta {
    const n = this.node(id);
    const s = n.engine.status();
    const last = s.applied!;
    const meta: SnapshotMeta = {
      lastLogId: last,
      lastMembership: s.committedMembership,
      snapshotId: `${id}-${last.term}-${last.index}`,
    };
    n.snapshot = { meta, entries: n.log.slice(0, last.index) };
    n.engine.snapshotBuilt(meta);
    n.engine.purgeLog(upTo ?? last.index);
    this.run();
    return meta;
  }

  #dropped(e: Envelope): boolean {
    if (this.isolated.has(e.from) || this.isolated.has(e.to)) return true;
    if (this.cuts.has(`${e.from}>${e.to}`)) return true;
    if (!this.nodes.has(e.to)) return true;
    return this.dropIf !== null && this.dropIf(e);
  }

  /** Delivers the first queued message. Returns false when the queue is empty. */
  deliverOne(): boolean {
    const e = this.queue.shift();
    if (e === undefined) return false;
    if (this.#dropped(e)) return true;
    this.delivered.push(e);
    if (e.data !== undefined) this.node(e.to).receivedSnapshots.set(e.token, e.data);
    this.node(e.to).engine.receive(e.from, e.message, e.token);
    this.process();
    return true;
  }

  /** Processes commands and delivers messages until nothing is left (bounded). */
  run(maxMessages = 100_000): void {
    this.process();
    let n = 0;
    while (this.deliverOne()) {
      if (++n > maxMessages) throw new Error("cluster did not go quiet");
    }
  }

  /** Advances time by `ms` in steps of `step`, ticking every node and running to quiet. */
  advance(ms: number, step = 10): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + step);
      for (const n of this.nodes.values()) n.engine.tick(this.now);
      this.run();
    }
  }

  isolate(id: NodeId): void {
    this.isolated.add(id);
  }

  cut(a: NodeId, b: NodeId): void {
    this.cuts.add(`${a}>${b}`);
    this.cuts.add(`${b}>${a}`);
  }

  heal(): void {
    this.isolated.clear();
    this.cuts.clear();
    this.dropIf = null;
  }

  /** Campaigns on `id` and runs until quiet. */
  elect(id: NodeId): void {
    this.node(id).engine.triggerElect();
    this.run();
  }

  /** The leaders right now (nodes whose role is leader). */
  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.engine.status().role === "leader").map((n) =>
      n.id
    );
  }

  /** Proposes payloads on `id`; returns the engine's answer. */
  propose(id: NodeId, ...payloads: number[]): ReturnType<RaftEngine["propose"]> {
    const r = this.node(id).engine.propose(payloads.map((p) => new Uint8Array([p])));
    this.run();
    return r;
  }

  /** No two leaders ever shared a term. */
  assertElectionSafety(): void {
    for (const [term, set] of this.leadersByTerm) {
      if (set.size > 1) throw new Error(`two leaders in term ${term}: ${[...set]}`);
    }
  }
}

/** Terms of each entry of a node's log, index 1 first. */
export function termsOf(n: TestNode): number[] {
  return n.terms();
}

/** Delivers `message` from `from` to `to` ahead of everything queued; returns its token. */
export function inject(c: TestCluster, from: NodeId, to: NodeId, message: RaftMessage): number {
  const token = c.nextToken++;
  c.replyTo.set(token, from);
  c.queue.unshift({ from, to, message, token });
  c.deliverOne();
  return token;
}

/** The reply `n` gave to the request with `token`, if any yet. */
export function replyOf(n: TestNode, token: number): RaftResponse | undefined {
  for (const cmd of n.commands) if (cmd.type === "reply" && cmd.token === token) return cmd.message;
  return undefined;
}

/** Holds back (instead of delivering) every message matching `pred`; returns the held list. */
export function hold(c: TestCluster, pred: (e: Envelope) => boolean): Envelope[] {
  const held: Envelope[] = [];
  c.dropIf = (e) => {
    if (!pred(e)) return false;
    held.push(e);
    return true;
  };
  return held;
}

/** Stops holding and delivers what was held, in order. */
export function release(c: TestCluster, held: Envelope[]): void {
  c.dropIf = null;
  c.queue.push(...held.splice(0));
  c.run();
}
