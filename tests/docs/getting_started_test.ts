// The commands of docs/getting_started.md, run as written (addresses mapped to free
// ports, data in a temp dir through RAFT_ADDR / RAFT_DATA): the node starts, answers a
// write and a read with curl, and stops on SIGINT.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { background, Ports, run, tempDir } from "./_commands.ts";

const PUT = "curl -X PUT --data-binary hello http://127.0.0.1:21001/kv/greeting";
const GET = "curl http://127.0.0.1:21001/kv/greeting";

/** Starts `command` as node 1 on a free port, writes and reads with curl, stops it. */
async function nodeAnswers(
  command: string,
  env: Record<string, string> = {},
  options: { stoppedLine?: boolean } = {},
): Promise<void> {
  const ports = await Ports.of([21001]);
  const dir = tempDir("docs-getting-started-");
  const node = background(command, {
    RAFT_ADDR: `127.0.0.1:${ports.port(21001)}`,
    RAFT_DATA: join(dir.path, "node-1"),
    ...env,
  });
  try {
    await node.line(/@x\/raft node 1 listening on http:\/\/127\.0\.0\.1:\d+ \(leader\)/, 60_000);
    const put = await run(ports.apply(PUT));
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^\{"index":\d+\}$/);
    const get = await run(ports.apply(GET));
    assert.equal(get.code, 0, get.stderr);
    assert.equal(get.stdout, "hello");
  } finally {
    await node.stop();
    dir.remove();
  }
  const health = await fetch(`http://127.0.0.1:${ports.port(21001)}/health`).then(
    (r) => `answered ${r.status}`,
    () => "refused",
  );
  assert.equal(health, "refused", "the node is gone after SIGINT");
  if (options.stoppedLine ?? true) {
    assert.match(node.output(), /@x\/raft node 1: stopped/, "stopped gracefully on SIGINT");
  }
}

test(
  "getting_started.md: npm run node starts node 1; curl writes and reads a key",
  { timeout: 120_000 },
  async () => {
    // exercises: npm run node
    // exercises: curl -X PUT --data-binary hello http://127.0.0.1:21001/kv/greeting
    // exercises: curl http://127.0.0.1:21001/kv/greeting
    await nodeAnswers("npm run node");
  },
);

test("getting_started.md: deno task node starts node 1", { timeout: 120_000 }, async () => {
  // exercises: deno task node
  // deno task relays the node's output and may exit before relaying its last line.
  await nodeAnswers("deno task node", {}, { stoppedLine: false });
});

test(
  "getting_started.md: bun run examples/kv.ts starts node 1 (RAFT_INIT=1: any RAFT_* variable turns off the no-flag default)",
  { timeout: 120_000 },
  async () => {
    // exercises: bun run examples/kv.ts
    await nodeAnswers("bun run examples/kv.ts", { RAFT_INIT: "1" });
  },
);
