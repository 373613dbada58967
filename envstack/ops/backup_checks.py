"""Is the project's backup posture what the stack says (supabase:backups)? Two lines of `doctor`:

- ``point-in-time recovery``: the PITR add-on the Management API reports against
  ``pitrDays``; production without it fails whatever the settings, since a lost hour of
  production data is what PITR exists to prevent (Hermes: "Production: point-in-time recovery");
- ``backups``: the newest moment the project can be brought back to (with PITR, the end of
  its window; without, the newest daily backup) is younger than ``maxAgeHours``. A project
  younger than that may have none yet.

Only reads. Times are compared with this machine's clock.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from envstack.clients import tokens
from envstack.errors import ApiError
from envstack.ops.checks import Check
from envstack.ops.stack_view import StackView

if TYPE_CHECKING:
    from envstack.clients.supabase_backups import Backups

PITR = "point-in-time recovery"
BACKUPS = "backups"


def backup_checks(view: StackView, now: float | None = None) -> list[Check]:
    project, chosen = view.supabase, view.settings.supabase.backups
    if project is None or project.is_branch:
        return []
    token = tokens.present(tokens.SUPABASE)
    if not token:
        return []  # the project line already says the token is missing
    from envstack.clients.supabase_backups import SupabaseBackupsClient

    try:
        with SupabaseBackupsClient(base_url=project.management_api, token=token) as client:
            variant = client.pitr_variant(project.ref)
            kept = client.backups(project.ref)
            created = client.get_project(project.ref).created_at
    except ApiError as exc:
        return [Check.failed(PITR, str(exc)), Check.failed(BACKUPS, str(exc))]
    moment = now if now is not None else time.time()
    return [
        _pitr_check(variant, chosen.pitr_days, view.settings.is_production),
        _age_check(kept, created, chosen.max_age_hours, moment),
    ]


def _days(variant: str | None) -> str:
    return f"{variant.removeprefix('pitr_')} days" if variant else "off"


def _pitr_check(variant: str | None, wanted: int | None, production: bool) -> Check:
    if wanted is None:
        if production and variant is None:
            return Check.failed(
                PITR,
                "production has none: set supabase:backups.pitrDays (7, 14 or 28; the Small compute size or larger)",
            )
        return Check.passed(PITR, f"{_days(variant)} (supabase:backups.pitrDays not set: left as it is)")
    expected = f"pitr_{wanted}" if wanted else None
    if variant != expected:
        return Check.failed(PITR, f"is {_days(variant)}, the stack wants {_days(expected)}: run pulumi up --refresh")
    return Check.passed(PITR, f"{_days(variant)}, as the stack wants")


def _age_check(kept: Backups, created: str | None, max_age_hours: float, now: float) -> Check:
    limit = max_age_hours * 3600
    window = kept.pitr_window
    if window is not None:
        newest, what = float(window[1]), "the newest moment PITR can restore to"
    elif kept.newest_backup is not None:
        newest, what = kept.newest_backup.timestamp(), "the newest daily backup"
    else:
        age = now - _unix(created) if created else None
        if age is not None and age < limit:
            return Check.passed(BACKUPS, f"none yet: the project is {_hours(age)} old, the first is due within a day")
        return Check.failed(BACKUPS, "none listed: Supabase keeps daily backups on paid plans only (Free keeps none)")
    age = max(now - newest, 0.0)
    stamp = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = f"{what} is {stamp}, {_hours(age)} ago (limit {max_age_hours:g} h)"
    return Check.failed(BACKUPS, detail) if age > limit else Check.passed(BACKUPS, detail)


def _unix(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
