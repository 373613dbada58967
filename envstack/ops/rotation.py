"""Secret rotation, in plain terms: which secrets rotate, their counters, who is rotating.

Shared by the Pulumi program (what it records in the stack's ``rotations`` output) and by
``python -m envstack rotate`` (which counter it bumps, what it waits for).
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from envstack.settings import LocalDatabase, StackSettings


@dataclass(frozen=True)
class Secret:
    name: str  # as the command line and the rotations output say it
    key: str  # the stack setting holding its counter
    field: str  # RotationSettings attribute
    what: str  # one line for help texts and progress output
    supabase_only: bool = True


SECRETS: dict[str, Secret] = {
    s.name: s
    for s in (
        Secret(
            "database",
            "rotation:database",
            "database",
            "the app's database login roles (and the read-only pair): a new password on the idle role, which "
            "becomes the active one",
        ),
        Secret("postgres", "rotation:postgres", "postgres", "the postgres password, which only migrations use"),
        Secret(
            "jwt",
            "rotation:jwt",
            "jwt",
            "Supabase Auth's JWT signing key: a standby key, then in use, then the old one revoked",
        ),
        Secret(
            "api-keys",
            "rotation:apiKeys",
            "api_keys",
            "the publishable and secret API keys: new ones to Vercel, redeploy, then the old ones deleted",
        ),
        Secret("app-secret", "rotation:appSecret", "app_secret", "the app's own JWT_SECRET", supabase_only=False),
    )
}


def counter(settings: StackSettings, secret: Secret) -> int:
    value: int = getattr(settings.rotation, secret.field)
    return value


def applies(settings: StackSettings, secret: Secret) -> bool:
    """Whether the stack has this secret (the dev stack's database is not Supabase's)."""
    return not (secret.supabase_only and isinstance(settings.envstack.database, LocalDatabase))


def counters(settings: StackSettings) -> dict[str, int]:
    """The rotation counters of every secret the stack has, by name."""
    return {s.name: counter(settings, s) for s in SECRETS.values() if applies(settings, s)}


def run_identity(environ: Mapping[str, str]) -> str:
    """Who is deploying: ENVSTACK_RUN_ID, a GitHub Actions run, or user@host."""
    if environ.get("ENVSTACK_RUN_ID"):
        return environ["ENVSTACK_RUN_ID"]
    if environ.get("GITHUB_RUN_ID"):
        repository = environ.get("GITHUB_REPOSITORY", "")
        attempt = environ.get("GITHUB_RUN_ATTEMPT")
        where = f" of {repository}" if repository else ""
        return f"GitHub Actions run {environ['GITHUB_RUN_ID']}{where}" + (f" (attempt {attempt})" if attempt else "")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
