"""Backups and point-in-time recovery (PITR) through the Supabase Management API.

``SupabaseBackupsClient`` is a ``SupabaseClient`` (same constructor, same HTTP layer, every
project call still there) with the backup calls added:

    with SupabaseBackupsClient(base_url=api_url, token=token) as client:
        client.set_pitr(ref, "pitr_7")              # or None to turn it off
        client.backups(ref).pitr_window             # (earliest, latest) unix seconds
        client.restore_to_time(ref, unix_seconds)
        client.wait_until_healthy(ref, restoring=True)

What the real service allows, as far as it is known (docs: supabase.com/docs/guides/platform/
backups; the refusals' wording from the real API, tests/emulators/supabase/backup_routes.py):
- PITR is an add-on of Pro, Team and Enterprise organizations and needs at least the Small
  compute add-on; with it on, daily backups are no longer taken (the window replaces them).
- A restore makes the project unreachable until it is ACTIVE_HEALTHY again (about 30 s for a
  small database); writes after the target are gone. Supabase sets the current database
  password again afterwards.
- Restore points (and the undo to one) are internal operations: on Free, Pro and Team
  organizations they answer "This endpoint is unavailable at the moment". Restoring to a time
  works wherever PITR is on, so a caller that wants a named point can keep the time instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from envstack.clients.create_once import create_once
from envstack.clients.polling import Backoff
from envstack.clients.supabase import PAUSED, SupabaseClient, paused_explanation
from envstack.errors import ApiError, NotFound, ResourceError

PITR_VARIANTS = ("pitr_7", "pitr_14", "pitr_28")  # days of history kept
RESTORE_POINT_NAME_MAX = 20  # V1RestorePointPostBody.name maxLength
# How far Supabase's clock may trail this machine's when a restore point found after a lost
# answer is told from an older one of the same name by its completion time.
RESTORE_POINT_CLOCK_SLACK_SECONDS = 300.0
# Statuses a project does not leave by itself (a restore that failed among them).
_DEAD_ENDS = frozenset({"INIT_FAILED", "REMOVED", "GOING_DOWN", "PAUSE_FAILED", "RESTORE_FAILED"})
_FIRST_POLL_SECONDS = 0.2


_MAX_POLL_SECONDS = 5.0
# After asking for a restore, how long a project still reading ACTIVE_HEALTHY is taken to be
# "not started yet" rather than "done": the answer (201) may come before the status moves.
RESTORE_GRACE_SECONDS = 30.0
_UNAVAILABLE_HINT = (
    "Supabase offers restore points only to some organizations; restore to a time instead "
    "(note the time before the change, then restore_to_time)"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", hide_input_in_errors=True)


class Backup(_Model):
    id: int
    is_physical_backup: bool
    status: str  # COMPLETED | FAILED | PENDING | REMOVED | ARCHIVED | CANCELLED
    inserted_at: str


class PhysicalBackupData(_Model):
    earliest_physical_backup_date_unix: int | None = None
    latest_physical_backup_date_unix: int | None = None


class Backups(_Model):
    """GET /v1/projects/{ref}/database/backups."""

    region: str | None = None
    walg_enabled: bool = False
    pitr_enabled: bool
    backups: list[Backup] = []
    physical_backup_data: PhysicalBackupData = PhysicalBackupData()

    @property
    def newest_backup(self) -> datetime | None:
        """When the newest completed backup was taken (None: none listed, as with PITR on)."""
        times = [_parse_time(b.inserted_at) for b in self.backups if b.status == "COMPLETED"]
        return max(times, default=None)

    @property
    def pitr_window(self) -> tuple[int, int] | None:
        """(earliest, latest) unix seconds a restore may target; None without PITR."""
        data = self.physical_backup_data
        earliest, latest = data.earliest_physical_backup_date_unix, data.latest_physical_backup_date_unix
        if not self.pitr_enabled or earliest is None or latest is None:
            return None
        return earliest, latest


class RestorePoint(_Model):
    name: str
    status: str  # AVAILABLE | PENDING | REMOVED | FAILED
    completed_on: str | None = None


def left_only_by_a_person(status: str) -> bool:
    """A status the project does not leave by itself: failed, or paused (waiting for that is futile)."""
    return status in _DEAD_ENDS or status in PAUSED


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _explained(exc: ApiError, hint: str) -> ApiError:
    """The same error with what to do added to its message."""
    return ApiError(
        service=exc.service,
        method=exc.method,
        path=exc.path,
        status=exc.status,
        message=f"{exc.message}. {hint}",
        code=exc.code,
        body=exc.body,
        retry_after=exc.retry_after,
    )


class SupabaseBackupsClient(SupabaseClient):
    """The Management API's backup, PITR and restore calls (and every SupabaseClient call)."""

    # -- the PITR add-on ------------------------------------------------------------------------
    def pitr_variant(self, ref: str) -> str | None:
        """The PITR add-on applied to the project (``pitr_7``, ``pitr_14``, ``pitr_28``), or None."""
        answer = self._api.get(f"/v1/projects/{ref}/billing/addons")
        for addon in answer.get("selected_addons") or []:
            if addon.get("type") == "pitr":
                return str(addon["variant"]["id"])
        return None

    def set_pitr(self, ref: str, variant: str | None) -> None:
        """Apply the PITR add-on ``variant``, or remove it (None); nothing when it already is so.
        Removing it drops the recovery window (daily backups resume)."""
        if variant is not None and variant not in PITR_VARIANTS:
            raise ValueError(f"unknown PITR variant {variant!r}: one of {', '.join(PITR_VARIANTS)}")
        current = self.pitr_variant(ref)
        if current == variant:
            return
        if variant is None:
            assert current is not None
            self._api.delete(f"/v1/projects/{ref}/billing/addons/{current}")
            return
        body = {"addon_type": "pitr", "addon_variant": variant}
        try:
            # Applying what is applied is harmless, so a lost answer may be retried.
            self._api.patch(f"/v1/projects/{ref}/billing/addons", json=body, retry_unsafe=True)
        except ApiError as exc:
            if exc.status == 400:
                raise _explained(
                    exc,
                    "PITR needs a Pro, Team or Enterprise organization and at least the Small compute add-on",
                ) from None
            raise

    # -- what is kept ---------------------------------------------------------------------------
    def backups(self, ref: str) -> Backups:
        """The daily backups and the PITR window."""
        return Backups.model_validate(self._api.get(f"/v1/projects/{ref}/database/backups"))

    def backup_schedule(self, ref: str) -> str | None:
        """The UTC time of day of the daily backup (``HH:MM:SS``); None when the organization's
        plan does not offer a schedule (the API answers 402 on Free, Pro and Team)."""
        try:
            answer = self._api.get(f"/v1/projects/{ref}/database/backups/schedule")
        except ApiError as exc:
            if exc.status == 402:
                return None
            raise
        return str(answer["schedule_for"])

    def set_backup_schedule(self, ref: str, schedule_for: str) -> str:
        """Move the daily backup to ``HH:MM:SS`` UTC (at most 3 changes a day); the schedule set."""
        answer = self._api.patch(
            f"/v1/projects/{ref}/database/backups/schedule", json={"schedule_for": schedule_for}, retry_unsafe=True
        )
        return str(answer["schedule_for"])

    # -- restore points -------------------------------------------------------------------------
    def get_restore_point(self, ref: str, name: str) -> RestorePoint | None:
        """The restore point ``name``; None when there is none of that name."""
        try:
            answer = self._api.get(f"/v1/projects/{ref}/database/backups/restore-point", params={"name": name})
        except NotFound:
            return None
        except ApiError as exc:
            raise self._restore_point_error(exc) from None
        return RestorePoint.model_validate(answer)

    def create_restore_point(
        self, ref: str, name: str, *, timeout: float = 120.0, sleep: Callable[[float], None] = time.sleep
    ) -> RestorePoint:
        """Mark the database's present state as ``name`` (at most 20 characters) and wait until
        the point can be restored to (AVAILABLE: its WAL is archived)."""
        if not 0 < len(name) <= RESTORE_POINT_NAME_MAX:
            raise ValueError(f"a restore point name has 1 to {RESTORE_POINT_NAME_MAX} characters: {name!r}")

        def create() -> RestorePoint:
            try:
                answer = self._api.post(
                    f"/v1/projects/{ref}/database/backups/restore-point", json={"name": name}, expected=(200, 201)
                )
            except ApiError as exc:
                raise self._restore_point_error(exc) from None
            return RestorePoint.model_validate(answer)

        asked = time.time()

        def ours() -> RestorePoint | None:
            # Found by its name after a lost answer: an older point of that name (the newest
            # migration's version names it, and an edited older migration keeps that version)
            # marks an earlier moment, and restoring to it would lose what came between.
            found = self.get_restore_point(ref, name)
            done = _parse_time(found.completed_on).timestamp() if found and found.completed_on else None
            if found is not None and done is not None and done < asked - RESTORE_POINT_CLOCK_SLACK_SECONDS:
                raise ResourceError(
                    f"restore point {name} of {ref} already existed, completed {found.completed_on}, before this "
                    "run asked for one: it marks an earlier moment, so it is not taken as this run's"
                )
            return found

        point = create_once(create, ours, what=f"restore point {name}")
        backoff = Backoff(first=_FIRST_POLL_SECONDS, cap=_MAX_POLL_SECONDS, timeout=timeout, sleep=sleep)
        while point.status == "PENDING":
            if backoff.expired():
                raise ResourceError(f"restore point {name} of {ref} was still PENDING after {timeout:.0f}s")
            backoff.wait()
            found = self.get_restore_point(ref, name)
            if found is None:
                raise ResourceError(f"restore point {name} of {ref} disappeared while it was being made")
            point = found
        if point.status != "AVAILABLE":
            raise ResourceError(f"restore point {name} of {ref} ended {point.status}")
        return point

    @staticmethod
    def _restore_point_error(exc: ApiError) -> ApiError:
        if exc.status == 400 and "unavailable" in exc.message:
            return _explained(exc, _UNAVAILABLE_HINT)
        return exc

    # -- restores -------------------------------------------------------------------------------
    def restore_to_time(self, ref: str, unix_seconds: int) -> None:
        """Restore the database to how it was at ``unix_seconds`` (within ``backups(ref).pitr_window``);
        the project goes RESTORING at once, then ``wait_until_healthy(ref, restoring=True)``.
        Never repeated blindly: a second restore would lose what was written in between."""
        body = {"recovery_time_target_unix": int(unix_seconds)}
        self._api.post(f"/v1/projects/{ref}/database/backups/restore-pitr", json=body, expected=(200, 201))

    def restore_to_restore_point(self, ref: str, name: str) -> None:
        """Restore the database to the restore point ``name`` (the API's undo); then
        ``wait_until_healthy(ref, restoring=True)``."""
        try:
            self._api.post(f"/v1/projects/{ref}/database/backups/undo", json={"name": name}, expected=(200, 201))
        except ApiError as exc:
            raise self._restore_point_error(exc) from None

    def wait_until_healthy(
        self,
        ref: str,
        *,
        timeout: float = 900.0,
        restoring: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] | None = None,
    ) -> None:
        """Poll until the project is ACTIVE_HEALTHY; fail clearly on a dead end (RESTORE_FAILED, …),
        a paused project or the deadline. ``restoring``: a restore was just asked, so a healthy
        status counts once the project was seen otherwise (or stayed healthy RESTORE_GRACE_SECONDS:
        the answer may come before the status moves)."""
        backoff = Backoff(first=_FIRST_POLL_SECONDS, cap=_MAX_POLL_SECONDS, timeout=timeout, sleep=sleep)
        seen_other, reported = not restoring, ""
        while True:
            status = self.get_project(ref).status
            if status == "ACTIVE_HEALTHY" and (seen_other or backoff.elapsed() >= RESTORE_GRACE_SECONDS):
                return
            if status != "ACTIVE_HEALTHY":
                seen_other = True
            if status in PAUSED:
                restore = f"/v1/projects/{ref}/restore"
                raise ResourceError(paused_explanation(f"Supabase project {ref}", status, restore))
            if status in _DEAD_ENDS:
                raise ResourceError(f"Supabase project {ref} ended in status {status} instead of ACTIVE_HEALTHY")
            if backoff.expired():
                raise ResourceError(f"Supabase project {ref} was still {status} after {timeout:.0f}s")
            if say is not None and status != reported:
                say(f"Supabase project {ref} is {status}; waiting up to {timeout:.0f}s for it")
                reported = status
            backoff.wait()
