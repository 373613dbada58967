"""The shared HTTP layer: retries, backoff, server-directed waits, redaction."""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import pytest

from envstack.clients.http import TIMEOUT_VARIABLE, ApiClient, RetryPolicy
from envstack.errors import ApiError, NotFound

TOKEN = "sbp_" + "0123456789abcdef" * 2
NOW = 1_800_000_000.0


def client(handler: Callable[[httpx.Request], httpx.Response], waits: list[float], **kwargs: object) -> ApiClient:
    return ApiClient(
        service="supabase",
        base_url="http://127.0.0.1:9",
        token=TOKEN,
        transport=httpx.MockTransport(handler),
        sleep=waits.append,
        clock=lambda: NOW,
        retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=30, max_wait=60),
        **kwargs,  # type: ignore[arg-type]
    )


def sequence(
    *responses: httpx.Response | Exception,
) -> tuple[Callable[[httpx.Request], httpx.Response], list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def test_429_waits_as_long_as_retry_after_says() -> None:
    handler, seen = sequence(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=[]))
    waits: list[float] = []
    assert client(handler, waits).get("/v1/projects") == []
    assert len(seen) == 2
    assert waits == [7.0]


def test_a_wait_longer_than_our_own_backoff_cap_is_kept_whole() -> None:
    """Retry-After: 45 with max_delay 30: sending at 30 s would only earn another refusal."""
    handler, seen = sequence(httpx.Response(429, headers={"Retry-After": "45"}), httpx.Response(200, json=[]))
    waits: list[float] = []
    assert client(handler, waits).get("/v1/projects") == []
    assert (waits, len(seen)) == ([45.0], 2)


@pytest.mark.parametrize(
    ("header", "wait"),
    [("soon", None), ("Wed, 21 Oct 2015 07:28:00", None), ("Fri, 15 Jan 2027 08:00:20 GMT", 20.0)],  # NOW + 20 s,
    ids=["not a time", "a date in the past", "an HTTP date"],
)
def test_retry_after_as_a_date_or_unreadable_still_retries(header: str, wait: float | None) -> None:
    """A proxy's unreadable Retry-After on a 503 falls back to our backoff instead of crashing the call."""
    handler, seen = sequence(httpx.Response(503, headers={"Retry-After": header}), httpx.Response(200, json=[]))
    waits: list[float] = []
    assert client(handler, waits).get("/v1/projects") == []
    assert len(seen) == 2
    if wait is None:
        assert len(waits) == 1
        assert waits[0] <= 30, "our own backoff, within max_delay"
    else:
        assert waits == [wait]


def test_429_honours_supabase_ratelimit_reset_seconds() -> None:
    handler, seen = sequence(httpx.Response(429, headers={"X-RateLimit-Reset": "12"}), httpx.Response(200, json={}))
    waits: list[float] = []
    client(handler, waits).post("/v1/projects", json={})
    assert waits == [12.0], "a 429 was rejected before processing, so even POST is retried"
    assert len(seen) == 2


def test_429_honours_vercel_limit_reset_epoch() -> None:
    body = {"error": {"code": "rate_limited", "message": "Too many requests", "limit": {"reset": NOW + 5}}}
    handler, _ = sequence(httpx.Response(429, json=body), httpx.Response(200, json={}))
    waits: list[float] = []
    client(handler, waits).get("/v9/projects/x")
    assert waits == [5.0]


def test_5xx_burst_then_success_for_reads() -> None:
    handler, seen = sequence(
        httpx.Response(500), httpx.Response(502), httpx.Response(503), httpx.Response(200, json={"ok": 1})
    )
    waits: list[float] = []
    assert client(handler, waits).get("/v1/projects/abc") == {"ok": 1}
    assert len(seen) == 4
    assert len(waits) == 3


def test_500_on_post_is_not_repeated_unless_the_caller_says_so() -> None:
    handler, seen = sequence(httpx.Response(500, json={"message": "boom"}), httpx.Response(201, json={}))
    with pytest.raises(ApiError, match="500 boom"):
        client(handler, []).post("/v1/projects", json={})
    assert len(seen) == 1
    handler, seen = sequence(httpx.Response(500), httpx.Response(201, json={"id": 1}))
    assert client(handler, []).post("/v1/projects", json={}, retry_unsafe=True) == {"id": 1}
    assert len(seen) == 2


def test_connection_errors_retry_reads_but_not_creates() -> None:
    handler, seen = sequence(httpx.ConnectError("connection refused"), httpx.Response(200, json=[]))
    assert client(handler, []).get("/v1/projects") == []
    assert len(seen) == 2
    handler, seen = sequence(httpx.ReadTimeout("timed out"), httpx.Response(201, json={}))
    with pytest.raises(ApiError, match="ReadTimeout") as caught:
        client(handler, []).post("/v1/projects", json={})
    assert caught.value.status is None
    assert len(seen) == 1


def test_gives_up_after_the_last_attempt_with_a_clear_error() -> None:
    handler, seen = sequence(httpx.Response(503, json={"message": "unavailable"}))
    with pytest.raises(
        ApiError, match=r"supabase GET /v1/projects failed: 503 unavailable \(gave up after 4 attempts\)"
    ):
        client(handler, []).get("/v1/projects")
    assert len(seen) == 4


def test_gives_up_when_the_server_asks_for_too_long_a_wait() -> None:
    handler, seen = sequence(httpx.Response(429, headers={"Retry-After": "3600"}))
    waits: list[float] = []
    asked_too_long = r"gave up the API asks to wait 3600s more, past the 45s a call may wait"
    with pytest.raises(ApiError, match=asked_too_long) as raised:
        ApiClient(
            service="vercel",
            base_url="http://127.0.0.1:9",
            token=TOKEN,
            transport=httpx.MockTransport(handler),
            sleep=waits.append,
            retry=RetryPolicy(attempts=5, max_delay=30, max_wait=45),
        ).get("/x")
    assert waits == [], "no wait that could not end in an answer"
    assert len(seen) == 1
    assert raised.value.retry_after == 3600, "the caller learns when to come back"


def test_client_errors_are_not_retried_and_404_is_distinct() -> None:
    handler, seen = sequence(httpx.Response(404, json={"message": "Project not found"}))
    with pytest.raises(NotFound, match="404 Project not found"):
        client(handler, []).get("/v1/projects/nope")
    assert len(seen) == 1
    handler, seen = sequence(httpx.Response(400, json={"error": {"code": "ENV_CONFLICT", "message": "exists"}}))
    with pytest.raises(ApiError) as caught:
        client(handler, []).post("/v10/projects/p/env", json=[])
    assert (caught.value.code, caught.value.message, len(seen)) == ("ENV_CONFLICT", "exists", 1)


def test_token_and_runtime_secrets_never_reach_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    db_password = "correct-horse-battery-staple"
    body = {"message": f"bad token {TOKEN} for postgresql://postgres:{db_password}@db.example:5432/postgres"}
    handler, _ = sequence(httpx.Response(502, json=body), httpx.Response(401, json=body))
    api = client(handler, [])
    api.add_secret(db_password)
    caplog.set_level(logging.INFO, logger="envstack.http")
    with pytest.raises(ApiError) as caught:
        api.get("/v1/projects")
    text = str(caught.value) + repr(caught.value.body) + caplog.text
    assert TOKEN not in text
    assert db_password not in text
    assert "401" in str(caught.value)
    assert "retrying" in caplog.text


def test_the_answer_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    def timeout_of(api: ApiClient) -> object:
        return api._http.timeout.read

    monkeypatch.delenv(TIMEOUT_VARIABLE, raising=False)
    assert timeout_of(ApiClient(service="x", base_url="http://127.0.0.1:9", token=TOKEN)) == 30.0
    monkeypatch.setenv(TIMEOUT_VARIABLE, "2.5")
    assert timeout_of(ApiClient(service="x", base_url="http://127.0.0.1:9", token=TOKEN)) == 2.5
    assert timeout_of(ApiClient(service="x", base_url="http://127.0.0.1:9", token=TOKEN, timeout=9)) == 9
    monkeypatch.setenv(TIMEOUT_VARIABLE, "soon")
    with pytest.raises(ValueError, match="ENVSTACK_HTTP_TIMEOUT must be a positive number of seconds"):
        ApiClient(service="x", base_url="http://127.0.0.1:9", token=TOKEN)


def test_a_read_timeout_is_retried_for_reads_only() -> None:
    handler, seen = sequence(httpx.ReadTimeout("slow"), httpx.Response(200, json=[]))
    assert client(handler, []).get("/v1/projects") == []
    assert len(seen) == 2
    handler, seen = sequence(httpx.ReadTimeout("slow"), httpx.Response(201, json={}))
    with pytest.raises(ApiError, match="ReadTimeout"):
        client(handler, []).post("/v1/projects", json={})
    assert len(seen) == 1, "a POST whose answer was lost may have taken effect: the caller decides"


def test_a_refusal_is_retried_past_the_attempt_count_until_the_deadline() -> None:
    busy = httpx.Response(400, json={"error": {"code": "bad_request", "message": "an ongoing env update"}})
    handler, seen = sequence(*([busy] * 9), httpx.Response(201, json={}))
    waits: list[float] = []
    api = client(handler, waits, retry_when=lambda r: r.status_code == 400)
    api.post("/v10/projects/p/env", json=[])
    assert len(seen) == 10, "nine refusals (the policy allows 4 attempts) are waited out"
    assert sum(waits) <= 60


def test_a_refusal_that_outlasts_the_deadline_gives_up_clearly() -> None:
    handler, _ = sequence(httpx.Response(429, headers={"Retry-After": "25"}))
    waits: list[float] = []
    with pytest.raises(ApiError, match="the API asks to wait 25s more, past the 60s a call may wait"):
        client(handler, waits).get("/v1/projects")
    assert waits == [25.0, 25.0]


def test_failures_still_stop_after_the_attempts() -> None:
    handler, seen = sequence(httpx.Response(503))
    with pytest.raises(ApiError, match="gave up after 4 attempts"):
        client(handler, []).get("/v1/projects")
    assert len(seen) == 4


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_create_is_never_repeated_by_the_transport(status: int) -> None:
    """A gateway's 502 or 503 can come after the server made the object: the caller looks first."""
    handler, seen = sequence(httpx.Response(status), httpx.Response(201, json={}))
    with pytest.raises(ApiError) as caught:
        client(handler, []).post("/v1/projects", json={})
    assert (caught.value.status, len(seen)) == (status, 1)
    again, seen_again = sequence(httpx.Response(status), httpx.Response(200, json={}))
    client(again, []).patch("/v1/projects/x", json={}, retry_unsafe=True)
    assert len(seen_again) == 2, "a write the caller calls harmless to repeat is retried"


def test_rate_limit_headers_on_a_failure_are_not_a_request_to_wait() -> None:
    # Supabase sends X-RateLimit-* on every answer; on a 500 the reset is when the window
    # ends, not how long to wait (a 30 s pause after every pooler warm-up 500 otherwise).
    failed = httpx.Response(500, headers={"X-RateLimit-Reset": "40"}, json={"message": "not yet"})
    handler, seen = sequence(failed, httpx.Response(200, json=[]))
    waits: list[float] = []
    assert client(handler, waits).get("/v1/projects/x/config/database/pooler") == []
    assert len(seen) == 2
    assert waits[0] < 1.0, "the backoff's first step, not the rate-limit window"


def test_a_status_the_caller_polls_is_answered_at_once() -> None:
    """The caller's own poll decides how long a 500 that means "not yet" may last; the other
    failures of the same call keep this layer's retries."""
    not_ready = httpx.Response(500, json={"message": "the pooler is being provisioned"})
    handler, seen = sequence(not_ready, httpx.Response(200, json=[]))
    waits: list[float] = []
    with pytest.raises(ApiError) as caught:
        client(handler, waits).get("/v1/projects/x/config/database/pooler", not_yet=(500,))
    assert (caught.value.status, len(seen), waits) == (500, 1, [])
    assert "gave up" not in str(caught.value)
    flaky, seen_flaky = sequence(httpx.Response(503), httpx.Response(200, json=[]))
    assert client(flaky, []).get("/v1/projects/x/config/database/pooler", not_yet=(500,)) == []
    assert len(seen_flaky) == 2


def test_a_token_pasted_with_its_line_break_is_used_without_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI secrets are often pasted with a trailing newline; httpx refuses such a header value."""
    from envstack.clients import tokens

    monkeypatch.setenv("VERCEL_TOKEN", "vercel-token-value\n")
    assert tokens.vercel_token() == "vercel-token-value"
    monkeypatch.setenv("VERCEL_TOKEN", " \n")
    assert tokens.present(tokens.VERCEL) is None
