/**
 * Versioned CBOR encoding of Raft messages, log entries, votes, memberships
 * and snapshot metadata: what the transport sends and what durable storage
 * adapters persist.
 *
 * Every encoded value is one CBOR array whose first element is
 * {@linkcode CODEC_VERSION}. Messages continue with a small integer tag for
 * their type and then their fields in a fixed order; no string keys travel.
 * Payload bytes are written once, as CBOR byte strings.
 *
 * ```text
 * message     [1, tag, ...fields]
 *   1 append                    term, leaderId, prevLogId, [entry...], leaderCommit, round,
 *                               clusterId
 *   2 append-response           term, round, success, index, hintTerm, hintIndex
 *   3 vote / 4 pre-vote         term, candidateId, lastLogId, transfer, clusterId
 *   5 vote-response / 6 pre-vote-response                term, granted
 *   7 timeout-now               term, leaderId, clusterId
 *   8 timeout-now-response      term, accepted
 *   9 install-snapshot          term, leaderId, meta, clusterId
 *  10 install-snapshot-response term, lastLogId
 *  11 read-index                term, readerId, clusterId
 *  12 read-index-response       term, index | null, leaderId | null
 * entry       [0, term, index] blank | [1, term, index, bytes] normal
 *             | [2, term, index, membership] membership
 * logId       [term, index] | null
 * membership  [[[voterId...]...], [node...]] | [..., ..., clusterId]
 *             (the cluster id is written when it is not "")
 * node        [nodeId, addr] | [nodeId, addr, fieldsJson]
 *             (fieldsJson: the JSON text of the node's other fields — user
 *             metadata such as a zone or tags — written when it has any;
 *             see checkRaftNode)
 * stored      [logId, membership]
 * meta        [lastLogId, stored, snapshotId]
 * standalone  encodeEntry [1, ...entry]; encodeEntries [1, [entry...]];
 *             encodeVote [1, term, votedFor | null, committed];
 *             encodeMembership [1, ...membership]; encodeStoredMembership [1, ...stored];
 *             encodeSnapshotMeta [1, ...meta]
 * ```
 *
 * Integers are CBOR unsigned integers, or float64 from 2^32 up (as cbor-x
 * writes them); decoding also accepts uint64 and requires every integer to
 * be a non-negative safe integer, terms at most `MAX_TERM` and log indexes
 * at most `MAX_INDEX` (2^52: far from 2^53, so they have room to grow).
 *
 * Decoding trusts nothing: any input that is not a well-formed value of
 * this format (wrong version, tag, arity or field type, inconsistent entries,
 * trailing bytes, excessive sizes or nesting, CBOR features this format does
 * not use) throws {@linkcode InvalidMessage}, and nothing else.
 *
 * @module
 */

import { Encoder } from "cbor-x/encode";
import { ConfigError, InvalidMessage } from "./errors.ts";
import type {
  AppendRequest,
  AppendResponse,
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  RaftMessage,
  ReadIndexRequest,
  ReadIndexResponse,
  TimeoutNowRequest,
  TimeoutNowResponse,
  VoteRequest,
  VoteResponse,
} from "./messages.ts";
import type {
  Entry,
  LogId,
  Membership,
  NodeId,
  RaftNode,
  SnapshotMeta,
  StoredMembership,
  Vote,
} from "./types.ts";
import { MAX_INDEX, MAX_TERM } from "./types.ts";

/**
 * Version of the wire format, the first element of every encoded value.
 * Decoders reject any other version.
 *
 * @example
 * ```ts
 * import { CODEC_VERSION, encodeVote } from "./codec.ts";
 * const bytes = encodeVote({ term: 1, votedFor: 2, committed: false });
 * console.assert(bytes[1] === CODEC_VERSION); // bytes[0] is the array header
 * ```
 */
export const CODEC_VERSION: number = 1;

/**
 * Size limits enforced while decoding, so that a hostile or corrupt input
 * cannot make the decoder allocate without bound.
 *
 * @example
 * ```ts
 * import type { CodecLimits } from "./codec.ts";
 * const strict: Partial<CodecLimits> = { maxEntries: 10_000 };
 * ```
 */
export interface CodecLimits {
  /** Most entries one message (or one entry list) may carry; also caps any CBOR array. */
  readonly maxEntries: number;
  /** Longest text string (node address, snapshot id), in UTF-8 bytes. */
  readonly maxStringBytes: number;
  /** Most nodes one membership may list. */
  readonly maxNodes: number;
}

/**
 * The limits used when a decoder is given none.
 *
 * @example
 * ```ts
 * import { DEFAULT_CODEC_LIMITS } from "./codec.ts";
 * console.assert(DEFAULT_CODEC_LIMITS.maxEntries === 1_000_000);
 * ```
 */
export const DEFAULT_CODEC_LIMITS: Readonly<CodecLimits> = Object.freeze({
  maxEntries: 1_000_000,
  maxStringBytes: 8192,
  maxNodes: 65_536,
});

// ---------------------------------------------------------------------------
// Tags

const _APPEND = 1;
const _APPEND_RESPONSE = 2;
const _VOTE = 3;
const _PRE_VOTE = 4;
const _VOTE_RESPONSE = 5;
const _PRE_VOTE_RESPONSE = 6;
const _TIMEOUT_NOW = 7;
const _TIMEOUT_NOW_RESPONSE = 8;
const _INSTALL_SNAPSHOT = 9;
const _INSTALL_SNAPSHOT_RESPONSE = 10;
const _READ_INDEX = 11;
const _READ_INDEX_RESPONSE = 12;

const _ENTRY_BLANK = 0;
const _ENTRY_NORMAL = 1;
const _ENTRY_MEMBERSHIP = 2;

/** Deepest array nesting the format uses is 6 (message > entries > entry > membership > configs > config). */
const _MAX_DEPTH = 8;
/** Voter sets a membership may hold: one, or two during joint consensus. */
const _MAX_CONFIGS = 2;

// ---------------------------------------------------------------------------
// Encoding: a small CBOR writer for exactly what this format needs.
//
// It writes the same bytes as cbor-x's Encoder configured with
// `{ useRecords: false, tagUint8Array: false }` would for the equivalent
// arrays (the tests check this), but straight from the typed objects: no
// intermediate array per entry, and no Buffer-typed scratch space (cbor-x's
// encoder is several times slower on Bun, where it writes into a Buffer).
// Integers from 2^32 up are written as float64, as cbor-x does.

/** Scratch space, reused by every encode; results are copied out of it. */
let _out = new Uint8Array(8192);
let _outView = new DataView(_out.buffer);
let _pos = 0;
/** Scratch space larger than this is dropped after use rather than kept. */
const _KEEP_SCRATCH = 1 << 20;
const _textEncoder = new TextEncoder();

function _room(n: number): void {
  if (_pos + n <= _out.length) return;
  let size = _out.length * 2;
  while (size < _pos + n) size *= 2;
  const next = new Uint8Array(size);
  next.set(_out.subarray(0, _pos));
  _out = next;
  _outView = new DataView(next.buffer);
}

/** A CBOR head: major type and argument (a non-negative integer below 2^32). */
function _head(major: number, v: number): void {
  _room(5);
  const m = major << 5;
  const out = _out;
  if (v < 24) {
    out[_pos++] = m | v;
  } else if (v < 0x100) {
    out[_pos++] = m | 24;
    out[_pos++] = v;
  } else if (v < 0x10000) {
    out[_pos++] = m | 25;
    out[_pos++] = v >> 8;
    out[_pos++] = v & 0xff;
  } else {
    out[_pos++] = m | 26;
    _outView.setUint32(_pos, v);
    _pos += 4;
  }
}

/** A non-negative safe integer (term, index, node id, round). */
function _putUint(v: number, what: string): void {
  if (v >>> 0 === v) {
    _head(0, v);
  } else if (Number.isSafeInteger(v) && v >= 0) {
    _room(9);
    _out[_pos++] = 0xfb;
    _outView.setFloat64(_pos, v);
    _pos += 8;
  } else {
    throw new TypeError(`${what} must be a non-negative safe integer, got ${String(v)}`);
  }
}

function _putBool(v: boolean, what: string): void {
  if (typeof v !== "boolean") throw new TypeError(`${what} must be a boolean, got ${String(v)}`);
  _room(1);
  _out[_pos++] = v ? 0xf5 : 0xf4;
}

function _putNull(): void {
  _room(1);
  _out[_pos++] = 0xf6;
}

function _byteString(data: Uint8Array): void {
  if (!(data instanceof Uint8Array)) throw new TypeError("entry data must be a Uint8Array");
  const n = data.length;
  if (n > 0xffffffff) throw new TypeError("entry data is too large");
  _head(2, n);
  _room(n);
  const out = _out;
  if (n <= 32) {
    for (let i = 0, p = _pos; i < n; i++) out[p + i] = data[i] as number;
  } else {
    out.set(data, _pos);
  }
  _pos += n;
}

function _textString(s: string, what: string): void {
  if (typeof s !== "string") throw new TypeError(`${what} must be a string`);
  const utf8 = _textEncoder.encode(s);
  _head(3, utf8.length);
  _room(utf8.length);
  _out.set(utf8, _pos);
  _pos += utf8.length;
}

function _logIdOut(id: LogId | null, what: string): void {
  if (id === null) return _putNull();
  _head(4, 2);
  _putUint(id.term, what);
  _putUint(id.index, what);
}

/** A membership: `[configs, nodes]`, or `[configs, nodes, clusterId]` when it has one. */
function _membershipOut(m: Membership): void {
  const withId = m.clusterId !== "" && m.clusterId !== undefined;
  _head(4, withId ? 3 : 2);
  _membershipFields(m);
  if (withId) _textString(m.clusterId, "clusterId");
}

/** The configs and nodes of a membership. */
function _membershipFields(m: Membership): void {
  _head(4, m.configs.length);
  for (const config of m.configs) {
    _head(4, config.length);
    for (const id of config) _putUint(id, "voter id");
  }
  _head(4, m.nodes.size);
  for (const [id, node] of m.nodes) {
    const fields = _nodeFieldsText(node, `node ${id}`, _typeError);
    _head(4, fields === null ? 2 : 3);
    _putUint(id, "node id");
    _textString(node.addr, "node addr");
    if (fields !== null) _textString(fields, "node fields");
  }
}

// ---------------------------------------------------------------------------
// Node fields: a node's own fields besides `addr` (user metadata such as a
// zone or tags), written as the JSON text of an object after the address.

/**
 * How deep a node's fields may nest arrays and objects: a field whose value
 * is an array is at depth 1, an object in that array at depth 2, and so on.
 *
 * @example
 * ```ts
 * import { MAX_NODE_FIELDS_DEPTH } from "./codec.ts";
 * console.assert(MAX_NODE_FIELDS_DEPTH === 8);
 * ```
 */
export const MAX_NODE_FIELDS_DEPTH: number = 8;

/** Throws the error of the caller: a TypeError when encoding, an InvalidMessage when decoding. */
type _Fail = (reason: string) => never;

function _typeError(reason: string): never {
  throw new TypeError(reason);
}

/**
 * The JSON text of `node`'s fields other than `addr` (those whose value is
 * not `undefined`), or `null` if it has none; `fail`s for a value that is
 * not JSON-like or nests too deep, or a text over the default string limit.
 */
function _nodeFieldsText(node: RaftNode, path: string, fail: _Fail): string | null {
  if (typeof node !== "object" || node === null) return fail(`${path} must be an object`);
  let fields: Record<string, unknown> | null = null;
  for (const key of Object.keys(node)) {
    if (key === "addr") continue;
    const value = (node as unknown as Record<string, unknown>)[key];
    if (value === undefined) continue;
    fields ??= {};
    fields[key] = value;
  }
  if (fields === null) return null;
  _checkFields(fields, 0, path, fail);
  const text = JSON.stringify(fields);
  const size = _textEncoder.encode(text).length;
  const max = DEFAULT_CODEC_LIMITS.maxStringBytes;
  if (size > max) {
    fail(
      `${path}'s fields take ${size} bytes as JSON; at most ${max} (maxStringBytes), ` +
        "which every peer and store must be able to decode",
    );
  }
  return text;
}

/**
 * Checks a JSON-like value: `null`, a boolean, a finite number, a string,
 * an array of such values, or a plain object of them (keys other than
 * `__proto__`; `undefined` values are left out, as `JSON.stringify` does),
 * nested at most {@linkcode MAX_NODE_FIELDS_DEPTH} deep.
 */
function _checkFields(v: unknown, depth: number, path: string, fail: _Fail): void {
  if (v === null || typeof v === "string" || typeof v === "boolean") return;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) fail(`${path} must be a finite number, got ${String(v)}`);
    return;
  }
  if (typeof v !== "object") {
    return fail(
      `${path} must be null, a boolean, a number, a string, an array or an object, ` +
        `got ${typeof v}`,
    );
  }
  if (depth > MAX_NODE_FIELDS_DEPTH) {
    fail(`${path} nests deeper than ${MAX_NODE_FIELDS_DEPTH} arrays or objects`);
  }
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      if (v[i] === undefined) fail(`${path}[${i}] is undefined (or a hole)`);
      _checkFields(v[i], depth + 1, `${path}[${i}]`, fail);
    }
    return;
  }
  const proto: unknown = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    fail(`${path} must be a plain object, got ${_className(v)}`);
  }
  for (const key of Object.keys(v)) {
    if (key === "__proto__") fail(`${path} has a field named __proto__`);
    if (depth === 0 && key === "addr") fail(`${path} has a second addr field`);
    const value = (v as Record<string, unknown>)[key];
    if (value !== undefined) _checkFields(value, depth + 1, `${path}.${key}`, fail);
  }
}

function _className(v: object): string {
  try {
    const name: unknown = (v as { constructor?: { name?: unknown } }).constructor?.name;
    return typeof name === "string" && name !== "" ? `a ${name}` : "an object with a prototype";
  } catch {
    return "an object with a prototype";
  }
}

/**
 * Whether `text` (JSON) nests arrays and objects at most `max` deep, checked
 * before `JSON.parse` so that parsing never recurses further.
 */
function _jsonDepthWithin(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return false;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return true;
}

/** A node read from `[id, addr]` or `[id, addr, fieldsJson]`. */
function _nodeIn(pair: unknown[], w: string): RaftNode {
  const addr = _string(pair[1], `${w}.addr`);
  if (pair.length === 2) return { addr };
  const text = _string(pair[2], `${w}.fields`);
  // The fields object itself is one level more than MAX_NODE_FIELDS_DEPTH counts.
  if (!_jsonDepthWithin(text, MAX_NODE_FIELDS_DEPTH + 1)) {
    _fail(`${w}.fields nests deeper than ${MAX_NODE_FIELDS_DEPTH} arrays or objects`);
  }
  let fields: unknown;
  try {
    fields = JSON.parse(text);
  } catch (cause) {
    throw new InvalidMessage(`${w}.fields is not JSON: ${_describe(cause)}`, { cause });
  }
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) {
    _fail(`${w}.fields must be a JSON object`);
  }
  if (Object.keys(fields).length === 0) _fail(`${w}.fields is empty (written as [id, addr])`);
  _checkFields(fields, 0, `${w}.fields`, _fail);
  return { addr, ...(fields as Record<string, unknown>) };
}

/**
 * Checks that `node` can be replicated: its `addr` is a string, and its other
 * fields (user metadata such as a zone or tags, whose `undefined` values are
 * left out) are JSON-like — `null`, booleans, finite numbers, strings,
 * arrays and plain objects of them (no key `__proto__`), nested at most
 * {@linkcode MAX_NODE_FIELDS_DEPTH} deep, at most
 * `DEFAULT_CODEC_LIMITS.maxStringBytes` (8 KiB) as JSON. Such fields travel
 * with the membership (log entries, appends, snapshot metadata) and come back
 * as own fields of the decoded node; `-0` comes back as `0`.
 *
 * @throws {InvalidMessage} naming the offending field.
 *
 * @example
 * ```ts
 * import { checkRaftNode } from "./codec.ts";
 * import { ConfigError, InvalidMessage } from "./errors.ts";
 *
 * checkRaftNode({ addr: "http://10.0.0.1:8000" });
 * const node = { addr: "http://10.0.0.2:8000", zone: "eu-west-1a", tags: ["ssd"] };
 * checkRaftNode(node);
 * try {
 *   checkRaftNode({ addr: "http://10.0.0.3:8000", started: new Date() } as never);
 * } catch (e) {
 *   console.assert(e instanceof InvalidMessage && /plain object/.test(e.reason));
 * }
 * ```
 */
export function checkRaftNode(node: RaftNode): void {
  if (typeof node !== "object" || node === null || typeof node.addr !== "string") {
    _fail("a node must be an object with a string addr");
  }
  _nodeFieldsText(node, "node", _fail);
}

/** The two fields of a stored membership (the caller writes its array head). */
function _storedMembershipOut(sm: StoredMembership): void {
  _logIdOut(sm.logId, "membership logId");
  _membershipOut(sm.membership);
}

/** The three fields of snapshot metadata (the caller writes the array head). */
function _metaOut(meta: SnapshotMeta): void {
  _logIdOut(meta.lastLogId, "lastLogId");
  _head(4, 2);
  _storedMembershipOut(meta.lastMembership);
  _textString(meta.snapshotId, "snapshotId");
}

/** An entry's fields `entryTag, term, index, payload?`; `extra` more array items precede them. */
function _entryOut(e: Entry, extra: number): void {
  switch (e.type) {
    case "blank":
      _head(4, 3 + extra);
      if (extra) _head(0, CODEC_VERSION);
      _head(0, _ENTRY_BLANK);
      _putUint(e.term, "entry term");
      _putUint(e.index, "entry index");
      return;
    case "normal":
      _head(4, 4 + extra);
      if (extra) _head(0, CODEC_VERSION);
      _head(0, _ENTRY_NORMAL);
      _putUint(e.term, "entry term");
      _putUint(e.index, "entry index");
      _byteString(e.data);
      return;
    case "membership":
      _head(4, 4 + extra);
      if (extra) _head(0, CODEC_VERSION);
      _head(0, _ENTRY_MEMBERSHIP);
      _putUint(e.term, "entry term");
      _putUint(e.index, "entry index");
      _membershipOut(e.membership);
      return;
    default: {
      // Exhaustive: a new entry type is a compile error here. At run time, a caller's object.
      const unknown: never = e;
      throw new TypeError(`unknown entry type '${String((unknown as { type?: unknown }).type)}'`);
    }
  }
}

function _entriesOut(es: readonly Entry[]): void {
  _head(4, es.length);
  for (let i = 0; i < es.length; i++) _entryOut(es[i] as Entry, 0);
}

/** Writes `[version, tag, ` for a message of `n` fields after the tag. */
function _envelope(tag: number, n: number): void {
  _head(4, n + 2);
  _head(0, CODEC_VERSION);
  _head(0, tag);
}

function _messageOut(m: RaftMessage): void {
  switch (m.type) {
    case "append":
      _envelope(_APPEND, 7);
      _putUint(m.term, "term");
      _putUint(m.leaderId, "leaderId");
      _logIdOut(m.prevLogId, "prevLogId");
      _entriesOut(m.entries);
      _putUint(m.leaderCommit, "leaderCommit");
      _putUint(m.round, "round");
      _textString(m.clusterId, "clusterId");
      return;
    case "append-response":
      _envelope(_APPEND_RESPONSE, 6);
      _putUint(m.term, "term");
      _putUint(m.round, "round");
      _putBool(m.success, "success");
      _putUint(m.index, "index");
      _putUint(m.hintTerm, "hintTerm");
      _putUint(m.hintIndex, "hintIndex");
      return;
    case "vote":
    case "pre-vote":
      _envelope(m.type === "vote" ? _VOTE : _PRE_VOTE, 5);
      _putUint(m.term, "term");
      _putUint(m.candidateId, "candidateId");
      _logIdOut(m.lastLogId, "lastLogId");
      _putBool(m.transfer, "transfer");
      _textString(m.clusterId, "clusterId");
      return;
    case "vote-response":
    case "pre-vote-response":
      _envelope(m.type === "vote-response" ? _VOTE_RESPONSE : _PRE_VOTE_RESPONSE, 2);
      _putUint(m.term, "term");
      _putBool(m.granted, "granted");
      return;
    case "timeout-now":
      _envelope(_TIMEOUT_NOW, 3);
      _putUint(m.term, "term");
      _putUint(m.leaderId, "leaderId");
      _textString(m.clusterId, "clusterId");
      return;
    case "timeout-now-response":
      _envelope(_TIMEOUT_NOW_RESPONSE, 2);
      _putUint(m.term, "term");
      _putBool(m.accepted, "accepted");
      return;
    case "install-snapshot":
      _envelope(_INSTALL_SNAPSHOT, 4);
      _putUint(m.term, "term");
      _putUint(m.leaderId, "leaderId");
      _head(4, 3);
      _metaOut(m.meta);
      _textString(m.clusterId, "clusterId");
      return;
    case "install-snapshot-response":
      _envelope(_INSTALL_SNAPSHOT_RESPONSE, 2);
      _putUint(m.term, "term");
      _logIdOut(m.lastLogId, "lastLogId");
      return;
    case "read-index":
      _envelope(_READ_INDEX, 3);
      _putUint(m.term, "term");
      _putUint(m.readerId, "readerId");
      _textString(m.clusterId, "clusterId");
      return;
    case "read-index-response":
      _envelope(_READ_INDEX_RESPONSE, 3);
      _putUint(m.term, "term");
      if (m.index === null) _putNull();
      else _putUint(m.index, "index");
      if (m.leaderId === null) _putNull();
      else _putUint(m.leaderId, "leaderId");
      return;
    default: {
      // Exhaustive: a new message type is a compile error here. At run time, a caller's object.
      const unknown: never = m;
      throw new TypeError(`unknown message type '${String((unknown as { type?: unknown }).type)}'`);
    }
  }
}

function _entryListOut(es: readonly Entry[]): void {
  _head(4, 2);
  _head(0, CODEC_VERSION);
  _entriesOut(es);
}

function _voteOut(v: Vote): void {
  _head(4, 4);
  _head(0, CODEC_VERSION);
  _putUint(v.term, "vote term");
  if (v.votedFor === null) _putNull();
  else _putUint(v.votedFor, "votedFor");
  _putBool(v.committed, "committed");
}

/** A writer of `[version, ...fields]` from one that writes `n` fields. */
function _versioned<T>(n: number, fields: (value: T) => void): (value: T) => void {
  return (value) => {
    _head(4, n + 1);
    _head(0, CODEC_VERSION);
    fields(value);
  };
}

const _metaWriter = _versioned(3, _metaOut);
function _membershipWriter(m: Membership): void {
  const withId = m.clusterId !== "" && m.clusterId !== undefined;
  _head(4, withId ? 4 : 3);
  _head(0, CODEC_VERSION);
  _membershipFields(m);
  if (withId) _textString(m.clusterId, "clusterId");
}
const _storedMembershipWriter = _versioned(2, _storedMembershipOut);

/** Runs a writer on the scratch space and returns a copy of what it wrote. */
function _encode<T>(write: (value: T, extra: number) => void, value: T, extra = 0): Uint8Array {
  _pos = 0;
  try {
    write(value, extra);
    return _out.slice(0, _pos);
  } finally {
    _pos = 0;
    if (_out.length > _KEEP_SCRATCH) {
      _out = new Uint8Array(8192);
      _outView = new DataView(_out.buffer);
    }
  }
}

// ---------------------------------------------------------------------------
// Decoding, step 1: a structural pre-scan of the raw bytes.
//
// cbor-x decodes far more than this format uses, and some of it is unsafe on
// untrusted input: tags build Dates, BigInts (quadratic in the input length),
// RegExps and Errors (tag 27), shared references and record definitions; it
// recurses once per nesting level. The scan admits only what the encoder
// produces — definite-length arrays, unsigned and negative integers, floats,
// byte strings, valid UTF-8 text, false, true and null — and checks nesting
// depth, every declared length against the bytes actually present, and that
// exactly one item fills the input. It reads headers only, without recursion,
// and skips over string contents.

const _utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const _stack = new Float64Array(_MAX_DEPTH + 1);

/** Checks the raw bytes; returns whether they hold any byte string. */
function _scan(b: Uint8Array, maxArray: number, maxText: number): boolean {
  const end = b.length;
  if (end === 0) throw new InvalidMessage("empty input");
  let pos = 0;
  let hasBytes = false;
  let sp = 0;
  _stack[0] = 1; // items still expected at the current level; the top level holds one
  while (sp >= 0) {
    if (pos >= end) throw new InvalidMessage(`truncated input (${end} bytes)`);
    const at = pos;
    const ib = b[pos++] as number;
    const major = ib >> 5;
    const ai = ib & 31;
    let arg = ai;
    if (ai >= 24) {
      if (ai > 27) {
        throw new InvalidMessage(
          ai === 31 ? `indefinite length at byte ${at}` : `reserved CBOR header at byte ${at}`,
        );
      }
      const n = 1 << (ai - 24); // 1, 2, 4 or 8 bytes follow
      if (n > end - pos) throw new InvalidMessage(`truncated input (${end} bytes)`);
      arg = 0;
      for (let i = 0; i < n; i++) arg = arg * 256 + (b[pos++] as number);
    }
    switch (major) {
      case 0: // unsigned integer
      case 1: // negative integer
        break;
      case 2: // byte string
        if (arg > end - pos) {
          throw new InvalidMessage(`byte string of ${arg} bytes exceeds the input`);
        }
        pos += arg;
        hasBytes = true;
        break;
      case 3: // text string
        if (arg > maxText) {
          throw new InvalidMessage(`string of ${arg} bytes exceeds the limit of ${maxText}`);
        }
        if (arg > end - pos) {
          throw new InvalidMessage(`text string of ${arg} bytes exceeds the input`);
        }
        for (let i = pos, e = pos + arg; i < e; i++) {
          if ((b[i] as number) >= 0x80) {
            try {
              _utf8.decode(b.subarray(pos, e));
            } catch (cause) {
              throw new InvalidMessage(`invalid UTF-8 in string at byte ${at}`, { cause });
            }
            break;
          }
        }
        pos += arg;
        break;
      case 4: // array
        if (arg > maxArray) {
          throw new InvalidMessage(`array of ${arg} items exceeds the limit of ${maxArray}`);
        }
        // Every item takes at least one byte.
        if (arg > end - pos) throw new InvalidMessage(`array of ${arg} items exceeds the input`);
        if (arg > 0) {
          if (sp >= _MAX_DEPTH) throw new InvalidMessage(`nesting deeper than ${_MAX_DEPTH}`);
          (_stack[sp] as number)--;
          _stack[++sp] = arg;
          continue;
        }
        break;
      case 5:
        throw new InvalidMessage(`unexpected CBOR map at byte ${at}`);
      case 6:
        throw new InvalidMessage(`unexpected CBOR tag ${arg} at byte ${at}`);
      default: // 7: simple values and floats
        if (ai < 20 || ai === 23 || ai === 24) {
          throw new InvalidMessage(`unexpected CBOR simple value at byte ${at}`);
        }
    }
    (_stack[sp] as number)--;
    while (sp >= 0 && _stack[sp] === 0) sp--;
  }
  if (pos !== end) throw new InvalidMessage(`${end - pos} trailing bytes after the value`);
  return hasBytes;
}

// ---------------------------------------------------------------------------
// Decoding, step 2: cbor-x, then step 3: shape validation.

/** The part of cbor-x's Encoder (which is also a Decoder) this module uses. */
interface _CborDecoder {
  decode(bytes: Uint8Array): unknown;
}

/** Configured once; only its decoder side is used. */
const _cbor: _CborDecoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  structuredClone: false,
  pack: false,
  bundleStrings: false,
  // Byte strings decode as views of the source: `_read` hands cbor-x a private copy.
  copyBuffers: false,
}) as unknown as _CborDecoder;

interface _Limits {
  maxEntries: number;
  maxStringBytes: number;
  maxNodes: number;
}

const _DEFAULT_LIMITS: _Limits = { ...DEFAULT_CODEC_LIMITS };

/** Fills in defaults; a limit that is not a non-negative integer is the caller's bug: TypeError. */
function _limits(l: Partial<CodecLimits> | undefined): _Limits {
  if (l === undefined) return _DEFAULT_LIMITS;
  return {
    maxEntries: _limit(l.maxEntries, "maxEntries"),
    maxStringBytes: _limit(l.maxStringBytes, "maxStringBytes"),
    maxNodes: _limit(l.maxNodes, "maxNodes"),
  };
}

function _limit(v: number | undefined, name: keyof CodecLimits): number {
  if (v === undefined) return DEFAULT_CODEC_LIMITS[name];
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new ConfigError(
      `limits.${name}`,
      `codec limit ${name} must be a non-negative integer, got ${String(v)}`,
    );
  }
  return v;
}

/** Scans, decodes, checks the envelope and version; returns the envelope array. */
function _read(bytes: Uint8Array, limits: _Limits, what: string): unknown[] {
  if (!(bytes instanceof Uint8Array)) throw new InvalidMessage(`${what} must be a Uint8Array`);
  // A fresh plain view: cbor-x caches a `dataView` property on its source, which then
  // lands on the view rather than on the caller's array.
  let src = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (_scan(src, Math.max(limits.maxEntries, limits.maxNodes, 16), limits.maxStringBytes)) {
    // Payloads become views of one private, plain copy of the input: one allocation per
    // message rather than one per payload (which is slow on V8), never a Buffer, and never
    // aliasing memory the caller may reuse.
    src = new Uint8Array(src);
  }
  let raw: unknown;
  try {
    raw = _cbor.decode(src);
  } catch (cause) {
    // RangeError (stack overflow) included; the scan should make this unreachable.
    throw new InvalidMessage(`malformed CBOR: ${_describe(cause)}`, { cause });
  }
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new InvalidMessage(`${what} must be a non-empty CBOR array`);
  }
  const version = raw[0];
  if (version !== CODEC_VERSION) {
    throw new InvalidMessage(
      `unsupported codec version ${_show(version)} (this build reads version ${CODEC_VERSION})`,
    );
  }
  return raw;
}

/** Runs a validator, turning any stray exception into InvalidMessage. */
function _guard<T>(f: () => T): T {
  try {
    return f();
  } catch (cause) {
    if (cause instanceof InvalidMessage) throw cause;
    throw new InvalidMessage(`malformed input: ${_describe(cause)}`, { cause });
  }
}

function _describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function _show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (typeof v === "number" || typeof v === "boolean" || v === null || v === undefined) {
    return String(v);
  }
  if (typeof v === "bigint") return `${v}n`;
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (Array.isArray(v)) return `array(${v.length})`;
  return typeof v;
}

function _fail(reason: string): never {
  throw new InvalidMessage(reason);
}

function _arity(a: unknown[], n: number, what: string): void {
  if (a.length !== n) _fail(`${what} must have ${n} fields, got ${a.length}`);
}

function _array(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) _fail(`${what} must be an array, got ${_show(v)}`);
  return v;
}

/** A non-negative safe integer (node ids, rounds); terms and indexes use `_term`, `_index`. */
function _uint(v: unknown, what: string): number {
  const n = _toUint(v);
  return n < 0 ? _badUint(v, what) : n;
}

function _badUint(v: unknown, what: string): never {
  return _fail(`${what} must be a non-negative safe integer, got ${_show(v)}`);
}

/** A term: a non-negative integer at most MAX_TERM. */
function _term(v: unknown, what: string): number {
  const n = _toUint(v);
  return n < 0 || n > MAX_TERM ? _badTerm(v, what) : n;
}

function _badTerm(v: unknown, what: string): never {
  const n = _toUint(v);
  if (n < 0) return _badUint(v, what);
  return _fail(`${what} ${n} exceeds the largest term, ${MAX_TERM}`);
}

/** A log index: a non-negative integer at most MAX_INDEX. */
function _index(v: unknown, what: string): number {
  const n = _toUint(v);
  return n < 0 || n > MAX_INDEX ? _badIndex(v, what) : n;
}

function _badIndex(v: unknown, what: string): never {
  const n = _toUint(v);
  if (n < 0) return _badUint(v, what);
  return _fail(`${what} ${n} exceeds the largest log index, ${MAX_INDEX}`);
}

function _bool(v: unknown, what: string): boolean {
  if (typeof v !== "boolean") _fail(`${what} must be a boolean, got ${_show(v)}`);
  return v;
}

function _string(v: unknown, what: string): string {
  if (typeof v !== "string") _fail(`${what} must be a string, got ${_show(v)}`);
  return v;
}

function _logIdIn(v: unknown, what: string): LogId | null {
  if (v === null) return null;
  const a = _array(v, what);
  _arity(a, 2, what);
  return { term: _term(a[0], `${what}.term`), index: _index(a[1], `${what}.index`) };
}

function _membershipIn(v: unknown, limits: _Limits, what: string): Membership {
  const a = _array(v, what);
  if (a.length !== 2 && a.length !== 3) _fail(`${what} must have 2 or 3 fields, got ${a.length}`);
  return _membershipFieldsIn(a, 0, limits, what);
}

/** Reads `configs, nodes[, clusterId]` from `a[o]` on. */
function _membershipFieldsIn(a: unknown[], o: number, limits: _Limits, what: string): Membership {
  const clusterId = a.length > o + 2 ? _string(a[o + 2], `${what}.clusterId`) : "";
  const rawConfigs = _array(a[o], `${what}.configs`);
  if (rawConfigs.length > _MAX_CONFIGS) {
    _fail(`${what}.configs has ${rawConfigs.length} voter sets; at most ${_MAX_CONFIGS}`);
  }
  const rawNodes = _array(a[o + 1], `${what}.nodes`);
  if (rawNodes.length > limits.maxNodes) {
    _fail(`${what}.nodes has ${rawNodes.length} nodes; at most ${limits.maxNodes}`);
  }
  const nodes = new Map<NodeId, RaftNode>();
  for (let i = 0; i < rawNodes.length; i++) {
    const w = `${what}.nodes[${i}]`;
    const pair = _array(rawNodes[i], w);
    if (pair.length !== 2 && pair.length !== 3) {
      _fail(`${w} must have 2 or 3 fields, got ${pair.length}`);
    }
    const id = _uint(pair[0], `${w}.id`);
    if (nodes.has(id)) _fail(`${what}.nodes lists node ${id} twice`);
    nodes.set(id, _nodeIn(pair, w));
  }
  const configs: NodeId[][] = [];
  for (let c = 0; c < rawConfigs.length; c++) {
    const w = `${what}.configs[${c}]`;
    const raw = _array(rawConfigs[c], w);
    if (raw.length === 0) _fail(`${w} is an empty voter set`);
    const config: NodeId[] = [];
    let prev = -1;
    for (let i = 0; i < raw.length; i++) {
      const id = _uint(raw[i], `${w}[${i}]`);
      if (id <= prev) _fail(`${w} must be sorted ascending without duplicates`);
      if (!nodes.has(id)) _fail(`voter ${id} of ${w} is missing from ${what}.nodes`);
      config.push(id);
      prev = id;
    }
    configs.push(config);
  }
  return { configs, nodes, clusterId };
}

function _storedMembershipIn(v: unknown, limits: _Limits, what: string): StoredMembership {
  const a = _array(v, what);
  _arity(a, 2, what);
  return {
    logId: _logIdIn(a[0], `${what}.logId`),
    membership: _membershipIn(a[1], limits, `${what}.membership`),
  };
}

function _metaIn(v: unknown, limits: _Limits, what: string): SnapshotMeta {
  const a = _array(v, what);
  _arity(a, 3, what);
  return {
    lastLogId: _logIdIn(a[0], `${what}.lastLogId`),
    lastMembership: _storedMembershipIn(a[1], limits, `${what}.lastMembership`),
    snapshotId: _string(a[2], `${what}.snapshotId`),
  };
}

const _MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * `v` as a non-negative safe integer, or -1 if it is not one. -0 reads as 0; a
 * BigInt in range (cbor-x's reading of a CBOR uint64, which other encoders
 * write for integers from 2^32 up) as a number.
 */
function _toUint(v: unknown): number {
  if (typeof v === "number") return Number.isSafeInteger(v) && v >= 0 ? v + 0 : -1;
  if (typeof v === "bigint") return v >= 0n && v <= _MAX_SAFE ? Number(v) : -1;
  return -1;
}

/** `base[i]`, or `base` when `i` is -1: built only when an error needs it. */
function _at(base: string, i: number): string {
  return i < 0 ? base : `${base}[${i}]`;
}

/**
 * Reads an entry from `v[o]` on: `[entryTag, term, index, payload?]`. The hot
 * path of decoding: names for error messages are built only on failure.
 */
function _entryIn(v: unknown, limits: _Limits, base: string, i: number, o: number): Entry {
  if (!Array.isArray(v)) return _fail(`${_at(base, i)} must be an array, got ${_show(v)}`);
  const tag: unknown = v[o];
  const n = v.length - o;
  const want = tag === _ENTRY_BLANK
    ? 3
    : tag === _ENTRY_NORMAL || tag === _ENTRY_MEMBERSHIP
    ? 4
    : 0;
  if (want === 0) return _fail(`${_at(base, i)} has unknown entry type tag ${_show(tag)}`);
  if (n !== want) return _fail(`${_at(base, i)} must have ${want} fields, got ${n}`);
  const term = _toUint(v[o + 1]);
  const index = _toUint(v[o + 2]);
  if (term < 0 || term > MAX_TERM) return _badTerm(v[o + 1], `${_at(base, i)}.term`);
  if (index < 0 || index > MAX_INDEX) return _badIndex(v[o + 2], `${_at(base, i)}.index`);
  if (index === 0) _fail(`${_at(base, i)}.index must be at least 1`);
  if (tag === _ENTRY_NORMAL) {
    const data: unknown = v[o + 3];
    if (!(data instanceof Uint8Array)) {
      return _fail(`${_at(base, i)}.data must be a byte string, got ${_show(data)}`);
    }
    return { term, index, type: "normal", data };
  }
  if (tag === _ENTRY_BLANK) return { term, index, type: "blank" };
  return {
    term,
    index,
    type: "membership",
    membership: _membershipIn(v[o + 3], limits, `${_at(base, i)}.membership`),
  };
}

function _entriesIn(v: unknown, limits: _Limits, what: string): Entry[] {
  const a = _array(v, what);
  if (a.length > limits.maxEntries) {
    _fail(`${what} has ${a.length} entries; at most ${limits.maxEntries}`);
  }
  const out = new Array<Entry>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = _entryIn(a[i], limits, what, i, 0);
  return out;
}

function _appendIn(a: unknown[], limits: _Limits): AppendRequest {
  _arity(a, 9, "append");
  const term = _term(a[2], "append.term");
  const leaderId = _uint(a[3], "append.leaderId");
  const prevLogId = _logIdIn(a[4], "append.prevLogId");
  const entries = _entriesIn(a[5], limits, "append.entries");
  const leaderCommit = _index(a[6], "append.leaderCommit");
  const round = _uint(a[7], "append.round");
  const clusterId = _string(a[8], "append.clusterId");
  // Entries continue the log right after prevLogId, with consecutive indexes and
  // non-decreasing terms no greater than the leader's.
  let index = prevLogId === null ? 0 : prevLogId.index;
  let lastTerm = prevLogId === null ? 0 : prevLogId.term;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry;
    if (e.index !== index + 1) {
      _fail(
        i === 0
          ? `append.entries[0].index is ${e.index}; prevLogId requires ${index + 1}`
          : `append.entries are not consecutive: index ${e.index} follows ${index}`,
      );
    }
    if (e.term < lastTerm) {
      _fail(`append.entries[${i}].term ${e.term} is lower than the term before it, ${lastTerm}`);
    }
    if (e.term > term) _fail(`append.entries[${i}].term ${e.term} exceeds the leader's ${term}`);
    index = e.index;
    lastTerm = e.term;
  }
  return { type: "append", term, leaderId, prevLogId, entries, leaderCommit, round, clusterId };
}

function _messageIn(a: unknown[], limits: _Limits): RaftMessage {
  const tag = a[1];
  switch (tag) {
    case _APPEND:
      return _appendIn(a, limits);
    case _APPEND_RESPONSE:
      _arity(a, 8, "append-response");
      return {
        type: "append-response",
        term: _term(a[2], "append-response.term"),
        round: _uint(a[3], "append-response.round"),
        success: _bool(a[4], "append-response.success"),
        index: _index(a[5], "append-response.index"),
        hintTerm: _term(a[6], "append-response.hintTerm"),
        hintIndex: _index(a[7], "append-response.hintIndex"),
      } satisfies AppendResponse;
    case _VOTE:
    case _PRE_VOTE: {
      const type = tag === _VOTE ? "vote" : "pre-vote";
      _arity(a, 7, type);
      return {
        type,
        term: _term(a[2], `${type}.term`),
        candidateId: _uint(a[3], `${type}.candidateId`),
        lastLogId: _logIdIn(a[4], `${type}.lastLogId`),
        transfer: _bool(a[5], `${type}.transfer`),
        clusterId: _string(a[6], `${type}.clusterId`),
      } satisfies VoteRequest;
    }
    case _VOTE_RESPONSE:
    case _PRE_VOTE_RESPONSE: {
      const type = tag === _VOTE_RESPONSE ? "vote-response" : "pre-vote-response";
      _arity(a, 4, type);
      return {
        type,
        term: _term(a[2], `${type}.term`),
        granted: _bool(a[3], `${type}.granted`),
      } satisfies VoteResponse;
    }
    case _TIMEOUT_NOW:
      _arity(a, 5, "timeout-now");
      return {
        type: "timeout-now",
        term: _term(a[2], "timeout-now.term"),
        leaderId: _uint(a[3], "timeout-now.leaderId"),
        clusterId: _string(a[4], "timeout-now.clusterId"),
      } satisfies TimeoutNowRequest;
    case _TIMEOUT_NOW_RESPONSE:
      _arity(a, 4, "timeout-now-response");
      return {
        type: "timeout-now-response",
        term: _term(a[2], "timeout-now-response.term"),
        accepted: _bool(a[3], "timeout-now-response.accepted"),
      } satisfies TimeoutNowResponse;
    case _INSTALL_SNAPSHOT:
      _arity(a, 6, "install-snapshot");
      return {
        type: "install-snapshot",
        term: _term(a[2], "install-snapshot.term"),
        leaderId: _uint(a[3], "install-snapshot.leaderId"),
        meta: _metaIn(a[4], limits, "install-snapshot.meta"),
        clusterId: _string(a[5], "install-snapshot.clusterId"),
      } satisfies InstallSnapshotRequest;
    case _INSTALL_SNAPSHOT_RESPONSE:
      _arity(a, 4, "install-snapshot-response");
      return {
        type: "install-snapshot-response",
        term: _term(a[2], "install-snapshot-response.term"),
        lastLogId: _logIdIn(a[3], "install-snapshot-response.lastLogId"),
      } satisfies InstallSnapshotResponse;
    case _READ_INDEX:
      _arity(a, 5, "read-index");
      return {
        type: "read-index",
        term: _term(a[2], "read-index.term"),
        readerId: _uint(a[3], "read-index.readerId"),
        clusterId: _string(a[4], "read-index.clusterId"),
      } satisfies ReadIndexRequest;
    case _READ_INDEX_RESPONSE:
      _arity(a, 5, "read-index-response");
      return {
        type: "read-index-response",
        term: _term(a[2], "read-index-response.term"),
        index: a[3] === null ? null : _index(a[3], "read-index-response.index"),
        leaderId: a[4] === null ? null : _uint(a[4], "read-index-response.leaderId"),
      } satisfies ReadIndexResponse;
    default:
      return _fail(`unknown message type tag ${_show(tag)}`);
  }
}

// ---------------------------------------------------------------------------
// Public API

/**
 * Encodes a Raft RPC message as `[version, typeTag, ...fields]`.
 *
 * Encoding is deterministic: equal messages give equal bytes. It throws a
 * `TypeError` for what it cannot write (an unknown `type`, a number that is
 * not a non-negative safe integer, data that is not a `Uint8Array`) but
 * otherwise trusts its input; {@linkcode decodeMessage} checks everything.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from "./codec.ts";
 * const bytes = encodeMessage({ type: "vote-response", term: 2, granted: true });
 * const back = decodeMessage(bytes);
 * console.assert(back.type === "vote-response" && back.granted);
 * ```
 */
export function encodeMessage(m: RaftMessage): Uint8Array {
  return _encode(_messageOut, m);
}

/**
 * Decodes and validates a message made by {@linkcode encodeMessage}: field
 * types, and for an append request that its entries continue `prevLogId`
 * with consecutive indexes and non-decreasing terms no greater than `term`.
 * Payloads are plain `Uint8Array`s viewing one private copy of the input,
 * never `bytes` itself. `limits` default to {@linkcode DEFAULT_CODEC_LIMITS}.
 *
 * @throws {InvalidMessage} for any input that is not a valid message of this
 * codec version, or that exceeds `limits`.
 *
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage } from "./codec.ts";
 * import { ConfigError, InvalidMessage } from "./errors.ts";
 * const m = decodeMessage(encodeMessage({
 *   type: "append", term: 1, leaderId: 1, prevLogId: null, leaderCommit: 0, round: 7,
 *   entries: [{ term: 1, index: 1, type: "normal", data: new Uint8Array([42]) }], clusterId: "c1",
 * }));
 * console.assert(m.type === "append" && m.entries.length === 1);
 * try {
 *   decodeMessage(new Uint8Array([0xff]));
 * } catch (e) {
 *   console.assert(e instanceof InvalidMessage);
 * }
 * ```
 */
export function decodeMessage(bytes: Uint8Array, limits?: Partial<CodecLimits>): RaftMessage {
  const l = _limits(limits);
  const raw = _read(bytes, l, "message");
  return _guard(() => _messageIn(raw, l));
}

/**
 * Encodes one log entry as `[version, entryTag, term, index, payload?]`, for
 * storage adapters.
 *
 * @example
 * ```ts
 * import { decodeEntry, encodeEntry } from "./codec.ts";
 * const e = decodeEntry(encodeEntry({ term: 1, index: 1, type: "blank" }));
 * console.assert(e.type === "blank" && e.index === 1);
 * ```
 */
export function encodeEntry(e: Entry): Uint8Array {
  return _encode(_entryOut, e, 1);
}

/**
 * Decodes and validates an entry made by {@linkcode encodeEntry}. The
 * payload of a normal entry is a plain `Uint8Array` viewing a private copy
 * of the input, never `bytes` itself (so the caller may reuse `bytes`).
 *
 * @throws {InvalidMessage} for any input that is not a valid entry.
 *
 * @example
 * ```ts
 * import { decodeEntry, encodeEntry } from "./codec.ts";
 * const e = decodeEntry(encodeEntry({ term: 2, index: 9, type: "normal", data: new Uint8Array([1, 2]) }));
 * console.assert(e.type === "normal" && e.data instanceof Uint8Array);
 * ```
 */
export function decodeEntry(bytes: Uint8Array, limits?: Partial<CodecLimits>): Entry {
  const l = _limits(limits);
  const raw = _read(bytes, l, "entry");
  return _guard(() => _entryIn(raw, l, "entry", -1, 1));
}

/**
 * Encodes a list of entries as `[version, [entry, ...]]`, each entry as in a
 * message: `[entryTag, term, index, payload?]`.
 *
 * @example
 * ```ts
 * import { decodeEntries, encodeEntries } from "./codec.ts";
 * const es = decodeEntries(encodeEntries([
 *   { term: 1, index: 1, type: "blank" },
 *   { term: 1, index: 2, type: "normal", data: new TextEncoder().encode("set x 1") },
 * ]));
 * console.assert(es.length === 2);
 * ```
 */
export function encodeEntries(es: readonly Entry[]): Uint8Array {
  return _encode(_entryListOut, es);
}

/**
 * Decodes and validates entries made by {@linkcode encodeEntries}. Each entry
 * is checked on its own; unlike an append request, the list need not be
 * consecutive.
 *
 * @throws {InvalidMessage} for any input that is not a valid entry list, or
 * one longer than `limits.maxEntries`.
 *
 * @example
 * ```ts
 * import { decodeEntries, encodeEntries } from "./codec.ts";
 * console.assert(decodeEntries(encodeEntries([])).length === 0);
 * ```
 */
export function decodeEntries(bytes: Uint8Array, limits?: Partial<CodecLimits>): Entry[] {
  const l = _limits(limits);
  const raw = _read(bytes, l, "entry list");
  return _guard(() => {
    _arity(raw, 2, "entry list");
    return _entriesIn(raw[1], l, "entries");
  });
}

/**
 * Encodes a vote as `[version, term, votedFor | null, committed]`.
 *
 * @example
 * ```ts
 * import { decodeVote, encodeVote } from "./codec.ts";
 * import { INITIAL_VOTE } from "./types.ts";
 * console.assert(decodeVote(encodeVote(INITIAL_VOTE)).term === 0);
 * ```
 */
export function encodeVote(v: Vote): Uint8Array {
  return _encode(_voteOut, v);
}

/**
 * Decodes and validates a vote made by {@linkcode encodeVote}.
 *
 * @throws {InvalidMessage} for any input that is not a valid vote.
 *
 * @example
 * ```ts
 * import { decodeVote, encodeVote } from "./codec.ts";
 * const v = decodeVote(encodeVote({ term: 3, votedFor: 2, committed: true }));
 * console.assert(v.votedFor === 2 && v.committed);
 * ```
 */
export function decodeVote(bytes: Uint8Array): Vote {
  const raw = _read(bytes, _limits(undefined), "vote");
  return _guard(() => {
    _arity(raw, 4, "vote");
    return {
      term: _term(raw[1], "vote.term"),
      votedFor: raw[2] === null ? null : _uint(raw[2], "vote.votedFor"),
      committed: _bool(raw[3], "vote.committed"),
    };
  });
}

/**
 * Encodes snapshot metadata as
 * `[version, lastLogId, [logId, [configs, nodes(, clusterId)]], snapshotId]`.
 *
 * @example
 * ```ts
 * import { decodeSnapshotMeta, encodeSnapshotMeta } from "./codec.ts";
 * import { membershipOf } from "./types.ts";
 * const meta = decodeSnapshotMeta(encodeSnapshotMeta({
 *   lastLogId: { term: 1, index: 10 },
 *   lastMembership: { logId: { term: 1, index: 1 }, membership: membershipOf([1, 2, 3]) },
 *   snapshotId: "1-10-0",
 * }));
 * console.assert(meta.snapshotId === "1-10-0");
 * ```
 */
export function encodeSnapshotMeta(meta: SnapshotMeta): Uint8Array {
  return _encode(_metaWriter, meta);
}

/**
 * Decodes and validates snapshot metadata made by {@linkcode encodeSnapshotMeta}.
 *
 * @throws {InvalidMessage} for any input that is not valid snapshot metadata.
 *
 * @example
 * ```ts
 * import { decodeSnapshotMeta, encodeSnapshotMeta } from "./codec.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * const meta = decodeSnapshotMeta(encodeSnapshotMeta({
 *   lastLogId: null,
 *   lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
 *   snapshotId: "empty",
 * }));
 * console.assert(meta.lastLogId === null);
 * ```
 */
export function decodeSnapshotMeta(
  bytes: Uint8Array,
  limits?: Partial<CodecLimits>,
): SnapshotMeta {
  const l = _limits(limits);
  const raw = _read(bytes, l, "snapshot meta");
  return _guard(() => _metaIn(raw.slice(1), l, "snapshot meta"));
}

/**
 * Encodes a membership as `[version, configs, nodes]`, or
 * `[version, configs, nodes, clusterId]` when its cluster id is not `""`:
 * `configs` an array of voter-id arrays, `nodes` an array of `[id, addr]`
 * pairs in the map's order (`[id, addr, fieldsJson]` for a node with fields
 * besides `addr`, which {@linkcode checkRaftNode} describes).
 *
 * @example
 * ```ts
 * import { decodeMembership, encodeMembership } from "./codec.ts";
 * import { membershipOf } from "./types.ts";
 * const m = decodeMembership(encodeMembership(membershipOf([1, 2], [3])));
 * console.assert(m.nodes.size === 3 && m.configs[0]?.length === 2);
 * ```
 */
export function encodeMembership(m: Membership): Uint8Array {
  return _encode(_membershipWriter, m);
}

/**
 * Decodes and validates a membership made by {@linkcode encodeMembership}:
 * at most two voter sets, each non-empty, sorted and free of duplicates, every
 * voter listed in `nodes`, no node listed twice.
 *
 * @throws {InvalidMessage} for any input that is not a valid membership.
 *
 * @example
 * ```ts
 * import { decodeMembership, encodeMembership } from "./codec.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * console.assert(decodeMembership(encodeMembership(EMPTY_MEMBERSHIP)).nodes.size === 0);
 * ```
 */
export function decodeMembership(bytes: Uint8Array, limits?: Partial<CodecLimits>): Membership {
  const l = _limits(limits);
  const raw = _read(bytes, l, "membership");
  return _guard(() => _membershipIn(raw.slice(1), l, "membership"));
}

/**
 * Encodes a membership with the id of the entry holding it, as
 * `[version, logId, [configs, nodes(, clusterId)]]`.
 *
 * @example
 * ```ts
 * import { decodeStoredMembership, encodeStoredMembership } from "./codec.ts";
 * import { membershipOf } from "./types.ts";
 * const sm = decodeStoredMembership(encodeStoredMembership({
 *   logId: { term: 1, index: 1 },
 *   membership: membershipOf([1]),
 * }));
 * console.assert(sm.logId?.index === 1);
 * ```
 */
export function encodeStoredMembership(sm: StoredMembership): Uint8Array {
  return _encode(_storedMembershipWriter, sm);
}

/**
 * Decodes and validates a stored membership made by
 * {@linkcode encodeStoredMembership}.
 *
 * @throws {InvalidMessage} for any input that is not a valid stored membership.
 *
 * @example
 * ```ts
 * import { decodeStoredMembership, encodeStoredMembership } from "./codec.ts";
 * import { EMPTY_MEMBERSHIP } from "./types.ts";
 * const sm = decodeStoredMembership(encodeStoredMembership({ logId: null, membership: EMPTY_MEMBERSHIP }));
 * console.assert(sm.logId === null);
 * ```
 */
export function decodeStoredMembership(
  bytes: Uint8Array,
  limits?: Partial<CodecLimits>,
): StoredMembership {
  const l = _limits(limits);
  const raw = _read(bytes, l, "stored membership");
  return _guard(() => _storedMembershipIn(raw.slice(1), l, "stored membership"));
}
