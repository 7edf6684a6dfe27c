# Sourced by run.sh and bench.sh (needs $here = tests/e2e): installs Debian's chromium and the npm packages while the network is still there, exports CHROMIUM, and defines exec_on_loopback.

script="$(basename "$0")"

# install_debian PACKAGE WHAT: installs a Debian package as root, or says what is missing.
install_debian() {
  if [ "$(id -u)" -eq 0 ]; then
    echo "$script: installing Debian's $1" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y "$1"
  else
    echo "$script: $2 (install Debian's $1: apt-get install $1)" >&2
    exit 1
  fi
}

chromium_bin="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium_bin" ]; then
  if [ "$chromium_bin" = /usr/bin/chromium ]; then
    install_debian chromium "no browser at $chromium_bin"
  else
    echo "$script: no browser at $chromium_bin" >&2
    exit 1
  fi
fi
export CHROMIUM="$chromium_bin"
# nft cuts the namespace's network for the outage test.
command -v nft >/dev/null || install_debian nftables "nft is missing"
if [ ! -d "$here/node_modules" ]; then
  (cd "$here" && npm ci --no-audit --no-fund)
fi

# Replaces the shell with COMMAND ARGS..., run in tests/e2e inside a new network namespace. That
# namespace has only `lo`, and it starts down. Root can unshare directly; others need a user
# namespace too (-r maps them to root inside it).
exec_on_loopback() {
  local unshare_args=(-n)
  if [ "$(id -u)" -ne 0 ]; then unshare_args=(-r -n); fi
  exec unshare "${unshare_args[@]}" bash -c '
    set -euo pipefail
    ip link set lo up
    cd "$0"
    exec "$@"
  ' "$here" "$@"
}
