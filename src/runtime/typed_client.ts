/**
 * {@linkcode TypedClient}: writes typed commands through a node, encoding
 * them with a {@linkcode CommandCodec} — `write(command: C)` resolves with
 * the state machine's `R`. Pair it with `typedApply` (same codec) in the
 * state machine.
 *
 * @module
 */

import type { CommandCodec } from "../command_codec.ts";
import { InvalidArgument } from "../errors.ts";
import type { ClientWriteResult } from "./client_writes.ts";
import type { Raft, WriteOptions, WriteOutcome } from "./raft.ts";

/**
 * The part of a {@linkcode Raft} node a {@linkcode TypedClient} writes through
 * (a test can pass a stand-in).
 *
 * @example
 * ```ts
 * import type { TypedClientNode } from "./typed_client.ts";
 * const refusing: TypedClientNode<string> = {
 *   clientWrite: () => Promise.reject(new Error("not the leader")),
 *   clientWriteEach: () => Promise.reject(new Error("not the leader")),
 *   clientWriteFF: () => {},
 * };
 * ```
 */
export type TypedClientNode<R> = Pick<
  Raft<R>,
  "clientWrite" | "clientWriteEach" | "clientWriteFF"
>;

/**
 * Typed writes through a node. A command the codec cannot encode is refused
 * with {@linkcode InvalidArgument} before anything is proposed; every
 * other failure is the node's, exactly as for `clientWrite`.
 *
 * @example
 * ```ts
 * import { Raft } from "./raft.ts";
 * import { TypedClient } from "./typed_client.ts";
 * import { jsonCodec, typedApply } from "../command_codec.ts";
 * import { MemoryLogStore } from "../../adapters/memory.ts";
 * import { MemoryNetwork } from "../../testing/memory_network.ts";
 * import { EMPTY_MEMBERSHIP, type Entry, type LogId, type StoredMembership } from "../types.ts";
 *
 * type Command = { incr: string; by: number };
 * const codec = jsonCodec<Command>();
 * const counts = new Map<string, number>();
 * let applied: LogId | null = null;
 * let membership: StoredMembership = { logId: null, membership: EMPTY_MEMBERSHIP };
 * const apply = typedApply(codec, (c: Command) => {
 *   const n = (counts.get(c.incr) ?? 0) + c.by;
 *   counts.set(c.incr, n);
 *   return n;
 * });
 * const raft = await Raft.create<number>({
 *   id: 1,
 *   logStore: new MemoryLogStore(),
 *   network: new MemoryNetwork().client(1),
 *   stateMachine: {
 *     appliedState: () => Promise.resolve({ lastApplied: applied, membership }),
 *     apply(entries: readonly Entry[]) {
 *       for (const e of entries) {
 *         if (e.type === "membership") membership = { logId: e, membership: e.membership };
 *       }
 *       applied = entries.at(-1) ?? applied;
 *       return apply(entries);
 *     },
 *     buildSnapshot: () => Promise.reject(new Error("no snapshots in this example")),
 *     installSnapshot: () => Promise.reject(new Error("no snapshots in this example")),
 *     currentSnapshot: () => Promise.resolve(null),
 *   },
 *   config: { snapshotPolicy: { kind: "never" } },
 * });
 * await raft.initialize([1]);
 * await raft.metrics.wait({ timeout: 5000 }).role("leader");
 * const client = new TypedClient(raft, codec);
 * const { response } = await client.write({ incr: "hits", by: 2 });
 * console.assert(response === 2);
 * await raft.shutdown();
 * ```
 */
export class TypedClient<C, R> {
  readonly #node: TypedClientNode<R>;
  readonly #codec: CommandCodec<C>;

  /**
   * A client writing through `node` with `codec`.
   *
   * @param node the node (a `Raft`) to write through
   * @param codec encodes each command; the state machine decodes with the same
   */
  constructor(node: TypedClientNode<R>, codec: CommandCodec<C>) {
    this.#node = node;
    this.#codec = codec;
  }

  /**
   * Writes `command`; resolves with its log id and the state machine's
   * response. Rejects like `Raft.clientWrite`, or with
   * {@linkcode InvalidArgument} when the codec refuses the command.
   */
  write(command: C, options?: WriteOptions): Promise<ClientWriteResult<R>> {
    let bytes: Uint8Array;
    try {
      bytes = this.#encode(command);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.#node.clientWrite(bytes, options);
  }

  /**
   * Writes several commands as one batch; resolves with each one's outcome,
   * in order, never rejects (like `Raft.clientWriteEach`). A command the
   * codec refuses fails alone, with {@linkcode InvalidArgument}.
   */
  async writeEach(commands: readonly C[], options?: WriteOptions): Promise<WriteOutcome<R>[]> {
    const encoded: (Uint8Array | InvalidArgument)[] = commands.map((c) => {
      try {
        return this.#encode(c);
      } catch (e) {
        return e instanceof InvalidArgument ? e : new InvalidArgument("command", String(e));
      }
    });
    const good = encoded.filter((x): x is Uint8Array => x instanceof Uint8Array);
    const written = await this.#node.clientWriteEach(good, options);
    let next = 0;
    return encoded.map((x): WriteOutcome<R> =>
      x instanceof Uint8Array ? written[next++]! : { ok: false, error: x }
    );
  }

  /**
   * Fire-and-forget (like `Raft.clientWriteFF`): proposes `command` without
   * a promise; `callback`, when given, hears the outcome once — also a
   * command the codec refuses, in a later microtask.
   */
  writeFF(command: C, callback?: (outcome: WriteOutcome<R>) => void): void {
    let bytes: Uint8Array;
    try {
      bytes = this.#encode(command);
    } catch (e) {
      const error = e instanceof InvalidArgument ? e : new InvalidArgument("command", String(e));
      if (callback !== undefined) queueMicrotask(() => callback({ ok: false, error }));
      return;
    }
    this.#node.clientWriteFF(bytes, callback);
  }

  #encode(command: C): Uint8Array {
    let bytes: unknown;
    try {
      bytes = this.#codec.encode(command);
    } catch (e) {
      if (e instanceof InvalidArgument) throw e;
      throw new InvalidArgument("command", `the codec refused it: ${String(e)}`);
    }
    if (!(bytes instanceof Uint8Array)) {
      throw new InvalidArgument("command", "the codec's encode did not return a Uint8Array");
    }
    return bytes;
  }
}
