"""The local Vercel API's production alias: what production serves after promotions and
Instant Rollbacks, and deployment lists filtered by branch, as the real API answers them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.emulators.vercel.fixtures import VercelApi


@pytest.fixture
def project(vercel_api: VercelApi) -> str:
    return str(vercel_api.create_project()["id"])


@pytest.fixture
def http(vercel_api: VercelApi) -> Iterator[httpx.Client]:
    # Rollbacks stand for the Vercel CLI's `rollback`, an endpoint the OpenAPI document lacks.
    vercel_api.real_client_calls_undocumented = True
    with vercel_api.http() as client:
        yield client


def _served(http: httpx.Client, project: str) -> str | None:
    answer = http.get(f"/v9/projects/{project}")
    assert answer.status_code == 200
    production = (answer.json().get("targets") or {}).get("production")
    return str(production["id"]) if production else None


def _substate(http: httpx.Client, deployment: dict[str, Any]) -> str | None:
    shown: str | None = http.get(f"/v13/deployments/{deployment['id']}").json().get("readySubstate")
    return shown


def test_production_serves_the_newest_ready_production_deployment(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    assert _served(http, project) is None
    first = vercel_api.deploy(project, "production")
    vercel_api.deploy(project, "preview", branch="feature")
    second = vercel_api.deploy(project, "production")
    assert _served(http, project) == second["id"]
    assert _substate(http, first) == "PROMOTED"


def test_a_rollback_pins_production_and_stages_later_builds_until_a_promotion(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    good = vercel_api.deploy(project, "production")
    bad = vercel_api.deploy(project, "production")
    assert http.post(f"/v9/projects/{project}/rollback/{good['id']}", json={}).status_code == 201

    assert _served(http, project) == good["id"]
    request = http.get(f"/v9/projects/{project}").json()["lastAliasRequest"]
    assert (request["type"], request["fromDeploymentId"], request["toDeploymentId"], request["jobStatus"]) == (
        "rollback",
        bad["id"],
        good["id"],
        "succeeded",
    )
    # Automatic assignment is off: a new production build is staged, not served.
    staged = vercel_api.deploy(project, "production")
    assert _served(http, project) == good["id"]
    assert _substate(http, staged) == "STAGED"
    listed = http.get("/v6/deployments", params={"projectId": project, "target": "production"}).json()
    assert {d["uid"]: d.get("readySubstate") for d in listed["deployments"]}[staged["id"]] == "STAGED"

    assert http.post(f"/v10/projects/{project}/promote/{staged['id']}").status_code == 201
    assert _served(http, project) == staged["id"]
    assert _substate(http, staged) == "PROMOTED"
    # Promotion turned automatic assignment back on.
    latest = vercel_api.deploy(project, "production")
    assert _served(http, project) == latest["id"]


def test_production_goes_to_the_build_that_finishes_last(
    vercel_api: VercelApi, http: httpx.Client, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Builds finish out of order; the one created first but finished last takes production."""
    now = [time.time()]
    monkeypatch.setattr(vercel_api.app.builds, "_clock", lambda: now[0])
    vercel_api.deploy(project, "production")

    def build(seconds: float) -> str:
        vercel_api.configure(queue_seconds=0, build_seconds=seconds)
        source = {"type": "github", "org": "acme", "repo": "app", "ref": "main", "sha": secrets.token_hex(20)}
        body = {"name": "app", "project": project, "target": "production", "gitSource": source}
        answer = http.post("/v13/deployments", json=body)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["id"])

    slow = build(60)
    quick = build(5)
    now[0] += 10
    assert _served(http, project) == quick
    now[0] += 60
    assert _served(http, project) == slow, "created first, finished last"


def test_automatic_assignment_is_a_project_setting_too(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    """Off with no rollback behind it (a team that promotes by hand): new production builds are
    staged; back on, the next one is served."""
    live = vercel_api.deploy(project, "production")
    assert http.get(f"/v9/projects/{project}").json()["autoAssignCustomDomains"] is True
    off = http.patch(f"/v9/projects/{project}", json={"autoAssignCustomDomains": False})
    assert (off.status_code, off.json()["autoAssignCustomDomains"]) == (200, False)

    staged = vercel_api.deploy(project, "production")
    assert _served(http, project) == live["id"]
    assert _substate(http, staged) == "STAGED"
    assert http.get(f"/v9/projects/{project}").json()["lastAliasRequest"] is None, "no rollback"

    assert http.patch(f"/v9/projects/{project}", json={"autoAssignCustomDomains": True}).status_code == 200
    newest = vercel_api.deploy(project, "production")
    assert _served(http, project) == newest["id"]
    assert _substate(http, staged) == "STAGED", "a staged build stays staged until promoted"


def test_only_a_deployment_that_served_production_can_be_rolled_back_to(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    preview = vercel_api.deploy(project, "preview", branch="feature")
    vercel_api.deploy(project, "production")
    refused = http.post(f"/v9/projects/{project}/rollback/{preview['id']}", json={})
    assert refused.status_code == 400
    assert http.post(f"/v10/projects/{project}/promote/{preview['id']}").status_code == 400
    assert http.post(f"/v9/projects/{project}/rollback/dpl_missing", json={}).status_code == 404


def test_deployments_are_listed_by_branch_and_state_one_page_at_a_time(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    feature = [vercel_api.deploy(project, "preview", branch="feature")["id"] for _ in range(3)]
    other = vercel_api.deploy(project, "preview", branch="other")["id"]
    vercel_api.deploy(project, "production")

    def listed(**params: Any) -> dict[str, Any]:
        answer = http.get("/v6/deployments", params={"projectId": project, **params})
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    assert [d["uid"] for d in listed(branch="feature", state="READY")["deployments"]] == feature[::-1]
    assert [d["uid"] for d in listed(branch="other")["deployments"]] == [other]
    assert listed(branch="nobody")["deployments"] == []
    first = listed(branch="feature", limit=2)
    assert [d["uid"] for d in first["deployments"]] == feature[:0:-1]
    following = listed(branch="feature", limit=2, until=first["pagination"]["next"] - 1)
    assert [d["uid"] for d in following["deployments"]] == feature[:1]
