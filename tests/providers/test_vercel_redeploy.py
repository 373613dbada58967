"""The redeploy provider called directly: when it rebuilds, what it waits for, how it fails."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import dill
import pytest

from envstack.errors import ResourceError
from providers import vercel_access, vercel_redeploy
from providers.vercel_redeploy import VercelRedeployProvider
from tests.providers.fake_vercel import FakeVercel, new_token

API = "http://127.0.0.1:9"
REDEPLOYS = r"/v13/deployments"


class FakeClock:
    """Time that moves only when the provider pauses between polls."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(vercel_redeploy, "_pause", fake.pause)
    monkeypatch.setattr(vercel_redeploy, "_clock", fake.clock)
    return fake


@pytest.fixture
def vercel(monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[FakeVercel]:
    token = new_token()
    monkeypatch.setenv("VERCEL_TOKEN", token)
    fake = FakeVercel(token=token)
    monkeypatch.setattr(vercel_access, "open_client", fake.client)
    yield fake
    assert fake.problems == []


def inputs(fake: FakeVercel, project_id: str, **change: Any) -> dict[str, Any]:
    return {
        "api_url": API,
        "team": fake.team_id,
        "project_id": project_id,
        "project_name": "hermes",
        "target": "preview",
        "git_branch": None,
        "trigger": "hash-1",
        "enabled": True,
        "timeout_seconds": 600,
        **change,
    }


def redeploys(fake: FakeVercel) -> list[Any]:
    return fake.calls("POST", REDEPLOYS)


def test_create_redeploys_the_latest_preview_and_waits_until_ready(vercel: FakeVercel, clock: FakeClock) -> None:
    project = vercel.add_project("hermes")
    latest = vercel.add_deployment(project, branch="feature")
    vercel.add_deployment(project, target="production")
    vercel.add_deployment(project, branch="broken", state="ERROR")

    result = VercelRedeployProvider().create(inputs(vercel, project))

    assert result.outs is not None
    posts = redeploys(vercel)
    assert len(posts) == 1
    marker = posts[0].body["meta"].pop("envstackRedeploy")
    assert re.fullmatch(r"[0-9a-f]{32}", marker), "a one-off value to find this redeploy by"
    assert posts[0].body == {"name": "hermes", "deploymentId": latest, "meta": {"action": "redeploy"}}
    new = result.outs["deployment_id"]
    assert vercel.deployments[new]["source"] == latest
    assert result.outs["ready_state"] == "READY"
    assert result.outs["url"].endswith(".vercel.app")
    assert result.outs["skipped_reason"] is None
    assert clock.pauses == [1.0, 1.5], "polled through QUEUED and BUILDING, soon at first, then less often"


def test_diff_redeploys_only_for_a_new_trigger_or_when_switched_back_on(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    vercel.add_deployment(project)
    provider = VercelRedeployProvider()
    olds = provider.create(inputs(vercel, project)).outs
    assert olds is not None
    vercel.forget_requests()

    assert provider.diff("id", olds, inputs(vercel, project)).changes is False
    assert provider.diff("id", olds, inputs(vercel, project, timeout_seconds=60)).changes is False
    assert provider.diff("id", olds, inputs(vercel, project, trigger="hash-2")).changes is True
    assert provider.diff("id", olds, inputs(vercel, project, trigger="hash-2", enabled=False)).changes is False
    off = {**olds, "enabled": False}
    assert provider.diff("id", off, inputs(vercel, project)).changes is True
    for moved in ({"api_url": API + "/"}, {"team": vercel.team_slug}, {"api_url": "http://127.0.0.2:9"}):
        assert provider.diff("id", olds, inputs(vercel, project, **moved)).changes is False, "no rebuild for a move"
    assert vercel.requests == []

    updated = provider.update("id", olds, inputs(vercel, project, trigger="hash-2"))
    assert updated.outs is not None
    assert updated.outs["trigger"] == "hash-2"
    assert len(redeploys(vercel)) == 1


@pytest.mark.parametrize("state", ["ERROR", "CANCELED"])
def test_a_failed_build_fails_the_step_saying_what_to_do(vercel: FakeVercel, state: str) -> None:
    project = vercel.add_project("hermes")
    vercel.add_deployment(project)
    vercel.build_states = ["QUEUED", "BUILDING", state]

    with pytest.raises(ResourceError) as caught:
        VercelRedeployProvider().create(inputs(vercel, project))

    message = str(caught.value)
    assert f"ended {state}" in message
    assert "pulumi up" in message
    assert "https://vercel.com/" in message, "points at the build log"
    if state == "ERROR":
        assert "exited with 1" in message


def test_a_build_that_outlives_the_deadline_fails_clearly(vercel: FakeVercel, clock: FakeClock) -> None:
    project = vercel.add_project("hermes")
    vercel.add_deployment(project)
    vercel.build_states = ["QUEUED", "BUILDING"]

    with pytest.raises(ResourceError, match=r"still BUILDING after 30s.*raise timeout_seconds"):
        VercelRedeployProvider().create(inputs(vercel, project, timeout_seconds=30))
    assert clock.now >= 30


def test_nothing_to_redeploy_is_recorded_not_failed(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    vercel.add_deployment(project, target="production")  # no preview deployment yet
    provider = VercelRedeployProvider()

    preview = provider.create(inputs(vercel, project)).outs
    development = provider.create(inputs(vercel, project, target="development")).outs
    disabled = provider.create(inputs(vercel, project, target="production", enabled=False)).outs

    assert preview is not None
    assert development is not None
    assert disabled is not None
    assert "no preview deployment yet" in preview["skipped_reason"]
    assert "development" in development["skipped_reason"]
    assert "disabled" in disabled["skipped_reason"]
    assert preview["deployment_id"] is None
    assert redeploys(vercel) == []


def test_a_custom_environment_redeploys_into_it(vercel: FakeVercel) -> None:
    project = vercel.add_project("hermes")
    staging = vercel.add_deployment(project, custom_environment="env_staging1")
    vercel.add_deployment(project)

    VercelRedeployProvider().create(inputs(vercel, project, target="env_staging1"))

    body = redeploys(vercel)[0].body
    assert (body["deploymentId"], body["customEnvironmentSlugOrId"]) == (staging, "env_staging1")
    assert "target" not in body


def test_delete_undoes_nothing_and_the_provider_survives_pickling(vercel: FakeVercel) -> None:
    provider = dill.loads(dill.dumps(VercelRedeployProvider(), recurse=True))  # noqa: S301 - our own object, pickled as Pulumi does
    project = vercel.add_project("hermes")
    vercel.add_deployment(project)
    outs = provider.create(inputs(vercel, project)).outs
    vercel.forget_requests()
    provider.delete("id", outs)
    assert vercel.requests == []
