/**
 * The exhaustiveness check for every `switch` over a message or command
 * type in the engine: its `default` branch passes the value here, so a new
 * type that some switch does not handle is a compile error there.
 *
 * Internal to the engine (the runtime has its own).
 *
 * @module
 */

/**
 * Marks a branch no value can reach: `x` has type `never` once every case
 * is handled. Throws if it is reached anyway (a value from outside the
 * type system, e.g. a forged message that skipped validation).
 *
 * @example
 * ```ts
 * import { assertNever } from "./_assert_never.ts";
 * type Shape = { kind: "dot" } | { kind: "line"; length: number };
 * function size(s: Shape): number {
 *   switch (s.kind) {
 *     case "dot":
 *       return 0;
 *     case "line":
 *       return s.length;
 *     default:
 *       return assertNever(s); // a new kind of Shape fails to compile here
 *   }
 * }
 * size({ kind: "line", length: 2 }); // 2
 * ```
 */
export function assertNever(x: never): never {
  throw new TypeError(`unhandled case ${JSON.stringify(x)}`);
}
