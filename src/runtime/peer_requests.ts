/**
 * Requests from peers waiting for the engine's answer: each is handed to the
 * engine with a token, and the engine's `reply` (or `refuse`) command for
 * that token settles it.
 *
 * @module
 */

import type { RaftResponse } from "../messages.ts";
import type { RpcType } from "./counters.ts";

/** How a waiting peer request is settled, and what it was (for the RPC counters). */
interface Reply {
  readonly type: RpcType;
  resolve(m: RaftResponse): void;
  reject(e: unknown): void;
}

/**
 * The peer requests of one node waiting for the engine's answer, by token.
 *
 * @example
 * ```ts
 * import { PeerRequests } from "./peer_requests.ts";
 * const requests = new PeerRequests();
 * const answer = new Promise((resolve, reject) => requests.add(7, { type: "timeout-now", resolve, reject }));
 * requests.take(7)?.resolve({ type: "timeout-now-response", term: 3, accepted: true });
 * await answer;
 * ```
 */
export class PeerRequests {
  readonly #replies = new Map<number, Reply>();

  /** Adds the request handed to the engine with `token`. */
  add(token: number, reply: Reply): void {
    this.#replies.set(token, reply);
  }

  /** Takes the request the engine answered for `token`, if it still waits. */
  take(token: number): Reply | undefined {
    const r = this.#replies.get(token);
    if (r !== undefined) this.#replies.delete(token);
    return r;
  }

  /** Rejects every request with `err` (shutdown, fatal error). */
  rejectAll(err: unknown): void {
    for (const r of this.#replies.values()) r.reject(err);
    this.#replies.clear();
  }
}
