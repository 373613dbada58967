"""The pinned Supabase CLI (tests/oracle/package.json) and what running it sandboxed needs,
shared by the migration oracle and the management-command tests."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.oracle.front import require_sandbox_tools

ORACLE = Path(__file__).resolve().parent
PINNED_VERSION: str = json.loads((ORACLE / "package.json").read_text())["dependencies"]["supabase"]
DEFAULT_CLI = ORACLE / "node_modules" / "@supabase" / "cli-linux-x64" / "bin" / "supabase"
# Telemetry and update checks off, as a careful user sets them; the sandbox catches the rest.
QUIET = {"SUPABASE_TELEMETRY_DISABLED": "1", "DO_NOT_TRACK": "1", "SUPABASE_NO_UPDATE_NOTIFIER": "1"}


def installed_cli() -> Path:
    """The pinned CLI's binary (failing the test, with the fix, when it is missing or another version)."""
    cli = Path(os.environ.get("ENVSTACK_SUPABASE_CLI") or DEFAULT_CLI)
    if not os.access(cli, os.X_OK):
        pytest.fail(f"the Supabase CLI is not installed at {cli}: run scripts/install-supabase-cli.sh (make test does)")
    require_sandbox_tools()
    version = subprocess.run([str(cli), "--version"], env={**os.environ, **QUIET}, capture_output=True, text=True)
    assert version.stdout.strip() == PINNED_VERSION, version
    return cli
