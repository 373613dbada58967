"""The Vercel providers against the local Vercel API, when a create's answer is lost or late,
and when only where the API lives changes.

A gateway can answer 502 or 503 after the server acted, a connection can reset after it,
and an answer can come after the client stopped waiting: each create (a project, a batch of
variables, a redeploy) must still leave exactly one object, nothing orphaned, and a next
run with nothing to write. A change of ``api_url`` or ``team`` that reaches the same place
must neither replace nor write anything.
"""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envstack.clients.http import TIMEOUT_VARIABLE
from envstack.errors import ResourceError
from providers import vercel_redeploy
from providers.vercel_env import VercelEnvironmentVariablesProvider
from providers.vercel_project import VercelProjectProvider
from providers.vercel_redeploy import VercelRedeployProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.vercel.fixtures import VercelApi

# The client's read timeout in these tests; a "timeout" fault answers a little after it.
HTTP_TIMEOUT = 1.0
FAULTS = ["502", "503", "reset", "timeout"]
PROJECTS = r"/v11/projects"
ENV = r"/v10/projects/[^/]+/env"
DEPLOYMENTS = r"/v13/deployments"


@pytest.fixture
def api(vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> VercelApi:
    monkeypatch.setenv("VERCEL_TOKEN", vercel_api.token)
    monkeypatch.setenv(TIMEOUT_VARIABLE, str(HTTP_TIMEOUT))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the write locks live
    # Builds here take half a second: poll often rather than every second or more.
    monkeypatch.setattr(vercel_redeploy, "_pause", lambda seconds: time.sleep(min(seconds, 0.1)))
    return vercel_api


def after_it_acted(path: str, fault: str) -> FaultRule:
    """The POST is handled, then its answer is a gateway error, a reset or too late."""
    if fault == "reset":
        return FaultRule(path=path, method="POST", action="drop", when="after")
    if fault == "timeout":
        return FaultRule(path=path, method="POST", action="delay", when="after", delay=HTTP_TIMEOUT + 1.0)
    return FaultRule(path=path, method="POST", status=int(fault), when="after")


def posts(api: VercelApi, path: str) -> list[int | None]:
    """The statuses of the POSTs to ``path`` so far (None: no answer)."""
    return [c.status for c in api.calls() if c.method == "POST" and re.fullmatch(path, c.path)]


def writes(api: VercelApi) -> list[str]:
    return [f"{c.method} {c.path}" for c in api.calls() if c.is_write]


def settled(api: VercelApi, rule: FaultRule, path: str) -> None:
    """Wait until the faulted POST is on record: a late answer is recorded only once it is sent."""
    assert rule.fired.is_set(), "the fault fired"
    deadline = time.monotonic() + rule.delay + 5
    while len(posts(api, path)) < 1:
        assert time.monotonic() < deadline, "the faulted call never finished"
        time.sleep(0.05)


def no_writes_by(api: VercelApi, action: Callable[[], Any]) -> Any:
    before = writes(api)
    result = action()
    assert writes(api) == before, "nothing written"
    return result


# -- the project -------------------------------------------------------------------------------


def project_inputs(api: VercelApi, name: str, **change: Any) -> dict[str, Any]:
    return {"api_url": api.url, "team": api.team, "project": name, "create": True, "framework": None, **change}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_project_created_before_its_answer_was_lost_is_the_stacks_own(api: VercelApi, fault: str) -> None:
    provider = VercelProjectProvider()
    name = f"hermes-{secrets.token_hex(4)}"
    props = project_inputs(api, name)
    rule = api.faults.add(after_it_acted(PROJECTS, fault))

    result = provider.create(props)

    settled(api, rule, PROJECTS)
    outs = dict(result.outs or {})
    assert api.projects_named(name) == [result.id], "exactly one project"
    assert len(posts(api, PROJECTS)) == 1, "found by name, not created again"
    assert (outs["project_id"], outs["created"], outs["team_id"]) == (result.id, True, api.team)
    assert provider.diff(result.id, outs, props).changes is False
    again = no_writes_by(api, lambda: provider.create(props))
    assert (again.id, dict(again.outs or {})["created"]) == (result.id, False), "a rerun only adopts it"
    provider.delete(result.id, outs)
    assert api.projects_named(name) == [], "it was the stack's own, so destroy removes it"


def test_a_project_create_refused_before_acting_is_created_once_more(api: VercelApi) -> None:
    name = f"hermes-{secrets.token_hex(4)}"
    api.faults.add(FaultRule(path=PROJECTS, method="POST", status=502))

    result = VercelProjectProvider().create(project_inputs(api, name))

    assert posts(api, PROJECTS) == [502, 200], "looked up, found nothing, created again"
    assert api.projects_named(name) == [result.id]
    assert dict(result.outs or {})["created"] is True


def test_a_project_that_existed_before_is_adopted_without_a_create(api: VercelApi) -> None:
    existing = api.create_project(f"hermes-{secrets.token_hex(4)}")
    provider = VercelProjectProvider()

    result = no_writes_by(api, lambda: provider.create(project_inputs(api, existing["name"])))

    outs = dict(result.outs or {})
    assert (result.id, outs["created"]) == (existing["id"], False)
    provider.delete(result.id, outs)
    assert api.projects_named(existing["name"]) == [existing["id"]], "someone else's: never deleted"


# -- the variables ------------------------------------------------------------------------------


def env_inputs(api: VercelApi, project_id: str, variables: dict[str, str], **change: Any) -> dict[str, Any]:
    return {
        "api_url": api.url,
        "team": api.team,
        "project_id": project_id,
        "target": "preview",
        "git_branch": None,
        "variables": dict(variables),
        "public_keys": [],
        "adopt": False,
        "comment": "managed by envstack (hermes/test)",
        **change,
    }


def values(n: int, prefix: str = "VAR") -> dict[str, str]:
    return {f"{prefix}_{i:02d}": secrets.token_urlsafe(18) for i in range(n)}


def keys_of(api: VercelApi, project_id: str) -> list[str]:
    return sorted(env.key for env in api.env_vars(project_id))


@pytest.mark.parametrize("fault", FAULTS)
def test_variables_written_before_the_answer_was_lost_are_kept_once(api: VercelApi, fault: str) -> None:
    project_id = str(api.create_project()["id"])
    theirs = api.add_env_by_hand(project_id, "THEIRS", secrets.token_urlsafe(8), target=["preview"])
    provider = VercelEnvironmentVariablesProvider()
    variables = values(4)
    news = env_inputs(api, project_id, variables)
    rule = api.faults.add(after_it_acted(ENV, fault))

    outs = dict(provider.create(news).outs or {})

    settled(api, rule, ENV)
    assert len(posts(api, ENV)) == 1, "found by listing, not written again"
    assert keys_of(api, project_id) == sorted([*variables, "THEIRS"]), "one variable per key, none orphaned"
    live = {env.key: env for env in api.env_vars(project_id)}
    assert {key: live[key].value for key in variables} == variables
    assert outs["ids"] == {key: live[key].id for key in variables}
    assert live["THEIRS"].id == theirs.id
    assert provider.diff("id", outs, news).changes is False
    calls = len(api.calls())
    provider.update("id", outs, news)
    made = [f"{c.method} {c.path}" for c in api.calls()[calls:]]
    # It only reads: one list, to look for changes made in Vercel and to stamp what the lost
    # write could not be trusted for (its late landing would have moved them).
    assert made == [f"GET /v10/projects/{project_id}/env"], "the next run only reads"
    assert set(outs.get("stamps") or {}) == set(), "no baseline from a write whose answer was lost"


def test_additions_written_before_the_answer_was_lost_are_kept_once(api: VercelApi) -> None:
    project_id = str(api.create_project()["id"])
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    outs = dict(provider.create(env_inputs(api, project_id, variables)).outs or {})
    more = {**variables, **values(3, "NEW")}
    news = env_inputs(api, project_id, more)
    api.faults.add(after_it_acted(ENV, "502"))

    after = dict(provider.update("id", outs, news).outs or {})

    assert keys_of(api, project_id) == sorted(more)
    assert after["ids"] == {env.key: env.id for env in api.env_vars(project_id)}
    assert {key: after["ids"][key] for key in variables} == outs["ids"], "the others untouched"
    assert provider.diff("id", after, news).changes is False


# -- the redeploy --------------------------------------------------------------------------------


def redeploy_inputs(api: VercelApi, project: dict[str, Any], **change: Any) -> dict[str, Any]:
    return {
        "api_url": api.url,
        "team": api.team,
        "project_id": project["id"],
        "project_name": project["name"],
        "target": "production",
        "git_branch": None,
        "trigger": "hash-1",
        "enabled": True,
        "timeout_seconds": 60,
        **change,
    }


@pytest.mark.parametrize("fault", FAULTS)
def test_a_redeploy_started_before_its_answer_was_lost_builds_once(api: VercelApi, fault: str) -> None:
    project = api.create_project()
    source = api.deploy(project["id"], target="production")
    provider = VercelRedeployProvider()
    news = redeploy_inputs(api, project)
    rule = api.faults.add(after_it_acted(DEPLOYMENTS, fault))

    outs = dict(provider.create(news).outs or {})

    settled(api, rule, DEPLOYMENTS)
    assert len(posts(api, DEPLOYMENTS)) == 1, "found by its marker, not asked for again"
    deployments = api.deployments_of(project["id"])
    new = [d for d in deployments if d["uid"] != source["id"]]
    assert [d["uid"] for d in new] == [outs["deployment_id"]], "exactly one new deployment"
    assert new[0]["meta"]["envstackRedeploy"]
    assert outs["ready_state"] == "READY"
    calls = len(api.calls())
    assert provider.diff("id", outs, news).changes is False
    assert len(api.calls()) == calls, "the next run has nothing to do"


def test_a_redeploy_refused_before_acting_is_asked_for_once_more(api: VercelApi) -> None:
    project = api.create_project()
    api.deploy(project["id"], target="production")
    api.faults.add(FaultRule(path=DEPLOYMENTS, method="POST", status=502))

    outs = dict(VercelRedeployProvider().create(redeploy_inputs(api, project)).outs or {})

    assert posts(api, DEPLOYMENTS) == [502, 200]
    assert len(api.deployments_of(project["id"])) == 2
    assert outs["ready_state"] == "READY"


# -- where the API lives ------------------------------------------------------------------------


def test_a_trailing_slash_or_the_teams_id_for_its_slug_replaces_and_writes_nothing(api: VercelApi) -> None:
    by_slug = {"api_url": api.url, "team": api.team_slug}
    by_id = {"api_url": api.url + "/", "team": api.team}
    projects, variables, redeploys = (
        VercelProjectProvider(),
        VercelEnvironmentVariablesProvider(),
        VercelRedeployProvider(),
    )
    name = f"hermes-{secrets.token_hex(4)}"
    project = dict(projects.create(project_inputs(api, name, **by_slug)).outs or {})
    assert project["team_id"] == api.team, "the slug's team id is recorded"
    app = {"id": project["project_id"], "name": name}
    api.deploy(app["id"], target="production")
    values_now = values(3)
    env = dict(variables.create(env_inputs(api, app["id"], values_now, **by_slug)).outs or {})
    redeploy = dict(redeploys.create(redeploy_inputs(api, app, **by_slug)).outs or {})
    before = writes(api)

    moved = projects.diff(app["id"], project, project_inputs(api, name, **by_id))
    assert (moved.changes, moved.replaces) == (False, []), "the same team, by id, at the same URL"
    same_url = variables.diff(
        "id", env, env_inputs(api, app["id"], values_now, **{**by_slug, "api_url": api.url + "/"})
    )
    assert (same_url.changes, same_url.replaces) == (False, [])
    env_news = env_inputs(api, app["id"], values_now, **by_id)
    env_diff = variables.diff("id", env, env_news)
    assert env_diff.replaces == [], "never a replace: that would delete and rewrite every variable"
    moved_env = dict(variables.update("id", env, env_news).outs or {})
    assert (moved_env["team"], moved_env["ids"]) == (api.team, env["ids"])
    assert redeploys.diff("id", redeploy, redeploy_inputs(api, app, **by_id)).changes is False
    assert writes(api) == before, "zero writes"

    # And after the move, writes go through the new spelling as before.
    changed = {**values_now, "VAR_01": secrets.token_urlsafe(12)}
    variables.update("id", moved_env, env_inputs(api, app["id"], changed, **by_id))
    assert api.env_value(app["id"], "VAR_01", "preview") == changed["VAR_01"]


def test_the_teams_slug_for_its_id_is_reread_and_writes_nothing(api: VercelApi) -> None:
    provider = VercelProjectProvider()
    name = f"hermes-{secrets.token_hex(4)}"
    olds = dict(provider.create(project_inputs(api, name)).outs or {})
    news = project_inputs(api, name, team=api.team_slug, api_url=api.url + "/")

    diff = provider.diff(olds["project_id"], olds, news)
    assert (diff.changes, diff.replaces) == (True, []), "checked by reading it, never replaced"
    outs = dict(no_writes_by(api, lambda: provider.update(olds["project_id"], olds, news)).outs or {})

    assert (outs["project_id"], outs["created"], outs["team"]) == (olds["project_id"], True, api.team_slug)


def test_a_team_change_that_reaches_another_project_fails_and_changes_nothing(api: VercelApi) -> None:
    provider = VercelProjectProvider()
    name = f"hermes-{secrets.token_hex(4)}"
    olds = dict(provider.create(project_inputs(api, name)).outs or {})
    other_team = api.add_team()
    theirs = api.create_project(name, team=other_team["id"])
    news = project_inputs(api, name, team=other_team["id"])

    diff = provider.diff(olds["project_id"], olds, news)
    assert (diff.changes, diff.replaces) == (True, [])
    before = writes(api)
    with pytest.raises(ResourceError) as caught:
        provider.update(olds["project_id"], olds, news)

    assert writes(api) == before
    message = str(caught.value)
    assert f"is {theirs['id']}, not {olds['project_id']} which this stack manages" in message
    assert "nothing was changed" in message
    assert api.projects_named(name) == [olds["project_id"]]
    assert api.projects_named(name, team=other_team["id"]) == [theirs["id"]]
