#!/usr/bin/env bash
# Runs a node of the replicated key-value example (examples/kv.ts) under Deno,
# installing the toolchain first on a fresh clone. With no arguments: the
# single-node demo on http://127.0.0.1:8001 (`--init`, a cluster of one you can
# write to at once). Otherwise the arguments go to the example as they are
# (`--help` lists the flags); a node joining a cluster is started without --init:
#   npm run node -- --id 2 --port 8002 --peers 1=http://127.0.0.1:8001,2=http://127.0.0.1:8002
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
bash scripts/setup.sh >&2 || exit 1
if [ "$#" -eq 0 ]; then set -- --init; fi
exec node_modules/.bin/deno run -A examples/kv.ts "$@"
