/**
 * The node's structured logging hook ({@linkcode Logger}), the silent
 * default, and the guard that keeps a failing hook from stopping the node.
 *
 * @module
 */

/**
 * Structured logging hook. Every method receives a message and fields.
 *
 * @example
 * ```ts
 * import type { Logger } from "./logger.ts";
 * const logger: Logger = {
 *   debug: () => {}, info: () => {}, warn: console.warn, error: console.error,
 * };
 * ```
 */
export interface Logger {
  /** Verbose protocol events. */
  debug(message: string, fields?: Record<string, unknown>): void;
  /** Role changes, membership changes. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Recoverable problems (unreachable peers). */
  warn(message: string, fields?: Record<string, unknown>): void;
  /** Fatal problems (storage errors). */
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * A logger that logs nothing (the default).
 *
 * @example
 * ```ts
 * import { SILENT } from "./logger.ts";
 * SILENT.warn("dropped");
 * ```
 */
export const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A logger whose failures are swallowed: a broken logging hook must not stop
 * the node.
 *
 * @example
 * ```ts
 * import { guardedLogger } from "./logger.ts";
 * const log = guardedLogger({
 *   debug() {}, info() {}, warn() {}, error() { throw new Error("broken hook"); },
 * });
 * log.error("storage failed"); // does not throw
 * ```
 */
export function guardedLogger(logger: Logger): Logger {
  const call = (level: keyof Logger) => (message: string, fields?: Record<string, unknown>) => {
    try {
      logger[level](message, fields);
    } catch {
      // Nothing to report it to.
    }
  };
  return { debug: call("debug"), info: call("info"), warn: call("warn"), error: call("error") };
}

/**
 * The logger a node hands its records to: guarded (see
 * {@linkcode guardedLogger}), every record carrying `context` (the node's
 * `id` and `cluster`) before its own fields.
 *
 * @example
 * ```ts
 * import { nodeLogger } from "./logger.ts";
 * const seen: Record<string, unknown>[] = [];
 * const record = (_m: string, f?: Record<string, unknown>) => void seen.push(f ?? {});
 * const log = nodeLogger(
 *   { debug: record, info: record, warn: record, error: record },
 *   { id: 1, cluster: "kv" },
 * );
 * log.info("role changed", { to: "leader" });
 * console.assert(seen[0]!.id === 1 && seen[0]!.cluster === "kv" && seen[0]!.to === "leader");
 * ```
 */
export function nodeLogger(
  logger: Logger,
  context: Readonly<Record<string, unknown>>,
): Logger {
  const call = (level: keyof Logger) => (message: string, fields?: Record<string, unknown>) => {
    try {
      logger[level](message, fields === undefined ? { ...context } : { ...context, ...fields });
    } catch {
      // Nothing to report it to.
    }
  };
  return { debug: call("debug"), info: call("info"), warn: call("warn"), error: call("error") };
}
