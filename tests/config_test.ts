import { test } from "node:test";
import assert from "node:assert/strict";
import { type Config, DEFAULT_CONFIG, resolveConfig, validateConfig } from "../src/config.ts";
import { ConfigError } from "../src/errors.ts";

/** Asserts that `fn` throws a ConfigError for `field` whose message names it. */
function throwsFor(fn: () => unknown, field: string, message?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e}`);
    assert.equal(e.field, field);
    assert.ok(e.message.includes(field), `message "${e.message}" should name ${field}`);
    if (message) assert.match(e.message, message);
    return true;
  });
}

/** `resolveConfig` with values that may not type-check (what JS callers can pass). */
function resolveLoose(partial: Record<string, unknown>): Config {
  return resolveConfig(partial as Partial<Config>);
}

test("config: defaults match the documented values", () => {
  assert.deepEqual(DEFAULT_CONFIG, {
    clusterName: "raft",
    electionTimeoutMin: 150,
    electionTimeoutMax: 300,
    heartbeatInterval: 50,
    maxPayloadEntries: 300,
    maxInflight: 64,
    replicationLagThreshold: 5000,
    snapshotPolicy: { kind: "logs-since-last", logs: 5000 },
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
  validateConfig(DEFAULT_CONFIG);
});

test("config: DEFAULT_CONFIG is frozen, deeply", () => {
  assert.ok(Object.isFrozen(DEFAULT_CONFIG));
  assert.ok(Object.isFrozen(DEFAULT_CONFIG.snapshotPolicy));
});

test("config: resolveConfig without arguments gives the defaults", () => {
  assert.deepEqual(resolveConfig(), DEFAULT_CONFIG);
  assert.deepEqual(resolveConfig({}), DEFAULT_CONFIG);
});

test("config: resolveConfig fills what is left out and keeps what is given", () => {
  const c = resolveConfig({
    clusterName: "kv",
    heartbeatInterval: 100,
    electionTimeoutMin: 300,
    electionTimeoutMax: 600,
    snapshotPolicy: { kind: "never" },
    preVote: false,
  });
  assert.equal(c.clusterName, "kv");
  assert.equal(c.heartbeatInterval, 100);
  assert.equal(c.electionTimeoutMin, 300);
  assert.equal(c.electionTimeoutMax, 600);
  assert.deepEqual(c.snapshotPolicy, { kind: "never" });
  assert.equal(c.preVote, false);
  assert.equal(c.maxInflight, 64);
  assert.equal(c.maxPayloadEntries, 300);
});

test("config: resolveConfig returns a frozen copy and leaves its input alone", () => {
  const policy = { kind: "logs-since-last", logs: 10 } as const;
  const partial: Partial<Config> = { maxInflight: 8, snapshotPolicy: policy };
  const c = resolveConfig(partial);
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.snapshotPolicy));
  assert.notEqual(c.snapshotPolicy, policy);
  assert.ok(!Object.isFrozen(policy));
  assert.deepEqual(partial, {
    maxInflight: 8,
    snapshotPolicy: { kind: "logs-since-last", logs: 10 },
  });
});

test("config: a key given as undefined takes its default", () => {
  const c = resolveLoose({ heartbeatInterval: undefined });
  assert.equal(c.heartbeatInterval, 50);
});

test("config: validateConfig never mutates its input", () => {
  const good = structuredClone(DEFAULT_CONFIG) as Config;
  const frozen = Object.freeze({
    ...good,
    snapshotPolicy: Object.freeze({ ...good.snapshotPolicy }),
  });
  validateConfig(frozen); // would throw in strict mode if it tried to write
  const bad = { ...structuredClone(DEFAULT_CONFIG), heartbeatInterval: 1000 };
  const before = structuredClone(bad);
  assert.throws(() => validateConfig(bad), ConfigError);
  assert.deepEqual(bad, before);
});

test("config: integers are required where integers are meant", () => {
  throwsFor(() => resolveConfig({ heartbeatInterval: 10.5 }), "heartbeatInterval", /integer/);
  throwsFor(() => resolveConfig({ maxInflight: 2.5 }), "maxInflight", /integer/);
  throwsFor(() => resolveConfig({ snapshotChunkSize: 1e300 }), "snapshotChunkSize");
  throwsFor(() => resolveConfig({ leaseMargin: NaN }), "leaseMargin");
  throwsFor(() => resolveConfig({ heartbeatInterval: Infinity }), "heartbeatInterval");
  throwsFor(() => resolveConfig({ maxInSnapshotLogsToKeep: 0.1 }), "maxInSnapshotLogsToKeep");
});

test("config: durations and sizes must be positive", () => {
  for (
    const field of [
      "electionTimeoutMin",
      "electionTimeoutMax",
      "heartbeatInterval",
      "maxPayloadEntries",
      "maxInflight",
      "purgeBatchSize",
      "snapshotChunkSize",
      "maxPayloadBytes",
      "maxAppendBytes",
    ] as const
  ) {
    throwsFor(() => resolveLoose({ [field]: 0 }), field, /positive/);
    throwsFor(() => resolveLoose({ [field]: -5 }), field, /positive/);
  }
});

test("config: counts that may be zero must not be negative", () => {
  assert.equal(resolveConfig({ maxInSnapshotLogsToKeep: 0 }).maxInSnapshotLogsToKeep, 0);
  assert.equal(resolveConfig({ replicationLagThreshold: 0 }).replicationLagThreshold, 0);
  assert.equal(resolveConfig({ leaseMargin: 0 }).leaseMargin, 0);
  throwsFor(() => resolveConfig({ maxInSnapshotLogsToKeep: -1 }), "maxInSnapshotLogsToKeep");
  throwsFor(() => resolveConfig({ replicationLagThreshold: -1 }), "replicationLagThreshold");
});

test("config: electionTimeoutMin must be less than electionTimeoutMax", () => {
  throwsFor(
    () => resolveConfig({ electionTimeoutMin: 300, electionTimeoutMax: 300 }),
    "electionTimeoutMin",
    /electionTimeoutMax/,
  );
  throwsFor(
    () => resolveConfig({ electionTimeoutMin: 400, electionTimeoutMax: 300 }),
    "electionTimeoutMin",
  );
  assert.doesNotThrow(() => resolveConfig({ electionTimeoutMin: 299, electionTimeoutMax: 300 }));
});

test("config: heartbeatInterval must be less than electionTimeoutMin", () => {
  throwsFor(
    () => resolveConfig({ heartbeatInterval: 150 }),
    "heartbeatInterval",
    /electionTimeoutMin/,
  );
  throwsFor(() => resolveConfig({ heartbeatInterval: 200 }), "heartbeatInterval");
  assert.doesNotThrow(() => resolveConfig({ heartbeatInterval: 149 }));
});

test("config: leaseMargin must be at least 0 and less than electionTimeoutMin", () => {
  throwsFor(() => resolveConfig({ leaseMargin: -1 }), "leaseMargin", /non-negative/);
  throwsFor(() => resolveConfig({ leaseMargin: 150 }), "leaseMargin", /electionTimeoutMin/);
  throwsFor(() => resolveConfig({ leaseMargin: 12.5 }), "leaseMargin");
  assert.doesNotThrow(() => resolveConfig({ leaseMargin: 149 }));
});

test("config: maxPayloadEntries and maxInflight must be at least 1", () => {
  throwsFor(() => resolveConfig({ maxPayloadEntries: 0 }), "maxPayloadEntries");
  throwsFor(() => resolveConfig({ maxInflight: 0 }), "maxInflight");
  const c = resolveConfig({ maxPayloadEntries: 1, maxInflight: 1 });
  assert.equal(c.maxPayloadEntries, 1);
  assert.equal(c.maxInflight, 1);
});

test("config: snapshotPolicy logs must be at least 1", () => {
  throwsFor(
    () => resolveConfig({ snapshotPolicy: { kind: "logs-since-last", logs: 0 } }),
    "snapshotPolicy",
    /logs/,
  );
  throwsFor(
    () => resolveConfig({ snapshotPolicy: { kind: "logs-since-last", logs: 1.5 } }),
    "snapshotPolicy",
  );
  throwsFor(() => resolveLoose({ snapshotPolicy: { kind: "logs-since-last" } }), "snapshotPolicy");
  assert.deepEqual(
    resolveConfig({ snapshotPolicy: { kind: "logs-since-last", logs: 1 } }).snapshotPolicy,
    { kind: "logs-since-last", logs: 1 },
  );
});

test("config: snapshotPolicy must be a known kind without extra keys", () => {
  throwsFor(
    () => resolveLoose({ snapshotPolicy: { kind: "sometimes" } }),
    "snapshotPolicy",
    /kind/,
  );
  throwsFor(() => resolveLoose({ snapshotPolicy: "never" }), "snapshotPolicy");
  throwsFor(() => resolveLoose({ snapshotPolicy: null }), "snapshotPolicy");
  throwsFor(() => resolveLoose({ snapshotPolicy: [] }), "snapshotPolicy");
  throwsFor(() => resolveLoose({ snapshotPolicy: { kind: "never", logs: 5 } }), "snapshotPolicy");
  throwsFor(
    () => resolveLoose({ snapshotPolicy: { kind: "logs-since-last", logs: 5, log: 6 } }),
    "snapshotPolicy",
    /"log"/,
  );
});

test("config: unknown keys are rejected, with a suggestion for typos", () => {
  throwsFor(
    () => resolveLoose({ heartbeatIntervall: 10 }),
    "heartbeatIntervall",
    /did you mean "heartbeatInterval"/,
  );
  throwsFor(
    () => resolveLoose({ electiontimeoutmin: 10 }),
    "electiontimeoutmin",
    /electionTimeoutMin/,
  );
  throwsFor(() => resolveLoose({ somethingElse: true }), "somethingElse", /unknown/);
  assert.throws(() => resolveLoose({ somethingElse: true }), (e: unknown) => {
    assert.ok(e instanceof ConfigError);
    assert.doesNotMatch(e.message, /did you mean/);
    return true;
  });
  // A misspelled key is reported even when its value is undefined.
  throwsFor(() => resolveLoose({ maxInFlight: undefined }), "maxInFlight", /maxInflight/);
  throwsFor(() => validateConfig({ ...DEFAULT_CONFIG, extra: 1 }), "extra");
});

test("config: wrong types are rejected", () => {
  throwsFor(() => resolveLoose({ heartbeatInterval: "50" }), "heartbeatInterval", /"50"/);
  throwsFor(() => resolveLoose({ maxInflight: 64n }), "maxInflight");
  throwsFor(() => resolveLoose({ preVote: "yes" }), "preVote", /boolean/);
  throwsFor(() => resolveLoose({ checkQuorum: 1 }), "checkQuorum", /boolean/);
  throwsFor(() => resolveLoose({ allowLogReversion: 1 }), "allowLogReversion", /boolean/);
  throwsFor(() => resolveLoose({ enableElect: null }), "enableElect");
  throwsFor(() => resolveLoose({ clusterName: 5 }), "clusterName", /string/);
  throwsFor(() => resolveLoose({ clusterName: "" }), "clusterName");
  throwsFor(() => resolveLoose({ maxInflight: [64] }), "maxInflight");
});

test("config: a non-object config is rejected", () => {
  throwsFor(() => validateConfig(null), "config");
  throwsFor(() => validateConfig(42), "config");
  throwsFor(() => validateConfig([]), "config");
  throwsFor(() => resolveConfig(null as unknown as Partial<Config>), "config");
});

test("config: validateConfig requires every option", () => {
  const { maxInflight: _, ...rest } = DEFAULT_CONFIG;
  throwsFor(() => validateConfig(rest), "maxInflight", /missing/);
});

test("config: every error is a ConfigError naming a real field or the key at fault", () => {
  // One bad value per field: the error's field is exactly that field.
  const bad: Record<string, unknown> = {
    clusterName: 1,
    electionTimeoutMin: -1,
    electionTimeoutMax: "x",
    heartbeatInterval: 0,
    maxPayloadEntries: 0,
    maxInflight: 0,
    replicationLagThreshold: -1,
    snapshotPolicy: {},
    maxInSnapshotLogsToKeep: -1,
    purgeBatchSize: 0,
    snapshotChunkSize: 0,
    preVote: 0,
    checkQuorum: 0,
    leaseMargin: -1,
    enableElect: 0,
    enableHeartbeat: 0,
    allowLogReversion: "yes",
    maxPayloadBytes: 0,
    maxAppendBytes: 4095,
  };
  assert.deepEqual(Object.keys(bad).sort(), Object.keys(DEFAULT_CONFIG).sort());
  for (const [field, value] of Object.entries(bad)) {
    throwsFor(() => resolveLoose({ [field]: value }), field);
  }
});

test("config: options that did nothing are refused, saying what to use instead", () => {
  throwsFor(() => resolveLoose({ sendTimeout: 500 }), "sendTimeout", /removed.*HttpNetwork/);
  throwsFor(
    () => resolveLoose({ installSnapshotTimeout: 200 }),
    "installSnapshotTimeout",
    /removed.*snapshotTimeout/,
  );
  throwsFor(() => resolveLoose({ enableTick: false }), "enableTick", /removed.*enableElect/);
  throwsFor(() => validateConfig({ ...DEFAULT_CONFIG, sendTimeout: 500 }), "sendTimeout");
});
