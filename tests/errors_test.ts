import { test } from "node:test";
import assert from "node:assert/strict";
import {
  Aborted,
  AlreadyInitialized,
  ApplyError,
  ChangeMembershipError,
  ConfigError,
  EmptyMembership,
  ForwardToLeader,
  InProgress,
  InvalidArgument,
  InvalidMessage,
  LearnerNotFound,
  NotInitialized,
  NotInMembers,
  OutcomeUnknown,
  PayloadTooLarge,
  PreconditionFailed,
  QuorumNotEnough,
  RaftError,
  ShuttingDown,
  StateMachineBehindLog,
  StorageError,
  Timeout,
  Unreachable,
} from "../src/errors.ts";

const CASES: [RaftError, string][] = [
  [new ForwardToLeader(2, { addr: "http://b" }), "ForwardToLeader"],
  [new NotInitialized(), "NotInitialized"],
  [new AlreadyInitialized(), "AlreadyInitialized"],
  [new NotInMembers(4, [1, 2, 3]), "NotInMembers"],
  [new InProgress(null, { term: 1, index: 2 }), "InProgress"],
  [new EmptyMembership(), "EmptyMembership"],
  [new LearnerNotFound(5), "LearnerNotFound"],
  [new QuorumNotEnough("[1, 2, 3]", [1]), "QuorumNotEnough"],
  [new Timeout("clientWrite", 500), "Timeout"],
  [new Unreachable(3), "Unreachable"],
  [new OutcomeUnknown({ term: 1, index: 2 }, null), "OutcomeUnknown"],
  [new StorageError("append", new Error("disk full")), "StorageError"],
  [new ShuttingDown(), "ShuttingDown"],
  [new PayloadTooLarge(10, 5), "PayloadTooLarge"],
  [new InvalidMessage("bad type"), "InvalidMessage"],
  [new ConfigError("heartbeatInterval", "heartbeatInterval must be positive"), "ConfigError"],
  [new Aborted("clientWrite"), "Aborted"],
  [new PreconditionFailed("leader", { id: 1, term: 2 }, { id: 2, term: 3 }), "PreconditionFailed"],
  [new InvalidArgument("id", "invalid node id -1"), "InvalidArgument"],
  [new ApplyError({ term: 1, index: 4 }, new Error("bad")), "ApplyError"],
  [new StateMachineBehindLog(null, { term: 2, index: 40 }), "StateMachineBehindLog"],
];

test("errors: every error is an Error and a RaftError, with name and code = class name", () => {
  for (const [err, name] of CASES) {
    assert.ok(err instanceof Error, name);
    assert.ok(err instanceof RaftError, name);
    assert.equal(err.name, name);
    assert.equal(err.code, name);
    assert.equal(err.constructor.name, name);
    assert.ok(err.message.length > 0, `${name} has a message`);
    assert.ok(typeof err.stack === "string");
    assert.ok(String(err).startsWith(`${name}: `), String(err));
  }
});

test("errors: membership change errors extend ChangeMembershipError", () => {
  for (const [err, name] of CASES) {
    const expected = ["InProgress", "EmptyMembership", "LearnerNotFound"].includes(name);
    assert.equal(err instanceof ChangeMembershipError, expected, name);
  }
  assert.ok(new InProgress(null, null) instanceof RaftError);
});

test("errors: ForwardToLeader carries the leader id and node", () => {
  const e = new ForwardToLeader(2, { addr: "http://10.0.0.2:8000" });
  assert.equal(e.leaderId, 2);
  assert.deepEqual(e.leaderNode, { addr: "http://10.0.0.2:8000" });
  assert.match(e.message, /node 2 at http:\/\/10\.0\.0\.2:8000/);
  const unknown = new ForwardToLeader(null);
  assert.equal(unknown.leaderId, null);
  assert.equal(unknown.leaderNode, null);
  assert.match(unknown.message, /no leader is known/);
});

test("errors: structured fields", () => {
  const nim = new NotInMembers(4, [1, 2, 3]);
  assert.equal(nim.nodeId, 4);
  assert.deepEqual(nim.members, [1, 2, 3]);
  const ip = new InProgress({ term: 1, index: 3 }, { term: 2, index: 5 });
  assert.deepEqual(ip.committed, { term: 1, index: 3 });
  assert.deepEqual(ip.effective, { term: 2, index: 5 });
  assert.equal(new LearnerNotFound(7).nodeId, 7);
  const q = new QuorumNotEnough("[1, 2, 3]", [1]);
  assert.equal(q.cluster, "[1, 2, 3]");
  assert.deepEqual(q.got, [1]);
  const t = new Timeout("send append to 2", 500);
  assert.equal(t.action, "send append to 2");
  assert.equal(t.timeoutMs, 500);
  assert.match(t.message, /500 ms/);
  const p = new PayloadTooLarge(20, 16);
  assert.equal(p.size, 20);
  assert.equal(p.limit, 16);
  assert.equal(new InvalidMessage("truncated").reason, "truncated");
  assert.equal(new ConfigError("maxInflight", "maxInflight must be ≥ 1").field, "maxInflight");
});

test("errors: Timeout and Aborted say whether the operation may still take effect", () => {
  const gone = new Timeout("clientWrite", 100);
  assert.equal(gone.logId, null);
  assert.doesNotMatch(gone.message, /may still/);
  const inLog = new Timeout("clientWrite", 100, { logId: { term: 2, index: 9 } });
  assert.deepEqual(inLog.logId, { term: 2, index: 9 });
  assert.match(inLog.message, /2-9 and may still take effect/);
  assert.deepEqual(inLog.toJSON().logId, { term: 2, index: 9 });
  const aborted = new Aborted("changeMembership", { cause: "bye", logId: { term: 1, index: 3 } });
  assert.equal(aborted.cause, "bye");
  assert.match(aborted.message, /may still take effect/);
  const p = new PreconditionFailed("membership", { term: 1, index: 2 }, { term: 1, index: 5 });
  assert.deepEqual(p.toJSON().actual, { term: 1, index: 5 });
  assert.match(
    new StateMachineBehindLog(null, { term: 2, index: 40 }).message,
    /persist its snapshot/,
  );
  const a = new ApplyError({ term: 1, index: 4 }, new Error("bad"));
  assert.equal(a.operation, "apply");
  assert.match(a.message, /1-4: bad/);
});

test("errors: arrays passed in are copied, not aliased", () => {
  const members = [1, 2];
  const e = new NotInMembers(3, members);
  members.push(3);
  assert.deepEqual(e.members, [1, 2]);
  assert.ok(Object.isFrozen(e.members));
});

test("errors: cause travels through ErrorOptions", () => {
  const netErr = new TypeError("connection refused");
  const u = new Unreachable(3, { cause: netErr });
  assert.equal(u.cause, netErr);
  assert.equal(new Unreachable(3).cause, undefined);
  const diskErr = new Error("disk full");
  const s = new StorageError("append", diskErr);
  assert.equal(s.cause, diskErr);
  assert.equal(s.operation, "append");
  assert.match(s.message, /append.*disk full/);
  const inner = new InvalidMessage("bad", { cause: "why" });
  assert.equal(inner.cause, "why");
  assert.equal(new Timeout("x", 1, { cause: u }).cause, u);
});

test("errors: toJSON gives code, message and fields", () => {
  const e = new NotInMembers(4, [1, 2, 3]);
  assert.deepEqual(e.toJSON(), {
    code: "NotInMembers",
    message: e.message,
    nodeId: 4,
    members: [1, 2, 3],
  });
  assert.deepEqual(JSON.parse(JSON.stringify(new ForwardToLeader(2, { addr: "a" }))), {
    code: "ForwardToLeader",
    message: "this node is not the leader; forward to node 2 at a",
    leaderId: 2,
    leaderNode: { addr: "a" },
  });
  assert.deepEqual(new ShuttingDown().toJSON(), {
    code: "ShuttingDown",
    message: "the node is shutting down",
  });
  const ip = new InProgress(null, { term: 1, index: 2 });
  assert.deepEqual(ip.toJSON(), {
    code: "InProgress",
    message: ip.message,
    committed: null,
    effective: { term: 1, index: 2 },
  });
  const t = new Timeout("read", 100);
  assert.deepEqual(t.toJSON(), {
    code: "Timeout",
    message: t.message,
    action: "read",
    timeoutMs: 100,
    logId: null,
  });
  assert.deepEqual(new ConfigError("sendTimeout", "bad").toJSON(), {
    code: "ConfigError",
    message: "bad",
    field: "sendTimeout",
  });
});

test("errors: toJSON describes the cause as a string", () => {
  const s = new StorageError("save vote", new RangeError("out of space"));
  assert.deepEqual(s.toJSON(), {
    code: "StorageError",
    message: s.message,
    operation: "save vote",
    cause: "RangeError: out of space",
  });
  assert.equal(new Unreachable(1, { cause: { errno: 5 } }).toJSON().cause, '{"errno":5}');
  assert.equal(new Unreachable(1).toJSON().cause, undefined);
  assert.ok(!("cause" in new Unreachable(1).toJSON()));
});

test("errors: every error's toJSON round-trips through JSON.stringify", () => {
  for (const [err, name] of CASES) {
    const json = JSON.parse(JSON.stringify(err));
    assert.equal(json.code, name);
    assert.equal(json.message, err.message);
    assert.deepEqual(json, JSON.parse(JSON.stringify(err.toJSON())));
  }
});

test("errors: default messages can be overridden where offered", () => {
  assert.equal(
    new NotInitialized("call initialize on node 1").message,
    "call initialize on node 1",
  );
  assert.equal(new ShuttingDown("bye").message, "bye");
  assert.equal(new AlreadyInitialized("has a log").message, "has a log");
  assert.equal(new EmptyMembership("no voters left").message, "no voters left");
});

test("errors: OutcomeUnknown carries where the write went and the known leader", () => {
  const e = new OutcomeUnknown({ term: 4, index: 17 }, 2);
  assert.deepEqual(e.logId, { term: 4, index: 17 });
  assert.equal(e.leaderId, 2);
  assert.match(e.message, /4-17/);
  assert.deepEqual(e.toJSON(), {
    code: "OutcomeUnknown",
    message: e.message,
    logId: { term: 4, index: 17 },
    leaderId: 2,
  });
});
