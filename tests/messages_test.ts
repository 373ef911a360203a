import { test } from "node:test";
import assert from "node:assert/strict";
import { type RaftRequest, REQUEST_TYPES, type RequestType } from "../src/messages.ts";
import { decodeMessage, encodeMessage } from "../src/codec.ts";
import { EMPTY_MEMBERSHIP } from "../src/types.ts";

/** One request of each type: a key per type, no other (the compiler checks both ways). */
const SAMPLES: { readonly [T in RequestType]: RaftRequest & { readonly type: T } } = {
  "append": {
    type: "append",
    clusterId: "c1",
    term: 2,
    leaderId: 1,
    prevLogId: { term: 1, index: 4 },
    entries: [],
    leaderCommit: 4,
    round: 7,
  },
  "vote": {
    type: "vote",
    clusterId: "c1",
    term: 3,
    candidateId: 2,
    lastLogId: { term: 2, index: 5 },
    transfer: false,
  },
  "pre-vote": {
    type: "pre-vote",
    clusterId: "c1",
    term: 3,
    candidateId: 2,
    lastLogId: null,
    transfer: false,
  },
  "timeout-now": { type: "timeout-now", clusterId: "c1", term: 3, leaderId: 1 },
  "install-snapshot": {
    type: "install-snapshot",
    clusterId: "c1",
    term: 2,
    leaderId: 1,
    meta: {
      lastLogId: { term: 2, index: 9 },
      lastMembership: { logId: null, membership: EMPTY_MEMBERSHIP },
      snapshotId: "s-9",
    },
  },
  "read-index": { type: "read-index", clusterId: "c1", term: 3, readerId: 2 },
};

test("messages: REQUEST_TYPES lists every request type once, frozen", () => {
  assert.deepEqual(REQUEST_TYPES, [
    "append",
    "vote",
    "pre-vote",
    "timeout-now",
    "install-snapshot",
    "read-index",
  ]);
  assert.equal(new Set(REQUEST_TYPES).size, REQUEST_TYPES.length);
  assert.deepEqual([...REQUEST_TYPES].sort(), Object.keys(SAMPLES).sort());
  assert.ok(Object.isFrozen(REQUEST_TYPES));
  assert.throws(() => (REQUEST_TYPES as RequestType[]).push("append"), TypeError);
});

test("messages: every request type goes over the wire as itself", () => {
  for (const type of REQUEST_TYPES) {
    const request = SAMPLES[type];
    assert.equal(request.type, type);
    assert.deepEqual(decodeMessage(encodeMessage(request)), request, type);
  }
});
