/**
 * The commands of the replicated key-value state machine
 * ({@linkcode MemoryStateMachine} in `kv_state_machine.ts`): a client encodes
 * a command once with {@linkcode kvSet}, {@linkcode kvCas} or
 * {@linkcode kvDelete}; those bytes are what the leader stores, replicates and
 * the state machine decodes with {@linkcode decodeKvCommand}.
 *
 * @example
 * ```ts
 * import { decodeKvCommand, kvSet } from "./mod.ts";
 * const cmd = decodeKvCommand(kvSet("greeting", "hello"));
 * console.assert(cmd?.op === "set" && cmd.key === "greeting");
 * ```
 *
 * @module
 */

const _SET = 1;
const _DELETE = 2;
const _CAS = 3;
const _encoder = new TextEncoder();
const _decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A decoded {@linkcode MemoryStateMachine} command.
 *
 * @example
 * ```ts
 * import { decodeKvCommand, kvDelete, type KvCommand } from "./mod.ts";
 * const cmd: KvCommand | null = decodeKvCommand(kvDelete("a"));
 * console.assert(cmd?.op === "delete" && cmd.key === "a");
 * ```
 */
export type KvCommand =
  | { readonly op: "set"; readonly key: string; readonly value: Uint8Array }
  | { readonly op: "delete"; readonly key: string }
  | {
    readonly op: "cas";
    readonly key: string;
    readonly expected: Uint8Array | null;
    readonly value: Uint8Array;
  };

function _kvHeader(tag: number, key: string, extra: number): { bytes: Uint8Array; at: number } {
  if (typeof key !== "string") throw new TypeError("kv key must be a string");
  const k = _encoder.encode(key);
  const bytes = new Uint8Array(5 + k.length + extra);
  bytes[0] = tag;
  new DataView(bytes.buffer).setUint32(1, k.length);
  bytes.set(k, 5);
  return { bytes, at: 5 + k.length };
}

/**
 * Encodes a command that sets `key` to `value` (bytes, or a string stored as
 * UTF-8). Layout: `[1, keyLength (u32 BE), key (UTF-8), value...]`.
 *
 * @example
 * ```ts
 * import { kvSet, MemoryStateMachine } from "./mod.ts";
 * const sm = new MemoryStateMachine();
 * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("k", new Uint8Array([1, 2])) }]);
 * console.assert(sm.get("k")?.length === 2);
 * ```
 */
export function kvSet(key: string, value: Uint8Array | string): Uint8Array {
  const v = typeof value === "string" ? _encoder.encode(value) : value;
  if (!(v instanceof Uint8Array)) throw new TypeError("kv value must be bytes or a string");
  const { bytes, at } = _kvHeader(_SET, key, v.length);
  bytes.set(v, at);
  return bytes;
}

/**
 * Encodes a compare-and-set: `key` becomes `value` only if its current value
 * is `expected` (`null`: absent). Applying it returns the value found, so the
 * swap happened exactly when that equals `expected`.
 *
 * @example
 * ```ts
 * import { kvCas, kvSet, MemoryStateMachine } from "./mod.ts";
 * const sm = new MemoryStateMachine();
 * await sm.apply([{ term: 1, index: 1, type: "normal", data: kvSet("k", "a") }]);
 * await sm.apply([{ term: 1, index: 2, type: "normal", data: kvCas("k", "a", "b") }]);
 * console.assert(new TextDecoder().decode(sm.get("k")!) === "b");
 * ```
 */
export function kvCas(
  key: string,
  expected: Uint8Array | string | null,
  value: Uint8Array | string,
): Uint8Array {
  const e = typeof expected === "string" ? _encoder.encode(expected) : expected;
  const v = typeof value === "string" ? _encoder.encode(value) : value;
  if (!(v instanceof Uint8Array) || (e !== null && !(e instanceof Uint8Array))) {
    throw new TypeError("kv values must be bytes or strings");
  }
  const elen = e === null ? 0 : e.length;
  const { bytes, at } = _kvHeader(_CAS, key, 5 + elen + v.length);
  bytes[at] = e === null ? 0 : 1;
  new DataView(bytes.buffer).setUint32(at + 1, elen);
  if (e !== null) bytes.set(e, at + 5);
  bytes.set(v, at + 5 + elen);
  return bytes;
}

/**
 * Encodes a command that deletes `key`. Layout: `[2, keyLength (u32 BE), key (UTF-8)]`.
 *
 * @example
 * ```ts
 * import { kvDelete, kvSet, MemoryStateMachine } from "./mod.ts";
 * const sm = new MemoryStateMachine();
 * const [, previous] = await sm.apply([
 *   { term: 1, index: 1, type: "normal", data: kvSet("k", "v") },
 *   { term: 1, index: 2, type: "normal", data: kvDelete("k") },
 * ]);
 * console.assert(previous instanceof Uint8Array && sm.get("k") === null);
 * ```
 */
export function kvDelete(key: string): Uint8Array {
  return _kvHeader(_DELETE, key, 0).bytes;
}

/**
 * Decodes a command made by {@linkcode kvSet} or {@linkcode kvDelete};
 * `null` if the bytes are not one. A set's `value` is a view into `bytes`.
 *
 * @example
 * ```ts
 * import { decodeKvCommand, kvSet } from "./mod.ts";
 * const cmd = decodeKvCommand(kvSet("a", "1"));
 * console.assert(cmd?.op === "set" && cmd.key === "a" && cmd.value.length === 1);
 * console.assert(decodeKvCommand(new Uint8Array([9])) === null);
 * ```
 */
export function decodeKvCommand(bytes: Uint8Array): KvCommand | null {
  if (!(bytes instanceof Uint8Array) || bytes.length < 5) return null;
  const tag = bytes[0];
  if (tag !== _SET && tag !== _DELETE && tag !== _CAS) return null;
  const keyLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1);
  if (5 + keyLength > bytes.length) return null;
  let key: string;
  try {
    key = _decoder.decode(bytes.subarray(5, 5 + keyLength));
  } catch {
    return null;
  }
  if (tag === _DELETE) return bytes.length === 5 + keyLength ? { op: "delete", key } : null;
  if (tag === _CAS) {
    const at = 5 + keyLength;
    if (bytes.length < at + 5) return null;
    const flag = bytes[at];
    const elen = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(at + 1);
    if ((flag !== 0 && flag !== 1) || (flag === 0 && elen !== 0)) return null;
    if (at + 5 + elen > bytes.length) return null;
    return {
      op: "cas",
      key,
      expected: flag === 0 ? null : bytes.subarray(at + 5, at + 5 + elen),
      value: bytes.subarray(at + 5 + elen),
    };
  }
  return { op: "set", key, value: bytes.subarray(5 + keyLength) };
}
