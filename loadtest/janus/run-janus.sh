#!/usr/bin/env bash
# Start Janus (Debian package `janus`, 1.1.x) in the foreground with the
# minimal config folder next to this script: VideoRoom plugin + WebSocket
# transport on ws://127.0.0.1:8188 only.
#
# Meant to be run inside the namespace made by netns.sh, and backgrounded by a
# harness:
#
#   unshare -n loadtest/janus/netns.sh bash -c 'loadtest/janus/run-janus.sh & ...'
#
# Contract for a harness:
#   * this script execs janus, so its PID *is* Janus' PID (measure CPU/RSS on it,
#     stop it with SIGINT or SIGTERM on that PID);
#   * stdout carries exactly one line, once the WebSocket port accepts TCP:
#         janus ready at ws://127.0.0.1:8188 pid=<PID>
#     Janus' own log goes to stderr (or to $JANUS_LOG_FILE if set);
#   * if Janus has not opened the port within $JANUS_READY_TIMEOUT seconds
#     (default 20) a line "janus NOT ready ..." is printed to stderr instead;
#   * exit status is Janus' own (non-zero on a bad config, port in use, ...).
#
# Environment:
#   JANUS_BIN            janus binary (default: janus from PATH)
#   JANUS_DEBUG_LEVEL    0-7, overrides the config's debug_level (default: config, 2)
#   JANUS_LOG_FILE       write Janus' log to this file instead of stderr
#   JANUS_READY_TIMEOUT  seconds to wait for the port (default 20)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
confdir="$here/config"
janus_bin="${JANUS_BIN:-janus}"
port=8188
host=127.0.0.1
timeout="${JANUS_READY_TIMEOUT:-20}"

if ! command -v "$janus_bin" >/dev/null 2>&1; then
    echo "run-janus.sh: '$janus_bin' not found: apt-get install -y janus" >&2
    exit 127
fi

# Debian installs the plugins under /usr/lib/<multiarch>/janus; the config
# names the amd64 folder. On another architecture, use a rewritten copy.
libdir=""
for d in /usr/lib/*/janus /usr/lib/janus /usr/local/lib/janus /opt/janus/lib/janus; do
    if [ -f "$d/plugins/libjanus_videoroom.so" ] && [ -f "$d/transports/libjanus_websockets.so" ]; then
        libdir="$d"; break
    fi
done
if [ -z "$libdir" ]; then
    echo "run-janus.sh: cannot find libjanus_videoroom.so / libjanus_websockets.so (is the janus package installed?)" >&2
    exit 1
fi
if [ "$libdir" != "/usr/lib/x86_64-linux-gnu/janus" ]; then
    tmp="$(mktemp -d /tmp/janus-config.XXXXXX)"
    cp "$confdir"/*.jcfg "$tmp"/
    sed -i "s#/usr/lib/x86_64-linux-gnu/janus#$libdir#g" "$tmp/janus.jcfg"
    confdir="$tmp"
fi

# Refuse to start if something already listens on the port: the readiness
# probe below would otherwise report that other server as Janus.
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
    echo "run-janus.sh: $host:$port is already in use (another Janus? run inside 'unshare -n netns.sh')" >&2
    exit 1
fi

args=(-F "$confdir" -C "$confdir/janus.jcfg")
if [ -n "${JANUS_DEBUG_LEVEL:-}" ]; then
    args+=(-d "$JANUS_DEBUG_LEVEL")
fi
if [ -n "${JANUS_LOG_FILE:-}" ]; then
    args+=(-N -L "$JANUS_LOG_FILE")
fi

# Readiness probe: a background subshell polls the port while this process
# becomes Janus via exec (same PID). Double fork so Janus never has to reap it.
janus_pid=$$
( (
    deadline=$(( $(date +%s) + timeout ))
    while kill -0 "$janus_pid" 2>/dev/null; do
        if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
            echo "janus ready at ws://$host:$port pid=$janus_pid"
            exit 0
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "janus NOT ready at ws://$host:$port after ${timeout}s (pid=$janus_pid)" >&2
            exit 1
        fi
        sleep 0.1
    done
) & )

exec "$janus_bin" "${args[@]}" >&2
