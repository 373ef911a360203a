// The dashboard a node serves at `/` and its server-sent events, over real
// HTTP on 127.0.0.1 with a 3-node cluster of startNode in this process (runs
// under Deno and Bun; the browser test drives the page itself).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseNodeFlags } from "../../node/node_flags.ts";
import { type NodeApp, type RunningNode, startNode } from "../../node/start_node.ts";
import { clusterEventStream, type ClusterView, ClusterWatch } from "../../node/cluster_events.ts";
import { serve } from "../../node/serve.ts";
import { kvRoutes, MemoryStateMachine } from "../../kv/mod.ts";
import { MemoryLogStore } from "../../adapters/memory.ts";
import { Raft } from "../../src/runtime/raft.ts";
import { MemoryNetwork } from "../../testing/memory_network.ts";

const APP: NodeApp<MemoryStateMachine> = {
  stateMachine: () => new MemoryStateMachine(),
  routes: (raft, sm) => kvRoutes(raft, sm),
};
const SECRET = "dash-s3cret";
const FLAGS = [
  "--storage",
  "memory",
  "--addr",
  "127.0.0.1:0",
  "--heartbeat",
  "20",
  "--election-timeout",
  "300-600",
  "--secret",
  SECRET,
];

/** Reads `event: cluster` messages of a server-sent event stream. */
class EventReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #decoder = new TextDecoder();
  #buffer = "";
  retry: string | null = null;

  constructor(body: ReadableStream<Uint8Array>) {
    this.#reader = body.getReader();
  }

  /** The next view, or `null` when the stream ended. */
  async next(): Promise<ClusterView | null> {
    for (;;) {
      const end = this.#buffer.indexOf("\n\n");
      if (end >= 0) {
        const message = this.#buffer.slice(0, end);
        this.#buffer = this.#buffer.slice(end + 2);
        const fields = new Map<string, string>();
        for (const line of message.split("\n")) {
          const colon = line.indexOf(":");
          if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart());
        }
        if (fields.has("retry")) this.retry = fields.get("retry")!;
        if (fields.get("event") === "cluster") return JSON.parse(fields.get("data")!);
        continue;
      }
      const { done, value } = await this.#reader.read();
      if (done) return null;
      this.#buffer += this.#decoder.decode(value, { stream: true });
    }
  }

  /** The first view that satisfies `ok`, within `ms`. */
  async until(ok: (v: ClusterView) => boolean, ms: number, what: string): Promise<ClusterView> {
    const deadline = Date.now() + ms;
    let last: ClusterView | null = null;
    while (Date.now() < deadline) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const v = await Promise.race([
        this.next(),
        new Promise<"late">((r) => timer = setTimeout(() => r("late"), deadline - Date.now())),
      ]);
      clearTimeout(timer);
      if (v === "late") break;
      if (v === null) throw new Error(`the stream ended waiting for ${what}`);
      last = v;
      if (ok(v)) return v;
    }
    throw new Error(`no view with ${what} in ${ms} ms; last: ${JSON.stringify(last)}`);
  }

  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

const leaderOf = (v: ClusterView): number | null => {
  const leaders = v.nodes.filter((n) => n.ok && n.metrics.state === "leader");
  return leaders.length === 1 ? leaders[0]!.id : null;
};

async function cluster(): Promise<RunningNode<MemoryStateMachine>[]> {
  const nodes: RunningNode<MemoryStateMachine>[] = [];
  try {
    const n1 = await startNode(parseNodeFlags(["--init", ...FLAGS]), APP);
    nodes.push(n1);
    await n1.raft.metrics.wait({ timeout: 5000 }).role("leader");
    for (const id of [2, 3]) {
      nodes.push(
        await startNode(parseNodeFlags(["--id", String(id), "--join", n1.url, ...FLAGS]), APP),
      );
    }
    for (const n of nodes) await n.raft.metrics.wait({ timeout: 5000 }).members([1, 2, 3]);
    return nodes;
  } catch (e) {
    for (const n of nodes) await n.stop({ handOver: false });
    throw e;
  }
}

test("dashboard: the page, its script and style are served, self-contained", {
  timeout: 20_000,
}, async () => {
  const node = await startNode(parseNodeFlags(["--init", ...FLAGS]), APP);
  try {
    const page = await fetch(`${node.url}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /default-src 'none'/);
    const html = await page.text();
    assert.ok(html.length < 16_384, `a few KB: ${html.length}`);
    assert.doesNotMatch(html, /https?:\/\//, "nothing loaded from elsewhere");
    assert.doesNotMatch(html, new RegExp(SECRET), "the secret is never in the page");
    for (
      const [path, type] of [["/dashboard/app.js", /javascript/], ["/dashboard/app.css", /css/]]
    ) {
      const res = await fetch(`${node.url}${path as string}`);
      assert.equal(res.status, 200, path as string);
      assert.match(res.headers.get("content-type") ?? "", type as RegExp);
      const text = await res.text();
      assert.ok(text.length > 500 && text.length < 32_768, `${path}: ${text.length} bytes`);
      assert.doesNotMatch(text, /https?:\/\/(?!www\.w3\.org)/, `${path}: nothing from elsewhere`);
    }
    // The script parses.
    const js = await fetch(`${node.url}/dashboard/app.js`).then((r) => r.text());
    assert.doesNotThrow(() => new Function(js));
  } finally {
    await node.stop();
  }
});

test("dashboard: the event stream shows every node, one leader, then a node down", {
  timeout: 40_000,
}, async () => {
  const nodes = await cluster();
  let reader: EventReader | null = null;
  try {
    const n2 = nodes[1]!;
    const res = await fetch(`${n2.url}/dashboard/events`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/event-stream/);
    reader = new EventReader(res.body!);
    const all = await reader.until(
      (v) => v.nodes.length === 3 && v.nodes.every((n) => n.ok) && leaderOf(v) !== null,
      10_000,
      "three nodes up and one leader",
    );
    assert.equal(reader.retry, "1000");
    assert.equal(all.self, 2);
    assert.deepEqual(all.nodes.map((n) => n.id), [1, 2, 3]);
    for (const n of all.nodes) {
      assert.ok(n.ok);
      assert.deepEqual(n.metrics.membership.voters, [1, 2, 3]);
      assert.equal(n.addr, nodes[n.id - 1]!.url);
    }
    const leader = leaderOf(all)!;
    const lead = all.nodes.find((n) => n.id === leader)!;
    assert.ok(lead.ok && lead.metrics.replication !== null, "the leader reports replication");

    // Node 3 goes away: shown unreachable, the stream goes on.
    const n3 = nodes[2]!;
    await n3.stop();
    const down = await reader.until(
      (v) => v.nodes.some((n) => n.id === 3 && !n.ok),
      10_000,
      "node 3 down",
    );
    const three = down.nodes.find((n) => n.id === 3)!;
    assert.ok(!three.ok && /unreachable|timeout|HTTP 503/.test(three.error), JSON.stringify(three));
    await reader.until((v) => leaderOf(v) !== null, 10_000, "a leader without node 3");

    // A one-shot view too, as JSON.
    const view = await fetch(`${n2.url}/dashboard/view`).then((r) => r.json()) as ClusterView;
    assert.equal(view.nodes.length, 3);
  } finally {
    await reader?.cancel();
    for (const n of nodes) await n.stop({ handOver: false });
  }
});

test("dashboard: admin actions are forwarded to the leader with the operator's secret", {
  timeout: 40_000,
}, async () => {
  const nodes = await cluster();
  try {
    const leader = nodes.find((n) => n.raft.metrics.current.state === "leader")!;
    const follower = nodes.find((n) => n !== leader)!;
    const to = nodes.find((n) => n !== leader && n !== follower)!.raft.id;
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${follower.url}/dashboard/admin/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify(body),
      });
    const anonymous = await post("transfer-leader", { to });
    assert.equal(anonymous.status, 401, "the leader refuses without the secret");
    await anonymous.body?.cancel();
    const wrong = await post("transfer-leader", { to }, { authorization: "Bearer nope" });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();
    const unknown = await post("purge", {}, { authorization: `Bearer ${SECRET}` });
    assert.equal(unknown.status, 404, "only the admin actions the page offers are forwarded");
    await unknown.body?.cancel();
    const snapshot = await post("snapshot", {}, { authorization: `Bearer ${SECRET}` });
    assert.equal(snapshot.status, 200, await snapshot.clone().text());
    const { lastLogId } = await snapshot.json();
    assert.equal(
      leader.raft.metrics.current.snapshot?.index,
      lastLogId.index,
      "built on the leader",
    );
    const form = await fetch(`${follower.url}/dashboard/admin/transfer-leader`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "to=1",
    });
    assert.equal(form.status, 415, "JSON only: no cross-site form posts");
    await form.body?.cancel();
    const ok = await post("transfer-leader", { to }, { authorization: `Bearer ${SECRET}` });
    assert.equal(ok.status, 200, await ok.clone().text());
    assert.deepEqual(await ok.json(), { leader: to });
    assert.equal(nodes.find((n) => n.raft.id === to)!.raft.metrics.current.state, "leader");
  } finally {
    for (const n of nodes) await n.stop({ handOver: false });
  }
});

test("dashboard: stop() ends open event streams instead of waiting for them", {
  timeout: 20_000,
}, async () => {
  const node = await startNode(parseNodeFlags(["--init", ...FLAGS]), APP, {
    drainTimeout: 10_000,
  });
  let reader: EventReader | null = null;
  try {
    const res = await fetch(`${node.url}/dashboard/events`);
    reader = new EventReader(res.body!);
    await reader.until((v) => leaderOf(v) === 1, 5000, "node 1 leads");
    const started = Date.now();
    await node.stop();
    assert.ok(Date.now() - started < 5000, `stopped in ${Date.now() - started} ms`);
    let ended = false;
    for (let i = 0; i < 10 && !ended; i++) {
      ended = await reader.next().then((v) => v === null, () => true);
    }
    assert.ok(ended, "the stream ended");
  } finally {
    await reader?.cancel();
    await node.stop();
  }
});

test("clusterEventStream: a client that goes away leaves no subscriber (the watch stops)", {
  timeout: 20_000,
}, async () => {
  const raft = await Raft.create({
    id: 1,
    logStore: new MemoryLogStore(),
    stateMachine: new MemoryStateMachine(),
    network: new MemoryNetwork().client(1),
  });
  const watch = new ClusterWatch(raft, { selfAddr: "http://127.0.0.1:1", interval: 50 });
  const server = await serve(() => clusterEventStream(watch), { hostname: "127.0.0.1", port: 0 });
  try {
    for (let round = 0; round < 3; round++) {
      const res = await fetch(`http://127.0.0.1:${server.port}/`);
      const reader = new EventReader(res.body!);
      const v = await reader.until((v) => v.self === 1, 5000, "a view");
      assert.equal(v.nodes.length, 1);
      assert.equal(watch.subscribers, 1);
      await reader.cancel();
      const deadline = Date.now() + 5000;
      while (watch.subscribers > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(watch.subscribers, 0, `round ${round}: unsubscribed once the client left`);
    }
  } finally {
    watch.close();
    await server.close({ force: true });
    await raft.shutdown();
  }
});
