/**
 * Checks of the transport's constructor options (`raftRoutes`,
 * `adminRoutes`, `HttpNetwork`): a bad one is a `ConfigError` naming it.
 *
 * @module
 */

import { ConfigError } from "../errors.ts";

/**
 * `n` when it is a non-negative safe integer (a size, a count, a limit);
 * a `ConfigError` naming the option otherwise.
 *
 * @example
 * ```ts
 * import { countOption } from "./_option_checks.ts";
 * console.assert(countOption("maxBodyBytes", 1024) === 1024);
 * ```
 */
export function countOption(name: string, n: unknown): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new ConfigError(name, `${name} must be a non-negative integer, got ${String(n)}`);
  }
  return n;
}
