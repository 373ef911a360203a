// examples/cluster.ts (`deno task cluster`, `npm run cluster`) under the
// runtime that runs the tests: three node processes, their URLs, Ctrl-C stops all.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { http, ROOT, run, tempDir, until, within } from "../node/_process.ts";

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A base port whose next three ports are free. */
async function freeBase(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 30_000 + Math.floor(Math.random() * 20_000);
    const free = await Promise.all([1, 2, 3].map((i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error("no three free consecutive ports");
}

test(
  "cluster.ts: three nodes started at once (1 --init --join 2,3; 2 and 3 --join 1), their URLs printed; SIGINT stops them all, exit 0",
  {
    timeout: 80_000,
  },
  async () => {
    const dir = await tempDir("raft-cluster-script-");
    const base = await freeBase();
    // The program `npm run cluster` and `deno task cluster` run (after scripts/setup.sh).
    // exercises: npm run cluster
    const child = run(["--base-port", String(base), "--data", dir.path], {
      script: join(ROOT, "examples", "cluster.ts"),
    });
    try {
      await child.line(/Ctrl-C stops them all/, 30_000);
      const urls = [1, 2, 3].map((i) => `http://127.0.0.1:${base + i}`);
      for (const url of urls) assert.ok(child.stdout().includes(url), `${url} printed`);
      const put = await http(`${urls[1]}/kv/greeting`, { method: "PUT", body: "hello" });
      assert.equal(put.status, 200, put.text);
      for (const url of urls) {
        await until(`${url} has the write`, async () => {
          const r = await http(`${url}/kv/greeting?read=local`);
          return r.text === "hello" ? true : undefined;
        });
      }
      const m = (await http(`${urls[2]}/metrics.json`)).json as {
        membership: { voters: number[] };
      };
      assert.deepEqual(m.membership.voters, [1, 2, 3]);
      child.kill("SIGINT");
      assert.equal(await within(child.exited, 20_000, "SIGINT"), 0);
      for (const id of [1, 2, 3]) {
        assert.match(child.stdout(), new RegExp(`\\[node ${id}\\] @x/raft node ${id}: stopped`));
      }
      for (const url of urls) {
        await assert.rejects(http(`${url}/health`), `${url} is down`);
      }
      // Run again on the same data: the same command lines restart the nodes, nothing lost.
      const again = run(["--base-port", String(base), "--data", dir.path], {
        script: join(ROOT, "examples", "cluster.ts"),
      });
      try {
        await again.line(/Ctrl-C stops them all/, 30_000);
        await until("the write is back", async () => {
          const r = await http(`${urls[2]}/kv/greeting`).catch(() => null);
          return r?.text === "hello" ? true : undefined;
        });
        const m2 = (await http(`${urls[0]}/metrics.json`)).json as {
          membership: { voters: number[] };
        };
        assert.deepEqual(m2.membership.voters, [1, 2, 3]);
        again.kill("SIGINT");
        assert.equal(await within(again.exited, 20_000, "SIGINT"), 0);
      } finally {
        again.kill("SIGKILL");
        await again.exited;
      }
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      await dir.remove();
    }
  },
);
