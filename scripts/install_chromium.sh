#!/usr/bin/env bash
# Installs Debian's `chromium` for the dashboard's browser test
# (tests/node/dashboard_browser_test.ts) when it is missing and this user may
# install packages (root, or passwordless sudo). Never fails the caller: when
# it cannot install, it says so and the browser test skips with that reason.
#
#   bash scripts/install_chromium.sh          (prints the browser's path when found)
set -uo pipefail

find_chromium() {
  local c
  for c in "${CHROMIUM:-}" chromium chromium-browser google-chrome-stable google-chrome; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && { command -v "$c"; return 0; }
  done
  return 1
}

if path=$(find_chromium); then
  echo "chromium: $path"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "chromium: not installed, and this user cannot install packages (not root, no sudo): the browser test will skip" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "chromium: not installed, and there is no apt-get here: the browser test will skip" >&2
  exit 0
fi

echo "chromium: installing Debian's chromium (apt-get)..." >&2
export DEBIAN_FRONTEND=noninteractive
if "${SUDO[@]}" apt-get update -qq >/dev/null 2>&1 &&
  "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 &&
  path=$(find_chromium); then
  echo "chromium: $path"
else
  echo "chromium: apt-get could not install it: the browser test will skip" >&2
fi
exit 0
