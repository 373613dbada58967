#!/usr/bin/env bash
# Prints the CPython that scripts/bootstrap.sh makes .venv from (a path), or fails saying why.
#
# ENVSTACK_PYTHON when set; else the distribution's own python3 when it is 3.11 or newer and can
# make a venv; else python3 on PATH. The distribution's first because Debian and Ubuntu build it
# with profile-guided optimization and a static libpython, which a source build (pyenv's default)
# lacks: the same imports then cost a fifth to a third more CPU, and every stack program,
# dynamic-provider process, envstack command and test runs on this interpreter (README, "Tests
# and the local APIs"). ENVSTACK_SYSTEM_PYTHON names the distribution's (default /usr/bin/python3).
set -euo pipefail

if [ -n "${ENVSTACK_PYTHON:-}" ]; then
  command -v "$ENVSTACK_PYTHON" && exit 0
  echo "envstack: ENVSTACK_PYTHON=$ENVSTACK_PYTHON is not a command" >&2
  exit 1
fi
system=${ENVSTACK_SYSTEM_PYTHON:-/usr/bin/python3}
if "$system" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "$system"
elif command -v python3; then
  :
else
  echo "envstack: no python3 on PATH (envstack needs CPython 3.11 or newer)" >&2
  exit 1
fi
