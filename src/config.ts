/**
 * Configuration of a Raft node: the options (openraft's, in TypeScript idiom),
 * their defaults, and validation. Durations are in milliseconds, sizes in
 * bytes, unless a field says otherwise.
 *
 * @module
 */

import { ConfigError } from "./errors.ts";

/**
 * When to build a snapshot: after `logs` entries were applied since the last
 * one, or never (only when triggered by hand).
 *
 * @example
 * ```ts
 * import type { SnapshotPolicy } from "./config.ts";
 * const policy: SnapshotPolicy = { kind: "logs-since-last", logs: 10_000 };
 * ```
 */
export type SnapshotPolicy =
  | { readonly kind: "logs-since-last"; readonly logs: number }
  | { readonly kind: "never" };

/**
 * The options of a Raft node. Build one with {@linkcode resolveConfig}, which
 * fills in {@linkcode DEFAULT_CONFIG} and validates.
 *
 * Removed options (refused with a `ConfigError` that says why):
 * `sendTimeout` and `installSnapshotTimeout` — the network's own deadlines
 * apply (`HttpNetwork`'s `timeout`, `snapshotTimeout`, `snapshotIdleTimeout`),
 * and the calls that wait take `{ timeout, signal }`; `enableTick` —
 * `enableElect` / `enableHeartbeat` (and `runtimeConfig`) switch off what
 * the timer drives.
 *
 * @example
 * ```ts
 * import { type Config, resolveConfig } from "./config.ts";
 * const config: Config = resolveConfig({ clusterName: "kv", heartbeatInterval: 100 });
 * ```
 */
export interface Config {
  /**
   * Name of the cluster, for people: every record the node's `logger`
   * receives carries it as the `cluster` field (the cluster's identity for
   * the protocol is the `clusterId` chosen at `initialize`). Default `"raft"`.
   */
  readonly clusterName: string;
  /** Lower bound of the randomized election timeout (ms). Default 150. */
  readonly electionTimeoutMin: number;
  /**
   * Upper bound (exclusive) of the randomized election timeout (ms): each
   * timeout is drawn from `[electionTimeoutMin, electionTimeoutMax)`. Also
   * the check-quorum period. Default 300.
   */
  readonly electionTimeoutMax: number;
  /** How often a leader sends heartbeats (ms); less than `electionTimeoutMin`. Default 50. */
  readonly heartbeatInterval: number;
  /** Most entries in one append request. Default 300. */
  readonly maxPayloadEntries: number;
  /** Most append requests in flight per peer while pipelining. Default 64. */
  readonly maxInflight: number;
  /**
   * A peer further behind the leader than this many entries counts as
   * lagging: `ReplicationMetrics.lagging` in the leader's metrics. Default 5000.
   */
  readonly replicationLagThreshold: number;
  /** When to build snapshots. Default `{ kind: "logs-since-last", logs: 5000 }`. */
  readonly snapshotPolicy: SnapshotPolicy;
  /** Entries kept in the log after a snapshot, for slow followers. Default 1000. */
  readonly maxInSnapshotLogsToKeep: number;
  /**
   * After a snapshot, purge the log only once at least this many entries
   * can go (fewer, larger purges). `trigger.purgeLog` ignores it. Default 1.
   */
  readonly purgeBatchSize: number;
  /** Bytes per snapshot chunk sent to a follower. Default 3 MiB. */
  readonly snapshotChunkSize: number;
  /** Run a pre-vote before an election, so a partitioned node cannot disrupt. Default true. */
  readonly preVote: boolean;
  /** A leader that hears from no quorum for an election timeout steps down. Default true. */
  readonly checkQuorum: boolean;
  /**
   * Subtracted from the leader lease for clock drift (ms); at least 0 and
   * less than `electionTimeoutMin`. Default 50.
   */
  readonly leaseMargin: number;
  /** Whether a follower starts an election on timeout. Default true. */
  readonly enableElect: boolean;
  /**
   * Let a leader repair a peer whose log went backwards (openraft's
   * `allow_log_reversion`). Default false.
   *
   * A peer that answers with a log shorter than (or different below) what
   * it acknowledged earlier — its data was wiped, or its store is not
   * durable — is stuck while this is off: the leader never sends below what
   * the peer matched. The leader logs it (a warning, once per peer and term)
   * and counts it (`raft.counters().logReversions`), and the peer recovers
   * only when the leader changes. When on, the leader resets that peer's
   * progress and sends it the entries (or a snapshot) again.
   *
   * Safety caveat: a node that lost its log may also have lost its vote, and
   * can then vote twice in one term — two leaders in a term, and committed
   * entries lost. Turn it on only for learners, or with log stores that
   * never lose what they acknowledged (a non-durable store for a node that
   * never votes; a store restored only together with its vote). It does not
   * make wiping a voter safe.
   */
  readonly allowLogReversion: boolean;
  /** Whether a leader sends heartbeats. Default true. */
  readonly enableHeartbeat: boolean;
  /** Largest client command accepted (bytes). Default 16 MiB. */
  readonly maxPayloadBytes: number;
  /**
   * Largest append request sent to a peer, in bytes as encoded (counted from
   * above): a batch of entries over it goes as several consecutive requests.
   * A request carries at least one entry, so an entry larger than this (up to
   * `maxPayloadBytes`) goes alone. Keep it at most the peers' body limit
   * (`raftRoutes`' `maxBodyBytes`, default 64 MiB, which refuses a smaller
   * one). At least 4096. Default 1 MiB.
   */
  readonly maxAppendBytes: number;
}

/**
 * The default options.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONFIG } from "./config.ts";
 * console.assert(DEFAULT_CONFIG.heartbeatInterval === 50);
 * ```
 */
export const DEFAULT_CONFIG: Config = Object.freeze({
  clusterName: "raft",
  electionTimeoutMin: 150,
  electionTimeoutMax: 300,
  heartbeatInterval: 50,
  maxPayloadEntries: 300,
  maxInflight: 64,
  replicationLagThreshold: 5000,
  snapshotPolicy: Object.freeze({ kind: "logs-since-last", logs: 5000 } as const),
  maxInSnapshotLogsToKeep: 1000,
  purgeBatchSize: 1,
  snapshotChunkSize: 3 * 1024 * 1024,
  preVote: true,
  checkQuorum: true,
  leaseMargin: 50,
  enableElect: true,
  enableHeartbeat: true,
  allowLogReversion: false,
  maxPayloadBytes: 16 * 1024 * 1024,
  maxAppendBytes: 1024 * 1024,
});

/** Options that existed but did nothing, and what to use instead. */
const _REMOVED: Readonly<Record<string, string>> = {
  sendTimeout: "the network's deadline applies (HttpNetwork's `timeout`); calls that wait " +
    "take { timeout, signal }",
  installSnapshotTimeout: "the network's snapshot deadlines apply (HttpNetwork's " +
    "`snapshotTimeout` and `snapshotIdleTimeout`)",
  enableTick: "use enableElect and enableHeartbeat (or raft.runtimeConfig) to switch off " +
    "what the timer drives",
};

/** The smallest `maxAppendBytes`: room for a request's own fields and a few entries. */
const MIN_APPEND_BYTES = 4096;

type _Kind = "string" | "boolean" | "positive" | "nonNegative" | "policy";

const _FIELDS: Readonly<Record<keyof Config, _Kind>> = {
  clusterName: "string",
  electionTimeoutMin: "positive",
  electionTimeoutMax: "positive",
  heartbeatInterval: "positive",
  maxPayloadEntries: "positive",
  maxInflight: "positive",
  replicationLagThreshold: "nonNegative",
  snapshotPolicy: "policy",
  maxInSnapshotLogsToKeep: "nonNegative",
  purgeBatchSize: "positive",
  snapshotChunkSize: "positive",
  preVote: "boolean",
  checkQuorum: "boolean",
  leaseMargin: "nonNegative",
  enableElect: "boolean",
  enableHeartbeat: "boolean",
  allowLogReversion: "boolean",
  maxPayloadBytes: "positive",
  maxAppendBytes: "positive",
};

/**
 * Fills the options left out of `partial` from {@linkcode DEFAULT_CONFIG},
 * validates the result with {@linkcode validateConfig} and returns it frozen.
 * A key given as `undefined` takes its default. The input is not modified.
 *
 * @throws {ConfigError} for an unknown option, a wrong type or a bad value.
 *
 * @example
 * ```ts
 * import { resolveConfig } from "./config.ts";
 * const config = resolveConfig({ electionTimeoutMin: 300, electionTimeoutMax: 600 });
 * console.assert(config.heartbeatInterval === 50);
 * ```
 */
export function resolveConfig(partial?: Partial<Config>): Config;
export function resolveConfig(partial: Partial<Config> = {}): Config {
  if (typeof partial !== "object" || partial === null || Array.isArray(partial)) {
    throw new ConfigError("config", `config must be an object, got ${_describe(partial)}`);
  }
  const merged: Record<string, unknown> = { ...DEFAULT_CONFIG };
  for (const [key, value] of Object.entries(partial)) {
    // An unknown key is kept even when undefined, so that validation reports it.
    if (value !== undefined || !Object.hasOwn(_FIELDS, key)) merged[key] = value;
  }
  validateConfig(merged);
  const policy = merged.snapshotPolicy as SnapshotPolicy;
  return Object.freeze({
    ...merged,
    snapshotPolicy: Object.freeze(
      policy.kind === "never" ? { kind: "never" } : { kind: policy.kind, logs: policy.logs },
    ),
  }) as Config;
}

/**
 * Checks that `config` is a complete, valid {@linkcode Config}: every option
 * present with the right type, integers where integers, positive where
 * needed, no unknown option (a misspelled option must not silently do
 * nothing), and consistent combinations:
 * `heartbeatInterval < electionTimeoutMin < electionTimeoutMax`,
 * `0 <= leaseMargin < electionTimeoutMin` and `maxAppendBytes >= 4096`.
 * Never modifies `config`.
 *
 * @throws {ConfigError} naming the offending option.
 *
 * @example
 * ```ts
 * import { DEFAULT_CONFIG, validateConfig } from "./config.ts";
 * validateConfig(DEFAULT_CONFIG); // ok
 * try {
 *   validateConfig({ ...DEFAULT_CONFIG, heartbeatInterval: 500 });
 * } catch (e) {
 *   console.log((e as Error).message); // heartbeatInterval (500) must be less than …
 * }
 * ```
 */
export function validateConfig(config: unknown): asserts config is Config {
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ConfigError("config", `config must be an object, got ${_describe(config)}`);
  }
  const c = config as Record<string, unknown>;
  const known = Object.keys(_FIELDS);
  for (const key of Object.keys(c)) {
    const removed = Object.hasOwn(_REMOVED, key) ? _REMOVED[key] : undefined;
    if (removed !== undefined) {
      throw new ConfigError(key, `config option "${key}" was removed: ${removed}`);
    }
    if (!Object.hasOwn(_FIELDS, key)) {
      const near = _closest(key, known);
      throw new ConfigError(
        key,
        `unknown config option "${key}"` + (near ? ` (did you mean "${near}"?)` : ""),
      );
    }
  }
  for (const [key, kind] of Object.entries(_FIELDS) as [keyof Config, _Kind][]) {
    if (!Object.hasOwn(c, key)) {
      throw new ConfigError(key, `config option ${key} is missing`);
    }
    _checkField(key, kind, c[key]);
  }
  const cfg = c as unknown as Config;
  if (cfg.electionTimeoutMin >= cfg.electionTimeoutMax) {
    throw new ConfigError(
      "electionTimeoutMin",
      `electionTimeoutMin (${cfg.electionTimeoutMin}) must be less than ` +
        `electionTimeoutMax (${cfg.electionTimeoutMax})`,
    );
  }
  if (cfg.heartbeatInterval >= cfg.electionTimeoutMin) {
    throw new ConfigError(
      "heartbeatInterval",
      `heartbeatInterval (${cfg.heartbeatInterval}) must be less than ` +
        `electionTimeoutMin (${cfg.electionTimeoutMin})`,
    );
  }
  if (cfg.maxAppendBytes < MIN_APPEND_BYTES) {
    throw new ConfigError(
      "maxAppendBytes",
      `maxAppendBytes (${cfg.maxAppendBytes}) must be at least ${MIN_APPEND_BYTES}`,
    );
  }
  if (cfg.leaseMargin >= cfg.electionTimeoutMin) {
    throw new ConfigError(
      "leaseMargin",
      `leaseMargin (${cfg.leaseMargin}) must be less than ` +
        `electionTimeoutMin (${cfg.electionTimeoutMin})`,
    );
  }
}

function _checkField(key: string, kind: _Kind, value: unknown): void {
  switch (kind) {
    case "string":
      if (typeof value !== "string" || value.length === 0) {
        throw new ConfigError(key, `${key} must be a non-empty string, got ${_describe(value)}`);
      }
      return;
    case "boolean":
      if (typeof value !== "boolean") {
        throw new ConfigError(key, `${key} must be a boolean, got ${_describe(value)}`);
      }
      return;
    case "positive":
      if (!Number.isSafeInteger(value) || (value as number) < 1) {
        throw new ConfigError(key, `${key} must be a positive integer, got ${_describe(value)}`);
      }
      return;
    case "nonNegative":
      if (!Number.isSafeInteger(value) || (value as number) < 0) {
        throw new ConfigError(
          key,
          `${key} must be a non-negative integer, got ${_describe(value)}`,
        );
      }
      return;
    case "policy":
      _checkPolicy(key, value);
      return;
  }
}

function _checkPolicy(key: string, value: unknown): void {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(
      key,
      `${key} must be { kind: "logs-since-last", logs } or { kind: "never" }, ` +
        `got ${_describe(value)}`,
    );
  }
  const p = value as Record<string, unknown>;
  const allowed = p.kind === "logs-since-last" ? ["kind", "logs"] : ["kind"];
  if (p.kind !== "logs-since-last" && p.kind !== "never") {
    throw new ConfigError(
      key,
      `${key}.kind must be "logs-since-last" or "never", got ${_describe(p.kind)}`,
    );
  }
  for (const k of Object.keys(p)) {
    if (!allowed.includes(k)) {
      throw new ConfigError(key, `unknown option "${k}" in ${key} of kind "${p.kind}"`);
    }
  }
  if (p.kind === "logs-since-last" && (!Number.isSafeInteger(p.logs) || (p.logs as number) < 1)) {
    throw new ConfigError(key, `${key}.logs must be a positive integer, got ${_describe(p.logs)}`);
  }
}

function _describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (Array.isArray(value)) return "an array";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  return `${typeof value === "bigint" ? `${value}n` : String(value)} (${typeof value})`;
}

/** The known key nearest to `key` by edit distance, if near enough to be a typo. */
function _closest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = _editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 4)) ? best : null;
}

function _editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length]!;
}
