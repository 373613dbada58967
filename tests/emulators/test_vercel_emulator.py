"""The local Vercel API answers as the real one does (research/vercel.md §1, §2), where
emulate alone would not. Every test also passes only if each answer fit the official spec
(the vercel_api fixture fails it otherwise)."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.emulators.common.faults import FaultRule
from tests.emulators.vercel.fixtures import GitHubApi, VercelApi
from tests.emulators.vercel.knobs import RateRule


def _value() -> str:
    return f"v-{secrets.token_urlsafe(12)}"


def _env(key: str, value: str, target: list[str], type: str = "encrypted", **extra: Any) -> dict[str, Any]:
    return {"key": key, "value": value, "type": type, "target": target, **extra}


def _poll(check: Callable[[], bool], deadline: float = 5.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        assert time.monotonic() < end, "condition not met before the deadline"
        time.sleep(0.01)


@pytest.fixture
def project(vercel_api: VercelApi) -> str:
    return str(vercel_api.create_project()["id"])


@pytest.fixture
def repo(github_api: GitHubApi) -> str:
    """A repository of the local GitHub with branches pr-7 and feature/x besides main."""
    repo = github_api.create_repo()
    for branch in ("pr-7", "feature/x"):
        github_api.create_branch(repo, branch)
    return repo


@pytest.fixture
def linked(vercel_api: VercelApi, repo: str) -> str:
    """A project connected to ``repo`` (production branch main)."""
    return str(vercel_api.create_project(git_repo=repo)["id"])


@pytest.fixture
def http(vercel_api: VercelApi) -> Iterator[httpx.Client]:
    # These tests send off-spec requests on purpose, to see them refused as the real API does.
    vercel_api.sends_off_spec_requests = True
    with vercel_api.http() as client:
        yield client


def test_an_off_spec_request_is_refused_counted_and_never_prints_a_value(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    value = _value()
    answer = http.post(f"/v10/projects/{project}/env", json={"key": "A", "value": value, "target": ["production"]})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "bad_request"
    found = vercel_api.app.violations()[-1]
    assert found.startswith(f"POST /v10/projects/{project}/env: request to createProjectEnv: "), found
    assert "'type' is a required property" in found
    http.post(f"/v10/projects/{project}/env", json={"key": "A", "value": value, "type": 7, "target": ["production"]})
    assert value not in "".join(vercel_api.app.violations()), "a value never reaches a report"


def test_create_answers_201_created_and_failed_and_never_echoes_a_secret(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    value = _value()
    answer = http.post(f"/v10/projects/{project}/env", json=_env("DATABASE_URL", value, ["production"]))
    assert answer.status_code == 201  # emulate: 200 {"envs": [...]} with the value in clear
    body = answer.json()
    assert body["failed"] == []
    assert body["created"]["key"] == "DATABASE_URL"
    assert body["created"]["decrypted"] is False
    assert value not in answer.text
    assert vercel_api.env_value(project, "DATABASE_URL", "production") == value
    assert [(c.method, c.operation_id, c.status) for c in vercel_api.calls()] == [("POST", "createProjectEnv", 201)]


@pytest.mark.parametrize(
    ("style", "status", "code"),
    [
        ("env_conflict", 400, "ENV_CONFLICT"),
        ("forbidden", 403, "forbidden"),
        ("conflict", 409, "ENV_CONFLICT"),
        ("legacy", 403, "ENV_ALREADY_EXISTS"),
    ],
)
def test_conflict_answers_in_the_configured_style(
    vercel_api: VercelApi, http: httpx.Client, project: str, style: str, status: int, code: str
) -> None:
    existing = vercel_api.add_env_by_hand(project, "API_KEY", _value(), ["production", "preview"])
    if style != "env_conflict":
        vercel_api.configure(conflict_style=style)
    answer = http.post(f"/v10/projects/{project}/env", json=_env("API_KEY", _value(), ["preview"]))
    assert answer.status_code == status  # emulate: always 409 env_already_exists
    error = answer.json()["error"]
    assert error["code"] == code
    assert (error["envVarKey"], error["envVarId"], error["target"]) == ("API_KEY", existing.id, ["preview"])
    assert len(vercel_api.env_vars(project)) == 1


def test_array_with_a_conflict_creates_the_others_and_lists_the_failure(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    vercel_api.add_env_by_hand(project, "TAKEN", _value(), ["production"])
    answer = http.post(
        f"/v10/projects/{project}/env",
        json=[_env("TAKEN", _value(), ["production"]), _env("FRESH", _value(), ["production"])],
    )
    assert answer.status_code == 201  # emulate: the whole request fails after writing earlier items
    body = answer.json()
    assert [env["key"] for env in body["created"]] == ["FRESH"]
    assert [(f["error"]["code"], f["error"]["envVarKey"]) for f in body["failed"]] == [("ENV_CONFLICT", "TAKEN")]
    assert sorted(env.key for env in vercel_api.env_vars(project)) == ["FRESH", "TAKEN"]


def test_array_where_every_item_fails_is_400_no_variables_created(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    vercel_api.add_env_by_hand(project, "ONE", _value(), ["production"])
    answer = http.post(
        f"/v10/projects/{project}/env",
        json=[_env("ONE", _value(), ["production"]), _env("TZ", "UTC", ["production"])],
    )
    assert answer.status_code == 400
    body = answer.json()
    assert body["error"]["message"] == "No environment variables were created"
    assert [f["error"]["code"] for f in body["failed"]] == ["ENV_CONFLICT", "RESERVED_ENV_VARIABLE"]
    assert [env.key for env in vercel_api.env_vars(project)] == ["ONE"]


def test_upsert_updates_the_matching_variable_in_place(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    before = vercel_api.add_env_by_hand(project, "ROTATED", _value(), ["production"])
    value = _value()
    answer = http.post(
        f"/v10/projects/{project}/env", params={"upsert": "true"}, json=_env("ROTATED", value, ["production"])
    )
    assert answer.status_code == 201
    assert answer.json()["created"]["id"] == before.id
    assert [(env.id, env.value) for env in vercel_api.env_vars(project)] == [(before.id, value)]


def test_branch_scoped_preview_variable_coexists_with_the_branchless_one(
    vercel_api: VercelApi, http: httpx.Client, linked: str
) -> None:
    project = linked
    vercel_api.add_env_by_hand(project, "POSTGRES_URL", _value(), ["preview"])
    branch_value = _value()
    answer = http.post(
        f"/v10/projects/{project}/env", json=_env("POSTGRES_URL", branch_value, ["preview"], gitBranch="pr-7")
    )
    assert answer.status_code == 201  # emulate: 409, it ignores gitBranch when checking uniqueness
    assert answer.json()["created"]["gitBranch"] == "pr-7"
    assert vercel_api.env_value(project, "POSTGRES_URL", "preview", "pr-7") == branch_value
    again = http.post(
        f"/v10/projects/{project}/env", json=_env("POSTGRES_URL", _value(), ["preview"], gitBranch="pr-7")
    )
    assert again.status_code == 400
    assert again.json()["error"]["gitBranch"] == "pr-7"
    listed = http.get(f"/v10/projects/{project}/env", params={"gitBranch": "pr-7"}).json()["envs"]
    assert [(e["key"], e["gitBranch"]) for e in listed] == [("POSTGRES_URL", "pr-7")]


def test_a_project_connected_to_git_shows_its_link(vercel_api: VercelApi, http: httpx.Client, repo: str) -> None:
    owner, name = repo.split("/")
    created = http.post(
        "/v11/projects", json={"name": f"web-{secrets.token_hex(3)}", "gitRepository": {"type": "github", "repo": repo}}
    )
    assert created.status_code == 200
    link = created.json()["link"]  # emulate: repo "owner/name", org "" and repoId 0
    assert (link["type"], link["org"], link["repo"], link["productionBranch"]) == ("github", owner, name, "main")
    assert link["repoId"] == vercel_api.app.git.request("GET", f"/repos/{repo}").body["id"]
    assert http.get(f"/v9/projects/{created.json()['id']}").json()["link"] == link
    unlinked = http.post("/v11/projects", json={"name": f"web-{secrets.token_hex(3)}"}).json()
    assert "link" not in unlinked
    missing = http.post(
        "/v11/projects",
        json={"name": f"web-{secrets.token_hex(3)}", "gitRepository": {"type": "github", "repo": f"{owner}/absent"}},
    )
    assert (missing.status_code, missing.json()["error"]["code"]) == (400, "repo_not_found")
    assert [p["name"] for p in http.get("/v10/projects").json()["projects"]].count(created.json()["name"]) == 1
    assert len(http.get("/v10/projects").json()["projects"]) == 2, "the refused one was not created"


def test_a_branch_scoped_variable_needs_a_project_connected_to_git(
    vercel_api: VercelApi, http: httpx.Client, project: str, repo: str
) -> None:
    answer = http.post(f"/v10/projects/{project}/env", json=_env("X", _value(), ["preview"], gitBranch="pr-7"))
    assert answer.status_code == 400  # emulate: 200, whatever the branch
    error = answer.json()["error"]
    assert (error["code"], error["gitBranch"]) == ("bad_request", "pr-7")
    assert "not connected to a Git repository" in error["message"]
    assert vercel_api.env_vars(project) == []
    with pytest.raises(AssertionError, match="not connected to a Git repository"):
        vercel_api.add_env_by_hand(project, "X", _value(), ["preview"], git_branch="pr-7")


def test_a_branch_scoped_variable_needs_a_branch_of_the_connected_repository(
    vercel_api: VercelApi, github_api: GitHubApi, http: httpx.Client, linked: str, repo: str
) -> None:
    body = _env("X", _value(), ["preview"], gitBranch="feature/later")
    answer = http.post(f"/v10/projects/{linked}/env", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "code": "git_branch_not_found",
        "message": 'Branch "feature/later" not found in the connected Git repository.',
        "key": "X",
        "target": ["preview"],
        "gitBranch": "feature/later",
    }
    assert vercel_api.env_vars(linked) == []
    github_api.create_branch(repo, "feature/later")
    accepted = http.post(f"/v10/projects/{linked}/env", json=body)
    assert accepted.status_code == 201
    assert vercel_api.env_value(linked, "X", "preview", "feature/later") == body["value"]


def test_the_production_branch_cannot_scope_a_preview_variable(
    vercel_api: VercelApi, http: httpx.Client, linked: str, repo: str
) -> None:
    answer = http.post(f"/v10/projects/{linked}/env", json=_env("X", _value(), ["preview"], gitBranch="main"))
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "cannot_set_production_branch_as_preview"
    assert error["message"] == 'Cannot set Production Branch "main" for a Preview Environment Variable.'
    # Another project of the same repository whose production branch is pr-7: main is a preview branch there.
    other = str(vercel_api.create_project(git_repo=repo, production_branch="pr-7")["id"])
    assert (
        http.post(f"/v10/projects/{other}/env", json=_env("X", _value(), ["preview"], gitBranch="main")).status_code
        == 201
    )
    refused = http.post(f"/v10/projects/{other}/env", json=_env("X", _value(), ["preview"], gitBranch="pr-7"))
    assert (
        refused.json()["error"]["message"] == 'Cannot set Production Branch "pr-7" for a Preview Environment Variable.'
    )
    assert [env.git_branch for env in vercel_api.env_vars(linked)] == []


def test_an_array_reports_each_branch_refusal_and_creates_the_rest(
    vercel_api: VercelApi, http: httpx.Client, linked: str
) -> None:
    answer = http.post(
        f"/v10/projects/{linked}/env",
        json=[
            _env("A", _value(), ["preview"], gitBranch="pr-7"),
            _env("B", _value(), ["preview"], gitBranch="main"),
            _env("C", _value(), ["preview"], gitBranch="gone"),
            _env("D", _value(), ["preview"], gitBranch="feature/x"),
        ],
    )
    assert answer.status_code == 201
    body = answer.json()
    assert [(e["key"], e["gitBranch"]) for e in body["created"]] == [("A", "pr-7"), ("D", "feature/x")]
    assert [(f["error"]["code"], f["error"]["key"]) for f in body["failed"]] == [
        ("cannot_set_production_branch_as_preview", "B"),
        ("git_branch_not_found", "C"),
    ]
    assert sorted((env.key, env.git_branch) for env in vercel_api.env_vars(linked)) == [
        ("A", "pr-7"),
        ("D", "feature/x"),
    ]


def test_an_edit_is_held_to_the_branch_rules(
    vercel_api: VercelApi, http: httpx.Client, linked: str, project: str
) -> None:
    scoped = vercel_api.add_env_by_hand(linked, "X", _value(), ["preview"], git_branch="pr-7")
    to_main = http.patch(f"/v9/projects/{linked}/env/{scoped.id}", json={"gitBranch": "main"})
    assert (to_main.status_code, to_main.json()["error"]["code"]) == (400, "cannot_set_production_branch_as_preview")
    to_missing = http.patch(f"/v9/projects/{linked}/env/{scoped.id}", json={"gitBranch": "nope"})
    assert (to_missing.status_code, to_missing.json()["error"]["code"]) == (400, "git_branch_not_found")
    moved = http.patch(f"/v9/projects/{linked}/env/{scoped.id}", json={"gitBranch": "feature/x"})
    assert moved.status_code == 200
    assert moved.json()["gitBranch"] == "feature/x"
    rotated = http.patch(f"/v9/projects/{linked}/env/{scoped.id}", json={"value": _value()})
    assert rotated.status_code == 200
    assert [(env.id, env.git_branch) for env in vercel_api.env_vars(linked)] == [(scoped.id, "feature/x")]
    unlinked = vercel_api.add_env_by_hand(project, "Y", _value(), ["preview"])
    refused = http.patch(f"/v9/projects/{project}/env/{unlinked.id}", json={"gitBranch": "pr-7"})
    assert refused.status_code == 400
    assert "not connected to a Git repository" in refused.json()["error"]["message"]
    assert [env.git_branch for env in vercel_api.env_vars(project)] == [None]


def test_sensitive_values_are_never_returned_by_any_read(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    secret = _value()
    created = http.post(
        f"/v10/projects/{project}/env", json=_env("SERVICE_ROLE_KEY", secret, ["production", "preview"], "sensitive")
    )
    env_id = created.json()["created"]["id"]
    reads = [
        created,
        http.get(f"/v10/projects/{project}/env"),
        http.get(f"/v10/projects/{project}/env", params={"decrypt": "true"}),
        http.get(f"/v8/projects/{project}/env", params={"decrypt": "true"}),
        http.get(f"/v1/projects/{project}/env/{env_id}"),
        http.get(f"/v10/projects/{project}/env/{env_id}", params={"decrypt": "true"}),
        http.get(f"/v9/projects/{project}"),
        http.patch(f"/v9/projects/{project}/env/{env_id}", json={"comment": "rotated by hand"}),
    ]
    assert [r.status_code for r in reads] == [201, 200, 200, 200, 200, 200, 200, 200]
    for read in reads:
        assert secret not in read.text  # emulate: decrypt=true and the single get return it
    single = reads[4].json()
    assert single["decrypted"] is False
    assert "value" not in single
    assert [c.operation_id for c in vercel_api.decrypt_calls()] == [
        "filterProjectEnvs",
        "filterProjectEnvs",
        "getProjectEnv",
        "getProjectEnv",
    ]
    removed = http.delete(f"/v9/projects/{project}/env/{env_id}")
    assert removed.status_code == 200
    assert secret not in removed.text


def test_encrypted_values_are_readable_only_when_decrypted(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    value = _value()
    env_id = http.post(f"/v10/projects/{project}/env", json=_env("NEXT_PUBLIC_URL", value, ["preview"])).json()[
        "created"
    ]["id"]
    listed = http.get(f"/v10/projects/{project}/env").json()["envs"][0]
    assert (listed["decrypted"], listed["value"] == value) == (False, False)
    single = http.get(f"/v1/projects/{project}/env/{env_id}").json()
    assert (single["decrypted"], single["value"]) == (True, value)
    assert vercel_api.decrypt_calls() == []


def test_git_branch_is_only_allowed_with_target_preview(http: httpx.Client, project: str) -> None:
    answer = http.post(
        f"/v10/projects/{project}/env", json=_env("X", _value(), ["production", "preview"], gitBranch="main")
    )
    assert answer.status_code == 400
    assert "can only be used with `target=preview`" in answer.json()["error"]["message"]


def test_development_variables_cannot_be_sensitive(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    answer = http.post(f"/v10/projects/{project}/env", json=_env("X", _value(), ["development"], "sensitive"))
    assert answer.status_code == 400
    assert "Development" in answer.json()["error"]["message"]
    assert vercel_api.env_vars(project) == []


@pytest.mark.parametrize(
    ("key", "value", "code"),
    [
        ("AWS_LAMBDA_FUNCTION_NAME", "x", "RESERVED_ENV_VARIABLE"),
        ("1_STARTS_WITH_DIGIT", "x", "KEY_INVALID_CHARACTERS"),
        ("HAS-DASH", "x", "KEY_INVALID_CHARACTERS"),
        ("K" * 257, "x", "KEY_INVALID_LENGTH"),
        ("BIG", "x" * (64 * 1024 + 1), "VALUE_INVALID_LENGTH"),
    ],
)
def test_names_and_sizes_are_checked(http: httpx.Client, project: str, key: str, value: str, code: str) -> None:
    answer = http.post(f"/v10/projects/{project}/env", json=_env(key, value, ["production"]))
    assert (answer.status_code, answer.json()["error"]["code"]) == (400, code)


def test_a_body_missing_required_fields_is_400(http: httpx.Client, project: str) -> None:
    answer = http.post(f"/v10/projects/{project}/env", json={"key": "X", "value": "y", "target": ["production"]})
    assert answer.status_code == 400


def test_a_concurrent_env_write_to_the_same_project_answers_ongoing_update(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    other = str(vercel_api.create_project()["id"])
    # Long enough that a busy machine still sends the second write while the first holds.
    vercel_api.configure(env_write_seconds=3.0)
    first: dict[str, int] = {}

    def slow_write() -> None:
        with vercel_api.http() as client:
            first["status"] = client.post(
                f"/v10/projects/{project}/env", json=_env("A", _value(), ["production"])
            ).status_code

    writer = threading.Thread(target=slow_write)
    writer.start()
    _poll(lambda: vercel_api.app.writing(project))
    clash = http.post(f"/v10/projects/{project}/env", json=_env("B", _value(), ["production"]))
    elsewhere_started = time.monotonic()
    writer.join(timeout=10)
    assert clash.status_code == 400
    assert "ongoing env update is already happening" in clash.json()["error"]["message"]
    assert first["status"] == 201
    assert [env.key for env in vercel_api.env_vars(project)] == ["A"]
    vercel_api.configure(env_write_seconds=0)
    assert http.post(f"/v10/projects/{other}/env", json=_env("C", _value(), ["production"])).status_code == 201
    assert time.monotonic() - elsewhere_started < 5


def test_edit_keeps_the_id_and_refuses_a_conflicting_change(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    prod = vercel_api.add_env_by_hand(project, "TOKEN", _value(), ["production"])
    vercel_api.add_env_by_hand(project, "TOKEN", _value(), ["preview"])
    value = _value()
    edited = http.patch(f"/v9/projects/{project}/env/{prod.id}", json={"value": value})
    assert edited.status_code == 200
    assert edited.json()["id"] == prod.id
    assert vercel_api.env_value(project, "TOKEN", "production") == value
    clash = http.patch(f"/v9/projects/{project}/env/{prod.id}", json={"target": ["production", "preview"]})
    assert (clash.status_code, clash.json()["error"]["code"]) == (400, "ENV_CONFLICT")
    unknown = http.patch(f"/v9/projects/{project}/env/{prod.id}", json={"visibility": "secret"})
    assert unknown.status_code == 400


def test_batch_delete_removes_the_listed_variables(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    ids = [vercel_api.add_env_by_hand(project, f"K{i}", _value(), ["production"]).id for i in range(3)]
    answer = http.request("DELETE", f"/v1/projects/{project}/env", json={"ids": ids[:2]})
    assert answer.status_code == 200  # emulate has no batch delete at all
    assert answer.json() == {"deleted": 2, "ids": ids[:2]}
    assert [env.id for env in vercel_api.env_vars(project)] == [ids[2]]
    empty = http.request("DELETE", f"/v1/projects/{project}/env", json={"ids": []})
    assert empty.status_code == 400


def test_missing_things_answer_404(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    assert http.get("/v9/projects/no-such-project").status_code == 404
    assert http.get("/v10/projects/no-such-project/env").status_code == 404
    assert http.post("/v10/projects/no-such-project/env", json=_env("A", "b", ["production"])).status_code == 404
    for method in ("GET", "PATCH", "DELETE"):
        answer = http.request(method, f"/v9/projects/{project}/env/env_missing", json={"value": "x"})
        assert answer.status_code == 404, method
    assert http.get("/v13/deployments/dpl_missing").status_code == 404
    assert http.post("/v13/deployments", json={"name": "x", "deploymentId": "dpl_missing"}).status_code == 404


def test_list_pages_through_the_until_cursor(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    keys = [f"PAGED_{i}" for i in range(5)]
    for key in keys:
        vercel_api.add_env_by_hand(project, key, _value(), ["production"])
        _poll(lambda: True)
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2"}
    while True:
        page = http.get(f"/v10/projects/{project}/env", params=params).json()
        seen += [env["key"] for env in page["envs"]]
        if page["pagination"]["next"] is None:
            break
        params = {"limit": "2", "until": str(page["pagination"]["next"])}
    assert sorted(seen) == sorted(keys)


def test_rate_limited_calls_answer_429_with_the_real_body(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    vercel_api.configure(rate_limits=[RateRule("filterProjectEnvs", limit=2, window=60)])
    statuses = [http.get(f"/v10/projects/{project}/env").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = http.get(f"/v10/projects/{project}/env")
    error = limited.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["limit"]["total"] == 2
    assert error["limit"]["remaining"] == 0
    assert error["limit"]["resetMs"] // 1000 == error["limit"]["reset"] > time.time()
    assert 0 < int(limited.headers["Retry-After"]) <= 60
    assert http.get(f"/v9/projects/{project}").status_code == 200
    vercel_api.advance_clock(60)
    assert http.get(f"/v10/projects/{project}/env").status_code == 200, "a new window"


def test_the_limits_seen_in_real_answers_are_on_by_default(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    statuses = [http.get(f"/v9/projects/{project}").status_code for _ in range(121)]
    assert statuses.count(200) == 120, "project reads: 120 a minute"
    assert statuses[-1] == 429
    limited = http.get(f"/v9/projects/{project}").json()["error"]
    assert 'code: "api-projects"' in limited["message"]
    vercel_api.advance_clock(60)
    assert http.get(f"/v9/projects/{project}").status_code == 200


def test_a_redeploy_goes_queued_building_ready(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    first = vercel_api.deploy(project, "production")
    vercel_api.configure(queue_seconds=0.2, build_seconds=0.3)
    answer = http.post(
        "/v13/deployments",
        params={"forceNew": "1"},
        json={
            "name": first["name"],
            "deploymentId": first["id"],
            "target": "production",
            "meta": {"action": "redeploy"},
        },
    )
    assert answer.status_code == 200
    redeploy = answer.json()
    assert redeploy["readyState"] == "QUEUED"  # emulate: READY at once
    assert redeploy["projectId"] == project
    assert redeploy["id"] != first["id"]
    seen: list[str] = []

    def ready() -> bool:
        state = str(http.get(f"/v13/deployments/{redeploy['id']}").json()["readyState"])
        if not seen or seen[-1] != state:
            seen.append(state)
        return state == "READY"

    _poll(ready)
    assert seen[-2:] == ["BUILDING", "READY"]
    listed = http.get("/v6/deployments", params={"projectId": project, "target": "production"}).json()
    assert {d["uid"]: d["readyState"] for d in listed["deployments"]} == {first["id"]: "READY", redeploy["id"]: "READY"}


def test_a_redeploy_into_a_custom_environment_is_built_there_and_listed_with_it(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    uat = vercel_api.custom_environment(project, "uat")
    first = vercel_api.deploy(project, "preview", branch="uat", custom_environment=uat)
    body = {"name": first["name"], "deploymentId": first["id"], "meta": {"action": "redeploy"}}

    by_id = http.post(
        "/v13/deployments", params={"forceNew": "1"}, json={**body, "customEnvironmentSlugOrId": uat["id"]}
    )
    by_slug = http.post("/v13/deployments", params={"forceNew": "1"}, json={**body, "customEnvironmentSlugOrId": "uat"})
    unknown = http.post("/v13/deployments", params={"forceNew": "1"}, json={**body, "customEnvironmentSlugOrId": "qa"})

    assert (by_id.status_code, by_slug.status_code) == (200, 200)
    assert by_id.json()["customEnvironment"]["id"] == uat["id"]
    assert unknown.status_code == 404, "a project's own environments only"
    listed = http.get("/v6/deployments", params={"projectId": project}).json()["deployments"]
    assert {d["uid"]: d["customEnvironment"]["id"] for d in listed} == {
        first["id"]: uat["id"],
        by_id.json()["id"]: uat["id"],
        by_slug.json()["id"]: uat["id"],
    }
    shown = http.get(f"/projects/{project}/custom-environments").json()["environments"]
    assert [(e["id"], e["slug"]) for e in shown] == [(uat["id"], "uat")]


@pytest.mark.parametrize("outcome", ["ERROR", "CANCELED"])
def test_the_next_deployment_can_be_made_to_fail(
    vercel_api: VercelApi, http: httpx.Client, project: str, outcome: str
) -> None:
    first = vercel_api.deploy(project, "preview", branch="pr-3")
    vercel_api.configure(next_deployment=outcome, queue_seconds=0, build_seconds=0.05)
    redeploy = http.post(
        "/v13/deployments", params={"forceNew": "1"}, json={"name": first["name"], "deploymentId": first["id"]}
    ).json()
    _poll(lambda: vercel_api.deployment(redeploy["id"])["readyState"] == outcome)
    shown = http.get(f"/v13/deployments/{redeploy['id']}").json()
    assert shown["readyState"] == outcome
    assert shown["target"] in (None, "preview")
    after = http.post(
        "/v13/deployments", params={"forceNew": "1"}, json={"name": first["name"], "deploymentId": first["id"]}
    ).json()
    _poll(lambda: vercel_api.deployment(after["id"])["readyState"] == "READY")


def test_tokens_and_teams_are_enforced(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    base = vercel_api.url
    missing = httpx.get(f"{base}/v9/projects/{project}", params={"teamId": vercel_api.team})
    assert (missing.status_code, missing.json()["error"]["missingToken"]) == (403, True)
    wrong = httpx.get(
        f"{base}/v9/projects/{project}",
        params={"teamId": vercel_api.team},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert (wrong.status_code, wrong.json()["error"]["invalidToken"]) == (403, True)  # emulate accepts any token
    other_token, _, other_team = vercel_api.app.add_tenant()
    try:
        foreign = http.get(f"/v9/projects/{project}", params={"teamId": other_team["id"]})
        assert foreign.status_code == 403
        by_slug = httpx.get(
            f"{base}/v9/projects/{project}",
            params={"slug": vercel_api.team_slug},
            headers={"Authorization": f"Bearer {vercel_api.token}"},
        )
        assert by_slug.status_code == 200
        elsewhere = httpx.get(
            f"{base}/v9/projects/{project}",
            params={"teamId": other_team["id"]},
            headers={"Authorization": f"Bearer {other_token}"},
        )
        assert elsewhere.status_code == 404
    finally:
        vercel_api.app.forget_token(other_token)


def test_old_api_versions_work_and_are_recorded_as_their_operation(
    vercel_api: VercelApi, http: httpx.Client, project: str
) -> None:
    assert http.get(f"/v8/projects/{project}/env").status_code == 200
    assert http.get(f"/v10/projects/{project}/env").status_code == 200
    assert [(c.path.split("/")[1], c.operation_id) for c in vercel_api.calls()] == [
        ("v8", "filterProjectEnvs"),
        ("v10", "filterProjectEnvs"),
    ]


def test_projects_are_created_listed_and_read_in_the_spec_shape(vercel_api: VercelApi, http: httpx.Client) -> None:
    name = f"web-{secrets.token_hex(3)}"
    created = http.post("/v11/projects", json={"name": name, "framework": "nextjs"})
    assert created.status_code == 200
    again = http.post("/v11/projects", json={"name": name})
    assert again.status_code == 409
    listed = http.get("/v10/projects").json()["projects"]
    assert [p["name"] for p in listed] == [name]
    assert http.get(f"/v9/projects/{name}").json()["id"] == created.json()["id"]
    assert vercel_api.violations() == []


def test_faults_from_the_toolkit_apply(vercel_api: VercelApi, http: httpx.Client, project: str) -> None:
    vercel_api.faults.add(FaultRule(path=r"/v10/projects/[^/]+/env", method="POST", status=503))
    assert http.post(f"/v10/projects/{project}/env", json=_env("A", "b", ["production"])).status_code == 503
    assert http.post(f"/v10/projects/{project}/env", json=_env("A", "b", ["production"])).status_code == 201
    assert [c.injected for c in vercel_api.calls()] == [True, False]
