"""A project's backups as plain data, and the rules that say what the API lists.

Dates here are on the emulator clock's calendar (``TestClock.calendar``: the real date plus
everything tests skipped), so a daily backup appears when a test lets a day pass. The
PostgreSQL side (the WAL archive, base backups, recovery) is pitr.py.

Rules, with where each comes from (docs: supabase.com/docs/guides/platform/backups):
- Daily backups: Pro, Team and Enterprise projects, kept 7, 14 and 30 days [docs]; a Free
  project lists none (chosen: the docs name only the paid plans). One a day at the schedule's
  time of day, which is the project's creation time until an Enterprise organization sets
  another (``schedule_for``; the first backup at the new time is the next one after the
  change [spec]). They are physical (``is_physical_backup``): every project on Postgres
  15.8.1.079 and newer is [docs].
- With PITR on, daily backups are no longer taken [docs] and the list is empty while the
  window is in ``physical_backup_data`` (a third-party run log, restore-paths RUNLOG
  2026-10-10, saw exactly that on a Pro project). Backups taken before it stay listed
  until they age out.
- The PITR window: from when PITR was enabled (or the retention of the variant, 7, 14 or 28
  days, back from now) to the newest WAL shipped; WAL ships every two minutes [docs], so the
  latest point lags the clock by up to 120 s (the run log saw targets just past "now"
  refused until the bound moved). The real window at enable time already reached a few
  minutes back; here it starts at the enable.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

DAY = 86400.0
WAL_SHIP_INTERVAL = 120.0  # "WAL files are backed up at two minute intervals" [docs]
RETENTION_DAYS = {"pro": 7, "team": 14, "enterprise": 30}  # daily backups by plan [docs]; Free: none
PITR_DAYS = {"pitr_7": 7, "pitr_14": 14, "pitr_28": 28}


@dataclass
class BaseBackup:
    """A pg_basebackup of the project's cluster, the start of every recovery after it."""

    path: Path
    real_time: float  # when it finished (real unix seconds): targets after it may start from it
    calendar_time: float


@dataclass
class RestorePoint:
    name: str
    real_time: float
    calendar_time: float
    segment: str  # the WAL file holding it: the point is AVAILABLE once that file is archived
    completed_on: str | None = None
    removed: bool = False  # a restore to before it left it on an abandoned timeline


@dataclass
class BackupState:
    pitr_variant: str | None = None
    pitr_since: float | None = None  # calendar time PITR was last enabled
    pitr_periods: list[tuple[float, float | None]] = field(default_factory=list)  # calendar spans with PITR on
    bases: list[BaseBackup] = field(default_factory=list)
    restore_points: dict[str, RestorePoint] = field(default_factory=dict)
    # (calendar time from which it holds, seconds into the UTC day); empty: the creation time of day.
    schedule: list[tuple[float, int]] = field(default_factory=list)
    schedule_updated_at: str | None = None
    schedule_changes: list[float] = field(default_factory=list)  # clock readings of PATCHes (3 per 24 h)


def iso(calendar: float) -> str:
    return datetime.fromtimestamp(calendar, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def seconds_of_day(calendar: float) -> int:
    return int(calendar % DAY)


def schedule_text(seconds: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(seconds))


def parse_schedule(text: str) -> int | None:
    """Seconds into the day for ``HH:MM:SS``; None when it is not that format."""
    parts = text.split(":")
    if len(parts) != 3 or not all(len(p) == 2 and p.isdigit() for p in parts):
        return None
    hours, minutes, seconds = (int(p) for p in parts)
    if hours > 23 or minutes > 59 or seconds > 59:
        return None
    return hours * 3600 + minutes * 60 + seconds


def daily_backup_times(state: BackupState, created: float, now: float) -> list[float]:
    """Calendar times of the daily backups taken from ``created`` to ``now`` (PITR spans skipped)."""
    segments = [(created, seconds_of_day(created)), *state.schedule]
    times: list[float] = []
    for index, (start, second) in enumerate(segments):
        end = segments[index + 1][0] if index + 1 < len(segments) else now
        end = min(end, now)
        day = math.floor(start / DAY) * DAY + second
        if day <= start:
            day += DAY
        while day <= end:
            times.append(day)
            day += DAY
    return [t for t in times if not _pitr_on_at(state, t)]


def _pitr_on_at(state: BackupState, calendar: float) -> bool:
    return any(start <= calendar and (end is None or calendar < end) for start, end in state.pitr_periods)


def listed_backups(
    state: BackupState, plan: str, created: float, now: float, ref_number: int
) -> list[dict[str, object]]:
    """The ``backups`` of V1BackupsResponse: the daily backups still within the plan's retention."""
    keep_days = RETENTION_DAYS.get(plan, 0)
    if keep_days == 0:
        return []
    oldest = now - keep_days * DAY
    return [
        {
            "is_physical_backup": True,
            "id": ref_number * 100_000 + int(t // DAY) % 100_000,
            "inserted_at": iso(t),
            "status": "COMPLETED",
        }
        for t in daily_backup_times(state, created, now)
        if t >= oldest
    ]


def pitr_window(state: BackupState, now: float) -> tuple[int, int] | None:
    """(earliest, latest) unix seconds a PITR restore may target; None without PITR."""
    if state.pitr_variant is None or state.pitr_since is None or not state.bases:
        return None
    first_base = min(b.calendar_time for b in state.bases)
    earliest = max(state.pitr_since, first_base, now - PITR_DAYS[state.pitr_variant] * DAY)
    shipped = state.pitr_since + math.floor((now - state.pitr_since) / WAL_SHIP_INTERVAL) * WAL_SHIP_INTERVAL
    return math.ceil(earliest), max(math.ceil(earliest), math.floor(shipped))
