"""The Vercel variables provider when writing goes wrong, against the local Vercel API: items
refused, answers lost, writes cut off half-way, the project busy with another write, and
nothing secret in what it says about any of it."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pulumi
import pytest

from envstack.errors import ResourceError
from providers import vercel_access, vercel_env
from providers.vercel_env import VercelEnvironmentVariablesProvider
from tests.emulators.common.faults import FaultRule
from tests.emulators.vercel.fixtures import VercelApi
from tests.providers.vercel_support import (
    COMMENT,
    ENV_LIST,
    Calls,
    Wire,
    created,
    env_inputs,
    live,
    reach,
    updated,
    values,
)


@pytest.fixture
def api(vercel_api: VercelApi) -> VercelApi:
    return vercel_api


@pytest.fixture
def wire(vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Wire:
    monkeypatch.setattr(vercel_env, "_pause", lambda _seconds: None)  # between attempts of one write
    return reach(vercel_api, monkeypatch, tmp_path)


@pytest.fixture
def project(api: VercelApi) -> str:
    return str(api.create_project("hermes")["id"])


def post_statuses(calls: Calls) -> list[int | None]:
    """The statuses of the batch writes (None: the connection was reset, no answer)."""
    return [c.status for c in calls.matching("POST", ENV_LIST)]


@contextmanager
def cut_off_after_making(api: VercelApi, project: str, made: Mapping[str, str]) -> Iterator[FaultRule]:
    """The next batch write makes only ``made`` (each as the provider writes it: sensitive, on
    preview, with its comment) and then loses its connection, as when a gateway gives up on a
    write half-way. The write is held while the variables appear, then reset unanswered."""
    rule = api.faults.add(FaultRule(path=ENV_LIST, method="POST", action="hang"))
    stop = threading.Event()
    problems: list[BaseException] = []

    def make() -> None:
        try:
            while not rule.fired.wait(0.05):
                if stop.is_set():
                    return
            for key, value in made.items():
                api.add_env_by_hand(project, key, value, target=["preview"], type="sensitive", comment=COMMENT)
        except BaseException as exc:  # handed to the test thread below
            problems.append(exc)
        finally:
            rule.release()

    worker = threading.Thread(target=make, daemon=True)
    worker.start()
    try:
        yield rule
    finally:
        stop.set()
        worker.join(timeout=30)
    assert problems == []
    assert rule.fired.is_set(), "the write was cut off"


def test_a_refused_item_rolls_back_what_the_batch_created(api: VercelApi, wire: Wire, project: str) -> None:
    variables = values(10)
    variables["VAR_07"] = secrets.token_urlsafe(50_000)  # over the 64 KB a value may hold: refused alone
    calls = Calls(api)

    with pytest.raises(ResourceError) as caught:
        VercelEnvironmentVariablesProvider().create(env_inputs(api, project, variables))

    message = str(caught.value)
    assert post_statuses(calls) == [201], "the others were created"
    assert "VAR_07: The value of your Environment Variable exceeds the limit" in message
    assert "The 9 variables this call created were deleted again" in message
    assert api.env_vars(project) == [], "nothing orphaned"
    assert not any(v in message for v in variables.values())


def test_a_write_whose_answer_is_lost_is_found_and_kept_not_undone(api: VercelApi, wire: Wire, project: str) -> None:
    theirs = api.add_env_by_hand(project, "THEIRS", secrets.token_urlsafe(8), target=["preview"])
    lost = {"error": {"code": "internal_server_error", "message": "An unexpected error occurred"}}
    # Every write takes effect, then its answer is a 500.
    api.faults.add(FaultRule(path=ENV_LIST, method="POST", when="after", status=500, body=lost, count=100))
    provider = VercelEnvironmentVariablesProvider()
    variables = values(5)
    news = env_inputs(api, project, variables)
    calls = Calls(api)

    outs = created(provider, news)

    assert post_statuses(calls) == [500], "found by listing, not written twice"
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items() if k != "THEIRS"} == variables
    assert stored["THEIRS"].id == theirs.id
    assert outs["ids"] == {k: env.id for k, env in stored.items() if k != "THEIRS"}
    calls.mark()
    assert provider.diff("id", outs, news).changes is False
    assert calls.all() == [], "a no-op diff calls nothing"
    updated(provider, outs, news)
    # The update looks for drift, and stamps what the lost write left unstamped from that list.
    assert calls.methods() == ["GET"], "the next run only reads, once"


def test_new_values_whose_answer_is_lost_are_written_again_and_left_unstamped(
    api: VercelApi, wire: Wire, project: str
) -> None:
    provider = VercelEnvironmentVariablesProvider()
    variables = values(5)
    outs = created(provider, env_inputs(api, project, variables))
    lost = {"error": {"code": "internal_server_error", "message": "An unexpected error occurred"}}
    # The upsert takes effect, then its answer is a 500: the same values are written again.
    api.faults.add(FaultRule(path=ENV_LIST, method="POST", when="after", status=500, body=lost))
    calls = Calls(api)

    fresh = {k: secrets.token_urlsafe(20) for k in variables}
    news = env_inputs(api, project, fresh)
    rewritten = updated(provider, outs, news)

    assert post_statuses(calls) == [500, 201], "an upsert is safe to repeat"
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == fresh
    assert rewritten["ids"] == outs["ids"], "updated in place, twice: one variable per key"
    assert rewritten["stamps"] == {}, "a lost write may land late: no stamp until the next update"
    calls.mark()
    assert provider.diff("id", rewritten, news).changes is False
    assert provider.read("id", rewritten).outs == rewritten, "sensitive and unstamped: nothing to compare"
    stamped = updated(provider, rewritten, news)  # the resource's next update, whatever it is for
    assert calls.methods() == ["GET", "GET"], "the refresh's list, then the update's: nothing written"
    assert set(stamped["stamps"]) == set(variables)


def test_new_values_refused_by_vercel_fail_the_step_naming_them(api: VercelApi, wire: Wire, project: str) -> None:
    provider = VercelEnvironmentVariablesProvider()
    variables = values(3)
    outs = created(provider, env_inputs(api, project, variables))
    fresh = {**variables, "VAR_01": secrets.token_urlsafe(20)}
    refusal = {
        "error": {"code": "BAD_REQUEST", "message": "No environment variables were created"},
        "failed": [{"error": {"code": "VALUE_INVALID_TYPE", "message": f"bad {fresh['VAR_01']}", "key": "VAR_01"}}],
    }
    api.faults.add(FaultRule(path=ENV_LIST, method="POST", status=400, body=refusal))

    with pytest.raises(ResourceError) as caught:
        updated(provider, outs, env_inputs(api, project, fresh))

    assert "Vercel refused 1 of the new values (VAR_01: bad " in str(caught.value)
    assert fresh["VAR_01"] not in str(caught.value)


def test_a_write_that_made_only_some_variables_writes_only_the_missing_ones(
    api: VercelApi, wire: Wire, project: str
) -> None:
    variables = values(5)
    calls = Calls(api)

    with cut_off_after_making(api, project, {k: variables[k] for k in ("VAR_00", "VAR_01")}):
        outs = created(VercelEnvironmentVariablesProvider(), env_inputs(api, project, variables))

    assert post_statuses(calls) == [None, 201]
    assert [sorted(item["key"] for item in body) for body in wire.bodies("POST", ENV_LIST)] == [
        ["VAR_00", "VAR_01", "VAR_02", "VAR_03", "VAR_04"],  # cut off after making the first two
        ["VAR_02", "VAR_03", "VAR_04"],
    ]
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items()} == variables
    assert outs["ids"] == {k: env.id for k, env in stored.items()}


def test_a_write_that_keeps_failing_removes_what_it_made_and_says_so(api: VercelApi, wire: Wire, project: str) -> None:
    theirs = api.add_env_by_hand(project, "THEIRS", secrets.token_urlsafe(8), target=["preview"])
    variables = values(3)
    calls = Calls(api)

    with cut_off_after_making(api, project, {"VAR_00": variables["VAR_00"]}):
        api.faults.add(FaultRule(path=ENV_LIST, method="POST", status=503, count=100))  # every write after it
        with pytest.raises(ResourceError) as caught:
            VercelEnvironmentVariablesProvider().create(env_inputs(api, project, variables))

    message = str(caught.value)
    assert "writing 3 variables failed 3 times" in message
    assert "503" in message
    assert "The 1 variables it had created were deleted again" in message
    assert post_statuses(calls) == [None, 503, 503]
    assert [env.id for env in api.env_vars(project)] == [theirs.id], "nothing orphaned, theirs untouched"


def test_ongoing_env_update_answers_are_waited_out(api: VercelApi, wire: Wire, project: str) -> None:
    """Someone else writes to the project (in Vercel, not through this machine's lock): while
    that write lasts, Vercel refuses others with 400 "ongoing env update"."""
    api.configure(env_write_seconds=3.0)  # the provider writes inside it even on a busy machine
    theirs = {"key": "THEIRS", "value": secrets.token_urlsafe(8), "type": "encrypted", "target": ["production"]}
    answered: list[int] = []

    def write_theirs() -> None:
        with api.http() as http:
            answered.append(http.post(f"/v10/projects/{project}/env", json=[theirs], timeout=30).status_code)

    other = threading.Thread(target=write_theirs, daemon=True)
    other.start()
    deadline = time.monotonic() + 10
    while not api.app.writing(project):
        assert time.monotonic() < deadline, "the other write never started"
    calls = Calls(api)
    variables = values(4)

    created(VercelEnvironmentVariablesProvider(), env_inputs(api, project, variables, team=api.team_slug))

    other.join(timeout=30)
    assert answered == [201]
    refused = [s for s in post_statuses(calls) if s == 400]
    assert refused, "the project was busy when the provider first wrote"
    assert post_statuses(calls) == [*refused, 201, 201], "refused while the other write lasted, then written once"
    stored = live(api, project)
    assert {k: env.value for k, env in stored.items() if k != "THEIRS"} == variables


def test_writes_wait_while_another_run_holds_the_project(
    api: VercelApi, wire: Wire, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked, finished = threading.Event(), threading.Event()
    failures: list[BaseException] = []
    real_info = pulumi.log.info

    def info(message: str, *args: Any, **kwargs: Any) -> None:
        if "waiting for another run" in message:
            blocked.set()
        real_info(message, *args, **kwargs)

    monkeypatch.setattr(pulumi.log, "info", info)

    def run() -> None:
        try:
            created(VercelEnvironmentVariablesProvider(), env_inputs(api, project, values(3)))
        except BaseException as exc:  # handed to the test thread below
            failures.append(exc)
        finally:
            finished.set()

    calls = Calls(api)
    # Another stack (or another resource of this one) is writing to the same project.
    with vercel_access.project_write_lock(api.url, project):
        worker = threading.Thread(target=run)
        worker.start()
        assert blocked.wait(timeout=30), "the provider noticed the project is busy"
        assert calls.all() == [], "and touched nothing while it was"
        assert wire.sent == []
    assert finished.wait(timeout=30)
    worker.join(timeout=30)
    assert failures == []
    assert len(api.env_vars(project)) == 3


def test_nothing_secret_reaches_errors_or_progress_lines(
    api: VercelApi, wire: Wire, project: str, capsys: pytest.CaptureFixture[str]
) -> None:
    variables = values(4)
    # Vercel refuses every item, and its reasons repeat the values (the worst it could do).
    failed = [
        {"error": {"code": "VALUE_INVALID_TYPE", "message": f"bad value {value}", "key": key, "target": ["preview"]}}
        for key, value in variables.items()
    ]
    refusal = {"error": {"code": "BAD_REQUEST", "message": "No environment variables were created"}, "failed": failed}
    api.faults.add(FaultRule(path=ENV_LIST, method="POST", status=400, body=refusal))

    with pytest.raises(ResourceError) as caught:
        VercelEnvironmentVariablesProvider().create(env_inputs(api, project, variables))

    text = str(caught.value) + capsys.readouterr().err
    assert "VAR_01: bad value" in text, "Vercel's reasons are passed on"
    assert not any(v in text for v in variables.values())
    assert api.token not in text
