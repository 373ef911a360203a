/**
 * Micro-benchmark of the codec's hot path: an AppendRequest of 300 entries
 * with 16-byte payloads, encoded and decoded in a loop.
 *
 *   deno run bench/codec_bench.ts
 *   bun bench/codec_bench.ts
 *
 * @module
 */

import { decodeMessage, encodeMessage } from "../src/codec.ts";
import type { AppendRequest } from "../src/messages.ts";
import type { Entry } from "../src/types.ts";

const ENTRIES = 300;
const PAYLOAD = 16;
const ROUNDS = 5;
const MIN_MS = 1000;

const entries: Entry[] = [];
for (let i = 0; i < ENTRIES; i++) {
  const data = new Uint8Array(PAYLOAD);
  for (let j = 0; j < PAYLOAD; j++) data[j] = (i * 31 + j) & 0xff;
  entries.push({ term: 7, index: 1_000_001 + i, type: "normal", data });
}
const request: AppendRequest = {
  type: "append",
  term: 7,
  leaderId: 1,
  prevLogId: { term: 7, index: 1_000_000 },
  entries,
  leaderCommit: 999_990,
  round: 12345,
  clusterId: "5f2c9a01d4e8b7c6a3f0e1d2c3b4a596",
};
const encoded = encodeMessage(request);

let sink = 0;

function measure(name: string, op: () => number): void {
  for (let i = 0; i < 2000; i++) sink += op(); // warm up
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < MIN_MS / ROUNDS) {
      for (let i = 0; i < 100; i++) sink += op();
      n += 100;
      elapsed = performance.now() - start;
    }
    best = Math.max(best, (n * 1000) / elapsed);
  }
  const perEntry = Math.round(best * ENTRIES).toLocaleString("en-US");
  console.log(
    `${name.padEnd(8)} ${Math.round(best).toLocaleString("en-US").padStart(8)} ops/s` +
      `  (${perEntry} entries/s)`,
  );
}

const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "unknown";
console.log(
  `codec bench on ${runtime}: AppendRequest, ${ENTRIES} entries x ${PAYLOAD} B payload, ` +
    `${encoded.length} bytes encoded`,
);
measure("encode", () => encodeMessage(request).length);
measure("decode", () => (decodeMessage(encoded) as AppendRequest).entries.length);
measure("roundtrip", () => (decodeMessage(encodeMessage(request)) as AppendRequest).round);
if (sink === -1) console.log(sink);
