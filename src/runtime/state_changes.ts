/**
 * The node's state changes as an operator reads them: role, term and
 * leader changes with the engine's reason, and membership changes (old →
 * new), as log records; elections as `raft.election` spans. Compared once
 * per turn from a few engine fields (nothing built unless something
 * changed); the node keeps none of it without a logger or a tracer.
 *
 * @module
 */

import type { Role, RoleReason } from "../engine/engine_core.ts";
import type { LogId, Membership, NodeId } from "../types.ts";
import type { Logger } from "./logger.ts";
import { endSpan, type Span, startSpan, type Tracer } from "./tracer.ts";

/**
 * A membership in one line: the voter sets (two while joint, joined by
 * `+`) and the learners.
 *
 * @example
 * ```ts
 * import { describeMembership } from "./state_changes.ts";
 * import { membershipOf } from "../types.ts";
 * console.assert(describeMembership(membershipOf([1, 2], [3])) === "voters=[1,2] learners=[3]");
 * ```
 */
export function describeMembership(m: Membership): string {
  const voters = new Set<NodeId>();
  for (const c of m.configs) for (const id of c) voters.add(id);
  const learners = [...m.nodes.keys()].filter((id) => !voters.has(id)).sort((a, b) => a - b);
  const sets = m.configs.map((c) => `[${[...c].sort((a, b) => a - b).join(",")}]`).join("+");
  return `voters=${sets === "" ? "[]" : sets} learners=[${learners.join(",")}]`;
}

/**
 * Watches role, term and leader each turn: logs each change with its
 * reason and traces elections; logs membership changes.
 *
 * @example
 * ```ts
 * import { StateChanges } from "./state_changes.ts";
 * const lines: string[] = [];
 * const note = (m: string, f?: Record<string, unknown>) => void lines.push(`${m} ${f?.reason}`);
 * const changes = new StateChanges({ debug: note, info: note, warn: note, error: note }, null);
 * changes.check(1, "follower", false, null, "startup");
 * changes.check(2, "candidate", false, null, "election-timeout");
 * changes.check(2, "leader", false, 1, "election-won");
 * console.assert(lines.at(-1) === "role changed election-won");
 * ```
 */
export class StateChanges {
  readonly #logger: Logger | null;
  readonly #tracer: Tracer | null;
  #term = -1;
  #role: Role | "pre-candidate" | "" = "";
  #leaderId: NodeId | null = null;
  #election: Span | null = null;
  #rounds = 0;

  /**
   * @param logger where records go, or `null`
   * @param tracer where election spans go, or `null`
   */
  constructor(logger: Logger | null, tracer: Tracer | null) {
    this.#logger = logger;
    this.#tracer = tracer;
  }

  /** The node's current view: logs (and traces) what changed since the last call. */
  check(
    term: number,
    role: Role,
    preCandidate: boolean,
    leaderId: NodeId | null,
    reason: RoleReason,
  ): void {
    const shown = role === "candidate" && preCandidate ? "pre-candidate" : role;
    if (term === this.#term && shown === this.#role && leaderId === this.#leaderId) return;
    const previousRole = this.#role;
    const previousTerm = this.#term;
    this.#term = term;
    this.#role = shown;
    this.#leaderId = leaderId;
    const log = this.#logger;
    if (previousRole === "") {
      log?.debug("node started", { role: shown, term, leaderId });
    } else if (shown !== previousRole || term !== previousTerm) {
      log?.info(shown !== previousRole ? "role changed" : "term changed", {
        role: shown,
        previousRole,
        term,
        previousTerm,
        leaderId,
        reason,
      });
    } else if (leaderId !== null) {
      log?.info("leader changed", { role: shown, term, leaderId });
    }
    if (this.#tracer !== null) this.#trace(term, role, preCandidate, reason);
  }

  #trace(term: number, role: Role, preCandidate: boolean, reason: RoleReason): void {
    if (role === "candidate") {
      if (this.#election === null) {
        this.#rounds = 0;
        this.#election = startSpan(this.#tracer!, "raft.election", {
          "raft.term": term,
          "raft.pre_vote": preCandidate,
          "raft.reason": reason,
        });
      }
      if (!preCandidate) this.#rounds++;
      return;
    }
    const span = this.#election;
    if (span === null) return;
    this.#election = null;
    const attributes = { "raft.term": term, "raft.rounds": this.#rounds, "raft.reason": reason };
    if (role === "leader") endSpan(span, { ...attributes, "raft.outcome": "won" });
    else {
      endSpan(span, { ...attributes, "raft.outcome": "lost" }, {
        code: reason,
        message: `election lost: ${reason}`,
      });
    }
  }

  /** The effective membership changed from `previous` to `next` (at `logId`). */
  membership(previous: Membership, next: Membership, logId: LogId | null): void {
    this.#logger?.info("membership changed", {
      from: describeMembership(previous),
      to: describeMembership(next),
      logIndex: logId?.index ?? 0,
      joint: next.configs.length > 1,
    });
  }

  /** The node stopped: an election in progress ends (with `code`). */
  close(code: string): void {
    const span = this.#election;
    if (span === null) return;
    this.#election = null;
    endSpan(span, { "raft.term": this.#term, "raft.rounds": this.#rounds }, {
      code,
      message: `election ended: ${code}`,
    });
  }
}
