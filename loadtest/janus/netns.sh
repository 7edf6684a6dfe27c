#!/usr/bin/env bash
# Prepare a FRESH, loopback-only network namespace for Janus and its clients,
# then exec the given command inside it.
#
#   unshare -n loadtest/janus/netns.sh CMD [ARGS...]
#   (as root; e.g. unshare -n loadtest/janus/netns.sh loadtest/janus/run-janus.sh)
#
# What it does, and why:
#   * brings `lo` up (a new namespace starts with lo DOWN);
#   * Janus (libnice) never gathers ICE candidates on an interface flagged
#     LOOPBACK, so it would offer no candidate at all on a machine that only
#     has `lo`. We add a veth pair (both ends stay in this namespace, nothing
#     leaves it) and put 127.0.0.1/32 on one end: Janus then gathers a host
#     candidate 127.0.0.1 "on" that interface, while the kernel still
#     delivers packets to 127.0.0.1 over `lo` (local routes win);
#   * disables IPv6 in the namespace so no ::1 / link-local fe80:: addresses
#     appear on the veth ends (Janus' config also has ipv6 = false).
#
# Safety: it refuses to run unless the namespace looks freshly created (only
# `lo`, and it is down), so it can never reconfigure the machine's real network.
#
# Environment:
#   JANUS_VETH   name of the veth end carrying 127.0.0.1 (default: vjanus0;
#                its peer is ${JANUS_VETH}p). Must match config/janus.jcfg's
#                ice_enforce_list if you enforce by interface name rather than IP.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: unshare -n $0 CMD [ARGS...]" >&2
    exit 2
fi

veth="${JANUS_VETH:-vjanus0}"
peer="${veth}p"

links="$(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//')"
if [ "$links" != "lo" ] || ip -o link show lo | grep -q 'state UP\|<[^>]*,UP[,>]'; then
    echo "netns.sh: refusing to run: this is not a fresh network namespace" >&2
    echo "netns.sh: (found links: $(echo $links)); start it as: unshare -n $0 CMD..." >&2
    exit 1
fi

ip link set lo up
ip link add "$veth" type veth peer name "$peer"
sysctl -q -w net.ipv6.conf.all.disable_ipv6=1
sysctl -q -w net.ipv6.conf.default.disable_ipv6=1
sysctl -q -w "net.ipv6.conf.$veth.disable_ipv6=1"
sysctl -q -w "net.ipv6.conf.$peer.disable_ipv6=1"
ip addr add 127.0.0.1/32 dev "$veth"
ip link set "$veth" up
ip link set "$peer" up

exec "$@"
