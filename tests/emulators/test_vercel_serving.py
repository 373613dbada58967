"""The local Vercel API's deployments serve a real HTTP app over HTTPS at the names the API
answers for them (serving.py), with the variables as they were when each was created, and a
project's production domain serves what production points at."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from envstack.db.pgserver import PostgresServer
from tests.emulators.vercel.fixtures import GitHubApi, VercelApi
from tests.emulators.vercel.health_testing import APP, HEALTH, NamedDatabase, named_database, trusting


@pytest.fixture
def first(postgres_server: PostgresServer) -> Iterator[NamedDatabase]:
    with named_database(postgres_server) as database:
        yield database


@pytest.fixture
def second(postgres_server: PostgresServer) -> Iterator[NamedDatabase]:
    with named_database(postgres_server) as database:
        yield database


@pytest.fixture
def http(vercel_api: VercelApi) -> Iterator[httpx.Client]:
    # Rollbacks stand for the Vercel CLI's `rollback`, an endpoint the OpenAPI document lacks.
    vercel_api.real_client_calls_undocumented = True
    vercel_api.configure(serve_app=APP)
    with vercel_api.http() as client:
        yield client


@pytest.fixture
def edge(vercel_api: VercelApi) -> Iterator[httpx.Client]:
    with trusting(vercel_api.ca_file) as client:
        yield client


def _reported(edge: httpx.Client, host: str) -> dict[str, Any]:
    answer = edge.get(f"https://{host}{HEALTH}")
    assert answer.status_code == 200, f"{host}: {answer.status_code} {answer.text[:300]}"
    body: dict[str, Any] = answer.json()
    assert body["status"] == "ok"
    database: dict[str, Any] = body["database"]
    return database


def _redeploy(http: httpx.Client, deployment: dict[str, Any], target: str | None = "production") -> dict[str, Any]:
    body: dict[str, Any] = {"name": deployment["name"], "deploymentId": deployment["id"]}
    if target:
        body["target"] = target
    answer = http.post("/v13/deployments", params={"forceNew": "1"}, json=body)
    assert answer.status_code == 200, answer.text
    made: dict[str, Any] = answer.json()
    deadline = time.monotonic() + 10
    while http.get(f"/v13/deployments/{made['id']}").json()["readyState"] != "READY":
        assert time.monotonic() < deadline, "the redeploy did not become READY"
        time.sleep(0.05)
    return made


def test_a_deployment_serves_its_app_at_its_name_with_the_variables_of_its_creation(
    vercel_api: VercelApi, http: httpx.Client, edge: httpx.Client, first: NamedDatabase, second: NamedDatabase
) -> None:
    project = vercel_api.create_project("shop")
    variable = vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", first.url, ["production"], "sensitive")
    deployment = vercel_api.deploy(project["id"], "production")

    shown = http.get(f"/v13/deployments/{deployment['id']}").json()
    assert shown["url"] == deployment["url"]
    label = re.escape(vercel_api.team_slug)
    assert re.fullmatch(rf"shop-[0-9a-z]{{9}}-{label}\.v\d+\.vercel\.test", shown["url"]), shown["url"]
    assert _reported(edge, shown["url"]) == {"host": first.host, "name": first.name, "ref": first.ref}

    # Vercel bakes variables into the build: an edit reaches only deployments made after it.
    edited = http.patch(f"/v9/projects/{project['id']}/env/{variable.id}", json={"value": second.url})
    assert edited.status_code == 200, edited.text
    assert _reported(edge, shown["url"])["host"] == first.host, "the old build keeps its value"
    rebuilt = _redeploy(http, shown)
    assert rebuilt["url"] != shown["url"]
    assert _reported(edge, rebuilt["url"])["host"] == second.host
    assert _reported(edge, shown["url"])["host"] == first.host


def test_the_production_domain_follows_promotion_and_rollback(
    vercel_api: VercelApi, http: httpx.Client, edge: httpx.Client, first: NamedDatabase, second: NamedDatabase
) -> None:
    project = vercel_api.create_project()
    variable = vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", first.url, ["production"])
    good = vercel_api.deploy(project["id"], "production")
    production = http.get(f"/v9/projects/{project['id']}").json()["targets"]["production"]
    (domain,) = production["alias"]
    assert re.fullmatch(rf"{project['name']}\.v\d+\.vercel\.test", domain), domain
    assert _reported(edge, domain)["ref"] == first.ref

    http.patch(f"/v9/projects/{project['id']}/env/{variable.id}", json={"value": second.url})
    newer = _redeploy(http, good)
    assert _reported(edge, domain)["ref"] == second.ref, "a new production build is served once READY"
    assert domain in http.get(f"/v13/deployments/{newer['id']}").json()["alias"]

    assert http.post(f"/v9/projects/{project['id']}/rollback/{good['id']}", json={}).status_code == 201
    assert _reported(edge, domain)["ref"] == first.ref, "Instant Rollback points the domain back"
    assert domain not in http.get(f"/v13/deployments/{newer['id']}").json()["alias"]
    assert http.post(f"/v10/projects/{project['id']}/promote/{newer['id']}").status_code == 201
    assert _reported(edge, domain)["ref"] == second.ref


def test_a_preview_reads_its_branch_variables_and_the_general_ones_otherwise(
    vercel_api: VercelApi,
    github_api: GitHubApi,
    http: httpx.Client,
    edge: httpx.Client,
    first: NamedDatabase,
    second: NamedDatabase,
) -> None:
    repo = github_api.create_repo()
    github_api.create_branch(repo, "feature")
    github_api.create_branch(repo, "other")
    project = vercel_api.create_project(git_repo=repo)
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", first.url, ["preview"])
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", second.url, ["preview"], git_branch="feature")

    feature = vercel_api.deploy(project["id"], "preview", branch="feature")
    other = vercel_api.deploy(project["id"], "preview", branch="other")

    assert _reported(edge, feature["url"])["ref"] == second.ref
    assert _reported(edge, other["url"])["ref"] == first.ref


def test_the_edge_answers_for_itself_where_no_app_does(
    vercel_api: VercelApi, http: httpx.Client, edge: httpx.Client, first: NamedDatabase
) -> None:
    project = vercel_api.create_project()
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", first.url, ["production"])
    vercel_api.configure(serve_app=None)
    static = vercel_api.deploy(project["id"], "production")
    missing = edge.get(f"https://{static['url']}{HEALTH}")
    assert (missing.status_code, missing.headers["x-vercel-error"]) == (404, "NOT_FOUND")

    # A name nobody has: the edge's own 404 (asked by Host, as no such name resolves).
    unknown = edge.get(f"https://{static['url']}{HEALTH}", headers={"Host": f"nobody.{static['url'].split('.', 1)[1]}"})
    assert (unknown.status_code, unknown.headers["x-vercel-error"]) == (404, "DEPLOYMENT_NOT_FOUND")

    # Still building: a redirect to the deployment's status page.
    vercel_api.configure(serve_app=APP, queue_seconds=30)
    building = http.post("/v13/deployments", json={"name": static["name"], "deploymentId": static["id"]}).json()
    answer = edge.get(f"https://{building['url']}{HEALTH}")
    assert (answer.status_code, answer.headers["x-vercel-error"]) == (303, "DEPLOYMENT_NOT_READY_REDIRECTING")
    assert answer.headers["location"].startswith("https://")


def test_a_client_that_does_not_trust_the_test_ca_is_refused(
    vercel_api: VercelApi, http: httpx.Client, first: NamedDatabase
) -> None:
    project = vercel_api.create_project()
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", first.url, ["production"])
    deployment = vercel_api.deploy(project["id"], "production")
    with httpx.Client(timeout=10) as stranger, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        stranger.get(f"https://{deployment['url']}{HEALTH}")
