"""doctor's check of the app's own health endpoint (envstack.ops.app_health), against
deployments of the local Vercel API serving the example app over HTTPS
(tests/emulators/vercel/serving.py, example_health_app.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from envstack.clients.app_endpoint import EndpointUnreachable, get_json, https_url
from envstack.clients.tls import client_context
from envstack.clients.vercel import VercelClient
from envstack.db.pgserver import PostgresServer
from envstack.ops.app_health import check_app_health, check_deployment_health, deployment_url
from tests.emulators.common.hostnames import HostsFile
from tests.emulators.vercel.fixtures import GitHubApi, VercelApi
from tests.emulators.vercel.health_testing import APP, HEALTH, NamedDatabase, named_database


@pytest.fixture
def production_db(postgres_server: PostgresServer) -> Iterator[NamedDatabase]:
    with named_database(postgres_server) as database:
        yield database


@pytest.fixture
def branch_db(postgres_server: PostgresServer) -> Iterator[NamedDatabase]:
    with named_database(postgres_server) as database:
        yield database


@pytest.fixture
def client(vercel_api: VercelApi) -> Iterator[VercelClient]:
    vercel_api.configure(serve_app=APP)
    with VercelClient(base_url=vercel_api.url, token=vercel_api.token, team=vercel_api.team) as made:
        yield made


def _expected(database: NamedDatabase) -> dict[str, str | None]:
    return {"host": database.host, "ref": database.ref}


def test_healthy_when_the_app_reaches_the_database_the_stack_wired(
    vercel_api: VercelApi, client: VercelClient, production_db: NamedDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = vercel_api.create_project()
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", production_db.url, ["production"], "sensitive")
    deployment = vercel_api.deploy(project["id"], "production")

    found = deployment_url(client, project["id"], "production")
    assert (found.url, found.deployment_id) == (f"https://{deployment['url']}", deployment["id"])
    check = check_deployment_health(
        client, project["id"], "production", None, HEALTH, _expected(production_db), name="app health",
        ca_file=vercel_api.ca_file,
    )  # fmt: skip
    assert check.status == "pass", check.detail
    assert f"host {production_db.host}, ref {production_db.ref}, as the stack wired" in check.detail

    # The standard means work as well: the CA through SSL_CERT_FILE, nothing handed over.
    monkeypatch.setenv("SSL_CERT_FILE", str(vercel_api.ca_file))
    again = check_app_health("app health", deployment["url"], HEALTH, _expected(production_db))
    assert again.status == "pass", again.detail


def test_a_preview_wired_to_productions_database_fails_naming_both(
    vercel_api: VercelApi,
    github_api: GitHubApi,
    client: VercelClient,
    production_db: NamedDatabase,
    branch_db: NamedDatabase,
) -> None:
    repo = github_api.create_repo()
    github_api.create_branch(repo, "feature")
    project = vercel_api.create_project(git_repo=repo)
    # The branch's own database was never written for it: its previews read the general
    # preview value, which someone pointed at production's database.
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", production_db.url, ["production", "preview"])
    vercel_api.deploy(project["id"], "preview", branch="feature")

    check = check_deployment_health(
        client, project["id"], "preview", "feature", HEALTH, _expected(branch_db), name="app health",
        ca_file=vercel_api.ca_file,
    )  # fmt: skip

    assert check.status == "fail"
    assert f"the app reports database host {production_db.host}; the stack wired {branch_db.host}" in check.detail
    assert f"the app reports database ref {production_db.ref}; the stack wired {branch_db.ref}" in check.detail


def test_the_shared_preview_is_checked_on_a_branch_no_other_stack_owns(
    vercel_api: VercelApi,
    github_api: GitHubApi,
    client: VercelClient,
    production_db: NamedDatabase,
    branch_db: NamedDatabase,
) -> None:
    """Staging's preview variables apply to every branch without its own; a pull request's
    stack scopes its own to its branch, and that branch's newer preview reports its own
    database. Asked, it made staging's line fail on a healthy setup."""
    repo = github_api.create_repo()
    github_api.create_branch(repo, "feature/pr-7")
    project = vercel_api.create_project(git_repo=repo)
    staging_db = production_db  # any database other than the branch's stands for staging's
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", staging_db.url, ["preview"])
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", branch_db.url, ["preview"], git_branch="feature/pr-7")
    vercel_api.deploy(project["id"], "preview", branch="main")
    vercel_api.deploy(project["id"], "preview", branch="feature/pr-7")  # the newest preview

    def check(other_stacks: frozenset[str]) -> Any:
        return check_deployment_health(
            client, project["id"], "preview", None, HEALTH, _expected(staging_db), name="app health",
            ca_file=vercel_api.ca_file, other_stacks=other_stacks,
        )  # fmt: skip

    assert check(frozenset()).status == "fail", "the pull request's preview, asked for staging"
    owned = check(frozenset({"feature/pr-7"}))
    assert owned.status == "pass", owned.detail


def test_a_503_from_the_app_fails_with_what_it_said_and_no_password(
    vercel_api: VercelApi, client: VercelClient, production_db: NamedDatabase
) -> None:
    project = vercel_api.create_project()
    wrong = "wrong-password-123456"
    url = production_db.url.replace(production_db.url.split("@")[0].rsplit(":", 1)[1], wrong)
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", url, ["production"])
    vercel_api.deploy(project["id"], "production")

    check = check_deployment_health(
        client, project["id"], "production", None, HEALTH, _expected(production_db), name="app health",
        ca_file=vercel_api.ca_file, secrets=[wrong],
    )  # fmt: skip

    assert check.status == "fail"
    assert "answered 503: the app could not reach its database (could not reach the database:" in check.detail
    assert "password authentication failed" in check.detail
    assert wrong not in check.detail


def test_an_unreachable_host_fails_with_a_clear_sentence(vercel_api: VercelApi) -> None:
    hosts = HostsFile.of_session()
    assert hosts is not None
    hosts.set("down.health.test", "127.56.0.1")  # nothing listens there
    check = check_app_health("app health", "down.health.test", HEALTH, {"host": "db.x.test"}, timeout=5)
    assert check.status == "fail"
    assert check.detail.startswith(f"https://down.health.test{HEALTH} could not be reached: ")
    assert check.detail.endswith("is the deployment up?")
    assert "refused" in check.detail.lower()


def test_what_is_not_the_contracts_answer_fails_clearly(
    vercel_api: VercelApi, client: VercelClient, production_db: NamedDatabase
) -> None:
    project = vercel_api.create_project()
    vercel_api.add_env_by_hand(project["id"], "POSTGRES_URL", production_db.url, ["production"])
    vercel_api.configure(serve_app=None)
    static = vercel_api.deploy(project["id"], "production")

    def check(path: str = HEALTH) -> str:
        found = check_app_health("app health", static["url"], path, {}, ca_file=vercel_api.ca_file)
        assert found.status == "fail"
        return found.detail

    assert check().endswith(
        f"answered 404 (NOT_FOUND): the app has no route {HEALTH}: add the health route of docs/app-health.md"
    )
    assert "not an https URL" in check_app_health("x", f"http://{static['url']}", HEALTH, {}).detail
    preview = check_deployment_health(client, project["id"], "preview", "nobody", HEALTH, {}, name="app health")
    assert (preview.status, preview.detail) == (
        "skip",
        "no preview deployment of branch nobody yet; its first one reads the variables",
    )
    with VercelClient(base_url=vercel_api.url, token=vercel_api.token, team=vercel_api.team) as api:
        assert api.get_deployment(static["id"]).url == static["url"]
    with vercel_api.http() as http:
        assert http.delete(f"/v13/deployments/{static['id']}").status_code == 200
    gone = check_app_health("app health", static["url"], HEALTH, {}, ca_file=vercel_api.ca_file)
    assert gone.detail.endswith(
        "answered 404 (DEPLOYMENT_NOT_FOUND): "
        "Vercel has no ready deployment at this name (deleted, failed, or never built)"
    )


def test_a_redirect_is_followed_only_to_https_on_the_same_host(tmp_path: Path) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/health/database":
            return httpx.Response(308, headers={"Location": "/api/health/database/"})
        if request.url.path == "/api/health/database/":
            return httpx.Response(307, headers={"Location": "http://app.example.test/plain"})
        raise AssertionError(f"followed to {request.url}")

    found = get_json("https://app.example.test/api/health/database", timeout=5, transport=httpx.MockTransport(answer))
    assert (found.url, found.status, found.location) == (
        "https://app.example.test/api/health/database/",
        307,
        "http://app.example.test/plain",
    )


@pytest.mark.usefixtures("client")  # deployments serve the example app
def test_certificates_are_checked_against_the_trust_store_of_each_call(
    vercel_api: VercelApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clients share one TLS context per trust store (envstack/clients/tls.py), and the store is
    still the one SSL_CERT_FILE names when the client is made, as with httpx's own default: a
    context kept from an earlier call must neither trust a CA nobody named, nor miss one."""
    project = vercel_api.create_project()
    url = https_url(vercel_api.deploy(project["id"], "production")["url"], HEALTH)

    def refusal() -> str | None:
        try:
            get_json(url, timeout=10)
        except EndpointUnreachable as exc:
            return str(exc)
        return None

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    assert "certificate verify failed" in (refusal() or "answered")
    monkeypatch.setenv("SSL_CERT_FILE", str(vercel_api.ca_file))
    assert refusal() is None
    assert client_context() is client_context()  # one context, not one a client
    monkeypatch.delenv("SSL_CERT_FILE")
    assert "certificate verify failed" in (refusal() or "answered")


def test_a_status_that_quotes_a_secret_is_shown_redacted() -> None:
    """An app may put its failure text in `status` instead of `error`; only `error` was redacted."""
    from envstack.clients.app_endpoint import EndpointAnswer
    from envstack.ops.app_health import _judge

    password = "pw-" + "x" * 20
    body = {"status": f"down: postgresql://app:{password}@db.example/app", "error": f"login {password} refused"}
    answer = EndpointAnswer("https://app.example/api/health", 200, body, "", "application/json", None, None)
    check = _judge("app health", answer, HEALTH, {}, [password])
    assert check.status == "fail"
    assert password not in check.detail
    assert "with status down: postgresql://app:***@db.example/app" in check.detail
