/**
 * A state machine whose snapshots are large, to test and measure snapshot
 * transfer: {@linkcode LargeSnapshotStateMachine} counts the entries it
 * applies (a tiny state), but its snapshot carries a payload of any size
 * (100 MiB by default) generated on the fly from a seed, a chunk at a time,
 * and never held whole — neither when sent nor when installed. Installing
 * reads the stream chunk by chunk, checking it with a running checksum.
 * {@linkcode StreamDigest} and {@linkcode digestStream} compute that
 * checksum over any byte stream, so a test can compare what was sent with
 * what was installed.
 *
 * @example
 * ```ts
 * import { digestStream, LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
 * const a = new LargeSnapshotStateMachine({ snapshotBytes: 1 << 20, chunkBytes: 1 << 16 });
 * await a.apply([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
 * const snap = await a.buildSnapshot();
 * const b = new LargeSnapshotStateMachine({ snapshotBytes: 1 << 20 });
 * await b.installSnapshot(snap.meta, snap.open());
 * console.assert(b.count === 1);
 * console.assert(b.installed?.checksum === (await digestStream(snap.open())).checksum);
 * ```
 *
 * @module
 */

import type { AppliedState, Snapshot, StateMachine } from "../src/storage.ts";
import { checkApplyOrder } from "../src/storage.ts";
import {
  EMPTY_MEMBERSHIP,
  type Entry,
  type LogId,
  type SnapshotMeta,
  type StoredMembership,
} from "../src/types.ts";

const _MAGIC = 0x524c5331; // "RLS1"
const _HEADER = 24;
const _TRAILER = 4;
const _LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * What a byte stream digests to: its length and a 32-bit checksum.
 *
 * @example
 * ```ts
 * import type { Digest } from "./large_snapshot_state_machine.ts";
 * const d: Digest = { bytes: 3, checksum: 0x1234 };
 * ```
 */
export interface Digest {
  /** How many bytes. */
  readonly bytes: number;
  /** A 32-bit checksum of the bytes, in order (not of how they were chunked). */
  readonly checksum: number;
}

/**
 * A running checksum of a byte sequence, fed a chunk at a time: the result
 * depends only on the bytes and their order, not on the chunk boundaries.
 * Fast (words at a time), not cryptographic: it catches lost, extra,
 * reordered or corrupted bytes, as a test needs.
 *
 * @example
 * ```ts
 * import { StreamDigest } from "./large_snapshot_state_machine.ts";
 * const a = new StreamDigest();
 * a.update(new Uint8Array([1, 2, 3, 4, 5]));
 * const b = new StreamDigest();
 * b.update(new Uint8Array([1, 2]));
 * b.update(new Uint8Array([3, 4, 5]));
 * console.assert(a.checksum === b.checksum && a.bytes === 5);
 * ```
 */
export class StreamDigest implements Digest {
  #h = 0x811c9dc5;
  #bytes = 0;
  #carry = 0;
  #carried = 0;

  /** How many bytes were fed. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The checksum of the bytes fed so far (feeding may go on). */
  get checksum(): number {
    let h = this.#h;
    if (this.#carried > 0) h = _mix(h, this.#carry);
    h = _mix(h, this.#bytes >>> 0);
    h = _mix(h, Math.floor(this.#bytes / 0x1_0000_0000));
    return h >>> 0;
  }

  /** Feeds the next bytes. */
  update(chunk: Uint8Array): void {
    const n = chunk.byteLength;
    this.#bytes += n;
    let h = this.#h;
    let i = 0;
    while (this.#carried > 0 && i < n) {
      this.#carry |= chunk[i++]! << (8 * this.#carried);
      if (++this.#carried === 4) {
        h = _mix(h, this.#carry);
        this.#carry = 0;
        this.#carried = 0;
      }
    }
    const at = chunk.byteOffset + i;
    const words = (n - i) >>> 2;
    if (_LITTLE_ENDIAN && words > 0 && (at & 3) === 0) {
      const w = new Uint32Array(chunk.buffer, at, words);
      for (let j = 0; j < words; j++) h = _mix(h, w[j]!);
      i += words * 4;
    } else {
      for (; i + 4 <= n; i += 4) {
        h = _mix(
          h,
          chunk[i]! | (chunk[i + 1]! << 8) | (chunk[i + 2]! << 16) | (chunk[i + 3]! << 24),
        );
      }
    }
    for (; i < n; i++) {
      this.#carry |= chunk[i]! << (8 * this.#carried);
      this.#carried++;
    }
    this.#h = h;
  }
}

function _mix(h: number, word: number): number {
  h = Math.imul(h ^ word, 0x01000193);
  return h ^ (h >>> 15);
}

/**
 * Reads a byte stream to its end, a chunk at a time, and returns its
 * {@linkcode Digest} (without holding the bytes).
 *
 * @example
 * ```ts
 * import { digestStream } from "./large_snapshot_state_machine.ts";
 * const d = await digestStream(new Blob([new Uint8Array(10)]).stream());
 * console.assert(d.bytes === 10);
 * ```
 */
export async function digestStream(stream: ReadableStream<Uint8Array>): Promise<Digest> {
  const digest = new StreamDigest();
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    digest.update(value);
  }
  return { bytes: digest.bytes, checksum: digest.checksum };
}

/**
 * Options of a {@linkcode LargeSnapshotStateMachine}.
 *
 * @example
 * ```ts
 * import type { LargeSnapshotOptions } from "./large_snapshot_state_machine.ts";
 * const options: LargeSnapshotOptions = { snapshotBytes: 100 * 1024 * 1024, chunkBytes: 1 << 20 };
 * ```
 */
export interface LargeSnapshotOptions {
  /** Size of the generated payload of each snapshot built, in bytes. Default 100 MiB. */
  readonly snapshotBytes?: number;
  /** Size of the chunks snapshots are streamed in. Default 1 MiB. */
  readonly chunkBytes?: number;
  /** Seed of the payloads (mixed with each snapshot's state). Default 1. */
  readonly seed?: number;
}

/**
 * The last snapshot a {@linkcode LargeSnapshotStateMachine} installed: its
 * id, and the digest of every byte read from the stream.
 *
 * @example
 * ```ts
 * import type { InstalledSnapshot } from "./large_snapshot_state_machine.ts";
 * const s: InstalledSnapshot = { snapshotId: "1-5-1", bytes: 28, checksum: 7, largestChunk: 28 };
 * ```
 */
export interface InstalledSnapshot extends Digest {
  /** The snapshot's id. */
  readonly snapshotId: string;
  /** The largest chunk the stream delivered, in bytes. */
  readonly largestChunk: number;
}

interface _SnapState {
  readonly meta: SnapshotMeta;
  readonly count: number;
  readonly payloadSeed: number;
  readonly payloadBytes: number;
}

/**
 * A state machine that counts the normal entries it applies (each returns
 * the count including itself; blank and membership entries return
 * `undefined`, a membership entry becomes the applied membership) and whose
 * snapshots are large.
 *
 * A snapshot is a 24-byte header (magic, payload seed, count, payload
 * length), a payload of `snapshotBytes` pseudo-random bytes generated from
 * the seed and the snapshot's state as the stream is read, and a 4-byte
 * trailer: the checksum of everything before it. `installSnapshot` reads
 * the stream a chunk at a time and rejects, changing nothing, if the bytes
 * do not add up (wrong magic, length or checksum, or a stream that errors).
 * The installed snapshot can be streamed again (it is regenerated from its
 * header), so a node that installed one can send it on.
 *
 * Entries must be applied in order, exactly once: a batch that does not
 * continue from the last applied entry rejects, applying nothing.
 *
 * @example
 * ```ts
 * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
 * const sm = new LargeSnapshotStateMachine({ snapshotBytes: 4096, chunkBytes: 1024 });
 * const [n] = await sm.apply([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
 * console.assert(n === 1 && sm.count === 1);
 * ```
 */
export class LargeSnapshotStateMachine implements StateMachine<number> {
  readonly #snapshotBytes: number;
  readonly #chunkBytes: number;
  readonly #seed: number;
  #count = 0;
  #lastApplied: LogId | null = null;
  #membership: StoredMembership = { logId: null, membership: EMPTY_MEMBERSHIP };
  #snapshot: _SnapState | null = null;
  #installed: InstalledSnapshot | null = null;
  #installs = 0;
  #counter = 0;

  /**
   * Creates a {@linkcode LargeSnapshotStateMachine}.
   *
   * @param options payload size, chunk size, seed
   */
  constructor(options?: LargeSnapshotOptions);
  constructor(options: LargeSnapshotOptions = {}) {
    const size = options.snapshotBytes ?? 100 * 1024 * 1024;
    if (!Number.isSafeInteger(size) || size < 0) {
      throw new RangeError(`snapshotBytes must be a non-negative integer, got ${size}`);
    }
    const chunk = options.chunkBytes ?? 1024 * 1024;
    if (!Number.isSafeInteger(chunk) || chunk <= 0) {
      throw new RangeError(`chunkBytes must be a positive integer, got ${chunk}`);
    }
    this.#snapshotBytes = size;
    this.#chunkBytes = chunk;
    this.#seed = (options.seed ?? 1) >>> 0;
  }

  /**
   * How many normal entries the state counts (those covered by an installed
   * snapshot included).
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * console.assert(new LargeSnapshotStateMachine().count === 0);
   * ```
   */
  get count(): number {
    return this.#count;
  }

  /**
   * The last applied log id (by `apply` or an installed snapshot), or `null`.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * console.assert(new LargeSnapshotStateMachine().lastApplied === null);
   * ```
   */
  get lastApplied(): LogId | null {
    const l = this.#lastApplied;
    return l === null ? null : { term: l.term, index: l.index };
  }

  /**
   * The last snapshot installed, with the digest of the bytes read, or `null`.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * console.assert(new LargeSnapshotStateMachine().installed === null);
   * ```
   */
  get installed(): InstalledSnapshot | null {
    return this.#installed;
  }

  /**
   * How many snapshots were installed successfully.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * console.assert(new LargeSnapshotStateMachine().installs === 0);
   * ```
   */
  get installs(): number {
    return this.#installs;
  }

  /**
   * The size in bytes of the stream of a snapshot this state machine builds:
   * header, payload and trailer.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * console.assert(new LargeSnapshotStateMachine({ snapshotBytes: 100 }).streamBytes === 128);
   * ```
   */
  get streamBytes(): number {
    return _HEADER + this.#snapshotBytes + _TRAILER;
  }

  /**
   * The last applied log id and the membership in effect.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * const s = await new LargeSnapshotStateMachine().appliedState();
   * console.assert(s.lastApplied === null);
   * ```
   */
  appliedState(): Promise<AppliedState> {
    return Promise.resolve({ lastApplied: this.lastApplied, membership: this.#membership });
  }

  /**
   * Counts the normal entries; rejects, applying none, unless the entries
   * continue from the last applied one.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * const sm = new LargeSnapshotStateMachine();
   * const out = await sm.apply([
   *   { term: 1, index: 1, type: "blank" },
   *   { term: 1, index: 2, type: "normal", data: new Uint8Array() },
   * ]);
   * console.assert(out[0] === undefined && out[1] === 1);
   * ```
   */
  apply(entries: readonly Entry[]): Promise<(number | undefined)[]> {
    try {
      checkApplyOrder("LargeSnapshotStateMachine", this.#lastApplied, entries);
    } catch (e) {
      return Promise.reject(e);
    }
    const out: (number | undefined)[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.type === "normal") out[i] = ++this.#count;
      else {
        if (e.type === "membership") {
          this.#membership = { logId: { term: e.term, index: e.index }, membership: e.membership };
        }
        out[i] = undefined;
      }
      this.#lastApplied = { term: e.term, index: e.index };
    }
    return Promise.resolve(out);
  }

  /**
   * Captures the applied state as the current snapshot. Nothing is
   * generated until the snapshot is read.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * const sm = new LargeSnapshotStateMachine({ snapshotBytes: 10 });
   * const snap = await sm.buildSnapshot();
   * console.assert(snap.meta.lastLogId === null);
   * ```
   */
  buildSnapshot(): Promise<Snapshot> {
    const last = this.lastApplied;
    const meta: SnapshotMeta = {
      lastLogId: last,
      lastMembership: this.#membership,
      snapshotId: `${last?.term ?? 0}-${last?.index ?? 0}-${++this.#counter}`,
    };
    let seed = _mix(this.#seed, this.#count >>> 0);
    seed = _mix(seed, last?.index ?? 0);
    seed = _mix(seed, last?.term ?? 0) || 1; // xorshift needs a non-zero state
    const state: _SnapState = {
      meta,
      count: this.#count,
      payloadSeed: seed >>> 0,
      payloadBytes: this.#snapshotBytes,
    };
    this.#snapshot = state;
    return Promise.resolve(this.#snapshotOf(state));
  }

  /**
   * Reads a snapshot's stream chunk by chunk, checking it, and takes its
   * state; rejects, changing nothing, if the bytes do not add up.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * const target = new LargeSnapshotStateMachine();
   * const err = await target.installSnapshot(
   *   (await new LargeSnapshotStateMachine({ snapshotBytes: 8 }).buildSnapshot()).meta,
   *   new Blob([new Uint8Array(5)]).stream(),
   * ).catch((e) => e);
   * console.assert(err instanceof Error && target.installs === 0);
   * ```
   */
  async installSnapshot(meta: SnapshotMeta, data: ReadableStream<Uint8Array>): Promise<void> {
    const digest = new StreamDigest();
    const header = new Uint8Array(_HEADER);
    const trailer = new Uint8Array(_TRAILER);
    let pos = 0;
    let bodyEnd = -1;
    let bodySum = 0;
    let largest = 0;
    let count = 0;
    let payloadSeed = 0;
    let payloadBytes = 0;
    const fail = (why: string): never => {
      throw new Error(`LargeSnapshotStateMachine.installSnapshot ${meta.snapshotId}: ${why}`);
    };
    const reader = data.getReader();
    try {
      for (;;) {
        const { done, value: chunk } = await reader.read();
        if (done) break;
        const n = chunk.byteLength;
        if (n > largest) largest = n;
        if (pos < _HEADER) {
          const k = Math.min(_HEADER - pos, n);
          header.set(chunk.subarray(0, k), pos);
          if (pos + k === _HEADER) {
            const v = new DataView(header.buffer);
            if (v.getUint32(0) !== _MAGIC) fail("not a LargeSnapshotStateMachine snapshot");
            payloadSeed = v.getUint32(4);
            count = v.getFloat64(8);
            payloadBytes = v.getFloat64(16);
            if (!Number.isSafeInteger(count) || !Number.isSafeInteger(payloadBytes)) {
              fail("bad header");
            }
            bodyEnd = _HEADER + payloadBytes;
          }
        }
        if (bodyEnd >= 0 && pos <= bodyEnd && bodyEnd <= pos + n) {
          const k = bodyEnd - pos;
          digest.update(chunk.subarray(0, k));
          bodySum = digest.checksum;
          digest.update(chunk.subarray(k));
        } else {
          digest.update(chunk);
        }
        if (bodyEnd >= 0 && pos + n > bodyEnd) {
          const from = Math.max(pos, bodyEnd);
          if (pos + n - bodyEnd > _TRAILER) fail("more bytes than the header says");
          trailer.set(chunk.subarray(from - pos), from - bodyEnd);
        }
        pos += n;
      }
    } catch (e) {
      void reader.cancel(e).catch(() => {});
      throw e;
    }
    if (bodyEnd < 0 || pos !== bodyEnd + _TRAILER) {
      fail(`truncated: ${pos} bytes`);
    }
    if (new DataView(trailer.buffer).getUint32(0) !== bodySum) fail("checksum mismatch");
    this.#count = count;
    this.#lastApplied = meta.lastLogId === null
      ? null
      : { term: meta.lastLogId.term, index: meta.lastLogId.index };
    this.#membership = meta.lastMembership;
    this.#snapshot = { meta, count, payloadSeed, payloadBytes };
    this.#installed = {
      snapshotId: meta.snapshotId,
      bytes: digest.bytes,
      checksum: digest.checksum,
      largestChunk: largest,
    };
    this.#installs++;
  }

  /**
   * The snapshot last built or installed, or `null`.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * console.assert(await new LargeSnapshotStateMachine().currentSnapshot() === null);
   * ```
   */
  currentSnapshot(): Promise<Snapshot | null> {
    const s = this.#snapshot;
    return Promise.resolve(s === null ? null : this.#snapshotOf(s));
  }

  /**
   * Simulates a restart where snapshots are durable and the live state is
   * not: a new state machine (same options) holding the current snapshot's
   * state, or an empty one.
   *
   * @example
   * ```ts
   * import { LargeSnapshotStateMachine } from "./large_snapshot_state_machine.ts";
   * const sm = new LargeSnapshotStateMachine({ snapshotBytes: 16 });
   * await sm.apply([{ term: 1, index: 1, type: "normal", data: new Uint8Array() }]);
   * await sm.buildSnapshot();
   * await sm.apply([{ term: 1, index: 2, type: "normal", data: new Uint8Array() }]);
   * const restarted = sm.restart();
   * console.assert(restarted.count === 1 && restarted.lastApplied?.index === 1);
   * ```
   */
  restart(): LargeSnapshotStateMachine {
    const next = new LargeSnapshotStateMachine({
      snapshotBytes: this.#snapshotBytes,
      chunkBytes: this.#chunkBytes,
      seed: this.#seed,
    });
    next.#counter = this.#counter;
    const s = this.#snapshot;
    if (s !== null) {
      next.#snapshot = s;
      next.#count = s.count;
      next.#lastApplied = s.meta.lastLogId;
      next.#membership = s.meta.lastMembership;
    }
    return next;
  }

  #snapshotOf(s: _SnapState): Snapshot {
    const chunkBytes = this.#chunkBytes;
    return { meta: s.meta, open: () => _generate(s, chunkBytes) };
  }
}

/** Streams a snapshot: header, generated payload, trailer; pulled a chunk at a time. */
function _generate(s: _SnapState, chunkBytes: number): ReadableStream<Uint8Array> {
  const digest = new StreamDigest();
  let x = s.payloadSeed;
  let left = s.payloadBytes;
  let stage: "header" | "payload" | "trailer" | "done" = "header";
  return new ReadableStream<Uint8Array>({
    pull(controller): void {
      if (stage === "header") {
        const header = new Uint8Array(_HEADER);
        const v = new DataView(header.buffer);
        v.setUint32(0, _MAGIC);
        v.setUint32(4, s.payloadSeed);
        v.setFloat64(8, s.count);
        v.setFloat64(16, s.payloadBytes);
        digest.update(header);
        controller.enqueue(header);
        stage = left > 0 ? "payload" : "trailer";
        return;
      }
      if (stage === "payload") {
        const n = Math.min(chunkBytes, left);
        const words = new Uint32Array((n + 3) >>> 2);
        for (let i = 0; i < words.length; i++) {
          x ^= x << 13;
          x ^= x >>> 17;
          x ^= x << 5;
          words[i] = x;
        }
        const chunk = new Uint8Array(words.buffer, 0, n);
        digest.update(chunk);
        controller.enqueue(chunk);
        left -= n;
        if (left === 0) stage = "trailer";
        return;
      }
      if (stage === "trailer") {
        const trailer = new Uint8Array(_TRAILER);
        new DataView(trailer.buffer).setUint32(0, digest.checksum);
        controller.enqueue(trailer);
        stage = "done";
        return;
      }
      controller.close();
    },
  }, { highWaterMark: 0 });
}
