"""doctor's backup posture lines, judged from the Management API's answers (shapes of the real ones)."""

from __future__ import annotations

from typing import Any

import pytest

from envstack.clients.supabase_backups import Backups
from envstack.ops import backup_checks

NOW = 1_796_000_000.0
HOUR = 3600


def kept(*, pitr: tuple[int, int] | None = None, backups: tuple[str, ...] = ()) -> Backups:
    answer: dict[str, Any] = {
        "region": "eu-central-1",
        "walg_enabled": True,
        "pitr_enabled": pitr is not None,
        "backups": [
            {"id": i, "is_physical_backup": True, "status": "COMPLETED", "inserted_at": at}
            for i, at in enumerate(backups)
        ],
        "physical_backup_data": {}
        if pitr is None
        else {"earliest_physical_backup_date_unix": pitr[0], "latest_physical_backup_date_unix": pitr[1]},
    }
    return Backups.model_validate(answer)


@pytest.mark.parametrize(
    ("variant", "wanted", "production", "status", "detail"),
    [
        ("pitr_7", 7, True, "pass", "7 days, as the stack wants"),
        (None, 0, False, "pass", "off, as the stack wants"),
        ("pitr_7", 28, True, "fail", "is 7 days, the stack wants 28 days: run pulumi up --refresh"),
        (None, 7, True, "fail", "is off, the stack wants 7 days: run pulumi up --refresh"),
        (None, None, True, "fail", "production has none: set supabase:backups.pitrDays"),
        (None, None, False, "pass", "off (supabase:backups.pitrDays not set: left as it is)"),
    ],
)
def test_pitr_is_what_the_stack_wants(
    variant: str | None, wanted: int | None, production: bool, status: str, detail: str
) -> None:
    check = backup_checks._pitr_check(variant, wanted, production)
    assert check.status == status
    assert check.detail.startswith(detail), check.detail


def test_with_pitr_the_window_must_reach_recent_moments() -> None:
    fresh = backup_checks._age_check(kept(pitr=(int(NOW) - 7 * 24 * HOUR, int(NOW) - 120)), None, 26, NOW)
    assert fresh.status == "pass"
    assert "the newest moment PITR can restore to" in fresh.detail
    assert "2 min ago" in fresh.detail
    stale = backup_checks._age_check(kept(pitr=(int(NOW) - 7 * 24 * HOUR, int(NOW) - 30 * HOUR)), None, 26, NOW)
    assert stale.status == "fail"
    assert "30.0 h ago (limit 26 h)" in stale.detail


def test_without_pitr_the_newest_daily_backup_counts() -> None:
    daily = kept(backups=("2026-11-29T05:00:00.000Z", "2026-11-30T05:00:00.000Z"))
    newest = daily.newest_backup
    assert newest is not None
    at = newest.timestamp()
    assert backup_checks._age_check(daily, None, 26, at + 25 * HOUR).status == "pass"
    late = backup_checks._age_check(daily, None, 26, at + 27 * HOUR)
    assert late.status == "fail"
    assert "the newest daily backup is 2026-11-30T05:00:00Z, 27.0 h ago" in late.detail


def test_a_new_project_may_have_no_backup_yet_and_an_old_one_may_not() -> None:
    created = "2026-12-01T10:00:00Z"
    start = backup_checks._unix(created)
    assert backup_checks._age_check(kept(), created, 26, start + 2 * HOUR).status == "pass"
    missing = backup_checks._age_check(kept(), created, 26, start + 40 * HOUR)
    assert missing.status == "fail"
    assert "none listed" in missing.detail
