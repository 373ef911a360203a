/**
 * Quorum math over a membership's voter sets. A joint configuration has two
 * sets, and a decision needs a majority of every one of them. Learners are
 * in no set, so they never count.
 *
 * @module
 */

import type { NodeId } from "../types.ts";

/**
 * Whether `granted` holds a majority of every voter set. An empty list of
 * sets has no quorum (an uninitialized node decides nothing).
 *
 * @example
 * ```ts
 * import { hasQuorum } from "./quorum.ts";
 * hasQuorum([[1, 2, 3]], new Set([1, 2])); // true
 * hasQuorum([[1, 2, 3], [2, 3, 4]], new Set([1, 2])); // false: {2,3,4} lacks a majority
 * ```
 */
export function hasQuorum(
  configs: readonly (readonly NodeId[])[],
  granted: ReadonlySet<NodeId>,
): boolean {
  if (configs.length === 0) return false;
  for (const voters of configs) {
    if (voters.length === 0) return false;
    let n = 0;
    for (const id of voters) if (granted.has(id)) n++;
    if (n * 2 <= voters.length) return false;
  }
  return true;
}

/**
 * The largest value that a majority of every voter set has reached, where
 * `valueOf(id)` gives each voter's value (a match index, an acked round…).
 * Returns 0 for an empty list of sets.
 *
 * @example
 * ```ts
 * import { quorumValue } from "./quorum.ts";
 * const match = new Map([[1, 9], [2, 7], [3, 2]]);
 * quorumValue([[1, 2, 3]], (id) => match.get(id) ?? 0); // 7
 * ```
 */
export function quorumValue(
  configs: readonly (readonly NodeId[])[],
  valueOf: (id: NodeId) => number,
): number {
  if (configs.length === 0) return 0;
  if (configs.length === 1 && configs[0]!.length === 3) {
    // The common case, without allocating: the median of three.
    const c = configs[0]!;
    const a = valueOf(c[0]!);
    const b = valueOf(c[1]!);
    const d = valueOf(c[2]!);
    return Math.max(Math.min(a, b), Math.min(Math.max(a, b), d));
  }
  let result = Infinity;
  for (const voters of configs) {
    if (voters.length === 0) return 0;
    const values = voters.map(valueOf).sort((a, b) => b - a);
    // The majority-th largest value is held by a majority.
    const v = values[Math.floor(voters.length / 2)]!;
    if (v < result) result = v;
  }
  return result;
}
