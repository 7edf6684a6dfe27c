#!/usr/bin/env bash
# Runs the join-time benchmark (tests/e2e/bench-join.mjs) against a release build, inside a loopback-only network namespace, and writes the result into docs/benchmarks.md.
#
# Usage: tests/e2e/bench.sh [bench-join.mjs options...]   (default: --write-docs)
# Env:   VARDRUM_BIN  server binary (default: target/release/vardrum, built here first)
#        CHROMIUM     browser (default: /usr/bin/chromium, Debian's package; nothing is downloaded)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# Everything that needs the network happens here, before entering the namespace.
chromium_bin="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
  if [ "$chromium_bin" = /usr/bin/chromium ] && [ "$(id -u)" -eq 0 ]; then
    echo "bench.sh: installing Debian's chromium" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
  else
    echo "bench.sh: no browser at $chromium_bin (install Debian's chromium: apt-get install chromium)" >&2
    exit 1
  fi
fi
if [ ! -d "$here/node_modules" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

if [ -z "${VARDRUM_BIN:-}" ]; then
  (cd "$root" && cargo build --release)
  export VARDRUM_BIN="$root/target/release/vardrum"
else
  # Relative to where bench.sh was called; the benchmark runs from tests/e2e.
  export VARDRUM_BIN="$(realpath -m "$VARDRUM_BIN")"
fi
if [ ! -x "$VARDRUM_BIN" ]; then
  echo "bench.sh: no server binary at $VARDRUM_BIN" >&2
  exit 1
fi
export CHROMIUM="$chromium_bin"

# A new network namespace has only `lo`, and it starts down. Root can unshare directly; others
# need a user namespace too (-r maps them to root inside it).
unshare_args=(-n)
if [ "$(id -u)" -ne 0 ]; then unshare_args=(-r -n); fi

args=("$@")
if [ "${#args[@]}" -eq 0 ]; then args=(--write-docs); fi
exec unshare "${unshare_args[@]}" bash -c '
  set -euo pipefail
  ip link set lo up
  cd "$0"
  exec node bench-join.mjs "$@"
' "$here" "${args[@]}"
