// Proposals on the synchronous TestCluster: batching into appends and requests,
// the pipeline window, and many proposals interleaved with message delivery
// (and leader changes): no two share an index, each is applied once, in one
// order. Scenario 23 (concurrent proposals) is a script in testdata/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TEST_CONFIG, TestCluster, type TestNode } from "./_cluster.ts";
import type { EngineConfig } from "../../src/engine/commands.ts";
import type { Entry, NodeId } from "../../src/types.ts";
import { SeededRandom } from "../../src/random.ts";

const st = (c: TestCluster, id: NodeId) => c.node(id).engine.status();
const cfg = (over: Partial<EngineConfig>): EngineConfig => ({ ...TEST_CONFIG, ...over });
const bytes = (...xs: number[]) => xs.map((x) => new Uint8Array([x]));

function elected(config: EngineConfig = TEST_CONFIG, ids = [1, 2, 3]): TestCluster {
  const c = new TestCluster(ids, config);
  c.elect(1);
  assert.equal(st(c, 1).role, "leader");
  c.advance(TEST_CONFIG.heartbeatInterval);
  return c;
}

function replicates(n: TestNode, to: NodeId, since = 0) {
  return n.commands.slice(since).flatMap((c) => c.type === "replicate" && c.to === to ? [c] : []);
}

/** Requests that carry entries (not heartbeats or commit updates). */
function withEntries<T extends { plan: { first: number; last: number } }>(rs: T[]): T[] {
  return rs.filter((r) => r.plan.first <= r.plan.last);
}

/** A payload id encoded in two bytes. */
const payload = (id: number) => new Uint8Array([id >> 8, id & 255]);
const payloadId = (e: Entry) => e.type === "normal" ? (e.data[0]! << 8) | e.data[1]! : -1;

/** Apply commands of a node are consecutive and never overlap. */
function assertApplyRanges(n: TestNode): void {
  let last = 0;
  for (const c of n.commands) {
    if (c.type !== "apply") continue;
    assert.equal(c.first, last + 1, `node ${n.id}: apply from ${c.first} after ${last}`);
    assert.ok(c.last.index >= c.first);
    last = c.last.index;
  }
}

// ---- refusals and shape ------------------------------------------------------------

test("engine/propose: a deposed leader refuses proposals", () => {
  const c = elected();
  c.isolate(1);
  c.advance(TEST_CONFIG.electionTimeoutMax);
  assert.notEqual(st(c, 1).role, "leader");
  assert.equal(c.node(1).engine.propose(bytes(1)).ok, false);
});

test("engine/propose: a batch is one storage write and one request per peer", () => {
  const c = elected();
  const leader = c.node(1);
  const mark = leader.commands.length;
  leader.engine.propose(bytes(1, 2, 3, 4, 5));
  c.process();
  const cmds = leader.commands.slice(mark);
  assert.equal(cmds.filter((x) => x.type === "append-log").length, 1);
  assert.equal(cmds.filter((x) => x.type === "replicate" && x.to === 2).length, 1);
  assert.equal(cmds.filter((x) => x.type === "replicate" && x.to === 3).length, 1);
  const rep = cmds.find((x) => x.type === "replicate");
  assert.ok(rep !== undefined && rep.type === "replicate");
  assert.equal(rep.plan.first, 2);
  assert.equal(rep.plan.last, 6);
  assert.deepEqual(rep.plan.prevLogId, { term: 1, index: 1 });
  c.run();
  assert.equal(st(c, 1).committed?.index, 6);
});

test("engine/propose: requests carry at most maxPayloadEntries entries", () => {
  const c = elected(cfg({ maxPayloadEntries: 2 }));
  const leader = c.node(1);
  const mark = leader.commands.length;
  leader.engine.propose(bytes(1, 2, 3, 4, 5));
  c.process();
  const ranges = withEntries(replicates(leader, 2, mark)).map((r) => [r.plan.first, r.plan.last]);
  assert.deepEqual(ranges, [[2, 3], [4, 5], [6, 6]]);
  c.run();
  assert.equal(st(c, 1).committed?.index, 6);
  assert.deepEqual(c.node(2).terms(), [1, 1, 1, 1, 1, 1]);
});

test("engine/propose: no more than maxInflight requests are in flight to a peer", () => {
  const c = elected(cfg({ maxPayloadEntries: 1, maxInflight: 2 }));
  const leader = c.node(1);
  const mark = leader.commands.length;
  for (let i = 0; i < 5; i++) leader.engine.propose(bytes(i));
  c.process();
  assert.equal(withEntries(replicates(leader, 2, mark)).length, 2);
  assert.equal(st(c, 1).replication.get(2)?.inflight, 2);
  c.run();
  assert.equal(st(c, 1).committed?.index, 6);
  const sent = withEntries(replicates(leader, 2, mark)).map((r) => [r.plan.first, r.plan.last]);
  assert.deepEqual(sent, [[2, 2], [3, 3], [4, 4], [5, 5], [6, 6]]);
});

test("engine/propose: an empty batch appends nothing", () => {
  const c = elected();
  const r = c.node(1).engine.propose([]);
  assert.equal(r.ok, true);
  c.run();
  assert.deepEqual(c.node(1).terms(), [1]);
  assert.deepEqual(st(c, 1).lastLogId, { term: 1, index: 1 });
});

test("engine/propose: a single voter commits and applies a proposal at once", () => {
  const c = new TestCluster([1]);
  c.elect(1);
  const r = c.propose(1, 4, 5);
  assert.deepEqual(r, { ok: true, term: 1, firstIndex: 2 });
  assert.equal(st(c, 1).committed?.index, 3);
  assert.deepEqual(c.node(1).applied.map((e) => e.index), [1, 2, 3]);
});

// ---- many proposals interleaved with delivery ---------------------------------------

interface Accepted {
  term: number;
  index: number;
  id: number;
}

/**
 * Proposes batches at random moments on whoever leads, delivering messages and
 * ticking in between; with `faults`, isolates the leader now and then. Returns
 * the cluster, once healed and quiet, and every accepted proposal.
 */
function churn(seed: number, faults: boolean): { c: TestCluster; accepted: Accepted[] } {
  const rnd = new SeededRandom(seed);
  const c = new TestCluster(
    [1, 2, 3, 4, 5],
    cfg({ maxPayloadEntries: 3, maxInflight: 3 }),
    { seed },
  );
  c.elect(1);
  const accepted: Accepted[] = [];
  let nextId = 1;
  let isolatedUntil = -1;
  for (let step = 0; step < 1500; step++) {
    const r = rnd.int(0, 100);
    if (r < 35) {
      const leaders = c.leaders();
      const id = leaders[rnd.int(0, leaders.length || 1)];
      if (id === undefined) continue;
      const k = rnd.int(1, 4);
      const ids = Array.from({ length: k }, () => nextId++);
      const res = c.node(id).engine.propose(ids.map(payload));
      if (res.ok) {
        ids.forEach((pid, i) =>
          accepted.push({ term: res.term, index: res.firstIndex + i, id: pid })
        );
      }
      c.process();
    } else if (r < 85) {
      for (let k = rnd.int(1, 6); k > 0; k--) c.deliverOne();
    } else {
      c.now += 10;
      for (const n of c.nodes.values()) n.engine.tick(c.now);
      c.process();
      if (faults) {
        if (isolatedUntil >= 0 && c.now >= isolatedUntil) {
          c.heal();
          isolatedUntil = -1;
        } else if (isolatedUntil < 0 && rnd.int(0, 20) === 0) {
          const l = c.leaders()[0];
          if (l !== undefined) {
            c.isolate(l);
            isolatedUntil = c.now + rnd.int(100, 800);
          }
        }
      }
    }
  }
  c.heal();
  c.run();
  c.advance(3 * TEST_CONFIG.electionTimeoutMax);
  // The harness drops silently; a runtime would report the lost requests.
  for (const l of c.leaders()) for (const id of c.nodes.keys()) c.node(l).engine.unreachable(id);
  c.advance(3 * TEST_CONFIG.heartbeatInterval);
  return { c, accepted };
}

function checkChurn(c: TestCluster, accepted: Accepted[], allSurvive: boolean): void {
  c.assertElectionSafety();
  // Within a term, no two accepted proposals share an index.
  const slots = new Set(accepted.map((a) => `${a.term}:${a.index}`));
  assert.equal(slots.size, accepted.length);
  const nodes = [...c.nodes.values()];
  const ref = nodes[0]!;
  const leaderLast = st(c, c.leaders()[0]!).lastLogId!.index;
  for (const n of nodes) {
    assert.deepEqual(n.terms(), ref.terms(), `node ${n.id} log`);
    assert.equal(st(c, n.id).committed?.index, leaderLast, `node ${n.id} commit`);
    assert.equal(n.applied.length, leaderLast, `node ${n.id} applied`);
    assertApplyRanges(n);
    const ids = n.applied.map(payloadId).filter((x) => x >= 0);
    assert.equal(new Set(ids).size, ids.length, `node ${n.id} applied a proposal twice`);
    assert.deepEqual(ids, ref.applied.map(payloadId).filter((x) => x >= 0));
    for (let i = 0; i < n.applied.length; i++) assert.equal(n.applied[i]!.index, i + 1);
  }
  // Each accepted proposal is applied exactly where it was accepted, or (when a
  // new leader overwrote its slot) not at all.
  const byId = new Map<number, Entry>();
  for (const e of ref.applied) if (e.type === "normal") byId.set(payloadId(e), e);
  let survived = 0;
  for (const a of accepted) {
    const e = byId.get(a.id);
    const slot = ref.log[a.index - 1];
    if (slot !== undefined && slot.term === a.term) {
      assert.ok(e !== undefined, `proposal ${a.id} at ${a.term}:${a.index} not applied`);
      assert.equal(e.index, a.index);
      assert.equal(e.term, a.term);
      survived++;
    } else {
      assert.equal(e, undefined, `proposal ${a.id} applied though its slot was overwritten`);
    }
  }
  if (allSurvive) assert.equal(survived, accepted.length);
  assert.ok(survived > 50, `only ${survived} proposals survived`);
}

for (const seed of [1, 2, 3]) {
  test(`engine/propose: interleaved proposals never share an index and apply once, in one order (seed ${seed})`, () => {
    const { c, accepted } = churn(seed, false);
    assert.deepEqual(c.leaders(), [1]);
    checkChurn(c, accepted, true);
  });
}

for (const seed of [11, 12, 13, 14]) {
  test(`engine/propose: with leader isolation, surviving proposals apply once everywhere, lost ones nowhere (seed ${seed})`, () => {
    const { c, accepted } = churn(seed, true);
    assert.equal(c.leaders().length, 1);
    checkChurn(c, accepted, false);
  });
}
