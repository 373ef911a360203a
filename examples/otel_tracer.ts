/**
 * An OpenTelemetry adapter for the `tracer` option of `Raft.create`
 * (docs/tracing.md shows this file). `@opentelemetry/api` is not a
 * dependency: {@linkcode OtelTracer} is the part of its `Tracer` the
 * adapter uses, so that `trace.getTracer("@x/raft")` fits it as is: pass
 * `tracer: otelTracer(trace.getTracer("@x/raft"))` to `Raft.create`, with
 * `trace` from `npm:@opentelemetry/api`.
 *
 * @module
 */

import type { Span, SpanAttributes, SpanError, SpanName, Tracer } from "../mod.ts";

/**
 * The part of `@opentelemetry/api`'s `Tracer` the adapter calls.
 *
 * @example
 * ```ts
 * import type { OtelTracer } from "./otel_tracer.ts";
 * const noop: OtelTracer = {
 *   startSpan: () => ({ setAttributes() {}, setStatus() {}, end() {} }),
 * };
 * ```
 */
export interface OtelTracer {
  /** Starts a span (`SpanOptions.attributes`). */
  startSpan(name: string, options?: { attributes?: SpanAttributes }): OtelSpan;
}

/**
 * The part of `@opentelemetry/api`'s `Span` the adapter calls.
 *
 * @example
 * ```ts
 * import type { OtelSpan } from "./otel_tracer.ts";
 * const span: OtelSpan = { setAttributes() {}, setStatus() {}, end() {} };
 * ```
 */
export interface OtelSpan {
  /** Adds attributes. */
  setAttributes(attributes: SpanAttributes): unknown;
  /** Sets the status: `{ code: SpanStatusCode.ERROR (2), message }` for a failure. */
  setStatus(status: { code: number; message?: string }): unknown;
  /** Ends the span. */
  end(): void;
}

/** `SpanStatusCode.ERROR` of `@opentelemetry/api`. */
const STATUS_ERROR = 2;

/**
 * A `Tracer` for `Raft.create` that opens an OpenTelemetry span for each of
 * the node's spans: the start attributes at once, the end attributes at the
 * end, and a failure as `error.type` plus an ERROR status.
 *
 * @example
 * ```ts
 * import { otelTracer } from "./otel_tracer.ts";
 * const ended: string[] = [];
 * const tracer = otelTracer({
 *   startSpan: (name) => ({ setAttributes() {}, setStatus() {}, end: () => void ended.push(name) }),
 * });
 * tracer.startSpan("raft.election", { "raft.term": 3 }).end({ "raft.outcome": "won" });
 * console.assert(ended[0] === "raft.election");
 * ```
 */
export function otelTracer(otel: OtelTracer): Tracer {
  return {
    startSpan(name: SpanName, attributes: SpanAttributes): Span {
      const span = otel.startSpan(name, { attributes });
      return {
        end(more?: SpanAttributes, error?: SpanError): void {
          if (more !== undefined) span.setAttributes(more);
          if (error !== undefined) {
            span.setAttributes({ "error.type": error.code });
            span.setStatus({ code: STATUS_ERROR, message: error.message });
          }
          span.end();
        },
      };
    },
  };
}
