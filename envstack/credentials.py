"""The credentials the tools run with, as values to mask in anything they print.

In the core layer because the pull-request comment, the stack view (doctor, diff) and the
local command provider (whose commands inherit the environment) all mask them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Credentials in the environment that no comment or log line may show, whatever the stack holds.
CREDENTIAL_VARIABLES = (
    "SUPABASE_ACCESS_TOKEN",
    "VERCEL_TOKEN",
    "GITHUB_TOKEN",
    "VERCEL_AUTOMATION_BYPASS_SECRET",
    "PULUMI_CONFIG_PASSPHRASE",
)


def credential_values() -> tuple[str, ...]:
    found = [os.environ.get(name, "") for name in CREDENTIAL_VARIABLES]
    # Each stack's own passphrase (envstack.ops.automation.stack_env) is as secret.
    found += [value for name, value in os.environ.items() if name.startswith("ENVSTACK_PASSPHRASE_")]
    passphrase_file = os.environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if passphrase_file:
        # An unreadable file is the engine's to report.
        with contextlib.suppress(OSError):
            found.append(Path(passphrase_file).read_text().strip())
    return tuple(value for value in found if value)
