// Senders that are not members (issue 14 §4, "a sender removed from the membership → 410"):
// a removed node's requests that would be refused anyway are refused with NotAMember and
// change nothing; the removed node logs it once per peer and keeps running; a member a
// lagging follower has not heard of yet is not refused.
import { test } from "node:test";
import assert from "node:assert/strict";
import { enc, FAST, RuntimeCluster, sleep } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { NotAMember } from "../../src/errors.ts";
import type { Logger } from "../../src/runtime/logger.ts";
import type { NodeId } from "../../src/types.ts";

const GONE = "says this node is not a member of its cluster";

function recordLogs(c: RuntimeCluster): Map<NodeId, string[]> {
  const logs = new Map<NodeId, string[]>();
  c.loggerFor = (id) => {
    const lines: string[] = [];
    logs.set(id, lines);
    const at = (level: string) => (message: string) => lines.push(`${level}: ${message}`);
    const logger: Logger = {
      debug: at("debug"),
      info: at("info"),
      warn: at("warn"),
      error: at("error"),
    };
    return logger;
  };
  return logs;
}

async function until(what: string, cond: () => boolean, timeout = 5000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

test("removed member: its pre-votes get NotAMember and change nothing; it logs that once per peer and keeps running", async () => {
  const c = new RuntimeCluster(FAST);
  const logs = recordLogs(c);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const removed = [1, 2, 3].find((id) => id !== leader)!;
    const others = [1, 2, 3].filter((id) => id !== removed);
    // The removed node misses its removal (cut off), then comes back.
    c.net.isolate(removed);
    await c.node(leader).changeMembership({ type: "remove-voters", ids: [removed] });
    await c.node(leader).clientWrite(kvSet("a", enc("1")));
    const before = others.map((id) => c.node(id).metrics.current.currentTerm);
    c.net.rejoin(removed);
    const lines = () => logs.get(removed)!.filter((l) => l.includes(GONE));
    await until("both peers to refuse", () => lines().length >= 2);
    // Its timer keeps firing: several more campaigns, all refused.
    await sleep(FAST.electionTimeoutMax! * 6);
    for (const peer of others) {
      assert.deepEqual(
        lines().filter((l) => l === `error: peer ${peer} ${GONE}`),
        [`error: peer ${peer} ${GONE}`],
        `logged once for peer ${peer}: ${lines()}`,
      );
    }
    assert.equal(lines().length, 2);
    // Nothing changed on the members: same leader, same term.
    assert.deepEqual(others.map((id) => c.node(id).metrics.current.currentTerm), before);
    assert.equal(c.node(leader).metrics.current.state, "leader");
    for (const id of others) assert.equal(c.node(id).metrics.current.currentLeader, leader);
    // The removed node is still up (not shut down): it answers metrics and is no leader.
    assert.notEqual(c.node(removed).metrics.current.state, "shutdown");
    assert.notEqual(c.node(removed).metrics.current.state, "leader");
    // A pre-vote of it, sent directly: refused with NotAMember naming it.
    const m = c.node(removed).metrics.current;
    const err = await c.node(others[0]!).handle({
      type: "pre-vote",
      term: m.currentTerm + 1,
      candidateId: removed,
      lastLogId: m.lastLogId,
      transfer: false,
      clusterId: m.membership.membership.clusterId,
    }).catch((e) => e);
    assert.ok(err instanceof NotAMember, String(err));
    assert.equal(err.nodeId, removed);
  } finally {
    await c.shutdown();
  }
});

test("removed member: a lagging follower accepts a new leader it has not heard of yet", async () => {
  const c = new RuntimeCluster(FAST);
  const logs = recordLogs(c);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const lagging = [1, 2, 3].find((id) => id !== leader)!;
    c.net.isolate(lagging);
    // 4 joins (learner, then voter) and takes over, all while `lagging` hears nothing.
    await c.startNode(4);
    await c.node(leader).addLearner(4, { addr: "" });
    await c.node(leader).changeMembership({ type: "add-voter-ids", ids: [4] });
    await c.node(leader).trigger.transferLeader(4);
    await c.node(4).metrics.wait({ timeout: 5000 }).role("leader");
    const { logId } = await c.node(4).clientWrite(kvSet("b", enc("2")));
    assert.ok(!c.node(lagging).metrics.current.membership.membership.nodes.has(4));
    c.net.rejoin(lagging);
    // It follows 4 and catches up.
    await c.node(lagging).metrics.wait({ timeout: 5000 }).appliedAtLeast(logId.index);
    assert.equal(c.node(lagging).metrics.current.currentLeader, 4);
    assert.equal(c.node(4).metrics.current.state, "leader");
    for (const [id, lines] of logs) {
      assert.deepEqual(lines.filter((l) => l.includes(GONE)), [], `node ${id} was never refused`);
    }
  } finally {
    await c.shutdown();
  }
});
