// The sh commands of docs/cluster_formation.md, docs/membership.md,
// docs/read_consistency.md and docs/snapshots.md, run as written on one cluster of
// examples/kv.ts processes (the documented 127.0.0.1:2100N addresses mapped to free
// ports; RAFT_ADDR where a command relies on the default address, RAFT_DATA for every
// data directory, in a temp dir): form three nodes, add and remove a fourth, write and
// read four ways, snapshot, recover from a wiped voter, move leadership.
//
// The commands are shell commands, the same whichever runner runs this file: they run
// under deno test; under bun test the case is skipped (named so).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { IS_BUN } from "./_doc_blocks.ts";
import { type Background, background, Ports, run, tempDir } from "./_commands.ts";

const START_1 = "deno run -A examples/kv.ts --id 1 --init --join 127.0.0.1:21002,127.0.0.1:21003";
const START_2 = "deno run -A examples/kv.ts --id 2 --join 127.0.0.1:21001";
const START_3 = "deno run -A examples/kv.ts --id 3 --join 127.0.0.1:21001";
const START_4 = "deno run -A examples/kv.ts --id 4";
const ADD_4 =
  `curl -X POST -H 'content-type: application/json' -d '{"id": 4, "addr": "127.0.0.1:21004", "promote": true}' http://127.0.0.1:21001/cluster/learners`;
const VOTERS_123 =
  `curl -X POST -H 'content-type: application/json' -d '{"voters": [1, 2, 3]}' http://127.0.0.1:21001/cluster/membership`;
const PUT = "curl -X PUT --data-binary hello http://127.0.0.1:21001/kv/greeting";
const READS = [
  "curl -L http://127.0.0.1:21002/kv/greeting",
  "curl 'http://127.0.0.1:21001/kv/greeting?read=lease'",
  "curl 'http://127.0.0.1:21002/kv/greeting?read=follower'",
  "curl 'http://127.0.0.1:21003/kv/greeting?read=local'",
];
const SNAPSHOT =
  `curl -X POST -H 'content-type: application/json' -d '{}' http://127.0.0.1:21001/cluster/snapshot`;
const VOTERS_12 =
  `curl -X POST -H 'content-type: application/json' -d '{"voters": [1, 2]}' http://127.0.0.1:21001/cluster/membership`;
const START_5 = "deno run -A examples/kv.ts --id 5 --addr 127.0.0.1:21003 --join 127.0.0.1:21001";
const TRANSFER =
  `curl -X POST -H 'content-type: application/json' -d '{"to": 2}' http://127.0.0.1:21001/cluster/transfer-leader`;

const LISTENING = /@x\/raft node \d+ listening on/;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

test(
  "docs cluster commands: form, add, remove, read four ways, snapshot, recover a wiped voter, transfer" +
    (IS_BUN ? " (runs under deno test: the same shell commands)" : ""),
  { timeout: 240_000, ...(IS_BUN ? { skip: "runs under deno test" } : {}) },
  async () => {
    const ports = await Ports.of([21001, 21002, 21003, 21004]);
    const dir = tempDir("docs-cluster-");
    const data = (id: number) => ({ RAFT_DATA: join(dir.path, `node-${id}`) });
    const addr = (p: number) => ({ RAFT_ADDR: `127.0.0.1:${ports.port(p)}` });
    const nodes = new Map<number, Background>();
    const url = (p: number) => `http://127.0.0.1:${ports.port(p)}`;
    /** Node 1's view of the voters, once it matches `want` (bounded). */
    const votersBecome = async (want: number[]) => {
      let last: unknown = null;
      for (let i = 0; i < 100; i++) {
        const m = await fetch(`${url(21001)}/cluster/metrics`).then((r) => r.json()).catch(
          () => null,
        ) as { membership?: { voters?: number[] } } | null;
        last = m?.membership?.voters ?? null;
        if (JSON.stringify(last) === JSON.stringify(want)) return;
        await sleep(100);
      }
      assert.fail(`voters ${JSON.stringify(last)}, expected ${JSON.stringify(want)}`);
    };
    const curl = async (command: string) => {
      const r = await run(ports.apply(command));
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      return r.stdout;
    };
    try {
      // docs/cluster_formation.md: three nodes, node 1 forms the cluster.
      // exercises: deno run -A examples/kv.ts --id 1 --init --join 127.0.0.1:21002,127.0.0.1:21003
      nodes.set(1, background(ports.apply(START_1), { ...addr(21001), ...data(1) }));
      // exercises: deno run -A examples/kv.ts --id 2 --join 127.0.0.1:21001
      nodes.set(2, background(ports.apply(START_2), { ...addr(21002), ...data(2) }));
      // exercises: deno run -A examples/kv.ts --id 3 --join 127.0.0.1:21001
      nodes.set(3, background(ports.apply(START_3), { ...addr(21003), ...data(3) }));
      for (const id of [1, 2, 3]) await nodes.get(id)!.line(LISTENING, 60_000);
      await votersBecome([1, 2, 3]);

      // A waiting node, added and promoted through the admin API.
      // exercises: deno run -A examples/kv.ts --id 4
      nodes.set(4, background(ports.apply(START_4), { ...addr(21004), ...data(4) }));
      await nodes.get(4)!.line(LISTENING, 60_000);
      // exercises: curl -X POST -H 'content-type: application/json' -d '{"id": 4, "addr": "127.0.0.1:21004", "promote": true}' http://127.0.0.1:21001/cluster/learners
      assert.match(await curl(ADD_4), /"logId"/);
      await votersBecome([1, 2, 3, 4]);

      // docs/membership.md: node 4 goes back out.
      // exercises: curl -X POST -H 'content-type: application/json' -d '{"voters": [1, 2, 3]}' http://127.0.0.1:21001/cluster/membership
      assert.match(await curl(VOTERS_123), /"logId"/);
      await votersBecome([1, 2, 3]);
      await nodes.get(4)!.stop();

      // docs/read_consistency.md: a write, then the four reads.
      assert.match(await curl(PUT), /^\{"index":\d+\}$/);
      // exercises: curl -L http://127.0.0.1:21002/kv/greeting
      // exercises: curl 'http://127.0.0.1:21001/kv/greeting?read=lease'
      // exercises: curl 'http://127.0.0.1:21002/kv/greeting?read=follower'
      // exercises: curl 'http://127.0.0.1:21003/kv/greeting?read=local'
      for (const read of READS) {
        let out = await curl(read);
        // A local read may be stale for a moment: node 3 applies with the next heartbeat.
        for (let i = 0; i < 50 && read.includes("read=local") && out !== "hello"; i++) {
          await sleep(100);
          out = await curl(read);
        }
        assert.equal(out, "hello", read);
      }

      // docs/snapshots.md
      // exercises: curl -X POST -H 'content-type: application/json' -d '{}' http://127.0.0.1:21001/cluster/snapshot
      assert.match(await curl(SNAPSHOT), /"snapshotId".*"lastLogId"/);

      // docs/cluster_formation.md: node 3 loses its data; its rejoin is refused; it is
      // removed and comes back as node 5 at its address.
      await nodes.get(3)!.stop();
      dir.removeSub("node-3");
      const wiped = background(ports.apply(START_3), { ...addr(21003), ...data(3) });
      try {
        assert.equal(await wiped.exit(60_000), 1, "a refused join exits 1");
      } finally {
        await wiped.stop();
      }
      assert.match(wiped.output(), /refused to join: node 3 is already a voter/);
      // exercises: curl -X POST -H 'content-type: application/json' -d '{"voters": [1, 2]}' http://127.0.0.1:21001/cluster/membership
      assert.match(await curl(VOTERS_12), /"logId"/);
      await votersBecome([1, 2]);
      // exercises: deno run -A examples/kv.ts --id 5 --addr 127.0.0.1:21003 --join 127.0.0.1:21001
      nodes.set(5, background(ports.apply(START_5), data(5)));
      await nodes.get(5)!.line(LISTENING, 60_000);
      await votersBecome([1, 2, 5]);

      // docs/membership.md: leadership to node 2.
      // exercises: curl -X POST -H 'content-type: application/json' -d '{"to": 2}' http://127.0.0.1:21001/cluster/transfer-leader
      assert.equal(await curl(TRANSFER), '{"leader":2}');
    } finally {
      for (const node of nodes.values()) await node.stop();
      dir.remove();
    }
  },
);
