"""The backups client reads the real API's recorded answers, sends spec-valid bodies, and
waits for a restore the way a restore is seen: healthy only after it was not."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema
import pytest

from envstack.clients.supabase_backups import SupabaseBackupsClient
from envstack.errors import ApiError, ResourceError
from tests.emulators.common.openapi import recorded_dir, specs_dir

REF = "abcdefghijklmnopqrst"
PROJECT = f"/v1/projects/{REF}"


def recorded(folder: str, name: str = "default") -> Any:
    document = json.loads((recorded_dir() / folder / f"{name}.response.json").read_text())
    return json.loads(json.dumps(document["body"]).replace("__PROJECT_REF__", REF))


def serve(handler: Callable[[httpx.Request], httpx.Response]) -> SupabaseBackupsClient:
    transport = httpx.MockTransport(handler)
    return SupabaseBackupsClient(base_url="http://127.0.0.1:9", token="sbp_test", transport=transport)


def schema(name: str) -> dict[str, Any]:
    spec = json.loads((specs_dir() / "supabase-management-api.json").read_text())
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


def test_recorded_answers_parse() -> None:
    answers = {
        f"{PROJECT}/billing/addons": recorded("GET_v1_projects___PROJECT_REF___billing_addons"),
        f"{PROJECT}/database/backups": recorded("GET_v1_projects___PROJECT_REF___database_backups"),
    }
    client = serve(lambda request: httpx.Response(200, json=answers[request.url.path]))
    assert client.pitr_variant(REF) is None, "the recording has compute only"
    backups = client.backups(REF)
    assert (backups.pitr_enabled, backups.walg_enabled, backups.newest_backup, backups.pitr_window) == (
        False,
        True,
        None,
        None,
    )


def test_pitr_on_and_a_restore_send_what_the_spec_asks() -> None:
    sent: list[httpx.Request] = []
    selected: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"selected_addons": selected, "available_addons": []})
        if request.method == "PATCH":
            selected.append({"type": "pitr", "variant": {"id": "pitr_7", "name": "7 days", "price": {}}})
        return httpx.Response(201 if request.method == "POST" else 200)

    client = serve(handler)
    client.set_pitr(REF, "pitr_7")
    client.set_pitr(REF, "pitr_7")  # already so: nothing sent but the read
    client.restore_to_time(REF, 1_740_787_200)
    client.set_pitr(REF, None)
    writes = [(r.method, r.url.path, json.loads(r.content) if r.content else None) for r in sent if r.method != "GET"]
    assert writes == [
        ("PATCH", f"{PROJECT}/billing/addons", {"addon_type": "pitr", "addon_variant": "pitr_7"}),
        ("POST", f"{PROJECT}/database/backups/restore-pitr", {"recovery_time_target_unix": 1_740_787_200}),
        ("DELETE", f"{PROJECT}/billing/addons/pitr_7", None),
    ]
    jsonschema.validate(writes[0][2], schema("ApplyProjectAddonBody"))
    jsonschema.validate(writes[1][2], schema("V1RestorePitrBody"))
    with pytest.raises(ValueError, match="unknown PITR variant"):
        client.set_pitr(REF, "pitr_3")


def test_a_refused_pitr_says_what_it_needs() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"selected_addons": [], "available_addons": []})
        return httpx.Response(400, json={"message": "Organization is not entitled to the selected PITR duration"})

    with pytest.raises(ApiError, match=r"not entitled.*Pro, Team or Enterprise.*Small compute"):
        serve(handler).set_pitr(REF, "pitr_7")


def _statuses(*statuses: str) -> SupabaseBackupsClient:
    queue = list(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        status = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(200, json={"ref": REF, "name": "p", "status": status})

    return serve(handler)


def test_a_restore_is_over_once_the_project_was_seen_restoring_and_healthy_again() -> None:
    polls: list[float] = []
    client = _statuses("ACTIVE_HEALTHY", "RESTORING", "RESTORING", "ACTIVE_HEALTHY")
    client.wait_until_healthy(REF, restoring=True, sleep=polls.append)
    assert len(polls) == 3, "the healthy answer before the restore began did not end the wait"
    with pytest.raises(ResourceError, match="ended in status RESTORE_FAILED"):
        _statuses("RESTORING", "RESTORE_FAILED").wait_until_healthy(REF, restoring=True, sleep=lambda _: None)


def test_restore_points_refused_name_the_way_that_works() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": "This endpoint is unavailable at the moment"})

    with pytest.raises(ApiError, match="restore_to_time") as refused:
        serve(handler).create_restore_point(REF, "before-migration")
    assert refused.value.status == 400
    with pytest.raises(ValueError, match="1 to 20 characters"):
        serve(handler).create_restore_point(REF, "a-name-longer-than-twenty")


@pytest.mark.parametrize(
    ("completed_on", "taken"),
    [
        ("2020-01-01T00:00:00Z", False),  # an older point of the same name: an earlier moment
        (None, True),  # PENDING: the one this call made
    ],
)
def test_a_restore_point_found_after_a_lost_answer_is_taken_only_if_it_is_new(
    completed_on: str | None, taken: bool
) -> None:
    statuses = iter(["PENDING" if completed_on is None else "AVAILABLE", "AVAILABLE"])
    posts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request.url.path)
            return httpx.Response(502, json={"message": "bad gateway"})
        status = next(statuses)
        done = completed_on or ("2099-01-01T00:00:00Z" if status == "AVAILABLE" else None)
        return httpx.Response(200, json={"name": "pre-20250201000000", "status": status, "completed_on": done})

    client = serve(handler)
    if taken:
        assert client.create_restore_point(REF, "pre-20250201000000", sleep=lambda _: None).status == "AVAILABLE"
    else:
        with pytest.raises(ResourceError, match="already existed, completed 2020-01-01T00:00:00Z, before this run"):
            client.create_restore_point(REF, "pre-20250201000000", sleep=lambda _: None)
    assert len(posts) == 1, "never asked twice"
