// Snapshots on the synchronous TestCluster: purging, install guards and
// restarts around an install. Scenario 18 (a snapshot for a follower behind
// the purge point) is a script in testdata/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TEST_CONFIG, TestCluster } from "./_cluster.ts";
import { RaftEngine } from "../../src/engine/engine.ts";
import { membershipOf } from "../../src/types.ts";
import type { Command } from "../../src/engine/commands.ts";

const ofType = <T extends Command["type"]>(cmds: Command[], t: T) =>
  cmds.filter((c): c is Extract<Command, { type: T }> => c.type === t);

test("engine/snapshot: purge is bounded by the snapshot and refused without one", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  for (let i = 0; i < 10; i++) c.propose(1, i);
  const e = c.node(1).engine;
  assert.equal(e.purgeLog(5), null, "no snapshot: nothing purged");
  assert.equal(e.takeCommands().length, 0);
  const s = e.status();
  e.snapshotBuilt({
    lastLogId: { term: 1, index: 6 },
    lastMembership: s.committedMembership,
    snapshotId: "s",
  });
  assert.deepEqual(e.purgeLog(1000), { term: 1, index: 6 }, "capped at the snapshot");
  const cmds = e.takeCommands();
  assert.deepEqual(ofType(cmds, "purge-log").map((x) => x.upTo), [{ term: 1, index: 6 }]);
  assert.equal(e.purgeLog(6), null, "already purged");
  assert.deepEqual(e.status().purged, { term: 1, index: 6 });
});

test("engine/snapshot: a snapshot not ahead of the commit index is not installed", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  for (let i = 0; i < 5; i++) c.propose(1, i);
  c.advance(100);
  const f = c.node(2).engine;
  const committed = f.status().committed!;
  f.receive(1, {
    clusterId: "",
    type: "install-snapshot",
    term: 1,
    leaderId: 1,
    meta: {
      lastLogId: { term: 1, index: 3 },
      lastMembership: f.status().membership,
      snapshotId: "old",
    },
  }, 999);
  const cmds = f.takeCommands();
  assert.equal(ofType(cmds, "install-snapshot").length, 0);
  const reply = ofType(cmds, "reply")[0]!;
  assert.equal(reply.message.type, "install-snapshot-response");
  assert.deepEqual((reply.message as { lastLogId: unknown }).lastLogId, committed);
});

test("engine/snapshot: a snapshot from an older term is refused and changes nothing", () => {
  const c = new TestCluster([1, 2, 3], undefined, {
    votes: new Map([[3, { term: 5, votedFor: null, committed: false }]]),
  });
  const f = c.node(3).engine;
  const before = f.status();
  f.receive(1, {
    clusterId: "",
    type: "install-snapshot",
    term: 1,
    leaderId: 1,
    meta: { lastLogId: { term: 1, index: 50 }, lastMembership: before.membership, snapshotId: "x" },
  }, 77);
  const cmds = f.takeCommands();
  assert.equal(ofType(cmds, "install-snapshot").length, 0);
  const reply = ofType(cmds, "reply")[0]!;
  assert.deepEqual(reply.message, {
    type: "install-snapshot-response",
    term: before.term,
    lastLogId: null,
  });
  assert.deepEqual(f.status().committed, before.committed);
  assert.equal(f.status().leaderId, before.leaderId);
});

test("engine/snapshot: appends are refused while a snapshot is being installed", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  const f = c.node(3).engine;
  f.receive(1, {
    clusterId: "",
    type: "install-snapshot",
    term: 1,
    leaderId: 1,
    meta: {
      lastLogId: { term: 1, index: 20 },
      lastMembership: f.status().membership,
      snapshotId: "big",
    },
  }, 500);
  assert.equal(ofType(f.takeCommands(), "install-snapshot").length, 1, "install requested");
  // Before the runtime reports it installed, an append arrives.
  f.receive(1, {
    clusterId: "",
    type: "append",
    term: 1,
    leaderId: 1,
    prevLogId: { term: 1, index: 1 },
    entries: [{ term: 1, index: 2, type: "blank" }],
    leaderCommit: 2,
    round: 1,
  }, 501);
  const cmds = f.takeCommands();
  assert.equal(ofType(cmds, "append-log").length, 0, "nothing appended during the install");
  const reply = ofType(cmds, "reply")[0]!.message as { success: boolean };
  assert.equal(reply.success, false);
  assert.equal(
    f.status().committed?.index ?? 0,
    1,
    "commit did not move past the snapshot's start",
  );
  f.snapshotInstalled(500);
  const after = f.takeCommands();
  assert.deepEqual(ofType(after, "purge-log").map((x) => x.upTo), [{ term: 1, index: 20 }]);
  for (const cmd of after) if ("io" in cmd) f.flushed(cmd.io);
  const done = ofType(f.takeCommands(), "reply").map((r) => r.message);
  assert.deepEqual(done, [{
    type: "install-snapshot-response",
    term: 1,
    lastLogId: { term: 1, index: 20 },
  }]);
  assert.deepEqual(f.status().committed, { term: 1, index: 20 });
  assert.deepEqual(f.status().applied, { term: 1, index: 20 });
});

test("engine/snapshot: a follower whose log agrees with the snapshot keeps the entries after it", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  for (let i = 0; i < 10; i++) c.propose(1, i);
  const f = c.node(2).engine;
  const lastBefore = f.status().lastLogId!;
  // Pretend the follower had not committed yet: a snapshot covering index 4 of the same log.
  f.receive(1, {
    clusterId: "",
    type: "install-snapshot",
    term: 1,
    leaderId: 1,
    meta: {
      lastLogId: { term: 1, index: 4 },
      lastMembership: f.status().membership,
      snapshotId: "s",
    },
  }, 900);
  // It already committed past 4, so nothing is installed and its log is untouched.
  const cmds = f.takeCommands();
  assert.equal(ofType(cmds, "truncate-log").length, 0);
  assert.deepEqual(f.status().lastLogId, lastBefore);
});

test("engine/snapshot: a follower with a conflicting log discards it for the snapshot", () => {
  // Node 3 holds entries of a deposed term 2 that the snapshot (term 3 history) contradicts.
  const c = new TestCluster([1, 2, 3], undefined, {
    // Term 2's leader (3) appended entries only it holds; 1 and 2 saw term 2 too.
    logs: new Map([[1, [1, 1]], [2, [1, 1]], [3, [1, 2, 2, 2]]]),
    votes: new Map([
      [1, { term: 2, votedFor: 3, committed: true }],
      [2, { term: 2, votedFor: 3, committed: true }],
      [3, { term: 2, votedFor: 3, committed: true }],
    ]),
  });
  c.isolate(3);
  c.elect(1);
  assert.equal(c.node(1).engine.status().term, 3);
  for (let i = 0; i < 5; i++) c.propose(1, i);
  c.snapshot(1);
  const tip = c.node(1).engine.status().lastLogId!;
  c.heal();
  c.node(1).engine.unreachable(3);
  c.advance(500);
  const n3 = c.node(3);
  assert.equal(n3.installs, 1);
  assert.ok(ofType(n3.commands, "truncate-log").length >= 1, "the conflicting log was discarded");
  assert.deepEqual(n3.engine.status().committed, tip);
  assert.deepEqual(n3.terms(), c.node(1).terms());
});

test("engine/snapshot: an unreachable peer in snapshot state is offered the snapshot again", () => {
  const c = new TestCluster([1, 2, 3]);
  c.elect(1);
  c.isolate(3);
  for (let i = 0; i < 5; i++) c.propose(1, i);
  c.snapshot(1);
  c.node(1).engine.unreachable(3);
  c.advance(200); // snapshots to 3 are lost while it is isolated
  const sent = ofType(c.node(1).commands, "send-snapshot").filter((x) => x.to === 3).length;
  assert.ok(sent >= 1);
  c.node(1).engine.unreachable(3); // the runtime reports the failed transfer
  c.heal();
  c.advance(200);
  const again = ofType(c.node(1).commands, "send-snapshot").filter((x) => x.to === 3).length;
  assert.ok(again > sent, "offered again after the failure");
  assert.equal(c.node(3).installs, 1);
  assert.deepEqual(c.node(3).engine.status().committed, c.node(1).engine.status().committed);
});

/** A restarted engine whose state machine holds a snapshot ending at 2-5, with this log. */
function restartedWith(logIds: { term: number; index: number }[]): RaftEngine {
  const membership = { logId: { term: 1, index: 1 }, membership: membershipOf([1, 2, 3]) };
  return new RaftEngine({
    id: 2,
    config: TEST_CONFIG,
    random: { int: (min) => min },
    now: 0,
    vote: { term: 2, votedFor: 1, committed: true },
    logIds,
    purged: null,
    applied: { term: 2, index: 5 },
    snapshot: { lastLogId: { term: 2, index: 5 }, lastMembership: membership, snapshotId: "s" },
    memberships: [membership],
  });
}

test("engine/snapshot: a restart whose log stops short of the snapshot finishes the install", () => {
  const e = restartedWith([{ term: 1, index: 1 }, { term: 1, index: 2 }]);
  const cmds = e.takeCommands();
  assert.deepEqual(cmds.map((c) => c.type), ["truncate-log", "purge-log"]);
  assert.equal(ofType(cmds, "truncate-log")[0]!.since, 1);
  assert.deepEqual(ofType(cmds, "purge-log")[0]!.upTo, { term: 2, index: 5 });
  const s = e.status();
  assert.deepEqual([s.purged, s.lastLogId, s.committed], [
    { term: 2, index: 5 },
    { term: 2, index: 5 },
    { term: 2, index: 5 },
  ]);
  assert.equal(s.role, "follower", "still a voter of the snapshot's membership");
});

test("engine/snapshot: a restart whose log has a lost term's entry at the snapshot drops it", () => {
  const lost = [1, 2, 3, 4, 5, 6].map((index) => ({ term: index < 4 ? 1 : 3, index }));
  const e = restartedWith(lost);
  assert.deepEqual(e.takeCommands().map((c) => c.type), ["truncate-log", "purge-log"]);
  assert.deepEqual(e.status().lastLogId, { term: 2, index: 5 }, "6 (term 3) is gone too");
});

test("engine/snapshot: a restart whose log holds the snapshot's last entry keeps its log", () => {
  const e = restartedWith([1, 2, 3, 4, 5, 6].map((index) => ({ term: index < 5 ? 1 : 2, index })));
  assert.deepEqual(e.takeCommands(), []);
  assert.deepEqual(e.status().lastLogId, { term: 2, index: 6 });
  assert.equal(e.status().purged, null);
});
