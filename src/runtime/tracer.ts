/**
 * Span hooks ({@linkcode Tracer}): a node opens a span when an election, a
 * replication request, a snapshot transfer or build, or a membership change
 * starts, and ends it (with attributes, and an error status when it failed)
 * when it is over. Off by default, and then free: the node checks for a
 * tracer before building anything. A tracer that throws never stops the
 * node ({@linkcode startSpan}, {@linkcode endSpan} swallow its errors).
 * docs/tracing.md has an OpenTelemetry adapter.
 *
 * @module
 */

/**
 * What a span is about:
 * - `raft.election`: a campaign, from becoming (pre-)candidate to leader
 *   (ok) or to follower/learner (error status, its `code` the reason);
 * - `raft.replicate`: one append request (heartbeats included) sent to a
 *   peer, to its answer or failure;
 * - `raft.snapshot.build`: the state machine building a snapshot;
 * - `raft.snapshot.send`: a snapshot streamed to a peer, to its answer;
 * - `raft.snapshot.install`: a received snapshot installed into the state machine;
 * - `raft.membership_change`: a membership change proposed by this leader,
 *   to the commit of its final configuration.
 *
 * @example
 * ```ts
 * import type { SpanName } from "./tracer.ts";
 * const name: SpanName = "raft.election";
 * ```
 */
export type SpanName =
  | "raft.election"
  | "raft.replicate"
  | "raft.snapshot.build"
  | "raft.snapshot.send"
  | "raft.snapshot.install"
  | "raft.membership_change";

/**
 * Attributes of a span: flat keys (`raft.term`, `raft.peer`, …) with
 * primitive values, as OpenTelemetry takes them.
 *
 * @example
 * ```ts
 * import type { SpanAttributes } from "./tracer.ts";
 * const a: SpanAttributes = { "raft.term": 3, "raft.peer": 2 };
 * ```
 */
export type SpanAttributes = Readonly<Record<string, string | number | boolean>>;

/**
 * Why a span failed: a message, and a short stable code (an error's `code`,
 * or for an election the reason it was lost).
 *
 * @example
 * ```ts
 * import type { SpanError } from "./tracer.ts";
 * const e: SpanError = { code: "higher-term", message: "election lost: higher-term" };
 * ```
 */
export interface SpanError {
  /** A stable code: a `RaftError`'s `code`, a `RoleReason`, or `Error`. */
  readonly code: string;
  /** What happened, for people. */
  readonly message: string;
}

/**
 * An open span: ended exactly once by the node.
 *
 * @example
 * ```ts
 * import type { Span } from "./tracer.ts";
 * const span: Span = { end(attributes, error) { console.log(attributes, error?.code); } };
 * span.end({ "raft.bytes": 10 });
 * ```
 */
export interface Span {
  /** Ends the span: `attributes` learned at the end, `error` when it failed. */
  end(attributes?: SpanAttributes, error?: SpanError): void;
}

/**
 * The `tracer` option of `Raft.create`: starts spans. Called on the node's
 * own turn: it must not block (hand the data to an exporter).
 *
 * @example
 * ```ts
 * import type { Tracer } from "./tracer.ts";
 * const tracer: Tracer = {
 *   startSpan(name, attributes) {
 *     const start = performance.now();
 *     return {
 *       end(more, error) {
 *         console.log(name, attributes, more, error?.code, performance.now() - start);
 *       },
 *     };
 *   },
 * };
 * ```
 */
export interface Tracer {
  /** Starts a span `name` with the attributes known at its start. */
  startSpan(name: SpanName, attributes: SpanAttributes): Span;
}

/** The span of a tracer that threw: ending it does nothing. */
const NO_SPAN: Span = { end() {} };

/**
 * Starts a span, or returns a span that does nothing when the tracer
 * throws (or returns something that is not a span).
 *
 * @example
 * ```ts
 * import { startSpan } from "./tracer.ts";
 * const span = startSpan({ startSpan() { throw new Error("broken"); } }, "raft.election", {});
 * span.end(); // nothing: the tracer's failure does not reach the node
 * ```
 */
export function startSpan(tracer: Tracer, name: SpanName, attributes: SpanAttributes): Span {
  try {
    const span = tracer.startSpan(name, attributes);
    return typeof span === "object" && span !== null && typeof span.end === "function"
      ? span
      : NO_SPAN;
  } catch {
    return NO_SPAN;
  }
}

/**
 * Ends `span`, swallowing whatever it throws.
 *
 * @example
 * ```ts
 * import { endSpan } from "./tracer.ts";
 * endSpan({ end() { throw new Error("broken"); } }, { "raft.bytes": 1 }); // does not throw
 * ```
 */
export function endSpan(span: Span, attributes?: SpanAttributes, error?: SpanError): void {
  try {
    span.end(attributes, error);
  } catch {
    // A broken tracer must not stop the node.
  }
}

/**
 * A {@linkcode SpanError} for a failure: its `code` when it has one (a
 * `RaftError`), else its class name.
 *
 * @example
 * ```ts
 * import { spanError } from "./tracer.ts";
 * console.assert(spanError(new TypeError("x")).code === "TypeError");
 * ```
 */
export function spanError(e: unknown): SpanError {
  if (e instanceof Error) {
    const code = (e as Error & { code?: unknown }).code;
    return { code: typeof code === "string" ? code : e.name, message: e.message };
  }
  return { code: "Error", message: String(e) };
}
