#!/usr/bin/env bash
# Runs a node of the replicated key-value example (examples/kv.ts) under Deno,
# installing the toolchain first on a fresh clone. With no arguments: the
# quick-start demo, node 1 forming a cluster of its own (--init) on
# http://127.0.0.1:21001 with its data in ./data/node-1. Otherwise the
# arguments go to the example as they are (`--help` lists the flags), e.g. a
# second node joining the first:
#   npm run node -- --id 2 --join 127.0.0.1:21001
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
bash scripts/setup.sh >&2 || exit 1
if [ "$#" -eq 0 ]; then set -- --init; fi
# V8's young generation capped at 2 MB per semi-space: ~40-50 MB less RSS under load at the same
# speed (bench/RESULTS.md, "A Deno node's young generation"; docs/deploying.md).
exec node_modules/.bin/deno run -A --v8-flags=--max-semi-space-size=2 examples/kv.ts "$@"
