// ClientWrites: queued commands proposed as one batch, waiters by log index answered as
// their entries apply, indexes reused by a new term, abandonment, rejectAll.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ClientWrites, type Proposal, type WriteHost } from "../../src/runtime/client_writes.ts";
import type { ProposeResult } from "../../src/engine/commands.ts";
import {
  ForwardToLeader,
  OutcomeUnknown,
  PreconditionFailed,
  ShuttingDown,
} from "../../src/errors.ts";
import type { Entry, NodeId, RaftNode } from "../../src/types.ts";

/** A host whose engine places each batch where the test says. */
class Host implements WriteHost {
  leader: NodeId | null = 1;
  readonly addresses = new Map<NodeId, RaftNode>([[1, { addr: "n1" }], [2, { addr: "n2" }]]);
  /** What the next `propose` answers: where the batch goes, or a refusal. */
  next: ProposeResult = { ok: true, term: 1, firstIndex: 1 };
  readonly proposed: number[][] = [];
  currentTerm = 1;
  leading = true;
  maxBatches = Infinity;
  wakes = 0;
  isLeader(): boolean {
    return this.leading;
  }
  wake(): void {
    this.wakes++;
  }
  propose(payloads: readonly (Uint8Array | null)[]): ProposeResult {
    this.proposed.push(payloads.map((p) => p?.[0] ?? -1));
    return this.next;
  }
  leaderId(): NodeId | null {
    return this.leader;
  }
  term(): number {
    return this.currentTerm;
  }
  nodes(): ReadonlyMap<NodeId, RaftNode> {
    return this.addresses;
  }
}

type Outcome = { ok: true; index: number; term: number; response: unknown } | {
  ok: false;
  error: unknown;
};

/** Adds writes of the given one-byte commands; their outcomes land in `out[command]`. */
function add(writes: ClientWrites<string>, out: Map<number, Outcome>, ...commands: number[]) {
  for (const c of commands) {
    writes.add(new Uint8Array([c])).then(
      (r) => out.set(c, { ok: true, ...r.logId, response: r.response }),
      (error) => out.set(c, { ok: false, error }),
    );
  }
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const entry = (term: number, index: number): Entry => ({ term, index, type: "blank" });
const entries = (term: number, from: number, to: number): Entry[] => {
  const es: Entry[] = [];
  for (let i = from; i <= to; i++) es.push(entry(term, i));
  return es;
};
const responses = (es: Entry[]) => es.map((e) => `r${e.index}`);

test("client writes: queued commands go as one batch; applied entries answer them in order", async () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  assert.equal(writes.hasQueued, false);
  add(writes, out, 10, 11, 12);
  assert.equal(writes.hasQueued, true);
  host.next = { ok: true, term: 2, firstIndex: 5 };
  writes.propose();
  assert.equal(writes.hasQueued, false);
  assert.deepEqual(host.proposed, [[10, 11, 12]]);
  const es = entries(2, 4, 6); // index 4 belongs to nobody
  writes.applied(es, responses(es));
  await settle();
  assert.deepEqual(out.get(10), { ok: true, term: 2, index: 5, response: "r5" });
  assert.deepEqual(out.get(11), { ok: true, term: 2, index: 6, response: "r6" });
  assert.equal(out.has(12), false);
  writes.applied([entry(2, 7)], ["r7"]);
  await settle();
  assert.deepEqual(out.get(12), { ok: true, term: 2, index: 7, response: "r7" });
});

test("client writes: a refused proposal rejects the whole batch with ForwardToLeader", async () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  add(writes, out, 1, 2);
  host.next = { ok: false, reason: "not-leader", leaderId: 2 };
  writes.propose();
  add(writes, out, 3);
  host.next = { ok: false, reason: "transferring", leaderId: 1 };
  writes.propose();
  await settle();
  for (const c of [1, 2]) {
    const o = out.get(c)!;
    assert.ok(!o.ok && o.error instanceof ForwardToLeader);
    assert.equal(o.error.leaderId, 2);
    assert.deepEqual(o.error.leaderNode, { addr: "n2" });
  }
  const o = out.get(3)!;
  // Handing leadership over: no leader to name yet.
  assert.ok(!o.ok && o.error instanceof ForwardToLeader && o.error.leaderId === null);
});

test("client writes: indexes a new term reuses reject the overwritten proposals", async () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  add(writes, out, 1, 2, 3);
  host.next = { ok: true, term: 2, firstIndex: 5 }; // 5, 6, 7
  writes.propose();
  // Leadership lost and regained: term 3 appends from index 6 (6 and 7 were overwritten).
  host.leader = 2;
  add(writes, out, 4);
  host.next = { ok: true, term: 3, firstIndex: 6 };
  writes.propose();
  await settle();
  for (const c of [2, 3]) {
    const o = out.get(c)!;
    assert.ok(!o.ok && o.error instanceof ForwardToLeader && o.error.leaderId === 2);
  }
  assert.equal(out.has(1), false);
  writes.applied([entry(2, 5), entry(3, 6)], ["a", "b"]);
  await settle();
  assert.deepEqual(out.get(1), { ok: true, term: 2, index: 5, response: "a" });
  assert.deepEqual(out.get(4), { ok: true, term: 3, index: 6, response: "b" });
});

test("client writes: a new term reusing answered indexes (below the head), or starting below every waiter", async () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  add(writes, out, 1, 2, 3);
  host.next = { ok: true, term: 2, firstIndex: 5 };
  writes.propose();
  writes.applied([entry(2, 5), entry(2, 6)], ["a", "b"]);
  // 7 still waits; a new term appends from 6 (answered) on: 7 was overwritten.
  add(writes, out, 4);
  host.next = { ok: true, term: 3, firstIndex: 6 };
  writes.propose();
  writes.applied([entry(3, 6)], ["c"]);
  writes.applied([entry(3, 7)], ["d"]); // nobody waits for 7 any more
  // Two waiters, then a new term that starts below both (a truncation under them).
  add(writes, out, 5, 6);
  host.next = { ok: true, term: 4, firstIndex: 20 };
  writes.propose();
  add(writes, out, 7);
  host.next = { ok: true, term: 5, firstIndex: 18 };
  writes.propose();
  writes.applied([entry(5, 18), entry(5, 19), entry(5, 20)], ["e", "f", "g"]);
  await settle();
  assert.deepEqual(out.get(1), { ok: true, term: 2, index: 5, response: "a" });
  assert.deepEqual(out.get(2), { ok: true, term: 2, index: 6, response: "b" });
  assert.deepEqual(out.get(4), { ok: true, term: 3, index: 6, response: "c" });
  assert.deepEqual(out.get(7), { ok: true, term: 5, index: 18, response: "e" });
  for (const c of [3, 5, 6]) {
    const o = out.get(c)!;
    assert.ok(!o.ok && o.error instanceof ForwardToLeader, `write ${c}`);
  }
  assert.equal(out.size, 7);
});

test("client writes: an entry of another term at a proposal's index rejects it", async () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  add(writes, out, 1);
  host.next = { ok: true, term: 2, firstIndex: 3 };
  writes.propose();
  host.leader = 2;
  writes.applied([entry(3, 3)], ["x"]);
  await settle();
  const o = out.get(1)!;
  assert.ok(!o.ok && o.error instanceof ForwardToLeader && o.error.leaderId === 2);
});

test("client writes: abandon rejects the writes in the range with OutcomeUnknown, no others", async () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  add(writes, out, 1, 2, 3, 4);
  host.next = { ok: true, term: 2, firstIndex: 10 }; // 10..13
  writes.propose();
  host.leader = null;
  writes.abandon(12, Infinity); // lost leadership with 11 committed
  await settle();
  assert.equal(out.size, 2);
  for (const [c, index] of [[3, 12], [4, 13]] as const) {
    const o = out.get(c)!;
    assert.ok(!o.ok && o.error instanceof OutcomeUnknown);
    assert.deepEqual(o.error.logId, { term: 2, index });
    assert.equal(o.error.leaderId, null);
  }
  // A snapshot up to 10 covers the first: its outcome is unknown too; 11 still applies.
  writes.abandon(-Infinity, 10);
  writes.applied([entry(2, 11)], ["b"]);
  await settle();
  const o1 = out.get(1)!;
  assert.ok(!o1.ok && o1.error instanceof OutcomeUnknown);
  assert.deepEqual(o1.error.logId, { term: 2, index: 10 });
  assert.deepEqual(out.get(2), { ok: true, term: 2, index: 11, response: "b" });
  // Nothing is left to answer.
  writes.rejectAll(new ShuttingDown());
  await settle();
  assert.equal(out.size, 4);
});

test("client writes: rejectAll settles queued and waiting writes", async () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  add(writes, out, 1, 2);
  host.next = { ok: true, term: 1, firstIndex: 1 };
  writes.propose();
  add(writes, out, 3); // still queued
  const err = new ShuttingDown();
  writes.rejectAll(err);
  await settle();
  assert.deepEqual([...out.keys()].sort(), [1, 2, 3]);
  for (const o of out.values()) assert.ok(!o.ok && o.error === err);
  assert.equal(writes.hasQueued, false);
  // Entries applied later answer nobody.
  writes.applied([entry(1, 1), entry(1, 2)], ["a", "b"]);
  await settle();
  for (const o of out.values()) assert.ok(!o.ok && o.error === err);
});

test("client writes: a long run of answered slots is dropped without losing later waiters", async () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  const n = 10_000;
  const commands: number[] = [];
  for (let i = 0; i < n; i++) commands.push(i);
  add(writes, out, ...commands);
  host.next = { ok: true, term: 1, firstIndex: 1 };
  writes.propose();
  const first = entries(1, 1, 6000); // past 4096 answered slots: compacted
  writes.applied(first, responses(first));
  writes.abandon(9001, Infinity);
  const rest = entries(1, 6001, 9000);
  writes.applied(rest, responses(rest));
  await settle();
  assert.equal(out.size, n);
  for (let c = 0; c < n; c++) {
    const o = out.get(c)!;
    if (c < 9000) assert.deepEqual(o, { ok: true, term: 1, index: c + 1, response: `r${c + 1}` });
    else assert.ok(!o.ok && o.error instanceof OutcomeUnknown && o.error.logId.index === c + 1);
  }
});

test("client writes: a withdrawn queued write is never proposed; a proposed one reports its log id", () => {
  const host = new Host();
  const writes = new ClientWrites<string>(host);
  const mk = (c: number): Proposal<string> => ({
    data: new Uint8Array([c]),
    term: 0,
    index: 0,
    ifLeader: null,
    withdrawn: false,
    resolve: () => {},
    reject: () => {},
  });
  const a = mk(1), b = mk(2);
  writes.enqueue(a);
  writes.enqueue(b);
  assert.equal(writes.withdraw(a), null, "queued: withdrawn, will not happen");
  host.next = { ok: true, term: 3, firstIndex: 8 };
  writes.propose();
  assert.deepEqual(host.proposed, [[2]], "only the write still wanted is proposed");
  assert.deepEqual(writes.withdraw(b), { term: 3, index: 8 }, "in the log: may still happen");
});

test("client writes: ifLeader proposes only under the expected leader and term", async () => {
  const host = new Host();
  host.leader = 1;
  host.currentTerm = 4;
  const writes = new ClientWrites<string>(host);
  const errors: unknown[] = [];
  const ok: number[] = [];
  for (
    const [c, want] of [[1, { id: 1, term: 4 }], [2, { id: 1, term: 3 }], [3, {
      id: 2,
      term: 4,
    }]] as const
  ) {
    writes.add(new Uint8Array([c]), want).then(() => ok.push(c), (e) => errors.push(e));
  }
  writes.add(new Uint8Array([4])).then(() => ok.push(4), (e) => errors.push(e));
  host.next = { ok: true, term: 4, firstIndex: 10 };
  writes.propose();
  assert.deepEqual(host.proposed, [[1, 4]]);
  await settle();
  assert.equal(errors.length, 2);
  for (const e of errors) {
    assert.ok(e instanceof PreconditionFailed, String(e));
    assert.equal(e.condition, "leader");
    assert.deepEqual(e.actual, { id: 1, term: 4 });
  }
});

test("client writes: with maxBatches batches in the log, queued writes wait for the oldest to apply, then go as one batch", async () => {
  const host = new Host();
  host.maxBatches = 2;
  const writes = new ClientWrites<string>(host);
  const out = new Map<number, Outcome>();
  add(writes, out, 1);
  assert.equal(writes.mayPropose, true);
  host.next = { ok: true, term: 1, firstIndex: 1 };
  writes.propose();
  add(writes, out, 2);
  assert.equal(writes.mayPropose, true);
  host.next = { ok: true, term: 1, firstIndex: 2 };
  writes.propose();
  // Two batches wait for their entries: writes arriving now wait and join one batch.
  add(writes, out, 3);
  add(writes, out, 4);
  assert.equal(writes.mayPropose, false);
  assert.equal(host.wakes, 0);
  writes.applied([entry(1, 1)], ["r1"]);
  assert.equal(host.wakes, 1, "the node is woken to propose the queued writes");
  assert.equal(writes.mayPropose, true);
  host.next = { ok: true, term: 1, firstIndex: 3 };
  writes.propose();
  assert.deepEqual(host.proposed, [[1], [2], [3, 4]]);
  writes.applied(entries(1, 2, 4), ["r2", "r3", "r4"]);
  await settle();
  assert.deepEqual(out.get(4), { ok: true, term: 1, index: 4, response: "r4" });
  assert.equal(host.wakes, 1, "nothing queued: no wake");
});

test("client writes: batches of a lost leadership or an earlier term never hold queued writes back", () => {
  for (const lose of ["step-down", "new-term", "abandoned"] as const) {
    const host = new Host();
    host.maxBatches = 1;
    const writes = new ClientWrites<string>(host);
    const out = new Map<number, Outcome>();
    add(writes, out, 1);
    writes.propose();
    add(writes, out, 2);
    assert.equal(writes.mayPropose, false, lose);
    if (lose === "step-down") host.leading = false;
    else if (lose === "new-term") host.currentTerm = 2;
    else {
      writes.abandon(1, Infinity);
      assert.equal(host.wakes, 1, "abandoning the batch wakes the node");
    }
    assert.equal(writes.mayPropose, true, lose);
  }
});
