/**
 * Exhaustiveness checks for the runtime's `switch` statements over a union
 * (command types, message types, refusal kinds): a new member of the union
 * that a `switch` does not handle is a type error at the `default`, and a
 * value outside the union that reaches it at run time is a `TypeError`.
 *
 * @module
 */

/**
 * Marks a `switch` exhaustive: `x` must have type `never` there. Throws a
 * `TypeError` if it is reached at run time all the same.
 *
 * @example
 * ```ts
 * import { assertNever } from "./exhaustive.ts";
 * type Shape = { kind: "dot" } | { kind: "line"; length: number };
 * function size(s: Shape): number {
 *   switch (s.kind) {
 *     case "dot":
 *       return 0;
 *     case "line":
 *       return s.length;
 *     default:
 *       return assertNever(s);
 *   }
 * }
 * console.assert(size({ kind: "line", length: 2 }) === 2);
 * ```
 */
export function assertNever(x: never): never {
  throw new TypeError(`unhandled case ${JSON.stringify(x)}`);
}

/**
 * Like {@linkcode assertNever}, for a `switch` over input that is checked at
 * run time (it may come from outside the type system): returns the
 * `TypeError` with `message`, for the caller to reject with, instead of
 * throwing it.
 *
 * @example
 * ```ts
 * import { unexpected } from "./exhaustive.ts";
 * type Request = { type: "ping" } | { type: "pong" };
 * function handle(r: Request): Promise<string> {
 *   switch (r.type) {
 *     case "ping":
 *     case "pong":
 *       return Promise.resolve(r.type);
 *     default:
 *       return Promise.reject(unexpected(r, "not a request"));
 *   }
 * }
 * handle({ type: "ping" });
 * ```
 */
export function unexpected(_x: never, message: string): TypeError {
  return new TypeError(message);
}
