#!/usr/bin/env bash
# Runs a node of the replicated key-value example (examples/kv.ts) under Deno,
# installing the toolchain first on a fresh clone. Extra arguments go to the example:
#   npm run node -- --id 2 --port 8002 --peers 1=http://127.0.0.1:8001,2=http://127.0.0.1:8002
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
bash scripts/setup.sh >&2 || exit 1
exec node_modules/.bin/deno run -A examples/kv.ts "$@"
