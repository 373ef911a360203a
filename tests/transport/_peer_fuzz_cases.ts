// Malformed peer requests for tests/transport/peer_fuzz_test.ts: each case is
// one HTTP request (method, path, headers, body, optionally trickled) built
// from a seeded PRNG. Bodies start from valid Raft messages in the codec's
// array form (see src/codec.ts) and break them: random bytes, truncation,
// deep nesting, wrong types, bad numbers (negative, NaN, Infinity, huge),
// wrong arity, tags or routes, CBOR features the format does not use,
// broken entries and memberships, broken snapshot frames, oversized bodies.
//
// With `authenticated`, every case carries the right secret and its content
// is malformed (or names another cluster, or a term above MAX_PEER_TERM): no
// case may be accepted. Without it, the secret is missing or wrong, and some
// bodies are valid, dangerous messages (higher terms, new entries, a
// snapshot): none may change the node.
import { PEER_TERM_SLACK } from "../../src/engine/peer_checks.ts";
import { Encoder } from "cbor-x/encode";
import { encodeMessage } from "../../src/codec.ts";
import type { RaftRequest } from "../../src/messages.ts";
import { SeededRandom } from "../../src/random.ts";
import { MAX_PEER_TERM, MAX_TERM, type NodeId } from "../../src/types.ts";

/** What the cases aim at: one node, as it is when the phase starts. */
export interface FuzzTarget {
  readonly id: NodeId;
  readonly peers: readonly NodeId[];
  readonly leaderId: NodeId;
  readonly term: number;
  readonly lastLogIndex: number;
  readonly lastLogTerm: number;
  readonly clusterId: string;
  readonly secret: string;
  readonly addrs: ReadonlyMap<NodeId, string>;
  /** The routes' `maxBodyBytes`. */
  readonly maxBodyBytes: number;
}

/** One request to send. */
export interface FuzzCase {
  /** What kind of malformation, for the summary. */
  readonly category: string;
  readonly method: string;
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Uint8Array | null;
  /** Send `body` as a stream of `chunks` pieces, `delayMs` apart. */
  readonly slow: { readonly chunks: number; readonly delayMs: number } | null;
  /** The request must be answered 401 (a known route, a CBOR content type, a bad secret). */
  readonly expect401: boolean;
  /** The connection may fail (the server answers before reading a large or slow body). */
  readonly mayFail: boolean;
}

/** A seeded PRNG for case `i` of `phase`, so one case can be replayed alone. */
export function caseRandom(seed: number, phase: number, i: number): SeededRandom {
  const base = new SeededRandom(seed).nextUint32();
  const mixed = (base ^ Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(phase + 1, 0x85ebca6b)) >>> 0;
  return new SeededRandom(mixed + phase * 2 ** 32);
}

// ------------------------------------------------------------------ helpers

type Rng = SeededRandom;

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(0, items.length)] as T;
}

function chance(rng: Rng, p: number): boolean {
  return rng.next() < p;
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(0, 256);
  return out;
}

/** cbor-x, configured as the codec expects (plain byte strings, no records). */
const _cbor = new Encoder({ useRecords: false, tagUint8Array: false, pack: false });

/** Encodes a value with cbor-x (which also writes NaN, floats, negatives, maps, bigints). */
export function cbor(value: unknown): Uint8Array {
  return _cbor.encode(value);
}

const REQUEST_ROUTES = ["append", "vote", "pre-vote", "timeout-now", "install-snapshot"] as const;
type Route = typeof REQUEST_ROUTES[number];

const _TAG: Readonly<Record<Route, number>> = {
  append: 1,
  vote: 3,
  "pre-vote": 4,
  "timeout-now": 7,
  "install-snapshot": 9,
};

// --------------------------------------------------------- valid templates

/** A valid request of `route` for `t`, in the codec's array form, its term `term`. */
export function template(rng: Rng, t: FuzzTarget, route: Route, term: number): unknown[] {
  const other = pick(rng, t.peers.filter((p) => p !== t.id));
  const lastLogId = [t.lastLogTerm, t.lastLogIndex + rng.int(0, 5)];
  switch (route) {
    case "vote":
    case "pre-vote":
      return [1, _TAG[route], term, other, lastLogId, chance(rng, 0.5), t.clusterId];
    case "timeout-now":
      return [1, 7, term, t.leaderId, t.clusterId];
    case "append": {
      const n = rng.int(1, 4);
      const entries: unknown[] = [];
      for (let k = 1; k <= n; k++) {
        entries.push([1, term, t.lastLogIndex + k, randomBytes(rng, rng.int(0, 16))]);
      }
      const prev = t.lastLogIndex === 0 ? null : [t.lastLogTerm, t.lastLogIndex];
      return [1, 1, term, other, prev, entries, t.lastLogIndex + n, rng.int(0, 1000), t.clusterId];
    }
    case "install-snapshot": {
      const nodes = [...t.addrs].map(([id, addr]) => [id, addr]);
      const membership = [[[...t.addrs.keys()].sort((a, b) => a - b)], nodes, t.clusterId];
      const meta = [[term, t.lastLogIndex + 100], [[1, 1], membership], `fuzz-${rng.int(0, 1e6)}`];
      return [1, 9, term, other, meta, t.clusterId];
    }
  }
}

/** The same message as a typed request (to encode it with the codec itself). */
function asRequest(a: unknown[]): RaftRequest | null {
  const logId = (v: unknown) =>
    v === null ? null : { term: (v as number[])[0]!, index: (v as number[])[1]! };
  switch (a[1]) {
    case 3:
    case 4:
      return {
        type: a[1] === 3 ? "vote" : "pre-vote",
        term: a[2] as number,
        candidateId: a[3] as number,
        lastLogId: logId(a[4]),
        transfer: a[5] as boolean,
        clusterId: a[6] as string,
      };
    case 7:
      return {
        type: "timeout-now",
        term: a[2] as number,
        leaderId: a[3] as number,
        clusterId: a[4] as string,
      };
    default:
      return null;
  }
}

/** An install-snapshot body: 4-byte big-endian length, the header, then `data`. */
function frame(header: Uint8Array, data: Uint8Array, declared = header.byteLength): Uint8Array {
  const out = new Uint8Array(4 + header.byteLength + data.byteLength);
  new DataView(out.buffer).setUint32(0, declared >>> 0);
  out.set(header, 4);
  out.set(data, 4 + header.byteLength);
  return out;
}

// ------------------------------------------------------------- mutations

type Path = readonly number[];

/** Paths of every node of the tree (arrays and leaves), the root excluded. */
function paths(v: unknown, prefix: Path = [], out: Path[] = []): Path[] {
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      const p = [...prefix, i];
      out.push(p);
      paths(x, p, out);
    });
  }
  return out;
}

function getAt(v: unknown, p: Path): unknown {
  let x = v;
  for (const i of p) x = (x as unknown[])[i];
  return x;
}

function setAt(v: unknown[], p: Path, value: unknown): unknown[] {
  const copy = structuredClone(v);
  let x: unknown[] = copy;
  for (const i of p.slice(0, -1)) x = x[i] as unknown[];
  x[p[p.length - 1]!] = value;
  return copy;
}

/** Numbers no field of the format accepts (never -0, which reads as 0). */
const BAD_NUMBERS: readonly unknown[] = [
  -1,
  -(2 ** 31),
  -(2 ** 53),
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  0.5,
  1.5,
  -0.5,
  2 ** 53,
  2 ** 53 + 2,
  2 ** 64,
  1e308,
  Number.MIN_VALUE,
  2n ** 53n,
  2n ** 64n - 1n,
  -1n,
  -(2n ** 63n),
];

/** A value of another type than `v` (never `null` for an array: a null logId is valid). */
function otherType(rng: Rng, v: unknown): unknown {
  const options: unknown[] = [
    "x",
    "",
    "a".repeat(rng.int(1, 9000)),
    true,
    false,
    7,
    new Uint8Array([1, 2, 3]),
    new Map([[1, 2]]),
    { term: 1 },
    [],
    [[1, 2]],
  ];
  if (!Array.isArray(v)) options.push(null, undefined);
  const differs = options.filter((o) =>
    typeof o !== typeof v || Array.isArray(o) !== Array.isArray(v) ||
    (o instanceof Uint8Array) !== (v instanceof Uint8Array) || (o === null) !== (v === null)
  );
  return pick(rng, differs);
}

/** Raw CBOR items this format does not use (or cannot hold), to splice into a message. */
const RAW_ITEMS: readonly number[][] = [
  [0xf7], // undefined
  [0xf9, 0x7e, 0x00], // half-float NaN
  // (A float holding an integer, e.g. half-float 1.0, reads as that integer: not malformed.)
  [0xf9, 0x3e, 0x00], // half-float 1.5
  [0xfa, 0x3f, 0xc0, 0x00, 0x00], // float32 1.5
  [0xfb, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0], // float64 Infinity
  [0xf8, 0x20], // simple value 32
  [0xf0], // simple value 16
  [0xc1, 0x1a, 0x5f, 0x00, 0x00, 0x00], // epoch date tag
  [0xc0, 0x60], // date-string tag
  [0xc2, 0x49, 1, 0, 0, 0, 0, 0, 0, 0, 0], // bignum 2^64
  [0xc3, 0x41, 0x00], // negative bignum
  [0xd8, 0x1b, 0x82, 0x60, 0x60], // tag 27 (object), which cbor-x builds
  [0xd8, 0x1c, 0x80], // tag 28 (shared value)
  [0xd8, 0x1d, 0x00], // tag 29 (reference)
  [0xd8, 0x69, 0x83, 0x61, 0x61, 0x61, 0x62, 0x00], // tag 105 (record definition)
  [0xd8, 0x40, 0x41, 0x00], // tag 64 (typed array)
  [0xd9, 0xd9, 0xf7, 0x00], // self-describe tag
  [0xa1, 0x00, 0x00], // map
  [0xbf, 0x00, 0x00, 0xff], // indefinite map
  [0x9f, 0x00, 0xff], // indefinite array
  [0x5f, 0x41, 0x00, 0xff], // indefinite byte string
  [0x7f, 0x61, 0x61, 0xff], // indefinite text
  [0xff], // stray break
  [0x1c], // reserved header
  [0x62, 0xc3, 0x28], // invalid UTF-8
  [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // byte string of 2^64-1 bytes
  [0x9b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00], // array of 2^32 items
  [0x7a, 0x7f, 0xff, 0xff, 0xff], // text of 2^31-1 bytes
  [0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // -2^64
  [0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // 2^64-1
];

const _MARK = "\u0001fuzz-splice\u0001";

/** Encodes `v` with the raw CBOR item `raw` in place of the node at `p`. */
function splice(v: unknown[], p: Path, raw: readonly number[]): Uint8Array {
  const bytes = cbor(setAt(v, p, _MARK));
  const mark = cbor(_MARK);
  for (let i = 0; i + mark.length <= bytes.length; i++) {
    let same = true;
    for (let j = 0; j < mark.length && same; j++) same = bytes[i + j] === mark[j];
    if (same) {
      const out = new Uint8Array(bytes.length - mark.length + raw.length);
      out.set(bytes.subarray(0, i));
      out.set(raw, i);
      out.set(bytes.subarray(i + mark.length), i + raw.length);
      return out;
    }
  }
  throw new Error("splice mark not found");
}

/** CBOR nested `depth` deep, inside a message envelope. */
function nested(rng: Rng, depth: number): Uint8Array {
  const kind = pick(rng, ["array", "map", "tag", "indefinite", "mixed"]);
  const out = new Uint8Array(2 + depth * 2 + 1);
  let n = 0;
  out[n++] = 0x82;
  out[n++] = 0x01;
  for (let i = 0; i < depth; i++) {
    const k = kind === "mixed" ? pick(rng, ["array", "map", "tag", "indefinite"]) : kind;
    if (k === "array") out[n++] = 0x81;
    else if (k === "tag") out[n++] = 0xc6;
    else if (k === "indefinite") out[n++] = 0x9f;
    else {
      out[n++] = 0xa1;
      out[n++] = 0x00;
    }
  }
  out[n++] = 0x00;
  return out.subarray(0, n);
}

/** The term of a dangerous (otherwise valid) message: above the node's. */
function higherTerm(rng: Rng, t: FuzzTarget): number {
  return t.term + pick(rng, [1, 2, 10, 1000, 1_000_000]);
}

/** A body that no node may accept (with the secret). Returns the body and its category. */
function malformedBody(
  rng: Rng,
  t: FuzzTarget,
  route: Route,
): { category: string; body: Uint8Array; mayFail?: boolean } {
  const snapshot = route === "install-snapshot";
  // Non-snapshot routes take the message itself; the snapshot route a frame around it.
  const wrap = (header: Uint8Array): Uint8Array =>
    snapshot ? frame(header, randomBytes(rng, rng.int(0, 64))) : header;
  const msgRoute = chance(rng, 0.85) ? route : pick(rng, REQUEST_ROUTES);
  const base = () => template(rng, t, msgRoute, higherTerm(rng, t));
  const roll = rng.int(0, 100);
  if (roll < 10) {
    return { category: "random bytes", body: randomBytes(rng, rng.int(0, 2048)) };
  }
  if (roll < 20) {
    const full = cbor(base());
    return { category: "truncated CBOR", body: wrap(full.subarray(0, rng.int(0, full.length))) };
  }
  if (roll < 27) {
    const depth = pick(rng, [9, 10, 33, 257, rng.int(9, 5000), 100_000]);
    return { category: "deeply nested CBOR", body: wrap(nested(rng, depth)) };
  }
  if (roll < 42) {
    const v = base();
    const numeric = paths(v).filter((p) => typeof getAt(v, p) === "number");
    const p = pick(rng, numeric);
    return { category: "bad number", body: wrap(cbor(setAt(v, p, pick(rng, BAD_NUMBERS)))) };
  }
  if (roll < 55) {
    const v = base();
    const p = pick(rng, paths(v).filter((p) => p.length > 1 || p[0]! >= 2));
    return { category: "wrong type", body: wrap(cbor(setAt(v, p, otherType(rng, getAt(v, p))))) };
  }
  if (roll < 62) {
    const v = base();
    const p = pick(rng, paths(v));
    return { category: "unsupported CBOR item", body: wrap(splice(v, p, pick(rng, RAW_ITEMS))) };
  }
  if (roll < 68) {
    const v = base();
    if (chance(rng, 0.5)) v.push(pick(rng, [0, "x", null, []]));
    else v.splice(rng.int(2, v.length), 1);
    return { category: "wrong arity", body: wrap(cbor(v)) };
  }
  if (roll < 73) {
    const v = base();
    const bad = pick(rng, [
      () => setAt(v, [0], pick(rng, [0, 2, 255, -1, "1", 1.5])), // version
      () => setAt(v, [1], pick(rng, [0, 2, 5, 6, 8, 10, 11, 255, -1, "1"])), // type tag
    ]);
    return { category: "wrong version or tag", body: wrap(cbor(bad())) };
  }
  if (roll < 78 && !snapshot) {
    // A valid message on another route: refused by the route's type check.
    const other = pick(rng, REQUEST_ROUTES.filter((r) => r !== route && r !== "install-snapshot"));
    return {
      category: "message on the wrong route",
      body: cbor(template(rng, t, other, higherTerm(rng, t))),
    };
  }
  if (roll < 84) {
    const v = template(rng, t, snapshot ? "install-snapshot" : "append", higherTerm(rng, t));
    return { category: "broken entries or membership", body: wrap(cbor(breakStructure(rng, v))) };
  }
  if (roll < 89) {
    // Valid in every field but the cluster id: the node refuses another cluster (409/412).
    const v = base();
    v[v.length - 1] = pick(rng, ["other-cluster", "", t.clusterId + "x", "é".repeat(100)]);
    return { category: "another cluster's message", body: wrap(cbor(v)) };
  }
  if (roll < 93) {
    // Valid but for a term no peer may send: refused by the node (400).
    const v = base();
    v[2] = pick(rng, [MAX_PEER_TERM + PEER_TERM_SLACK + 1, MAX_TERM, MAX_TERM + 1]);
    const req = asRequest(v);
    const bytes = req !== null && chance(rng, 0.5) && v[2] !== MAX_TERM + 1
      ? encodeMessage(req)
      : cbor(v);
    return { category: "term above MAX_PEER_TERM", body: wrap(bytes) };
  }
  if (roll < 97) {
    return { category: "empty or tiny body", body: randomBytes(rng, rng.int(0, 4)) };
  }
  if (snapshot) {
    const header = cbor(base());
    const declared = pick(rng, [
      header.length + rng.int(1, 100), // claims more than sent
      0xffffffff,
      t.maxBodyBytes + 1,
      0,
      rng.int(0, 8),
    ]);
    return {
      category: "broken snapshot frame",
      body: frame(header, new Uint8Array(0), declared).subarray(0, 4 + rng.int(0, header.length)),
    };
  }
  return { category: "random bytes", body: randomBytes(rng, rng.int(0, 64)) };
}

/** Breaks an append's entries or a snapshot's membership in a way the decoder must refuse. */
function breakStructure(rng: Rng, v: unknown[]): unknown[] {
  const c = structuredClone(v);
  if (c[1] === 1) {
    const entries = c[5] as unknown[][];
    const e = entries[0]!;
    switch (rng.int(0, 7)) {
      case 0:
        e[2] = (e[2] as number) + 2; // not after prevLogId
        break;
      case 1:
        e[2] = 0; // index 0
        break;
      case 2:
        e[1] = (c[2] as number) + 1; // entry term above the leader's
        break;
      case 3:
        e[0] = pick(rng, [3, 7, -1, "normal"]); // unknown entry tag
        break;
      case 4:
        e[3] = pick(rng, ["text", 5, null, [1]]); // data not bytes
        break;
      case 5:
        entries.push([...e]); // same index twice
        break;
      default:
        entries[0] = [2, e[1], e[2], [[[3, 1]], [[1, "a"], [3, "b"]]]]; // unsorted voters
    }
    return c;
  }
  const membership = ((c[4] as unknown[])[1] as unknown[])[1] as unknown[];
  switch (rng.int(0, 5)) {
    case 0:
      membership[0] = [[1], [2], [3]]; // three voter sets
      break;
    case 1:
      membership[0] = [[2, 1]]; // unsorted
      break;
    case 2:
      membership[0] = [[99]]; // a voter missing from nodes
      break;
    case 3:
      membership[1] = [[1, "a"], [1, "b"]]; // a node twice
      break;
    default:
      membership[0] = [[]]; // an empty voter set
  }
  return c;
}

/** A valid, dangerous request body: it would change a node that accepted it. */
function dangerousBody(rng: Rng, t: FuzzTarget, route: Route): Uint8Array {
  const term = route === "timeout-now" ? t.term : higherTerm(rng, t);
  const v = template(rng, t, route, term);
  if (route !== "install-snapshot") {
    const req = asRequest(v);
    return req !== null && chance(rng, 0.5) ? encodeMessage(req) : cbor(v);
  }
  return frame(cbor(v), randomBytes(rng, rng.int(0, 512)));
}

// ----------------------------------------------------------------- headers

const BAD_CONTENT_TYPES: readonly (string | null)[] = [
  null,
  "text/plain",
  "application/json",
  "application/octet-stream",
  "application/cbor-seq",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
  "",
  "cbor",
];
const GOOD_CONTENT_TYPES: readonly string[] = [
  "application/cbor",
  "application/cbor",
  "APPLICATION/CBOR",
  "application/cbor; charset=utf-8",
  " application/cbor ",
];

function badSecrets(rng: Rng, secret: string): readonly (string | null)[] {
  return [
    null,
    "Bearer wrong",
    `Bearer ${secret}x`,
    `Bearer ${secret.slice(0, -1)}`,
    `Bearer ${secret.toUpperCase()}`,
    `Basic ${btoa(`raft:${secret}`)}`,
    secret,
    "Bearer",
    "Bearer ",
    `Bearer ${secret} extra`,
    `Bearer ${secret},Bearer ${secret}`,
    `Token ${secret}`,
    `Bearer ${"x".repeat(rng.int(100, 12_000))}`,
    "",
  ];
}

function goodSecret(rng: Rng, secret: string): string {
  return pick(rng, [`Bearer ${secret}`, `bearer ${secret}`, `BEARER  ${secret} `]);
}

function peerHeaders(rng: Rng, t: FuzzTarget): [string, string][] {
  const out: [string, string][] = [];
  const from = pick(rng, t.peers.filter((p) => p !== t.id));
  const to = chance(rng, 0.93) ? String(t.id) : pick(rng, [
    String(pick(rng, t.peers.filter((p) => p !== t.id))),
    "",
    "abc",
    "-1",
    "1e3",
    "99999999999999999999",
    `${t.id}.0`,
    "x".repeat(1000),
  ]);
  if (chance(rng, 0.9)) out.push(["x-raft-to", to]);
  if (chance(rng, 0.85)) {
    out.push(["x-raft-from", chance(rng, 0.85) ? String(from) : pick(rng, ["", "x", "-2", "1.5"])]);
  }
  if (chance(rng, 0.85)) {
    out.push([
      "x-raft-cluster",
      chance(rng, 0.93)
        ? encodeURIComponent(t.clusterId)
        : pick(rng, ["other", "%E0%A4%A", "%", encodeURIComponent("é"), "y".repeat(5000)]),
    ]);
  }
  return out;
}

// -------------------------------------------------------------------- cases

/**
 * Case `rng` for `t`: with `authenticated`, the right secret and malformed
 * content; without, a missing or wrong secret and any content.
 */
export function makeCase(rng: Rng, t: FuzzTarget, authenticated: boolean): FuzzCase {
  const route = pick(rng, REQUEST_ROUTES);
  let method = "POST";
  let path = `/raft/${route}`;
  let knownRoute = true;
  let category: string;
  let body: Uint8Array | null;
  let mayFail = false;
  if (!authenticated && chance(rng, 0.35)) {
    body = dangerousBody(rng, t, route);
    category = "valid message, bad secret";
  } else {
    const m = malformedBody(rng, t, route);
    body = m.body;
    category = m.category;
  }
  const roll = rng.next();
  if (roll < 0.015) {
    // Oversized: over the routes' body limit.
    const size = t.maxBodyBytes + rng.int(1, 64 * 1024);
    const big = new Uint8Array(size);
    big.set(body.subarray(0, Math.min(body.length, size)));
    body = big;
    category = "oversized body";
  } else if (roll < 0.08) {
    category = "wrong method or path";
    if (chance(rng, 0.5)) {
      method = pick(rng, ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]);
      if (method === "GET" || method === "HEAD") body = null;
    } else {
      path = pick(rng, [
        "/raft/unknown",
        "/raft/",
        "/raft",
        `/raft/${route}/extra`,
        `/raft/${route.toUpperCase()}`,
        `//raft/${route}`,
        `/raft/%2e%2e/${route}`,
        `/raft/${route}%00`,
        `/raft/${"a".repeat(4000)}`,
        "/",
        "/cluster/init",
        "/raft/append-response",
      ]);
    }
    knownRoute = false;
  }
  if (path.startsWith(`/raft/${route}?`)) knownRoute = true;
  const headers: [string, string][] = [];
  const contentType = chance(rng, 0.92)
    ? pick(rng, GOOD_CONTENT_TYPES)
    : pick(rng, BAD_CONTENT_TYPES);
  if (contentType !== null) headers.push(["content-type", contentType]);
  let auth: string | null;
  if (authenticated) auth = goodSecret(rng, t.secret);
  else auth = pick(rng, badSecrets(rng, t.secret));
  if (auth !== null) headers.push(["authorization", auth]);
  if (!authenticated && auth !== null && auth.trim() !== "" && chance(rng, 0.03)) {
    // Two authorization headers, a wrong one and the right one: still refused. (Not after an
    // empty one: a client may drop an empty header, leaving only the right one.)
    headers.push(["authorization", `Bearer ${t.secret}`]);
  }
  headers.push(...peerHeaders(rng, t));
  let slow: FuzzCase["slow"] = null;
  if (body !== null && body.length > 0 && body.length < 1 << 20 && chance(rng, 0.02)) {
    slow = { chunks: rng.int(2, 9), delayMs: rng.int(1, 30) };
    category = "slow body";
  }
  if (body !== null && (body.length > 256 * 1024 || slow !== null)) mayFail = true;
  const cborType = contentType !== null &&
    contentType.trim().split(";")[0]!.trim().toLowerCase() ===
      "application/cbor";
  return {
    category,
    method,
    path,
    headers,
    body,
    slow,
    expect401: !authenticated && knownRoute && method === "POST" && cborType,
    mayFail,
  };
}

// --------------------------------------------------------- raw HTTP cases

/** One raw HTTP/1.1 exchange over TCP, for what `fetch` cannot send. */
export interface RawCase {
  readonly category: string;
  /** Bytes written, in order, each after the previous one. */
  readonly writes: readonly Uint8Array[];
  /** After writing: half-close (`end`), or keep the socket open and drop it after the wait. */
  readonly then: "end" | "stall";
}

const _ascii = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * A raw request with the secret (so the body is read) and a broken framing:
 * a content-length that lies, broken chunked encoding, both framings, a
 * garbage request line or header, a body that stalls, pipelined requests.
 */
export function makeRawCase(rng: Rng, t: FuzzTarget): RawCase {
  const route = pick(rng, REQUEST_ROUTES);
  const body = malformedBody(rng, t, route).body;
  const head = (extra: string[], line = `POST /raft/${route} HTTP/1.1`): Uint8Array =>
    _ascii.encode(
      [
        line,
        "host: 127.0.0.1",
        "content-type: application/cbor",
        `authorization: Bearer ${t.secret}`,
        `x-raft-to: ${t.id}`,
        ...extra,
        "",
        "",
      ].join("\r\n"),
    );
  const n = body.length;
  switch (rng.int(0, 12)) {
    case 0:
      return {
        category: "raw: content-length above the body, then end",
        writes: [head([`content-length: ${n + rng.int(1, 1000)}`]), body],
        then: "end",
      };
    case 1:
      return {
        category: "raw: body stalls before content-length",
        writes: [head([`content-length: ${n + rng.int(1, 1000)}`]), body],
        then: "stall",
      };
    case 2:
      return {
        category: "raw: content-length below the body",
        writes: [head([`content-length: ${rng.int(0, n + 1)}`]), body, randomBytes(rng, 32)],
        then: "end",
      };
    case 3:
      return {
        category: "raw: bad chunk size",
        writes: [
          head(["transfer-encoding: chunked"]),
          _ascii.encode(pick(rng, ["zz\r\n", "-1\r\n", "ffffffffffffffffff\r\n", "5\r\nab"])),
        ],
        then: pick(rng, ["end", "stall"]),
      };
    case 4:
      return {
        category: "raw: chunk longer than sent",
        writes: [
          head(["transfer-encoding: chunked"]),
          _ascii.encode(`${(n + 100).toString(16)}\r\n`),
          body,
        ],
        then: pick(rng, ["end", "stall"]),
      };
    case 5:
      return {
        category: "raw: content-length and chunked",
        writes: [
          head([`content-length: ${n}`, "transfer-encoding: chunked"]),
          _ascii.encode(`${n.toString(16)}\r\n`),
          body,
          _ascii.encode("\r\n0\r\n\r\n"),
        ],
        then: "end",
      };
    case 6:
      return {
        category: "raw: bad content-length",
        writes: [
          head([
            `content-length: ${pick(rng, ["-1", "abc", "1e3", "", "0x10", `${n}, ${n + 1}`])}`,
          ]),
          body,
        ],
        then: "end",
      };
    case 7:
      return {
        category: "raw: two content-lengths",
        writes: [head([`content-length: ${n}`, `content-length: ${n + 5}`]), body],
        then: "end",
      };
    case 8:
      return {
        category: "raw: garbage request line",
        writes: [
          head(
            [`content-length: ${n}`],
            pick(rng, [
              "GARBAGE",
              `POST /raft/${route}`,
              `POST /raft/${route} HTTP/9.9`,
              `POST  /raft/${route}  HTTP/1.1`,
              `\u0000POST /raft/${route} HTTP/1.1`,
            ]),
          ),
          body,
        ],
        then: "end",
      };
    case 9:
      return {
        category: "raw: malformed header",
        writes: [
          head([
            `content-length: ${n}`,
            pick(rng, ["no-colon-here", "bad header: x", "x-raft-from: a\u0000b", ": empty-name"]),
          ]),
          body,
        ],
        then: "end",
      };
    case 10:
      return {
        category: "raw: HTTP/1.0 body until close",
        writes: [head([], `POST /raft/${route} HTTP/1.0`), body],
        then: "end",
      };
    default: {
      const one = concat(head([`content-length: ${n}`]), body);
      return {
        category: "raw: pipelined requests",
        writes: [concat(one, one, head([`content-length: ${n + 10}`]), body)],
        then: "end",
      };
    }
  }
}
