"""What a redeploy rebuilds, against the local Vercel API: the deployment production serves
(an Instant Rollback respected), a branch's own preview, each recent branch's preview for the
shared preview target; and `doctor` looks at the same deployments."""

from __future__ import annotations

from typing import Any

import pytest

from envstack.clients.vercel import VercelClient
from envstack.errors import ResourceError
from envstack.ops.stack_view import VercelVariables
from envstack.ops.vercel_checks import deployment_check
from providers.vercel_redeploy import VercelRedeployProvider
from tests.emulators.vercel.fixtures import VercelApi


@pytest.fixture
def project(vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VERCEL_TOKEN", vercel_api.token)
    return str(vercel_api.create_project("hermes")["id"])


def redeploy(vercel_api: VercelApi, project: str, target: str, git_branch: str | None = None) -> dict[str, Any]:
    props = {
        "api_url": vercel_api.url,
        "team": vercel_api.team,
        "project_id": project,
        "project_name": "hermes",
        "target": target,
        "git_branch": git_branch,
        "trigger": "t1",
        "enabled": True,
        "timeout_seconds": 60,
    }
    outs = VercelRedeployProvider().create(props).outs
    assert outs is not None
    return outs


def served(vercel_api: VercelApi, project: str) -> str | None:
    with vercel_api.http() as http:
        production = (http.get(f"/v9/projects/{project}").json().get("targets") or {}).get("production")
    return str(production["id"]) if production else None


def rebuilt_from(vercel_api: VercelApi, deployment_id: str) -> str:
    """The commit a deployment was built from (a redeploy keeps its source's)."""
    return str(vercel_api.deployment(deployment_id)["gitSource"]["sha"])


def test_production_rebuilds_what_it_serves_and_respects_a_rollback(vercel_api: VercelApi, project: str) -> None:
    good = vercel_api.deploy(project, "production")
    bad = vercel_api.deploy(project, "production")
    # The rollback stands for the Vercel CLI's `rollback`, an endpoint the OpenAPI document lacks.
    vercel_api.real_client_calls_undocumented = True
    with vercel_api.http() as http:
        assert http.post(f"/v9/projects/{project}/rollback/{good['id']}", json={}).status_code == 201

    with pytest.raises(ResourceError) as failure:
        redeploy(vercel_api, project, "production")

    rebuilt = [d for d in vercel_api.deployments_of(project) if d["uid"] not in (good["id"], bad["id"])]
    assert len(rebuilt) == 1
    staged = rebuilt[0]["uid"]
    assert rebuilt_from(vercel_api, staged) == good["gitSource"]["sha"], "the served build, not the newest"
    assert served(vercel_api, project) == good["id"], "the rollback still holds"
    message = str(failure.value)
    assert f"rolled back to {good['id']}" in message
    assert f"vercel promote {staged}" in message

    with vercel_api.http() as http:
        assert http.post(f"/v10/projects/{project}/promote/{staged}").status_code == 201
    outs = redeploy(vercel_api, project, "production")
    assert served(vercel_api, project) == outs["deployment_id"]
    assert rebuilt_from(vercel_api, outs["deployment_id"]) == good["gitSource"]["sha"]


def test_no_database_rotation_while_production_is_rolled_back(vercel_api: VercelApi, project: str) -> None:
    """The rolled-back build may hold the role a rotation gives a new password, and the redeploy
    carrying the new one would be staged: `rotate` refuses before anything changes."""
    from envstack.errors import Refused
    from envstack.ops.rotate_stack import refuse_while_rolled_back
    from envstack.settings import load_settings

    config = {
        "envstack:app": "hermes",
        "envstack:database": '{"provider": "supabase"}',
        "supabase:organization": "hermes-security",
        "supabase:region": "eu-central-1",
        "vercel:apiUrl": vercel_api.url,
        "vercel:team": vercel_api.team,
        "vercel:projects": '["hermes"]',
    }
    production = load_settings("production", config)
    good = vercel_api.deploy(project, "production")
    vercel_api.deploy(project, "production")
    refuse_while_rolled_back(production)  # serving the newest: nothing to refuse

    vercel_api.real_client_calls_undocumented = True
    with vercel_api.http() as http:
        assert http.post(f"/v9/projects/{project}/rollback/{good['id']}", json={}).status_code == 201
    with pytest.raises(Refused, match=rf"hermes's production is rolled back to {good['id']} \(Instant Rollback\)"):
        refuse_while_rolled_back(production)
    refuse_while_rolled_back(load_settings("staging", config))  # preview: no production to roll back


def test_a_branch_scope_rebuilds_that_branch_or_says_there_is_none(vercel_api: VercelApi, project: str) -> None:
    mine = vercel_api.deploy(project, "preview", branch="pr-7")
    vercel_api.deploy(project, "preview", branch="pr-8")

    outs = redeploy(vercel_api, project, "preview", "pr-7")
    assert rebuilt_from(vercel_api, outs["deployment_id"]) == mine["gitSource"]["sha"]
    assert vercel_api.deployment(outs["deployment_id"])["target"] in (None, "preview")

    none = redeploy(vercel_api, project, "preview", "pr-9")
    assert none["deployment_id"] is None
    assert none["skipped_reason"].startswith("no preview deployment of branch pr-9")


def test_the_shared_preview_rebuilds_the_newest_preview_of_each_branch(vercel_api: VercelApi, project: str) -> None:
    vercel_api.deploy(project, "preview", branch="feature")
    feature = vercel_api.deploy(project, "preview", branch="feature")
    other = vercel_api.deploy(project, "preview", branch="other")
    vercel_api.deploy(project, "production")

    outs = redeploy(vercel_api, project, "preview")

    sources = sorted(rebuilt_from(vercel_api, d) for d in outs["deployment_ids"])
    assert sources == sorted([feature["gitSource"]["sha"], other["gitSource"]["sha"]])
    assert outs["deployment_id"] == outs["deployment_ids"][0]


def production_variable(vercel_api: VercelApi, project: str) -> VercelVariables:
    """A production variable the stack holds, as `doctor` sees the stack."""
    with vercel_api.http() as http:
        created = http.post(
            f"/v10/projects/{project}/env",
            json={"key": "POSTGRES_URL", "value": "postgres://x", "type": "encrypted", "target": ["production"]},
        ).json()
    env_id = created["created"]["id"] if isinstance(created["created"], dict) else created["created"][0]["id"]
    return VercelVariables(
        project="hermes",
        project_id=project,
        api_url=vercel_api.url,
        team=vercel_api.team,
        target="production",
        git_branch=None,
        ids={"POSTGRES_URL": env_id},
        hashes={},
        types={"POSTGRES_URL": "encrypted"},
        salt="s",
    )


def test_doctor_checks_the_served_deployment_and_names_the_rollback(vercel_api: VercelApi, project: str) -> None:
    good = vercel_api.deploy(project, "production")
    stack = production_variable(vercel_api, project)
    newer = vercel_api.deploy(project, "production")
    with VercelClient(base_url=vercel_api.url, token=vercel_api.token, team=vercel_api.team) as client:
        assert deployment_check(client, stack, client.list_env(project), "production").status == "pass"
        # The rollback stands for the Vercel CLI's `rollback`, an endpoint the OpenAPI document lacks.
        vercel_api.real_client_calls_undocumented = True
        with vercel_api.http() as http:
            assert http.post(f"/v9/projects/{project}/rollback/{good['id']}", json={}).status_code == 201
        check = deployment_check(client, stack, client.list_env(project), "production")
    assert check.status == "fail"
    assert good["id"] in check.detail
    assert newer["id"] not in check.detail
    assert "rolled back" in check.detail
    assert "vercel promote" in check.detail


def promote_by_hand(vercel_api: VercelApi, project: str) -> None:
    """The project setting a team that promotes production by hand turns off."""
    with vercel_api.http() as http:
        answer = http.patch(f"/v9/projects/{project}", json={"autoAssignCustomDomains": False})
    assert answer.status_code == 200, answer.text
    assert answer.json()["autoAssignCustomDomains"] is False


def test_production_promoted_by_hand_stages_the_rebuild_and_takes_it_once_promoted(
    vercel_api: VercelApi, project: str
) -> None:
    """No rollback behind it: the failure names the setting, not an Instant Rollback; once the
    staged rebuild is promoted, the next `up` finds it reads the variables and builds nothing."""
    live = vercel_api.deploy(project, "production")
    promote_by_hand(vercel_api, project)

    with pytest.raises(ResourceError) as failure:
        redeploy(vercel_api, project, "production")

    staged = [d["uid"] for d in vercel_api.deployments_of(project) if d["uid"] != live["id"]]
    assert len(staged) == 1
    message = str(failure.value)
    assert "autoAssignCustomDomains is off" in message
    assert f"production still serves {live['id']}" in message
    assert "rolled back" not in message
    assert f"vercel promote {staged[0]}" in message
    assert served(vercel_api, project) == live["id"]

    with vercel_api.http() as http:
        assert http.post(f"/v10/projects/{project}/promote/{staged[0]}").status_code == 201
    outs = redeploy(vercel_api, project, "production")

    assert outs["deployment_id"] == staged[0], "the promoted rebuild is taken as it is"
    assert len(vercel_api.deployments_of(project)) == 2, "nothing built again"


def test_a_run_that_failed_on_one_branch_rebuilds_only_that_branch(vercel_api: VercelApi, project: str) -> None:
    feature = vercel_api.deploy(project, "preview", branch="feature")
    other = vercel_api.deploy(project, "preview", branch="other")  # the newest: rebuilt first
    vercel_api.configure(next_deployment="ERROR")

    with pytest.raises(ResourceError, match="ended ERROR"):
        redeploy(vercel_api, project, "preview")
    before = {d["uid"] for d in vercel_api.deployments_of(project)}
    outs = redeploy(vercel_api, project, "preview")

    made = [d for d in vercel_api.deployments_of(project) if d["uid"] not in before]
    assert [rebuilt_from(vercel_api, d["uid"]) for d in made] == [other["gitSource"]["sha"]], "only the failed one"
    assert sorted(rebuilt_from(vercel_api, d) for d in outs["deployment_ids"]) == sorted(
        [feature["gitSource"]["sha"], other["gitSource"]["sha"]]
    )
    assert len(set(outs["deployment_ids"]) & before) == 1, "the feature branch's rebuild from the failed run"


def test_doctor_names_the_setting_when_production_is_promoted_by_hand(vercel_api: VercelApi, project: str) -> None:
    vercel_api.deploy(project, "production")
    stack = production_variable(vercel_api, project)
    promote_by_hand(vercel_api, project)
    vercel_api.deploy(project, "production")  # staged: production still serves the build before the change
    with VercelClient(base_url=vercel_api.url, token=vercel_api.token, team=vercel_api.team) as client:
        check = deployment_check(client, stack, client.list_env(project), "production")
    assert check.status == "fail"
    assert "autoAssignCustomDomains is off" in check.detail
    assert "vercel promote" in check.detail
