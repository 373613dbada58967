"""`pulumi up` of staging from scratch under API faults: it converges, with at most one re-run.

Each test injects one kind of fault into both local APIs (the real engine, the real
providers, the real HTTP layer) and then checks what a user would: exactly one Supabase
project, exactly one set of the stack's variables in Vercel with the right values, no
secret in anything printed or in the state, and a following `up` that changes and writes
nothing (``assert_converged``, ``assert_noop``).
"""

from __future__ import annotations

import threading
import time

import pytest
from pulumi import automation as auto

from tests.emulators.common.faults import FaultRule
from tests.emulators.vercel.envrules import bad_request
from tests.integration.convergence import (
    HTTP_TIMEOUT,
    PROJECT,
    Staging,
    assert_converged,
    assert_noop,
    wait_until,
)

pytestmark = pytest.mark.engine

ORG_PROJECTS = r"/v1/organizations/[^/]+/projects"
CREATE = r"/v1/projects"
PROJECT_PATH = r"/v1/projects/[a-z]{20}"
ENV = r"/v10/projects/[^/]+/env"
REDEPLOY = r"/v13/deployments"
THROTTLED = {"message": "ThrottlerException: Too Many Requests"}  # Supabase's 429 body


def vercel_rate_limited(reset_in: float | None) -> dict[str, object]:
    """Vercel's 429 body; ``error.limit`` carries when the window resets, when given."""
    error: dict[str, object] = {"code": "rate_limited", "message": "Too many requests - try again later."}
    if reset_in is not None:
        reset = time.time() + reset_in
        error["limit"] = {"total": 120, "remaining": 0, "reset": int(reset) + 1, "resetMs": int(reset * 1000)}
    return {"error": error}


def add(api: object, *rules: FaultRule) -> list[FaultRule]:
    for rule in rules:
        api.faults.add(rule)  # type: ignore[attr-defined]
    return list(rules)


def fired_all(rules: list[FaultRule]) -> None:
    missed = [f"{r.method} {r.path}" for r in rules if not r.fired.is_set()]
    assert not missed, f"faults never reached: {missed}"


def env_writes(staging: Staging) -> list[int | None]:
    """The statuses of the stack's batch writes of variables, in order."""
    return [c.status for c in staging.vercel.calls() if c.method == "POST" and c.path.endswith("/env")]


def after_fault(staging: Staging, method: str, path: str) -> tuple[float, float]:
    """When the faulted call and the call after it arrived (for checking the wait between)."""
    calls = [c for c in [*staging.supabase.calls(), *staging.vercel.calls()] if c.method == method and c.path == path]
    injected = next(i for i, c in enumerate(calls) if c.injected)
    return calls[injected].at, calls[injected + 1].at


@pytest.mark.parametrize("retry_after", [True, False], ids=["with-retry-after", "without-retry-after"])
def test_429_answers_are_waited_out(fresh_staging: Staging, retry_after: bool) -> None:
    staging = fresh_staging
    supabase_headers = {"Retry-After": "1", "X-RateLimit-Reset": "1"} if retry_after else {}
    vercel_headers = {"Retry-After": "1"} if retry_after else {}
    vercel_body = vercel_rate_limited(1.0 if retry_after else None)
    rules = add(
        staging.supabase,
        FaultRule(path=ORG_PROJECTS, status=429, body=THROTTLED, headers=supabase_headers),
        FaultRule(path=CREATE, method="POST", status=429, body=THROTTLED, headers=supabase_headers),
        FaultRule(path=PROJECT_PATH + "/api-keys", status=429, body=THROTTLED, headers=supabase_headers),
    ) + add(
        staging.vercel,
        FaultRule(path=ENV, method="GET", status=429, body=vercel_body, headers=vercel_headers),
        FaultRule(path=ENV, method="POST", status=429, body=vercel_body, headers=vercel_headers),
        FaultRule(path=REDEPLOY, method="POST", status=429, body=vercel_body, headers=vercel_headers),
    )
    assert staging.up_converging() == 1, "a rate limit is waited out within the run"
    fired_all(rules)
    if retry_after:
        for method, path in (("POST", "/v1/projects"), ("POST", REDEPLOY)):
            refused, retried = after_fault(staging, method, path)
            assert retried - refused >= 0.9, f"the retry of {method} {path} waited as long as the server said"
    assert_converged(staging)
    assert_noop(staging)


def test_500_502_503_bursts_are_retried(fresh_staging: Staging) -> None:
    staging = fresh_staging
    rules = add(
        staging.supabase,
        FaultRule(path=ORG_PROJECTS, status=503, count=2),
        # A 500 to a create: nothing of that name exists afterwards, so it is safe to create again.
        FaultRule(path=CREATE, method="POST", status=500, body={"message": "Internal server error"}),
        FaultRule(path=PROJECT_PATH, method="GET", status=502, count=3),
        FaultRule(path=PROJECT_PATH + "/config/database/pooler", status=500, count=2),
        FaultRule(path=PROJECT_PATH + "/api-keys", status=503, count=2),
    ) + add(
        staging.vercel,
        FaultRule(path=r"/v9/projects/[^/]+", status=502, count=2),
        FaultRule(path=ENV, method="GET", status=500, count=2),
        FaultRule(path=ENV, method="POST", status=503, count=2),
        # The write happened, then the answer was a 500: the upsert is repeated, rewriting the same.
        FaultRule(path=ENV, method="POST", status=500, when="after"),
        FaultRule(path=r"/v6/deployments", status=503, count=2),
        FaultRule(path=REDEPLOY, method="POST", status=502),
    )
    assert staging.up_converging() == 1
    fired_all(rules)
    creates = [c.status for c in staging.supabase.calls() if c.method == "POST" and c.path == "/v1/projects"]
    assert creates == [500, 201], "created again only after finding nothing of that name"
    assert_converged(staging)
    assert_noop(staging)


def test_connection_resets(fresh_staging: Staging) -> None:
    staging = fresh_staging
    rules = add(
        staging.supabase,
        FaultRule(path=ORG_PROJECTS, action="drop"),
        # The project was made, its answer lost: found by name, not made twice.
        FaultRule(path=CREATE, method="POST", action="drop", when="after"),
        FaultRule(path=PROJECT_PATH, method="GET", action="drop", count=2),
        FaultRule(path=PROJECT_PATH + "/postgrest", action="drop", when="after"),
    ) + add(
        staging.vercel,
        FaultRule(path=ENV, method="GET", action="drop"),
        FaultRule(path=ENV, method="POST", action="drop"),
        FaultRule(path=ENV, method="POST", action="drop", when="after"),
        FaultRule(path=REDEPLOY, method="POST", action="drop"),
    )
    assert staging.up_converging() == 1
    fired_all(rules)
    assert_converged(staging)
    assert_noop(staging)


def test_a_reset_create_with_nothing_found_is_created_again(fresh_staging: Staging) -> None:
    staging = fresh_staging
    # Dropped before Supabase saw it: nothing was made, but the client cannot know that.
    add(staging.supabase, FaultRule(path=CREATE, method="POST", action="drop"))
    assert staging.up_converging() == 1
    creates = [c.status for c in staging.supabase.calls() if c.method == "POST" and c.path == "/v1/projects"]
    assert creates == [None, 201], "looked up by name first, found nothing, created once"
    assert_converged(staging)
    assert_noop(staging)


API_KEYS = PROJECT_PATH + "/api-keys"


@pytest.mark.parametrize("fault", ["502", "503", "reset"])
def test_every_create_answered_after_it_acted_makes_one_object(fresh_staging: Staging, fault: str) -> None:
    """A gateway's 502 or 503, or a reset, after the server acted, on every create the stack makes:
    one project, one key of each kind, one variable per name, one redeploy, and the next up a no-op."""
    staging = fresh_staging

    def after(path: str, count: int = 1) -> FaultRule:
        if fault == "reset":
            return FaultRule(path=path, method="POST", action="drop", when="after", count=count)
        return FaultRule(path=path, method="POST", status=int(fault), when="after", count=count)

    rules = add(staging.supabase, after(CREATE), after(API_KEYS, count=2)) + add(
        staging.vercel, after(ENV), after(REDEPLOY)
    )
    assert staging.up_converging() == 1
    fired_all(rules)
    posts = [c.path for c in [*staging.supabase.calls(), *staging.vercel.calls()] if c.method == "POST"]
    assert posts.count("/v1/projects") == 1, "found by name, never created twice"
    assert len([p for p in posts if p.endswith("/api-keys")]) == 2, "each key found by its name"
    assert posts.count("/v13/deployments") == 1, "the redeploy found by its marker, never built twice"
    assert_converged(staging)  # one project, one key of each kind and name, one variable per name
    assert_noop(staging)


def test_read_timeouts(fresh_staging: Staging) -> None:
    staging = fresh_staging
    slow = HTTP_TIMEOUT + 2
    # The variables' write is written again as soon as the lookup finds nothing, so that the
    # late one lands after it (a settle window could end either before or after it lands).
    staging.copy.env["ENVSTACK_CREATE_SETTLE_SECONDS"] = "0"
    rules = add(
        staging.supabase,
        # Created at once, answered too late: the provider looks for it by name instead.
        FaultRule(path=CREATE, method="POST", action="delay", when="after", delay=slow),
        FaultRule(path=PROJECT_PATH + "/api-keys", action="delay", delay=slow),
    ) + add(
        staging.vercel,
        # Handled only after the client gave up and wrote again: the late write rewrites the same.
        FaultRule(path=ENV, method="POST", action="delay", delay=slow),
    )
    started = time.monotonic()
    assert staging.up_converging() == 1
    assert time.monotonic() - started >= 3 * HTTP_TIMEOUT, "each faulted call waited out the client's timeout"
    fired_all(rules)
    creates = [c for c in staging.supabase.calls() if c.method == "POST" and c.path == "/v1/projects"]
    assert len(creates) == 1, "a create whose answer timed out is never sent again"
    # The write the client gave up on lands late; it must change nothing.
    wait_until(lambda: len(env_writes(staging)) == 2, slow * 2, "the late write to land")
    assert_converged(staging)
    assert_noop(staging)


def test_a_project_coming_up_for_minutes_hits_the_deadline_then_a_later_up_converges(
    fresh_staging: Staging,
) -> None:
    staging = fresh_staging
    staging.supabase.configure(provisioning_delay=600)  # ten minutes COMING_UP
    staging.stack.set_config("supabase:waitTimeout", auto.ConfigValue("2"))
    error = staging.up_failing()
    projects = staging.supabase.emulator.state.projects_of(staging.supabase.tenant)
    assert [p.status for p in projects] == ["COMING_UP"]
    ref = projects[0].ref
    assert f"Supabase project {ref} was still COMING_UP after 2s (supabase:waitTimeout)" in error
    assert "run `pulumi up` again to keep waiting: the project is found by name, not created twice" in error
    assert f"Supabase project {ref} is COMING_UP; waiting up to 2s" in "".join(staging.copy.output), "progress"

    staging.supabase.finish_provisioning(ref)
    assert staging.supabase.wait_for_status(ref, timeout=60) == "ACTIVE_HEALTHY"
    staging.up()
    assert_converged(staging)
    assert_noop(staging)


def test_a_project_that_fails_to_start_leaves_nothing_behind(fresh_staging: Staging) -> None:
    staging = fresh_staging
    staging.supabase.configure(fail_next_provisionings=1)
    error = staging.up_failing()
    assert "ended in status INIT_FAILED instead of ACTIVE_HEALTHY" in error
    assert "it was deleted again, so nothing is left behind: run `pulumi up` again to create a new one" in error
    assert staging.supabase.emulator.state.projects_of(staging.supabase.tenant) == [], "nothing orphaned"
    assert [e.key for e in staging.vercel.env_vars(PROJECT)] == [], "no variable was written"
    staging.up()
    assert_converged(staging)
    assert_noop(staging)


def test_an_ongoing_env_update_is_waited_out(fresh_staging: Staging) -> None:
    staging = fresh_staging
    busy_message = "The environment variable couldn't be created because an ongoing env update is already happening."
    # Answered as Vercel does, twice, then the real thing: another writer holds the project
    # while the stack writes (the emulator answers its own 400 for as long as that lasts).
    add(staging.vercel, FaultRule(path=ENV, method="POST", status=400, body=bad_request(busy_message).body(), count=2))
    listed = staging.vercel.faults.add(FaultRule(path=ENV, method="GET", action="hang", when="after"))
    project_id = staging.vercel.app.project(PROJECT, {"teamId": staging.vercel.team})["id"]

    def another_writer() -> None:
        with staging.vercel.http() as http:
            http.request("DELETE", f"/v1/projects/{project_id}/env", json={"ids": ["env_nobody"]})

    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(staging.up_converging()))
    runner.start()
    assert listed.fired.wait(120), "the stack listed the variables before writing"
    staging.vercel.configure(env_write_seconds=4)
    writer = threading.Thread(target=another_writer)
    writer.start()
    wait_until(lambda: staging.vercel.app.writing(project_id), 30, "the other writer to hold the project")
    staging.vercel.configure(env_write_seconds=0)  # read when a write starts: only the other one is slow
    listed.release()
    writer.join(30)
    runner.join(300)
    assert result == [1]
    posts = env_writes(staging)
    assert posts[:2] == [400, 400]
    assert posts[-1] == 201
    assert posts.count(400) >= 3, f"the real busy answer came too: {posts}"
    assert_converged(staging)
    assert_noop(staging)
