#!/usr/bin/env bash
# Installs actionlint, the linter of .github/workflows (tests/unit/test_workflows.py runs it),
# from the Go module proxy into $ENVSTACK_CACHE/tools/actionlint/v<version>/bin, beside the
# engine and keyed by version the same way (scripts/versions.env pins it). Also makes sure
# Debian's shellcheck is there: actionlint runs it on every `run:` script, and without it
# those scripts would go unchecked on one machine and be checked on another.
#
# Prints the path of the actionlint binary on stdout; quiet and quick when already installed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/versions.env
. "$here/versions.env"

cache_root=${ENVSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/envstack}
dest="$cache_root/tools/actionlint/v${ACTIONLINT_VERSION}"
bin="$dest/bin/actionlint"

fail() {
  echo "install-actionlint: $*" >&2
  exit 1
}

if ! command -v shellcheck >/dev/null; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || fail "shellcheck is not installed; run: apt-get install shellcheck"
    sudo="sudo"
  fi
  echo "install-actionlint: installing Debian's shellcheck" >&2
  $sudo apt-get update -qq >/dev/null || fail "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends shellcheck >/dev/null \
    || fail "apt-get install shellcheck failed"
fi

if [ -x "$bin" ] && [ -f "$dest/.complete" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || fail "Go is required (go >= 1.25) and was not found"
# As in build-engine.sh: the module proxy only, so a missing module fails fast instead of
# hanging on a git clone of a source host that cannot be reached.
proxy=$(go env GOPROXY | tr ',|' '\n\n' | grep -v '^direct$' | grep -v '^off$' | paste -sd, -)
[ -n "$proxy" ] || fail "GOPROXY has no module proxy configured"

work=$(mktemp -d "${TMPDIR:-/tmp}/envstack-actionlint.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "install-actionlint: building actionlint v${ACTIONLINT_VERSION} from the Go module proxy" >&2
if ! GOPROXY="$proxy" GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOBIN="$work/bin" \
  go install -trimpath -ldflags "-s -w" "github.com/rhysd/actionlint/cmd/actionlint@v${ACTIONLINT_VERSION}" \
  >"$work/go.log" 2>&1; then
  tail -n 20 "$work/go.log" >&2
  fail "go install of actionlint v${ACTIONLINT_VERSION} failed (output above)"
fi

got=$("$work/bin/actionlint" --version | head -n 1)
[ "$got" = "v${ACTIONLINT_VERSION}" ] || fail "the built actionlint reports '$got', expected v${ACTIONLINT_VERSION}"

mkdir -p "$dest/bin"
# Into place in one rename, so a concurrent run never sees half a binary.
cp "$work/bin/actionlint" "$bin.tmp.$$" && mv -f "$bin.tmp.$$" "$bin"
touch "$dest/.complete"
echo "$bin"
