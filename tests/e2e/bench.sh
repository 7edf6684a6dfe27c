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
. "$here/prepare.sh"

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

args=("$@")
if [ "${#args[@]}" -eq 0 ]; then args=(--write-docs); fi
exec_on_loopback node bench-join.mjs "${args[@]}"
