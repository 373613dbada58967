"""`restore --to` parsing, the checks made before a restore, and the call production prints:
the same call the client sends, never the token."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from envstack.clients.supabase_backups import SupabaseBackupsClient
from envstack.errors import ApiError, Refused, ResourceError, SettingsError
from envstack.ops import restore
from envstack.ops.restore import Restore, Target, parse_target
from envstack.ops.stack_view import StackView, SupabaseState
from envstack.settings import load_settings

REF = "abcdefghijklmnopqrst"
API = "http://127.0.0.1:9"
TOKEN = "sbp_unit_token_never_printed"
SETTINGS = {
    "envstack:app": "hermes",
    "envstack:database": json.dumps({"provider": "supabase"}),
    "supabase:organization": "hermes-security",
    "supabase:region": "eu-central-1",
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03T17:40:00Z", Target(unix=1796319600)),
        ("2026-12-03T18:40:00+01:00", Target(unix=1796319600)),
        ("2026-12-03T17:40:00.900Z", Target(unix=1796319600)),  # whole seconds, never later
        ("1796319600", Target(unix=1796319600)),
        (" 1796319600.7 ", Target(unix=1796319600)),
        ("before-migration", Target(point="before-migration")),
        ("x" * 20, Target(point="x" * 20)),
    ],
)
def test_to_is_a_time_or_a_restore_point(text: str, expected: Target) -> None:
    assert parse_target(text) == expected


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("2026-12-03T17:40:00", "has no zone"),
        ("2026-12-03 17:40", "has no zone"),
        ("2026-13-03T17:40:00Z", "is not an ISO-8601 time"),
        ("2026-12-03T25:00Z", "is not an ISO-8601 time"),
        ("x" * 21, "neither a time"),
        ("", "neither a time"),
        ("12345", "neither a time"),  # digits, but no plausible unix time: never a point's name
    ],
)
def test_a_bad_to_is_one_sentence(text: str, says: str) -> None:
    with pytest.raises(SettingsError, match=says) as raised:
        parse_target(text)
    assert "\n" not in str(raised.value), "one sentence"
    assert str(raised.value).startswith("--to ")


def view(
    name: str = "production",
    *,
    branch: bool = False,
    database: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
) -> StackView:
    config = dict(SETTINGS)
    if database is not None:
        config["envstack:database"] = json.dumps(database)
    supabase = SupabaseState(REF, API, "org", "eu-central-1", "small", branch)
    return StackView(name, load_settings(name, config), outputs or {}, (), supabase, ())


def serve(handler: Callable[[httpx.Request], httpx.Response]) -> SupabaseBackupsClient:
    return SupabaseBackupsClient(base_url=API, token=TOKEN, transport=httpx.MockTransport(handler))


def backups(pitr: bool, window: tuple[int, int] | None) -> Callable[[httpx.Request], httpx.Response]:
    data = (
        {}
        if window is None
        else dict(zip(("earliest_physical_backup_date_unix", "latest_physical_backup_date_unix"), window, strict=True))
    )
    body = {
        "region": "eu-central-1",
        "walg_enabled": True,
        "pitr_enabled": pitr,
        "backups": [],
        "physical_backup_data": data,
    }
    return healthy_project(lambda request: httpx.Response(200, json=body))


def project(status: str) -> httpx.Response:
    return httpx.Response(200, json={"id": REF, "ref": REF, "name": "hermes-production", "status": status})


def healthy_project(
    other: Callable[[httpx.Request], httpx.Response], status: str = "ACTIVE_HEALTHY"
) -> Callable[[httpx.Request], httpx.Response]:
    """``other``, except the project itself, which answers with ``status``."""
    return lambda request: project(status) if request.url.path == f"/v1/projects/{REF}" else other(request)


def test_production_prints_the_call_the_client_makes_and_never_the_token() -> None:
    planned = Restore("production", REF, API + "/", Target(unix=1796319600))
    text = planned.call.render()
    url = f"{API}/v1/projects/{REF}/database/backups/restore-pitr"
    assert text.splitlines()[:5] == [
        f"POST {url}",
        "Authorization: Bearer $SUPABASE_ACCESS_TOKEN",
        "Content-Type: application/json",
        "",
        '{"recovery_time_target_unix": 1796319600}',
    ]
    assert text.splitlines()[-1] == (
        f'curl -X POST {url} -H "Authorization: Bearer $SUPABASE_ACCESS_TOKEN" '
        "-H 'Content-Type: application/json' -d '{\"recovery_time_target_unix\": 1796319600}'"
    )
    assert TOKEN not in text
    # What the client sends for the same restore: method, URL and body alike.
    sends: list[tuple[Target, Callable[[SupabaseBackupsClient], None]]] = [
        (Target(unix=1796319600), lambda c: c.restore_to_time(REF, 1796319600)),
        (Target(point="before-deploy"), lambda c: c.restore_to_restore_point(REF, "before-deploy")),
    ]
    for target, send in sends:
        sent: list[httpx.Request] = []

        def handler(request: httpx.Request, sent: list[httpx.Request] = sent) -> httpx.Response:
            sent.append(request)
            return httpx.Response(201, json={})

        with serve(handler) as client:
            send(client)
        call = Restore("production", REF, API, target).call
        assert (sent[0].method, str(sent[0].url), json.loads(sent[0].content)) == (call.method, call.url, call.body)


def test_checks_before_a_restore() -> None:
    inside = Target(unix=1_000_500)
    with serve(backups(False, None)) as client, pytest.raises(Refused, match="point-in-time recovery is not on"):
        restore.check(view(), inside, client)
    with serve(backups(True, (1_000_000, 1_000_600))) as client:
        assert restore.check(view(), inside, client).call.body == {"recovery_time_target_unix": 1_000_500}
        with pytest.raises(
            Refused, match=r"outside the recovery window .*from 1970-01-12T13:46:40Z to 1970-01-12T13:56:40Z UTC"
        ):
            restore.check(view(), Target(unix=1_000_601), client)
    missing = serve(healthy_project(lambda request: httpx.Response(404, json={"message": "Restore point not found"})))
    with missing as client, pytest.raises(Refused, match="no restore point named gone"):
        restore.check(view(), Target(point="gone"), client)
    with pytest.raises(Refused, match="preview branch"):
        restore.project_of(view("staging", branch=True))
    with pytest.raises(Refused, match="local database"):
        restore.project_of(view("dev", database={"provider": "local", "name": "hermes_dev"}))


def test_after_a_restore_it_says_whether_the_app_can_still_log_in(tmp_path: Path) -> None:
    history = [
        {"secret": "database", "counter": 2, "previous": 1, "at": "2026-12-03T17:30:00Z", "by": "ci"},
        {"secret": "database", "counter": 3, "previous": 2, "at": "2026-12-03T17:50:00Z", "by": "ci"},
        {"secret": "jwt", "counter": 2, "previous": 1, "at": "2026-12-03T18:00:00Z", "by": "ci"},
    ]
    rotated = view(outputs={"rotation_history": history})

    def first_step(target: Target) -> str:
        return restore.next_steps(rotated, tmp_path, Restore("production", REF, API, target))[0]

    before_the_rotation = first_step(Target(unix=1796319600))  # 17:40, between the two database rotations
    assert before_the_rotation.startswith(
        "rotation:database went to 3 at 2026-12-03T17:50:00Z, after 2026-12-03T17:40:00Z (unix 1796319600): "
    )
    assert "cannot log in until you bump rotation:database once more and run `pulumi up --stack production`" in (
        before_the_rotation
    )
    # Only the database's rotations rewind the login roles: the JWT rotation at 18:00 does not.
    after_it = first_step(Target(unix=1796319600 + 15 * 60))
    assert after_it == "The app's deployments keep working: their variables and the database passwords did not change."
    # A restore point's time is not known here, so the step is said with its condition.
    assert "If rotation:database was bumped after the restore point was made" in first_step(Target(point="pre-deploy"))


def test_a_database_not_reachable_after_the_restore_is_a_next_step_not_a_failure(tmp_path: Path) -> None:
    """The restore has happened: an error here would be answered by restoring again."""
    password = secrets.token_urlsafe(12)
    unreachable = f"postgresql://postgres:{password}@127.0.0.1:1/postgres"
    after = view(outputs={"migrations_url": unreachable})
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    lines = restore.next_steps(after, tmp_path, Restore("production", REF, API, Target(unix=1796319600)))
    assert lines[0].startswith("The app's deployments keep working"), "the credentials step is still said"
    assert lines[-1].startswith("The migration history could not be read from here (database error: ")
    assert "python -m envstack migrate status" in lines[-1]
    assert password not in "\n".join(lines)


def test_a_project_not_healthy_is_not_restored() -> None:
    """RESTORING above all: an earlier restore still running, whose command timed out."""
    restoring = serve(healthy_project(backups(True, (1_000_000, 1_000_600)), "RESTORING"))
    with restoring as client, pytest.raises(Refused, match=r"is RESTORING, not ACTIVE_HEALTHY: a restore or another"):
        restore.check(view(), Target(unix=1_000_500), client)


@pytest.mark.parametrize(
    ("answer", "status", "says"),
    [
        (502, "ACTIVE_HEALTHY", "502"),  # the server failed: it may have begun all the same
        (201, "RESTORING", "was still RESTORING after 0s"),  # the wait ran out
    ],
)
def test_a_restore_that_may_have_begun_says_not_to_restore_again(
    monkeypatch: pytest.MonkeyPatch, answer: int, status: str, says: str
) -> None:
    monkeypatch.setattr(restore, "RESTORE_TIMEOUT", 0.0)
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            sent.append(request.url.path)
            return httpx.Response(answer, json={"message": "upstream failed"})
        return project(status)

    planned = Restore("production", REF, API, Target(unix=1796319600))
    with serve(handler) as client, pytest.raises(restore.RestoreUnfinished) as caught:
        restore.run(planned, client, say=lambda _line: None)
    assert sent == [f"/v1/projects/{REF}/database/backups/restore-pitr"], "asked once, never repeated"
    message = str(caught.value)
    assert says in message
    assert "was asked for and may still be running: do not run restore again" in message
    assert TOKEN not in message


def test_a_refused_restore_is_only_a_refusal() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": "PITR is not enabled"})

    planned = Restore("production", REF, API, Target(unix=1796319600))
    with serve(handler) as client, pytest.raises(ApiError) as caught:
        restore.run(planned, client, say=lambda _line: None)
    assert not isinstance(caught.value, restore.RestoreUnfinished)
    assert "400 PITR is not enabled" in str(caught.value)


def test_a_restore_that_failed_is_reported_as_failed_not_as_running() -> None:
    """RESTORE_FAILED is not left by itself: "may still be running, wait" would be wrong."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={}) if request.method == "POST" else project("RESTORE_FAILED")

    planned = Restore("production", REF, API, Target(unix=1796319600))
    with serve(handler) as client, pytest.raises(ResourceError) as caught:
        restore.run(planned, client, say=lambda _line: None)
    assert not isinstance(caught.value, restore.RestoreUnfinished)
    assert "ended in status RESTORE_FAILED" in str(caught.value)
