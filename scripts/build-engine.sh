#!/usr/bin/env bash
# Build the Pulumi engine (the CLI, the Python language host and its shell shims) from Go
# modules, because the official installers download release binaries, which this
# environment cannot reach.
#
# Output: $ENVSTACK_CACHE/engine/v$PULUMI_VERSION/bin, outside the checkout and keyed by
# version, so every clone on the machine reuses it. Prints that directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/versions.env
. "$here/versions.env"

cache_root=${ENVSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/envstack}
dest="$cache_root/engine/v${PULUMI_VERSION}"
bin="$dest/bin"

if [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-python" ] && [ -f "$dest/.complete" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-engine: Go is required (go >= 1.25) and was not found" >&2; exit 1; }

# The module proxy is reachable but source hosts are not: drop any "direct" fallback
# so a missing module fails fast instead of hanging on a git clone.
proxy=$(go env GOPROXY | tr ',|' '\n\n' | grep -v '^direct$' | grep -v '^off$' | paste -sd, -)
[ -n "$proxy" ] || { echo "build-engine: GOPROXY has no module proxy configured" >&2; exit 1; }
export GOPROXY="$proxy" GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

work=$(mktemp -d "${TMPDIR:-/tmp}/envstack-engine.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"
cd "$work"

log() { echo "build-engine: $*" >&2; }
# Go's own output (hundreds of "downloading" lines) goes to a log shown only on failure.
go_log="$work/go.log"
quiet() { "$@" >>"$go_log" 2>&1 || { tail -n 40 "$go_log" >&2; log "failed: $*"; exit 1; }; }

# pkg/ carries replace directives that make `go install pkg@version` refuse; a throwaway
# wrapper module that requires pkg and sdk at the same version sidesteps that.
log "resolving pulumi v${PULUMI_VERSION}"
go mod init local/envstack-engine >/dev/null 2>&1
quiet go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v${PULUMI_VERSION}" \
       "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python@v${PULUMI_VERSION}"

# -checklinkname=0: a dependency of this release (github.com/pgavlin/text) reaches into
# internal/bytealg with go:linkname, which Go 1.23+ refuses to link by default.
# The version lives in two variables in this release; `pulumi version` reads pkg's.
log "building pulumi and pulumi-language-python (several minutes on 2 cores)"
quiet go build -trimpath \
  -ldflags "-s -w -checklinkname=0 -X github.com/pulumi/pulumi/pkg/v3/version.Version=v${PULUMI_VERSION} -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}" \
  -o bin/ \
  github.com/pulumi/pulumi/pkg/v3/cmd/pulumi \
  github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python

# The language host refuses to start unless its exec shim sits beside it; dynamic providers
# run through pulumi-resource-pulumi-python and policy packs through the analyzer shim.
sdk_dir=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" \
  "$sdk_dir/python/dist/pulumi-resource-pulumi-python" \
  "$sdk_dir/python/dist/pulumi-analyzer-policy-python" bin/

got=$("$work/bin/pulumi" version)
[ "$got" = "v${PULUMI_VERSION}" ] || { log "built pulumi reports '$got', expected v${PULUMI_VERSION}"; exit 1; }

mkdir -p "$dest"
rm -rf "$bin.tmp" && cp -r "$work/bin" "$bin.tmp" && rm -rf "$bin" && mv "$bin.tmp" "$bin"
touch "$dest/.complete"
log "engine ready in $bin"
echo "$bin"
