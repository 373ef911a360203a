/**
 * A replicated key-value server: the `@x/raft/node` pieces (flags, storage,
 * HTTP(S) server, admin API, join, graceful stop) around the KV state machine
 * and routes of `@x/raft/kv`.
 *
 * ```sh
 * deno run -A examples/kv.ts          # or: bun run examples/kv.ts — the quick-start demo:
 *                                     # node 1, --init, on 127.0.0.1:21001, data in ./data/node-1
 * deno run -A examples/kv.ts --id 2 --join 127.0.0.1:21001   # a second node joins it
 * deno run -A examples/kv.ts --help   # every flag
 *
 * curl -X PUT --data-binary hello http://127.0.0.1:21001/kv/greeting   # → {"index": n}
 * curl http://127.0.0.1:21001/kv/greeting                              # → hello
 * ```
 *
 * With no flag at all and no `RAFT_*` environment variable it runs the
 * quick-start demo (`--id 1 --init`, durable storage in `./data/node-1`);
 * otherwise the flags say everything (see `parseNodeFlags` of
 * `@x/raft/node`). Routes: `/kv/*` (`kvRoutes`), `/raft/*`, `/health`,
 * `/ready`, `/cluster/*`, `/metrics`.
 *
 * @module
 */

import { runNode } from "../node/mod.ts";
import { kvRoutes, MemoryStateMachine } from "../kv/mod.ts";

/** What `--help` prints before the flags. */
const ABOUT = `usage: kv.ts [flags]

A node of a replicated key-value store (@x/raft): PUT/DELETE/GET /kv/:key,
POST /kv/:key/cas, GET /metrics, the admin API on /health, /ready, /cluster/*.

With no flags and no RAFT_* environment variable: the quick-start demo, the same
as --id 1 --init (a one-node cluster on 127.0.0.1:21001, data in ./data/node-1),
which is what \`deno task node\` and \`npm run node\` run.`;

if (import.meta.main) {
  await runNode({
    // Durable storage gives a snapshot store: restore from it, keep snapshots in it.
    stateMachine: (snapshots) =>
      snapshots === null ? new MemoryStateMachine() : MemoryStateMachine.open(snapshots),
    routes: (raft, store, flags) =>
      kvRoutes(raft, store, flags.clientToken !== undefined ? { token: flags.clientToken } : {}),
  }, { name: "kv.ts", about: ABOUT, whenEmpty: ["--init"] });
}
