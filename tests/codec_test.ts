import { test } from "node:test";
import assert from "node:assert/strict";
import { Encoder } from "cbor-x/encode";
import {
  checkRaftNode,
  CODEC_VERSION,
  decodeEntries,
  decodeEntry,
  decodeMembership,
  decodeMessage,
  decodeSnapshotMeta,
  decodeStoredMembership,
  decodeVote,
  DEFAULT_CODEC_LIMITS,
  encodeEntries,
  encodeEntry,
  encodeMembership,
  encodeMessage,
  encodeSnapshotMeta,
  encodeStoredMembership,
  encodeVote,
  MAX_NODE_FIELDS_DEPTH,
} from "../src/codec.ts";
import { ConfigError, InvalidMessage } from "../src/errors.ts";
import type {
  AppendRequest,
  InstallSnapshotRequest,
  RaftMessage,
  VoteRequest,
} from "../src/messages.ts";
import {
  EMPTY_MEMBERSHIP,
  type Entry,
  INITIAL_VOTE,
  MAX_INDEX,
  MAX_TERM,
  type Membership,
  membershipOf,
  type RaftNode,
  type SnapshotMeta,
} from "../src/types.ts";

// ---------------------------------------------------------------------------
// Helpers

/** A raw CBOR encoder for hand-made (often malformed) inputs. */
const rawCbor = new Encoder({ useRecords: false, tagUint8Array: false });
function cbor(value: unknown): Uint8Array {
  return new Uint8Array(rawCbor.encode(value));
}

function bytes(...b: number[]): Uint8Array {
  return new Uint8Array(b);
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Asserts that `f` throws InvalidMessage (and nothing else), optionally matching its reason. */
function assertInvalid(f: () => unknown, reason?: RegExp): InvalidMessage {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  if (!(caught instanceof InvalidMessage)) {
    assert.fail(`expected InvalidMessage, got ${caught instanceof Error ? caught.stack : caught}`);
  }
  assert.equal(typeof caught.reason, "string");
  if (reason) assert.match(caught.reason, reason);
  return caught;
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function roundTrip(m: RaftMessage): RaftMessage {
  const back = decodeMessage(encodeMessage(m));
  assert.deepEqual(back, m);
  return back;
}

const joint: Membership = {
  configs: [[1, 2, 3], [3, 4, 5]],
  nodes: new Map([
    [1, { addr: "http://10.0.0.1:8001" }],
    [2, { addr: "http://10.0.0.2:8001" }],
    [3, { addr: "http://10.0.0.3:8001" }],
    [4, { addr: "http://10.0.0.4:8001" }],
    [5, { addr: "http://10.0.0.5:8001" }],
    [6, { addr: "http://learner:8001" }],
    [7, { addr: "" }],
  ]),
  clusterId: "5f2c9a01d4e8b7c6a3f0e1d2c3b4a596",
};

function sampleAppend(): AppendRequest {
  return {
    type: "append",
    term: 5,
    leaderId: 2,
    prevLogId: { term: 4, index: 10 },
    entries: [
      { term: 4, index: 11, type: "normal", data: new Uint8Array([1, 2, 3]) },
      { term: 5, index: 12, type: "blank" },
      { term: 5, index: 13, type: "membership", membership: joint },
      { term: 5, index: 14, type: "normal", data: new Uint8Array(0) },
    ],
    leaderCommit: 11,
    round: 99,
    clusterId: "c1",
  };
}

const sampleMeta: SnapshotMeta = {
  lastLogId: { term: 3, index: 1000 },
  lastMembership: { logId: { term: 2, index: 500 }, membership: joint },
  snapshotId: "3-1000-17",
};

function sampleSnapshot(): InstallSnapshotRequest {
  return { type: "install-snapshot", term: 3, leaderId: 1, meta: sampleMeta, clusterId: "c1" };
}

/** [1, 1, ...]: an append envelope with the given fields replaced. */
function appendRaw(patch: Record<number, unknown> = {}, extra: unknown[] = []): Uint8Array {
  const a: unknown[] = [CODEC_VERSION, 1, 5, 2, [4, 10], [[0, 5, 11]], 11, 99, "c1"];
  for (const [k, v] of Object.entries(patch)) a[Number(k)] = v;
  return cbor([...a, ...extra]);
}

// ---------------------------------------------------------------------------
// Round trips: messages

test("codec: append request with every entry type round-trips", () => {
  const back = roundTrip(sampleAppend()) as AppendRequest;
  const e0 = back.entries[0];
  assert.ok(e0?.type === "normal");
  assert.equal(e0.data.constructor, Uint8Array);
});

test("codec: heartbeat with null prevLogId and no entries round-trips", () => {
  roundTrip({
    clusterId: "",
    type: "append",
    term: 1,
    leaderId: 0,
    prevLogId: null,
    entries: [],
    leaderCommit: 0,
    round: 0,
  });
});

test("codec: append from the start of the log (prevLogId null, first index 1)", () => {
  roundTrip({
    clusterId: "",
    type: "append",
    term: 1,
    leaderId: 1,
    prevLogId: null,
    entries: [
      { term: 0, index: 1, type: "membership", membership: membershipOf([1]) },
      { term: 1, index: 2, type: "blank" },
    ],
    leaderCommit: 0,
    round: 1,
  });
});

test("codec: append responses (success and failure hints) round-trip", () => {
  roundTrip({
    type: "append-response",
    term: 3,
    round: 8,
    success: true,
    index: 40,
    hintTerm: 0,
    hintIndex: 0,
  });
  roundTrip({
    type: "append-response",
    term: 3,
    round: 9,
    success: false,
    index: 40,
    hintTerm: 2,
    hintIndex: 31,
  });
});

test("codec: vote and pre-vote requests round-trip", () => {
  for (const type of ["vote", "pre-vote"] as const) {
    roundTrip({
      clusterId: "",
      type,
      term: 7,
      candidateId: 3,
      lastLogId: { term: 6, index: 99 },
      transfer: false,
    });
    roundTrip({ clusterId: "", type, term: 1, candidateId: 0, lastLogId: null, transfer: true });
  }
});

test("codec: vote and pre-vote responses round-trip", () => {
  roundTrip({ type: "vote-response", term: 7, granted: true });
  roundTrip({ type: "vote-response", term: 8, granted: false });
  roundTrip({ type: "pre-vote-response", term: 7, granted: true });
  roundTrip({ type: "pre-vote-response", term: 0, granted: false });
});

test("codec: timeout-now request and response round-trip", () => {
  roundTrip({ clusterId: "", type: "timeout-now", term: 4, leaderId: 9 });
  roundTrip({ type: "timeout-now-response", term: 4, accepted: true });
  roundTrip({ type: "timeout-now-response", term: 5, accepted: false });
});

test("codec: install-snapshot with a joint membership and learners round-trips", () => {
  const back = roundTrip(sampleSnapshot()) as InstallSnapshotRequest;
  assert.ok(back.meta.lastMembership.membership.nodes instanceof Map);
  assert.deepEqual([...back.meta.lastMembership.membership.nodes.keys()], [1, 2, 3, 4, 5, 6, 7]);
  roundTrip({
    clusterId: "",
    type: "install-snapshot",
    term: 1,
    leaderId: 1,
    meta: {
      lastLogId: null,
      lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
      snapshotId: "",
    },
  });
});

test("codec: install-snapshot responses round-trip (with and without lastLogId)", () => {
  roundTrip({ type: "install-snapshot-response", term: 3, lastLogId: { term: 3, index: 1000 } });
  roundTrip({ type: "install-snapshot-response", term: 4, lastLogId: null });
});

test("codec: the largest values round-trip in every numeric field", () => {
  // Terms up to MAX_TERM, log indexes up to MAX_INDEX; node ids and rounds up
  // to 2^53 - 1.
  const max = Number.MAX_SAFE_INTEGER;
  const big: Membership = {
    configs: [[max - 1, max]],
    nodes: new Map([[max - 1, { addr: "a" }], [max, { addr: "b" }]]),
    clusterId: "c",
  };
  roundTrip({
    clusterId: "c",
    type: "append",
    term: MAX_TERM,
    leaderId: max,
    prevLogId: { term: MAX_TERM, index: MAX_INDEX - 2 },
    entries: [
      { term: MAX_TERM, index: MAX_INDEX - 1, type: "blank" },
      { term: MAX_TERM, index: MAX_INDEX, type: "membership", membership: big },
    ],
    leaderCommit: MAX_INDEX,
    round: max,
  });
  roundTrip({
    type: "append-response",
    term: MAX_TERM,
    round: max,
    success: false,
    index: MAX_INDEX,
    hintTerm: MAX_TERM,
    hintIndex: MAX_INDEX,
  });
  for (const type of ["vote", "pre-vote"] as const) {
    roundTrip({
      clusterId: "c",
      type,
      term: MAX_TERM,
      candidateId: max,
      lastLogId: { term: MAX_TERM, index: MAX_INDEX },
      transfer: false,
    });
  }
  roundTrip({
    clusterId: "",
    type: "pre-vote",
    term: 2 ** 32,
    candidateId: 2 ** 32 - 1,
    lastLogId: null,
    transfer: false,
  });
  roundTrip({ type: "vote-response", term: MAX_TERM, granted: true });
  roundTrip({ type: "pre-vote-response", term: MAX_TERM, granted: false });
  roundTrip({ clusterId: "c", type: "timeout-now", term: MAX_TERM, leaderId: max });
  roundTrip({ type: "timeout-now-response", term: MAX_TERM, accepted: true });
  const meta: SnapshotMeta = {
    lastLogId: { term: MAX_TERM, index: MAX_INDEX },
    lastMembership: { logId: { term: MAX_TERM, index: MAX_INDEX }, membership: big },
    snapshotId: "s",
  };
  roundTrip({ clusterId: "c", type: "install-snapshot", term: MAX_TERM, leaderId: max, meta });
  roundTrip({
    type: "install-snapshot-response",
    term: MAX_TERM,
    lastLogId: { term: MAX_TERM, index: MAX_INDEX },
  });
  // The storage encodings.
  const entry: Entry = { term: MAX_TERM, index: MAX_INDEX, type: "blank" };
  assert.deepEqual(decodeEntry(encodeEntry(entry)), entry);
  assert.deepEqual(decodeEntries(encodeEntries([entry])), [entry]);
  const vote = { term: MAX_TERM, votedFor: max, committed: true };
  assert.deepEqual(decodeVote(encodeVote(vote)), vote);
  assert.deepEqual(decodeSnapshotMeta(encodeSnapshotMeta(meta)), meta);
  assert.deepEqual(decodeStoredMembership(encodeStoredMembership(meta.lastMembership)), {
    logId: { term: MAX_TERM, index: MAX_INDEX },
    membership: big,
  });
  assert.deepEqual(decodeMembership(encodeMembership(big)), big);
});

// ---------------------------------------------------------------------------
// Round trips: entries, votes, memberships, snapshot metadata

test("codec: every entry type round-trips through encodeEntry", () => {
  const entries: Entry[] = [
    { term: 1, index: 1, type: "blank" },
    { term: 1, index: 2, type: "normal", data: new TextEncoder().encode("set x = 1") },
    { term: 2, index: 3, type: "normal", data: new Uint8Array(0) },
    { term: 2, index: 4, type: "membership", membership: joint },
    { term: 2, index: 5, type: "membership", membership: EMPTY_MEMBERSHIP },
  ];
  for (const e of entries) assert.deepEqual(decodeEntry(encodeEntry(e)), e);
});

test("codec: empty payload decodes as an empty Uint8Array", () => {
  const e = decodeEntry(encodeEntry({ term: 1, index: 1, type: "normal", data: new Uint8Array() }));
  assert.ok(e.type === "normal");
  assert.ok(e.data instanceof Uint8Array);
  assert.equal(e.data.constructor, Uint8Array);
  assert.equal(e.data.length, 0);
});

test("codec: 1 MiB payload round-trips exactly", () => {
  const data = new Uint8Array(1 << 20);
  const rnd = prng(42);
  for (let i = 0; i < data.length; i++) data[i] = (rnd() * 256) | 0;
  const e: Entry = { term: 3, index: 7, type: "normal", data };
  const back = decodeEntry(encodeEntry(e));
  assert.deepEqual(back, e);
  const m: AppendRequest = {
    type: "append",
    term: 3,
    leaderId: 1,
    prevLogId: { term: 3, index: 6 },
    entries: [e, { term: 3, index: 8, type: "normal", data: data.subarray(5, 500_000) }],
    leaderCommit: 6,
    round: 1,
    clusterId: "",
  };
  roundTrip(m);
});

test("codec: entry lists round-trip, including the empty list", () => {
  const es = sampleAppend().entries;
  assert.deepEqual(decodeEntries(encodeEntries(es)), es);
  assert.deepEqual(decodeEntries(encodeEntries([])), []);
  // A stored list need not be consecutive (an append request must be).
  const gaps: Entry[] = [{ term: 1, index: 5, type: "blank" }, {
    term: 1,
    index: 2,
    type: "blank",
  }];
  assert.deepEqual(decodeEntries(encodeEntries(gaps)), gaps);
});

test("codec: votes round-trip", () => {
  assert.deepEqual(decodeVote(encodeVote(INITIAL_VOTE)), INITIAL_VOTE);
  for (
    const v of [{ term: 3, votedFor: 0, committed: false }, {
      term: 9,
      votedFor: 4,
      committed: true,
    }]
  ) {
    assert.deepEqual(decodeVote(encodeVote(v)), v);
  }
});

test("codec: memberships round-trip (single, joint with learners, empty)", () => {
  for (const m of [membershipOf([3, 1, 2], [4]), joint, EMPTY_MEMBERSHIP]) {
    const back = decodeMembership(encodeMembership(m));
    assert.deepEqual(back, m);
    assert.deepEqual([...back.nodes.keys()], [...m.nodes.keys()]); // map order preserved
  }
  const sm = { logId: { term: 2, index: 3 }, membership: joint };
  assert.deepEqual(decodeStoredMembership(encodeStoredMembership(sm)), sm);
  const none = { logId: null, membership: EMPTY_MEMBERSHIP };
  assert.deepEqual(decodeStoredMembership(encodeStoredMembership(none)), none);
});

test("codec: unicode addresses and snapshot ids round-trip", () => {
  const m: Membership = {
    configs: [[1]],
    nodes: new Map([[1, { addr: "http://ノード.例:8001/ü/🚀" }]]),
    clusterId: "集群-🚀",
  };
  assert.deepEqual(decodeMembership(encodeMembership(m)), m);
  const meta: SnapshotMeta = { ...sampleMeta, snapshotId: "快照-🚀" };
  assert.deepEqual(decodeSnapshotMeta(encodeSnapshotMeta(meta)), meta);
});

test("codec: snapshot meta round-trips, including a null lastLogId", () => {
  assert.deepEqual(decodeSnapshotMeta(encodeSnapshotMeta(sampleMeta)), sampleMeta);
  const empty: SnapshotMeta = {
    lastLogId: null,
    lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
    snapshotId: "none",
  };
  assert.deepEqual(decodeSnapshotMeta(encodeSnapshotMeta(empty)), empty);
});

// ---------------------------------------------------------------------------
// Bytes: determinism, plain Uint8Arrays, no aliasing

test("codec: encoding is deterministic and versioned", () => {
  const a = encodeMessage(sampleAppend());
  const b = encodeMessage(sampleAppend());
  assert.deepEqual(a, b);
  encodeMessage(sampleSnapshot()); // something else in between
  assert.deepEqual(encodeMessage(sampleAppend()), a);
  assert.equal(a[0], 0x89); // array(9): version, tag and the seven fields of an append
  assert.equal(a[1], CODEC_VERSION);
  assert.equal(a[2], 1); // append tag
  // A compact envelope: a vote response is 4 bytes.
  assert.deepEqual(
    encodeMessage({ type: "vote-response", term: 2, granted: true }),
    bytes(0x84, 1, 5, 2, 0xf5),
  );
});

test("codec: encoded output is a plain, exactly-sized Uint8Array that stays valid", () => {
  const first = encodeMessage(sampleAppend());
  const copy = first.slice();
  for (let i = 0; i < 1000; i++) encodeMessage(sampleSnapshot()); // reuse of scratch buffers
  assert.equal(first.constructor, Uint8Array);
  assert.equal(first.byteOffset, 0);
  assert.equal(first.buffer.byteLength, first.byteLength);
  assert.deepEqual(first, copy);
});

test("codec: decoded payloads are plain Uint8Arrays that never alias the input", () => {
  const input = encodeEntry({ term: 1, index: 1, type: "normal", data: bytes(7, 8, 9) });
  const e = decodeEntry(input);
  assert.ok(e.type === "normal");
  assert.equal(Object.getPrototypeOf(e.data), Uint8Array.prototype);
  assert.notEqual(e.data.buffer, input.buffer);
  input.fill(0);
  assert.deepEqual(e.data, bytes(7, 8, 9));
  // cbor-x caches a DataView on its source; the caller's array is left untouched.
  assert.deepEqual(Object.getOwnPropertyNames(input).filter((k) => !/^\d+$/.test(k)), []);
});

test("codec: Buffer and Uint8Array subclasses work as input and as payload", () => {
  class Bytes extends Uint8Array {}
  const data = new Bytes([1, 2, 3]);
  const m: AppendRequest = {
    ...sampleAppend(),
    prevLogId: null,
    entries: [{ term: 1, index: 1, type: "normal", data }],
  };
  const encoded = encodeMessage(m);
  const back = decodeMessage(Bytes.from(encoded)) as AppendRequest;
  const e = back.entries[0];
  assert.ok(e?.type === "normal");
  assert.equal(e.data.constructor, Uint8Array);
  assert.deepEqual(e.data, bytes(1, 2, 3));
  // Node's Buffer, where the runtime has one (Bun, and Deno for npm code).
  const B = (globalThis as { Buffer?: { from(b: Uint8Array): Uint8Array } }).Buffer;
  if (B) {
    const fromBuffer = decodeMessage(B.from(encoded)) as AppendRequest;
    const e2 = fromBuffer.entries[0];
    assert.ok(e2?.type === "normal");
    assert.equal(e2.data.constructor, Uint8Array);
    assert.deepEqual(e2.data, bytes(1, 2, 3));
    const m2 = { ...m, entries: [{ ...e2, data: B.from(bytes(4, 5)) }] };
    assert.deepEqual(
      encodeMessage(m2),
      encodeMessage({ ...m, entries: [{ ...e2, data: bytes(4, 5) }] }),
    );
  }
});

test("codec: decoding a subarray view reads only that view", () => {
  const encoded = encodeMessage({ clusterId: "c1", type: "timeout-now", term: 4, leaderId: 9 });
  const padded = concat(bytes(0xff, 0xff), encoded, bytes(0xff));
  const view = padded.subarray(2, 2 + encoded.length);
  assert.deepEqual(decodeMessage(view), {
    type: "timeout-now",
    term: 4,
    leaderId: 9,
    clusterId: "c1",
  });
});

// ---------------------------------------------------------------------------
// Malformed input

test("codec: empty input and non-Uint8Array input are InvalidMessage", () => {
  assertInvalid(() => decodeMessage(new Uint8Array(0)), /empty/);
  for (const f of [decodeEntry, decodeEntries, decodeVote, decodeMembership, decodeSnapshotMeta]) {
    assertInvalid(() => f(new Uint8Array(0)));
  }
  for (const bad of [null, undefined, "abc", [1, 2], new ArrayBuffer(4), new Uint16Array(2)]) {
    assertInvalid(() => decodeMessage(bad as unknown as Uint8Array), /Uint8Array/);
  }
});

test("codec: every truncation of valid encodings is InvalidMessage", () => {
  const cases: [Uint8Array, (b: Uint8Array) => unknown][] = [
    [encodeMessage(sampleAppend()), decodeMessage],
    [encodeMessage(sampleSnapshot()), decodeMessage],
    [
      encodeMessage({
        clusterId: "",
        type: "vote",
        term: 1,
        candidateId: 2,
        lastLogId: null,
        transfer: true,
      }),
      decodeMessage,
    ],
    [encodeEntries(sampleAppend().entries), decodeEntries],
    [encodeEntry({ term: 1, index: 1, type: "normal", data: new Uint8Array(300) }), decodeEntry],
    [encodeVote({ term: 300, votedFor: 70000, committed: true }), decodeVote],
    [encodeSnapshotMeta(sampleMeta), decodeSnapshotMeta],
    [encodeMembership(joint), decodeMembership],
  ];
  let n = 0;
  for (const [full, decode] of cases) {
    decode(full); // the whole is valid
    for (let len = 0; len < full.length; len++) {
      assertInvalid(() => decode(full.subarray(0, len)));
      n++;
    }
  }
  assert.ok(n > 500);
});

test("codec: seeded random garbage never throws anything but InvalidMessage", () => {
  const rnd = prng(0xc0ffee);
  const decoders = [
    decodeMessage,
    decodeEntry,
    decodeEntries,
    decodeVote,
    decodeMembership,
    decodeSnapshotMeta,
    decodeStoredMembership,
  ];
  let valid = 0;
  for (let i = 0; i < 2000; i++) {
    const len = (rnd() * 48) | 0;
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = (rnd() * 256) | 0;
    // Half of the cases start like a real envelope to get past the first checks.
    if (i % 2 === 0 && len > 2) b.set([0x80 | (2 + ((rnd() * 7) | 0)), CODEC_VERSION], 0);
    for (const decode of decoders) {
      try {
        decode(b);
        valid++;
      } catch (e) {
        if (!(e instanceof InvalidMessage)) throw e;
      }
    }
  }
  assert.ok(valid >= 0);
});

test("codec: seeded mutations of valid messages decode validly or throw InvalidMessage", () => {
  const rnd = prng(7);
  const originals = [
    encodeMessage(sampleAppend()),
    encodeMessage(sampleSnapshot()),
    encodeMessage({
      type: "append-response",
      term: 3,
      round: 9,
      success: false,
      index: 4,
      hintTerm: 2,
      hintIndex: 3,
    }),
  ];
  let valid = 0;
  for (let i = 0; i < 3000; i++) {
    const b = (originals[i % originals.length] as Uint8Array).slice();
    const flips = 1 + ((rnd() * 3) | 0);
    for (let f = 0; f < flips; f++) b[(rnd() * b.length) | 0] = (rnd() * 256) | 0;
    let m: RaftMessage;
    try {
      m = decodeMessage(b);
    } catch (e) {
      if (!(e instanceof InvalidMessage)) throw e;
      continue;
    }
    valid++;
    // Whatever decodes is a well-formed message: it re-encodes to an equal message.
    assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  }
  assert.ok(valid > 0);
});

test("codec: unknown or wrongly typed versions are rejected, naming the version", () => {
  for (const version of [0, 2, 99, -1, "1", null, 1.5]) {
    const e = assertInvalid(() => decodeMessage(cbor([version, 5, 2, true])), /version/);
    assert.match(
      e.reason,
      new RegExp(String(version === "1" ? '"1"' : version).replace(".", "\\.")),
    );
  }
  assertInvalid(() => decodeVote(cbor([2, 1, null, false])), /version 2/);
  assertInvalid(() => decodeEntry(cbor([7, 0, 1, 1])), /version 7/);
  assertInvalid(() => decodeMessage(cbor([])), /array/);
  assertInvalid(() => decodeMessage(cbor(1)), /array/);
  assertInvalid(() => decodeMessage(cbor("hello")), /array/);
});

test("codec: unknown message tags and entry tags are rejected", () => {
  for (const tag of [0, 13, 99, -1, "vote", null, true]) {
    assertInvalid(() => decodeMessage(cbor([CODEC_VERSION, tag, 1, true])), /message type/);
  }
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[3, 5, 11]] })), /entry type/);
  assertInvalid(() => decodeEntry(cbor([CODEC_VERSION, 9, 1, 1])), /entry type/);
});

test("codec: read-index requests and responses round-trip (follower reads)", () => {
  const samples: RaftMessage[] = [
    { type: "read-index", clusterId: "c1", term: 3, readerId: 2 },
    { type: "read-index", clusterId: "", term: MAX_TERM, readerId: 2 ** 40 },
    { type: "read-index-response", term: 3, index: 42, leaderId: 1 },
    { type: "read-index-response", term: 4, index: null, leaderId: 3 },
    { type: "read-index-response", term: 4, index: null, leaderId: null },
    { type: "read-index-response", term: MAX_TERM, index: MAX_INDEX, leaderId: 7 },
  ];
  for (const m of samples) assert.deepEqual(decodeMessage(encodeMessage(m)), m);
  assert.deepEqual(
    [...encodeMessage({ type: "read-index", clusterId: "c", term: 3, readerId: 2 })],
    [...cbor([CODEC_VERSION, 11, 3, 2, "c"])],
  );
});

test("codec: hostile read-index messages are refused with InvalidMessage", () => {
  const bad: [unknown[], RegExp][] = [
    [[CODEC_VERSION, 11, 3, 2], /read-index must have 5 fields/],
    [[CODEC_VERSION, 11, 3, 2, "c", 0], /read-index must have 5 fields/],
    [[CODEC_VERSION, 11, -1, 2, "c"], /read-index\.term/],
    [[CODEC_VERSION, 11, MAX_TERM + 1, 2, "c"], /read-index\.term/],
    [[CODEC_VERSION, 11, 3, "2", "c"], /read-index\.readerId/],
    [[CODEC_VERSION, 11, 3, 1.5, "c"], /read-index\.readerId/],
    [[CODEC_VERSION, 11, 3, null, "c"], /read-index\.readerId/],
    [[CODEC_VERSION, 11, 3, 2, 7], /read-index\.clusterId/],
    [[CODEC_VERSION, 11, 3, 2, null], /read-index\.clusterId/],
    [[CODEC_VERSION, 12, 3, 5], /read-index-response must have 5 fields/],
    [[CODEC_VERSION, 12, "3", 5, 1], /read-index-response\.term/],
    [[CODEC_VERSION, 12, 3, MAX_INDEX + 1, 1], /read-index-response\.index/],
    [[CODEC_VERSION, 12, 3, -5, 1], /read-index-response\.index/],
    [[CODEC_VERSION, 12, 3, true, 1], /read-index-response\.index/],
    [[CODEC_VERSION, 12, 3, 5, "1"], /read-index-response\.leaderId/],
    [[CODEC_VERSION, 12, 3, 5, [1]], /read-index-response\.leaderId/],
  ];
  for (const [value, reason] of bad) {
    assertInvalid(() => decodeMessage(cbor(value)), reason);
  }
  // Encoding refuses what it cannot write (the caller's bug), as for every message.
  assert.throws(
    () => encodeMessage({ type: "read-index-response", term: 1, index: -1, leaderId: null }),
    TypeError,
  );
});

test("codec: wrong arity is rejected", () => {
  assertInvalid(() => decodeMessage(cbor([CODEC_VERSION, 5, 2])), /fields/);
  assertInvalid(() => decodeMessage(cbor([CODEC_VERSION, 5, 2, true, 0])), /fields/);
  assertInvalid(() => decodeMessage(appendRaw({}, [0])), /fields/);
  assertInvalid(() => decodeMessage(appendRaw({ 4: [4] })), /prevLogId/);
  assertInvalid(() => decodeMessage(appendRaw({ 4: [4, 10, 1] })), /prevLogId/);
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[0, 5, 11, 1]] })), /fields/);
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[1, 5, 11]] })), /fields/);
  assertInvalid(() => decodeEntry(cbor([CODEC_VERSION, 1, 1, 1])), /fields/);
  assertInvalid(() => decodeEntry(cbor([CODEC_VERSION, 0, 1])), /fields/);
  assertInvalid(() => decodeVote(cbor([CODEC_VERSION, 1, null])), /fields/);
  assertInvalid(() => decodeEntries(cbor([CODEC_VERSION, [], []])), /fields/);
  assertInvalid(() => decodeSnapshotMeta(cbor([CODEC_VERSION, null, [null, [[], []]]])), /fields/);
});

test("codec: wrong field types are rejected (string, negative, float, NaN, Infinity, bigint)", () => {
  const bad: [number, unknown, RegExp][] = [
    [2, "5", /append\.term/],
    [2, -1, /append\.term/],
    [2, 1.5, /append\.term/],
    [2, NaN, /append\.term/],
    [2, Infinity, /append\.term/],
    [2, 2 ** 53, /append\.term/],
    [2, null, /append\.term/],
    [2, true, /append\.term/],
    [3, -3, /leaderId/],
    [3, "node-1", /leaderId/],
    [4, [4, 10.25], /prevLogId\.index/],
    [4, [-4, 10], /prevLogId\.term/],
    [4, "4:10", /prevLogId/],
    [5, [[0, 5, NaN]], /index/],
    [5, "entries", /entries/],
    [5, { length: 0 }, /map/],
    [6, -0.5, /leaderCommit/],
    [7, new Uint8Array(1), /round/],
  ];
  for (const [field, value, re] of bad) {
    assertInvalid(() => decodeMessage(appendRaw({ [field]: value })), re);
  }
  // A uint64 beyond 2^53 (cbor-x yields a BigInt) and negative integers.
  const big = concat(
    bytes(0x84, CODEC_VERSION, 5, 0x1b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0),
    bytes(0xf5),
  );
  assertInvalid(() => decodeMessage(big), /term/);
  assertInvalid(() =>
    decodeMessage(bytes(0x84, CODEC_VERSION, 5, 0x3b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xf5))
  );
  // Booleans must be booleans.
  assertInvalid(() => decodeMessage(cbor([CODEC_VERSION, 5, 2, 1])), /granted/);
  assertInvalid(() => decodeMessage(cbor([CODEC_VERSION, 8, 2, "true"])), /accepted/);
  assertInvalid(() => decodeMessage(cbor([CODEC_VERSION, 3, 2, 1, null, 0, "c1"])), /transfer/);
  assertInvalid(
    () => decodeMessage(cbor([CODEC_VERSION, 2, 1, 1, null, 1, 0, 0])),
    /success/,
  );
  // Payloads must be byte strings; addresses and snapshot ids strings.
  assertInvalid(() => decodeEntry(cbor([CODEC_VERSION, 1, 1, 1, "data"])), /data/);
  assertInvalid(() => decodeEntry(cbor([CODEC_VERSION, 1, 1, 1, [1, 2]])), /data/);
  assertInvalid(() => decodeMembership(cbor([CODEC_VERSION, [[1]], [[1, 5]]])), /addr/);
  assertInvalid(
    () => decodeSnapshotMeta(cbor([CODEC_VERSION, null, [null, [[], []]], 5])),
    /snapshotId/,
  );
  // Vote fields.
  assertInvalid(() => decodeVote(cbor([CODEC_VERSION, 1, -2, false])), /votedFor/);
  assertInvalid(() => decodeVote(cbor([CODEC_VERSION, 1, 2, "yes"])), /committed/);
  assertInvalid(() => decodeVote(cbor([CODEC_VERSION, 1.1, 2, true])), /term/);
});

test("codec: integers written as uint64 by other encoders are accepted up to 2^53 - 1", () => {
  // vote-response with term 2^32 as a CBOR uint64 (cbor-x itself writes a float64).
  const u64 = (hi: number, lo: number) => {
    const b = new Uint8Array(9);
    b[0] = 0x1b;
    new DataView(b.buffer).setUint32(1, hi);
    new DataView(b.buffer).setUint32(5, lo);
    return b;
  };
  const vr = (term: Uint8Array) => concat(bytes(0x84, CODEC_VERSION, 5), term, bytes(0xf5));
  assert.deepEqual(decodeMessage(vr(u64(1, 0))), {
    type: "vote-response",
    term: 2 ** 32,
    granted: true,
  });
  // A term up to MAX_TERM (2^52); beyond it, or beyond 2^53 - 1, refused.
  assert.equal(decodeMessage(vr(u64(0x100000, 0))).term, MAX_TERM);
  assertInvalid(() => decodeMessage(vr(u64(0x100000, 1))), /term .* exceeds the largest term/);
  assertInvalid(() => decodeMessage(vr(u64(0x200000, 0))), /term must be a non-negative safe/);
  // A node id (a vote's votedFor) up to 2^53 - 1.
  const vote = (votedFor: Uint8Array) =>
    concat(bytes(0x84, CODEC_VERSION, 3), votedFor, bytes(0xf5));
  assert.deepEqual(decodeVote(vote(u64(0x1fffff, 0xffffffff))), {
    term: 3,
    votedFor: Number.MAX_SAFE_INTEGER,
    committed: true,
  });
  assertInvalid(() => decodeVote(vote(u64(0x200000, 0))), /votedFor/);
  // A log index up to MAX_INDEX (2^52).
  const entry = (index: Uint8Array) => concat(bytes(0x84, CODEC_VERSION, 0, 1), index);
  assert.deepEqual(decodeEntry(entry(u64(0, 7))), { term: 1, index: 7, type: "blank" });
  assert.deepEqual(decodeEntry(entry(u64(0x100000, 0))), {
    term: 1,
    index: MAX_INDEX,
    type: "blank",
  });
  assertInvalid(() => decodeEntry(entry(u64(0x100000, 1))), /index .* exceeds the largest log/);
});

test("codec: negative zero is read as zero", () => {
  // -0.0 as a half float in the term of a vote response.
  const m = decodeMessage(bytes(0x84, CODEC_VERSION, 5, 0xf9, 0x80, 0x00, 0xf5));
  assert.ok(Object.is(m.term, 0));
});

test("codec: append entries must continue prevLogId with consecutive indexes", () => {
  // Non-consecutive.
  assertInvalid(
    () => decodeMessage(appendRaw({ 5: [[0, 5, 11], [0, 5, 13]] })),
    /not consecutive/,
  );
  // Going backwards / duplicated.
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[0, 5, 11], [0, 5, 11]] })), /not consecutive/);
  // First index must be prevLogId.index + 1.
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[0, 5, 12]] })), /requires 11/);
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[0, 5, 10]] })), /requires 11/);
  // With prevLogId null the first index is 1.
  assertInvalid(() => decodeMessage(appendRaw({ 4: null, 5: [[0, 5, 2]] })), /requires 1/);
  assert.equal(
    (decodeMessage(appendRaw({ 4: null, 5: [[0, 5, 1]] })) as AppendRequest).entries.length,
    1,
  );
  // Index 0 never exists.
  assertInvalid(() => decodeEntry(cbor([CODEC_VERSION, 0, 1, 0])), /at least 1/);
});

test("codec: append entry terms never decrease and never exceed the leader's term", () => {
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[0, 3, 11]] })), /lower/); // prevLogId.term is 4
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[0, 5, 11], [0, 4, 12]] })), /lower/);
  assertInvalid(() => decodeMessage(appendRaw({ 5: [[0, 6, 11]] })), /exceeds/);
});

test("codec: trailing bytes after the value are rejected", () => {
  const ok = encodeMessage({ type: "vote-response", term: 1, granted: true });
  assertInvalid(() => decodeMessage(concat(ok, bytes(0))), /trailing/);
  assertInvalid(() => decodeMessage(concat(ok, ok)), /trailing/);
  assertInvalid(() => decodeVote(concat(encodeVote(INITIAL_VOTE), bytes(0xff))), /trailing/);
});

test("codec: 100k nested arrays are InvalidMessage, not a stack overflow", () => {
  const deep = new Uint8Array(100_001).fill(0x81);
  deep[100_000] = 0;
  assertInvalid(() => decodeMessage(deep), /nesting/);
  assertInvalid(() => decodeEntries(deep), /nesting/);
  // Deep nesting inside a plausible envelope, too.
  const inner = new Uint8Array(1000).fill(0x81);
  assertInvalid(
    () => decodeMessage(concat(bytes(0x84, CODEC_VERSION, 5, 1), inner, bytes(0))),
    /nesting/,
  );
  // Indefinite-length nesting.
  assertInvalid(() => decodeMessage(new Uint8Array(100_000).fill(0x9f)), /indefinite/);
});

test("codec: huge declared lengths are rejected without allocating", () => {
  // A 2^32-1 byte string, a 2^32-1 text string, 2^64-1 items: in 10-byte buffers.
  assertInvalid(
    () => decodeMessage(bytes(0x82, 1, 0x5a, 0xff, 0xff, 0xff, 0xff, 1, 2, 3)),
    /exceeds/,
  );
  assertInvalid(
    () => decodeMessage(bytes(0x82, 1, 0x7a, 0xff, 0xff, 0xff, 0xff, 1, 2, 3)),
    /exceeds/,
  );
  assertInvalid(
    () => decodeMessage(bytes(0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1)),
    /exceeds/,
  );
  assertInvalid(() => decodeMessage(bytes(0x9a, 0x00, 0x10, 0x00, 0x00, 1, 2, 3, 4, 5)), /exceeds/);
  assertInvalid(() => decodeMessage(bytes(0x5b, 0, 0, 0, 1, 0, 0, 0, 0, 1)), /exceeds/);
  // Truncated length headers themselves.
  assertInvalid(() => decodeMessage(bytes(0x9b, 0xff, 0xff)), /truncated/);
});

test("codec: entry count and string length limits are enforced", () => {
  const es: Entry[] = [];
  for (let i = 1; i <= 5; i++) es.push({ term: 1, index: i, type: "blank" });
  const m: AppendRequest = { ...sampleAppend(), term: 1, prevLogId: null, entries: es };
  assert.equal(
    (decodeMessage(encodeMessage(m), { maxEntries: 5 }) as AppendRequest).entries.length,
    5,
  );
  assertInvalid(() => decodeMessage(encodeMessage(m), { maxEntries: 4 }), /limit of 4|at most 4/);
  assertInvalid(() => decodeEntries(encodeEntries(es), { maxEntries: 4 }), /limit of 4|at most 4/);
  assert.equal(DEFAULT_CODEC_LIMITS.maxEntries, 1_000_000);
  // An array header declaring one more than the default maximum.
  assertInvalid(
    () =>
      decodeMessage(
        concat(bytes(0x82, 1, 0x9a, 0x00, 0x0f, 0x42, 0x41), new Uint8Array(1_000_001)),
      ),
    /limit/,
  );
  // Strings.
  const long = "x".repeat(DEFAULT_CODEC_LIMITS.maxStringBytes + 1);
  const mm: Membership = { configs: [[1]], nodes: new Map([[1, { addr: long }]]), clusterId: "" };
  assertInvalid(() => decodeMembership(encodeMembership(mm)), /string/);
  assert.equal(
    decodeMembership(encodeMembership(mm), { maxStringBytes: long.length }).nodes.get(1)?.addr,
    long,
  );
  // Nodes.
  assertInvalid(() => decodeMembership(encodeMembership(joint), { maxNodes: 6 }), /at most 6/);
  // Nonsense limits are the caller's bug, not the input's.
  assert.throws(() => decodeMessage(encodeMessage(m), { maxEntries: NaN }), ConfigError);
  assert.throws(() => decodeMessage(encodeMessage(m), { maxStringBytes: -1 }), ConfigError);
});

test("codec: CBOR features the format never uses are rejected (tags, maps, undefined, simple)", () => {
  // Tags: bigint (quadratic in cbor-x), date, generic object (tag 27), shared refs, typed array.
  assertInvalid(() => decodeMessage(bytes(0xc2, 0x41, 1)), /tag 2/);
  assertInvalid(() => decodeMessage(bytes(0x84, 1, 5, 0xc1, 1, 0xf5)), /tag 1/);
  assertInvalid(() => decodeMessage(concat(bytes(0xd8, 27), cbor(["RegExp", "a"]))), /tag 27/);
  assertInvalid(() => decodeMessage(concat(bytes(0xd8, 28), cbor([1, 5, 1, true]))), /tag 28/);
  assertInvalid(
    () => decodeEntry(concat(bytes(0x85, 1, 1, 1, 1, 0xd8, 64), cbor(bytes(1)))),
    /tag 64/,
  );
  assertInvalid(() => decodeMessage(bytes(0xd9, 0xe0, 0x00, 0x80)), /tag/); // cbor-x record
  // Maps (with or without __proto__ keys).
  assertInvalid(
    () => decodeMessage(concat(bytes(0xa1, 0x69), new TextEncoder().encode("__proto__"), bytes(1))),
    /map/,
  );
  assertInvalid(() => decodeMessage(bytes(0x84, 1, 5, 0xa0, 0xf5)), /map/);
  // undefined and other simple values.
  assertInvalid(() => decodeMessage(bytes(0x84, 1, 5, 1, 0xf7)), /simple/);
  assertInvalid(() => decodeMessage(bytes(0x84, 1, 5, 1, 0xf8, 0x20)), /simple/);
  assertInvalid(() => decodeMessage(bytes(0x84, 1, 5, 1, 0xe0)), /simple/);
  // Stray break and reserved headers.
  assertInvalid(() => decodeMessage(bytes(0x84, 1, 5, 1, 0xff)), /indefinite/);
  assertInvalid(() => decodeMessage(bytes(0x84, 1, 5, 0x1c, 0xf5)), /reserved/);
  // Indefinite-length strings and arrays.
  assertInvalid(() => decodeMessage(bytes(0x9f, 1, 5, 1, 0xf5, 0xff)), /indefinite/);
  assertInvalid(() => decodeEntry(bytes(0x85, 1, 1, 1, 1, 0x5f, 0x41, 1, 0xff)), /indefinite/);
});

test("codec: invalid UTF-8 in strings is rejected", () => {
  for (const s of [bytes(0xff), bytes(0xc3), bytes(0xed, 0xa0, 0x80), bytes(0x61, 0xe2, 0x82)]) {
    const mb = concat(bytes(0x83, 1, 0x81, 0x81, 1, 0x81, 0x82, 1, 0x60 + s.length), s);
    assertInvalid(() => decodeMembership(mb), /UTF-8/);
  }
  // The same framing with valid UTF-8 decodes.
  const ok = concat(bytes(0x83, 1, 0x81, 0x81, 1, 0x81, 0x82, 1, 0x62), bytes(0xc3, 0xbc));
  assert.equal(decodeMembership(ok).nodes.get(1)?.addr, "ü");
});

test("codec: voter sets must be sorted, unique, non-empty, listed in nodes, at most two", () => {
  const nodes = [[1, "a"], [2, "b"], [3, "c"]];
  const m = (configs: unknown, ns: unknown = nodes) => cbor([CODEC_VERSION, configs, ns]);
  assert.deepEqual(decodeMembership(m([[1, 2, 3]])).configs, [[1, 2, 3]]);
  assertInvalid(() => decodeMembership(m([[2, 1, 3]])), /sorted/);
  assertInvalid(() => decodeMembership(m([[1, 2, 2]])), /sorted/);
  assertInvalid(() => decodeMembership(m([[1, 2], [3, 1]])), /sorted/);
  assertInvalid(() => decodeMembership(m([[1, 2, 4]])), /voter 4.*missing/);
  assertInvalid(() => decodeMembership(m([[1], [2], [3]])), /at most 2/);
  assertInvalid(() => decodeMembership(m([[]])), /empty voter set/);
  assertInvalid(() => decodeMembership(m([1, 2])), /configs\[0\]/);
  assertInvalid(() => decodeMembership(m([["1"]])), /configs\[0\]\[0\]/);
  assertInvalid(() => decodeMembership(m([[1]], [[1, "a"], [1, "b"]])), /twice/);
  assertInvalid(() => decodeMembership(m([[1]], [[1, "a", "x"]])), /fields/);
  assertInvalid(() => decodeMembership(m([[1]], [[-1, "a"]])), /id/);
  assertInvalid(() => decodeMembership(m([[1]], new Uint8Array(2))), /nodes/);
  // The same checks apply inside messages.
  const badEntry = [2, 5, 11, [[[3, 1]], [[1, "a"], [3, "c"]]]];
  assertInvalid(() => decodeMessage(appendRaw({ 5: [badEntry] })), /sorted/);
  const badMeta = [null, [null, [[[1, 9]], [[1, "a"]]]], "s"];
  assertInvalid(
    () => decodeMessage(cbor([CODEC_VERSION, 9, 1, 1, badMeta, "c1"])),
    /voter 9.*missing/,
  );
});

test("codec: each decoder rejects the other kinds of value", () => {
  const msg = encodeMessage(sampleAppend());
  assertInvalid(() => decodeVote(msg));
  assertInvalid(() => decodeEntry(msg));
  assertInvalid(() => decodeEntries(msg));
  assertInvalid(() => decodeMembership(msg));
  assertInvalid(() => decodeSnapshotMeta(msg));
  assertInvalid(() => decodeMessage(encodeVote(INITIAL_VOTE)));
  assertInvalid(() => decodeMessage(encodeEntry({ term: 1, index: 1, type: "blank" })));
  assertInvalid(() => decodeEntry(encodeMembership(joint)));
});

test("codec: encoding rejects values outside the types with a TypeError", () => {
  const bad: unknown[] = [
    { type: "gossip", term: 1 },
    { type: "vote-response", term: -1, granted: true },
    { type: "vote-response", term: 1.5, granted: true },
    { type: "timeout-now", term: 1, leaderId: NaN, clusterId: "" },
    { type: "timeout-now", term: 2 ** 53, leaderId: 1, clusterId: "" },
    { type: "timeout-now-response", term: 1, accepted: "yes" },
    {
      type: "vote",
      term: 1,
      candidateId: 1,
      lastLogId: { term: 1, index: -1 },
      transfer: false,
      clusterId: "",
    },
    { ...sampleAppend(), entries: [{ term: 5, index: 11, type: "normal", data: "x" }] },
    { ...sampleAppend(), entries: [{ term: 5, index: 11, type: "weird" }] },
    // A cluster id that is not a string, in a request or in a membership.
    { ...sampleAppend(), clusterId: 5 },
    { ...sampleSnapshot(), clusterId: null },
    { type: "timeout-now", term: 1, leaderId: 1 },
    {
      ...sampleAppend(),
      entries: [{ term: 5, index: 11, type: "membership", membership: { ...joint, clusterId: 7 } }],
    },
  ];
  for (const m of bad) assert.throws(() => encodeMessage(m as RaftMessage), TypeError);
  assert.throws(
    () => encodeEntry({ term: 1, index: 1, type: "weird" } as unknown as Entry),
    TypeError,
  );
  assert.throws(() => encodeVote({ term: 1, votedFor: -5, committed: false }), TypeError);
  // A failed encode leaves nothing behind for the next one.
  const ok = { type: "vote-response", term: 2, granted: true } as const;
  assert.deepEqual(encodeMessage(ok), bytes(0x84, 1, 5, 2, 0xf5));
});

test("codec: bytes are exactly what cbor-x encodes for the equivalent arrays", () => {
  const max = Number.MAX_SAFE_INTEGER;
  // A membership is [configs, nodes], plus its cluster id when it has one.
  const m2 = (mm: Membership) => [mm.configs, [...mm.nodes].map(([id, n]) => [id, n.addr])];
  const m3 = (mm: Membership) => [...m2(mm), mm.clusterId];
  const single = membershipOf([1, 2], [3]); // clusterId ""
  const cases: [Uint8Array, unknown][] = [
    [
      encodeMessage(sampleAppend()),
      [
        1,
        1,
        5,
        2,
        [4, 10],
        [
          [1, 4, 11, bytes(1, 2, 3)],
          [0, 5, 12],
          [2, 5, 13, m3(joint)],
          [1, 5, 14, bytes()],
        ],
        11,
        99,
        "c1",
      ],
    ],
    [
      encodeMessage({
        clusterId: "",
        type: "pre-vote",
        term: MAX_TERM,
        candidateId: max,
        lastLogId: null,
        transfer: true,
      }),
      [1, 4, MAX_TERM, max, null, true, ""],
    ],
    [
      encodeMessage({
        clusterId: "c2",
        type: "vote",
        term: 2 ** 32,
        candidateId: 3,
        lastLogId: { term: 2, index: MAX_INDEX },
        transfer: false,
      }),
      [1, 3, 2 ** 32, 3, [2, MAX_INDEX], false, "c2"],
    ],
    [
      encodeMessage({
        type: "append-response",
        term: 70000,
        round: 300,
        success: false,
        index: 24,
        hintTerm: 23,
        hintIndex: 2 ** 32 - 1,
      }),
      [1, 2, 70000, 300, false, 24, 23, 2 ** 32 - 1],
    ],
    [
      encodeMessage({ clusterId: "c3", type: "timeout-now", term: 4, leaderId: 9 }),
      [1, 7, 4, 9, "c3"],
    ],
    [
      encodeMessage(sampleSnapshot()),
      [1, 9, 3, 1, [[3, 1000], [[2, 500], m3(joint)], "3-1000-17"], "c1"],
    ],
    [encodeMessage({ type: "install-snapshot-response", term: 3, lastLogId: null }), [
      1,
      10,
      3,
      null,
    ]],
    [encodeEntry({ term: 1, index: 2, type: "normal", data: new Uint8Array(100).fill(7) }), [
      1,
      1,
      1,
      2,
      new Uint8Array(100).fill(7),
    ]],
    [encodeEntry({ term: 1, index: 2, type: "membership", membership: single }), [
      1,
      2,
      1,
      2,
      m2(single),
    ]],
    [encodeEntries([{ term: 1, index: 2, type: "blank" }]), [1, [[0, 1, 2]]]],
    [encodeVote({ term: 3, votedFor: null, committed: false }), [1, 3, null, false]],
    [encodeMembership(joint), [1, ...m3(joint)]],
    [encodeMembership(single), [1, ...m2(single)]],
    [encodeStoredMembership({ logId: null, membership: EMPTY_MEMBERSHIP }), [1, null, [[], []]]],
    [encodeStoredMembership({ logId: { term: 1, index: 1 }, membership: joint }), [
      1,
      [1, 1],
      m3(joint),
    ]],
    [encodeSnapshotMeta({ ...sampleMeta, lastLogId: null }), [
      1,
      null,
      [[2, 500], m3(joint)],
      "3-1000-17",
    ]],
  ];
  for (const [ours, arrays] of cases) assert.deepEqual(ours, cbor(arrays));
});

test("codec: InvalidMessage carries a reason and wraps decoder failures with a cause", () => {
  const e = assertInvalid(() => decodeMessage(bytes(0x84, 1, 5)));
  assert.ok(e.message.includes(e.reason));
  const u = assertInvalid(() =>
    decodeMembership(concat(bytes(0x83, 1, 0x80, 0x81, 0x82, 1, 0x61), bytes(0xff)))
  );
  assert.ok(u.cause !== undefined);
});

test("codec: a decoded vote request has exactly the declared fields", () => {
  const m = decodeMessage(
    encodeMessage({
      clusterId: "",
      type: "vote",
      term: 2,
      candidateId: 1,
      lastLogId: { term: 1, index: 4 },
      transfer: false,
    }),
  ) as VoteRequest;
  assert.deepEqual(Object.keys(m).sort(), [
    "candidateId",
    "clusterId",
    "lastLogId",
    "term",
    "transfer",
    "type",
  ]);
  assert.equal(Object.getPrototypeOf(m), Object.prototype);
  assert.equal(Object.getPrototypeOf(m.lastLogId), Object.prototype);
});

// ---------------------------------------------------------------------------
// Term and index bounds

/** Whether `want` occurs anywhere in a decoded value (object, array or Map). */
function holds(x: unknown, want: unknown): boolean {
  if (x === want) return true;
  if (x instanceof Uint8Array) return false;
  if (x instanceof Map) return [...x].some(([k, v]) => holds(k, want) || holds(v, want));
  if (Array.isArray(x)) return x.some((y) => holds(y, want));
  if (typeof x === "object" && x !== null) return Object.values(x).some((y) => holds(y, want));
  return false;
}

/** Asserts that `f` throws InvalidMessage whose reason starts with `prefix`. */
function assertRefused(f: () => unknown, prefix: string): void {
  const e = assertInvalid(f);
  assert.ok(
    e.reason.startsWith(prefix),
    `reason ${JSON.stringify(e.reason)} should start with ${JSON.stringify(prefix)}`,
  );
}

type Decoder = (b: Uint8Array) => unknown;

/** A valid raw membership `[configs, nodes]`. */
const rawMembership = [[[1]], [[1, "a"]]];

/** A raw snapshot meta `[lastLogId, [logId, membership], snapshotId]`. */
function rawMeta(lastLogId: unknown = [3, 1000], logId: unknown = [2, 500]): unknown[] {
  return [lastLogId, [logId, rawMembership], "s"];
}

/** Every term field: [field as named in the reason, raw input with the term `v`, decoder]. */
const termFields: [string, (v: number) => Uint8Array, Decoder][] = [
  ["append.term", (v) => appendRaw({ 2: v }), decodeMessage],
  ["append.prevLogId.term", (v) => appendRaw({ 2: MAX_TERM, 4: [v, 10], 5: [] }), decodeMessage],
  [
    "append.entries[1].term",
    (v) => appendRaw({ 2: MAX_TERM, 5: [[0, 5, 11], [0, v, 12]] }),
    decodeMessage,
  ],
  [
    "append.entries[0].term",
    (v) => appendRaw({ 2: MAX_TERM, 5: [[2, v, 11, rawMembership]] }),
    decodeMessage,
  ],
  ["append-response.term", (v) => cbor([1, 2, v, 1, false, 4, 2, 3]), decodeMessage],
  ["append-response.hintTerm", (v) => cbor([1, 2, 5, 1, false, 4, v, 3]), decodeMessage],
  ["vote.term", (v) => cbor([1, 3, v, 1, [2, 4], false, "c"]), decodeMessage],
  ["vote.lastLogId.term", (v) => cbor([1, 3, MAX_TERM, 1, [v, 4], false, "c"]), decodeMessage],
  ["pre-vote.term", (v) => cbor([1, 4, v, 1, [2, 4], false, "c"]), decodeMessage],
  ["pre-vote.lastLogId.term", (v) => cbor([1, 4, MAX_TERM, 1, [v, 4], true, "c"]), decodeMessage],
  ["vote-response.term", (v) => cbor([1, 5, v, true]), decodeMessage],
  ["pre-vote-response.term", (v) => cbor([1, 6, v, false]), decodeMessage],
  ["timeout-now.term", (v) => cbor([1, 7, v, 1, "c"]), decodeMessage],
  ["timeout-now-response.term", (v) => cbor([1, 8, v, true]), decodeMessage],
  ["install-snapshot.term", (v) => cbor([1, 9, v, 1, rawMeta(), "c"]), decodeMessage],
  [
    "install-snapshot.meta.lastLogId.term",
    (v) => cbor([1, 9, 3, 1, rawMeta([v, 1000]), "c"]),
    decodeMessage,
  ],
  [
    "install-snapshot.meta.lastMembership.logId.term",
    (v) => cbor([1, 9, 3, 1, rawMeta([3, 1000], [v, 500]), "c"]),
    decodeMessage,
  ],
  ["install-snapshot-response.term", (v) => cbor([1, 10, v, null]), decodeMessage],
  ["install-snapshot-response.lastLogId.term", (v) => cbor([1, 10, 3, [v, 5]]), decodeMessage],
  ["entry.term", (v) => cbor([1, 0, v, 1]), decodeEntry],
  ["entry.term", (v) => cbor([1, 1, v, 1, bytes(1)]), decodeEntry],
  ["entry.term", (v) => cbor([1, 2, v, 1, rawMembership]), decodeEntry],
  ["entries[1].term", (v) => cbor([1, [[0, 1, 1], [0, v, 2]]]), decodeEntries],
  ["vote.term", (v) => cbor([1, v, null, false]), decodeVote],
  ["vote.term", (v) => cbor([1, v, 2, true]), decodeVote],
  ["snapshot meta.lastLogId.term", (v) => cbor([1, ...rawMeta([v, 5])]), decodeSnapshotMeta],
  [
    "snapshot meta.lastMembership.logId.term",
    (v) => cbor([1, ...rawMeta(null, [v, 5])]),
    decodeSnapshotMeta,
  ],
  ["stored membership.logId.term", (v) => cbor([1, [v, 5], rawMembership]), decodeStoredMembership],
];

/** Every log index field, as `termFields`. */
const indexFields: [string, (v: number) => Uint8Array, Decoder][] = [
  ["append.prevLogId.index", (v) => appendRaw({ 4: [4, v], 5: [] }), decodeMessage],
  [
    "append.entries[0].index",
    (v) => appendRaw({ 4: [4, MAX_INDEX - 1], 5: [[0, 5, v]] }),
    decodeMessage,
  ],
  [
    "append.entries[1].index",
    (v) => appendRaw({ 4: [4, MAX_INDEX - 2], 5: [[0, 5, MAX_INDEX - 1], [1, 5, v, bytes()]] }),
    decodeMessage,
  ],
  ["append.leaderCommit", (v) => appendRaw({ 6: v }), decodeMessage],
  ["append-response.index", (v) => cbor([1, 2, 5, 1, true, v, 0, 0]), decodeMessage],
  ["append-response.hintIndex", (v) => cbor([1, 2, 5, 1, false, 4, 2, v]), decodeMessage],
  ["vote.lastLogId.index", (v) => cbor([1, 3, 5, 1, [2, v], false, "c"]), decodeMessage],
  ["pre-vote.lastLogId.index", (v) => cbor([1, 4, 5, 1, [2, v], false, "c"]), decodeMessage],
  [
    "install-snapshot.meta.lastLogId.index",
    (v) => cbor([1, 9, 3, 1, rawMeta([3, v]), "c"]),
    decodeMessage,
  ],
  [
    "install-snapshot.meta.lastMembership.logId.index",
    (v) => cbor([1, 9, 3, 1, rawMeta([3, 1000], [2, v]), "c"]),
    decodeMessage,
  ],
  ["install-snapshot-response.lastLogId.index", (v) => cbor([1, 10, 3, [3, v]]), decodeMessage],
  ["entry.index", (v) => cbor([1, 0, 1, v]), decodeEntry],
  ["entry.index", (v) => cbor([1, 1, 1, v, bytes(1)]), decodeEntry],
  ["entry.index", (v) => cbor([1, 2, 1, v, rawMembership]), decodeEntry],
  ["entries[1].index", (v) => cbor([1, [[0, 1, 1], [0, 1, v]]]), decodeEntries],
  ["snapshot meta.lastLogId.index", (v) => cbor([1, ...rawMeta([3, v])]), decodeSnapshotMeta],
  [
    "snapshot meta.lastMembership.logId.index",
    (v) => cbor([1, ...rawMeta(null, [2, v])]),
    decodeSnapshotMeta,
  ],
  [
    "stored membership.logId.index",
    (v) => cbor([1, [2, v], rawMembership]),
    decodeStoredMembership,
  ],
];

test("codec: MAX_TERM and MAX_INDEX are 2^52", () => {
  assert.equal(MAX_TERM, 2 ** 52);
  assert.equal(MAX_INDEX, 2 ** 52);
});

test("codec: terms above MAX_TERM are refused in every term field; MAX_TERM decodes", () => {
  for (const [field, make, decode] of termFields) {
    assert.ok(holds(decode(make(MAX_TERM)), MAX_TERM), `${field} = MAX_TERM decodes`);
    assert.ok(holds(decode(make(5)), 5), `${field} = 5 decodes`);
    for (const v of [MAX_TERM + 1, MAX_TERM + 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      assertRefused(() => decode(make(v)), `${field} ${v} exceeds the largest term, ${MAX_TERM}`);
    }
    // Beyond 2^53 - 1 it is not an integer the codec reads at all.
    assertRefused(() => decode(make(2 ** 53)), `${field} must be a non-negative safe integer`);
  }
});

test("codec: indexes above MAX_INDEX are refused in every index field; MAX_INDEX decodes", () => {
  for (const [field, make, decode] of indexFields) {
    assert.ok(holds(decode(make(MAX_INDEX)), MAX_INDEX), `${field} = MAX_INDEX decodes`);
    for (const v of [MAX_INDEX + 1, MAX_INDEX + 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      assertRefused(
        () => decode(make(v)),
        `${field} ${v} exceeds the largest log index, ${MAX_INDEX}`,
      );
    }
    assertRefused(() => decode(make(2 ** 53)), `${field} must be a non-negative safe integer`);
  }
});

test("codec: node ids and rounds still accept 2^53 - 1", () => {
  const max = Number.MAX_SAFE_INTEGER;
  const members = (id: number) => [[[id]], [[id, "a"]]];
  const cases: [string, (v: number) => Uint8Array, Decoder][] = [
    ["append.leaderId", (v) => appendRaw({ 3: v }), decodeMessage],
    ["append.round", (v) => appendRaw({ 7: v }), decodeMessage],
    ["append-response.round", (v) => cbor([1, 2, 5, v, true, 4, 0, 0]), decodeMessage],
    ["vote.candidateId", (v) => cbor([1, 3, 5, v, null, false, "c"]), decodeMessage],
    ["pre-vote.candidateId", (v) => cbor([1, 4, 5, v, null, false, "c"]), decodeMessage],
    ["timeout-now.leaderId", (v) => cbor([1, 7, 5, v, "c"]), decodeMessage],
    ["install-snapshot.leaderId", (v) => cbor([1, 9, 5, v, rawMeta(), "c"]), decodeMessage],
    [
      "install-snapshot.meta.lastMembership.membership",
      (v) => cbor([1, 9, 5, 1, [null, [null, members(v)], "s"], "c"]),
      decodeMessage,
    ],
    [
      "append.entries[0].membership",
      (v) => appendRaw({ 5: [[2, 5, 11, members(v)]] }),
      decodeMessage,
    ],
    ["vote.votedFor", (v) => cbor([1, 3, v, false]), decodeVote],
    ["membership", (v) => cbor([1, ...members(v)]), decodeMembership],
    ["entry.membership", (v) => cbor([1, 2, 1, 1, members(v)]), decodeEntry],
    ["stored membership", (v) => cbor([1, null, members(v)]), decodeStoredMembership],
    ["snapshot meta", (v) => cbor([1, null, [null, members(v)], "s"]), decodeSnapshotMeta],
  ];
  for (const [field, make, decode] of cases) {
    for (const v of [MAX_TERM + 1, max]) {
      assert.ok(holds(decode(make(v)), v), `${field} holds ${v}`);
    }
    assertInvalid(() => decode(make(2 ** 53)), /must be a non-negative safe integer/);
  }
});

// ---------------------------------------------------------------------------
// Cluster ids

const clusterIds = ["", "c1", "5f2c9a01d4e8b7c6a3f0e1d2c3b4a596", "集群-🚀", "x".repeat(1000)];

/** Every request type with the cluster id `id`. */
function requests(id: string): RaftMessage[] {
  return [
    { ...sampleAppend(), clusterId: id },
    {
      clusterId: id,
      type: "append",
      term: 1,
      leaderId: 0,
      prevLogId: null,
      entries: [],
      leaderCommit: 0,
      round: 0,
    },
    {
      clusterId: id,
      type: "vote",
      term: 7,
      candidateId: 3,
      lastLogId: { term: 6, index: 99 },
      transfer: false,
    },
    { clusterId: id, type: "pre-vote", term: 7, candidateId: 3, lastLogId: null, transfer: true },
    { clusterId: id, type: "timeout-now", term: 4, leaderId: 9 },
    { ...sampleSnapshot(), clusterId: id },
  ];
}

test("codec: clusterId round-trips on every request type, as the last field", () => {
  for (const id of clusterIds) {
    for (const m of requests(id)) {
      const encoded = encodeMessage(m);
      const back = decodeMessage(encoded) as RaftMessage & { clusterId: string };
      assert.deepEqual(back, m);
      assert.equal(back.clusterId, id);
      // The id is the last item of the envelope.
      const tail = cbor(id);
      assert.deepEqual(encoded.subarray(encoded.length - tail.length), tail, `${m.type} ${id}`);
    }
  }
  // Requests that differ only in their cluster id encode differently.
  const pairs: [RaftMessage[], RaftMessage[]][] = [
    [requests("a"), requests("b")],
    [requests(""), requests("a")],
  ];
  for (const [x, y] of pairs) {
    x.forEach((m, i) => assert.notDeepEqual(encodeMessage(m), encodeMessage(y[i] as RaftMessage)));
  }
});

test("codec: requests without a clusterId (the earlier arity) are refused", () => {
  const meta = rawMeta();
  const cases: [unknown[], string][] = [
    [[1, 1, 5, 2, [4, 10], [[0, 5, 11]], 11, 99], "append must have 9 fields, got 8"],
    [[1, 3, 5, 1, null, false], "vote must have 7 fields, got 6"],
    [[1, 4, 5, 1, null, false], "pre-vote must have 7 fields, got 6"],
    [[1, 7, 4, 9], "timeout-now must have 5 fields, got 4"],
    [[1, 9, 3, 1, meta], "install-snapshot must have 6 fields, got 5"],
  ];
  for (const [raw, reason] of cases) {
    assertRefused(() => decodeMessage(cbor(raw)), reason);
    assert.equal((decodeMessage(cbor([...raw, "c"])) as { clusterId: string }).clusterId, "c");
    assertRefused(() => decodeMessage(cbor([...raw, "c", "d"])), reason.replace(/got \d+/, ""));
  }
});

test("codec: a membership's clusterId round-trips in entries, stored memberships and snapshot meta", () => {
  const withId = membershipOf([1, 2, 3], [4], new Map(), "cluster-7");
  for (const m of [withId, joint, { ...joint, clusterId: "集群-🚀" }]) {
    assert.notEqual(m.clusterId, "");
    const back = decodeMembership(encodeMembership(m));
    assert.deepEqual(back, m);
    assert.equal(back.clusterId, m.clusterId);
    const entry: Entry = { term: 2, index: 3, type: "membership", membership: m };
    assert.deepEqual(decodeEntry(encodeEntry(entry)), entry);
    assert.deepEqual(decodeEntries(encodeEntries([entry])), [entry]);
    const sm = { logId: { term: 2, index: 3 }, membership: m };
    assert.deepEqual(decodeStoredMembership(encodeStoredMembership(sm)), sm);
    const meta: SnapshotMeta = {
      lastLogId: { term: 2, index: 9 },
      lastMembership: sm,
      snapshotId: "s",
    };
    assert.deepEqual(decodeSnapshotMeta(encodeSnapshotMeta(meta)), meta);
    // And inside messages, next to (and independent of) the request's own id.
    roundTrip({
      ...sampleAppend(),
      clusterId: "other",
      entries: [{ ...entry, index: 11, term: 4 }],
    });
    roundTrip({ ...sampleSnapshot(), clusterId: "", meta });
  }
});

test('codec: a membership with clusterId "" keeps the two-field bytes; two fields decode as ""', () => {
  const one = membershipOf([1]); // clusterId ""
  const oneWithId: Membership = { ...one, clusterId: "a" };
  // [configs, nodes] = [[[1]], [[1, ""]]], byte for byte as before cluster ids;
  // with the id "a", a three-field array ending in "a".
  const fields = bytes(0x81, 0x81, 1, 0x81, 0x82, 1, 0x60);
  const a = bytes(0x61, 0x61);
  type Case = {
    encode: (m: Membership) => Uint8Array;
    twoFields: Uint8Array;
    threeFields: Uint8Array;
    decodeTo: (b: Uint8Array) => Membership;
  };
  const metaOf = (m: Membership): SnapshotMeta => ({
    lastLogId: null,
    lastMembership: { logId: null, membership: m },
    snapshotId: "",
  });
  const cases: Case[] = [
    {
      encode: encodeMembership,
      twoFields: concat(bytes(0x83, 1), fields),
      threeFields: concat(bytes(0x84, 1), fields, a),
      decodeTo: decodeMembership,
    },
    {
      encode: (m) => encodeEntry({ term: 1, index: 1, type: "membership", membership: m }),
      twoFields: concat(bytes(0x85, 1, 2, 1, 1, 0x82), fields),
      threeFields: concat(bytes(0x85, 1, 2, 1, 1, 0x83), fields, a),
      decodeTo: (b) => {
        const e = decodeEntry(b);
        assert.ok(e.type === "membership");
        return e.membership;
      },
    },
    {
      encode: (m) => encodeStoredMembership({ logId: null, membership: m }),
      twoFields: concat(bytes(0x83, 1, 0xf6, 0x82), fields),
      threeFields: concat(bytes(0x83, 1, 0xf6, 0x83), fields, a),
      decodeTo: (b) => decodeStoredMembership(b).membership,
    },
    {
      encode: (m) => encodeSnapshotMeta(metaOf(m)),
      twoFields: concat(bytes(0x84, 1, 0xf6, 0x82, 0xf6, 0x82), fields, bytes(0x60)),
      threeFields: concat(bytes(0x84, 1, 0xf6, 0x82, 0xf6, 0x83), fields, a, bytes(0x60)),
      decodeTo: (b) => decodeSnapshotMeta(b).lastMembership.membership,
    },
  ];
  for (const { encode, twoFields, threeFields, decodeTo } of cases) {
    assert.deepEqual(encode(one), twoFields);
    assert.deepEqual(encode(oneWithId), threeFields);
    // The two-field form decodes with clusterId "".
    const back = decodeTo(twoFields);
    assert.deepEqual(back, one);
    assert.equal(back.clusterId, "");
    assert.deepEqual(decodeTo(threeFields), oneWithId);
  }
  assert.deepEqual(decodeMembership(concat(bytes(0x83, 1), fields)), one);
  assert.equal(decodeMembership(concat(bytes(0x83, 1), fields)).clusterId, "");
  assert.deepEqual(encodeMembership(oneWithId), concat(bytes(0x84, 1), fields, bytes(0x61, 0x61)));
  // A cluster id adds one field to the array and nothing else.
  const noId = encodeMembership({ ...joint, clusterId: "" });
  assert.deepEqual(
    noId,
    cbor([1, joint.configs, [...joint.nodes].map(([id, n]) => [id, n.addr])]),
  );
  assert.deepEqual(
    encodeMembership(joint),
    concat(bytes(0x84), noId.subarray(1), cbor(joint.clusterId)),
  );
  assert.deepEqual(decodeMembership(encodeMembership(EMPTY_MEMBERSHIP)), EMPTY_MEMBERSHIP);
  assert.deepEqual(encodeMembership(EMPTY_MEMBERSHIP), bytes(0x83, 1, 0x80, 0x80));
  // Two-field memberships inside messages decode with clusterId "" too.
  const app = decodeMessage(appendRaw({ 5: [[2, 5, 11, rawMembership]] })) as AppendRequest;
  assert.deepEqual(app.entries[0], {
    term: 5,
    index: 11,
    type: "membership",
    membership: { configs: [[1]], nodes: new Map([[1, { addr: "a" }]]), clusterId: "" },
  });
  const snap = decodeMessage(cbor([1, 9, 3, 1, rawMeta(), "c"])) as InstallSnapshotRequest;
  assert.equal(snap.meta.lastMembership.membership.clusterId, "");
  assert.equal(snap.clusterId, "c");
  // Neither fewer than two fields nor more than three.
  for (const raw of [[1, [[1]]], [1, ...rawMembership, "c", "d"], [1]]) {
    assertRefused(() => decodeMembership(cbor(raw)), "membership must have 2 or 3 fields");
  }
  assertRefused(
    () => decodeEntry(cbor([1, 2, 1, 1, [...rawMembership, "c", "d"]])),
    "entry.membership must have 2 or 3 fields",
  );
});

test("codec: a clusterId that is not a string is refused, naming the field", () => {
  const m3 = (id: unknown) => [...rawMembership, id];
  const cases: [string, (id: unknown) => Uint8Array, Decoder][] = [
    ["append.clusterId", (id) => appendRaw({ 8: id }), decodeMessage],
    ["vote.clusterId", (id) => cbor([1, 3, 5, 1, null, false, id]), decodeMessage],
    ["pre-vote.clusterId", (id) => cbor([1, 4, 5, 1, null, false, id]), decodeMessage],
    ["timeout-now.clusterId", (id) => cbor([1, 7, 4, 9, id]), decodeMessage],
    ["install-snapshot.clusterId", (id) => cbor([1, 9, 3, 1, rawMeta(), id]), decodeMessage],
    [
      "append.entries[0].membership.clusterId",
      (id) => appendRaw({ 5: [[2, 5, 11, m3(id)]] }),
      decodeMessage,
    ],
    [
      "install-snapshot.meta.lastMembership.membership.clusterId",
      (id) => cbor([1, 9, 3, 1, [null, [null, m3(id)], "s"], "c"]),
      decodeMessage,
    ],
    ["membership.clusterId", (id) => cbor([1, ...m3(id)]), decodeMembership],
    ["entry.membership.clusterId", (id) => cbor([1, 2, 1, 1, m3(id)]), decodeEntry],
    ["entries[0].membership.clusterId", (id) => cbor([1, [[2, 1, 1, m3(id)]]]), decodeEntries],
    [
      "stored membership.membership.clusterId",
      (id) => cbor([1, null, m3(id)]),
      decodeStoredMembership,
    ],
    [
      "snapshot meta.lastMembership.membership.clusterId",
      (id) => cbor([1, null, [null, m3(id)], "s"]),
      decodeSnapshotMeta,
    ],
  ];
  for (const [field, make, decode] of cases) {
    // The same input with a string id decodes, holding it.
    assert.ok(holds(decode(make("the-id")), "the-id"), field);
    for (const bad of [5, 0, null, bytes(1, 2), bytes(), true, ["c"]]) {
      assertRefused(() => decode(make(bad)), `${field} must be a string`);
    }
  }
});

// ---------------------------------------------------------------------------
// Node fields (user metadata besides addr)

const zoned: Membership = {
  configs: [[1, 2]],
  nodes: new Map<number, RaftNode>([
    [1, { addr: "http://10.0.0.1:8000", zone: "eu-west-1a", tags: ["ssd", "large"] } as RaftNode],
    [2, { addr: "http://10.0.0.2:8000" }],
    [3, {
      addr: "http://10.0.0.3:8000",
      zone: "eu-west-1b",
      weight: 0.5,
      rack: null,
      spare: false,
      limits: { cpu: 8, disks: [{ size: 1e12, kind: "nvme" }] },
      "名前": "ノード-🚀",
    } as RaftNode],
  ]),
  clusterId: "c1",
};

test("codec: node fields besides addr round-trip in memberships, entries, messages and snapshot meta", () => {
  const back = decodeMembership(encodeMembership(zoned));
  assert.deepEqual(back, zoned);
  assert.deepEqual(back.nodes.get(1), zoned.nodes.get(1));
  assert.deepEqual(Object.keys(back.nodes.get(2)!), ["addr"], "no fields: none added");
  const entry: Entry = { term: 2, index: 3, type: "membership", membership: zoned };
  assert.deepEqual(decodeEntry(encodeEntry(entry)), entry);
  assert.deepEqual(decodeEntries(encodeEntries([entry])), [entry]);
  const sm = { logId: { term: 2, index: 3 }, membership: zoned };
  assert.deepEqual(decodeStoredMembership(encodeStoredMembership(sm)), sm);
  const meta: SnapshotMeta = {
    lastLogId: { term: 2, index: 9 },
    lastMembership: sm,
    snapshotId: "s",
  };
  assert.deepEqual(decodeSnapshotMeta(encodeSnapshotMeta(meta)), meta);
  roundTrip({ ...sampleAppend(), entries: [{ ...entry, index: 11, term: 4 }] });
  roundTrip({ ...sampleSnapshot(), meta });
  // Deterministic: decoding and encoding again gives the same bytes.
  assert.deepEqual(encodeMembership(back), encodeMembership(zoned));
});

test("codec: a node without fields keeps the [id, addr] bytes; undefined fields are left out", () => {
  const plain = membershipOf([1], [], new Map([[1, { addr: "a" }]]));
  const withUndefined: Membership = {
    ...plain,
    nodes: new Map([[1, { addr: "a", zone: undefined } as RaftNode]]),
  };
  assert.deepEqual(encodeMembership(withUndefined), encodeMembership(plain));
  assert.deepEqual(decodeMembership(encodeMembership(plain)).nodes.get(1), { addr: "a" });
  // The fields are the JSON text of an object, as a third item of the node's pair.
  const one: Membership = { ...plain, nodes: new Map([[1, { addr: "a", zone: "z" } as RaftNode]]) };
  assert.deepEqual(
    encodeMembership(one),
    cbor([CODEC_VERSION, [[1]], [[1, "a", '{"zone":"z"}']]]),
  );
  // -0 comes back as 0; nested undefined object fields are left out, as JSON does.
  const odd: Membership = {
    ...plain,
    nodes: new Map([[1, { addr: "a", n: -0, o: { x: undefined, y: 1 } } as RaftNode]]),
  };
  assert.deepEqual(decodeMembership(encodeMembership(odd)).nodes.get(1), {
    addr: "a",
    n: 0,
    o: { y: 1 },
  });
});

test("codec: node fields that are not JSON-like are refused when encoding (TypeError) and by checkRaftNode (InvalidMessage)", () => {
  let deep: unknown = "leaf";
  for (let i = 0; i < MAX_NODE_FIELDS_DEPTH + 1; i++) deep = [deep];
  let fine: unknown = "leaf";
  for (let i = 0; i < MAX_NODE_FIELDS_DEPTH; i++) fine = [fine];
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["NaN", { n: Number.NaN }, /\.n must be a finite number/],
    ["Infinity", { n: Infinity }, /finite number/],
    ["a function", { f: () => 1 }, /got function/],
    ["a bigint", { b: 1n }, /got bigint/],
    ["a symbol", { s: Symbol("x") }, /got symbol/],
    ["a Date", { d: new Date(0) }, /plain object, got a Date/],
    ["a Map", { m: new Map() }, /plain object, got a Map/],
    ["bytes", { b: new Uint8Array(2) }, /plain object, got a Uint8Array/],
    ["a hole", { a: [1, , 3] }, /\.a\[1\] is undefined/],
    ["undefined in an array", { a: [undefined] }, /\.a\[0\] is undefined/],
    ["too deep", { d: deep }, new RegExp(`deeper than ${MAX_NODE_FIELDS_DEPTH}`)],
    ["a cycle", { c: cyclic }, /deeper than/],
    ["__proto__", { o: JSON.parse('{"__proto__": 1}') }, /__proto__/],
    ["too large", { big: "x".repeat(DEFAULT_CODEC_LIMITS.maxStringBytes) }, /at most 8192/],
  ];
  for (const [what, fields, pattern] of bad) {
    const node = { addr: "a", ...fields } as RaftNode;
    const m: Membership = { configs: [[1]], nodes: new Map([[1, node]]), clusterId: "" };
    assert.throws(() => encodeMembership(m), (e: unknown) => {
      assert.ok(e instanceof TypeError, `${what}: ${e}`);
      assert.match(e.message, pattern, what);
      return true;
    });
    assert.throws(() => checkRaftNode(node), (e: unknown) => {
      assert.ok(e instanceof InvalidMessage, `${what}: ${e}`);
      assert.match(e.reason, pattern, what);
      return true;
    });
  }
  // At the depth limit: accepted, and round-trips.
  const node = { addr: "a", d: fine } as RaftNode;
  checkRaftNode(node);
  const m: Membership = { configs: [[1]], nodes: new Map([[1, node]]), clusterId: "" };
  assert.deepEqual(decodeMembership(encodeMembership(m)), m);
  assert.throws(() => checkRaftNode({ addr: 1 } as unknown as RaftNode), InvalidMessage);
  assert.throws(() => checkRaftNode(null as unknown as RaftNode), InvalidMessage);
});

test("codec: malformed node fields from a peer or a store are InvalidMessage", () => {
  const membershipBytes = (node: unknown[]) => cbor([CODEC_VERSION, [[1]], [node]]);
  let deepText = '"x"';
  for (let i = 0; i < MAX_NODE_FIELDS_DEPTH + 1; i++) deepText = `[${deepText}]`;
  const cases: [unknown[], RegExp][] = [
    [[1, "a", "{not json"], /fields is not JSON/],
    [[1, "a", "[1]"], /must be a JSON object/],
    [[1, "a", "null"], /must be a JSON object/],
    [[1, "a", '"zone"'], /must be a JSON object/],
    [[1, "a", "{}"], /fields is empty/],
    [[1, "a", '{"addr":"b"}'], /second addr field/],
    [[1, "a", '{"__proto__":{"polluted":true}}'], /__proto__/],
    [[1, "a", `{"d":${deepText}}`], /deeper than/],
    [[1, "a", "[".repeat(5000)], /deeper than/],
    [[1, "a", 7], /fields must be a string/],
    [[1, "a", "{}", "extra"], /must have 2 or 3 fields, got 4/],
    [[1], /must have 2 or 3 fields, got 1/],
  ];
  for (const [node, pattern] of cases) {
    assert.throws(() => decodeMembership(membershipBytes(node)), (e: unknown) => {
      assert.ok(e instanceof InvalidMessage, `${JSON.stringify(node)}: ${e}`);
      assert.match(e.message, pattern);
      return true;
    });
  }
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  // A fields text over maxStringBytes is refused by the limit, before parsing.
  const long = cbor([CODEC_VERSION, [[1]], [[1, "a", JSON.stringify({ s: "x".repeat(100) })]]]);
  assert.throws(() => decodeMembership(long, { maxStringBytes: 64 }), /exceeds the limit of 64/);
});
