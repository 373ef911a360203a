// A node process's lifecycle and exit codes (examples/kv.ts under the
// runtime that runs the tests): bad flags, a node waiting to be added, a
// node whose storage is taken by another process.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { http, IS_BUN, run, tempDir, until, urlOf, within } from "./_process.ts";

test("node process: a bad flag prints one line and exits 2", { timeout: 30_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unknown flag --bogus/],
    [["--id", "x"], /--id takes an integer/],
    [["--addr", "localhost"], /--addr takes HOST:PORT/],
    [["--storage", "disk"], /--storage takes auto, memory, deno-kv or sqlite/],
    [["--secret", ""], /--secret takes a non-empty token/],
    [["--election-timeout", "300"], /--election-timeout takes MIN-MAX/],
    [["--heartbeat", "500"], /--heartbeat: heartbeatInterval \(500\) must be less than/],
    [["--tls-cert", "x.pem"], /--tls-cert and --tls-key go together/],
    [["stray"], /unexpected argument "stray"/],
    [["--join", "127.0.0.1:21001,"], /--join takes members' HOST:PORT or URL/],
  ];
  const children = cases.map(([args]) => run(args));
  try {
    for (const [i, [args, message]] of cases.entries()) {
      const child = children[i]!;
      assert.equal(await within(child.exited, 20_000, args.join(" ")), 2, args.join(" "));
      const lines = child.stderr().trimEnd().split("\n");
      assert.equal(lines.length, 1, `one line: ${child.stderr()}`);
      assert.match(lines[0]!, /^kv\.ts: /);
      assert.match(lines[0]!, message);
      assert.equal(child.stdout(), "");
    }
  } finally {
    for (const child of children) child.kill("SIGKILL");
  }
});

test(
  "node process: without --init, --join or state, a node waits to be added (not ready); SIGTERM exits 0",
  {
    timeout: 20_000,
  },
  async () => {
    const child = run(["--id", "5", "--addr", "127.0.0.1:0", "--storage", "memory"]);
    try {
      const line = await child.line(/listening on/);
      assert.match(
        line,
        /^@x\/raft node 5 listening on http:\/\/127\.0\.0\.1:\d+ \(not initialized: waiting to be added/,
      );
      const url = urlOf(line);
      assert.equal((await http(`${url}/health`)).status, 200);
      const ready = await http(`${url}/ready`);
      assert.equal(ready.status, 503);
      assert.match(ready.text, /waiting to be added/);
      const m = (await http(`${url}/metrics.json`)).json as {
        leader: unknown;
        membership: { voters: [] };
      };
      assert.equal(m.leader, null);
      assert.deepEqual(m.membership.voters, [], "no cluster of its own");
      child.kill("SIGTERM");
      assert.equal(await within(child.exited, 10_000, "SIGTERM"), 0);
      assert.equal(child.stderr(), "");
    } finally {
      child.kill("SIGKILL");
    }
  },
);

test(
  "node process: two processes on one data dir never both write; the one that cannot exits 1 saying why",
  {
    timeout: 30_000,
  },
  async () => {
    const dir = await tempDir("raft-node-fence-");
    const data = join(dir.path, "node-1");
    const first = run(["--init", "--addr", "127.0.0.1:0", "--data", data]);
    let second: ReturnType<typeof run> | null = null;
    try {
      const url = urlOf(await first.line(/listening on/));
      assert.equal((await http(`${url}/kv/a`, { method: "PUT", body: "1" })).status, 200);
      second = run(["--init", "--addr", "127.0.0.1:0", "--data", data]);
      if (IS_BUN) {
        // bun:sqlite: the first holds an exclusive lock; the second cannot open the store.
        assert.equal(await within(second.exited, 15_000, "second process"), 1);
        assert.match(second.stderr(), /^@x\/raft node 1 could not start: /);
        assert.equal((await http(`${url}/kv/b`, { method: "PUT", body: "2" })).status, 200);
      } else {
        // Deno KV: the second opener fences the first, whose next write fails: it exits 1.
        await second.line(/listening on/);
        const res = await until("the fenced node refuses a write", async () => {
          const r = await http(`${url}/kv/b`, { method: "PUT", body: "2" }).catch(() => null);
          return r === null || r.status !== 200 ? r : undefined;
        });
        assert.ok(res === null || res.status === 503, `refused: ${res?.text}`);
        assert.equal(await within(first.exited, 15_000, "fenced process"), 1);
        assert.match(
          first.stderr(),
          /@x\/raft node 1 stopped: storage append failed: .*another store opened this database/,
        );
      }
    } finally {
      first.kill("SIGKILL");
      second?.kill("SIGKILL");
      await Promise.all([first.exited, second?.exited]);
      await dir.remove();
    }
  },
);
