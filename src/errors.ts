/**
 * Typed errors. Every error the library throws or rejects with extends
 * {@linkcode RaftError}: it has a stable `code` (equal to its class name),
 * structured readonly fields, and a `toJSON()` that serializes them, so an
 * HTTP layer can send them to clients as they are.
 *
 * Underlying errors travel as the standard `cause` (ErrorOptions).
 *
 * @module
 */

import type { LogDivergence, LogId, NodeId, RaftNode } from "./types.ts";

/**
 * The JSON form of a {@linkcode RaftError}: its `code`, its `message` and its
 * structured fields (and `cause`, described as a string, when there is one).
 *
 * @example
 * ```ts
 * import { Timeout, type RaftErrorJSON } from "./errors.ts";
 * const json: RaftErrorJSON = new Timeout("clientWrite", 500).toJSON();
 * console.assert(json.code === "Timeout" && json.timeoutMs === 500);
 * ```
 */
export interface RaftErrorJSON {
  /** The error's code, e.g. `"ForwardToLeader"`. */
  readonly code: string;
  /** The human-readable message. */
  readonly message: string;
  /** The structured fields of the particular error. */
  readonly [field: string]: unknown;
}

/**
 * Base class of every error of the library. Not thrown itself.
 *
 * @example
 * ```ts
 * import { RaftError, ShuttingDown } from "./errors.ts";
 * try {
 *   throw new ShuttingDown();
 * } catch (e) {
 *   if (e instanceof RaftError) console.assert(e.code === "ShuttingDown");
 * }
 * ```
 */
export abstract class RaftError extends Error {
  /** Stable machine-readable code: the class name, e.g. `"ForwardToLeader"`. */
  readonly code: string;

  /**
   * Creates a {@linkcode RaftError}.
   *
   * @param code the class name, also used as `name`
   * @param message human-readable description
   * @param options standard error options (`cause`)
   */
  protected constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = code;
  }

  /**
   * The structured fields of this error, for {@linkcode RaftError.toJSON}.
   * Subclasses with fields override it.
   */
  protected fields(): Record<string, unknown> {
    return {};
  }

  /**
   * `{ code, message, ...fields }`, plus `cause` as a string when present.
   *
   * @example
   * ```ts
   * import { NotInMembers } from "./errors.ts";
   * JSON.stringify(new NotInMembers(4, [1, 2, 3]));
   * // {"code":"NotInMembers","message":"…","nodeId":4,"members":[1,2,3]}
   * ```
   */
  toJSON(): RaftErrorJSON {
    const json: Record<string, unknown> = {
      code: this.code,
      message: this.message,
      ...this.fields(),
    };
    if (this.cause !== undefined) json.cause = _describeCause(this.cause);
    return json as RaftErrorJSON;
  }
}

function _describeCause(cause: unknown): string {
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  try {
    return typeof cause === "string" ? cause : JSON.stringify(cause) ?? String(cause);
  } catch {
    return String(cause);
  }
}

/**
 * This node is not the leader: send the request to `leaderId` instead, when
 * known (`leaderNode` gives its address).
 *
 * @example
 * ```ts
 * import { ForwardToLeader } from "./errors.ts";
 * const e = new ForwardToLeader(2, { addr: "http://10.0.0.2:8000" });
 * console.assert(e.leaderId === 2 && e.leaderNode?.addr === "http://10.0.0.2:8000");
 * ```
 */
export class ForwardToLeader extends RaftError {
  /** The current leader, if this node knows it. */
  readonly leaderId: NodeId | null;
  /** The leader's node record (address), if known. */
  readonly leaderNode: RaftNode | null;

  /**
   * Creates a {@linkcode ForwardToLeader}.
   *
   * @param leaderId the leader, or `null` when unknown
   * @param leaderNode the leader's node record, or `null`
   */
  constructor(leaderId: NodeId | null, leaderNode: RaftNode | null = null) {
    super(
      "ForwardToLeader",
      leaderId === null
        ? "this node is not the leader and no leader is known"
        : `this node is not the leader; forward to node ${leaderId}` +
          (leaderNode ? ` at ${leaderNode.addr}` : ""),
    );
    this.leaderId = leaderId;
    this.leaderNode = leaderNode;
  }

  /** This error's fields for `toJSON`: `leaderId`, `leaderNode`. */
  protected override fields(): Record<string, unknown> {
    return { leaderId: this.leaderId, leaderNode: this.leaderNode };
  }
}

/**
 * The node has no membership yet: call `initialize` (on one node) first.
 *
 * @example
 * ```ts
 * import { NotInitialized } from "./errors.ts";
 * console.assert(new NotInitialized().code === "NotInitialized");
 * ```
 */
export class NotInitialized extends RaftError {
  /**
   * Creates a {@linkcode NotInitialized}.
   *
   * @param message overrides the default message
   */
  constructor(message: string = "the node is not initialized") {
    super("NotInitialized", message);
  }
}

/**
 * `initialize` was called on a node that already has a log or a vote.
 *
 * @example
 * ```ts
 * import { AlreadyInitialized } from "./errors.ts";
 * console.assert(new AlreadyInitialized().name === "AlreadyInitialized");
 * ```
 */
export class AlreadyInitialized extends RaftError {
  /**
   * Creates an {@linkcode AlreadyInitialized}.
   *
   * @param message overrides the default message
   */
  constructor(message: string = "the node is already initialized") {
    super("AlreadyInitialized", message);
  }
}

/**
 * A node is not among the given members (e.g. `initialize` without itself).
 *
 * @example
 * ```ts
 * import { NotInMembers } from "./errors.ts";
 * const e = new NotInMembers(4, [1, 2, 3]);
 * console.assert(e.nodeId === 4 && e.members.length === 3);
 * ```
 */
export class NotInMembers extends RaftError {
  /** The node that is missing. */
  readonly nodeId: NodeId;
  /** The members it is missing from. */
  readonly members: readonly NodeId[];

  /**
   * Creates a {@linkcode NotInMembers}.
   *
   * @param nodeId the node that is missing
   * @param members the members it is missing from
   */
  constructor(nodeId: NodeId, members: readonly NodeId[]) {
    super("NotInMembers", `node ${nodeId} is not in members [${members.join(", ")}]`);
    this.nodeId = nodeId;
    this.members = Object.freeze([...members]);
  }

  /** This error's fields for `toJSON`: `nodeId`, `members`. */
  protected override fields(): Record<string, unknown> {
    return { nodeId: this.nodeId, members: [...this.members] };
  }
}

/**
 * Base of the errors a membership change can fail with:
 * {@linkcode InProgress}, {@linkcode EmptyMembership}, {@linkcode LearnerNotFound}.
 *
 * @example
 * ```ts
 * import { ChangeMembershipError, EmptyMembership } from "./errors.ts";
 * console.assert(new EmptyMembership() instanceof ChangeMembershipError);
 * ```
 */
export abstract class ChangeMembershipError extends RaftError {
  /**
   * Creates a {@linkcode ChangeMembershipError}.
   *
   * @param code the class name
   * @param message human-readable description
   * @param options standard error options (`cause`)
   */
  protected constructor(code: string, message: string, options?: ErrorOptions) {
    super(code, message, options);
  }
}

/**
 * A membership change is still in progress: the effective membership is not
 * committed yet, so another change must wait.
 *
 * @example
 * ```ts
 * import { InProgress } from "./errors.ts";
 * const e = new InProgress({ term: 1, index: 3 }, { term: 1, index: 5 });
 * console.assert(e.effective?.index === 5);
 * ```
 */
export class InProgress extends ChangeMembershipError {
  /** The last committed membership's log id. */
  readonly committed: LogId | null;
  /** The effective (appended, uncommitted) membership's log id. */
  readonly effective: LogId | null;

  /**
   * Creates an {@linkcode InProgress}.
   *
   * @param committed the last committed membership's log id
   * @param effective the effective membership's log id
   */
  constructor(committed: LogId | null, effective: LogId | null) {
    super(
      "InProgress",
      `a membership change is in progress: effective ${_fmtLogId(effective)}, ` +
        `committed ${_fmtLogId(committed)}`,
    );
    this.committed = committed;
    this.effective = effective;
  }

  /** This error's fields for `toJSON`: `committed`, `effective`. */
  protected override fields(): Record<string, unknown> {
    return { committed: this.committed, effective: this.effective };
  }
}

function _fmtLogId(id: LogId | null): string {
  return id === null ? "none" : `${id.term}-${id.index}`;
}

/**
 * The requested membership would have no voters.
 *
 * @example
 * ```ts
 * import { EmptyMembership } from "./errors.ts";
 * console.assert(new EmptyMembership().code === "EmptyMembership");
 * ```
 */
export class EmptyMembership extends ChangeMembershipError {
  /**
   * Creates an {@linkcode EmptyMembership}.
   *
   * @param message overrides the default message
   */
  constructor(message: string = "the new membership has no voters") {
    super("EmptyMembership", message);
  }
}

/**
 * A node to promote to voter is not a learner: add it as a learner first so
 * it catches up before it counts toward a quorum.
 *
 * @example
 * ```ts
 * import { LearnerNotFound } from "./errors.ts";
 * console.assert(new LearnerNotFound(7).nodeId === 7);
 * ```
 */
export class LearnerNotFound extends ChangeMembershipError {
  /** The node that is not a learner. */
  readonly nodeId: NodeId;

  /**
   * Creates a {@linkcode LearnerNotFound}.
   *
   * @param nodeId the node that is not a learner
   */
  constructor(nodeId: NodeId) {
    super("LearnerNotFound", `node ${nodeId} is not a learner; add it as a learner first`);
    this.nodeId = nodeId;
  }

  /** This error's fields for `toJSON`: `nodeId`. */
  protected override fields(): Record<string, unknown> {
    return { nodeId: this.nodeId };
  }
}

/**
 * Not enough nodes answered to form a quorum of `cluster`; `got` lists those
 * that did.
 *
 * @example
 * ```ts
 * import { QuorumNotEnough } from "./errors.ts";
 * const e = new QuorumNotEnough("[1, 2, 3]", [1]);
 * console.assert(e.got[0] === 1);
 * ```
 */
export class QuorumNotEnough extends RaftError {
  /** A description of the voter set(s) that needed a quorum. */
  readonly cluster: string;
  /** The nodes that did answer. */
  readonly got: readonly NodeId[];

  /**
   * Creates a {@linkcode QuorumNotEnough}.
   *
   * @param cluster a description of the voter set(s)
   * @param got the nodes that answered
   */
  constructor(cluster: string, got: readonly NodeId[]) {
    super("QuorumNotEnough", `no quorum of ${cluster}: got [${got.join(", ")}]`);
    this.cluster = cluster;
    this.got = Object.freeze([...got]);
  }

  /** This error's fields for `toJSON`: `cluster`, `got`. */
  protected override fields(): Record<string, unknown> {
    return { cluster: this.cluster, got: [...this.got] };
  }
}

/**
 * An operation did not complete within its deadline.
 *
 * @example
 * ```ts
 * import { Timeout } from "./errors.ts";
 * const e = new Timeout("send append to 2", 500);
 * console.assert(e.timeoutMs === 500);
 * ```
 */
export class Timeout extends RaftError {
  /** What timed out. */
  readonly action: string;
  /** The deadline, in milliseconds. */
  readonly timeoutMs: number;
  /**
   * Set when the operation had already reached the log (at this log id)
   * when its caller stopped waiting: it may still take effect, like an
   * {@linkcode OutcomeUnknown}. `null`: it did not reach the log and will
   * not take effect (or it changes nothing, like a read).
   */
  readonly logId: LogId | null;

  /**
   * Creates a {@linkcode Timeout}.
   *
   * @param action what timed out
   * @param timeoutMs the deadline in milliseconds
   * @param options standard error options (`cause`), and `logId` when the
   *   operation is in the log and may still take effect
   */
  constructor(
    action: string,
    timeoutMs: number,
    options?: ErrorOptions & { readonly logId?: LogId | null },
  ) {
    super(
      "Timeout",
      `${action} timed out after ${timeoutMs} ms` + _mayStillHappen(options?.logId ?? null),
      options,
    );
    this.action = action;
    this.timeoutMs = timeoutMs;
    this.logId = options?.logId ?? null;
  }

  /** This error's fields for `toJSON`: `action`, `timeoutMs`, `logId`. */
  protected override fields(): Record<string, unknown> {
    return { action: this.action, timeoutMs: this.timeoutMs, logId: this.logId };
  }
}

function _mayStillHappen(logId: LogId | null): string {
  return logId === null
    ? ""
    : ` (it is in the log at ${logId.term}-${logId.index} and may still take effect)`;
}

/**
 * The caller's `AbortSignal` fired before the operation completed; the
 * signal's reason is the `cause`. Like {@linkcode Timeout}, `logId` tells
 * whether the operation may still take effect.
 *
 * @example
 * ```ts
 * import { Aborted } from "./errors.ts";
 * const e = new Aborted("clientWrite", { logId: { term: 2, index: 9 } });
 * console.assert(e.action === "clientWrite" && e.logId?.index === 9);
 * ```
 */
export class Aborted extends RaftError {
  /** What was aborted. */
  readonly action: string;
  /**
   * Set when the operation had already reached the log (at this log id):
   * it may still take effect. `null`: it will not.
   */
  readonly logId: LogId | null;

  /**
   * Creates an {@linkcode Aborted}.
   *
   * @param action what was aborted
   * @param options the signal's reason as `cause`, and `logId` when the
   *   operation is in the log and may still take effect
   */
  constructor(action: string, options?: ErrorOptions & { readonly logId?: LogId | null }) {
    super(
      "Aborted",
      `${action} was aborted by its caller` + _mayStillHappen(options?.logId ?? null),
      options,
    );
    this.action = action;
    this.logId = options?.logId ?? null;
  }

  /** This error's fields for `toJSON`: `action`, `logId`. */
  protected override fields(): Record<string, unknown> {
    return { action: this.action, logId: this.logId };
  }
}

/**
 * A conditional call's precondition did not hold, so it did nothing: a
 * write made `ifLeader` a leader (and term) this node no longer is, or a
 * membership change made `ifMembership` a configuration that is no longer
 * the effective one.
 *
 * @example
 * ```ts
 * import { PreconditionFailed } from "./errors.ts";
 * const e = new PreconditionFailed("leader", { id: 1, term: 3 }, { id: 1, term: 4 });
 * console.assert(e.condition === "leader");
 * ```
 */
export class PreconditionFailed extends RaftError {
  /** Which precondition: `"leader"` or `"membership"`. */
  readonly condition: "leader" | "membership";
  /** What the caller expected. */
  readonly expected: unknown;
  /** What this node has instead. */
  readonly actual: unknown;

  /**
   * Creates a {@linkcode PreconditionFailed}.
   *
   * @param condition which precondition failed
   * @param expected what the caller expected
   * @param actual what the node has instead
   */
  constructor(condition: "leader" | "membership", expected: unknown, actual: unknown) {
    super(
      "PreconditionFailed",
      `precondition on the ${condition} failed: expected ${JSON.stringify(expected)}, ` +
        `got ${JSON.stringify(actual)}; nothing was done`,
    );
    this.condition = condition;
    this.expected = expected;
    this.actual = actual;
  }

  /** This error's fields for `toJSON`: `condition`, `expected`, `actual`. */
  protected override fields(): Record<string, unknown> {
    return { condition: this.condition, expected: this.expected, actual: this.actual };
  }
}

/**
 * An argument of a public call is not what it takes (a command that is not
 * a `Uint8Array`, an invalid node id, an unknown read policy…). Nothing was
 * done.
 *
 * @example
 * ```ts
 * import { InvalidArgument } from "./errors.ts";
 * const e = new InvalidArgument("id", "invalid node id -1");
 * console.assert(e.argument === "id");
 * ```
 */
export class InvalidArgument extends RaftError {
  /** The offending argument. */
  readonly argument: string;

  /**
   * Creates an {@linkcode InvalidArgument}.
   *
   * @param argument the offending argument's name
   * @param message what is wrong with it
   */
  constructor(argument: string, message: string) {
    super("InvalidArgument", message);
    this.argument = argument;
  }

  /** This error's fields for `toJSON`: `argument`. */
  protected override fields(): Record<string, unknown> {
    return { argument: this.argument };
  }
}

/**
 * A peer could not be reached; the network error, if any, is the `cause`.
 *
 * @example
 * ```ts
 * import { Unreachable } from "./errors.ts";
 * const e = new Unreachable(3, { cause: new TypeError("connection refused") });
 * console.assert(e.nodeId === 3 && e.cause instanceof TypeError);
 * ```
 */
export class Unreachable extends RaftError {
  /** The peer. */
  readonly nodeId: NodeId;

  /**
   * Creates an {@linkcode Unreachable}.
   *
   * @param nodeId the peer
   * @param options standard error options: the network error as `cause`
   */
  constructor(nodeId: NodeId, options?: ErrorOptions) {
    super("Unreachable", `node ${nodeId} is unreachable`, options);
    this.nodeId = nodeId;
  }

  /** This error's fields for `toJSON`: `nodeId`. */
  protected override fields(): Record<string, unknown> {
    return { nodeId: this.nodeId };
  }
}

/**
 * A write was appended to the log at `logId`, but this node can no longer
 * learn whether it was committed (it was removed from the cluster, or a
 * snapshot from a newer leader replaced its log): it may or may not have
 * taken effect. Read the state back (on the leader) to find out.
 *
 * @example
 * ```ts
 * import { OutcomeUnknown } from "./errors.ts";
 * const e = new OutcomeUnknown({ term: 3, index: 42 }, 2);
 * console.assert(e.logId.index === 42 && e.leaderId === 2);
 * ```
 */
export class OutcomeUnknown extends RaftError {
  /** Where the write was appended. */
  readonly logId: LogId;
  /** The leader this node knows of, if any. */
  readonly leaderId: NodeId | null;

  /**
   * Creates an {@linkcode OutcomeUnknown}.
   *
   * @param logId where the write was appended
   * @param leaderId the leader this node knows of, or `null`
   */
  constructor(logId: LogId, leaderId: NodeId | null) {
    super(
      "OutcomeUnknown",
      `the write at ${logId.term}-${logId.index} may or may not have been committed: ` +
        "this node can no longer tell",
    );
    this.logId = logId;
    this.leaderId = leaderId;
  }

  /** This error's fields for `toJSON`: `logId`, `leaderId`. */
  protected override fields(): Record<string, unknown> {
    return { logId: this.logId, leaderId: this.leaderId };
  }
}

/**
 * A request came from a node of another cluster: its cluster id (chosen at
 * `initialize` and carried by every Raft request) is not this node's. The
 * request is refused and changes nothing; two clusters never merge.
 *
 * @example
 * ```ts
 * import { ClusterMismatch } from "./errors.ts";
 * const e = new ClusterMismatch("a1b2", "c3d4", 2);
 * console.assert(e.expected === "a1b2" && e.got === "c3d4" && e.from === 2);
 * ```
 */
export class ClusterMismatch extends RaftError {
  /** This node's cluster id. */
  readonly expected: string;
  /** The cluster id the request carried. */
  readonly got: string;
  /** The node that sent it. */
  readonly from: NodeId;

  /**
   * Creates a {@linkcode ClusterMismatch}.
   *
   * @param expected this node's cluster id
   * @param got the cluster id the request carried
   * @param from the node that sent it
   */
  constructor(expected: string, got: string, from: NodeId) {
    super(
      "ClusterMismatch",
      `node ${from} belongs to cluster ${JSON.stringify(got)}, not to this node's cluster ` +
        `${JSON.stringify(expected)}: refused`,
    );
    this.expected = expected;
    this.got = got;
    this.from = from;
  }

  /** This error's fields for `toJSON`: `expected`, `got`, `from`. */
  protected override fields(): Record<string, unknown> {
    return { expected: this.expected, got: this.got, from: this.from };
  }
}

/**
 * A peer refused a request because its sender, `nodeId`, is not a member of
 * its cluster: removed by a membership change the peer has committed (or
 * not added yet, as far as the peer knows). The peer refuses only requests
 * it would refuse anyway — an older term, a vote it would not grant — so
 * the request changed nothing there. Over HTTP it is the 410 (`Gone`)
 * answer. A node that keeps getting it has most likely been removed: stop
 * it, or add it back.
 *
 * @example
 * ```ts
 * import { NotAMember } from "./errors.ts";
 * const e = new NotAMember(3);
 * console.assert(e.nodeId === 3 && e.code === "NotAMember");
 * ```
 */
export class NotAMember extends RaftError {
  /** The node that is not a member (the request's sender). */
  readonly nodeId: NodeId;

  /**
   * Creates a {@linkcode NotAMember}.
   *
   * @param nodeId the node that is not a member (the request's sender)
   */
  constructor(nodeId: NodeId) {
    super(
      "NotAMember",
      `node ${nodeId} is not a member of this node's cluster (removed, or not known yet): refused`,
    );
    this.nodeId = nodeId;
  }

  /** This error's fields for `toJSON`: `nodeId`. */
  protected override fields(): Record<string, unknown> {
    return { nodeId: this.nodeId };
  }
}

/**
 * A broken invariant inside the node — a bug, never caused by a peer's or a
 * client's input, which is checked first. Fatal like a storage error: the
 * node stops (the process goes on) rather than risk its data.
 *
 * @example
 * ```ts
 * import { InternalError } from "./errors.ts";
 * const e = new InternalError("turn", new RangeError("truncate at 3 ≤ commit 5"));
 * console.assert(e.operation === "turn" && e.cause instanceof RangeError);
 * ```
 */
export class InternalError extends RaftError {
  /** Where it happened. */
  readonly operation: string;

  /**
   * Creates an {@linkcode InternalError}.
   *
   * @param operation where it happened
   * @param cause the underlying exception
   */
  constructor(operation: string, cause: unknown) {
    super(
      "InternalError",
      `internal error in ${operation}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.operation = operation;
  }

  /** This error's fields for `toJSON`: `operation`. */
  protected override fields(): Record<string, unknown> {
    return { operation: this.operation };
  }
}

/**
 * Storage failed. This is fatal: the node stops, since it can no longer
 * guarantee what it has persisted.
 *
 * @example
 * ```ts
 * import { StorageError } from "./errors.ts";
 * const e = new StorageError("append", new Error("disk full"));
 * console.assert(e.operation === "append" && e.cause instanceof Error);
 * ```
 */
export class StorageError extends RaftError {
  /** The storage operation that failed. */
  readonly operation: string;

  /**
   * Creates a {@linkcode StorageError}.
   *
   * @param operation the storage operation that failed
   * @param cause the underlying error
   */
  constructor(operation: string, cause: unknown) {
    super(
      "StorageError",
      `storage ${operation} failed` + (cause instanceof Error ? `: ${cause.message}` : ""),
      { cause },
    );
    this.operation = operation;
  }

  /** This error's fields for `toJSON`: `operation`. */
  protected override fields(): Record<string, unknown> {
    return { operation: this.operation };
  }
}

/**
 * The state machine's `apply` threw or rejected. Fatal: the node stops.
 * An entry is applied on every node, so a command whose `apply` throws
 * stops every node that reaches it — validate commands before proposing
 * them, and have `apply` answer a bad command with an error *response*
 * instead of throwing.
 *
 * @example
 * ```ts
 * import { ApplyError } from "./errors.ts";
 * const e = new ApplyError({ term: 2, index: 7 }, new Error("bad command"));
 * console.assert(e.first?.index === 7 && e.cause instanceof Error);
 * ```
 */
export class ApplyError extends RaftError {
  /** The first entry of the batch that failed to apply (`null` if unknown). */
  readonly first: LogId | null;
  /** The operation that failed: always `"apply"` (like {@linkcode StorageError}). */
  readonly operation = "apply";

  /**
   * Creates an {@linkcode ApplyError}.
   *
   * @param first the first entry of the batch that failed
   * @param cause what `apply` threw
   */
  constructor(first: LogId | null, cause: unknown) {
    super(
      "ApplyError",
      `the state machine failed to apply the entries from ${_fmtLogId(first)}` +
        (cause instanceof Error ? `: ${cause.message}` : "") + "; the node stopped",
      { cause },
    );
    this.first = first;
  }

  /** This error's fields for `toJSON`: `first`, `operation`. */
  protected override fields(): Record<string, unknown> {
    return { first: this.first, operation: this.operation };
  }
}

/**
 * A leader's append conflicts with an entry this node has committed: the
 * logs differ at `index`, at or below this node's commit index. No correct
 * cluster does that (committed entries are in every later leader's log), so
 * it is proof of a safety violation: this node's data was replaced (wiped,
 * or restored from an old backup, and the node then formed or joined a
 * cluster on its own) or two clusters share an id. Fatal: the node stops
 * without truncating anything, and keeps its data for inspection. Wipe the
 * node and add it back (or give it a new id) once the cause is understood.
 *
 * @example
 * ```ts
 * import { LogDiverged } from "./errors.ts";
 * const e = new LogDiverged({ index: 4, committed: 6, ownTerm: 1, leaderTerm: 2, leaderId: 3, term: 5 });
 * console.assert(e.index === 4 && e.leaderId === 3 && e.operation === "append");
 * ```
 */
export class LogDiverged extends RaftError {
  /** The index at which the logs differ (at or below `committed`). */
  readonly index: number;
  /** This node's commit index. */
  readonly committed: number;
  /** The term of this node's entry at `index`. */
  readonly ownTerm: number;
  /** The term of the leader's entry at `index`. */
  readonly leaderTerm: number;
  /** The leader whose append conflicts. */
  readonly leaderId: NodeId;
  /** The append's term. */
  readonly term: number;
  /** The operation that stopped the node: always `"append"` (like {@linkcode StorageError}). */
  readonly operation = "append";

  /**
   * Creates a {@linkcode LogDiverged}.
   *
   * @param d where the logs differ and who sent the append
   */
  constructor(d: LogDivergence) {
    super(
      "LogDiverged",
      `log diverged below the commit index: leader ${d.leaderId} (term ${d.term}) has an entry ` +
        `of term ${d.leaderTerm} at index ${d.index}, where this node committed one of term ` +
        `${d.ownTerm} (commit index ${d.committed}): this node's data was replaced or two ` +
        "clusters share an id; the node stopped without truncating anything",
    );
    this.index = d.index;
    this.committed = d.committed;
    this.ownTerm = d.ownTerm;
    this.leaderTerm = d.leaderTerm;
    this.leaderId = d.leaderId;
    this.term = d.term;
  }

  /**
   * This error's fields for `toJSON`: `index`, `committed`, `ownTerm`, `leaderTerm`,
   * `leaderId`, `term`, `operation`.
   */
  protected override fields(): Record<string, unknown> {
    return {
      index: this.index,
      committed: this.committed,
      ownTerm: this.ownTerm,
      leaderTerm: this.leaderTerm,
      leaderId: this.leaderId,
      term: this.term,
      operation: this.operation,
    };
  }
}

/**
 * `Raft.create` found the state machine behind the log's purge point: the
 * entries between its last applied index and the purge point are gone, so
 * it can never catch up. This happens when the log store is durable but the
 * state machine is not (or lost its snapshot): a state machine used with a
 * durable log must persist its snapshot (and report it from
 * `currentSnapshot` and `appliedState`).
 *
 * @example
 * ```ts
 * import { StateMachineBehindLog } from "./errors.ts";
 * const e = new StateMachineBehindLog(null, { term: 3, index: 162 });
 * console.assert(e.purged.index === 162);
 * ```
 */
export class StateMachineBehindLog extends RaftError {
  /** What the state machine reports applied. */
  readonly applied: LogId | null;
  /** The log's last purged id. */
  readonly purged: LogId;

  /**
   * Creates a {@linkcode StateMachineBehindLog}.
   *
   * @param applied what the state machine reports applied
   * @param purged the log's last purged id
   */
  constructor(applied: LogId | null, purged: LogId) {
    super(
      "StateMachineBehindLog",
      `the state machine has applied up to ${_fmtLogId(applied)} but the log is purged up to ` +
        `${_fmtLogId(purged)}: the entries between are gone. A state machine used with a ` +
        "durable log must persist its snapshot (and report it from appliedState and " +
        "currentSnapshot); or start with an empty log store",
    );
    this.applied = applied;
    this.purged = purged;
  }

  /** This error's fields for `toJSON`: `applied`, `purged`. */
  protected override fields(): Record<string, unknown> {
    return { applied: this.applied, purged: this.purged };
  }
}

/**
 * The node is shutting down (or has shut down) and accepts no more requests.
 *
 * @example
 * ```ts
 * import { ShuttingDown } from "./errors.ts";
 * console.assert(new ShuttingDown().code === "ShuttingDown");
 * ```
 */
export class ShuttingDown extends RaftError {
  /**
   * Creates a {@linkcode ShuttingDown}.
   *
   * @param message overrides the default message
   */
  constructor(message: string = "the node is shutting down") {
    super("ShuttingDown", message);
  }
}

/**
 * A client command is larger than `maxPayloadBytes`.
 *
 * @example
 * ```ts
 * import { PayloadTooLarge } from "./errors.ts";
 * const e = new PayloadTooLarge(20_000_000, 16_777_216);
 * console.assert(e.size > e.limit);
 * ```
 */
export class PayloadTooLarge extends RaftError {
  /** The command's size in bytes. */
  readonly size: number;
  /** The largest size accepted, in bytes. */
  readonly limit: number;

  /**
   * Creates a {@linkcode PayloadTooLarge}.
   *
   * @param size the command's size in bytes
   * @param limit the largest size accepted
   */
  constructor(size: number, limit: number) {
    super("PayloadTooLarge", `payload of ${size} bytes exceeds the limit of ${limit} bytes`);
    this.size = size;
    this.limit = limit;
  }

  /** This error's fields for `toJSON`: `size`, `limit`. */
  protected override fields(): Record<string, unknown> {
    return { size: this.size, limit: this.limit };
  }
}

/**
 * A message (from the network or storage) could not be decoded or is not
 * well-formed.
 *
 * @example
 * ```ts
 * import { InvalidMessage } from "./errors.ts";
 * const e = new InvalidMessage("unknown message type 'x'");
 * console.assert(e.reason.startsWith("unknown"));
 * ```
 */
export class InvalidMessage extends RaftError {
  /** What is wrong with it. */
  readonly reason: string;

  /**
   * Creates an {@linkcode InvalidMessage}.
   *
   * @param reason what is wrong with the message
   * @param options standard error options (`cause`)
   */
  constructor(reason: string, options?: ErrorOptions) {
    super("InvalidMessage", `invalid message: ${reason}`, options);
    this.reason = reason;
  }

  /** This error's fields for `toJSON`: `reason`. */
  protected override fields(): Record<string, unknown> {
    return { reason: this.reason };
  }
}

/**
 * A configuration value (or combination of values) is invalid; `field`
 * names the option.
 *
 * @example
 * ```ts
 * import { ConfigError } from "./errors.ts";
 * const e = new ConfigError("heartbeatInterval", "heartbeatInterval must be a positive integer");
 * console.assert(e.field === "heartbeatInterval");
 * ```
 */
export class ConfigError extends RaftError {
  /** The offending option. */
  readonly field: string;

  /**
   * Creates a {@linkcode ConfigError}.
   *
   * @param field the offending option
   * @param message what is wrong; should name the field
   */
  constructor(field: string, message: string) {
    super("ConfigError", message);
    this.field = field;
  }

  /** This error's fields for `toJSON`: `field`. */
  protected override fields(): Record<string, unknown> {
    return { field: this.field };
  }
}
