/**
 * Issue 15, "an operator wiping one voter's data directory and restarting
 * it with the same id": no acknowledged write lost, no two leaders — the
 * node must refuse or be refused with a clear message.
 *
 * Found by the chaos suite (`chaos/run.ts --nemesis wipe-init --seed 41`):
 * node 1 (started with `--init`), wiped and restarted with its own command
 * line, formed a one-node cluster and acknowledged writes that the real
 * cluster's appends then overwrote; a joined voter wiped and restarted with
 * `--join` was accepted back silently, having forgotten its vote. Now node 1
 * runs `--init --join <the others>` (it forms a cluster only when none of
 * them belongs to one) and a node with empty storage whose id is a voter is
 * refused: it exits 1 saying its data was probably lost and how to recover.
 * Then the documented recovery: remove the old id, start the node under a
 * new id with `--join`; it catches up and the cluster serves writes.
 */

import { test } from "node:test";
import process from "node:process";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { ChaosCluster } from "../../chaos/chaos_cluster.ts";
import { KvClient } from "../../chaos/kv_client.ts";
import { detectNodeContract } from "../../chaos/node_contract.ts";
import { loopbackPlacement } from "../../chaos/node_placement.ts";
import type { NodeProcess } from "../../chaos/node_process.ts";
import { sleep } from "../../chaos/sleep.ts";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const RUNTIME = "Bun" in globalThis ? "bun" : "deno";

test(
  `wiped voters restarted with their command lines are refused; recovery under a new id (${RUNTIME})`,
  {
    timeout: 90_000,
  },
  async () => {
    const dir = await mkdtemp(join(tmpdir(), "xraft-wiped-"));
    const t0 = performance.now();
    const contract = await detectNodeContract(ROOT, RUNTIME);
    assert.ok(contract.initJoin, "the node supports --init --join");
    const cluster = new ChaosCluster({
      root: ROOT,
      runtime: RUNTIME,
      contract,
      runDir: dir,
      clock: () => performance.now() - t0,
      placement: loopbackPlacement(),
      secret: "wiped-secret",
      clusterId: "wiped",
      snapshotEvery: 1000,
      heartbeatMs: 100,
      electionTimeoutMs: [500, 1000],
    });
    const client = new KvClient({ cas: true, readParam: "read" }, 2_000);
    /** Acknowledged writes: key → value. */
    const acked = new Map<string, string>();
    /** Every (term → leader) seen; two leaders in one term fail the test. */
    const leaders = new Map<number, Set<number>>();
    /** Nodes wiped: none of them may lead again. */
    const wiped = new Set<number>();
    const wipedLeading: string[] = [];
    let watching = true;
    const watch = (async () => {
      for (let i = 0; watching && i < 2_000; i++) {
        const wipedBefore = new Set(wiped); // killed before these requests were sent
        const all = await Promise.all(
          [...cluster.nodes.values()].filter((n) => n.state === "running").map((n) =>
            cluster.admin.metrics(n.url)
          ),
        );
        for (const m of all) {
          if (m === null || m.state !== "leader") continue;
          if (wipedBefore.has(m.id)) {
            wipedLeading.push(`node ${m.id} led term ${m.term} after its wipe`);
          }
          const set = leaders.get(m.term) ?? new Set<number>();
          set.add(m.id);
          leaders.set(m.term, set);
        }
        await sleep(100);
      }
    })();

    /** Writes `count` keys through the leader (307s followed), remembering what was acknowledged. */
    const writeSome = async (prefix: string, count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        const leader = await cluster.waitLeader(15_000);
        const out = await client.write(cluster.nodes.get(leader)!.url, `${prefix}${i}`, `v-${i}`);
        if (out.status === "ok") acked.set(`${prefix}${i}`, `v-${i}`);
      }
    };

    /**
     * Wipes `node`'s data, restarts it with its own command line, writes to it
     * meanwhile; it must exit 1 with the message on stderr. Writes it
     * acknowledged (none expected) are remembered.
     */
    const wipeAndRestart = async (node: NodeProcess): Promise<string> => {
      await node.kill9();
      wiped.add(node.id);
      await rm(node.launch.data, { recursive: true, force: true });
      await mkdir(node.launch.data, { recursive: true });
      node.start();
      node.allowExit();
      for (let i = 0; i < 150 && node.state !== "stopped"; i++) {
        const out = await client.write(node.url, `via-${node.id}-${i}`, `w${i}`);
        if (out.status === "ok") acked.set(`via-${node.id}-${i}`, `w${i}`);
        await sleep(100);
      }
      assert.equal(node.state, "stopped", `node ${node.id} exited: ${node.lastLines.join("\n")}`);
      assert.equal(node.lastExit, "code 1");
      const log = await readFile(join(dir, `node-${node.id}.log`), "utf8");
      const refusal = log.split("\n").filter((l) => / err .*refused to join/.test(l)).at(-1) ?? "";
      assert.match(refusal, new RegExp(`node ${node.id} is already a voter`), log.slice(-2000));
      assert.match(refusal, /its data was probably lost/);
      assert.match(refusal, /POST http:\/\/127\.0\.0\.1:\d+\/cluster\/membership/);
      assert.match(refusal, /start this node under a new id with --join/);
      return refusal;
    };

    /** The documented recovery: remove `id`, start a fresh node under a new id with --join. */
    const recover = async (id: number): Promise<NodeProcess> => {
      assert.ok(await cluster.removeNode(id), `node ${id} removed`);
      const fresh = await cluster.addNode();
      assert.ok(fresh.id > id);
      return fresh;
    };

    try {
      await cluster.start(3);
      assert.deepEqual(cluster.voters, [1, 2, 3]);
      await writeSome("a", 10);

      // 1. A joined voter (--join <node 1>): refused; removed, replaced by node 4.
      await wipeAndRestart(cluster.nodes.get(2)!);
      await writeSome("b", 5);
      await recover(2);

      // 2. Node 1 (--init --join 2,3), wiped: node 2 is gone, node 3 belongs to a
      // cluster, so node 1 does not form one: it joins, and is refused.
      const node1 = cluster.nodes.get(1)!;
      assert.equal(node1.launch.init, true);
      await wipeAndRestart(node1);
      await writeSome("c", 5);
      await recover(1);
      await writeSome("d", 5);

      const converged = await cluster.waitConverged(20_000);
      assert.ok(converged !== null, "the members converge");
      assert.equal(cluster.voters.length, 3);
      assert.ok(!cluster.voters.includes(1) && !cluster.voters.includes(2), `${cluster.voters}`);
      for (const [key, value] of acked) {
        for (const id of cluster.voters) {
          const out = await client.read(cluster.nodes.get(id)!.url, key, "local");
          assert.equal(
            out.status === "ok" ? out.output : `<${out.status}>`,
            value,
            `${key} acknowledged; node ${id}`,
          );
        }
      }
      assert.ok(acked.size >= 20, `writes acknowledged: ${acked.size}`);
    } finally {
      watching = false;
      await watch;
      await cluster.close();
      if (!process.env["CHAOS_KEEP"]) await rm(dir, { recursive: true, force: true });
    }
    assert.deepEqual(wipedLeading, [], "a wiped node never leads");
    for (const [term, ids] of leaders) {
      assert.equal(ids.size, 1, `term ${term} had leaders ${[...ids]}`);
    }
  },
);
