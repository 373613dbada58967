"""Backups and point-in-time recovery: the billing add-ons list, the PITR add-on, the backup
list, the backup schedule, restore points and restores. The restores are real: PostgreSQL's
own WAL archiving and recovery on the project's cluster (pitr.py), not a pg_dump stand-in.
What is listed, and when, is backups.py.

Who may do what, and the refusals (sources: [docs] supabase.com/docs/guides/platform/backups;
[log] a third-party run log of the real API on Free, Pro, Team and platform organizations,
"restore-paths RUNLOG" 2026-10-10 and "sfp-platforms RUNLOG" 2026-08/09, found through public
code search; [recorded] tests/reference/fixtures; [chosen] wording not seen anywhere):

- PITR (``PATCH …/billing/addons`` with ``addon_type: pitr``) on Pro, Team and Enterprise
  [docs]; a Free organization is refused 400 "Organization is not entitled to the selected PITR
  duration" [log: the answer to an organization without the PITR entitlement]. It needs at least
  the Small compute add-on [docs] (400 [chosen]), and so does lowering compute while it is on.
- ``POST …/restore-pitr`` without PITR: 400 "PITR is not enabled for this project." [recorded];
  a target outside the window: 400 "Recovery time target must be within range: <earliest> <= t
  <= <latest>" [log]; the project goes RESTORING and back to ACTIVE_HEALTHY [log: 30 s for a
  10 MB database] with the current password set again [changelog 2026-07-30].
- Restore points, undo to one, and the restore of a listed backup by id (all ``x-internal``
  in the spec) answer 400 "This endpoint is unavailable at the moment" on Free, Pro and Team
  organizations [log]. An Enterprise organization here (``add_tenant(plan="enterprise")``) may
  make and use restore points (a stand-in: where they work for real is not known); they need
  PITR (they live in its WAL archive) [chosen]. The restore of a listed backup is refused on
  every plan: with PITR the list is empty [log], and a daily backup without PITR has no WAL to
  recover from here.
- The backup schedule answers 402 on Free, Pro and Team [log: ``entitlement_required``,
  feature ``backup.schedule``]; an Enterprise organization reads and sets it; ``schedule_for``
  must be ``HH:MM:SS`` (400 "Invalid schedule_for format" [spec]) and changes at most 3 times
  in 24 hours [spec] (400 [chosen]).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

from tests.emulators.common.server import Response
from tests.emulators.supabase import pitr
from tests.emulators.supabase.backups import (
    DAY,
    BaseBackup,
    RestorePoint,
    iso,
    listed_backups,
    parse_iso,
    parse_schedule,
    pitr_window,
    schedule_text,
    seconds_of_day,
)
from tests.emulators.supabase.projects import Project
from tests.emulators.supabase.routing import ApiError, Ctx, route

# The add-on catalogue as recorded (GET_v1_projects___PROJECT_REF___billing_addons: available_addons).
CATALOG: list[dict[str, Any]] = json.loads(Path(__file__).with_name("addon_catalog.json").read_text())
_BELOW_SMALL = frozenset({"pico", "nano", "micro"})
UNAVAILABLE = "This endpoint is unavailable at the moment"
NOT_ENABLED = "PITR is not enabled for this project."
_SCHEDULE_CHANGES_PER_DAY = 3


def _variant(variant_id: str) -> tuple[str, dict[str, Any]] | None:
    """(add-on type, variant) of the catalogue."""
    for addon in CATALOG:
        for variant in addon["variants"]:
            if variant["id"] == variant_id:
                return str(addon["type"]), variant
    return None


def _calendar(ctx: Ctx) -> float:
    return ctx.emulator.clock.calendar()


def _created(ctx: Ctx, project: Project) -> float:
    return ctx.emulator.clock.calendar_of(parse_iso(project.created_at))


def _healthy(project: Project, what: str) -> None:
    if project.status != "ACTIVE_HEALTHY" or project.server is None:
        raise ApiError(400, f"Project is {project.status}: {what} needs an ACTIVE_HEALTHY project.")  # chosen


# -- billing add-ons ------------------------------------------------------------------------------
@route("v1-list-project-addons")
def list_addons(ctx: Ctx) -> Response:
    project = ctx.project()
    selected = []
    for variant_id in (f"ci_{project.instance_size}", project.backups.pitr_variant):
        found = _variant(variant_id) if variant_id else None
        if found is not None:  # nano has no compute variant: the spec's enum has none for it
            selected.append({"type": found[0], "variant": copy.deepcopy(found[1])})
    return Response(200, {"selected_addons": selected, "available_addons": copy.deepcopy(CATALOG)})


def check_compute(project: Project, size: str) -> None:
    """PITR needs at least Small compute, so compute may not drop below it while PITR is on."""
    if project.backups.pitr_variant is not None and size in _BELOW_SMALL:
        raise ApiError(400, f"Point-in-Time Recovery needs at least the Small compute add-on; {size} is smaller.")


def apply_pitr(ctx: Ctx, project: Project, variant: str) -> Response:
    """``PATCH …/billing/addons`` for the pitr type: enable PITR or change its retention."""
    if project.organization.plan == "free":
        raise ApiError(400, "Organization is not entitled to the selected PITR duration")
    if project.instance_size in _BELOW_SMALL:
        raise ApiError(
            400,
            "Point-in-Time Recovery needs at least the Small compute add-on; "
            f"the project runs on {project.instance_size}.",
        )
    with project.lock:
        state = project.backups
        if state.pitr_variant is not None:
            state.pitr_variant = variant  # another retention; the archive stays
            return Response(200)
        _healthy(project, "enabling PITR")
        assert project.server is not None
        pitr.start_archiving(project.server)
        path = pitr.base_backup(project.server)
        now = _calendar(ctx)
        state.bases = [BaseBackup(path, ctx.emulator.clock.real_time(now), now)]
        state.pitr_variant, state.pitr_since = variant, now
        state.pitr_periods.append((now, None))
    return Response(200)


@route("v1-remove-project-addon")
def remove_addon(ctx: Ctx) -> Response:
    project = ctx.project()
    variant = ctx.params["addon_variant"]
    with project.lock:
        state = project.backups
        if variant.startswith("pitr_"):
            if state.pitr_variant != variant:
                raise ApiError(400, f"Addon {variant} is not applied to this project.")  # chosen
            if project.server is not None:
                pitr.stop_archiving(project.server)
            now = _calendar(ctx)
            state.pitr_periods = [(start, now if end is None else end) for start, end in state.pitr_periods]
            state.pitr_variant, state.pitr_since, state.bases = None, None, []
            state.restore_points.clear()
            return Response(200)
        if variant == f"ci_{project.instance_size}":
            check_compute(project, "nano")
            project.instance_size = "nano"  # the size a project starts with here (projects.py)
            return Response(200)
    raise ApiError(400, f"Addon {variant} is not applied to this project.")  # chosen


# -- the backup list and schedule ---------------------------------------------------------------------
def _daily_base_backup(ctx: Ctx, project: Project) -> None:
    """With PITR on, a base backup a day (WAL-G's daily snapshot, [docs]), taken when a day has
    passed on the calendar since the newest one: later restores replay less WAL. Its real
    time is when it was taken, so only targets after that start from it."""
    state = project.backups
    now = _calendar(ctx)
    if state.pitr_variant is None or not state.bases or project.server is None or project.status != "ACTIVE_HEALTHY":
        return
    if now - max(b.calendar_time for b in state.bases) < DAY:
        return
    path = pitr.base_backup(project.server)
    state.bases.append(BaseBackup(path, ctx.emulator.clock.real_time(now), now))
    # Older ones than the window needs go (the newest from before its start stays: it starts
    # a restore to the earliest point).
    window = pitr_window(state, now)
    if window is not None:
        before = [b for b in state.bases if b.calendar_time <= window[0]]
        for old in sorted(before, key=lambda b: b.calendar_time)[:-1]:
            shutil.rmtree(old.path, ignore_errors=True)
            state.bases.remove(old)


@route("v1-list-all-backups")
def list_backups(ctx: Ctx) -> Response:
    project = ctx.project()
    with project.lock:
        _daily_base_backup(ctx, project)
        now = _calendar(ctx)
        state = project.backups
        window = pitr_window(state, now)
        body: dict[str, Any] = {
            "region": project.region,
            "walg_enabled": True,
            "pitr_enabled": state.pitr_variant is not None,
            "backups": listed_backups(
                state, project.organization.plan, _created(ctx, project), now, project.numeric_id
            ),
            "physical_backup_data": {},
        }
        if window is not None:
            body["physical_backup_data"] = {
                "earliest_physical_backup_date_unix": window[0],
                "latest_physical_backup_date_unix": window[1],
            }
    return Response(200, body)


def _schedule_entitled(project: Project) -> None:
    if project.organization.plan != "enterprise":
        raise ApiError(402, "Your organization's plan does not include backup schedules (backup.schedule).")


def _schedule_json(ctx: Ctx, project: Project) -> dict[str, Any]:
    state = project.backups
    second = state.schedule[-1][1] if state.schedule else seconds_of_day(_created(ctx, project))
    updated = state.schedule_updated_at or iso(_created(ctx, project))
    return {"schedule_for": schedule_text(second), "updated_at": updated}


@route("v1-get-backup-schedule")
def get_schedule(ctx: Ctx) -> Response:
    project = ctx.project()
    _schedule_entitled(project)
    return Response(200, _schedule_json(ctx, project))


@route("v1-update-backup-schedule")
def update_schedule(ctx: Ctx) -> Response:
    project = ctx.project()
    _schedule_entitled(project)
    second = parse_schedule(str(ctx.body["schedule_for"]))
    if second is None:
        raise ApiError(400, "Invalid schedule_for format")
    with project.lock:
        state = project.backups
        now = ctx.emulator.clock()
        recent = [t for t in state.schedule_changes if now - t < DAY]
        if len(recent) >= _SCHEDULE_CHANGES_PER_DAY:
            raise ApiError(400, "The backup schedule can only be updated 3 times per 24 hours.")  # chosen
        state.schedule_changes = [*recent, now]
        calendar = _calendar(ctx)
        state.schedule.append((calendar, second))
        state.schedule_updated_at = iso(calendar)
    return Response(200, _schedule_json(ctx, project))


# -- restore points -----------------------------------------------------------------------------------
def _restore_points_entitled(project: Project) -> None:
    if project.organization.plan != "enterprise":
        raise ApiError(400, UNAVAILABLE)


def _pitr_on(project: Project) -> None:
    if project.backups.pitr_variant is None:
        raise ApiError(400, NOT_ENABLED)


def _point_json(ctx: Ctx, project: Project, point: RestorePoint) -> dict[str, Any]:
    if point.removed:
        status = "REMOVED"
    elif point.completed_on is not None:
        status = "AVAILABLE"
    elif project.server is not None and pitr.archived(project.server, point.segment):
        point.completed_on = iso(_calendar(ctx))
        status = "AVAILABLE"
    else:
        status = "PENDING"
    return {"name": point.name, "status": status, "completed_on": point.completed_on}


@route("v1-create-restore-point")
def create_restore_point(ctx: Ctx) -> Response:
    project = ctx.project()
    _restore_points_entitled(project)
    name = str(ctx.body["name"])
    with project.lock:
        _pitr_on(project)
        _healthy(project, "a restore point")
        assert project.server is not None
        state = project.backups
        if name in state.restore_points and not state.restore_points[name].removed:
            raise ApiError(400, f"A restore point named {name} already exists.")  # chosen
        segment = pitr.create_restore_point(project.server, name)
        now = _calendar(ctx)
        point = RestorePoint(name, ctx.emulator.clock.real_time(now), now, segment)
        state.restore_points[name] = point
        answer = {"name": name, "status": "PENDING", "completed_on": None}
    return Response(201, answer)


@route("v1-get-restore-point")
def get_restore_point(ctx: Ctx) -> Response:
    project = ctx.project()
    _restore_points_entitled(project)
    name = ctx.request.param("name")
    with project.lock:
        points = project.backups.restore_points
        # No name: the newest one [chosen].
        point = points.get(name) if name else max(points.values(), key=lambda p: p.real_time, default=None)
        if point is None:
            raise ApiError(404, "Restore point not found")  # chosen
        return Response(200, _point_json(ctx, project, point))


# -- restores -----------------------------------------------------------------------------------------
def _base_before(project: Project, real: float) -> BaseBackup:
    bases = [b for b in project.backups.bases if b.real_time < real]
    if not bases:
        raise ApiError(400, "No physical backup was taken before the requested recovery target.")  # chosen
    return max(bases, key=lambda b: b.real_time)


def _start_restore(ctx: Ctx, project: Project, base: BaseBackup, *, real: float | None, name: str | None) -> None:
    """RESTORING now; the cluster recovers in the background (provisioning.restore_database)."""
    after = real if real is not None else project.backups.restore_points[str(name)].real_time
    for point in project.backups.restore_points.values():
        if point.real_time > after:
            point.removed = True  # on the timeline the restore abandons
    ctx.emulator.provisioner.restore_database(
        project,
        pitr.flush,
        lambda server: pitr.restore(server, base.path, time_target=real, name=name),
        pitr.finish,
    )


@route("v1-restore-pitr-backup")
def restore_pitr(ctx: Ctx) -> Response:
    project = ctx.project()
    target = int(ctx.body["recovery_time_target_unix"])
    with project.lock:
        _pitr_on(project)
        _healthy(project, "a restore")
        window = pitr_window(project.backups, _calendar(ctx))
        assert window is not None
        earliest, latest = window
        if not earliest <= target <= latest:
            raise ApiError(400, f"Recovery time target must be within range: {earliest} <= t <= {latest}")
        real = ctx.emulator.clock.real_time(float(target))
        _start_restore(ctx, project, _base_before(project, real), real=real, name=None)
    return Response(201)


@route("v1-undo")
def undo(ctx: Ctx) -> Response:
    project = ctx.project()
    _restore_points_entitled(project)
    name = str(ctx.body["name"])
    with project.lock:
        _pitr_on(project)
        _healthy(project, "a restore")
        point = project.backups.restore_points.get(name)
        if point is None or point.removed:
            raise ApiError(404, "Restore point not found")  # chosen
        if _point_json(ctx, project, point)["status"] != "AVAILABLE":
            raise ApiError(400, f"Restore point {name} is not available yet.")  # chosen
        _start_restore(ctx, project, _base_before(project, point.real_time), real=None, name=name)
    return Response(201)


@route("v1-restore-physical-backup")
def restore_backup(ctx: Ctx) -> Response:
    ctx.project()
    raise ApiError(400, UNAVAILABLE)
