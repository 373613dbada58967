"""Backups and point-in-time recovery in the local Supabase API, through envstack's client
(envstack/clients/supabase_backups.py): the PITR add-on and who may have it, daily backups on
the emulator's clock, and restores that really bring data back on the project's PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from envstack.clients.supabase_backups import SupabaseBackupsClient
from envstack.errors import ApiError
from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.supabase.projects import Tenant
from tests.emulators.supabase.testing import healthy_project, pg, wait_status

DAY = 24 * 3600


@pytest.fixture
def client(supabase_api: SupabaseTenant) -> Iterator[httpx.Client]:
    with supabase_api.client() as http:
        yield http


@pytest.fixture
def backups(supabase_api: SupabaseTenant) -> Iterator[SupabaseBackupsClient]:
    with SupabaseBackupsClient(base_url=supabase_api.url, token=supabase_api.token) as api:
        yield api


def _small_project(api: SupabaseTenant, http: httpx.Client, name: str) -> dict[str, Any]:
    """A healthy project on Small compute, the least PITR runs on."""
    project = healthy_project(api, http, name)
    body = {"addon_type": "compute_instance", "addon_variant": "ci_small"}
    assert http.patch(f"/v1/projects/{project['ref']}/billing/addons", json=body).status_code == 200
    return project


def _rows(api: SupabaseTenant, project: dict[str, Any], password: str | None = None) -> list[str]:
    info = api.project(project["ref"])
    assert info is not None
    with pg(info.db_host, info.db_port, "postgres", password or project["db_pass"]) as conn:
        return [row[0] for row in conn.execute("SELECT note FROM notes ORDER BY note").fetchall()]


def _sql(api: SupabaseTenant, project: dict[str, Any], statement: str, password: str | None = None) -> None:
    info = api.project(project["ref"])
    assert info is not None
    with pg(info.db_host, info.db_port, "postgres", password or project["db_pass"]) as conn:
        conn.execute(statement)


def test_pitr_is_an_add_on_of_paid_plans_on_small_compute(
    supabase_api: SupabaseTenant, client: httpx.Client, backups: SupabaseBackupsClient
) -> None:
    ref = healthy_project(supabase_api, client, "pitr-addon")["ref"]
    with pytest.raises(ApiError, match="Small compute") as refused:
        backups.set_pitr(ref, "pitr_7")
    assert refused.value.status == 400, "PITR needs Small compute at least"
    assert client.patch(
        f"/v1/projects/{ref}/billing/addons", json={"addon_type": "compute_instance", "addon_variant": "ci_small"}
    ).is_success
    assert backups.pitr_variant(ref) is None
    backups.set_pitr(ref, "pitr_7")
    assert backups.pitr_variant(ref) == "pitr_7"
    listed = client.get(f"/v1/projects/{ref}/billing/addons").json()
    assert {(a["type"], a["variant"]["id"]) for a in listed["selected_addons"]} == {
        ("compute_instance", "ci_small"),
        ("pitr", "pitr_7"),
    }
    assert {"pitr_7", "pitr_14", "pitr_28"} <= {v["id"] for a in listed["available_addons"] for v in a["variants"]}
    state = backups.backups(ref)
    assert state.pitr_enabled
    assert state.walg_enabled
    assert state.backups == [], "with PITR on, daily backups are no longer listed"
    assert state.pitr_window is not None
    info = supabase_api.project(ref)
    assert info is not None
    assert info.data_dir is not None
    server = supabase_api.emulator.state.projects[ref].server
    assert server is not None
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as admin:  # postgres may not switch WAL
        segment = admin.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
    assert segment is not None
    archived = info.data_dir.parent / "wal-archive" / str(segment[0])
    deadline = time.monotonic() + 10
    while not archived.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert archived.exists(), "WAL reaches the project's archive"
    supabase_api.advance_clock(10 * DAY)
    later = backups.backups(ref).pitr_window
    assert later is not None
    assert 7 * DAY - 120 <= later[1] - later[0] <= 7 * DAY, "pitr_7 keeps seven days, shipped every two minutes"
    lowered = client.patch(
        f"/v1/projects/{ref}/billing/addons", json={"addon_type": "compute_instance", "addon_variant": "ci_micro"}
    )
    assert lowered.status_code == 400, "compute may not drop below Small while PITR is on"
    backups.set_pitr(ref, "pitr_14")
    assert backups.pitr_variant(ref) == "pitr_14", "another retention, same add-on"
    backups.set_pitr(ref, None)
    assert backups.pitr_variant(ref) is None
    state = backups.backups(ref)
    assert (state.pitr_enabled, state.pitr_window) == (False, None)
    assert not (info.data_dir.parent / "wal-archive").exists(), "the archive goes with the add-on"
    assert client.delete(f"/v1/projects/{ref}/billing/addons/pitr_7").status_code == 400, "nothing to remove"


def test_a_free_organization_gets_no_pitr_no_listed_backups_and_no_schedule(supabase_api: SupabaseTenant) -> None:
    free = supabase_api.emulator.add_tenant(plan="free")
    try:
        with (
            supabase_api.client(free.token) as http,
            SupabaseBackupsClient(base_url=supabase_api.url, token=free.token) as backups,
        ):
            body = {"name": "free-pitr", "organization_slug": free.organization.slug, "db_pass": "pw-free-pitr-1"}
            ref = http.post("/v1/projects", json=body).json()["ref"]
            wait_status(http, ref)
            with pytest.raises(ApiError, match="not entitled to the selected PITR duration") as refused:
                backups.set_pitr(ref, "pitr_7")
            assert refused.value.status == 400
            supabase_api.advance_clock(3 * DAY)
            state = backups.backups(ref)
            assert (state.pitr_enabled, state.backups, state.pitr_window) == (False, [], None)
            with pytest.raises(ApiError, match=r"PITR is not enabled for this project\."):
                backups.restore_to_time(ref, 1_700_000_000)
            assert backups.backup_schedule(ref) is None, "the schedule is not on the Free plan (402)"
    finally:
        supabase_api.emulator.remove_projects_of(free)


def test_daily_backups_follow_the_clock_and_age_out(
    supabase_api: SupabaseTenant, client: httpx.Client, backups: SupabaseBackupsClient
) -> None:
    project = healthy_project(supabase_api, client, "daily")
    ref = project["ref"]
    assert backups.backups(ref).backups == [], "a new project has no backup yet"
    supabase_api.advance_clock(DAY)
    first = backups.backups(ref)
    assert [(b.status, b.is_physical_backup) for b in first.backups] == [("COMPLETED", True)]
    assert first.newest_backup is not None
    supabase_api.advance_clock(2 * DAY)
    three = backups.backups(ref)
    assert len(three.backups) == 3
    assert three.newest_backup is not None
    assert (three.newest_backup - first.newest_backup).total_seconds() == 2 * DAY, "one a day, at the same time"
    supabase_api.advance_clock(10 * DAY)
    assert len(backups.backups(ref).backups) == 7, "a Pro project keeps seven days of them"
    assert backups.backup_schedule(ref) is None, "the schedule is an Enterprise feature (402 on Pro)"
    # Nothing of this needed WAL: a project without PITR archives nothing.
    info = supabase_api.project(ref)
    assert info is not None
    assert info.data_dir is not None
    assert not (info.data_dir.parent / "wal-archive").exists()


def test_a_restore_to_a_time_brings_a_deleted_row_back(
    supabase_api: SupabaseTenant, client: httpx.Client, backups: SupabaseBackupsClient
) -> None:
    project = _small_project(supabase_api, client, "pitr-time")
    ref = project["ref"]
    backups.set_pitr(ref, "pitr_7")
    _sql(supabase_api, project, "CREATE TABLE notes (note text); INSERT INTO notes VALUES ('kept')")
    # A day passes (the day's base backup is taken: the restore starts from it), then an hour;
    # then the row is deleted and the password changed.
    supabase_api.advance_clock(DAY)
    assert backups.backups(ref).backups == [], "PITR's daily base backups are not listed"
    assert len(supabase_api.emulator.state.projects[ref].backups.bases) == 2
    supabase_api.advance_clock(3600)
    _sql(supabase_api, project, "DELETE FROM notes")
    new_password = f"{project['db_pass']}-2"
    assert client.patch(f"/v1/projects/{ref}/database/password", json={"password": new_password}).is_success
    assert _rows(supabase_api, project, new_password) == []
    window = backups.backups(ref).pitr_window
    assert window is not None
    earliest, latest = window
    assert latest - earliest >= DAY + 3300, "the window spans the day and the hour"
    with pytest.raises(ApiError, match="Recovery time target must be within range") as refused:
        backups.restore_to_time(ref, latest + 600)
    assert refused.value.status == 400
    backups.restore_to_time(ref, latest - 600)  # during the hour: before the delete
    assert supabase_api.project_status(ref) == "RESTORING"
    with pytest.raises(ApiError, match="RESTORING"):
        backups.restore_to_time(ref, latest - 600)
    backups.wait_until_healthy(ref, restoring=True, timeout=60)
    assert _rows(supabase_api, project, new_password) == ["kept"], "the row is back; the API's password holds"
    _sql(supabase_api, project, "INSERT INTO notes VALUES ('after')", new_password)
    assert _rows(supabase_api, project, new_password) == ["after", "kept"], "the restored database takes writes"
    assert backups.backups(ref).pitr_enabled, "PITR stays on after a restore"


def test_a_restore_point_round_trip_on_an_enterprise_organization(supabase_api: SupabaseTenant) -> None:
    enterprise: Tenant = supabase_api.emulator.add_tenant(plan="enterprise")
    try:
        with (
            supabase_api.client(enterprise.token) as http,
            SupabaseBackupsClient(base_url=supabase_api.url, token=enterprise.token) as backups,
        ):
            body = {"name": "undo", "organization_slug": enterprise.organization.slug, "db_pass": "pw-undo-1-x"}
            ref = http.post("/v1/projects", json=body).json()["ref"]
            wait_status(http, ref)
            project = {"ref": ref, "db_pass": body["db_pass"]}
            with pytest.raises(ApiError, match=r"PITR is not enabled"):
                backups.create_restore_point(ref, "before-delete")
            patch = {"addon_type": "compute_instance", "addon_variant": "ci_small"}
            assert http.patch(f"/v1/projects/{ref}/billing/addons", json=patch).is_success
            backups.set_pitr(ref, "pitr_28")
            _sql(supabase_api, project, "CREATE TABLE notes (note text); INSERT INTO notes VALUES ('kept')")
            point = backups.create_restore_point(ref, "before-delete")
            assert (point.name, point.status) == ("before-delete", "AVAILABLE")
            assert point.completed_on is not None
            with pytest.raises(ApiError, match="already exists"):
                backups.create_restore_point(ref, "before-delete")
            _sql(supabase_api, project, "DELETE FROM notes")
            backups.restore_to_restore_point(ref, "before-delete")
            seen = wait_status(http, ref)
            assert (seen[0], seen[-1]) == ("RESTORING", "ACTIVE_HEALTHY"), seen
            assert _rows(supabase_api, project) == ["kept"]
            assert backups.get_restore_point(ref, "missing") is None
            assert backups.backup_schedule(ref) is not None, "Enterprise reads its backup schedule"
            assert backups.set_backup_schedule(ref, "04:00:00") == "04:00:00"
    finally:
        supabase_api.emulator.remove_projects_of(enterprise)


def test_restore_points_are_unavailable_on_pro_as_the_real_api_answers(
    supabase_api: SupabaseTenant, client: httpx.Client, backups: SupabaseBackupsClient
) -> None:
    ref = healthy_project(supabase_api, client, "no-points")["ref"]
    with pytest.raises(ApiError, match=r"unavailable at the moment.*restore_to_time"):
        backups.create_restore_point(ref, "before")
    with pytest.raises(ApiError, match="unavailable at the moment"):
        backups.restore_to_restore_point(ref, "before")
    assert client.post(f"/v1/projects/{ref}/database/backups/restore", json={"id": 1}).status_code == 400
