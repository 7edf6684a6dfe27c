#!/usr/bin/env bash
# End-to-end check of the Janus setup, reproducibly: fresh loopback-only network
# namespace (netns.sh) -> Janus (run-janus.sh) -> probe.cjs (Janus WebSocket API
# + headless Chromium doing real WebRTC: 2 publishers, 1 multi-feed subscriber,
# keepalives, errors, teardown). Writes the message capture and Janus' log.
#
#   sudo loadtest/janus/probe.sh [CAPTURE.jsonl] [JANUS.log]
#
# Needs: janus, node, chromium (Debian packages), and the npm packages ws +
# playwright-core, installed on first use into $PROBE_NODE_DIR (default
# /tmp/janus-probe; playwright-core drives the system /usr/bin/chromium and
# downloads no browser). PROBE_SECONDS / PROBE_SIMULCAST / PROBE_NO_TRICKLE are passed through.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
capture="${1:-/tmp/janus-capture.jsonl}"
janus_log="${2:-/tmp/janus-probe.log}"
node_dir="${PROBE_NODE_DIR:-/tmp/janus-probe}"

if [ "${1:-}" = "--inside" ]; then
    # Second stage, inside the namespace.
    capture="$2"; janus_log="$3"
    ready="$(mktemp)"
    "$here/run-janus.sh" >"$ready" 2>"$janus_log" &
    jpid=$!
    for _ in $(seq 200); do
        grep -q '^janus ready' "$ready" && break
        kill -0 "$jpid" 2>/dev/null || { echo "janus exited early, see $janus_log" >&2; exit 1; }
        sleep 0.1
    done
    cat "$ready"
    rc=0
    NODE_PATH="$node_dir/node_modules" timeout 180 node "$here/probe.cjs" "$capture" || rc=$?
    kill -INT "$jpid"; wait "$jpid" || true
    rm -f "$ready"
    exit "$rc"
fi

command -v janus >/dev/null || { echo "apt-get install -y janus" >&2; exit 1; }
command -v node >/dev/null || { echo "node not found" >&2; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "apt-get install -y chromium" >&2; exit 1; }
if [ ! -d "$node_dir/node_modules/ws" ] || [ ! -d "$node_dir/node_modules/playwright-core" ]; then
    mkdir -p "$node_dir"
    npm install --silent --no-audit --no-fund --prefix "$node_dir" ws playwright-core >&2
fi

exec unshare -n "$here/netns.sh" "$here/probe.sh" --inside "$capture" "$janus_log"
