/**
 * Append requests bounded in bytes. The engine plans appends by entry count
 * (`maxPayloadEntries`) and knows nothing of entry sizes; the peer sender
 * cuts each plan's entries into consecutive requests of at most
 * `maxAppendBytes` bytes as encoded (an upper bound computed from the
 * payload sizes), sent in order. Each request carries at least one entry,
 * so an entry larger than the bound goes alone: its size is bounded by
 * `maxPayloadBytes`, which `clientWrite` enforces.
 *
 * The engine tracks in-flight appends by their last index: the requests of
 * one plan are acknowledged one by one (the peer's match index moves with
 * each), and the plan counts as answered with its last.
 *
 * @module
 */

import { encodeEntry } from "../codec.ts";
import type { AppendPlan } from "../engine/commands.ts";
import type { AppendRequest } from "../messages.ts";
import type { Entry } from "../types.ts";
import { assertNever } from "./exhaustive.ts";

/**
 * Bytes an append request may take beyond its entries' payloads when it
 * carries one normal entry: the request's own fields (with a cluster id of
 * up to 64 characters, as `initialize` allows) and the entry's. A peer's
 * body limit must be at least `maxPayloadBytes` plus this, so that the
 * largest entry a client may write can always be sent.
 *
 * @example
 * ```ts
 * import { APPEND_FRAMING_BYTES } from "./append_batches.ts";
 * const maxPayloadBytes = 512 * 1024;
 * const smallestBodyLimit = maxPayloadBytes + APPEND_FRAMING_BYTES;
 * console.assert(smallestBodyLimit < 1024 * 1024);
 * ```
 */
export const APPEND_FRAMING_BYTES = 512;

/**
 * An append request's fields other than its entries, encoded, at most: the
 * envelope, term, leader, previous log id, the entries' array header,
 * commit index and round (each number at most 9 bytes in CBOR), and the
 * cluster id's text header.
 */
const _REQUEST_FIELDS = 96;
/** An entry's encoding beyond its payload: array header, tag, term, index, byte-string header. */
const _ENTRY_FIELDS = 32;

/**
 * An upper bound of the encoded size of `entry` inside an append request.
 *
 * @example
 * ```ts
 * import { entryWireSize } from "./append_batches.ts";
 * const size = entryWireSize({ term: 1, index: 1, type: "normal", data: new Uint8Array(1000) });
 * console.assert(size >= 1000 && size <= 1032);
 * ```
 */
export function entryWireSize(entry: Entry): number {
  switch (entry.type) {
    case "normal":
      return entry.data.byteLength + _ENTRY_FIELDS;
    case "blank":
      return _ENTRY_FIELDS;
    case "membership":
      // Rare, and its size depends on the addresses: measure it (one byte more than inside a
      // message, for the standalone encoding's version).
      return encodeEntry(entry).byteLength + _ENTRY_FIELDS;
    default:
      return assertNever(entry);
  }
}

/**
 * An upper bound of the encoded size of an append request of `clusterId`
 * without its entries.
 *
 * @example
 * ```ts
 * import { appendOverhead } from "./append_batches.ts";
 * console.assert(appendOverhead("kv-prod") <= 128);
 * ```
 */
export function appendOverhead(clusterId: string): number {
  // At most 3 UTF-8 bytes per UTF-16 code unit.
  return _REQUEST_FIELDS + 3 * clusterId.length;
}

/**
 * The append requests that carry `entries` (the entries `plan` names, in
 * order), each at most `maxBytes` bytes as encoded — or one entry, if that
 * entry alone is larger. Consecutive: each request's `prevLogId` is the last
 * entry of the one before. No entries: one request, a heartbeat.
 *
 * @example
 * ```ts
 * import { appendRequests } from "./append_batches.ts";
 * import type { Entry } from "../types.ts";
import { assertNever } from "./exhaustive.ts";
 *
 * const entries: Entry[] = [1, 2, 3].map((index) => ({
 *   term: 2, index, type: "normal", data: new Uint8Array(400 * 1024),
 * }));
 * const plan = {
 *   term: 2, leaderId: 1, prevLogId: null, first: 1, last: 3, leaderCommit: 0, round: 4,
 *   clusterId: "c1",
 * };
 * const requests = appendRequests(plan, entries, 1024 * 1024);
 * console.assert(requests.length === 2); // two entries, then one
 * console.assert(requests[1]!.prevLogId?.index === 2);
 * ```
 */
export function appendRequests(
  plan: AppendPlan,
  entries: readonly Entry[],
  maxBytes: number,
): AppendRequest[] {
  const budget = maxBytes - appendOverhead(plan.clusterId);
  let total = 0;
  for (const e of entries) total += entryWireSize(e);
  if (total <= budget) return [appendRequest(plan, plan.prevLogId, entries)];
  const requests: AppendRequest[] = [];
  let prev = plan.prevLogId;
  let start = 0;
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    const s = entryWireSize(entries[i]!);
    if (i > start && size + s > budget) {
      requests.push(appendRequest(plan, prev, entries.slice(start, i)));
      const last = entries[i - 1]!;
      prev = { term: last.term, index: last.index };
      start = i;
      size = 0;
    }
    size += s;
  }
  requests.push(appendRequest(plan, prev, entries.slice(start)));
  return requests;
}

function appendRequest(
  plan: AppendPlan,
  prevLogId: AppendPlan["prevLogId"],
  entries: readonly Entry[],
): AppendRequest {
  return {
    type: "append",
    term: plan.term,
    leaderId: plan.leaderId,
    prevLogId,
    entries,
    leaderCommit: plan.leaderCommit,
    round: plan.round,
    clusterId: plan.clusterId,
  };
}
