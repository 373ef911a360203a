// The OpenTelemetry adapter of docs/tracing.md: the page shows examples/otel_tracer.ts as it is, and
// the adapter turns a node's spans into OpenTelemetry-shaped calls (a fake OTel tracer records them).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type OtelSpan, otelTracer } from "../../examples/otel_tracer.ts";
import { FAST, RuntimeCluster } from "../runtime/_cluster.ts";
import type { SpanAttributes } from "../../src/runtime/tracer.ts";

const root = new URL("../../", import.meta.url);

test("docs/tracing.md: the OpenTelemetry snippet is examples/otel_tracer.ts", () => {
  const doc = readFileSync(new URL("docs/tracing.md", root), "utf8");
  const section = doc.slice(doc.indexOf("### OpenTelemetry"));
  // deno fmt fences it with four backticks: it holds JSDoc examples fenced with three.
  const block = /(`{3,})ts\n([\s\S]*?)\n\1\n/.exec(section)?.[2];
  assert.ok(block !== undefined, "the section has a ts block");
  const file = readFileSync(new URL("examples/otel_tracer.ts", root), "utf8");
  const code = file.slice(file.indexOf("import type"));
  assert.equal(block.replace('"jsr:@x/raft"', '"../mod.ts"'), code.trimEnd());
});

interface OtelRecord {
  name: string;
  attributes: Record<string, unknown>;
  status: { code: number; message?: string } | null;
  ended: boolean;
}

test("examples/otel_tracer: a node's spans become OpenTelemetry spans, failures with an ERROR status", async () => {
  const recorded: OtelRecord[] = [];
  const c = new RuntimeCluster(FAST);
  c.tracerFor = () =>
    otelTracer({
      startSpan(name: string, options?: { attributes?: SpanAttributes }): OtelSpan {
        const r: OtelRecord = {
          name,
          attributes: { ...options?.attributes },
          status: null,
          ended: false,
        };
        recorded.push(r);
        return {
          setAttributes: (a) => Object.assign(r.attributes, a),
          setStatus: (s) => r.status = s,
          end: () => r.ended = true,
        };
      },
    });
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const peer = [1, 2, 3].find((x) => x !== leader)!;
    c.net.cut(leader, peer);
    await c.node(leader).trigger.heartbeat();
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    await c.shutdown();
  }
  assert.ok(recorded.every((r) => r.ended), "every span ended");
  const won = recorded.find((r) =>
    r.name === "raft.election" && r.attributes["raft.outcome"] === "won"
  );
  assert.ok(won && won.status === null && typeof won.attributes["raft.term"] === "number");
  const failed = recorded.find((r) => r.name === "raft.replicate" && r.status !== null)!;
  assert.equal(failed.status!.code, 2);
  assert.equal(typeof failed.attributes["error.type"], "string");
  assert.equal(typeof failed.attributes["raft.peer"], "number");
});
