#!/usr/bin/env bash
# `make bench`: envstack's benchmarks (not a test). Prints a table and writes docs/benchmarks.md;
# arguments go to `python -m bench` (for example `--only noop --runs 3`).
set -euo pipefail
. "$(dirname "$0")/bootstrap.sh"
cd "$ENVSTACK_ROOT"
# The local Vercel API needs Node 22 and emulate, as the tests do.
ENVSTACK_NODE=$(scripts/install-node-tools.sh)
export ENVSTACK_NODE
exec python -m bench "$@"
