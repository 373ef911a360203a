// docs/deploying.md as written: its commands run with bash (hosts 10.0.0.N moved to
// 127.0.0.1 on free ports, /etc/raft and /var/lib/raft to temp dirs; see _doc_shell.ts):
// certificates made with openssl, three TLS nodes with the secret started with the
// documented command lines, /ready and /cluster/metrics with curl, a rolling restart,
// and a whole-cluster cold backup restored (the write made after the backup is gone).
// Runs under deno test; under bun test it is skipped: the commands start `deno` either way.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tlsFetch, type TlsFetchFn } from "../../adapters/tls_fetch.ts";
import {
  docHosts,
  DocNodes,
  documented as documentedOn,
  makeCerts,
  onHost,
  ready,
  runToEnd,
  START,
} from "./_doc_shell.ts";
import { IS_BUN, tempDir, until } from "./_process.ts";

/** A command of docs/deploying.md, checked to be on the page as written. */
const documented = (command: string): string => documentedOn("deploying.md", command);

// exercises: curl --cacert /etc/raft/ca.pem https://10.0.0.1:21001/ready
const READY_1 = "curl --cacert /etc/raft/ca.pem https://10.0.0.1:21001/ready";
// exercises: curl --cacert /etc/raft/ca.pem https://10.0.0.2:21001/ready
const READY_2 = "curl --cacert /etc/raft/ca.pem https://10.0.0.2:21001/ready";
// exercises: curl --cacert /etc/raft/ca.pem -H "authorization: Bearer $(cat /etc/raft/secret)" https://10.0.0.1:21001/cluster/metrics
const CLUSTER_METRICS =
  'curl --cacert /etc/raft/ca.pem -H "authorization: Bearer $(cat /etc/raft/secret)" https://10.0.0.1:21001/cluster/metrics';
// exercises: cp -a /var/lib/raft /var/backups/raft
const BACKUP = "cp -a /var/lib/raft /var/backups/raft";
// exercises: rm -rf /var/lib/raft && cp -a /var/backups/raft /var/lib/raft
const RESTORE = "rm -rf /var/lib/raft && cp -a /var/backups/raft /var/lib/raft";

test(
  "docs/deploying.md: openssl certificates, three TLS nodes with the secret from the documented command lines, /ready, /cluster/metrics, a rolling restart, a cold backup restored",
  { timeout: 240_000 },
  async (t) => {
    if (IS_BUN) {
      t.skip("the documented commands start deno: run once, under deno test");
      return;
    }
    const dir = await tempDir("raft-docs-deploying-");
    const hosts = await docHosts(dir.path, 3);
    const etc = join(dir.path, "etc-raft");
    const nodes = new DocNodes(hosts, START.map((c) => c === "" ? c : documented(c)));
    let fetchTls: TlsFetchFn | null = null;
    try {
      await makeCerts(hosts, [1, 2, 3]);
      const secret = readFileSync(join(etc, "secret"), "utf8").trim();
      assert.match(secret, /^[0-9a-f]{64}$/);

      const lines = await nodes.start([1, 2, 3]);
      for (const [i, line] of lines.entries()) {
        assert.ok(line.includes(`https://127.0.0.1:${hosts.ports[i + 1]}`), line);
      }
      await ready(hosts, documented(READY_1), 1);
      const metrics = JSON.parse(await runToEnd(onHost(hosts, 1, documented(CLUSTER_METRICS)))) as {
        membership: { voters: number[] };
      };
      assert.deepEqual(metrics.membership.voters, [1, 2, 3]);
      // Without the secret /cluster/* is refused.
      const refused = await runToEnd(
        onHost(hosts, 1, "curl --cacert /etc/raft/ca.pem https://10.0.0.1:21001/cluster/metrics"),
      );
      assert.match(refused, /Unauthorized/);

      fetchTls = await tlsFetch({ caCert: readFileSync(join(etc, "ca.pem"), "utf8") });
      const url = (id: number) => `https://127.0.0.1:${hosts.ports[id]}`;
      const client = fetchTls;
      const put = async (key: string, value: string) => {
        const r = await until(`PUT ${key}`, async () => {
          const res = await client(`${url(1)}/kv/${key}`, {
            method: "PUT",
            body: value,
            signal: AbortSignal.timeout(10_000),
          });
          await res.body?.cancel();
          return res.status === 200 ? res.status : undefined;
        });
        assert.equal(r, 200);
      };
      const get = async (id: number, key: string): Promise<{ status: number; text: string }> => {
        const res = await client(`${url(id)}/kv/${key}`, { signal: AbortSignal.timeout(10_000) });
        return { status: res.status, text: await res.text() };
      };
      const readLeader = (key: string) =>
        until(`a linearizable read of ${key}`, async () => {
          for (const id of [1, 2, 3]) {
            const r = await get(id, key).catch(() => null);
            if (r !== null && (r.status === 200 || r.status === 404)) return r;
          }
          return undefined;
        });
      await put("before", "1");

      // Rolling restart: each node stopped with SIGTERM, started again with its command line,
      // and ready before the next.
      let handedOver = false;
      for (const id of [1, 2, 3]) {
        const out = await nodes.stop(id);
        if (/handed leadership to node \d/.test(out)) handedOver = true;
        await nodes.start([id]);
        const command = id === 2
          ? documented(READY_2)
          : READY_1.replace("10.0.0.1", `10.0.0.${id}`);
        await ready(hosts, command, id);
      }
      assert.ok(handedOver, "the leader handed leadership over when it was stopped");
      assert.deepEqual(await readLeader("before"), { status: 200, text: "1" });

      // Cold backup of the whole cluster: every node stopped, each directory copied.
      for (const id of [1, 2, 3]) await nodes.stop(id);
      for (const id of [1, 2, 3]) await runToEnd(onHost(hosts, id, documented(BACKUP)));
      await nodes.start([1, 2, 3]);
      await put("after", "2");
      assert.deepEqual(await readLeader("after"), { status: 200, text: "2" });
      for (const id of [1, 2, 3]) await nodes.stop(id);
      // Restore: every node stopped, every directory put back; the cluster is as it was.
      for (const id of [1, 2, 3]) await runToEnd(onHost(hosts, id, documented(RESTORE)));
      await nodes.start([1, 2, 3]);
      await ready(hosts, READY_1, 1);
      assert.deepEqual(await readLeader("before"), { status: 200, text: "1" });
      assert.equal((await readLeader("after")).status, 404, "the write after the backup is gone");
      for (const id of [1, 2, 3]) await nodes.stop(id);
    } finally {
      fetchTls?.close();
      await nodes.killAll();
      await dir.remove();
    }
  },
);
