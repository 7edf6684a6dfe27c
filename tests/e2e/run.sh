#!/usr/bin/env bash
# Runs the browser tests (tests/e2e/*.test.mjs) inside a loopback-only network namespace, so no ICE candidate or request can leave the machine.
#
# Usage: tests/e2e/run.sh [test files...]   (default: every *.test.mjs here)
# Env:   VARDRUM_BIN  server binary (default: target/debug/vardrum in the repository root)
#        CHROMIUM     browser (default: /usr/bin/chromium, Debian's package; nothing is downloaded)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# Everything that needs the network happens here, before entering the namespace.
. "$here/prepare.sh"

# Make the binary's path absolute now (relative to where run.sh was called): the tests run from
# tests/e2e.
export VARDRUM_BIN="$(realpath -m "${VARDRUM_BIN:-$root/target/debug/vardrum}")"
if [ ! -x "$VARDRUM_BIN" ]; then
  echo "run.sh: no server binary at $VARDRUM_BIN (run: cargo build)" >&2
  exit 1
fi

# Test files named on the command line are relative to the caller's directory; options
# (e.g. --test-name-pattern=...) pass through to node.
args=()
for arg in "$@"; do
  if [ -e "$arg" ]; then args+=("$(realpath "$arg")"); else args+=("$arg"); fi
done
if [ "${#args[@]}" -eq 0 ]; then args=(./); fi
exec_on_loopback node --test --test-concurrency=1 "${args[@]}"
