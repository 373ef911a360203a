import { test } from "node:test";
import assert from "node:assert/strict";
import { LogView } from "../../src/engine/log_view.ts";
import type { LogId } from "../../src/types.ts";

/** Log ids for consecutive entries with the given terms, from `first`. */
function ids(terms: number[], first = 1): LogId[] {
  return terms.map((term, i) => ({ term, index: first + i }));
}

/** Terms of every present entry. */
function termsOf(log: LogView): number[] {
  return log.logIds().map((id) => id.term);
}

test("engine/log_view: empty log has no entries and term 0 at index 0", () => {
  const log = new LogView();
  assert.equal(log.firstIndex(), 1);
  assert.equal(log.lastIndex(), 0);
  assert.equal(log.lastLogId(), null);
  assert.equal(log.lastTerm(), 0);
  assert.equal(log.termAt(0), 0);
  assert.equal(log.termAt(1), undefined);
  assert.equal(log.logIdAt(0), null);
  assert.deepEqual(log.logIds(), []);
  assert.equal(log.matches(null), true);
  assert.equal(log.matches({ term: 1, index: 1 }), false);
});

test("engine/log_view: append keeps term runs and answers termAt for every index", () => {
  const log = LogView.fromLogIds(ids([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]));
  assert.deepEqual(termsOf(log), [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]);
  assert.equal(log.termAt(3), 1);
  assert.equal(log.termAt(4), 4);
  assert.equal(log.termAt(7), 5);
  assert.equal(log.termAt(10), 6);
  assert.deepEqual(log.lastLogId(), { term: 6, index: 10 });
  assert.deepEqual(log.logIdAt(5), { term: 4, index: 5 });
  assert.equal(log.matches({ term: 5, index: 6 }), true);
  assert.equal(log.matches({ term: 4, index: 6 }), false);
});

test("engine/log_view: termAt past the end is undefined", () => {
  const log = LogView.fromLogIds(ids([1, 2]));
  assert.equal(log.termAt(3), undefined);
  assert.equal(log.termAt(100), undefined);
  assert.equal(log.logIdAt(3), null);
  assert.equal(log.matches({ term: 2, index: 3 }), false);
});

test("engine/log_view: append with a gap throws and leaves the log unchanged", () => {
  const log = LogView.fromLogIds(ids([1, 1]));
  assert.throws(() => log.append([{ term: 1, index: 4 }]), RangeError);
  assert.deepEqual(termsOf(log), [1, 1]);
  assert.equal(log.lastIndex(), 2);
});

test("engine/log_view: append at an existing index throws", () => {
  const log = LogView.fromLogIds(ids([1, 1]));
  assert.throws(() => log.append([{ term: 1, index: 2 }]), RangeError);
  assert.throws(() => log.append([{ term: 2, index: 1 }]), RangeError);
  assert.deepEqual(termsOf(log), [1, 1]);
});

test("engine/log_view: append with a decreasing term throws", () => {
  const log = LogView.fromLogIds(ids([1, 3]));
  assert.throws(() => log.append([{ term: 2, index: 3 }]), RangeError);
  assert.equal(log.lastIndex(), 2);
  assert.equal(log.lastTerm(), 3);
});

test("engine/log_view: an empty log after a purge continues from the purge point", () => {
  const log = new LogView({ term: 3, index: 10 });
  assert.equal(log.firstIndex(), 11);
  assert.equal(log.lastIndex(), 10);
  assert.deepEqual(log.lastLogId(), { term: 3, index: 10 });
  assert.equal(log.lastTerm(), 3);
  assert.throws(() => log.append([{ term: 3, index: 10 }]), RangeError);
  assert.throws(() => log.append([{ term: 2, index: 11 }]), RangeError);
  log.append([{ term: 3, index: 11 }, { term: 4, index: 12 }]);
  assert.deepEqual(termsOf(log), [3, 4]);
  assert.deepEqual(log.logIds()[0], { term: 3, index: 11 });
});

test("engine/log_view: termAt at the purge point is its term, below it undefined", () => {
  const log = LogView.fromLogIds(ids([2, 2, 3], 6), { term: 2, index: 5 });
  assert.equal(log.termAt(5), 2);
  assert.equal(log.termAt(4), undefined);
  assert.equal(log.termAt(1), undefined);
  assert.equal(log.termAt(0), 0);
  assert.deepEqual(log.logIdAt(5), { term: 2, index: 5 });
  assert.equal(log.logIdAt(4), null);
  assert.equal(log.matches({ term: 2, index: 5 }), true);
  assert.equal(log.matches({ term: 1, index: 5 }), false);
  assert.equal(log.matches({ term: 1, index: 3 }), false);
});

test("engine/log_view: firstIndexOfTerm and lastIndexOfTerm find each run", () => {
  const log = LogView.fromLogIds(ids([1, 1, 1, 4, 4, 5, 5, 6, 6, 6]));
  assert.equal(log.firstIndexOfTerm(1), 1);
  assert.equal(log.lastIndexOfTerm(1), 3);
  assert.equal(log.firstIndexOfTerm(4), 4);
  assert.equal(log.lastIndexOfTerm(4), 5);
  assert.equal(log.firstIndexOfTerm(5), 6);
  assert.equal(log.lastIndexOfTerm(5), 7);
  assert.equal(log.firstIndexOfTerm(6), 8);
  assert.equal(log.lastIndexOfTerm(6), 10);
});

test("engine/log_view: firstIndexOfTerm/lastIndexOfTerm of an absent term are undefined", () => {
  const log = LogView.fromLogIds(ids([1, 1, 4, 6]));
  for (const t of [0, 2, 3, 5, 7]) {
    assert.equal(log.firstIndexOfTerm(t), undefined, `first of ${t}`);
    assert.equal(log.lastIndexOfTerm(t), undefined, `last of ${t}`);
  }
  assert.equal(new LogView().lastIndexOfTerm(1), undefined);
});

test("engine/log_view: term lookups after a purge inside a run", () => {
  const log = LogView.fromLogIds(ids([1, 1, 1, 2, 2, 3]));
  log.purge({ term: 1, index: 2 });
  assert.equal(log.firstIndex(), 3);
  assert.deepEqual(termsOf(log), [1, 2, 2, 3]);
  assert.equal(log.firstIndexOfTerm(1), 3);
  assert.equal(log.lastIndexOfTerm(1), 3);
  assert.equal(log.firstIndexOfTerm(2), 4);
  assert.equal(log.lastIndexOfTerm(2), 5);
  assert.equal(log.termAt(2), 1);
  assert.equal(log.termAt(1), undefined);
});

test("engine/log_view: purge at a run boundary drops the whole run", () => {
  const log = LogView.fromLogIds(ids([1, 1, 1, 2, 2, 3]));
  log.purge({ term: 1, index: 3 });
  assert.deepEqual(log.purged(), { term: 1, index: 3 });
  assert.equal(log.firstIndex(), 4);
  assert.deepEqual(log.logIds(), ids([2, 2, 3], 4));
  assert.equal(log.termAt(3), 1);
  assert.equal(log.termAt(4), 2);
  assert.equal(log.firstIndexOfTerm(2), 4);
  assert.equal(log.lastIndexOfTerm(2), 5);
  assert.equal(log.lastIndexOfTerm(1), 3); // known only as the purge point
  assert.deepEqual(log.lastLogId(), { term: 3, index: 6 });
});

test("engine/log_view: purge exactly at the last entry empties the log at that id", () => {
  const log = LogView.fromLogIds(ids([1, 2, 2]));
  log.purge({ term: 2, index: 3 });
  assert.deepEqual(log.logIds(), []);
  assert.deepEqual(log.lastLogId(), { term: 2, index: 3 });
  assert.equal(log.lastIndex(), 3);
  assert.equal(log.firstIndex(), 4);
  assert.equal(log.termAt(3), 2);
  assert.equal(log.termAt(2), undefined);
  log.append([{ term: 5, index: 4 }]);
  assert.deepEqual(log.logIds(), [{ term: 5, index: 4 }]);
});

test("engine/log_view: purge past the end (newer snapshot) moves the log to the snapshot", () => {
  const log = LogView.fromLogIds(ids([1, 1, 2]));
  log.purge({ term: 4, index: 20 });
  assert.deepEqual(log.purged(), { term: 4, index: 20 });
  assert.equal(log.lastIndex(), 20);
  assert.deepEqual(log.lastLogId(), { term: 4, index: 20 });
  assert.deepEqual(log.logIds(), []);
  assert.equal(log.termAt(3), undefined);
  assert.equal(log.termAt(20), 4);
  assert.equal(log.lastIndexOfTerm(2), undefined);
  assert.throws(() => log.append([{ term: 4, index: 4 }]), RangeError);
  log.append([{ term: 4, index: 21 }]);
  assert.deepEqual(log.lastLogId(), { term: 4, index: 21 });
});

test("engine/log_view: purge at or below the current purge point is a no-op", () => {
  const log = LogView.fromLogIds(ids([1, 1, 2, 2, 3]));
  log.purge({ term: 2, index: 3 });
  log.purge({ term: 1, index: 2 });
  log.purge({ term: 2, index: 3 });
  assert.deepEqual(log.purged(), { term: 2, index: 3 });
  assert.deepEqual(log.logIds(), ids([2, 3], 4));
});

test("engine/log_view: successive purges through several runs stay consistent", () => {
  const terms = [1, 1, 2, 2, 2, 3, 4, 4, 4, 4];
  const log = LogView.fromLogIds(ids(terms));
  for (let k = 1; k < terms.length; k++) {
    log.purge({ term: terms[k - 1]!, index: k });
    assert.deepEqual(log.logIds(), ids(terms.slice(k), k + 1), `after purge at ${k}`);
    assert.equal(log.termAt(k), terms[k - 1], `purge point ${k}`);
  }
});

test("engine/log_view: truncate inside a run keeps the run's prefix", () => {
  const log = LogView.fromLogIds(ids([1, 1, 2, 2, 2, 3]));
  log.truncate(5);
  assert.deepEqual(termsOf(log), [1, 1, 2, 2]);
  assert.deepEqual(log.lastLogId(), { term: 2, index: 4 });
  assert.equal(log.lastIndexOfTerm(2), 4);
  assert.equal(log.firstIndexOfTerm(3), undefined);
  // A lower term may follow after truncation.
  log.append([{ term: 2, index: 5 }]);
  assert.deepEqual(termsOf(log), [1, 1, 2, 2, 2]);
});

test("engine/log_view: truncate at a run start removes the run; lower terms may follow", () => {
  const log = LogView.fromLogIds(ids([1, 1, 2, 2, 3]));
  log.truncate(3);
  assert.deepEqual(termsOf(log), [1, 1]);
  assert.equal(log.firstIndexOfTerm(2), undefined);
  assert.equal(log.lastIndexOfTerm(2), undefined);
  log.append([{ term: 1, index: 3 }]);
  assert.deepEqual(termsOf(log), [1, 1, 1]);
  assert.equal(log.lastIndexOfTerm(1), 3);
});

test("engine/log_view: truncate past the end is a no-op; below the first index throws", () => {
  const log = LogView.fromLogIds(ids([2, 2, 3], 5), { term: 2, index: 4 });
  log.truncate(8);
  log.truncate(100);
  assert.deepEqual(termsOf(log), [2, 2, 3]);
  assert.throws(() => log.truncate(4), RangeError);
  assert.throws(() => log.truncate(1), RangeError);
  assert.deepEqual(termsOf(log), [2, 2, 3]);
  log.truncate(5);
  assert.deepEqual(log.logIds(), []);
  assert.deepEqual(log.lastLogId(), { term: 2, index: 4 });
  assert.equal(log.lastIndex(), 4);
});

test("engine/log_view: truncate to empty on a blank log resets to null", () => {
  const log = LogView.fromLogIds(ids([1, 2]));
  log.truncate(1);
  assert.equal(log.lastLogId(), null);
  assert.equal(log.lastIndex(), 0);
  assert.equal(log.lastTerm(), 0);
  log.append([{ term: 1, index: 1 }]);
  assert.deepEqual(log.logIds(), [{ term: 1, index: 1 }]);
});

test("engine/log_view: logIds lists every present id in order after purge and truncate", () => {
  const log = LogView.fromLogIds(ids([1, 1, 2, 3, 3, 3, 4]));
  log.purge({ term: 1, index: 2 });
  log.truncate(6);
  assert.deepEqual(log.logIds(), [
    { term: 2, index: 3 },
    { term: 3, index: 4 },
    { term: 3, index: 5 },
  ]);
});

test("engine/log_view: fromLogIds after a purge point rejects a gap", () => {
  assert.throws(() => LogView.fromLogIds(ids([2], 7), { term: 1, index: 5 }), RangeError);
  const ok = LogView.fromLogIds(ids([2], 6), { term: 1, index: 5 });
  assert.equal(ok.firstIndex(), 6);
  assert.equal(ok.termAt(5), 1);
});

test("engine/log_view: firstNotHeld skips entries the log holds, stops at a conflict or the end", () => {
  const log = LogView.fromLogIds([
    { term: 1, index: 1 },
    { term: 1, index: 2 },
    { term: 2, index: 3 },
  ]);
  assert.equal(log.firstNotHeld([]), 0);
  assert.equal(log.firstNotHeld([{ term: 1, index: 2 }, { term: 2, index: 3 }]), 2);
  assert.equal(log.firstNotHeld([{ term: 2, index: 3 }, { term: 2, index: 4 }]), 1);
  assert.equal(log.firstNotHeld([{ term: 1, index: 2 }, { term: 3, index: 3 }]), 1);
  assert.equal(log.firstNotHeld([{ term: 3, index: 1 }]), 0);
  assert.equal(log.firstNotHeld([{ term: 3, index: 4 }]), 0);
});

test("engine/log_view: firstNotHeld counts entries at or below the purge point as held", () => {
  const log = LogView.fromLogIds([{ term: 2, index: 6 }], { term: 2, index: 5 });
  // Index 4 is gone (compacted, so committed); 5 is the purge point; 6 is present.
  assert.equal(
    log.firstNotHeld([{ term: 2, index: 4 }, { term: 2, index: 5 }, { term: 2, index: 6 }]),
    3,
  );
  assert.equal(log.firstNotHeld([{ term: 2, index: 5 }, { term: 3, index: 6 }]), 1);
});
