"""The PITR add-on and recovery point providers called directly, against the local Management API,
whose point-in-time recovery is PostgreSQL's own (tests/emulators/supabase/pitr.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi.dynamic import ResourceProvider

from envstack.errors import NotFound
from providers.recovery_point import RecoveryPointProvider
from providers.supabase_network import ProjectNetworkProvider
from providers.supabase_pitr import ProjectPitrProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.supabase.testing import healthy_project


@pytest.fixture
def api(supabase_api: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", supabase_api.token)
    return supabase_api


@pytest.fixture
def ref(api: Any) -> str:
    with api.client() as client:
        return str(healthy_project(api, client, "recoverable", desired_instance_size="small")["ref"])


def live_variant(api: Any, ref: str) -> str | None:
    with api.client() as client:
        selected = client.get(f"/v1/projects/{ref}/billing/addons").json()["selected_addons"]
    return next((a["variant"]["id"] for a in selected if a["type"] == "pitr"), None)


def test_pitr_is_applied_changed_read_back_and_left_on_delete(api: Any, ref: str) -> None:
    provider = ProjectPitrProvider()
    props = {"management_api": api.url, "ref": ref, "variant": "pitr_7"}
    assert provider.check({}, props).failures == []
    created = provider.create(props)
    assert created.id == ref
    assert created.outs is not None
    assert live_variant(api, ref) == "pitr_7"

    assert provider.diff(ref, created.outs, props).changes is False
    assert provider.diff(ref, created.outs, {**props, "management_api": api.url + "/"}).changes is False
    assert provider.diff(ref, created.outs, {**props, "ref": "b" * 20}).replaces == ["ref"]
    longer = {**props, "variant": "pitr_14"}
    assert provider.diff(ref, created.outs, longer).changes is True
    provider.update(ref, created.outs, longer)
    assert live_variant(api, ref) == "pitr_14"

    # Removed in the dashboard: a refresh sees it, and the next update puts it back.
    with api.client() as client:
        assert client.delete(f"/v1/projects/{ref}/billing/addons/pitr_14").status_code in (200, 204)
    seen = provider.read(ref, longer)
    assert seen.outs is not None
    assert seen.outs["variant"] is None
    assert provider.diff(ref, seen.outs, longer).changes is True
    provider.update(ref, seen.outs, longer)
    assert live_variant(api, ref) == "pitr_14"

    provider.delete(ref, longer)
    assert live_variant(api, ref) == "pitr_14", "a teardown does not drop the recovery history"
    assert provider.check({}, {**props, "variant": "pitr_3"}).failures[0].property == "variant"


def test_a_projects_settings_leave_the_state_on_refresh_only_when_the_project_is_gone(api: Any, ref: str) -> None:
    """A 404 from a settings endpoint of a live project fails the refresh; once the project
    itself is gone (deleted in the dashboard), the refresh drops them instead of failing."""
    pitr = {"management_api": api.url, "ref": ref, "variant": "pitr_7"}
    network = {"management_api": api.url, "ref": ref, "ssl_enforced": True, "allowed_cidrs": None}
    created: list[tuple[ResourceProvider, dict[str, Any]]] = [
        (ProjectPitrProvider(), ProjectPitrProvider().create(pitr).outs or {}),
        (ProjectNetworkProvider(), ProjectNetworkProvider().create(network).outs or {}),
    ]
    for (provider, outs), path in zip(created, ("billing/addons", "ssl-enforcement"), strict=True):
        api.faults.add(FaultRule(path=f"/v1/projects/{ref}/{path}", method="GET", status=404))
        with pytest.raises(NotFound):
            provider.read(ref, dict(outs))
        assert provider.read(ref, dict(outs)).id == ref
    with api.client() as client:
        assert client.delete(f"/v1/projects/{ref}").status_code == 200
    for provider, outs in created:
        assert provider.read(ref, dict(outs)).id == "", f"{type(provider).__name__} leaves the state"


def test_a_recovery_point_records_the_moment_and_a_restore_point_where_one_is_offered(api: Any, ref: str) -> None:
    provider = RecoveryPointProvider()
    props = {"management_api": api.url, "ref": ref, "name": "pre-20260101000000", "trigger": "a"}
    # A Pro organization has no restore points: the moment is what is kept, and the run goes on.
    created = provider.create(props)
    assert created.outs is not None
    assert created.outs["restore_point"] is None
    assert created.outs["recorded_at"].endswith("Z")
    assert provider.diff(created.id, created.outs, props).changes is False
    moved = provider.update(created.id, created.outs, {**props, "management_api": api.url + "/"})
    assert moved.outs is not None
    assert moved.outs["recorded_at"] == created.outs["recorded_at"], "a new spelling of the API records nothing"
    assert provider.diff(created.id, created.outs, {**props, "trigger": "b"}).changes is True

    # An Enterprise organization with PITR on gets a named restore point too.
    api.tenant.organization.plan = "enterprise"
    ProjectPitrProvider().create({"management_api": api.url, "ref": ref, "variant": "pitr_7"})
    again = provider.update(created.id, created.outs, {**props, "trigger": "b"})
    assert again.outs is not None
    assert again.outs["restore_point"] == "pre-20260101000000"
    with api.client() as client:
        point = client.get(f"/v1/projects/{ref}/database/backups/restore-point", params={"name": "pre-20260101000000"})
    assert point.json()["status"] == "AVAILABLE"

    # A point that never becomes usable (failed, or still PENDING at the deadline) is said, not fatal.
    failed = {"name": "pre-20260102000000", "status": "REMOVED", "completed_on": None}
    point_path = f"/v1/projects/{ref}/database/backups/restore-point"
    api.faults.add(FaultRule(path=point_path, method="GET", status=200, body=failed))
    later = provider.update(created.id, again.outs, {**props, "name": "pre-20260102000000", "trigger": "c"})
    assert later.outs is not None
    assert later.outs["restore_point"] is None
    assert later.outs["recorded_at"].endswith("Z"), "the moment is kept, for restore --to <time>"
