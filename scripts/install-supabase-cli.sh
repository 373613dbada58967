#!/usr/bin/env bash
# Installs the Supabase CLI that tests/integration/test_supabase_cli_oracle.py runs as the
# oracle for envstack's migration runner, from the npm registry only, exactly as
# tests/oracle/package.json and package-lock.json pin it, into tests/oracle/node_modules.
# Prints the path of the CLI binary on stdout.
#
# What the `supabase` npm package installs (2.117.0): dist/supabase.js, a Node shim that
# only spawns the binary of a platform package; no install script downloads anything. The
# platform package (@supabase/cli-linux-x64, an optional dependency chosen by os/cpu/libc)
# holds bin/supabase, a Bun-compiled executable with the TypeScript CLI (migration commands
# included), and bin/supabase-go, the Go CLI it hands a few commands to. We print
# bin/supabase itself: the shim adds nothing but a dependency on Node.
#
# Quiet on success and quick when nothing changed: a stamp of the manifest and lockfile
# hash sits beside the installed packages.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIR="$ROOT/tests/oracle"
MODULES="$DIR/node_modules"
PLATFORM_PACKAGE="@supabase/cli-linux-x64"
CLI="$MODULES/$PLATFORM_PACKAGE/bin/supabase"
STAMP="$MODULES/.envstack-stamp"

fail() {
  echo "install-supabase-cli: $*" >&2
  exit 1
}

[ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] \
  || fail "the pinned CLI package ($PLATFORM_PACKAGE) runs on Linux x86_64 only, not $(uname -s)/$(uname -m)"
[ -f "$DIR/package.json" ] && [ -f "$DIR/package-lock.json" ] \
  || fail "missing $DIR/package.json or package-lock.json"

stamp=$(cat "$DIR/package.json" "$DIR/package-lock.json" | sha256sum | cut -c1-16)
if [ -x "$CLI" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$stamp" ]; then
  echo "$CLI"
  exit 0
fi

command -v npm >/dev/null 2>&1 || fail "npm is not installed; scripts/install-node-tools.sh installs Debian's npm"

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# npm ci: exactly the lockfile. No package here has install scripts; --ignore-scripts keeps it so.
if ! (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >"$log" 2>&1; then
  grep -v '^npm error  ' "$log" | head -n 20 >&2
  fail "npm ci in $DIR failed (output above); check that the npm registry is reachable and the lockfile is current"
fi

[ -x "$CLI" ] || fail "npm ci finished but $CLI is missing"
want=$(sed -n 's/.*"supabase": "\(.*\)".*/\1/p' "$DIR/package.json")
# --version reads no configuration and makes no network call.
got=$(SUPABASE_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1 SUPABASE_NO_UPDATE_NOTIFIER=1 "$CLI" --version 2>/dev/null) \
  || fail "$CLI does not run on this machine"
[ "$got" = "$want" ] || fail "$CLI reports version $got, the lockfile pins $want"

echo "$stamp" > "$STAMP"
echo "$CLI"
