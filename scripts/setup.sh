#!/usr/bin/env bash
# Installs the pinned toolchain (Deno and Bun from npm) and dependencies when
# node_modules is missing, and repairs Bun's binary if its postinstall was skipped.
# Sourced by scripts/test.sh and scripts/node.sh; safe to run repeatedly.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2

if [ ! -x node_modules/.bin/deno ] || [ ! -e node_modules/.bin/bun ]; then
  echo "==== installing dependencies (npm ci) ===="
  # npm ci refuses a lockfile that lacks optional platform packages the registry
  # cannot serve (npm/cli#9846); npm install honours the same lockfile.
  npm ci --no-audit --no-fund --loglevel=error ||
    npm install --no-save --no-audit --no-fund --loglevel=error || exit 1
fi

# Bun's npm package installs its binary in a postinstall script; if that was
# skipped, node_modules/.bin/bun is a placeholder. Repair it once.
if ! node_modules/.bin/bun --version >/dev/null 2>&1 && [ -f node_modules/bun/install.js ]; then
  echo "==== bun: running its postinstall (the binary was not installed) ===="
  (cd node_modules/bun && node install.js) || true
fi
