// docs/operating.md as written, on the TLS cluster of docs/deploying.md (its commands run
// with bash, hosts moved to 127.0.0.1 on free ports: see _doc_shell.ts): /metrics.json,
// a leadership transfer and a snapshot through the admin API with curl, then a failed
// node replaced: killed, its data lost, refused under its old id, removed, and a new
// node under a new id joins. Runs under deno test; skipped under bun test (the commands
// start `deno` either way).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
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
  shell,
  START,
} from "./_doc_shell.ts";
import { IS_BUN, tempDir, until, within } from "./_process.ts";

/** A command of docs/operating.md, checked to be on the page as written. */
const documented = (command: string): string => documentedOn("operating.md", command);

// exercises: curl --cacert /etc/raft/ca.pem https://10.0.0.1:21001/metrics.json
const METRICS_JSON = "curl --cacert /etc/raft/ca.pem https://10.0.0.1:21001/metrics.json";
// exercises: curl --cacert /etc/raft/ca.pem --location-trusted -H "authorization: Bearer $(cat /etc/raft/secret)" -H 'content-type: application/json' -d '{"to": 2}' https://10.0.0.1:21001/cluster/transfer-leader
const TRANSFER =
  `curl --cacert /etc/raft/ca.pem --location-trusted -H "authorization: Bearer $(cat /etc/raft/secret)" -H 'content-type: application/json' -d '{"to": 2}' https://10.0.0.1:21001/cluster/transfer-leader`;
// exercises: curl --cacert /etc/raft/ca.pem -H "authorization: Bearer $(cat /etc/raft/secret)" -H 'content-type: application/json' -d '{}' https://10.0.0.1:21001/cluster/snapshot
const SNAPSHOT =
  `curl --cacert /etc/raft/ca.pem -H "authorization: Bearer $(cat /etc/raft/secret)" -H 'content-type: application/json' -d '{}' https://10.0.0.1:21001/cluster/snapshot`;
// exercises: curl --cacert /etc/raft/ca.pem --location-trusted -H "authorization: Bearer $(cat /etc/raft/secret)" -H 'content-type: application/json' -d '{"voters": [1, 3]}' https://10.0.0.1:21001/cluster/membership
const REMOVE =
  `curl --cacert /etc/raft/ca.pem --location-trusted -H "authorization: Bearer $(cat /etc/raft/secret)" -H 'content-type: application/json' -d '{"voters": [1, 3]}' https://10.0.0.1:21001/cluster/membership`;
// exercises: RAFT_SECRET=$(cat /etc/raft/secret) deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts --id 4 --addr 10.0.0.4:21001 --data /var/lib/raft --tls-cert /etc/raft/node-4.pem --tls-key /etc/raft/node-4.key --tls-ca /etc/raft/ca.pem --join 10.0.0.1:21001,10.0.0.3:21001
const START_4 =
  "RAFT_SECRET=$(cat /etc/raft/secret) deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts --id 4 --addr 10.0.0.4:21001 --data /var/lib/raft --tls-cert /etc/raft/node-4.pem --tls-key /etc/raft/node-4.key --tls-ca /etc/raft/ca.pem --join 10.0.0.1:21001,10.0.0.3:21001";

interface MetricsJson {
  readonly role: string;
  readonly leader: number | null;
  readonly membership: { readonly voters: readonly number[] };
}

test(
  "docs/operating.md: metrics.json, transfer-leader and snapshot with curl; a failed voter wiped is refused under its id, removed, and replaced by a new id",
  { timeout: 240_000 },
  async (t) => {
    if (IS_BUN) {
      t.skip("the documented commands start deno: run once, under deno test");
      return;
    }
    const dir = await tempDir("raft-docs-operating-");
    const hosts = await docHosts(dir.path, 4);
    const etc = join(dir.path, "etc-raft");
    const nodes = new DocNodes(hosts, [...START, documented(START_4)]);
    let fetchTls: TlsFetchFn | null = null;
    try {
      await makeCerts(hosts, [1, 2, 3, 4]);
      await nodes.start([1, 2, 3]);
      const ready1 = "curl --cacert /etc/raft/ca.pem https://10.0.0.1:21001/ready";
      await ready(hosts, ready1, 1);
      const metricsOf = async (host: number): Promise<MetricsJson> =>
        JSON.parse(
          await runToEnd(
            onHost(hosts, 1, documented(METRICS_JSON)).replace(
              `:${hosts.ports[1]}/`,
              `:${hosts.ports[host]}/`,
            ),
          ),
        ) as MetricsJson;
      const leaderOf = (host: number) =>
        until("a leader", async () => (await metricsOf(host)).leader ?? undefined);

      // Leadership to node 2 (first away from it, if it leads already: the call needs a change).
      if ((await leaderOf(1)) === 2) {
        await runToEnd(onHost(hosts, 1, documented(TRANSFER).replace('{"to": 2}', '{"to": 3}')));
        await until("node 3 leads", async () => (await leaderOf(1)) === 3 ? true : undefined);
      }
      const transferred = await runToEnd(onHost(hosts, 1, documented(TRANSFER)));
      assert.equal(transferred.trim(), '{"leader":2}', transferred);
      assert.equal((await metricsOf(2)).role, "leader");

      const snapshot = JSON.parse(await runToEnd(onHost(hosts, 1, documented(SNAPSHOT)))) as {
        snapshotId: string;
        lastLogId: { index: number };
      };
      assert.ok(snapshot.lastLogId.index > 0, JSON.stringify(snapshot));

      fetchTls = await tlsFetch({ caCert: readFileSync(join(etc, "ca.pem"), "utf8") });
      const client = fetchTls;
      const url = (id: number) => `https://127.0.0.1:${hosts.ports[id]}`;
      const put = await client(`${url(1)}/kv/kept`, {
        method: "PUT",
        body: "yes",
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(put.status, 200, await put.text());

      // Node 2 (the leader) fails for good: killed, its data lost.
      nodes.running[2]!.kill("SIGKILL");
      await within(nodes.running[2]!.exited, 10_000, "node 2 killed");
      nodes.running[2] = null;
      rmSync(join(dir.path, "host-2", "var-lib-raft"), { recursive: true, force: true });
      // Its old command line on the empty directory: refused, exit 1.
      const again = shell(onHost(hosts, 2, START[2]!));
      const code = await within(again.exited, 60_000, "wiped node 2 started again");
      assert.equal(code, 1, again.stdout() + again.stderr());
      assert.match(again.stderr(), /refused to join: node 2 is already a voter/);

      // Removed (on node 1, followed to the new leader), then replaced by node 4.
      const removed = await until("node 2 removed", async () => {
        const out = await runToEnd(onHost(hosts, 1, documented(REMOVE)));
        return out.includes('"logId"') ? out : undefined;
      }, 30_000);
      assert.match(removed, /"logId"/);
      await nodes.start([4]);
      await ready(hosts, ready1.replace("10.0.0.1", "10.0.0.4"), 4);
      const m = await until("voters [1, 3, 4]", async () => {
        const v = (await metricsOf(1)).membership.voters;
        return v.join() === "1,3,4" ? v : undefined;
      });
      assert.deepEqual(m, [1, 3, 4]);
      const read = await client(`${url(4)}/kv/kept?read=local`, {
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(await read.text(), "yes", "the new node has the data");
      for (const id of [1, 3, 4]) await nodes.stop(id);
    } finally {
      fetchTls?.close();
      await nodes.killAll();
      await dir.remove();
    }
  },
);
