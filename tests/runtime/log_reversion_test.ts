// A follower whose log went backwards (its data wiped): stuck and reported by default,
// repaired by the leader with allowLogReversion (issue 17, item 9).
import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, FAST, RuntimeCluster, sleep } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import type { Logger } from "../../src/runtime/logger.ts";
import type { NodeId } from "../../src/types.ts";

interface Warning {
  readonly node: NodeId;
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

function capture(into: Warning[]): (id: NodeId) => Logger {
  return (node) => ({
    debug() {},
    info() {},
    warn: (message, fields) => into.push({ node, message, fields }),
    error() {},
  });
}

/** Three nodes with a few writes; then a follower's data is wiped and it restarts empty. */
async function wipeAFollower(c: RuntimeCluster): Promise<{ leader: NodeId; wiped: NodeId }> {
  const leader = await c.bootstrap([1, 2, 3]);
  for (let i = 0; i < 5; i++) await c.node(leader).clientWrite(kvSet(`k${i}`, `v${i}`));
  const wiped = [1, 2, 3].find((id) => id !== leader)!;
  const last = c.node(leader).metrics.current.lastLogIndex;
  await c.node(wiped).metrics.wait({ timeout: 5000 }).appliedAtLeast(last);
  await c.stop(wiped);
  await c.startNode(wiped); // fresh stores: everything it had is gone
  return { leader, wiped };
}

test("runtime/log reversion: by default a wiped follower stays stuck, and the leader says so once", async () => {
  const warnings: Warning[] = [];
  const c = new RuntimeCluster(FAST);
  c.loggerFor = capture(warnings);
  try {
    const { leader, wiped } = await wipeAFollower(c);
    await c.node(leader).clientWrite(kvSet("after", "x"));
    for (let i = 0; i < 200 && c.node(leader).counters().logReversions === 0; i++) await sleep(5);
    await sleep(FAST.heartbeatInterval! * 5);
    assert.equal(c.node(leader).counters().logReversions, 1, "counted once");
    const reported = warnings.filter((w) => /log went backwards/.test(w.message));
    assert.equal(reported.length, 1, "logged once, not at every heartbeat");
    assert.equal(reported[0]!.node, leader);
    assert.equal(reported[0]!.fields?.peer, wiped);
    assert.equal(reported[0]!.fields?.reset, false);
    assert.match(reported[0]!.message, /allowLogReversion/);
    assert.equal(c.node(wiped).metrics.current.lastLogIndex, 0, "not repaired");
  } finally {
    await c.shutdown();
  }
});

test("runtime/log reversion: with allowLogReversion the leader repairs a wiped follower", async () => {
  const warnings: Warning[] = [];
  const c = new RuntimeCluster({ ...FAST, allowLogReversion: true });
  c.loggerFor = capture(warnings);
  try {
    const { leader, wiped } = await wipeAFollower(c);
    const r = await c.node(leader).clientWrite(kvSet("after", "x"));
    await c.node(wiped).metrics.wait({ timeout: 5000 }).appliedAtLeast(r.logId.index);
    const sm = c.machines.get(wiped)!;
    assert.equal(dec(sm.get("k0")), "v0");
    assert.equal(dec(sm.get("after")), "x");
    assert.ok(c.node(leader).counters().logReversions >= 1);
    const reported = warnings.filter((w) => /log went backwards/.test(w.message));
    assert.ok(reported.length >= 1);
    assert.equal(reported[0]!.fields?.reset, true);
    assert.equal(reported[0]!.fields?.peer, wiped);
    // It takes part again: a write is acknowledged with it.
    await c.node(leader).clientWrite(enc("z"));
  } finally {
    await c.shutdown();
  }
});
