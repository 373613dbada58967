"""The Vercel client: team scope, pagination, the shapes of create answers, conflicts, retries.

Every 2xx body served here is checked against the official spec first, and every body the
client sends is checked against the spec's request schema.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from envstack.clients.http import RetryPolicy
from envstack.clients.vercel import NewEnv, VercelClient
from envstack.errors import ApiError, EnvConflict, NotFound, ProjectNameTaken, ResourceError
from tests.emulators.common.openapi import OpenApiSpec, load_spec, specs_dir

PROJECT = "prj_" + "a1b2c3d4e5" * 2
NOW = 1_800_000_000.0


def spec() -> OpenApiSpec:
    return load_spec(specs_dir() / "vercel-api.json")


def reply(request: httpx.Request, status: int, body: Any = None) -> httpx.Response:
    """An answer, after checking that the real API could give it (2xx bodies against the spec)."""
    if 200 <= status < 300 and body is not None:
        assert spec().validate_response(request.method, request.url.path, status, body) == []
    return httpx.Response(status, json=body) if body is not None else httpx.Response(status)


def sent(request: httpx.Request) -> Any:
    """The request body, after checking it against the spec's request schema."""
    body = json.loads(request.content)
    matched = spec().match(request.method, request.url.path)
    assert matched is not None
    assert spec().validate_request(matched[0], body) == []
    return body


def env(key: str, *, type_: str = "sensitive", created_at: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": secrets.token_hex(8),
        "key": key,
        "value": "",
        "type": type_,
        "target": ["preview"],
        "createdAt": created_at,
        "updatedAt": created_at,
        "configurationId": None,
        **extra,
    }


def client(
    handler: Callable[[httpx.Request], httpx.Response],
    *,
    team: str | None = "team_abc123",
    waits: list[float] | None = None,
) -> VercelClient:
    return VercelClient(
        base_url="http://127.0.0.1:9",
        token="vcp_" + secrets.token_hex(12),
        team=team,
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(attempts=4, base_delay=0.01, max_delay=30, max_wait=60),
        sleep=(waits if waits is not None else []).append,
        clock=lambda: NOW,
    )


def error(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


@pytest.mark.parametrize(("team", "param"), [("team_abc123", "teamId"), ("hermes-security", "slug")])
def test_every_request_carries_the_team_scope(team: str, param: str) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/env") and request.method == "GET":
            return reply(request, 200, {"envs": [], "pagination": {"count": 0, "next": None, "prev": None}})
        if path.endswith("/env") and request.method == "POST":
            sent(request)
            return reply(request, 201, {"created": [env("A")], "failed": []})
        if path.endswith("/env") and request.method == "DELETE":
            return reply(request, 200, {"deleted": 1, "ids": sent(request)["ids"]})
        if request.method == "PATCH":
            sent(request)
            return reply(request, 200, env("A"))
        if path == "/v6/deployments":
            return reply(request, 200, {"deployments": [], "pagination": {"count": 0, "next": None, "prev": None}})
        return reply(request, 404, error("not_found", "Project not found"))

    api = client(handler, team=team)
    api.list_env(PROJECT)
    api.create_env(PROJECT, [NewEnv("A", secrets.token_urlsafe(9), "sensitive", target=["preview"])], upsert=True)
    api.edit_env(PROJECT, "e1", value=secrets.token_urlsafe(9))
    api.delete_envs(PROJECT, ["e1"])
    api.list_deployments(PROJECT, target="production")
    with pytest.raises(NotFound):
        api.get_project("hermes")
    assert len(seen) == 6
    assert all(r.url.params.get(param) == team for r in seen)
    other = "slug" if param == "teamId" else "teamId"
    assert not any(other in r.url.params for r in seen)


def test_a_personal_account_sends_no_scope() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return reply(request, 200, {"envs": [], "pagination": {"count": 0, "next": None, "prev": None}})

    client(handler, team=None).list_env(PROJECT)
    assert dict(seen[0].url.params) == {}


def test_list_env_follows_pagination_until_next_is_null() -> None:
    pages = {
        None: ([env("A", created_at=30), env("B", created_at=20)], 20),
        "20": ([env("C", created_at=10)], 10),
        "10": ([env("D", created_at=5, type_="encrypted", gitBranch="pr-1")], None),
    }
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        envs, following = pages[request.url.params.get("until")]
        pagination = {"count": len(envs), "next": following, "prev": None}
        return reply(request, 200, {"envs": envs, "pagination": pagination})

    found = client(handler).list_env(PROJECT)
    assert [e.key for e in found] == ["A", "B", "C", "D"]
    assert found[3].git_branch == "pr-1"
    assert found[3].target == ["preview"]
    assert [r.url.params.get("until") for r in seen] == [None, "20", "10"]


def test_list_env_takes_a_page_again_once_and_refuses_a_cursor_that_does_not_move() -> None:
    """Variables written in one call share a moment: a cursor that includes it repeats a page's
    last ones (kept once), and one that never moves on is an error, not a partial list."""
    a, b, c = env("A", created_at=20), env("B", created_at=20), env("C", created_at=10)
    inclusive = {None: ([a, b], 20), "20": ([b, c], 10), "10": ([c], None)}

    def answer(pages: dict[Any, Any]) -> Any:
        def handler(request: httpx.Request) -> httpx.Response:
            envs, following = pages[request.url.params.get("until")]
            return reply(request, 200, {"envs": envs, "pagination": {"count": len(envs), "next": following}})

        return handler

    assert [e.key for e in client(answer(inclusive)).list_env(PROJECT)] == ["A", "B", "C"]
    for stuck in ({None: ([a], 20), "20": ([b], 20)}, {None: ([a, b], 20), "20": ([a, b], 20)}):
        with pytest.raises(ResourceError, match="did not move past 20"):
            client(answer(stuck)).list_env(PROJECT)


@pytest.mark.parametrize("as_list", [True, False])
def test_create_env_sends_an_array_and_reads_created_as_object_or_list(as_list: bool) -> None:
    value = secrets.token_urlsafe(16)
    seen: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = sent(request)
        seen.append((dict(request.url.params), body))
        record = env("DATABASE_URL", target="preview", gitBranch="pr-3", comment="envstack")
        return reply(request, 201, {"created": [record] if as_list else record, "failed": []})

    item = NewEnv("DATABASE_URL", value, "sensitive", target=["preview"], git_branch="pr-3", comment="envstack")
    result = client(handler).create_env(PROJECT, [item], upsert=True)
    assert [(e.key, e.git_branch) for e in result.created] == [("DATABASE_URL", "pr-3")]
    assert result.failed == []
    params, body = seen[0]
    assert params["upsert"] == "true"
    assert body == [
        {
            "key": "DATABASE_URL",
            "value": value,
            "type": "sensitive",
            "target": ["preview"],
            "gitBranch": "pr-3",
            "comment": "envstack",
        }
    ]


def test_create_env_reports_failed_items_by_key_without_their_values() -> None:
    value = secrets.token_urlsafe(16)

    def handler(request: httpx.Request) -> httpx.Response:
        sent(request)
        failed = [{"error": {"code": "VALUE_INVALID_TYPE", "message": f"invalid value {value}", "key": "B"}}]
        return reply(request, 201, {"created": env("A"), "failed": failed})

    items = [NewEnv(k, value, "encrypted", custom_environment_ids=["env_abc"]) for k in ("A", "B")]
    result = client(handler).create_env(PROJECT, items, upsert=False)
    assert [e.key for e in result.created] == ["A"]
    assert [(f.name, f.code) for f in result.failed] == [("B", "VALUE_INVALID_TYPE")]
    assert value not in result.failed[0].message


@pytest.mark.parametrize(
    ("status", "body", "keys"),
    [
        (
            400,
            error(
                "ENV_CONFLICT", "A variable with the name `API_KEY` already exists", key="API_KEY", target=["preview"]
            ),
            ["API_KEY"],
        ),
        (403, error("forbidden", "The environment variable cannot be created because it already exists"), []),
        (
            409,
            error("env_already_exists", "Environment variable API_KEY already exists", envVarKey="API_KEY"),
            ["API_KEY"],
        ),
        (
            400,
            error(
                "ENV_ALREADY_EXISTS",
                "Another Environment Variable with the same Name and Environment exists in your project.",
            ),
            [],
        ),
        (
            400,
            error("bad_request", "A variable with the name `OTHER` already exists for the target production"),
            ["OTHER"],
        ),
    ],
)
def test_every_conflict_form_becomes_env_conflict(status: int, body: dict[str, Any], keys: list[str]) -> None:
    value = secrets.token_urlsafe(16)

    def handler(request: httpx.Request) -> httpx.Response:
        return reply(request, status, body)

    with pytest.raises(EnvConflict) as caught:
        client(handler).create_env(PROJECT, [NewEnv("API_KEY", value, "sensitive", target=["preview"])], upsert=False)
    assert caught.value.keys == keys
    assert caught.value.status == status
    assert value not in str(caught.value)


def test_a_project_in_transfer_is_not_a_conflict() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply(request, 409, error("conflict", "The project is being transferred"))

    with pytest.raises(ApiError) as caught:
        client(handler).create_env(PROJECT, [NewEnv("A", "some-value", "encrypted", target=["preview"])], upsert=True)
    assert not isinstance(caught.value, EnvConflict)


def test_all_items_refused_reads_like_a_batch_with_failures() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        failed = [{"error": {"code": "KEY_RESERVED", "message": "The name is reserved", "key": "TZ"}}]
        return httpx.Response(
            400, json={**error("BAD_REQUEST", "No environment variables were created"), "failed": failed}
        )

    result = client(handler).create_env(
        PROJECT, [NewEnv("TZ", "utc-value", "encrypted", target=["preview"])], upsert=True
    )
    assert result.created == []
    assert [(f.name, f.code) for f in result.failed] == [("TZ", "KEY_RESERVED")]


def test_ongoing_env_update_is_retried_then_succeeds() -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) < 3:
            return reply(
                request,
                400,
                error(
                    "bad_request",
                    "The environment variable coudn't be created because an ongoing update env update is already "
                    "happening",
                ),
            )
        return reply(request, 201, {"created": [env("A")], "failed": []})

    waits: list[float] = []
    # Not an upsert: the rejection means nothing was written, so even a plain create is repeated.
    result = client(handler, waits=waits).create_env(
        PROJECT, [NewEnv("A", "value-a", "sensitive", target=["preview"])], upsert=False
    )
    assert [e.key for e in result.created] == ["A"]
    assert len(attempts) == 3
    assert len(waits) == 2


def test_other_400s_are_not_retried() -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return reply(request, 400, error("bad_request", "project document is too large"))

    with pytest.raises(ApiError, match="too large"):
        client(handler).create_env(PROJECT, [NewEnv("A", "value-a", "sensitive", target=["preview"])], upsert=True)
    assert len(attempts) == 1


def test_429_waits_until_the_limit_resets() -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) == 1:
            limit = {"total": 60, "remaining": 0, "reset": int(NOW) + 9, "resetMs": int(NOW) * 1000 + 9000}
            return httpx.Response(429, json=error("rate_limited", "Too many requests", limit=limit))
        return reply(request, 200, {"deleted": 1, "ids": ["e1"]})

    waits: list[float] = []
    assert client(handler, waits=waits).delete_envs(PROJECT, ["e1"]) == ["e1"]
    assert waits == [9.0]


def test_batch_delete_tolerates_404_and_splits_large_batches() -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = sent(request)
        bodies.append(body)
        if len(bodies) == 1:
            return reply(request, 404, error("not_found", "Project not found"))
        return reply(request, 200, {"deleted": len(body["ids"]), "ids": body["ids"]})

    ids = [f"e{i}" for i in range(1500)]
    deleted = client(handler).delete_envs(PROJECT, ids)
    assert [len(b["ids"]) for b in bodies] == [1000, 500]
    assert deleted == ids[1000:]


def test_edit_env_sends_only_the_fields_given() -> None:
    value = secrets.token_urlsafe(12)
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(sent(request))
        return reply(request, 200, env("A"))

    api = client(handler)
    api.edit_env(PROJECT, "e1", value=value, type="sensitive")
    api.edit_env(PROJECT, "e1", target=["preview"], git_branch=None, custom_environment_ids=[])
    assert bodies == [
        {"value": value, "type": "sensitive"},
        {"target": ["preview"], "gitBranch": None, "customEnvironmentIds": []},
    ]
    with pytest.raises(TypeError, match="decrypted"):
        api.edit_env(PROJECT, "e1", decrypted=True)


def test_decrypted_values_are_registered_as_secrets() -> None:
    value = secrets.token_urlsafe(16)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return reply(request, 200, {**env("A", type_="encrypted"), "value": value, "decrypted": True})
        return reply(request, 404, error("not_found", f"no such variable with value {value}"))

    api = client(handler)
    assert api.get_env_decrypted(PROJECT, "e1").value == value
    with pytest.raises(NotFound) as caught:
        api.edit_env(PROJECT, "e1", comment="x")
    assert value not in str(caught.value) + repr(caught.value.body)
    assert "***" in str(caught.value)


def test_projects_are_read_and_created_and_a_taken_name_is_distinct() -> None:
    project = {
        "accountId": "team_abc123",
        "directoryListing": False,
        "id": PROJECT,
        "name": "hermes",
        "nodeVersion": "22.x",
        "resourceConfig": {"functionDefaultRegions": ["iad1"]},
        "defaultResourceConfig": {"functionDefaultRegions": ["iad1"]},
    }
    calls: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            calls.append(sent(request))
            if len(calls) > 1:
                return reply(request, 409, error("conflict", "A project with the provided name already exists."))
            return reply(request, 200, project)
        return reply(request, 200, project)

    api = client(handler)
    assert api.get_project("hermes").id == PROJECT
    assert api.create_project("hermes", framework="vite").name == "hermes"
    assert calls[0] == {"name": "hermes", "framework": "vite"}
    with pytest.raises(ProjectNameTaken):
        api.create_project("hermes")


def deployment(uid: str, state: str, *, target: str | None = None) -> dict[str, Any]:
    return {
        "uid": uid,
        "name": "hermes",
        "projectId": PROJECT,
        "url": f"hermes-{uid[4:10]}.vercel.app",
        "created": 1_700_000_000_000,
        "type": "LAMBDAS",
        "creator": {"uid": "usr_1"},
        "inspectorUrl": f"https://vercel.com/t/hermes/{uid}",
        "state": state,
        "readyState": state,
        "target": target,
    }


def built(deployment_id: str, state: str) -> dict[str, Any]:
    """A deployment as POST and GET /v13/deployments answer it."""
    return {
        "id": deployment_id,
        "name": "hermes",
        "projectId": PROJECT,
        "url": "hermes-new.vercel.app",
        "readyState": state,
        "status": state,
        "createdAt": 1_700_000_000_000,
        "type": "LAMBDAS",
        "creator": {"uid": "usr_1"},
        "inspectorUrl": None,
        "meta": {"action": "redeploy"},
        "build": {"env": []},
        "env": [],
        "isInConcurrentBuildsQueue": False,
        "isInSystemBuildsQueue": False,
        "projectSettings": {},
        "aliasAssigned": False,
        "bootedAt": 1_700_000_000_000,
        "buildingAt": 1_700_000_000_000,
        "buildSkipped": False,
        "public": False,
        "regions": ["iad1"],
        "version": 2,
        "plan": "pro",
        "createdIn": "sfo1",
        "ownerId": "team_abc123",
        "routes": None,
    }


@pytest.mark.parametrize(("target", "custom"), [("production", None), ("preview", None), (None, "env_abc")])
def test_redeploy_omits_target_for_preview(target: str | None, custom: str | None) -> None:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert dict(request.url.params) == {
                "projectId": PROJECT,
                "limit": "5",
                "state": "READY",
                "teamId": "team_abc123",
            }
            page = {
                "deployments": [deployment("dpl_old1", "READY")],
                "pagination": {"count": 1, "next": None, "prev": None},
            }
            return reply(request, 200, page)
        assert request.url.params["forceNew"] == "1"
        bodies.append(sent(request))
        return reply(request, 200, built("dpl_new1", "QUEUED"))

    api = client(handler)
    latest = api.list_deployments(PROJECT, state="READY", limit=5)
    made = api.redeploy("hermes", latest[0].id, target=target, custom_environment=custom)
    assert (made.id, made.ready_state) == ("dpl_new1", "QUEUED")
    expected: dict[str, Any] = {"name": "hermes", "deploymentId": "dpl_old1", "meta": {"action": "redeploy"}}
    if target == "production":
        expected["target"] = "production"
    if custom:
        expected["customEnvironmentSlugOrId"] = custom
    assert bodies == [expected]


def test_values_sent_never_come_back_in_error_text() -> None:
    value = secrets.token_urlsafe(16)

    def handler(request: httpx.Request) -> httpx.Response:
        return reply(request, 400, error("VALUE_INVALID_TYPE", f"value {value} is not valid here"))

    api = client(handler)
    texts = []
    with pytest.raises(ApiError) as created:
        api.create_env(PROJECT, [NewEnv("A", value, "sensitive", target=["preview"])], upsert=True)
    texts.append(str(created.value) + repr(created.value.body))
    with pytest.raises(ApiError) as edited:
        client(handler).edit_env(PROJECT, "e1", value=value)
    texts.append(str(edited.value) + repr(edited.value.body))
    for text in texts:
        assert value not in text
        assert "value *** is not valid" in text


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_creates_are_never_repeated_after_an_answer_that_may_come_after_they_acted(status: int) -> None:
    attempts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request.url.path)
        return httpx.Response(status, json=error("internal_server_error", "Bad Gateway"))

    api = client(handler)
    item = NewEnv("A", "value-a", "sensitive", target=["preview"])
    for create in (
        lambda: api.create_env(PROJECT, [item], upsert=True),
        lambda: api.create_project("hermes"),
        lambda: api.redeploy("hermes", "dpl_old1", marker="m1"),
    ):
        with pytest.raises(ApiError) as caught:
            create()
        assert caught.value.status == status
    assert attempts == [f"/v10/projects/{PROJECT}/env", "/v11/projects", "/v13/deployments"], "each sent once"


def test_a_redeploy_carries_its_marker_and_is_found_by_it() -> None:
    bodies: list[Any] = []
    lists: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            bodies.append(sent(request))
            return reply(request, 200, built("dpl_new1", "QUEUED"))
        lists.append(dict(request.url.params))
        others = deployment("dpl_other", "READY")
        ours = {**deployment("dpl_new1", "BUILDING"), "meta": {"action": "redeploy", "envstackRedeploy": "m1"}}
        page = {"deployments": [others, ours], "pagination": {"count": 2, "next": None, "prev": None}}
        return reply(request, 200, page)

    api = client(handler)
    api.redeploy("hermes", "dpl_old1", target="production", marker="m1")
    assert bodies[0]["meta"] == {"action": "redeploy", "envstackRedeploy": "m1"}
    found = api.find_redeploy(PROJECT, "m1", since=1_700_000_000_000)
    assert found is not None
    assert (found.id, found.ready_state) == ("dpl_new1", "BUILDING")
    assert api.find_redeploy(PROJECT, "m2", since=1_700_000_000_000) is None
    assert lists[0] == {
        "projectId": PROJECT,
        "since": "1700000000000",
        "limit": "100",
        "teamId": "team_abc123",
    }


def test_a_redeploy_is_found_on_a_later_page_of_a_busy_project() -> None:
    """More deployments than one page holds since the redeploy was asked for: the search reads
    on (``pagination.next`` as ``until``, which includes its own moment) instead of taking the
    first page for all of them and asking for the redeploy again."""
    newest = 1_700_000_500_000
    made = [
        {**deployment(f"dpl_{n:05d}", "READY"), "created": newest - n, "meta": {"action": "redeploy"}}
        for n in range(150)
    ]
    made[120]["meta"] = {"action": "redeploy", "envstackRedeploy": "m1"}
    lists: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        lists.append(params)
        until = int(params.get("until", newest))
        listed = [d for d in made if d["created"] <= until][: int(params["limit"])]
        following = listed[-1]["created"] if listed and listed[-1] is not made[-1] else None
        pagination = {"count": len(listed), "next": following, "prev": listed[0]["created"] if listed else None}
        return reply(request, 200, {"deployments": listed, "pagination": pagination})

    found = client(handler).find_redeploy(PROJECT, "m1", since=1_700_000_000_000)

    assert found is not None
    assert found.id == "dpl_00120"
    assert [p.get("until") for p in lists] == [None, str(newest - 99)]
    assert client(handler).find_redeploy(PROJECT, "m2", since=1_700_000_000_000) is None
    assert len(lists) == 4, "the search for a marker nobody carries ends with the last page"
