/**
 * Checks every peer message passes before the protocol looks at it: it
 * comes from this node's cluster, and its term is one a real cluster can
 * reach. A request that fails is refused (the runtime answers it with a
 * `RaftError`); a response that fails is dropped. Either way nothing changes.
 *
 * @module
 */

import type { RaftMessage } from "../messages.ts";
import { assertNever } from "./_assert_never.ts";
import { MAX_PEER_TERM, type NodeId } from "../types.ts";
import type { Refusal } from "./commands.ts";
import type { EngineCore } from "./engine_core.ts";

/**
 * Why `message` from `from` must be refused, or `null` if it may be
 * handled. A node that has a membership (initialized, or joined) accepts
 * requests of its own cluster only; a blank node accepts any cluster's, and
 * takes that cluster's id with the first membership entry (or snapshot) it
 * stores. Terms above `MAX_PEER_TERM` are refused from anyone.
 *
 * @example
 * ```ts ignore
 * const refusal = peerRefusal(core, 2, message);
 * if (refusal !== null) core.emit({ type: "refuse", token, refusal });
 * ```
 */
export function peerRefusal(core: EngineCore, from: NodeId, message: RaftMessage): Refusal | null {
  if (message.term > MAX_PEER_TERM) {
    return { kind: "term-too-high", term: message.term, max: MAX_PEER_TERM };
  }
  switch (message.type) {
    case "append":
    case "vote":
    case "pre-vote":
    case "timeout-now":
    case "install-snapshot": {
      const own = core.effective().membership;
      if (own.configs.length === 0) return null; // blank: not in any cluster yet
      const expected = own.clusterId;
      if (message.clusterId === expected) return null;
      return { kind: "cluster-mismatch", expected, got: message.clusterId, from };
    }
    case "append-response":
    case "vote-response":
    case "pre-vote-response":
    case "timeout-now-response":
    case "install-snapshot-response":
      return null;
    default:
      return assertNever(message);
  }
}
