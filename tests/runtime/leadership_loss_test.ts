// A leader that loses leadership settles every pending call at once (issue 12, item 6:
// a write stayed pending for 20 s on a leader that lost quorum, until shutdown).
import { test } from "node:test";
import assert from "node:assert/strict";
import { FAST, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { ForwardToLeader, OutcomeUnknown } from "../../src/errors.ts";

test("runtime/leadership loss: pending writes and membership changes settle when the leader steps down", async () => {
  const c = new RuntimeCluster(FAST);
  try {
    const leader = await c.bootstrap([1, 2, 3]);
    const l = c.node(leader);
    await l.clientWrite(kvSet("a", "1"));
    c.net.isolate(leader);
    const started = Date.now();
    const write = l.clientWrite(kvSet("a", "2")).then(() => "ok", (e) => e);
    const change = l.changeMembership({ type: "remove-voters", ids: [leader === 1 ? 2 : 1] })
      .then(() => "ok", (e) => e);
    const pending = new Promise<string>((r) =>
      setTimeout(() => r("still pending after 5 s"), 5000)
    );
    const outcomes = await Promise.all([
      Promise.race([write, pending]),
      Promise.race([change, pending]),
    ]);
    const waited = Date.now() - started;
    for (const e of outcomes) {
      assert.ok(e instanceof OutcomeUnknown, `settled with ${e}`);
      assert.ok(e.logId.index > 1);
    }
    // Check-quorum steps the leader down within about one election timeout (the bound is
    // generous: timers on a loaded machine run late).
    assert.ok(waited < FAST.electionTimeoutMax! * 20, `settled after ${waited} ms`);
    assert.notEqual(l.metrics.current.state, "leader");
    // A write after stepping down is refused at once: it surely did not happen.
    await assert.rejects(l.clientWrite(kvSet("a", "3")), ForwardToLeader);
    c.net.heal();
    const next = await c.waitLeader();
    // The write that was in doubt is either there or not; nothing else is.
    const v = c.machines.get(next)!.get("a");
    assert.ok(v !== null && ["1", "2"].includes(new TextDecoder().decode(v)));
  } finally {
    await c.shutdown();
  }
});
