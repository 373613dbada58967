"""pytest fixtures: a local Vercel API and GitHub API for envstack's tests.

One emulate process (and the layers in front of it) serves the whole session; each test
gets its own team and tokens, so tests never see each other's projects or calls.

    def test_something(vercel_api: VercelApi) -> None:
        project = vercel_api.create_project()
        ... point the code under test at vercel_api.url with VERCEL_TOKEN=vercel_api.token
        ... and teamId=vercel_api.team
        assert vercel_api.env_value(project["id"], "POSTGRES_URL", "production") == expected
        assert vercel_api.decrypt_calls() == []
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from envstack.clients.tls import client_context
from tests.emulators.common.faults import FaultPlan
from tests.emulators.common.recording import Call
from tests.emulators.common.server import is_request_violation, is_undocumented_request
from tests.emulators.vercel.app import VercelApp
from tests.emulators.vercel.envrules import EnvError, EnvInput, EnvVar
from tests.emulators.vercel.github import GitHubApp
from tests.emulators.vercel.knobs import Knobs
from tests.emulators.vercel.process import EmulateUnavailable
from tests.emulators.vercel.stack import EmulateStack


@dataclass
class VercelApi:
    """One test's view of the local Vercel API (the fidelity layer over emulate)."""

    app: VercelApp
    url: str
    token: str  # the VERCEL_TOKEN value for this test
    team: str  # team id (team_...): send it as ?teamId=
    team_slug: str
    tenant: str
    _violations_before: int = field(default=0, repr=False)
    # A test of the local API itself sends off-spec requests on purpose (to see them refused):
    # it sets this, and only answers that break the spec fail it. Every other test, the stack's
    # included, fails on an off-spec request too.
    sends_off_spec_requests: bool = False
    # A real client (the Vercel or Supabase CLI) under test calls operations the spec does
    # not document; those are its own, not envstack's, and do not fail the test.
    real_client_calls_undocumented: bool = False

    # -- what the API saw ---------------------------------------------------------------------------
    def calls(self) -> list[Call]:
        """Every call made with this test's token, in order."""
        return self.app.calls.all(tenant=self.tenant)

    def decrypt_calls(self) -> list[Call]:
        """Calls that asked for a sensitive variable's value (list ?decrypt=true over one,
        or the decrypted get of one). The API never answers with the value; envstack
        should never ask."""
        return [call for call in self.calls() if call.notes.get("decrypt_sensitive")]

    def violations(self) -> list[str]:
        """Requests and answers during this test that the spec does not allow (the fixture fails on any)."""
        found = self.app.violations()[self._violations_before :]
        return [
            v
            for v in found
            if not (self.sends_off_spec_requests and is_request_violation(v))
            and not (self.real_client_calls_undocumented and is_undocumented_request(v))
        ]

    @property
    def faults(self) -> FaultPlan:
        """Injected failures (tests.emulators.common.faults.FaultRule); cleared after the test."""
        return self.app.faults

    def configure(self, **changes: Any) -> Knobs:
        """See VercelApp.configure: conflict_style ("env_conflict" | "forbidden" |
        "conflict" | "legacy"), env_write_seconds, queue_seconds, build_seconds,
        rolling_release_seconds, rate_limits ([RateRule(operation, limit, window)]), serve_app (a module path: what
        deployments made from now on run at their names, see serving.py), next_deployment
        ("ERROR" | "CANCELED" | "READY", or a list). Reset after the test."""
        return self.app.configure(**changes)

    def advance_clock(self, seconds: float) -> None:
        """Let ``seconds`` pass for the rules the local API measures in time (rate-limit
        windows), instead of waiting for them."""
        self.app.clock.advance(seconds)

    @property
    def ca_file(self) -> Path:
        """The CA deployments' certificates are signed by: trust it (SSL_CERT_FILE, or an
        httpx ``verify`` context) to call them over HTTPS."""
        return self.app.serving.ca_file

    def http(self) -> httpx.Client:
        """An httpx client for the API with this test's token and team."""
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.token}"},
            params={"teamId": self.team},
            verify=client_context(),
        )

    # -- setup and assertions straight on emulate's state (not recorded, no rules) -------------
    @property
    def _scope(self) -> dict[str, str]:
        return {"teamId": self.team}

    def add_team(self) -> dict[str, Any]:
        """Another team this test's token may use too; returns the team (``id``, ``slug``)."""
        return self.app.add_team(self.token)

    def create_project(
        self,
        name: str | None = None,
        *,
        team: str | None = None,
        git_repo: str | None = None,
        production_branch: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A project made by hand, in this test's team or in ``team`` (an id from ``add_team``).
        ``git_repo`` ("owner/name", from ``GitHubApi.create_repo``) connects it to that
        repository, whose branches may then scope preview variables; its production branch is
        ``production_branch``, by default the repository's default branch (main)."""
        name = name or f"app-{secrets.token_hex(4)}"
        scope = {"teamId": team} if team else self._scope
        if git_repo is not None:
            try:
                fields["gitRepository"] = self.app.github_link({"type": "github", "repo": git_repo}, production_branch)
            except EnvError as error:
                raise AssertionError(f"cannot connect {name} to {git_repo}: {error.message}") from None
        answer = self.app.upstream.request("POST", "/v11/projects", params=scope, json={"name": name, **fields})
        assert answer.status == 200, f"emulate refused project {name}: {answer.status} {answer.body}"
        project: dict[str, Any] = answer.body
        return project

    def projects_named(self, name: str, *, team: str | None = None) -> list[str]:
        """The ids of the team's projects of that name (not recorded)."""
        scope = {"teamId": team} if team else self._scope
        answer = self.app.upstream.request("GET", "/v10/projects", params={**scope, "search": name, "limit": "100"})
        assert answer.ok, f"emulate refused the project list: {answer.status} {answer.body}"
        return [str(p["id"]) for p in answer.body["projects"] if p["name"] == name]

    def deployments_of(self, project_id: str) -> list[dict[str, Any]]:
        """Every deployment of the project, newest first, as listed (with ``meta``; not recorded)."""
        answer = self.app.upstream.request(
            "GET", "/v6/deployments", params={**self._scope, "projectId": project_id, "limit": "100"}
        )
        assert answer.ok, f"emulate refused the deployment list: {answer.status} {answer.body}"
        found: list[dict[str, Any]] = answer.body["deployments"]
        return found

    def env_vars(self, project: str) -> list[EnvVar]:
        """Every variable of the project with its real value, sensitive ones included."""
        found = self.app.project(project, self._scope)
        return self.app.stored_envs(found["id"], self._scope)

    def env_value(self, project: str, key: str, target: str, git_branch: str | None = None) -> str | None:
        """The value the given target (and branch) gets for ``key``, None when unset."""
        for env in self.env_vars(project):
            if env.key == key and target in env.target and env.git_branch == git_branch:
                return env.value
        return None

    def add_env_by_hand(
        self,
        project: str,
        key: str,
        value: str,
        target: Sequence[str] = ("production", "preview", "development"),
        type: str = "encrypted",
        git_branch: str | None = None,
        comment: str = "",
    ) -> EnvVar:
        """A variable created as a person would in the dashboard (no call recorded), which
        holds a branch-scoped one to the same Git rules as the API."""
        found = self.app.project(project, self._scope)
        item = EnvInput(key, value, type, tuple(target), git_branch, comment)
        try:
            self.app.branch_rules(found)(item)
        except EnvError as error:
            raise AssertionError(f"Vercel would refuse {key}: {error.message}") from None
        answer = self.app.upstream.request(
            "POST", f"/v10/projects/{quote(found['id'], safe='')}/env", params=self._scope, json=item.to_emulate()
        )
        assert answer.ok, f"emulate refused {key}: {answer.status} {answer.body}"
        return EnvVar.from_emulate(answer.body["envs"][0])

    def custom_environment(self, project: str, slug: str) -> dict[str, Any]:
        """A custom environment of the project, as made in the dashboard (not recorded)."""
        return self.app.custom_environments.add(self.app.project(project, self._scope)["id"], slug)

    def deploy(
        self,
        project: str,
        target: str = "production",
        branch: str | None = None,
        custom_environment: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A finished (READY) deployment of the project, so there is something to redeploy;
        with ``custom_environment`` (from ``custom_environment``), one built into it."""
        found = self.app.project(project, self._scope)
        link = found.get("link") or {}
        ref = branch or link.get("productionBranch") or "main"
        source = {"type": "github", "ref": ref, "sha": secrets.token_hex(20), "repo": link.get("repo") or found["name"]}
        if link:
            source.update(org=link["org"], repoId=link["repoId"])
        body = {
            "name": found["name"],
            "project": found["id"],
            "target": target,
            "gitSource": source,
            "meta": {"githubCommitRef": ref},
        }
        answer = self.app.upstream.request("POST", "/v13/deployments", params=self._scope, json=body)
        assert answer.ok, f"emulate refused the deployment: {answer.status} {answer.body}"
        deployment: dict[str, Any] = answer.body
        if custom_environment is not None:
            self.app.custom_environments.built_into(str(deployment["id"]), custom_environment)
        if target == "production":
            self.app.production.created(found["id"], deployment["id"])
        # Served at its name with the variables as they are now, running the serve_app knob's app.
        build = self.app.serve_deployment(found, deployment, self._scope, self.app.knobs.serve_app)
        return {**deployment, "url": build.host}

    def deployment(self, deployment_id: str) -> dict[str, Any]:
        """The deployment as the API would show it now."""
        answer = self.app.upstream.request(
            "GET", f"/v13/deployments/{quote(deployment_id, safe='')}", params=self._scope
        )
        assert answer.ok, f"no deployment {deployment_id}: {answer.status}"
        shown = self.app.builds.overlay(answer.body)
        environment = self.app.custom_environments.of_deployment(deployment_id)
        if environment is not None:
            shown["customEnvironment"] = environment
        return shown


@dataclass
class GitHubApi:
    """One test's view of the local GitHub API (emulate's, recorded)."""

    app: GitHubApp
    url: str
    token: str  # a GITHUB_TOKEN value for this test
    owner: str  # the login that owns the repositories the helpers create
    tenant: str

    def calls(self) -> list[Call]:
        return self.app.calls.all(tenant=self.tenant)

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        answer = self.app.upstream.request(method, path, json=json)
        assert answer.ok, f"emulate GitHub refused {method} {path}: {answer.status} {answer.body}"
        return answer.body

    def create_repo(self, name: str | None = None) -> str:
        """A repository with an initial commit on main; returns "owner/name"."""
        name = name or f"repo-{secrets.token_hex(4)}"
        self._call("POST", "/user/repos", {"name": name, "auto_init": True})
        return f"{self.owner}/{name}"

    def create_branch(self, repo: str, branch: str, base: str = "main") -> str:
        """A branch off ``base`` with one commit of its own; returns its head sha."""
        ref = self._call("GET", f"/repos/{repo}/git/ref/heads/{base}")
        self._call("POST", f"/repos/{repo}/git/refs", {"ref": f"refs/heads/{branch}", "sha": ref["object"]["sha"]})
        content = base64.b64encode(f"change on {branch}\n".encode()).decode()
        path = f"changes/{secrets.token_hex(4)}.txt"
        commit = self._call(
            "PUT",
            f"/repos/{repo}/contents/{path}",
            {"message": f"Work on {branch}", "content": content, "branch": branch},
        )
        sha: str = commit["commit"]["sha"]
        return sha

    def open_pull_request(self, repo: str, head: str, base: str = "main", title: str | None = None) -> int:
        pr = self._call(
            "POST", f"/repos/{repo}/pulls", {"title": title or f"Change {head}", "head": head, "base": base}
        )
        number: int = pr["number"]
        return number

    def pull_request(self, repo: str, number: int) -> dict[str, Any]:
        pr: dict[str, Any] = self._call("GET", f"/repos/{repo}/pulls/{number}")
        return pr

    def close_pull_request(self, repo: str, number: int) -> None:
        self._call("PATCH", f"/repos/{repo}/pulls/{number}", {"state": "closed"})

    def reopen_pull_request(self, repo: str, number: int) -> None:
        self._call("PATCH", f"/repos/{repo}/pulls/{number}", {"state": "open"})

    def merge_pull_request(self, repo: str, number: int) -> None:
        self._call("PUT", f"/repos/{repo}/pulls/{number}/merge", {"merge_method": "squash"})

    def comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        """The pull request's (issue) comments, oldest first."""
        found: list[dict[str, Any]] = self._call("GET", f"/repos/{repo}/issues/{number}/comments?per_page=100")
        return found


@pytest.fixture(scope="session")
def emulate_stack() -> Iterator[EmulateStack]:
    """emulate (Vercel + GitHub) and the layers in front of it, once per session."""
    try:
        stack = EmulateStack.start()
    except EmulateUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def vercel_api(emulate_stack: EmulateStack) -> Iterator[VercelApi]:
    """The local Vercel API with a fresh team and token for this test. Fails the test when
    any answer it got broke the official spec."""
    app = emulate_stack.vercel
    app.reset_settings()
    token, tenant, team = app.add_tenant()
    api = VercelApi(
        app=app,
        url=emulate_stack.vercel_server.url,
        token=token,
        team=team["id"],
        team_slug=team["slug"],
        tenant=tenant.name,
        _violations_before=len(app.violations()),
    )
    try:
        yield api
    finally:
        app.reset_settings()
        app.forget_token(token)
    problems = api.violations()
    if problems:
        pytest.fail("requests or answers that break the Vercel spec:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture
def github_api(emulate_stack: EmulateStack) -> Iterator[GitHubApi]:
    """emulate's GitHub API (recorded) with a token of this test's own."""
    app = emulate_stack.github
    tenant = f"gh-{secrets.token_hex(5)}"
    token = app.add_token(tenant)
    try:
        yield GitHubApi(app=app, url=emulate_stack.github_server.url, token=token, owner=app.login, tenant=tenant)
    finally:
        app.forget_token(token)
        app.faults.clear()
