#!/usr/bin/env bash
# Build the Pulumi engine (the CLI, the Python language host and its shell shims) from Go
# modules, for machines where the official installer (https://get.pulumi.com), which
# downloads release binaries, cannot reach them. Where the installer works, use it instead
# (README.md, "The engine").
#
# The CLI and the language host come from different releases (scripts/versions.env says
# why), so they are built in two separate throwaway modules: in one module Go would pick a
# single version of github.com/pulumi/pulumi/sdk/v3 for both, and the newer sdk/v3 no
# longer contains the language host.
#
# Output: $ENVSTACK_CACHE/engine/cli-v<cli>-python-v<host>/bin, outside the checkout and
# keyed by both versions, so every clone on the machine reuses it. Prints that directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/versions.env
. "$here/versions.env"

cache_root=${ENVSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/envstack}
dest="$cache_root/engine/cli-v${PULUMI_CLI_VERSION}-python-v${PULUMI_LANGUAGE_HOST_VERSION}"
bin="$dest/bin"

if [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-python" ] && [ -f "$dest/.complete" ]; then
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "build-engine: Go is required (the go directive of the CLI release's go.mod says which) and was not found" >&2; exit 1; }
command -v python3 >/dev/null || { echo "build-engine: python3 is required" >&2; exit 1; }

# The module proxy is reachable but source hosts are not: drop any "direct" fallback
# so a missing module fails fast instead of hanging on a git clone.
goproxy=$(go env GOPROXY) || { echo "build-engine: \`go env GOPROXY\` failed" >&2; exit 1; }
proxy=$(echo "$goproxy" | tr ',|' '\n\n' | grep -v '^direct$' | grep -v '^off$' | paste -sd, -) || true
[ -n "$proxy" ] || { echo "build-engine: GOPROXY has no module proxy configured" >&2; exit 1; }
export GOPROXY="$proxy" GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

work=$(mktemp -d "${TMPDIR:-/tmp}/envstack-engine.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin"

log() { echo "build-engine: $*" >&2; }
# Go's own output (hundreds of "downloading" lines) goes to a log shown only on failure.
go_log="$work/go.log"
quiet() { "$@" >>"$go_log" 2>&1 || { tail -n 40 "$go_log" >&2; log "failed: $*"; exit 1; }; }

# A dependency of both releases (github.com/pgavlin/text) reaches into internal/bytealg with
# go:linkname, which Go 1.23+ refuses to link by default.
ldflags_base="-s -w -checklinkname=0"

# --- the CLI: github.com/pulumi/pulumi/pkg/v3/cmd/pulumi --------------------------------
# pkg/'s go.mod has replace directives, which make `go install pkg@version` refuse and which
# a dependent module does not inherit. The wrapper module copies the ones that point at
# other modules (a fork of atotto/clipboard in 3.276.0), so the CLI is built from the
# dependencies its release was tested with; the ones that point at pkg's sibling
# directories (../sdk) become the tagged sdk/v3 of the same version through pkg's require.
log "resolving the pulumi CLI v${PULUMI_CLI_VERSION}"
mkdir "$work/cli" && cd "$work/cli"
go mod init local/envstack-pulumi-cli >/dev/null 2>&1
pkg_mod=$(go mod download -json "github.com/pulumi/pulumi/pkg/v3@v${PULUMI_CLI_VERSION}" \
  | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if d.get("Error") else print(d["GoMod"])') \
  || { log "the module proxy has no github.com/pulumi/pulumi/pkg/v3@v${PULUMI_CLI_VERSION}"; exit 1; }
go mod edit -json "$pkg_mod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    new = r["New"]
    if new["Path"].startswith((".", "/")):
        continue
    old = r["Old"]["Path"] + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
    print("-replace=" + old + "=" + new["Path"] + "@" + new["Version"])
' > replaces
while read -r r; do go mod edit "$r"; done < replaces
quiet go get "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi@v${PULUMI_CLI_VERSION}"
log "building pulumi v${PULUMI_CLI_VERSION} (5 to 10 minutes on 2 cores when nothing is cached)"
# `pulumi version` prints pkg/v3/version.Version up to 3.1xx and sdk/v3's
# go/common/version.Version once pkg's package is gone (3.276.0): set both, as the linker
# ignores -X for a package that is not linked in.
quiet go build -trimpath \
  -ldflags "$ldflags_base -X github.com/pulumi/pulumi/pkg/v3/version.Version=v${PULUMI_CLI_VERSION} -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_CLI_VERSION}" \
  -o "$work/bin/" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi

# --- the Python language host: github.com/pulumi/pulumi/sdk/v3/python/cmd/... -------------
log "resolving the Python language host v${PULUMI_LANGUAGE_HOST_VERSION}"
mkdir "$work/host" && cd "$work/host"
go mod init local/envstack-pulumi-language-python >/dev/null 2>&1
quiet go get "github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python@v${PULUMI_LANGUAGE_HOST_VERSION}"
log "building pulumi-language-python v${PULUMI_LANGUAGE_HOST_VERSION}"
quiet go build -trimpath \
  -ldflags "$ldflags_base -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_LANGUAGE_HOST_VERSION}" \
  -o "$work/bin/" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python

# The language host refuses to start unless its exec shim sits beside it; dynamic providers
# run through pulumi-resource-pulumi-python and policy packs through the analyzer shim. The
# shims only start `python -m pulumi.dynamic` / `pulumi.policy` etc. from the virtualenv,
# so the SDK installed there (requirements.txt) decides what runs.
sdk_dir=$(go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m0755 "$sdk_dir/python/cmd/pulumi-language-python-exec" \
  "$sdk_dir/python/dist/pulumi-resource-pulumi-python" \
  "$sdk_dir/python/dist/pulumi-analyzer-policy-python" "$work/bin/"

got=$("$work/bin/pulumi" version)
[ "$got" = "v${PULUMI_CLI_VERSION}" ] || { log "built pulumi reports '$got', expected v${PULUMI_CLI_VERSION}"; exit 1; }

mkdir -p "$dest"
rm -rf "$bin.tmp" && cp -r "$work/bin" "$bin.tmp" && rm -rf "$bin" && mv "$bin.tmp" "$bin"
touch "$dest/.complete"
log "engine ready in $bin"
echo "$bin"
