#!/usr/bin/env bash
# Prepares a machine for the chaos suite's network partitions (chaos/netns_topology.ts):
# network namespaces (iproute2's `ip`) and nftables (`nft`). Installs nftables with apt-get
# when it is missing and we are root; otherwise says why the partition nemesis will be
# skipped. Never fails the caller: exit 0 either way, the last line says what is possible.
set -u

say() { echo "chaos_setup: $*"; }

if ! command -v ip >/dev/null 2>&1; then
  say "no 'ip' command (iproute2): network partitions will be skipped"
  exit 0
fi
if [ "$(id -u)" != "0" ]; then
  say "not root: network namespaces cannot be made; network partitions will be skipped"
  exit 0
fi
if ! command -v nft >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing nftables (apt-get)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables) \
      >/tmp/chaos_setup_apt.log 2>&1 || say "apt-get failed (see /tmp/chaos_setup_apt.log)"
  fi
fi
if ! command -v nft >/dev/null 2>&1; then
  say "nft (nftables) is not available: network partitions will be skipped"
  exit 0
fi
probe="xraft-setup-$$"
if ip netns add "$probe" 2>/dev/null; then
  ok=1
  ip netns exec "$probe" nft add table inet xraft 2>/dev/null || ok=0
  ip netns delete "$probe" 2>/dev/null
  if [ "$ok" = 1 ]; then
    say "ready: network namespaces and nftables work"
  else
    say "nft cannot make tables in a namespace: network partitions will be skipped"
  fi
else
  say "cannot create network namespaces: network partitions will be skipped"
fi
exit 0
