// examples/kv.ts as its users run it: a process of the runtime under test
// (`deno run -A examples/kv.ts` under deno test, `bun run examples/kv.ts`
// under bun test). The node pieces it composes are tested in tests/node/,
// the KV routes in tests/kv/.
import { test } from "node:test";
import assert from "node:assert/strict";
import { stat } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { NODE_HELP } from "../../node/mod.ts";
import type { NodeMetrics } from "../../node/mod.ts";
import { http, run, tempDir, urlOf, within } from "../node/_process.ts";

/** Whether 127.0.0.1:`port` is free (the quick start's fixed port). */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

test("kv.ts: --help describes the example and the quick start, then every flag; exit 0", {
  timeout: 20_000,
}, async () => {
  const child = run(["--help"]);
  try {
    assert.equal(await within(child.exited, 15_000, "--help"), 0);
    const out = child.stdout();
    assert.match(out, /^usage: kv\.ts/);
    assert.match(out, /With no flags and no RAFT_\* environment variable: the quick-start demo/);
    assert.ok(out.trimEnd().endsWith(NODE_HELP), "then the node's flags");
    assert.equal(child.stderr(), "");
  } finally {
    child.kill("SIGKILL");
  }
});

test(
  "kv.ts: with no flags, the quick-start demo: node 1, --init, 127.0.0.1:21001, ./data/node-1; SIGINT exits 0",
  {
    timeout: 30_000,
  },
  async (t) => {
    if (!(await portFree(21001))) {
      t.skip("127.0.0.1:21001 is in use (a running demo node?): cannot run the quick start");
      return;
    }
    const cwd = await tempDir("raft-kv-demo-");
    const child = run([], { cwd: cwd.path });
    try {
      const line = await child.line(/listening on/);
      assert.equal(line, "@x/raft node 1 listening on http://127.0.0.1:21001 (leader)");
      const url = urlOf(line);
      const put = await http(`${url}/kv/greeting`, { method: "PUT", body: "hello" });
      assert.equal(put.status, 200, put.text);
      assert.equal(typeof (put.json as { index: number }).index, "number");
      assert.equal((await http(`${url}/kv/greeting`)).text, "hello");
      const cas = await http(`${url}/kv/greeting/cas`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ expected: "hello", value: "hi" }),
      });
      assert.deepEqual(cas.json, { ok: true, value: "hi" });
      const m = (await http(`${url}/metrics.json`)).json as NodeMetrics;
      assert.deepEqual(Object.keys(m).sort(), [
        "applied",
        "committed",
        "id",
        "lastLogIndex",
        "leader",
        "leaderAddr",
        "membership",
        "role",
        "term",
      ]);
      assert.deepEqual(m.membership.nodes, { "1": url });
      assert.ok((await stat(join(cwd.path, "data", "node-1"))).isDirectory(), "durable by default");
      child.kill("SIGINT");
      assert.equal(await within(child.exited, 10_000, "SIGINT"), 0);
      // stderr: the node's log (--log-level info by default), one JSON record per line, no
      // warning or error.
      const records = child.stderr().split("\n").filter((l) => l !== "").map((l) =>
        JSON.parse(l) as { level: string; msg: string; id: number; role?: string }
      );
      assert.ok(records.every((r) => r.level === "info"), child.stderr());
      assert.ok(
        records.some((r) => r.msg === "role changed" && r.role === "leader" && r.id === 1),
        child.stderr(),
      );
    } finally {
      child.kill("SIGKILL");
      await cwd.remove();
    }
  },
);

test(
  "kv.ts: --client-token guards the KV API; the probes, /metrics and the dashboard stay open",
  {
    timeout: 20_000,
  },
  async () => {
    const child = run(["--init", "--storage", "memory", "--addr", "127.0.0.1:0"], {
      env: { RAFT_CLIENT_TOKEN: "t0ken" },
    });
    try {
      const url = urlOf(await child.line(/listening on/));
      assert.equal((await http(`${url}/kv/a`, { method: "PUT", body: "1" })).status, 401);
      const ok = await http(`${url}/kv/a`, {
        method: "PUT",
        body: "1",
        headers: { authorization: "Bearer t0ken" },
      });
      assert.equal(ok.status, 200, ok.text);
      assert.equal((await http(`${url}/kv/a`)).status, 401);
      for (
        const path of ["/health", "/ready", "/metrics", "/metrics.json", "/cluster/metrics", "/"]
      ) {
        assert.equal((await http(`${url}${path}`)).status, 200, path);
      }
      child.kill("SIGTERM");
      assert.equal(await within(child.exited, 10_000, "SIGTERM"), 0);
    } finally {
      child.kill("SIGKILL");
    }
  },
);
