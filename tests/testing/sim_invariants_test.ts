// The invariant checker on situations built by hand, and the seeds that once raised false
// alarms in it.
import { followerMetrics } from "./_metrics.ts";

const followerMetricsOf = (id: NodeId, over: Partial<RaftMetrics>): RaftMetrics =>
  followerMetrics(over, id);
import { test } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../../src/clock.ts";
import { SeededRandom } from "../../src/random.ts";
import type { RaftMetrics } from "../../src/runtime/metrics.ts";
import {
  type Entry,
  type LogId,
  type Membership,
  membershipOf,
  type NodeId,
} from "../../src/types.ts";
import { InvariantChecker, type NodeView } from "../../testing/sim_invariants.ts";
import { SimLogStore } from "../../testing/sim_store.ts";
import { formatViolation, Simulator } from "../../testing/simulator.ts";

/** Whole simulations take seconds (Bun's default limit per test is 5 s). */
const SLOW = { timeout: 300_000 };

function blank(term: number, index: number): Entry {
  return { term, index, type: "blank" };
}

function normal(term: number, index: number): Entry {
  return { term, index, type: "normal", data: new Uint8Array([index]) };
}

function config(term: number, index: number, configs: NodeId[][]): Entry {
  const membership: Membership = { ...membershipOf(configs.flat()), configs };
  return { term, index, type: "membership", membership };
}

/** A follower of term 1 that has committed `committed` of its `last` entries. */
function follower(id: NodeId, last: number, committed: number): RaftMetrics {
  const c: LogId = { term: 1, index: committed };
  return followerMetricsOf(id, {
    lastLogId: { term: 1, index: last },
    lastLogIndex: last,
    committed: c,
    lastApplied: c,
  });
}

interface Shape {
  /** Whether n3's removal (C_new = [2]) is in the log, after the joint config. */
  readonly removal: boolean;
  /** Whether n2 purges its log behind a snapshot of everything it committed. */
  readonly purge: boolean;
  /** Whether n2's entry 2-6 reaches its disk. */
  readonly synced: boolean;
}

/**
 * Seed 50851, in small: n2 and n3 commit up to the joint config [[2,3],[2]]; n2 also holds
 * C_new [2] and an entry after it, crashes (unsynced writes survive), restarts, leads term 2
 * alone under C_new, commits 2-6 and purges its log behind a snapshot at 6 (written, not
 * yet durable). Returns the checker after the step that sees that commit.
 */
function seed50851(shape: Shape): InvariantChecker {
  const checker = new InvariantChecker();
  const clock = new ManualClock();
  const store = (node: NodeId): SimLogStore =>
    new SimLogStore({
      node,
      clock,
      random: new SeededRandom(node),
      fsyncMaxMs: 1,
      observer: checker,
    });
  const log: Entry[] = [
    config(1, 1, [[2, 3]]),
    config(1, 2, [[2, 3], [2]]),
    normal(1, 3),
    shape.removal ? config(1, 4, [[2]]) : normal(1, 4),
    normal(1, 5),
  ];
  const s3 = store(3);
  let s2 = store(2);
  const term1 = { term: 1, votedFor: 3, committed: true }; // n3 leads term 1
  void s3.saveVote(term1);
  void s2.saveVote(term1);
  void s3.append(log);
  void s2.append(log.slice(0, 3));
  clock.advance(1); // synced
  const interrupted = Promise.resolve(s2.append(log.slice(3))).catch(() => {});
  checker.started(2, 0, follower(2, 3, 3));
  checker.started(3, 0, follower(3, 5, 3));
  const views = (snapshotIndex: number): NodeView[] => [
    { id: 2, life: 1, up: true, store: s2, metrics: null, sm: null, snapshotIndex },
    { id: 3, life: 0, up: true, store: s3, metrics: null, sm: null, snapshotIndex: 0 },
  ];
  checker.checkStep(views(0));
  assert.equal(checker.committedLength, 3);

  // n2 crashes before its sync (the disk had written 4 and 5), restarts, leads term 2.
  s2 = s2.crash(true);
  checker.crashed(2);
  void interrupted;
  checker.started(2, 1, follower(2, 5, 3));
  void s2.saveVote({ term: 2, votedFor: 2, committed: true });
  void s2.append([blank(2, 6)]);
  if (shape.synced) clock.advance(1);
  const leader: Partial<RaftMetrics> = {
    state: "leader",
    currentTerm: 2,
    vote: { term: 2, votedFor: 2, committed: true },
    currentLeader: 2,
    lastLogId: { term: 2, index: 6 },
    lastLogIndex: 6,
    committed: { term: 1, index: 3 },
    lastApplied: { term: 1, index: 3 },
  };
  checker.metrics(2, 1, followerMetricsOf(2, leader));
  const top: LogId = { term: 2, index: 6 };
  checker.metrics(2, 1, followerMetricsOf(2, { ...leader, committed: top, lastApplied: top }));
  let snapshotIndex = 0;
  if (shape.purge) {
    snapshotIndex = 6;
    void s2.purge(top); // written; its sync is still to come
    assert.equal(s2.purgedIndex(), 6);
    assert.equal(s2.purgedIndex("durable"), 0);
    checker.metrics(
      2,
      1,
      followerMetricsOf(2, {
        ...leader,
        committed: top,
        lastApplied: top,
        snapshot: top,
        purged: top,
      }),
    );
  }
  checker.checkStep(views(snapshotIndex));
  return checker;
}

test("sim: InvariantChecker: a commit under the latest config survives a purge (seed 50851)", () => {
  const c = seed50851({ removal: true, purge: true, synced: true });
  assert.equal(c.violation, null, c.violation?.message);
  assert.equal(c.committedLength, 6, "the committed log is known up to 6, purged or not");
  const unpurged = seed50851({ removal: true, purge: false, synced: true });
  assert.equal(unpurged.violation, null, unpurged.violation?.message);
});

test("sim: InvariantChecker: an under-replicated commit is still caught, purged or not", () => {
  for (const purge of [true, false]) {
    // Without the removal the joint config [[2,3],[2]] governs 2-6: n3 lacks it.
    const joint = seed50851({ removal: false, purge, synced: true });
    assert.equal(joint.violation?.invariant, "committed on a quorum");
    assert.match(joint.violation?.message ?? "", /2-6 is durable only on \[2\]/);
  }
  // Under C_new [2] alone, 2-6 must still be durable on n2.
  const lost = seed50851({ removal: true, purge: false, synced: false });
  assert.equal(lost.violation?.invariant, "committed on a quorum");
  assert.match(lost.violation?.message ?? "", /2-6 is durable only on \[\]/);
});

test("sim: InvariantChecker: a commit that does not extend the committed log is caught", () => {
  const c = new InvariantChecker();
  c.appended(1, [blank(1, 1), blank(1, 2)], 0);
  c.appended(2, [blank(1, 1), blank(2, 2), blank(2, 3)], 0);
  c.started(1, 0, follower(1, 2, 2));
  c.checkStep([]);
  assert.equal(c.committedLength, 2);
  // Node 2 reports 2-3 committed: its log holds 2-2 where 1-2 was committed.
  c.started(2, 0, followerMetricsOf(2, { currentTerm: 2, committed: { term: 2, index: 3 } }));
  c.checkStep([]);
  assert.equal(c.violation?.invariant, "committed entries immutable");
});

test(
  "regression: a commit right before a purge is judged by the latest config (seed 50851)",
  SLOW,
  async () => {
    // Found by seed 50851: n3 removed itself ([[2,3],[2]] at 16-58, then [2] at 16-61); n2,
    // holding 16-58..16-62, crashed, restarted, led term 17 under [2], committed 17-63 and
    // purged its log behind a snapshot at 63. The checker read the committed log from the
    // written logs of the stores holding 17-63 — n2's no longer had 61 — so it did not see
    // [2] committed and judged 17-63 by the joint config: a false "committed on a quorum".
    // (Since the simulator gained the hostile and intruder faults, seeds draw other
    // profiles: this seed no longer builds that shape. The hand-built test above does.)
    const r = await new Simulator({ seed: 50851, steps: 3000 }).run();
    assert.ok(r.ok, r.violation === null ? "" : formatViolation(r.violation));
  },
);
