# Sourced by scripts/dev.sh and scripts/test.sh: installs what envstack needs on this
# machine (idempotent, quick when already done) and exports the environment to use it.
#   . scripts/bootstrap.sh
# shellcheck shell=bash

ENVSTACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export ENVSTACK_ROOT

_say() { echo "envstack: $*" >&2; }

_apt_install() {
  local missing=()
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
  command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
  command -v openssl >/dev/null || missing+=(openssl)
  # unshare and ip: the test session, and the real CLIs within it, run in namespaces with only
  # loopback (tests/name_resolution.py, tests/oracle/sandbox.py).
  command -v unshare >/dev/null || missing+=(util-linux)
  command -v ip >/dev/null || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
  [ ${#missing[@]} -eq 0 ] && return 0
  _say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian package starts a cluster of its own where a service manager runs; envstack
  # never uses it (its servers live in project directories on loopback addresses).
}

_venv() {
  local venv="$ENVSTACK_ROOT/.venv" stamp python base
  # Which interpreter a python is, symlinks resolved (a venv's bin/python links to the one it
  # was made from): part of the stamp, since another interpreter needs a new venv, not packages
  # installed over the old one.
  local identity='import os, sys; print(os.path.realpath(sys.executable), sys.version.split()[0])'
  python=$("$ENVSTACK_ROOT/scripts/venv-python.sh")
  base=$("$python" -c "$identity")
  stamp=$( { cat "$ENVSTACK_ROOT"/requirements{,-dev,-lint}.txt; echo "$base"; } | sha256sum | cut -c1-16)
  if [ -f "$venv/.envstack-stamp" ] && [ "$(cat "$venv/.envstack-stamp")" = "$stamp" ]; then
    _venv_path
    return 0
  fi
  if [ -e "$venv" ]; then
    # Made from other pins or another interpreter: made again, since installing over it would
    # keep what a pin no longer brings (a package moved to .venv/lint stays importable here).
    _say "re-making .venv: its requirements or interpreter ($base) changed"
    rm -rf "$venv"
  fi
  _say "installing Python requirements into .venv ($base)"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
  "$venv/bin/python" -m pip install -q -r "$ENVSTACK_ROOT/requirements-dev.txt"
  # The import-contract linter, apart (requirements-lint.txt says why); the venv's own pip
  # installs into it, so it needs none of its own.
  "$python" -m venv --without-pip "$venv/lint"
  "$venv/bin/python" -m pip --python "$venv/lint/bin/python" install -q -r "$ENVSTACK_ROOT/requirements-lint.txt"
  _venv_path
  echo "$stamp" > "$venv/.envstack-stamp"
}

# The checkout on the venv's import path, so `pytest` finds its first plugin
# (tests/name_resolution.py, loaded before any conftest) from any directory.
_venv_path() {
  local site
  site=$("$ENVSTACK_ROOT/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
  [ "$(cat "$site/envstack-checkout.pth" 2>/dev/null)" = "$ENVSTACK_ROOT" ] || echo "$ENVSTACK_ROOT" > "$site/envstack-checkout.pth"
}

# Prints the directory to put first on PATH, or nothing when a suitable pulumi is there already.
# Suitable: it reports the pinned CLI version (PULUMI_CLI_VERSION) and a Python language host
# is beside it on PATH. An official install (get.pulumi.com, pulumi/actions) ships its own host
# of the CLI's version, which is newer than the one build-engine.sh can build, so the host's
# version is not checked.
_engine_bin() {
  if command -v pulumi >/dev/null && [ "$(pulumi version 2>/dev/null)" = "v$(. "$ENVSTACK_ROOT/scripts/versions.env"; echo "$PULUMI_CLI_VERSION")" ] \
     && command -v pulumi-language-python >/dev/null; then
    return 0
  fi
  # GitHub's runners install the official CLI (.github/actions/setup-envstack); a version
  # mismatch there must fail the job instead of silently building Pulumi from source.
  if [ "${ENVSTACK_NO_ENGINE_BUILD:-}" = 1 ]; then
    _say "no pulumi v$(. "$ENVSTACK_ROOT/scripts/versions.env"; echo "$PULUMI_CLI_VERSION") with pulumi-language-python on PATH, and ENVSTACK_NO_ENGINE_BUILD=1 forbids building one"
    return 1
  fi
  "$ENVSTACK_ROOT/scripts/build-engine.sh"
}

# The steps run in subshells with strict options, so a failure stops them without touching the
# options of the shell that sourced this file (an interactive shell must not inherit `set -e`).
( set -euo pipefail; _apt_install; _venv ) || return 1 2>/dev/null || exit 1
_envstack_engine=$(set -euo pipefail; _engine_bin) || return 1 2>/dev/null || exit 1
[ -z "$_envstack_engine" ] || export PATH="$_envstack_engine:$PATH"
unset _envstack_engine
export PATH="$ENVSTACK_ROOT/.venv/bin:$PATH"
export PULUMI_SKIP_UPDATE_CHECK=true
# Only ambient or bundled plugins: the engine must never try to download one.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
