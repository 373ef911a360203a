import { test } from "node:test";
import assert from "node:assert/strict";
import { InvalidArgument } from "../src/errors.ts";
import { type Clock, ManualClock, MAX_TIMER_DELAY, SystemClock } from "../src/clock.ts";

test("clock: ManualClock starts at the given time and moves only when advanced", () => {
  assert.equal(new ManualClock().now(), 0);
  const clock = new ManualClock(1000);
  assert.equal(clock.now(), 1000);
  assert.equal(clock.now(), 1000);
  clock.advance(25);
  assert.equal(clock.now(), 1025);
  clock.advance(0);
  assert.equal(clock.now(), 1025);
});

test("clock: ManualClock fires due timers in time order, then insertion order", () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  clock.setTimer(30, () => fired.push("c@30"));
  clock.setTimer(10, () => fired.push("a@10"));
  clock.setTimer(20, () => fired.push("b1@20"));
  clock.setTimer(20, () => fired.push("b2@20"));
  clock.setTimer(10, () => fired.push("a2@10"));
  clock.setTimer(20, () => fired.push("b3@20"));
  clock.advance(25);
  assert.deepEqual(fired, ["a@10", "a2@10", "b1@20", "b2@20", "b3@20"]);
  assert.equal(clock.pending, 1);
  clock.advance(5);
  assert.deepEqual(fired.at(-1), "c@30");
  assert.equal(clock.pending, 0);
});

test("clock: ManualClock sets now() to each timer's due time while it fires", () => {
  const clock = new ManualClock(100);
  const at: number[] = [];
  for (const d of [5, 1, 3]) clock.setTimer(d, () => at.push(clock.now()));
  clock.advance(10);
  assert.deepEqual(at, [101, 103, 105]);
  assert.equal(clock.now(), 110);
});

test("clock: ManualClock fires a timer exactly at its due time, not before", () => {
  const clock = new ManualClock();
  let fired = 0;
  clock.setTimer(10, () => fired++);
  clock.advance(9);
  assert.equal(fired, 0);
  clock.advance(1);
  assert.equal(fired, 1);
  clock.advance(100);
  assert.equal(fired, 1, "fires once only");
});

test("clock: ManualClock never fires a cleared timer", () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  const a = clock.setTimer(10, () => fired.push("a"));
  const b = clock.setTimer(10, () => fired.push("b"));
  clock.setTimer(20, () => fired.push("c"));
  assert.equal(clock.pending, 3);
  clock.clearTimer(a);
  assert.equal(a.active, false);
  assert.equal(b.active, true);
  assert.equal(clock.pending, 2);
  clock.clearTimer(a); // twice is harmless
  assert.equal(clock.pending, 2);
  clock.advance(100);
  assert.deepEqual(fired, ["b", "c"]);
  assert.equal(b.active, false);
  clock.clearTimer(b); // after firing is harmless
  assert.equal(clock.pending, 0);
});

test("clock: ManualClock lets a firing timer clear a later one due at the same time", () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  let later = clock.setTimer(10, () => fired.push("never"));
  clock.setTimer(5, () => {
    fired.push("first");
    clock.clearTimer(later);
  });
  clock.clearTimer(later);
  later = clock.setTimer(5, () => fired.push("second"));
  clock.advance(5);
  assert.deepEqual(fired, ["first"]);
  assert.equal(clock.pending, 0);
});

test("clock: ManualClock fires timers scheduled by a firing timer within the same advance", () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  clock.setTimer(10, () => {
    fired.push(`outer@${clock.now()}`);
    clock.setTimer(0, () => fired.push(`zero@${clock.now()}`));
    clock.setTimer(5, () => {
      fired.push(`inner@${clock.now()}`);
      clock.setTimer(5, () => fired.push(`innermost@${clock.now()}`));
    });
    clock.setTimer(50, () => fired.push(`late@${clock.now()}`));
  });
  clock.setTimer(12, () => fired.push(`other@${clock.now()}`));
  clock.advance(20);
  assert.deepEqual(fired, ["outer@10", "zero@10", "other@12", "inner@15", "innermost@20"]);
  assert.equal(clock.now(), 20);
  assert.equal(clock.pending, 1);
  assert.equal(clock.nextDue(), 60);
});

test("clock: a zero-delay timer scheduled while firing runs after timers already due then", () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  clock.setTimer(10, () => {
    fired.push("a");
    clock.setTimer(0, () => fired.push("c"));
  });
  clock.setTimer(10, () => fired.push("b"));
  clock.advance(10);
  assert.deepEqual(fired, ["a", "b", "c"]);
});

test("clock: ManualClock.runNext jumps to the next timer", () => {
  const clock = new ManualClock();
  const fired: number[] = [];
  assert.equal(clock.runNext(), false);
  assert.equal(clock.now(), 0);
  clock.setTimer(40, () => fired.push(40));
  const cleared = clock.setTimer(20, () => fired.push(20));
  clock.setTimer(30, () => fired.push(30));
  clock.clearTimer(cleared);
  assert.equal(clock.nextDue(), 30);
  assert.equal(clock.runNext(), true);
  assert.equal(clock.now(), 30);
  assert.deepEqual(fired, [30]);
  assert.equal(clock.runNext(), true);
  assert.equal(clock.now(), 40);
  assert.equal(clock.runNext(), false);
  assert.equal(clock.nextDue(), null);
  assert.deepEqual(fired, [30, 40]);
});

test("clock: ManualClock.runNext does not move time backwards for an overdue timer", () => {
  const clock = new ManualClock();
  clock.setTimer(-5, () => {}); // negative delay counts as 0
  assert.equal(clock.nextDue(), 0);
  clock.advance(0);
  assert.equal(clock.pending, 0);
  clock.advance(10);
  clock.setTimer(0, () => {});
  assert.equal(clock.runNext(), true);
  assert.equal(clock.now(), 10);
});

test("clock: ManualClock.pending counts live timers", () => {
  const clock = new ManualClock();
  const handles = Array.from({ length: 10 }, (_, i) => clock.setTimer(i, () => {}));
  assert.equal(clock.pending, 10);
  for (const h of handles.slice(0, 4)) clock.clearTimer(h);
  assert.equal(clock.pending, 6);
  clock.advance(5);
  assert.equal(clock.pending, 4);
  clock.advance(100);
  assert.equal(clock.pending, 0);
});

test("clock: ManualClock keeps order through many timers and clears (heap and compaction)", () => {
  const clock = new ManualClock();
  const expected: [number, number][] = [];
  const fired: [number, number][] = [];
  let x = 1;
  const handles = [];
  for (let i = 0; i < 2000; i++) {
    x = (x * 48271) % 2147483647; // deterministic pseudo-random delays
    const due = x % 500;
    const h = clock.setTimer(due, () => fired.push([due, i]));
    handles.push({ h, due, i });
  }
  for (const { h, due, i } of handles) {
    if (i % 3 === 0) clock.clearTimer(h);
    else expected.push([due, i]);
  }
  expected.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  assert.equal(clock.pending, expected.length);
  clock.advance(1000);
  assert.deepEqual(fired, expected);
});

test("clock: ManualClock ignores handles from another clock", () => {
  const a = new ManualClock();
  const b = new ManualClock();
  let fired = false;
  const h = a.setTimer(1, () => fired = true);
  b.clearTimer(h);
  new SystemClock().clearTimer(h);
  a.advance(1);
  assert.ok(fired);
});

test("clock: ManualClock rejects bad delays and advances", () => {
  const clock = new ManualClock();
  assert.throws(() => clock.setTimer(NaN, () => {}), InvalidArgument);
  assert.throws(() => clock.setTimer(Infinity, () => {}), InvalidArgument);
  assert.throws(() => clock.setTimer(MAX_TIMER_DELAY + 1, () => {}), InvalidArgument);
  assert.doesNotThrow(() => clock.setTimer(MAX_TIMER_DELAY, () => {}));
  assert.throws(() => clock.advance(-1), InvalidArgument);
  assert.throws(() => clock.advance(NaN), InvalidArgument);
  assert.throws(() => new ManualClock(NaN), InvalidArgument);
});

test("clock: ManualClock forbids advancing from inside a timer", () => {
  const clock = new ManualClock();
  let error: unknown;
  clock.setTimer(1, () => {
    try {
      clock.advance(1);
    } catch (e) {
      error = e;
    }
  });
  clock.advance(5);
  assert.ok(error instanceof Error);
  assert.equal(clock.now(), 5);
});

test("clock: a throwing timer stops advance at its due time and leaves later timers pending", () => {
  const clock = new ManualClock();
  const fired: string[] = [];
  clock.setTimer(10, () => {
    throw new Error("boom");
  });
  clock.setTimer(20, () => fired.push("later"));
  assert.throws(() => clock.advance(30), /boom/);
  assert.equal(clock.now(), 10);
  assert.equal(clock.pending, 1);
  clock.advance(20); // usable again
  assert.deepEqual(fired, ["later"]);
  assert.equal(clock.now(), 30);
});

test("clock: both clocks satisfy the Clock interface", () => {
  const clocks: Clock[] = [new ManualClock(), new SystemClock()];
  for (const c of clocks) {
    const h = c.setTimer(1000, () => {
      throw new Error("must not fire");
    });
    assert.equal(h.active, true);
    c.clearTimer(h);
    assert.equal(h.active, false);
  }
});

test("clock: SystemClock is monotonic and fires its timers", async () => {
  const clock = new SystemClock();
  const t0 = clock.now();
  assert.equal(typeof t0, "number");
  let last = t0;
  for (let i = 0; i < 1000; i++) {
    const t = clock.now();
    assert.ok(t >= last);
    last = t;
  }
  const order: string[] = [];
  const cleared = clock.setTimer(1, () => order.push("cleared"));
  const handle = await new Promise<ReturnType<Clock["setTimer"]>>((resolve) => {
    const h = clock.setTimer(5, () => {
      order.push("fired");
      resolve(h);
    });
    clock.clearTimer(cleared);
  });
  assert.deepEqual(order, ["fired"]);
  assert.equal(handle.active, false);
  assert.ok(clock.now() >= t0);
  clock.clearTimer(handle); // after firing: harmless
  assert.throws(() => clock.setTimer(NaN, () => {}), InvalidArgument);
  assert.throws(() => clock.setTimer(MAX_TIMER_DELAY + 1, () => {}), InvalidArgument);
});
