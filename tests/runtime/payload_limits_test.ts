// Size limits on client writes: a command over `maxPayloadBytes` is refused
// up front, by clientWrite and clientWriteMany alike, and nothing is written.
import { test } from "node:test";
import assert from "node:assert/strict";
import { dec, enc, FAST, RuntimeCluster } from "./_cluster.ts";
import { kvSet } from "../../kv/mod.ts";
import { PayloadTooLarge } from "../../src/errors.ts";

test("payload limits: a command over maxPayloadBytes is refused by clientWrite and clientWriteMany, changing nothing", async () => {
  const c = new RuntimeCluster({ ...FAST, maxPayloadBytes: 1024 });
  try {
    const leader = c.node(await c.bootstrap([1, 2, 3]));
    const first = await leader.clientWrite(kvSet("a", enc("1")));
    const before = leader.metrics.current.lastLogIndex;
    assert.equal(before, first.logId.index);

    const big = kvSet("big", new Uint8Array(2048));
    const alone = await leader.clientWrite(big).catch((e) => e);
    assert.ok(alone instanceof PayloadTooLarge);
    assert.equal(alone.limit, 1024);
    assert.ok(alone.size > 1024);

    // One too large among small ones: none of them is written.
    const many = await leader.clientWriteMany([kvSet("b", enc("2")), big, kvSet("c", enc("3"))])
      .catch((e) => e);
    assert.ok(many instanceof PayloadTooLarge);

    // The next write takes the very next index: nothing went into the log meanwhile.
    const next = await leader.clientWrite(kvSet("d", enc("4")));
    assert.equal(next.logId.index, before + 1);
    for (const id of [1, 2, 3]) {
      await c.node(id).metrics.wait({ timeout: 5000 }).appliedAtLeast(next.logId.index);
      const sm = c.machines.get(id)!;
      assert.equal(sm.get("b"), null, `node ${id}: b was not written`);
      assert.equal(sm.get("c"), null, `node ${id}: c was not written`);
      assert.equal(sm.get("big"), null, `node ${id}: big was not written`);
      assert.equal(dec(sm.get("d")), "4");
    }
    // A payload of exactly the limit is accepted (the limit is inclusive).
    let size = 1024 - kvSet("e", new Uint8Array(0)).byteLength;
    while (kvSet("e", new Uint8Array(size)).byteLength > 1024) size--;
    const limitSized = kvSet("e", new Uint8Array(size));
    assert.equal(limitSized.byteLength, 1024);
    const [ok] = await leader.clientWriteMany([limitSized]);
    assert.equal(ok!.logId.index, next.logId.index + 1);
  } finally {
    await c.shutdown();
  }
});
