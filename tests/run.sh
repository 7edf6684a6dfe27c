#!/usr/bin/env bash
# Runs every test of vardrum: the Rust unit and integration tests (SQLite always; PostgreSQL too
# when VARDRUM_TEST_POSTGRES names a server or one answers on 127.0.0.1:5432), then the browser
# end-to-end tests in a loopback-only network namespace (tests/e2e/run.sh installs Debian's
# chromium and the npm packages it needs first).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${VARDRUM_TEST_POSTGRES:-}" ] && command -v pg_isready >/dev/null \
    && pg_isready -q -h 127.0.0.1 -p 5432; then
  export VARDRUM_TEST_POSTGRES="postgres://postgres@127.0.0.1/postgres"
fi

cargo build --workspace
cargo test --workspace
tests/e2e/run.sh
