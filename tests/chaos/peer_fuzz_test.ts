/**
 * The peer-RPC fuzz (issue 15) in CI: 3 node processes with a secret on the
 * runtime running the test, 2,000 malformed requests (half without the
 * secret); no 5xx, no crash, nothing unauthenticated accepted or applied,
 * and the cluster still commits. `chaos/run.ts --mode fuzz` runs 10,000+.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runPeerFuzzRun } from "../../chaos/peer_fuzz_run.ts";

const ROOT = dirname(dirname(dirname(fileURLToPath(import.meta.url))));
const RUNTIME = "Bun" in globalThis ? "bun" : "deno";

test(`peer-RPC fuzz (${RUNTIME}): 2,000 malformed requests, no 5xx, no crash, still commits`, {
  timeout: 90_000,
}, async () => {
  const r = await runPeerFuzzRun({
    root: ROOT,
    runtime: RUNTIME,
    nodes: 3,
    requests: 2000,
    seed: 15_101,
  });
  console.log(r.summary);
  assert.deepEqual(r.anomalies, [], r.summary);
  assert.match(r.summary, /requests=2000 /);
  assert.match(r.summary, /401:\d+/, "requests without the secret were refused with 401");
  assert.match(r.summary, /400:\d+/, "malformed bodies were refused with 400");
});
