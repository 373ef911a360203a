/**
 * Typed commands: a {@linkcode CommandCodec} turns an application's
 * command values into the bytes a log entry carries and back. Two are
 * provided: {@linkcode jsonCodec} (readable, JSON values only) and
 * {@linkcode cborCodec} (compact; also `Uint8Array`, `Map`, `Date`,
 * `bigint`, `undefined`). Use one on both sides: `TypedClient` encodes
 * when proposing, {@linkcode typedApply} decodes in the state machine.
 *
 * The bytes path (`raft.clientWrite(bytes)`) stays the fastest; a codec
 * costs one encode per write and one decode per applied entry.
 *
 * @module
 */

import { Encoder } from "cbor-x/encode";
import { InvalidArgument } from "./errors.ts";
import type { Entry } from "./types.ts";

/**
 * Encodes commands of type `C` as bytes and decodes them back. `encode`
 * throws {@linkcode InvalidArgument} for a value it cannot represent;
 * `decode(encode(c))` is equal to `c` for every value `encode` accepts.
 *
 * @example
 * ```ts
 * import type { CommandCodec } from "./command_codec.ts";
 * const utf8: CommandCodec<string> = {
 *   encode: (s) => new TextEncoder().encode(s),
 *   decode: (b) => new TextDecoder().decode(b),
 * };
 * console.assert(utf8.decode(utf8.encode("hi")) === "hi");
 * ```
 */
export interface CommandCodec<C> {
  /** The command's bytes, as a log entry carries them. */
  encode(command: C): Uint8Array;
  /** The command back from its bytes. */
  decode(bytes: Uint8Array): C;
}

/**
 * A codec of JSON values (`JSON.stringify` as UTF-8). `encode` refuses
 * what JSON cannot represent faithfully — `undefined`, functions, symbols,
 * `bigint`, non-finite numbers, cycles — with {@linkcode InvalidArgument}
 * (nothing is proposed); a `Date` becomes its ISO string, as in JSON.
 *
 * @example
 * ```ts
 * import { jsonCodec } from "./command_codec.ts";
 * type Command = { op: "incr"; key: string; by: number };
 * const codec = jsonCodec<Command>();
 * const bytes = codec.encode({ op: "incr", key: "hits", by: 2 });
 * console.assert(codec.decode(bytes).by === 2);
 * ```
 */
export function jsonCodec<C>(): CommandCodec<C> {
  const encoder = new TextEncoder();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  return {
    encode(command: C): Uint8Array {
      let text: string | undefined;
      try {
        text = JSON.stringify(command, _strictJson);
      } catch (e) {
        throw new InvalidArgument("command", `not a JSON value: ${(e as Error).message}`);
      }
      if (text === undefined) {
        throw new InvalidArgument("command", `not a JSON value: ${typeof command}`);
      }
      return encoder.encode(text);
    },
    decode(bytes: Uint8Array): C {
      return JSON.parse(decoder.decode(bytes)) as C;
    },
  };
}

/** JSON.stringify replacer that refuses values JSON would drop or change silently. */
function _strictJson(this: unknown, key: string, value: unknown): unknown {
  switch (typeof value) {
    case "undefined":
    case "function":
    case "symbol":
    case "bigint":
      throw new TypeError(`${_where(key)} is ${typeof value}`);
    case "number":
      if (!Number.isFinite(value)) throw new TypeError(`${_where(key)} is ${value}`);
      return value;
    default:
      return value;
  }
}

function _where(key: string): string {
  return key === "" ? "the command" : `field "${key}"`;
}

/**
 * A CBOR codec (cbor-x): compact, and it keeps `Uint8Array`, `Map`, `Set`,
 * `Date`, `bigint` and `undefined` as they are. `encode` refuses functions
 * and symbols with {@linkcode InvalidArgument}.
 *
 * @example
 * ```ts
 * import { cborCodec } from "./command_codec.ts";
 * type Command = { put: string; value: Uint8Array; at: Date };
 * const codec = cborCodec<Command>();
 * const c = codec.decode(codec.encode({ put: "k", value: new Uint8Array([1, 2]), at: new Date(0) }));
 * console.assert(c.value instanceof Uint8Array && c.at.getTime() === 0);
 * ```
 */
export function cborCodec<C>(): CommandCodec<C> {
  const cbor = new Encoder({
    useRecords: false,
    mapsAsObjects: false,
    structuredClone: false,
    pack: false,
    bundleStrings: false,
    copyBuffers: true,
  });
  return {
    encode(command: C): Uint8Array {
      _checkCbor(command, 0, new Set());
      try {
        return cbor.encode(command);
      } catch (e) {
        throw new InvalidArgument("command", `cannot be encoded as CBOR: ${(e as Error).message}`);
      }
    },
    decode(bytes: Uint8Array): C {
      const value: unknown = cbor.decode(bytes);
      return _objectsFromMaps(value) as C;
    },
  };
}

/** How deep a command may nest (also a guard against cycles). */
const _MAX_DEPTH = 64;

function _checkCbor(value: unknown, depth: number, seen: Set<object>): void {
  if (typeof value === "function" || typeof value === "symbol") {
    throw new InvalidArgument("command", `cannot be encoded as CBOR: a ${typeof value}`);
  }
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return;
  if (depth > _MAX_DEPTH || seen.has(value)) {
    throw new InvalidArgument("command", "cannot be encoded as CBOR: a cycle or too deep");
  }
  seen.add(value);
  const children = value instanceof Map
    ? [...value.keys(), ...value.values()]
    : value instanceof Set
    ? [...value]
    : Array.isArray(value)
    ? value
    : value instanceof Date
    ? []
    : Object.values(value);
  for (const child of children) _checkCbor(child, depth + 1, seen);
  seen.delete(value);
}

/**
 * cbor-x with `mapsAsObjects: false` decodes every CBOR map as a `Map`;
 * maps whose keys are all strings and that were plain objects when encoded
 * cannot be told apart, so string-keyed maps become plain objects (what an
 * application's command types use), other maps stay `Map`s.
 */
function _objectsFromMaps(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(_objectsFromMaps);
  if (value instanceof Map) {
    const keys = [...value.keys()];
    if (keys.every((k) => typeof k === "string")) {
      const object: Record<string, unknown> = {};
      for (const [k, v] of value) {
        Object.defineProperty(object, k as string, {
          value: _objectsFromMaps(v),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return object;
    }
    return new Map([...value].map(([k, v]) => [k, _objectsFromMaps(v)]));
  }
  return value;
}

/**
 * Builds a state machine's `apply` from a function of one typed command:
 * normal entries are decoded with `codec` and passed to `fn` with their
 * entry; blank and membership entries answer `undefined` (a state machine
 * that keeps the membership reads it from the entries, as before). A
 * command that cannot be decoded throws — and, like any `apply` that
 * throws, stops the node: propose only through the same codec
 * (`TypedClient`), and validate a command before proposing it.
 *
 * @example
 * ```ts
 * import { jsonCodec, typedApply } from "./command_codec.ts";
 * import type { Entry } from "./types.ts";
 * type Command = { incr: string };
 * const counts = new Map<string, number>();
 * const codec = jsonCodec<Command>();
 * const apply = typedApply(codec, (c: Command) => {
 *   const n = (counts.get(c.incr) ?? 0) + 1;
 *   counts.set(c.incr, n);
 *   return n;
 * });
 * const entries: Entry[] = [
 *   { type: "blank", term: 1, index: 1 },
 *   { type: "normal", term: 1, index: 2, data: codec.encode({ incr: "a" }) },
 * ];
 * console.assert(apply(entries)[1] === 1);
 * ```
 */
export function typedApply<C, R>(
  codec: CommandCodec<C>,
  fn: (command: C, entry: Entry) => R,
): (entries: readonly Entry[]) => (R | undefined)[] {
  return (entries) => {
    const out: (R | undefined)[] = new Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (entry.type !== "normal") {
        out[i] = undefined;
        continue;
      }
      let command: C;
      try {
        command = codec.decode(entry.data);
      } catch (e) {
        throw new InvalidArgument(
          "command",
          `entry ${entry.term}-${entry.index} cannot be decoded: ${(e as Error).message}`,
        );
      }
      out[i] = fn(command, entry);
    }
    return out;
  };
}
