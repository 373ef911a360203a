// Snapshot transfer over HTTP, streamed both ways: HttpNetwork.installSnapshot sends a
// ReadableStream body, raftRoutes hands the node the bytes as a stream while they arrive.
// Real servers on 127.0.0.1, under Deno and under Bun.
import { test } from "node:test";
import assert from "node:assert/strict";
import { HttpNetwork } from "../../src/transport/http_network.ts";
import { raftRoutes } from "../../src/transport/raft_routes.ts";
import { decodeMessage, encodeMessage } from "../../src/codec.ts";
import { PayloadTooLarge, Timeout, Unreachable } from "../../src/errors.ts";
import type {
  InstallSnapshotRequest,
  InstallSnapshotResponse,
  RaftRequest,
  RaftResponse,
} from "../../src/messages.ts";
import { EMPTY_MEMBERSHIP } from "../../src/types.ts";
import { digestStream, StreamDigest } from "../../testing/large_snapshot_state_machine.ts";
import { serveLocal } from "./_serve.ts";

const MiB = 1024 * 1024;
const CBOR = { "content-type": "application/cbor" } as const;

const INSTALL: InstallSnapshotRequest = {
  type: "install-snapshot",
  clusterId: "c1",
  term: 3,
  leaderId: 1,
  meta: {
    lastLogId: { term: 3, index: 40 },
    lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
    snapshotId: "3-40-1",
  },
};

const ANSWER: InstallSnapshotResponse = {
  type: "install-snapshot-response",
  term: 3,
  lastLogId: { term: 3, index: 40 },
};

/** A snapshot source generated lazily, 1 MiB per pull; `before(i)` may hold chunk i back. */
function lazySource(total: number, before?: (i: number) => Promise<void>) {
  const state = { produced: 0, cancelled: false, digest: new StreamDigest() };
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (state.produced >= total) {
        controller.close();
        return;
      }
      if (before !== undefined) await before(i);
      const n = Math.min(MiB, total - state.produced);
      const chunk = new Uint8Array(n);
      chunk.fill(i++ & 0xff);
      chunk[0] = 0x5a;
      state.digest.update(chunk);
      state.produced += n;
      controller.enqueue(chunk);
    },
    cancel() {
      state.cancelled = true;
    },
  }, { highWaterMark: 0 });
  return { state, stream };
}

function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function waitFor(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Reads a stream to its end or its error: how many bytes, and how it ended. */
async function drain(data: ReadableStream<Uint8Array>): Promise<{ bytes: number; error: unknown }> {
  const reader = data.getReader();
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes, error: null };
      bytes += value.byteLength;
    }
  } catch (e) {
    return { bytes, error: e };
  }
}

function asStream(data: Uint8Array | ReadableStream<Uint8Array> | undefined) {
  assert.ok(data instanceof ReadableStream, "the node gets the snapshot bytes as a stream");
  return data;
}

test("snapshot stream: the node reads the first bytes before the sender produced the last", async () => {
  const firstRead = deferred();
  let received: { bytes: number; checksum: number } | null = null;
  const app = raftRoutes({
    async handle(request, data) {
      assert.deepEqual(request, INSTALL);
      const reader = asStream(data).getReader();
      const digest = new StreamDigest();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        digest.update(value);
        firstRead.resolve();
      }
      received = { bytes: digest.bytes, checksum: digest.checksum };
      return ANSWER;
    },
  });
  const server = await serveLocal(app.fetch);
  try {
    // Chunk 8 is produced only once the node has read bytes: a sender that buffered the
    // whole body first would never get there (and the idle timeout would fail the test).
    const { state, stream } = lazySource(16 * MiB, async (i) => {
      if (i === 8) await firstRead.promise;
    });
    const net = new HttpNetwork({ snapshotIdleTimeout: 5000 });
    const res = await net.installSnapshot(2, { addr: server.url }, INSTALL, stream);
    assert.deepEqual(res, ANSWER);
    assert.deepEqual(received, { bytes: 16 * MiB, checksum: state.digest.checksum });
  } finally {
    await server.close();
  }
});

test("snapshot stream: while the node holds the stream unread, the sender reads only a bounded prefix", async () => {
  const release = deferred();
  let received = -1;
  const app = raftRoutes({
    async handle(_request, data) {
      await release.promise; // e.g. the install waits for its turn in the apply order
      received = (await drain(asStream(data))).bytes;
      return ANSWER;
    },
  });
  const server = await serveLocal(app.fetch);
  try {
    const total = 64 * MiB;
    const { state, stream } = lazySource(total);
    const net = new HttpNetwork({ snapshotIdleTimeout: 30_000 });
    const sent = net.installSnapshot(2, { addr: server.url }, INSTALL, stream);
    // Wait until the sender stops producing (socket buffers full), then look.
    let last = -1;
    let still = 0;
    const deadline = Date.now() + 10_000;
    while (still < 40 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      if (state.produced === last) still++;
      else [last, still] = [state.produced, 0];
    }
    assert.ok(
      state.produced < total / 2,
      `the sender read ${state.produced / MiB} MiB of ${total / MiB} while the node read none`,
    );
    release.resolve();
    assert.deepEqual(await sent, ANSWER);
    assert.equal(received, total);
  } finally {
    release.resolve();
    await server.close();
  }
});

test("snapshot stream: past maxSnapshotBytes the node's stream errors with PayloadTooLarge and the sender gets 413", async () => {
  let seen: { bytes: number; error: unknown } | null = null;
  const app = raftRoutes({
    async handle(_request, data) {
      seen = await drain(asStream(data));
      return ANSWER;
    },
  }, { maxSnapshotBytes: 3 * MiB });
  const server = await serveLocal(app.fetch);
  try {
    const { state, stream } = lazySource(64 * MiB);
    const err = await new HttpNetwork().installSnapshot(2, { addr: server.url }, INSTALL, stream)
      .then(() => assert.fail("expected a rejection"), (e: unknown) => e);
    assert.ok(err instanceof Unreachable);
    assert.match(String((err.cause as Error).message), /HTTP 413/);
    await waitFor("the node to see the error", () => seen !== null);
    const s = seen as unknown as { bytes: number; error: unknown };
    assert.ok(s.error instanceof PayloadTooLarge, `the node saw ${s.error}`);
    assert.ok(s.bytes <= 3 * MiB, "nothing past the limit reached the node");
    assert.ok(state.produced < 64 * MiB, "the sender stopped");
    await waitFor("the source to be cancelled", () => state.cancelled);
  } finally {
    await server.close();
  }
});

test("snapshot stream: a declared length over maxSnapshotBytes gets 413 before the node sees it", async () => {
  const seen: RaftRequest[] = [];
  const app = raftRoutes({
    handle(request) {
      seen.push(request);
      return Promise.resolve(ANSWER);
    },
  }, { maxSnapshotBytes: 100 });
  const header = encodeMessage(INSTALL);
  const body = new Uint8Array(4 + header.byteLength + 101);
  new DataView(body.buffer).setUint32(0, header.byteLength);
  body.set(header, 4);
  const headers = { ...CBOR, "content-length": String(body.byteLength) };
  const res = await app.request("/raft/install-snapshot", { method: "POST", body, headers });
  assert.equal(res.status, 413);
  assert.equal((await res.json()).code, "PayloadTooLarge");
  assert.equal(seen.length, 0);
  // Exactly at the limit is fine.
  const ok = await app.request("/raft/install-snapshot", {
    method: "POST",
    body: body.subarray(0, body.byteLength - 1),
    headers: { ...CBOR, "content-length": String(body.byteLength - 1) },
  });
  assert.equal(ok.status, 200);
  assert.equal(seen.length, 1);
});

test("snapshot stream: the frame may arrive in pieces; a frame over maxBodyBytes gets 413", async () => {
  const got: { request: RaftRequest; bytes: number[] }[] = [];
  const app = raftRoutes({
    async handle(request, data) {
      const bytes: number[] = [];
      const reader = asStream(data).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        bytes.push(...value);
      }
      got.push({ request, bytes });
      return ANSWER;
    },
  }, { maxBodyBytes: 1000 });
  const header = encodeMessage(INSTALL);
  const frame = new Uint8Array(4 + header.byteLength + 3);
  new DataView(frame.buffer).setUint32(0, header.byteLength);
  frame.set(header, 4);
  frame.set([7, 8, 9], 4 + header.byteLength);
  // One byte per chunk: the length and the header are reassembled.
  let at = 0;
  const body = new ReadableStream<Uint8Array<ArrayBuffer>>({
    pull(c) {
      if (at >= frame.byteLength) c.close();
      else c.enqueue(frame.slice(at, ++at));
    },
  });
  const init: RequestInit & { duplex: "half" } = {
    method: "POST",
    headers: CBOR,
    body,
    duplex: "half",
  };
  const res = await app.request("/raft/install-snapshot", init);
  assert.equal(res.status, 200);
  const reply = decodeMessage(new Uint8Array(await res.arrayBuffer())) as RaftResponse;
  assert.deepEqual(reply, ANSWER);
  assert.deepEqual(got, [{ request: INSTALL, bytes: [7, 8, 9] }]);
  // A frame that claims a header longer than maxBodyBytes is refused unread.
  const huge = new Uint8Array([0, 0, 0x10, 0, 1, 2, 3]);
  const tooLarge = await app.request("/raft/install-snapshot", {
    method: "POST",
    headers: CBOR,
    body: huge,
  });
  assert.equal(tooLarge.status, 413);
  assert.equal(got.length, 1);
  // An empty body is a truncated frame.
  const empty = await app.request("/raft/install-snapshot", { method: "POST", headers: CBOR });
  assert.equal(empty.status, 400);
});

test("snapshot stream: a transfer stalled for snapshotIdleTimeout is abandoned and its source cancelled", async () => {
  const release = deferred();
  let seen: { bytes: number; error: unknown } | null = null;
  const app = raftRoutes({
    async handle(_request, data) {
      await release.promise; // never reads until the sender gave up
      seen = await drain(asStream(data));
      return ANSWER;
    },
  });
  const server = await serveLocal(app.fetch);
  try {
    const { state, stream } = lazySource(256 * MiB);
    const net = new HttpNetwork({ snapshotIdleTimeout: 300, snapshotTimeout: 60_000 });
    const err = await net.installSnapshot(2, { addr: server.url }, INSTALL, stream)
      .then(() => assert.fail("expected a rejection"), (e: unknown) => e);
    assert.ok(err instanceof Unreachable && err.nodeId === 2);
    assert.ok(err.cause instanceof Timeout, `cause: ${err.cause}`);
    assert.equal(err.cause.timeoutMs, 300);
    await waitFor("the source to be cancelled", () => state.cancelled);
    assert.ok(state.produced < 256 * MiB);
    release.resolve();
    await waitFor("the node to finish reading", () => seen !== null);
    const s = seen as unknown as { bytes: number; error: unknown };
    assert.ok(s.error !== null, "the node's stream errors: the transfer was cut");
    assert.ok(s.bytes < 256 * MiB);
  } finally {
    release.resolve();
    await server.close();
  }
});

test("snapshot stream: snapshotTimeout bounds the whole transfer, answer included", async () => {
  const release = deferred();
  const app = raftRoutes({
    async handle(_request, data) {
      await drain(asStream(data));
      await release.promise; // read everything, then never answer in time
      return ANSWER;
    },
  });
  const server = await serveLocal(app.fetch);
  try {
    const { state, stream } = lazySource(2 * MiB);
    const net = new HttpNetwork({ snapshotTimeout: 300 });
    const err = await net.installSnapshot(2, { addr: server.url }, INSTALL, stream)
      .then(() => assert.fail("expected a rejection"), (e: unknown) => e);
    assert.ok(err instanceof Unreachable);
    assert.ok(err.cause instanceof Timeout && err.cause.timeoutMs === 300, `cause: ${err.cause}`);
    assert.equal(state.produced, 2 * MiB);
  } finally {
    release.resolve();
    await server.close();
  }
});

test("snapshot stream: a transfer aborted by the sender errors the node's stream", async () => {
  const firstRead = deferred();
  const hold = deferred();
  const ended = deferred<{ bytes: number; error: unknown }>();
  const app = raftRoutes({
    async handle(_request, data) {
      const reader = asStream(data).getReader();
      let bytes = 0;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          bytes += value.byteLength;
          firstRead.resolve();
        }
        ended.resolve({ bytes, error: null });
      } catch (e) {
        ended.resolve({ bytes, error: e });
      }
      return ANSWER;
    },
  });
  const server = await serveLocal(app.fetch);
  try {
    // Chunks after the second wait until released: the abort lands mid-transfer.
    const { state, stream } = lazySource(64 * MiB, async (i) => {
      if (i >= 2) await hold.promise;
    });
    const ctrl = new AbortController();
    const sent = new HttpNetwork().installSnapshot(2, { addr: server.url }, INSTALL, stream, {
      signal: ctrl.signal,
    }).then(() => assert.fail("expected a rejection"), (e: unknown) => e);
    await firstRead.promise;
    const why = new Error("the leader stepped down");
    ctrl.abort(why);
    const err = await sent;
    assert.ok(err instanceof Unreachable && err.cause === why);
    const end = await ended.promise;
    assert.ok(end.error !== null, "the node (its state machine) sees the transfer fail");
    assert.ok(end.bytes < 64 * MiB);
    await waitFor("the source to be cancelled", () => state.cancelled);
  } finally {
    hold.resolve();
    await server.close();
  }
});

test("snapshot stream: a snapshot refused unread is answered, and the sender stops reading it", async () => {
  const app = raftRoutes({
    handle: () => Promise.resolve({ type: "install-snapshot-response", term: 3, lastLogId: null }),
  });
  const server = await serveLocal(app.fetch);
  try {
    const { state, stream } = lazySource(256 * MiB);
    const res = await new HttpNetwork().installSnapshot(2, { addr: server.url }, INSTALL, stream);
    assert.deepEqual(res, { type: "install-snapshot-response", term: 3, lastLogId: null });
    await waitFor("the source to be cancelled", () => state.cancelled);
    assert.ok(state.produced < 256 * MiB);
  } finally {
    await server.close();
  }
});

test("snapshot stream: digestStream checks what was sent against what was received", async () => {
  const a = new StreamDigest();
  a.update(new Uint8Array([1, 2, 3]));
  const d = await digestStream(new Blob([new Uint8Array([1, 2, 3])]).stream());
  assert.deepEqual(d, { bytes: 3, checksum: a.checksum });
  const other = await digestStream(new Blob([new Uint8Array([1, 3, 2])]).stream());
  assert.notEqual(other.checksum, d.checksum);
});
