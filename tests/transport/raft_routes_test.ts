import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DEFAULT_MAX_BODY_BYTES,
  type RaftHandler,
  raftRoutes,
} from "../../src/transport/raft_routes.ts";
import { decodeMessage, encodeMessage } from "../../src/codec.ts";
import { readAllBytes } from "../../src/byte_stream.ts";
import { EMPTY_MEMBERSHIP } from "../../src/types.ts";
import {
  ClusterMismatch,
  ConfigError,
  InternalError,
  InvalidMessage,
  NotAMember,
  PayloadTooLarge,
  RaftError,
  ShuttingDown,
  StorageError,
  Unreachable,
} from "../../src/errors.ts";
import {
  type RaftMessage,
  type RaftRequest,
  type RaftResponse,
  REQUEST_TYPES,
  type VoteRequest,
} from "../../src/messages.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { kvSet, MemoryStateMachine } from "../../kv/mod.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";
import { HttpNetwork } from "../../src/transport/http_network.ts";
import { serveLocal } from "./_serve.ts";
import { FAST, RuntimeCluster } from "../runtime/_cluster.ts";

const APPEND: RaftRequest = {
  type: "append",
  clusterId: "c1",
  term: 3,
  leaderId: 1,
  prevLogId: { term: 2, index: 7 },
  entries: [
    { type: "normal", term: 3, index: 8, data: new Uint8Array([1, 2, 3]) },
    { type: "blank", term: 3, index: 9 },
  ],
  leaderCommit: 7,
  round: 12,
};
const VOTE: VoteRequest = {
  type: "vote",
  clusterId: "c1",
  term: 4,
  candidateId: 2,
  lastLogId: { term: 3, index: 9 },
  transfer: false,
};
const PRE_VOTE: RaftRequest = { ...VOTE, type: "pre-vote", term: 5 };
const TIMEOUT_NOW: RaftRequest = { type: "timeout-now", clusterId: "c1", term: 4, leaderId: 1 };
const READ_INDEX: RaftRequest = { type: "read-index", clusterId: "c1", term: 4, readerId: 3 };

function answer(req: RaftRequest): RaftResponse {
  switch (req.type) {
    case "append":
      return {
        type: "append-response",
        term: req.term,
        round: req.round,
        success: true,
        index: 9,
        hintTerm: 0,
        hintIndex: 0,
      };
    case "vote":
      return { type: "vote-response", term: req.term, granted: true };
    case "pre-vote":
      return { type: "pre-vote-response", term: req.term, granted: false };
    case "timeout-now":
      return { type: "timeout-now-response", term: req.term, accepted: true };
    case "install-snapshot":
      return { type: "install-snapshot-response", term: req.term, lastLogId: null };
    case "read-index":
      return { type: "read-index-response", term: req.term, index: 7, leaderId: 1 };
  }
}

/** A handler that answers each request with its matching response and records it. */
function fake(): RaftHandler & { seen: RaftRequest[] } {
  const seen: RaftRequest[] = [];
  return {
    seen,
    handle(req) {
      seen.push(req);
      return Promise.resolve(answer(req));
    },
  };
}

function post(
  body: Uint8Array | string | ReadableStream<Uint8Array> | null,
  headers: Record<string, string> = {},
): RequestInit {
  return {
    method: "POST",
    headers: { "content-type": "application/cbor", ...headers },
    body: body instanceof Uint8Array ? body.slice() : body,
    ...(body instanceof ReadableStream ? { duplex: "half" } : {}),
  };
}

function cbor(m: RaftMessage): Uint8Array {
  return encodeMessage(m);
}

async function errorJson(res: Response): Promise<Record<string, unknown>> {
  assert.match(res.headers.get("content-type") ?? "", /application\/json/);
  return await res.json() as Record<string, unknown>;
}

test("raftRoutes: every route round-trips its request and response as CBOR", async () => {
  const h = fake();
  const app = raftRoutes(h);
  for (const req of [APPEND, VOTE, PRE_VOTE, TIMEOUT_NOW, READ_INDEX]) {
    const res = await app.request(`/raft/${req.type}`, post(cbor(req)));
    assert.equal(res.status, 200, req.type);
    assert.equal(res.headers.get("content-type"), "application/cbor");
    const got = decodeMessage(new Uint8Array(await res.arrayBuffer()));
    assert.deepEqual(got, answer(req), req.type);
  }
  assert.deepEqual(h.seen, [APPEND, VOTE, PRE_VOTE, TIMEOUT_NOW, READ_INDEX]);
});

test("raftRoutes: accepts a body with a content-length and one streamed without", async () => {
  const h = fake();
  const app = raftRoutes(h);
  const bytes = cbor(APPEND);
  const withLength = await app.request(
    "/raft/append",
    post(bytes, { "content-length": String(bytes.length) }),
  );
  assert.equal(withLength.status, 200);
  // Streamed in two chunks, no content-length.
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes.slice(0, 5));
      c.enqueue(bytes.slice(5));
      c.close();
    },
  });
  const streamed = await app.request("/raft/append", post(stream));
  assert.equal(streamed.status, 200);
  assert.deepEqual(h.seen, [APPEND, APPEND]);
});

test("raftRoutes: malformed CBOR gets 400 with an InvalidMessage JSON body", async () => {
  const h = fake();
  const app = raftRoutes(h);
  for (const body of [new Uint8Array([0xff, 0x00, 0x13]), new Uint8Array(0), "hello"]) {
    const res = await app.request("/raft/append", post(body));
    assert.equal(res.status, 400);
    const json = await errorJson(res);
    assert.equal(json.code, "InvalidMessage");
    assert.equal(typeof json.reason, "string");
  }
  // Trailing bytes after a valid message.
  const bytes = cbor(VOTE);
  const padded = new Uint8Array(bytes.length + 1);
  padded.set(bytes);
  const res = await app.request("/raft/vote", post(padded));
  assert.equal(res.status, 400);
  assert.equal((await errorJson(res)).code, "InvalidMessage");
  assert.equal(h.seen.length, 0, "the node never sees a malformed message");
});

test("raftRoutes: a message whose type does not match the route gets 400", async () => {
  const h = fake();
  const app = raftRoutes(h);
  const cases: [string, RaftMessage][] = [
    ["/raft/append", VOTE],
    ["/raft/vote", PRE_VOTE],
    ["/raft/pre-vote", VOTE],
    ["/raft/timeout-now", APPEND],
    ["/raft/vote", { type: "vote-response", term: 1, granted: true }],
  ];
  for (const [path, m] of cases) {
    const res = await app.request(path, post(cbor(m)));
    assert.equal(res.status, 400, `${m.type} on ${path}`);
    const json = await errorJson(res);
    assert.equal(json.code, "InvalidMessage");
    assert.match(String(json.reason), new RegExp(m.type));
  }
  assert.equal(h.seen.length, 0);
});

test("raftRoutes: a body over maxBodyBytes gets 413, declared or streamed", async () => {
  const h = fake();
  const app = raftRoutes(h, { maxBodyBytes: 16 });
  const big = cbor(APPEND);
  assert.ok(big.length > 16);
  const declared = await app.request(
    "/raft/append",
    post(big, { "content-length": String(big.length) }),
  );
  assert.equal(declared.status, 413);
  const json = await errorJson(declared);
  assert.equal(json.code, "PayloadTooLarge");
  assert.equal(json.limit, 16);

  // Declared within the limit (read in one call), but longer: still refused.
  const understated = await app.request(
    "/raft/append",
    post(big, { "content-length": "8" }),
  );
  assert.equal(understated.status, 413);
  assert.equal((await errorJson(understated)).code, "PayloadTooLarge");

  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(10));
    },
  });
  const streamed = await app.request("/raft/append", post(endless));
  assert.equal(streamed.status, 413);
  assert.equal((await errorJson(streamed)).code, "PayloadTooLarge");
  assert.ok(pulled < 10, "stops reading once over the limit");

  const small = await app.request("/raft/timeout-now", post(cbor(TIMEOUT_NOW)));
  assert.equal(small.status, 200, "a body under the limit passes");
  assert.deepEqual(h.seen, [TIMEOUT_NOW]);
});

test("raftRoutes: the default body limit is 64 MiB and must be a non-negative integer", () => {
  assert.equal(DEFAULT_MAX_BODY_BYTES, 64 * 1024 * 1024);
  assert.throws(() => raftRoutes(fake(), { maxBodyBytes: -1 }), ConfigError);
  assert.throws(() => raftRoutes(fake(), { maxBodyBytes: 1.5 }), ConfigError);
  assert.throws(() => raftRoutes(fake(), { maxSnapshotBytes: Number.NaN }), ConfigError);
});

test("raftRoutes: a bad codec limit is refused when the routes are built, not on every request", () => {
  assert.throws(() => raftRoutes(fake(), { limits: { maxEntries: -1 } }), ConfigError);
  assert.throws(() => raftRoutes(fake(), { limits: { maxNodes: 0.5 } }), ConfigError);
  raftRoutes(fake(), { limits: { maxEntries: 10 } });
});

test("raftRoutes: a RaftError from the node gets 503 with its JSON", async () => {
  for (const err of [new ShuttingDown(), new StorageError("append", new Error("disk full"))]) {
    const app = raftRoutes({ handle: () => Promise.reject(err) });
    const res = await app.request("/raft/vote", post(cbor(VOTE)));
    assert.equal(res.status, 503);
    assert.deepEqual(await errorJson(res), JSON.parse(JSON.stringify(err)));
  }
});

/** A RaftError of any code, as another copy of the library (or a later error) would throw. */
class Coded extends RaftError {
  constructor(code: string) {
    super(code, `a ${code} from elsewhere`);
  }
}

test("raftRoutes: the node's RaftError picks the status by its code, on every route", async () => {
  const cases: [RaftError, number][] = [
    [new InvalidMessage("term 4503599627370496 exceeds the largest term a peer may send"), 400],
    [new ClusterMismatch("c1", "c2", 2), 409],
    [new Coded("ClusterMismatch"), 409],
    [new Coded("InvalidMessage"), 400],
    [new PayloadTooLarge(10, 5), 413],
    [new ShuttingDown(), 503],
    [new StorageError("append", new Error("disk full")), 503],
    [new InternalError("turn", new RangeError("broken invariant")), 500],
    [new Coded("SomethingNew"), 503],
  ];
  for (const [err, status] of cases) {
    const app = raftRoutes({ handle: () => Promise.reject(err) });
    const plain: RaftRequest[] = [APPEND, VOTE, PRE_VOTE, TIMEOUT_NOW];
    for (const req of plain) {
      const res = await app.request(`/raft/${req.type}`, post(cbor(req)));
      assert.equal(res.status, status, `${err.code} on ${req.type}`);
      assert.deepEqual(await errorJson(res), JSON.parse(JSON.stringify(err)));
    }
    const snap = await app.request(
      "/raft/install-snapshot",
      post(snapshotFrame(INSTALL, new Uint8Array([1, 2]))),
    );
    assert.equal(snap.status, status, `${err.code} on install-snapshot`);
    assert.equal((await errorJson(snap)).code, err.code);
  }
});

test("raftRoutes: a ClusterMismatch answer carries its fields to the sender", async () => {
  const app = raftRoutes({ handle: () => Promise.reject(new ClusterMismatch("c1", "c2", 2)) });
  const res = await app.request("/raft/append", post(cbor(APPEND)));
  assert.equal(res.status, 409);
  const json = await errorJson(res);
  assert.equal(json.code, "ClusterMismatch");
  assert.equal(json.expected, "c1");
  assert.equal(json.got, "c2");
  assert.equal(json.from, 2);
});

test("raftRoutes: other failures of the node get 500, never a throw", async () => {
  const throwing = raftRoutes({
    handle: () => {
      throw new Error("boom");
    },
  });
  const r1 = await throwing.request("/raft/vote", post(cbor(VOTE)));
  assert.equal(r1.status, 500);
  const j1 = await errorJson(r1);
  assert.equal(j1.code, "InternalError");
  assert.match(String(j1.message), /boom/);

  const rejecting = raftRoutes({ handle: () => Promise.reject("just a string") });
  const r2 = await rejecting.request("/raft/vote", post(cbor(VOTE)));
  assert.equal(r2.status, 500);

  const mismatched = raftRoutes({
    handle: () => Promise.resolve({ type: "timeout-now-response", term: 1, accepted: true }),
  });
  const r3 = await mismatched.request("/raft/vote", post(cbor(VOTE)));
  assert.equal(r3.status, 500);
  assert.equal((await errorJson(r3)).code, "InvalidMessage");
});

test("raftRoutes: a failure that does not even describe itself still gets a JSON 500", async () => {
  // No toString, no prototype: String() of it throws.
  const app = raftRoutes({ handle: () => Promise.reject(Object.create(null)) });
  const res = await app.request("/raft/vote", post(cbor(VOTE)));
  assert.equal(res.status, 500);
  assert.equal((await errorJson(res)).code, "InternalError");
  const snap = await app.request(
    "/raft/install-snapshot",
    post(snapshotFrame(INSTALL, new Uint8Array())),
  );
  assert.equal(snap.status, 500);
  assert.equal((await errorJson(snap)).code, "InternalError");
});

/** A RaftError whose fields do not serialize to JSON. */
class Unserializable extends RaftError {
  constructor() {
    super("Unserializable", "has a bigint field");
  }
  protected override fields(): Record<string, unknown> {
    return { big: 1n };
  }
}

test("raftRoutes: a RaftError whose JSON fails still answers JSON with its code", async () => {
  const app = raftRoutes({ handle: () => Promise.reject(new Unserializable()) });
  const res = await app.request("/raft/timeout-now", post(cbor(TIMEOUT_NOW)));
  assert.equal(res.status, 503);
  assert.equal((await errorJson(res)).code, "Unserializable");
});

test("raftRoutes: unknown routes and methods get 404", async () => {
  const h = fake();
  const app = raftRoutes(h);
  assert.equal((await app.request("/raft/bogus", post(cbor(VOTE)))).status, 404);
  assert.equal((await app.request("/raft/vote")).status, 404, "GET is not served");
  assert.equal((await app.request("/vote", post(cbor(VOTE)))).status, 404);
  assert.equal(h.seen.length, 0);
});

function snapshotFrame(request: RaftRequest, data: Uint8Array): Uint8Array {
  const header = encodeMessage(request);
  const body = new Uint8Array(4 + header.byteLength + data.byteLength);
  new DataView(body.buffer).setUint32(0, header.byteLength);
  body.set(header, 4);
  body.set(data, 4 + header.byteLength);
  return body;
}

const INSTALL: RaftRequest = {
  type: "install-snapshot",
  clusterId: "c1",
  term: 2,
  leaderId: 1,
  meta: {
    lastLogId: { term: 2, index: 9 },
    lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
    snapshotId: "s-9",
  },
};

test("raftRoutes: install-snapshot hands the metadata and the bytes to the node", async () => {
  const seen: { request: RaftRequest; data: Uint8Array | undefined }[] = [];
  const app = raftRoutes({
    async handle(request, data) {
      // The bytes come as a stream (read here whole: they are tiny).
      assert.ok(data instanceof ReadableStream);
      seen.push({ request, data: await readAllBytes(data) });
      return {
        type: "install-snapshot-response",
        term: 2,
        lastLogId: { term: 2, index: 9 },
      };
    },
  });
  const data = new Uint8Array([9, 8, 7, 6, 5]);
  const res = await app.request("/raft/install-snapshot", post(snapshotFrame(INSTALL, data)));
  assert.equal(res.status, 200);
  const reply = decodeMessage(new Uint8Array(await res.arrayBuffer()));
  assert.equal(reply.type, "install-snapshot-response");
  assert.equal(seen.length, 1);
  assert.deepEqual(seen[0]!.request, INSTALL);
  assert.deepEqual([...seen[0]!.data!], [...data]);
});

test("raftRoutes: a malformed or mistyped install-snapshot frame gets 400", async () => {
  const h = fake();
  const app = raftRoutes(h);
  const short = await app.request("/raft/install-snapshot", post(new Uint8Array([0, 0])));
  assert.equal(short.status, 400);
  assert.equal((await errorJson(short)).code, "InvalidMessage");
  const overlong = new Uint8Array([0, 0, 0, 99, 1, 2]);
  assert.equal((await app.request("/raft/install-snapshot", post(overlong))).status, 400);
  const wrong = await app.request(
    "/raft/install-snapshot",
    post(snapshotFrame(VOTE, new Uint8Array())),
  );
  assert.equal(wrong.status, 400);
  assert.equal(h.seen.length, 0, "the node saw nothing");
});

test("raftRoutes: serves a real Raft node, and 503 once it shut down", async () => {
  const net = new MemoryNetwork();
  const raft = await Raft.create({
    id: 2,
    logStore: new MemoryLogStore(),
    stateMachine: new MemoryStateMachine(),
    network: net.client(2),
  });
  const app = raftRoutes(raft);
  try {
    const res = await app.request("/raft/vote", post(cbor({ ...VOTE, lastLogId: null })));
    assert.equal(res.status, 200);
    const vote = decodeMessage(new Uint8Array(await res.arrayBuffer()));
    assert.equal(vote.type, "vote-response");
  } finally {
    await raft.shutdown();
  }
  const after = await app.request("/raft/append", post(cbor(APPEND)));
  assert.equal(after.status, 503);
  assert.equal((await errorJson(after)).code, "ShuttingDown");
});

const ALL_ROUTES: [string, () => Uint8Array][] = [
  ["/raft/append", () => cbor(APPEND)],
  ["/raft/vote", () => cbor(VOTE)],
  ["/raft/pre-vote", () => cbor(PRE_VOTE)],
  ["/raft/timeout-now", () => cbor(TIMEOUT_NOW)],
  ["/raft/install-snapshot", () => snapshotFrame(INSTALL, new Uint8Array([1, 2, 3]))],
  ["/raft/read-index", () => cbor(READ_INDEX)],
];

test("raftRoutes: one route per request type of REQUEST_TYPES, and no other", async () => {
  assert.deepEqual(ALL_ROUTES.map(([path]) => path), REQUEST_TYPES.map((t) => `/raft/${t}`));
  const h = fake();
  const app = raftRoutes(h);
  for (const type of REQUEST_TYPES) {
    // Served (415, not 404) without a content type: the route exists for every type.
    assert.equal((await app.request(`/raft/${type}`, { method: "POST" })).status, 415, type);
  }
  const served = app.routes.map((r) => `${r.method} ${r.path}`).sort();
  assert.deepEqual(served, REQUEST_TYPES.map((t) => `POST /raft/${t}`).sort());
  assert.equal(h.seen.length, 0);
});

test("raftRoutes: every route answers 415 to a body that is not application/cbor, unread", async () => {
  const h = fake();
  const app = raftRoutes(h);
  const refused: (string | null)[] = [
    null, // no content type at all
    "text/plain",
    "application/json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "application/cbor-seq",
    "application/cborx",
    "",
  ];
  for (const [path, body] of ALL_ROUTES) {
    for (const type of refused) {
      let pulled = 0;
      const bytes = body();
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          pulled++;
          c.enqueue(bytes);
          c.close();
        },
      }, { highWaterMark: 0 });
      const res = await app.request(path, {
        method: "POST",
        headers: type === null ? {} : { "content-type": type },
        body: stream,
        duplex: "half",
      } as RequestInit);
      assert.equal(res.status, 415, `${path} with ${type}`);
      const json = await errorJson(res);
      assert.equal(json.code, "InvalidMessage");
      assert.match(String(json.reason), /application\/cbor/, "names the expected type");
      assert.ok(String(json.reason).includes(path), "names the route");
      assert.equal(pulled, 0, `${path} with ${type}: the body was not read`);
    }
  }
  assert.equal(h.seen.length, 0, "the node was never called");
});

test("raftRoutes: a text body is refused on timeout-now and install-snapshot", async () => {
  const app = raftRoutes({
    handle: () => assert.fail("the node must not be called"),
  });
  for (const path of ["/raft/timeout-now", "/raft/install-snapshot"]) {
    const res = await app.request(path, {
      method: "POST",
      headers: { "content-type": "text/plain;charset=UTF-8" },
      body: "timeout-now please",
    });
    assert.equal(res.status, 415, path);
    assert.match(String((await errorJson(res)).reason), /got "text\/plain;charset=UTF-8"/);
  }
});

test("raftRoutes: application/cbor is matched case-insensitively, parameters ignored", async () => {
  const h = fake();
  const app = raftRoutes(h);
  for (const type of ["application/cbor", "Application/CBOR", "application/cbor; charset=binary"]) {
    for (const [path, body] of ALL_ROUTES) {
      const res = await app.request(path, post(body(), { "content-type": type }));
      assert.equal(res.status, 200, `${path} with ${type}`);
      assert.equal(res.headers.get("content-type"), "application/cbor");
    }
  }
  assert.equal(h.seen.length, 3 * ALL_ROUTES.length, "every route reached the node each time");
});

test("raftRoutes: a snapshot frame claiming 4 GiB of metadata gets 413 without reading on", async () => {
  const h = fake();
  const app = raftRoutes(h); // default maxBodyBytes: 64 MiB
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(pulled === 1 ? new Uint8Array([0xff, 0xff, 0xff, 0xff]) : new Uint8Array(1024));
    },
  }, { highWaterMark: 0 });
  const res = await app.request("/raft/install-snapshot", post(body));
  assert.equal(res.status, 413);
  const json = await errorJson(res);
  assert.equal(json.code, "PayloadTooLarge");
  assert.equal(json.size, 0xffffffff);
  assert.ok(pulled <= 2, `read ${pulled} chunks`);
  assert.equal(h.seen.length, 0);
});

test("raftRoutes: a snapshot frame sent in many small pieces is reassembled and checked", async () => {
  // 4 MiB of metadata in 512-byte pieces. (Joining the pieces again on every read, as the
  // routes once did, copies ~16 GiB: seconds. No timing is asserted here; it would show as
  // a slow test.)
  const app = raftRoutes(fake());
  const size = 4 * 1024 * 1024;
  const piece = new Uint8Array(512).fill(0xff);
  let sent = -1;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent < 0) {
        const head = new Uint8Array(4);
        new DataView(head.buffer).setUint32(0, size);
        c.enqueue(head);
        sent = 0;
      } else if (sent < size) {
        c.enqueue(piece.slice());
        sent += piece.byteLength;
      } else {
        c.close();
      }
    },
  });
  const res = await app.request("/raft/install-snapshot", post(body));
  assert.equal(res.status, 400, "the junk metadata does not decode");
  assert.equal((await errorJson(res)).code, "InvalidMessage");
  assert.equal(sent, size, "the whole frame was read before it was judged");
});

// ---- appends bounded in bytes (issue 14 §4) ----------------------------------------

test("raftRoutes refuses a maxBodyBytes too small for the node's appends (ConfigError)", async () => {
  const KiB = 1024;
  const make = (config: { maxPayloadBytes?: number; maxAppendBytes?: number }) =>
    Raft.create({
      id: 1,
      config,
      logStore: new MemoryLogStore(),
      stateMachine: new MemoryStateMachine(),
      network: new MemoryNetwork().client(1),
    });
  const raft = await make({ maxPayloadBytes: 512 * KiB }); // maxAppendBytes: 1 MiB by default
  try {
    raftRoutes(raft, { maxBodyBytes: 1024 * KiB }); // exactly enough
    const below = (() => {
      try {
        raftRoutes(raft, { maxBodyBytes: 1024 * KiB - 1 });
      } catch (e) {
        return e;
      }
    })();
    assert.ok(below instanceof RaftError && below.code === "ConfigError");
    assert.equal((below as RaftError & { field: string }).field, "maxBodyBytes");
    assert.match(below.message, /maxAppendBytes/);
  } finally {
    await raft.shutdown();
  }
  // The largest entry a client may write must fit, alone, with its framing.
  const big = await make({ maxPayloadBytes: 1024 * KiB, maxAppendBytes: 512 * KiB });
  try {
    assert.throws(
      () => raftRoutes(big, { maxBodyBytes: 1024 * KiB }),
      (e: unknown) => e instanceof RaftError && /maxPayloadBytes/.test(e.message),
    );
    raftRoutes(big, { maxBodyBytes: 1024 * KiB + 512 });
  } finally {
    await big.shutdown();
  }
});

test("appends bounded in bytes over real HTTP: five 400 KiB writes with a 1 MiB body limit commit everywhere, no 413, no step-down", async () => {
  const KiB = 1024;
  const statuses: number[] = [];
  const recordingFetch = async (input: string, init: RequestInit): Promise<Response> => {
    const res = await fetch(input, init);
    statuses.push(res.status);
    return res;
  };
  const nodes: Raft<Uint8Array | null>[] = [];
  const machines: MemoryStateMachine[] = [];
  const servers: { close(): Promise<void> }[] = [];
  const members = new Map<number, { addr: string }>();
  try {
    for (const id of [1, 2, 3]) {
      const sm = new MemoryStateMachine();
      const raft = await Raft.create({
        id,
        config: {
          electionTimeoutMin: 300,
          electionTimeoutMax: 600,
          heartbeatInterval: 50,
          maxPayloadBytes: 512 * KiB,
        },
        logStore: new MemoryLogStore(),
        stateMachine: sm,
        network: new HttpNetwork({ timeout: 2000, fetch: recordingFetch }),
      });
      nodes.push(raft);
      machines.push(sm);
      const server = await serveLocal(raftRoutes(raft, { maxBodyBytes: 1024 * KiB }).fetch);
      servers.push(server);
      members.set(id, { addr: server.url });
    }
    await nodes[0]!.initialize(members);
    const m = await nodes[0]!.metrics.wait({ timeout: 10_000 }).leader();
    const leader = nodes.find((n) => n.id === m.currentLeader)!;
    await leader.metrics.wait({ timeout: 10_000 }).role("leader");
    const term = leader.metrics.current.currentTerm;
    const roles: string[] = [];
    const unsubscribe = leader.metrics.subscribe((x) => roles.push(x.state));
    try {
      const writes = [1, 2, 3, 4, 5].map((i) => kvSet(`k${i}`, new Uint8Array(400 * KiB).fill(i)));
      // Five writes at once: one batch of entries, 2 MiB in all, over a 1 MiB body limit.
      const results = await leader.clientWriteMany(writes);
      const last = results[4]!.logId.index;
      for (const n of nodes) await n.metrics.wait({ timeout: 10_000 }).appliedAtLeast(last);
      for (const sm of machines) {
        for (const i of [1, 2, 3, 4, 5]) {
          const v = sm.get(`k${i}`);
          assert.equal(v?.byteLength, 400 * KiB);
          assert.equal(v![0], i);
        }
      }
      // Heartbeats keep flowing: still the leader of the same term a while later.
      await new Promise((r) => setTimeout(r, 700));
    } finally {
      unsubscribe();
    }
    assert.equal(leader.metrics.current.state, "leader");
    assert.equal(leader.metrics.current.currentTerm, term);
    assert.ok(!roles.some((r) => r !== "leader"), `the leader never stepped down: ${roles}`);
    assert.ok(!statuses.includes(413), "no request was over the body limit");
  } finally {
    for (const raft of nodes) await raft.shutdown();
    for (const s of servers) await s.close();
  }
});

// ---- 410 for senders that are not members (issue 14 §4) -------------------------------

test("raftRoutes: a removed node's pre-vote gets 410 NotAMember naming it, and changes nothing; HttpNetwork reports it as Unreachable caused by NotAMember", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const removed = [1, 2, 3].find((id) => id !== leader)!;
    const member = [1, 2, 3].find((id) => id !== leader && id !== removed)!;
    c.net.isolate(removed);
    await c.node(leader).changeMembership({ type: "remove-voters", ids: [removed] });
    await c.node(leader).clientWrite(kvSet("a", new Uint8Array([1])));
    await c.node(member).metrics.wait({ timeout: 5000 }).metrics(
      (m) => m.committed?.index === c.node(leader).metrics.current.committed?.index,
    );
    const stale = c.node(removed).metrics.current;
    const preVote: RaftRequest = {
      type: "pre-vote",
      term: stale.currentTerm + 1,
      candidateId: removed,
      lastLogId: stale.lastLogId,
      transfer: false,
      clusterId: stale.membership.membership.clusterId,
    };
    const before = c.node(member).metrics.current;
    const app = raftRoutes(c.node(member));
    const res = await app.request("/raft/pre-vote", {
      method: "POST",
      headers: { "content-type": "application/cbor" },
      body: encodeMessage(preVote).slice(),
    });
    assert.equal(res.status, 410);
    const body = await res.json();
    assert.equal(body.code, "NotAMember");
    assert.equal(body.nodeId, removed);
    const after = c.node(member).metrics.current;
    assert.equal(after.currentTerm, before.currentTerm);
    assert.deepEqual(after.vote, before.vote);
    assert.equal(after.currentLeader, leader);

    // The same over a real server, sent by HttpNetwork.
    const server = await serveLocal(app.fetch);
    try {
      const err = await new HttpNetwork().send(member, { addr: server.url }, preVote)
        .catch((e) => e);
      assert.ok(err instanceof Unreachable && err.nodeId === member, String(err));
      assert.ok(err.cause instanceof NotAMember, String(err.cause));
      assert.equal(err.cause.nodeId, removed);
    } finally {
      await server.close();
    }
  } finally {
    await c.shutdown();
  }
});

test("HttpNetwork.readIndex + raftRoutes on a real server: the read-index request and its response travel as CBOR", async () => {
  const h = fake();
  const server = await serveLocal(raftRoutes(h).fetch);
  try {
    const net = new HttpNetwork({ timeout: 2000 });
    const res = await net.readIndex(1, { addr: server.url }, {
      type: "read-index",
      clusterId: "c1",
      term: 4,
      readerId: 3,
    });
    assert.deepEqual(res, answer(READ_INDEX));
    assert.deepEqual(h.seen, [READ_INDEX]);
  } finally {
    await server.close();
  }
});
