"""`envstack restore`: a stack's Supabase database back to a time or a restore point.

What can be restored, checked before anything is asked of the API that writes: the stack has
a Supabase project of its own (a local database or a preview branch has no backups to restore),
``SUPABASE_ACCESS_TOKEN`` is set, and the project can reach the target: PITR on and the time
inside its recovery window, or the restore point there and available.

Production's restore is a human decision: ``describe`` gives the exact call (method, URL,
body; the token only as ``$SUPABASE_ACCESS_TOKEN``) for a person to make, or to make with
``--yes-production``. The calls are the client's (``SupabaseBackupsClient.restore_to_time``,
``restore_to_restore_point``); tests/unit/test_restore.py checks that the described call is
the one the client sends.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envstack.clients import tokens
from envstack.clients.supabase_backups import RESTORE_POINT_NAME_MAX, SupabaseBackupsClient, left_only_by_a_person
from envstack.db import migrations
from envstack.errors import ApiError, MigrationError, Refused, ResourceError, SettingsError, StackError
from envstack.ops.stack_view import StackView
from envstack.settings import LocalDatabaseSettings

# Whole seconds since the epoch (a fraction is dropped: the API takes whole seconds).
_UNIX = re.compile(r"^[0-9]{9,11}(\.[0-9]+)?$")
# Anything that starts like a date is meant as a time, never as a restore point's name.
_DATE_LIKE = re.compile(r"^[0-9]{4}-[0-9]{2}")
_EXAMPLE = "2026-12-03T17:40:00Z"
RESTORE_TIMEOUT = 900.0  # seconds to wait for the project to be healthy again


@dataclass(frozen=True)
class Target:
    """Where to restore to: a unix time, or a restore point's name."""

    unix: int | None = None
    point: str | None = None

    def __str__(self) -> str:
        if self.unix is not None:
            return f"{utc(self.unix)} (unix {self.unix})"
        return f"restore point {self.point}"


def utc(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_target(text: str) -> Target:
    """``--to``: an ISO-8601 time with its zone, a unix time in seconds, or a restore point's
    name (anything else, at most 20 characters). SettingsError, one sentence, otherwise."""
    value = text.strip()
    if _UNIX.match(value):
        return Target(unix=math.floor(float(value)))
    if _DATE_LIKE.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise SettingsError(
                f"--to {text!r} is not an ISO-8601 time: give a date, a time and a zone, e.g. {_EXAMPLE}"
            ) from None
        if moment.tzinfo is None:
            raise SettingsError(f"--to {text!r} has no zone: say which, e.g. {_EXAMPLE} (Z is UTC) or +01:00")
        return Target(unix=math.floor(moment.timestamp()))
    if not value or len(value) > RESTORE_POINT_NAME_MAX or value.isdigit():
        raise SettingsError(
            f"--to {text!r} is neither a time ({_EXAMPLE}, or unix seconds) nor a restore point name "
            f"(1 to {RESTORE_POINT_NAME_MAX} characters)"
        )
    return Target(point=value)


@dataclass(frozen=True)
class ApiCall:
    """One Management API call as a person would make it."""

    method: str
    url: str
    body: dict[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        body = json.dumps(self.body)
        return "\n".join(
            (
                f"{self.method} {self.url}",
                "Authorization: Bearer $SUPABASE_ACCESS_TOKEN",
                "Content-Type: application/json",
                "",
                body,
                "",
                "as a curl command:",
                f"curl -X {self.method} {shlex.quote(self.url)} "
                '-H "Authorization: Bearer $SUPABASE_ACCESS_TOKEN" '
                f"-H 'Content-Type: application/json' -d {shlex.quote(body)}",
            )
        )


@dataclass(frozen=True)
class Restore:
    """A restore that passed every check."""

    stack: str
    ref: str
    management_api: str
    target: Target

    @property
    def call(self) -> ApiCall:
        base = f"{self.management_api.rstrip('/')}/v1/projects/{self.ref}/database/backups"
        if self.target.unix is not None:
            return ApiCall("POST", f"{base}/restore-pitr", {"recovery_time_target_unix": self.target.unix})
        return ApiCall("POST", f"{base}/undo", {"name": self.target.point})


def project_of(view: StackView) -> tuple[str, str]:
    """(ref, Management API URL) of the stack's own Supabase project; Refused otherwise."""
    if isinstance(view.settings.envstack.database, LocalDatabaseSettings):
        raise Refused(
            f"{view.name} uses a local database (envstack:database provider local), which Supabase does not back "
            "up: there is nothing to restore"
        )
    if view.supabase is None:
        raise StackError(f"stack {view.name} has no Supabase project in its state: run `pulumi up --stack {view.name}`")
    if view.supabase.is_branch:
        raise Refused(
            f"{view.name} is a preview branch ({view.supabase.ref}), and branches have no backups of their own: "
            f"`python -m envstack pr down` and `pr up` make it again from its migrations and seed"
        )
    return view.supabase.ref, view.supabase.management_api


class RestoreUnfinished(StackError):
    """A restore was asked for and may still be running: running ``restore`` again would restore
    once more. The message says so, and how to follow it."""


def check(view: StackView, target: Target, client: SupabaseBackupsClient) -> Restore:
    """Every check that needs the API, by reading only; the restore to make when all pass."""
    ref, api = project_of(view)
    status = client.get_project(ref).status
    if status != "ACTIVE_HEALTHY":
        # RESTORING most of all: an earlier restore that is still running (its command timed
        # out, or lost the answer), which another restore would undo or repeat.
        raise Refused(
            f"project {ref} ({view.name}) is {status}, not ACTIVE_HEALTHY: a restore or another change may still be "
            f"under way. Wait until `python -m envstack doctor --stack {view.name}` finds it healthy, look at the "
            "data, and restore then only if it is still needed"
        )
    if target.unix is not None:
        state = client.backups(ref)
        if not state.pitr_enabled:
            raise Refused(
                f"point-in-time recovery is not on for project {ref} ({view.name}), so it cannot go back to a time: "
                "it needs the PITR add-on (Pro, Team or Enterprise organization, Small compute or more)"
            )
        window = state.pitr_window
        if window is None:
            raise Refused(f"project {ref} ({view.name}) has no recovery window yet: its first backup is still running")
        earliest, latest = window
        if not earliest <= target.unix <= latest:
            raise Refused(
                f"{utc(target.unix)} is outside the recovery window of project {ref} ({view.name}): "
                f"from {utc(earliest)} to {utc(latest)} UTC"
            )
    else:
        assert target.point is not None
        point = client.get_restore_point(ref, target.point)
        if point is None:
            raise Refused(f"project {ref} ({view.name}) has no restore point named {target.point}")
        if point.status != "AVAILABLE":
            raise Refused(f"restore point {target.point} of project {ref} is {point.status}, not AVAILABLE")
    return Restore(view.name, ref, api, target)


def token() -> str:
    return tokens.supabase_token()


def run(restore: Restore, client: SupabaseBackupsClient, *, say: Callable[[str], None]) -> None:
    """Ask for the restore and wait until the project is healthy again, saying each status."""
    say(f"restoring project {restore.ref} ({restore.stack}) to {restore.target}")
    try:
        if restore.target.unix is not None:
            client.restore_to_time(restore.ref, restore.target.unix)
        else:
            assert restore.target.point is not None
            client.restore_to_restore_point(restore.ref, restore.target.point)
    except ApiError as exc:
        if exc.status is not None and exc.status < 500:
            raise  # refused (429 included): nothing was restored
        # No answer, or a server error: the restore may have begun all the same.
        raise RestoreUnfinished(_may_be_running(restore, str(exc))) from None
    try:
        client.wait_until_healthy(restore.ref, restoring=True, timeout=RESTORE_TIMEOUT, say=say)
    except (ApiError, ResourceError) as exc:
        if isinstance(exc, ResourceError) and _settled(client, restore.ref):
            raise  # failed or paused: it is not running, and waiting would not help
        raise RestoreUnfinished(_may_be_running(restore, str(exc))) from None
    say(f"project {restore.ref} is ACTIVE_HEALTHY again, as it was at {restore.target}")


def _settled(client: SupabaseBackupsClient, ref: str) -> bool:
    """Whether the project is in a status it does not leave by itself (unknown: not settled)."""
    try:
        return left_only_by_a_person(client.get_project(ref).status)
    except ApiError:
        return False


def _may_be_running(restore: Restore, failure: str) -> str:
    name = restore.stack
    return (
        f"{failure}. The restore of project {restore.ref} ({name}) to {restore.target} was asked for and may still "
        "be running: do not run restore again, which would restore once more and lose what was written since. "
        f"Follow the project's status (`python -m envstack doctor --stack {name}`, or the dashboard) until it is "
        f"ACTIVE_HEALTHY; then compare the migration history with the repository (`python -m envstack migrate "
        "status`) and check whether the app can still log in"
    )


def next_steps(view: StackView, root: Path, restore: Restore) -> list[str]:
    """What to do after the restore: whether the app can still log in, whether the migrations are
    all still there, and the checks."""
    name = view.name
    lines = [
        _credentials_after(view, restore.target),
        f"Check the environment: python -m envstack doctor --stack {name}",
    ]
    url = view.history_url
    if url is None or view.settings.envstack.migrations.command:
        lines.append(
            f"Migrations applied after {restore.target} were undone with the rest of the data: apply them "
            "again with the stack's migration command"
        )
        return lines
    try:
        states = migrations.status(url, root / view.settings.envstack.migrations.directory)
    except MigrationError as exc:
        # The restore is done: a database this machine cannot reach yet (the pooler coming back,
        # network restrictions) must not turn it into a failure someone answers by restoring again.
        lines.append(
            f"The migration history could not be read from here ({exc}). Once the database answers, compare it with "
            f'the repository: POSTGRES_URL_NON_POOLING="$(pulumi stack output --stack {name} --show-secrets '
            'migrations_url)" python -m envstack migrate status'
        )
        return lines
    pending = [s.version + "_" + s.name + ".sql" for s in states if s.state == "pending"]
    if not pending:
        lines.append("Every migration of the repository is still applied.")
    else:
        lines.append(
            f"Migrations applied after {restore.target} were undone with the rest of the data; not applied now: "
            f'{", ".join(pending)}. Apply them (the runner of `pulumi up`): POSTGRES_URL_NON_POOLING="$(pulumi '
            f'stack output --stack {name} --show-secrets migrations_url)" python -m envstack migrate up'
        )
    return lines


def _credentials_after(view: StackView, target: Target) -> str:
    """Whether the app can still log in: a restore brings back the login roles' passwords of
    the target time, so a database rotation recorded after it leaves the app's variables
    holding passwords the database no longer has."""
    again = f"bump rotation:database once more and run `pulumi up --stack {view.name}`"
    if target.unix is None:
        return (
            "The app's deployments keep working: their variables did not change. If rotation:database was bumped "
            f"after the restore point was made, the login roles have their older passwords again: {again}."
        )
    later = [entry for entry in _database_rotations(view) if entry[0] > target.unix]
    if not later:
        return "The app's deployments keep working: their variables and the database passwords did not change."
    _, counter, at = later[-1]
    return (
        f"rotation:database went to {counter} at {at}, after {target}: the restored database gave the app's "
        "login roles their older passwords back, which the app's variables do not hold, so the app cannot log "
        f"in until you {again}."
    )


def _database_rotations(view: StackView) -> list[tuple[int, int, str]]:
    """(unix time, counter, time as recorded) of each database rotation the stack recorded."""
    history = view.outputs.get("rotation_history")
    found = []
    for entry in history if isinstance(history, list) else []:
        if isinstance(entry, dict) and entry.get("secret") == "database" and isinstance(entry.get("at"), str):
            when = datetime.strptime(entry["at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            found.append((int(when.timestamp()), int(entry.get("counter") or 0), entry["at"]))
    return found
