"""Secret rotation, in plain terms: which secrets rotate, their counters, who is rotating.

Shared by the Pulumi program (what it records in the stack's ``rotations`` output) and by
``python -m envstack rotate`` (which counter it bumps, what it waits for).
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import pulumi

from envstack.settings import LocalDatabaseSettings, StackSettings, SupabaseBranchSettings

if TYPE_CHECKING:  # only the program, which has declared them, passes these in
    from components.supabase_environment import SupabaseEnvironment
    from providers.login_revocation import LoginRevocation
    from providers.supabase_api_keys import ApiKeyRetirement


@dataclass(frozen=True)
class Secret:
    name: str  # as the command line and the rotations output say it
    key: str  # the stack setting holding its counter
    field: str  # RotationSettings attribute
    what: str  # one line for help texts and progress output
    supabase_only: bool = True
    # False: a preview branch's (its password is the branch's own, which Supabase sets).
    on_branches: bool = True
    # The setting that revokes the credential a rotation replaced (`rotate --revoke-previous`).
    revoked_key: str | None = None


SECRETS: dict[str, Secret] = {
    s.name: s
    for s in (
        Secret(
            "database",
            "rotation:database",
            "database",
            "the app's database login roles (and the read-only pair): a new password on the idle role, which "
            "becomes the active one",
            revoked_key="rotation:databaseRevoked",
        ),
        Secret(
            "postgres",
            "rotation:postgres",
            "postgres",
            "the postgres password, which only migrations use",
            on_branches=False,
        ),
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
            revoked_key="rotation:apiKeysRevoked",
        ),
        Secret("app-secret", "rotation:appSecret", "app_secret", "the app's own JWT_SECRET", supabase_only=False),
    )
}


def counter(settings: StackSettings, secret: Secret) -> int:
    value: int = getattr(settings.rotation, secret.field)
    return value


def applies(settings: StackSettings, secret: Secret) -> bool:
    """Whether the stack has this secret to rotate."""
    return why_not(settings, secret) is None


def why_not(settings: StackSettings, secret: Secret) -> str | None:
    """Why the stack has no such secret to rotate (None: it has)."""
    database = settings.envstack.database
    if secret.supabase_only and isinstance(database, LocalDatabaseSettings):
        return "its database is the local dev PostgreSQL"
    if not secret.on_branches and isinstance(database, SupabaseBranchSettings):
        # Pull-request stacks inherit staging's counters: this one is not theirs to act on.
        return "its database is a preview branch, whose postgres password is the branch's own, set by Supabase"
    return None


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


# Where each rotation stands, by secret name: fields (their values Outputs) the program adds to
# that secret's entry of the stack's ``rotations`` output.
RotationStatus = dict[str, dict[str, Any]]
# The SDK's own annotations of Output.all are too narrow for mixed types.
_Output = cast(Any, pulumi.Output)


def status_of(
    database: SupabaseEnvironment, retirement: ApiKeyRetirement, revocations: Sequence[LoginRevocation] = ()
) -> RotationStatus:
    """Where the rotations of a Supabase environment stand: which login roles are active (and
    which previous ones are revoked), the signing key's step and the replaced API keys'
    retirement, each with when its next step is due."""
    keys = database.signing_keys
    revoked: dict[str, Any] = {}
    if revocations:
        revoked = {
            "revoked_roles": _Output.all(*(r.revoked_role for r in revocations)).apply(
                lambda roles: [r for r in roles if r]
            ),
            "status": _Output.all(*(r.status for r in revocations)).apply("; ".join),
        }
    return {
        "database": {
            "active_role": database.app_roles.active,
            "read_only_role": database.reader_roles.active,
            **revoked,
        },
        "jwt": {
            "step": keys.phase,
            "status": keys.status,
            "next_step": keys.next_step,
            "next_due_at": keys.next_due_at,
            "next_due_epoch": keys.next_due_epoch,
        },
        "api-keys": {
            "status": retirement.status,
            "next_due_at": retirement.next_due_at,
            "next_due_epoch": retirement.next_due_epoch,
        },
    }


def report_progress(database: SupabaseEnvironment, retirement: ApiKeyRetirement) -> None:
    """Say in every run's output where a rotation that takes several runs stands."""
    keys = database.signing_keys
    _Output.all(keys.phase, keys.status).apply(lambda v: pulumi.log.info(v[1]) if v[0] != "idle" else None)
    _Output.all(retirement.next_due_at, retirement.status).apply(lambda v: pulumi.log.info(v[1]) if v[0] else None)


def rotations_output(latest: pulumi.Output[Any], status: RotationStatus) -> pulumi.Output[Any]:
    """The stack's ``rotations`` output: each secret's latest recorded rotation (from the
    rotation record), with where it stands (``status``) merged in."""
    return _Output.all(latest, status).apply(  # type: ignore[no-any-return]
        lambda v: {name: {**entry, **v[1].get(name, {})} for name, entry in (v[0] or {}).items()}
    )
