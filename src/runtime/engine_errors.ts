/**
 * The one place where the engine's refusals become the {@linkcode RaftError}s
 * the application sees: a refused administrative call ({@linkcode AdminResult}),
 * a refused proposal ({@linkcode ProposeResult}), a failed read
 * ({@linkcode ReadFailure}) and a peer request refused unread
 * ({@linkcode Refusal}). Each mapping is a `switch` that ends with an
 * exhaustiveness check, so a new reason in the engine is a type error here.
 *
 * @module
 */

import type { AdminResult, ProposeResult, ReadFailure, Refusal } from "../engine/commands.ts";
import type { EngineStatus } from "../engine/engine.ts";
import {
  AlreadyInitialized,
  ClusterMismatch,
  EmptyMembership,
  ForwardToLeader,
  InProgress,
  InternalError,
  InvalidMessage,
  LearnerNotFound,
  NotAMember,
  NotInMembers,
  QuorumNotEnough,
  type RaftError,
} from "../errors.ts";
import type { Membership, NodeId, RaftNode } from "../types.ts";
import { votersOf } from "../types.ts";
import { assertNever } from "./exhaustive.ts";

/**
 * Node addresses by id (the effective membership's), to name a leader with.
 *
 * @example
 * ```ts
 * import type { NodeAddresses } from "./engine_errors.ts";
 * const nodes: NodeAddresses = new Map([[1, { addr: "http://n1" }]]);
 * ```
 */
export type NodeAddresses = ReadonlyMap<NodeId, RaftNode>;

/**
 * The error that sends a client to `leaderId`, with its address when
 * `nodes` has it.
 *
 * @example
 * ```ts
 * import { forwardToLeader } from "./engine_errors.ts";
 * const e = forwardToLeader(2, new Map([[2, { addr: "http://n2" }]]));
 * console.assert(e.leaderId === 2 && e.leaderNode?.addr === "http://n2");
 * ```
 */
export function forwardToLeader(leaderId: NodeId | null, nodes: NodeAddresses): ForwardToLeader {
  return new ForwardToLeader(leaderId, leaderId === null ? null : nodes.get(leaderId) ?? null);
}

/**
 * Why a proposal was refused: this node does not lead (or is handing
 * leadership over, when no leader can be named yet).
 *
 * @example
 * ```ts
 * import { proposeError } from "./engine_errors.ts";
 * const e = proposeError({ ok: false, reason: "not-leader", leaderId: 3 }, new Map());
 * console.assert(e.leaderId === 3);
 * ```
 */
export function proposeError(
  refused: Extract<ProposeResult, { ok: false }>,
  nodes: NodeAddresses,
): ForwardToLeader {
  switch (refused.reason) {
    case "not-leader":
      return forwardToLeader(refused.leaderId, nodes);
    case "transferring":
      return forwardToLeader(null, nodes);
    default:
      return assertNever(refused.reason);
  }
}

/**
 * What {@linkcode adminError} names in the errors it builds.
 */
export interface AdminContext {
  /** Node addresses, to name the leader with. */
  readonly nodes: NodeAddresses;
  /**
   * The engine's memberships when the call was refused: {@linkcode InProgress}
   * reports their log ids, {@linkcode NotInMembers} the effective one's voters.
   */
  readonly status: Pick<EngineStatus, "membership" | "committedMembership">;
  /** The membership the call proposed (initialize): {@linkcode NotInMembers} lists its voters. */
  readonly proposed?: Membership;
}

/**
 * The error for a refused administrative call (initialize, membership
 * change, leadership transfer).
 *
 * @example
 * ```ts
 * import { adminError } from "./engine_errors.ts";
 * import { membershipOf } from "../types.ts";
 * const membership = { logId: null, membership: membershipOf([1, 2, 3]) };
 * const status = { membership, committedMembership: membership };
 * const e = adminError(
 *   { ok: false, reason: "not-voter", leaderId: 1, nodeId: 7 },
 *   { nodes: new Map(), status },
 * );
 * console.assert(e.code === "NotInMembers");
 * ```
 */
export function adminError(
  refused: Extract<AdminResult, { ok: false }>,
  context: AdminContext,
): RaftError {
  switch (refused.reason) {
    case "not-leader":
      return forwardToLeader(refused.leaderId, context.nodes);
    case "already-initialized":
      return new AlreadyInitialized();
    case "in-progress":
      return new InProgress(
        context.status.committedMembership.logId,
        context.status.membership.logId,
      );
    case "empty-membership":
      return new EmptyMembership();
    case "invalid":
      // The runtime checks what it passes: the engine never refuses it as invalid.
      return new InternalError("admin", new RangeError("the engine refused the call as invalid"));
    case "not-in-members":
    case "not-voter": {
      const members = context.proposed ?? context.status.membership.membership;
      return new NotInMembers(refused.nodeId, votersOf(members));
    }
    case "learner-not-found":
      return new LearnerNotFound(refused.nodeId);
    default:
      return assertNever(refused);
  }
}

/**
 * What {@linkcode readError} names in the errors it builds.
 */
export interface ReadContext {
  /** Node addresses, to name the leader with. */
  readonly nodes: NodeAddresses;
  /** The effective membership (read only for a lost quorum). */
  membership(): Membership;
}

/**
 * The error for a read the engine could not serve: {@linkcode ForwardToLeader}
 * on a non-leader, {@linkcode QuorumNotEnough} when the quorum was lost.
 *
 * @example
 * ```ts
 * import { readError } from "./engine_errors.ts";
 * import { membershipOf } from "../types.ts";
 * const context = { nodes: new Map(), membership: () => membershipOf([1, 2, 3]) };
 * console.assert(readError({ kind: "quorum-lost", acked: [1] }, context).code === "QuorumNotEnough");
 * ```
 */
export function readError(reason: ReadFailure, context: ReadContext): RaftError {
  switch (reason.kind) {
    case "not-leader":
      return forwardToLeader(reason.leaderId, context.nodes);
    case "quorum-lost": {
      const voters = votersOf(context.membership());
      return new QuorumNotEnough(`[${voters.join(", ")}]`, reason.acked);
    }
    default:
      return assertNever(reason);
  }
}

/**
 * The error a peer's request is answered with when the engine refused it
 * unread: {@linkcode ClusterMismatch} for another cluster's request,
 * {@linkcode InvalidMessage} for a term no real cluster reaches.
 *
 * @example
 * ```ts
 * import { refusalError } from "./engine_errors.ts";
 * const e = refusalError({ kind: "cluster-mismatch", expected: "a1", got: "b2", from: 3 });
 * console.assert(e.code === "ClusterMismatch");
 * ```
 */
export function refusalError(refusal: Refusal): RaftError {
  switch (refusal.kind) {
    case "cluster-mismatch":
      return new ClusterMismatch(refusal.expected, refusal.got, refusal.from);
    case "term-too-high":
      return new InvalidMessage(
        `term ${refusal.term} exceeds the largest term a node takes from a peer, ${refusal.max}`,
      );
    case "not-a-member":
      return new NotAMember(refusal.from);
    default:
      return assertNever(refusal);
  }
}
