"""The redeploy provider called directly, against the local Vercel API: when it rebuilds, what
it waits for, how it fails.

Time is the test's: the provider's pauses move a clock that also drives how far the local
API's builds have got, so a build is QUEUED, BUILDING, then done exactly when the test says.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import dill
import pytest

from envstack.errors import ResourceError
from providers import vercel_redeploy
from providers.vercel_redeploy import VercelRedeployProvider
from tests.emulators.vercel.fixtures import VercelApi
from tests.providers.vercel_support import REDEPLOYS, Calls, Wire, reach


class FakeClock:
    """Time that moves only when the provider pauses between polls (or the test moves it)."""

    def __init__(self) -> None:
        self.now = time.time()  # seconds since the epoch, as the local API's build clock counts
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, vercel_api: VercelApi) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(vercel_redeploy, "_pause", fake.pause)
    monkeypatch.setattr(vercel_redeploy, "_clock", fake.clock)
    # The local API lays each build's QUEUED -> BUILDING -> outcome timeline over this clock.
    monkeypatch.setattr(vercel_api.app.builds, "_clock", fake.clock)
    return fake


@pytest.fixture
def api(vercel_api: VercelApi, clock: FakeClock) -> VercelApi:
    return vercel_api


@pytest.fixture
def wire(api: VercelApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Wire:
    return reach(api, monkeypatch, tmp_path)


def inputs(api: VercelApi, project_id: str, **change: Any) -> dict[str, Any]:
    return {
        "api_url": api.url,
        "team": api.team,
        "project_id": project_id,
        "project_name": "hermes",
        "target": "preview",
        "git_branch": None,
        "trigger": "hash-1",
        "enabled": True,
        "timeout_seconds": 600,
        **change,
    }


def rebuilt_from(api: VercelApi, deployment_id: str) -> str:
    """The commit a deployment was built from (a redeploy keeps its source's)."""
    return str(api.deployment(deployment_id)["gitSource"]["sha"])


def failed_build(api: VercelApi, project: dict[str, Any], branch: str, clock: FakeClock) -> str:
    """A preview build of ``branch`` that ended ERROR (made through the local API)."""
    api.configure(next_deployment="ERROR")
    body = {
        "name": project["name"],
        "project": project["id"],
        "gitSource": {"type": "github", "org": "acme", "repo": project["name"], "ref": branch, "sha": "b" * 40},
        "meta": {"githubCommitRef": branch},
    }
    with api.http() as http:
        answer = http.post("/v13/deployments", json=body)
    assert answer.status_code == 200, answer.text
    clock.now += 3600  # long done
    deployment_id = str(answer.json()["id"])
    assert api.deployment(deployment_id)["readyState"] == "ERROR"
    return deployment_id


def test_create_redeploys_the_latest_preview_and_waits_until_ready(
    api: VercelApi, wire: Wire, clock: FakeClock
) -> None:
    project = api.create_project("hermes")
    latest = api.deploy(project["id"], "preview", branch="feature")
    api.deploy(project["id"], "production")
    failed_build(api, project, "broken", clock)
    api.configure(queue_seconds=0.5, build_seconds=1.0)
    calls = Calls(api)

    result = VercelRedeployProvider().create(inputs(api, project["id"]))

    assert result.outs is not None
    assert [c.status for c in calls.matching("POST", REDEPLOYS)] == [200], "one redeploy"
    posts = wire.bodies("POST", REDEPLOYS)
    marker = posts[0]["meta"].pop("envstackRedeploy")
    assert re.fullmatch(r"[0-9a-f]{32}", marker), "a one-off value to find this redeploy by"
    reads = posts[0]["meta"].pop("envstackReads")
    assert re.fullmatch(r"[0-9a-f]{32}", reads), "a digest of what it reads, nothing of the values"
    assert posts[0] == {"name": "hermes", "deploymentId": latest["id"], "meta": {"action": "redeploy"}}
    new = result.outs["deployment_id"]
    assert rebuilt_from(api, new) == latest["gitSource"]["sha"], "the feature branch's build, rebuilt"
    assert api.deployment(new)["meta"]["envstackRedeploy"] == marker
    assert result.outs["ready_state"] == "READY"
    assert result.outs["url"] == api.app.serving.url_of(new), "the name the new deployment answers at"
    assert result.outs["skipped_reason"] is None
    # The build takes 1.5 s: polled through QUEUED and BUILDING, soon at first, then less often.
    assert clock.pauses == [0.25, 0.375, 0.5625, 0.84375]


def test_diff_redeploys_only_for_a_new_trigger_or_when_switched_back_on(api: VercelApi, wire: Wire) -> None:
    project = api.create_project("hermes")
    api.deploy(project["id"], "preview")
    provider = VercelRedeployProvider()
    olds = provider.create(inputs(api, project["id"])).outs
    assert olds is not None
    calls = Calls(api)
    news = inputs(api, project["id"])

    assert provider.diff("id", olds, news).changes is False
    assert provider.diff("id", olds, {**news, "timeout_seconds": 60}).changes is False
    assert provider.diff("id", olds, {**news, "trigger": "hash-2"}).changes is True
    assert provider.diff("id", olds, {**news, "trigger": "hash-2", "enabled": False}).changes is False
    off = {**olds, "enabled": False}
    assert provider.diff("id", off, news).changes is True
    for moved in ({"api_url": api.url + "/"}, {"team": api.team_slug}, {"api_url": "http://127.0.0.2:9"}):
        assert provider.diff("id", olds, {**news, **moved}).changes is False, "no rebuild for a move"
    assert calls.all() == []

    updated = provider.update("id", olds, {**news, "trigger": "hash-2"})
    assert updated.outs is not None
    assert updated.outs["trigger"] == "hash-2"
    assert len(calls.matching("POST", REDEPLOYS)) == 1


@pytest.mark.parametrize("state", ["ERROR", "CANCELED"])
def test_a_failed_build_fails_the_step_saying_what_to_do(api: VercelApi, wire: Wire, state: str) -> None:
    project = api.create_project("hermes")
    source = api.deploy(project["id"], "preview")
    api.configure(next_deployment=state)

    with pytest.raises(ResourceError) as caught:
        VercelRedeployProvider().create(inputs(api, project["id"]))

    message = str(caught.value)
    [rebuild] = [d["uid"] for d in api.deployments_of(project["id"]) if d["uid"] != source["id"]]
    assert f"redeploy {rebuild} ended {state}" in message
    assert "pulumi up" in message
    assert f"(build log: {api.deployment(rebuild)['inspectorUrl']})" in message, "points at the build log"
    if state == "ERROR":
        assert "The build failed" in message, "with the reason Vercel gives"


def test_a_build_that_outlives_the_deadline_fails_clearly(api: VercelApi, wire: Wire, clock: FakeClock) -> None:
    project = api.create_project("hermes")
    api.deploy(project["id"], "preview")
    api.configure(queue_seconds=0.5, build_seconds=3600)
    started = clock.now

    with pytest.raises(ResourceError, match=r"still BUILDING after 30s.*raise timeout_seconds"):
        VercelRedeployProvider().create(inputs(api, project["id"], timeout_seconds=30))
    assert clock.now - started >= 30


def test_the_rebuilds_of_many_branches_share_one_deadline(
    api: VercelApi, wire: Wire, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They build side by side: the step fails once the timeout has passed, not a timeout
    after the last one that finished (the first rebuild takes 25 s, the others for ever)."""
    project = api.create_project("hermes")
    for branch in ("one", "two", "three"):
        api.deploy(project["id"], "preview", branch=branch)
    start = api.app.builds.start
    quick: list[str] = []

    def builds(deployment_id: str, *, queued_for: float, build_seconds: float) -> Any:
        seconds = 25.0 if not quick else 3600.0
        quick.append(deployment_id)
        return start(deployment_id, queued_for=0, build_seconds=seconds)

    monkeypatch.setattr(api.app.builds, "start", builds)
    started = clock.now

    with pytest.raises(ResourceError, match=r"still BUILDING after 30s"):
        VercelRedeployProvider().create(inputs(api, project["id"], timeout_seconds=30))
    assert len(wire.bodies("POST", REDEPLOYS)) == 3
    assert 30 <= clock.now - started < 31


def test_production_under_a_rolling_release_is_done_once_production_has_moved(
    api: VercelApi, wire: Wire, clock: FakeClock
) -> None:
    """READY is not enough: while its rolling release runs, the deployment before it still
    serves part of production, and revoking what it replaced would cut those requests off."""
    project = api.create_project("hermes")
    api.deploy(project["id"], "production")
    clock.now += 3600  # long served
    api.configure(queue_seconds=0, build_seconds=1.0, rolling_release_seconds=120)
    started = clock.now

    outs = VercelRedeployProvider().create(inputs(api, project["id"], target="production")).outs

    assert outs is not None
    with api.http() as http:
        shown = http.get(f"/v13/deployments/{outs['deployment_id']}").json()
    assert (shown["readyState"], shown["readySubstate"]) == ("READY", "PROMOTED")
    assert clock.now - started >= 121, "waited out the build and the rolling release"

    # The next change's, outliving the deadline, fails saying why, and names what has not run.
    later = inputs(api, project["id"], target="production", trigger="hash-2", timeout_seconds=60)
    with pytest.raises(ResourceError) as caught:
        VercelRedeployProvider().create(later)
    message = str(caught.value)
    assert "is READY, but its rolling release had not finished after 60s" in message
    assert "revoking the credentials it replaced" in message


def test_nothing_to_redeploy_is_recorded_not_failed(api: VercelApi, wire: Wire) -> None:
    project = api.create_project("hermes")
    api.deploy(project["id"], "production")  # no preview deployment yet
    provider = VercelRedeployProvider()
    calls = Calls(api)

    preview = provider.create(inputs(api, project["id"])).outs
    development = provider.create(inputs(api, project["id"], target="development")).outs
    disabled = provider.create(inputs(api, project["id"], target="production", enabled=False)).outs

    assert preview is not None
    assert development is not None
    assert disabled is not None
    assert "no preview deployment yet" in preview["skipped_reason"]
    assert "development" in development["skipped_reason"]
    assert "disabled" in disabled["skipped_reason"]
    assert preview["deployment_id"] is None
    assert calls.matching("POST", REDEPLOYS) == []


def test_a_custom_environment_redeploys_its_newest_build_however_many_came_after(api: VercelApi, wire: Wire) -> None:
    """The deployment list cannot be narrowed to one custom environment: its newest build is
    searched for page by page, here behind more newer builds of other targets than one page
    holds, and the rebuild goes into the environment."""
    project = api.create_project("hermes")
    staging = api.custom_environment(project["id"], "staging")
    api.deploy(project["id"], "preview", branch="staging", custom_environment=staging)  # an older one
    newest = api.deploy(project["id"], "preview", branch="staging", custom_environment=staging)
    for n in range(101):
        api.deploy(project["id"], "preview" if n % 2 else "production", branch=f"feature-{n % 7}")
    calls = Calls(api)

    outs = VercelRedeployProvider().create(inputs(api, project["id"], target=staging["id"])).outs

    assert outs is not None
    body = wire.bodies("POST", REDEPLOYS)[0]
    assert (body["deploymentId"], body["customEnvironmentSlugOrId"]) == (newest["id"], staging["id"])
    assert "target" not in body
    assert len(calls.matching("GET", "/v6/deployments")) == 2, "the second page holds it"
    rebuilt = api.deployment(outs["deployment_id"])
    assert rebuilt["gitSource"]["sha"] == newest["gitSource"]["sha"]
    assert rebuilt["customEnvironment"]["id"] == staging["id"], "built into the environment"


def test_a_custom_environment_with_no_build_yet_is_recorded_not_failed(api: VercelApi, wire: Wire) -> None:
    project = api.create_project("hermes")
    staging = api.custom_environment(project["id"], "staging")
    api.deploy(project["id"], "preview", branch="staging")  # a preview of the same branch: not in it

    outs = VercelRedeployProvider().create(inputs(api, project["id"], target=staging["id"])).outs

    assert outs is not None
    assert outs["skipped_reason"].startswith("no deployment in this environment among the project's newest 2000")
    assert wire.bodies("POST", REDEPLOYS) == []


def test_delete_undoes_nothing_and_the_provider_survives_pickling(api: VercelApi, wire: Wire) -> None:
    provider = dill.loads(dill.dumps(VercelRedeployProvider(), recurse=True))  # noqa: S301 - our own object, pickled as Pulumi does
    project = api.create_project("hermes")
    api.deploy(project["id"], "preview")
    outs = provider.create(inputs(api, project["id"])).outs
    calls = Calls(api)
    provider.delete("id", outs)
    assert calls.all() == []


def pushed(api: VercelApi, project: dict[str, Any], target: str, branch: str) -> dict[str, Any]:
    """A Git push's build, made through the local API, so it takes the configured build time."""
    body: dict[str, Any] = {
        "name": project["name"],
        "project": project["id"],
        "gitSource": {"type": "github", "org": "acme", "repo": project["name"], "ref": branch, "sha": "c" * 40},
        "meta": {"githubCommitRef": branch},
    }
    if target == "production":
        body["target"] = "production"
    with api.http() as http:
        answer = http.post("/v13/deployments", json=body)
    assert answer.status_code == 200, answer.text
    built: dict[str, Any] = answer.json()
    return built


def set_variable(api: VercelApi, project_id: str, target: str, key: str, value: str) -> None:
    with api.http() as http:
        answer = http.post(
            f"/v10/projects/{project_id}/env",
            json={"key": key, "value": value, "type": "encrypted", "target": [target]},
        )
    assert answer.status_code == 201, answer.text


def newest_ready_preview(api: VercelApi, project_id: str, branch: str) -> str:
    """What the branch's domain serves: the preview of the branch that finished last."""
    ready = [
        api.deployment(d["uid"])
        for d in api.deployments_of(project_id)
        if (d.get("meta") or {}).get("githubCommitRef") == branch and d.get("target") in (None, "preview")
    ]
    ready = [d for d in ready if d["readyState"] == "READY"]
    return str(max(ready, key=lambda d: d.get("readyAt") or d["createdAt"])["id"])


@pytest.mark.parametrize("target", ["production", "preview"])
def test_a_build_under_way_when_the_variables_change_is_waited_for_and_rebuilt(
    api: VercelApi, wire: Wire, clock: FakeClock, target: str
) -> None:
    """A push's build that began before the variables changed reads the old values and, as it
    finishes after the rebuild, takes the target's domains from it: the redeploy waits for it
    and rebuilds it, so what serves the target at the end reads the new values."""
    project = api.create_project("hermes")
    api.deploy(project["id"], target, branch="main" if target == "production" else "feature")
    clock.now += 3600
    api.configure(queue_seconds=0, build_seconds=30.0)
    push = pushed(api, project, target, "main" if target == "production" else "feature")
    set_variable(api, project["id"], target, "APP_MODE", "new")
    api.configure(queue_seconds=0, build_seconds=1.0)

    outs = VercelRedeployProvider().create(inputs(api, project["id"], target=target)).outs
    clock.now += 3600  # every build long finished

    assert outs is not None
    if target == "production":
        with api.http() as http:
            serving = str(http.get(f"/v9/projects/{project['id']}").json()["targets"]["production"]["id"])
    else:
        serving = newest_ready_preview(api, project["id"], "feature")
    assert serving == outs["deployment_id"], "the last rebuild serves the target"
    assert rebuilt_from(api, serving) == push["gitSource"]["sha"], "the push's source, rebuilt"
    assert (api.app.serving.env_of(serving) or {}).get("APP_MODE") == "new"
    assert "APP_MODE" not in (api.app.serving.env_of(push["id"]) or {}), "the push read the old values"
    assert len(wire.bodies("POST", REDEPLOYS)) == 2, "what served before, then the push"


def test_a_build_begun_after_the_redeploy_began_is_not_waited_for(
    api: VercelApi, wire: Wire, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It reads the variables as they are now: no wait, no second rebuild."""
    project = api.create_project("hermes")
    api.deploy(project["id"], "production")
    clock.now += 3600
    api.configure(queue_seconds=0, build_seconds=30.0)
    pushed(api, project, "production", "main")
    api.configure(queue_seconds=0, build_seconds=1.0)
    # The redeploy began (and the variables changed) two minutes before that push.
    began_ms = int((time.time() - 120) * 1000)
    monkeypatch.setattr(vercel_redeploy, "_now_ms", lambda: began_ms)
    started = clock.now

    outs = VercelRedeployProvider().create(inputs(api, project["id"], target="production")).outs

    assert outs is not None
    assert len(wire.bodies("POST", REDEPLOYS)) == 1
    assert clock.now - started < 30, "not waited for"
