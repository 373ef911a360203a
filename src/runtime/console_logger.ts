/**
 * {@linkcode consoleLogger}: a provided {@linkcode Logger} that writes one
 * line per record at or above a level (`debug` < `info` < `warn` <
 * `error`) to the console's error stream: a JSON object by default
 * (`{"time":…,"level":…,"msg":…, …fields}`), or logfmt
 * (`time=… level=info msg="role changed" id=1 …`) with `format: "text"`.
 *
 * @module
 */

import { InvalidArgument } from "../errors.ts";
import type { Logger } from "./logger.ts";

/**
 * The levels of a record, from the most verbose.
 *
 * @example
 * ```ts
 * import type { LogLevel } from "./console_logger.ts";
 * const level: LogLevel = "warn";
 * ```
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * Every level, from the most verbose (`debug`) to the least (`error`).
 *
 * @example
 * ```ts
 * import { LOG_LEVELS } from "./console_logger.ts";
 * console.assert(LOG_LEVELS.indexOf("info") < LOG_LEVELS.indexOf("warn"));
 * ```
 */
export const LOG_LEVELS: readonly LogLevel[] = Object.freeze(["debug", "info", "warn", "error"]);

/**
 * Whether `value` names a level.
 *
 * @example
 * ```ts
 * import { isLogLevel } from "./console_logger.ts";
 * console.assert(isLogLevel("info") && !isLogLevel("verbose"));
 * ```
 */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * Options of {@linkcode consoleLogger}.
 *
 * @example
 * ```ts
 * import type { ConsoleLoggerOptions } from "./console_logger.ts";
 * const lines: string[] = [];
 * const options: ConsoleLoggerOptions = { level: "debug", format: "text", write: (l) => lines.push(l) };
 * ```
 */
export interface ConsoleLoggerOptions {
  /** The least level written (default `info`). */
  readonly level?: LogLevel;
  /** `json` (default): one JSON object per line; `text`: logfmt `key=value` pairs. */
  readonly format?: "json" | "text";
  /** Where a line goes (default `console.error`: the process's error stream). */
  readonly write?: (line: string, level: LogLevel) => void;
  /** The time a record carries (default `() => new Date()`). */
  readonly now?: () => Date;
}

/**
 * A {@linkcode Logger} writing one line per record at or above `level`.
 * Each line has `time` (ISO 8601), `level`, `msg`, then the record's fields
 * (a node's records carry `id` and `cluster` first). Values that JSON cannot
 * carry (bigints, errors, cycles) are written as strings.
 *
 * @example
 * ```ts
 * import { consoleLogger } from "./console_logger.ts";
 * const lines: string[] = [];
 * const log = consoleLogger({ level: "info", write: (line) => lines.push(line) });
 * log.debug("not written");
 * log.info("role changed", { id: 1, cluster: "kv", to: "leader" });
 * const record = JSON.parse(lines[0]!);
 * console.assert(lines.length === 1 && record.level === "info" && record.to === "leader");
 * ```
 */
export function consoleLogger(options?: ConsoleLoggerOptions): Logger;
export function consoleLogger(options: ConsoleLoggerOptions = {}): Logger {
  const level = options.level ?? "info";
  if (!isLogLevel(level)) {
    throw new InvalidArgument(
      "level",
      `unknown log level ${String(level)}: ${LOG_LEVELS.join(", ")}`,
    );
  }
  const least = LOG_LEVELS.indexOf(level);
  const write = options.write ?? ((line: string) => console.error(line));
  const now = options.now ?? (() => new Date());
  const format = options.format === "text" ? _logfmt : _json;
  const at = (l: LogLevel) => {
    if (LOG_LEVELS.indexOf(l) < least) return () => {};
    return (message: string, fields?: Record<string, unknown>) => {
      write(format(now().toISOString(), l, message, fields), l);
    };
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

function _json(
  time: string,
  level: LogLevel,
  message: string,
  fields: Record<string, unknown> | undefined,
): string {
  const record: Record<string, unknown> = { time, level, msg: message };
  if (fields !== undefined) {
    for (const [k, v] of Object.entries(fields)) {
      if (k !== "time" && k !== "level" && k !== "msg") record[k] = _plain(v);
    }
  }
  try {
    return JSON.stringify(record);
  } catch {
    // A cycle: every field as a string.
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(record)) flat[k] = String(v);
    return JSON.stringify(flat);
  }
}

function _logfmt(
  time: string,
  level: LogLevel,
  message: string,
  fields: Record<string, unknown> | undefined,
): string {
  const parts = [`time=${time}`, `level=${level}`, `msg=${_quote(message)}`];
  if (fields !== undefined) {
    for (const [k, v] of Object.entries(fields)) {
      if (k === "time" || k === "level" || k === "msg") continue;
      const p = _plain(v);
      const s = typeof p === "string" ? p : p === undefined ? "" : JSON.stringify(p) ?? String(p);
      parts.push(`${k}=${_quote(s)}`);
    }
  }
  return parts.join(" ");
}

/** `v` as JSON can carry it: bigints and errors as strings, the rest as is. */
function _plain(v: unknown): unknown {
  if (typeof v === "bigint") return v.toString();
  if (v instanceof Error) return String(v);
  return v;
}

/** A logfmt value: quoted when it has spaces, quotes, `=` or nothing. */
function _quote(s: string): string {
  return s === "" || /[\s"=\\]/.test(s) ? JSON.stringify(s) : s;
}
