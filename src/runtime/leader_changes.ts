/**
 * Leader-change notifications: `Raft.onLeaderChange` listeners, called when
 * the node's view of (term, leader, own role) changes — checked with three
 * field reads per turn, without building metrics.
 *
 * @module
 */

import type { Role } from "../engine/engine_core.ts";
import type { NodeId } from "../types.ts";

/**
 * What a node knows of the leadership after a change: the term, the leader
 * of that term (`null` while none is known: an election is on) and this
 * node's own role.
 *
 * @example
 * ```ts
 * import type { LeaderChange } from "./leader_changes.ts";
 * const c: LeaderChange = { term: 4, leaderId: 2, role: "follower" };
 * ```
 */
export interface LeaderChange {
  /** The current term. */
  readonly term: number;
  /** The leader of `term`, or `null` while none is known. */
  readonly leaderId: NodeId | null;
  /** This node's role. */
  readonly role: Role;
}

/**
 * Watches (term, leader, role) each turn and tells the listeners of each
 * change; counts the leaders seen.
 *
 * @example
 * ```ts
 * import { LeaderWatch } from "./leader_changes.ts";
 * const watch = new LeaderWatch(() => {});
 * const seen: (number | null)[] = [];
 * watch.listen((c) => seen.push(c.leaderId));
 * watch.check(1, null, "candidate");
 * watch.check(1, 1, "leader");
 * watch.check(1, 1, "leader"); // no change: no call
 * console.assert(seen.join() === ",1" && watch.leaderChanges === 1);
 * ```
 */
export class LeaderWatch {
  readonly #listeners = new Set<(change: LeaderChange) => void>();
  readonly #onListenerError: (e: unknown) => void;
  #term = -1;
  #leaderId: NodeId | null = null;
  #role: Role | "" = "";
  /** Times a leader became known: (term, leader) changed to a known leader. */
  leaderChanges = 0;

  /** @param onListenerError told when a listener throws (the node goes on) */
  constructor(onListenerError: (e: unknown) => void) {
    this.#onListenerError = onListenerError;
  }

  /** Adds a listener; returns the function that removes it. */
  listen(listener: (change: LeaderChange) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /** The node's current view: tells the listeners if it changed. */
  check(term: number, leaderId: NodeId | null, role: Role): void {
    if (term === this.#term && leaderId === this.#leaderId && role === this.#role) return;
    if (leaderId !== null && (leaderId !== this.#leaderId || term !== this.#term)) {
      this.leaderChanges++;
    }
    this.#term = term;
    this.#leaderId = leaderId;
    this.#role = role;
    if (this.#listeners.size === 0) return;
    const change: LeaderChange = { term, leaderId, role };
    for (const l of [...this.#listeners]) {
      try {
        l(change);
      } catch (e) {
        this.#onListenerError(e);
      }
    }
  }
}
