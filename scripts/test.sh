#!/usr/bin/env bash
# `make test`: everything CI runs, from a clean clone: installs, lint, types, the suite.
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$ENVSTACK_ROOT"

if [ -x scripts/install-node-tools.sh ]; then
  # Node 22+ and Vercel Labs' emulate, pinned by tests/emulators/vercel/package-lock.json.
  ENVSTACK_NODE=$(scripts/install-node-tools.sh)
  export ENVSTACK_NODE
fi

# The Supabase CLI, pinned by tests/oracle/package-lock.json, for
# tests/integration/test_supabase_cli_oracle.py (after install-node-tools.sh, which brings npm).
ENVSTACK_SUPABASE_CLI=$(scripts/install-supabase-cli.sh)
export ENVSTACK_SUPABASE_CLI

# actionlint (and Debian's shellcheck, which it runs on `run:` scripts), pinned in
# scripts/versions.env, for tests/unit/test_workflows.py.
ENVSTACK_ACTIONLINT=$(scripts/install-actionlint.sh)
export ENVSTACK_ACTIONLINT

echo "envstack: pulumi $(pulumi version), $(python --version)" >&2
# The pins must install from wheels alone on every supported CPython, not only on this one.
echo "envstack: wheels" >&2
scripts/check-wheels.sh
echo "envstack: ruff" >&2
ruff check .
echo "envstack: mypy" >&2
mypy .
# The layers of README "Layout", one way down (contracts in pyproject.toml).
echo "envstack: import contracts" >&2
.venv/lint/bin/lint-imports --no-cache
echo "envstack: pytest" >&2
# A directory of this run's own: pytest prunes older runs' numbered directories under
# /tmp/pytest-of-<user> at start, which deletes the clusters and sockets of a session still
# running beside it. Short, too, so PostgreSQL's socket paths stay under their 107 bytes.
basetemp=$(mktemp -d /tmp/es-tests.XXXXXX)
trap 'rm -rf "$basetemp"' EXIT
# Tests run in parallel worker processes (pytest-xdist): most of a test's time is the engine,
# PostgreSQL and the local APIs waiting on each other, so more workers than CPUs keep both CPUs
# busy. Each worker starts its own local APIs and PostgreSQL (session fixtures); tests that
# share an expensive module fixture are kept on one worker by their xdist_group mark.
workers=${ENVSTACK_TEST_WORKERS:-4}
# The suite starts about a thousand short `pulumi` processes (and the Go language host with
# each): their heaps stay small, and collecting at 5x the live heap instead of 2x spends about
# 0.05 CPU seconds less a command (docs/benchmarks.md, "The test suite"). Only the Go runtime's
# pacing changes, not what the engine does; users' own runs are measured without it.
export GOGC=${GOGC:-400}
# Python keeps its bytecode (in __pycache__, which git ignores) even where the shell says
# PYTHONDONTWRITEBYTECODE: otherwise each worker compiles and assertion-rewrites every test
# module afresh (3.2 CPU seconds a worker instead of 1.3, before its first test), and each app,
# local API and command the tests start compiles the test helpers it imports again.
unset PYTHONDONTWRITEBYTECODE
pytest --basetemp="$basetemp" -n "$workers" --dist loadgroup "$@"
