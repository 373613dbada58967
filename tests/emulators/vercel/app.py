"""The fidelity layer: an EmulatorApp in front of emulate's Vercel service that answers as
the real Vercel REST API does for everything envstack uses. emulate keeps the state; this
layer checks the real rules, reshapes answers, and adds what emulate lacks (batch delete,
decrypted get, builds that take time, per-project write exclusion, rate limits).

A project's Git connection: ``POST /v11/projects`` with ``gitRepository: {type: "github",
repo: "owner/name"}`` links it to a repository of the local GitHub API (emulate's, in the same
process), as the real API links one its GitHub integration can see; the link is stored by
emulate and shown as the real one (``org`` the owner, ``repo`` the name, the repository's id,
its default branch as the production branch). Branch-scoped variables are checked against it.

Deployments answer HTTPS at the ``url`` the API gives them, and a project's production domain
at the deployment production points at: serving.py (the app they run is the ``serve_app``
knob's; every deployment the layer or the fixtures make is registered there when created).

Every call is recorded (toolkit); a call whose answer could reveal a sensitive value is
noted with ``notes["decrypt_sensitive"] = True`` (no answer ever does reveal one).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from tests.emulators.common.clock import TestClock
from tests.emulators.common.hostnames import HostsFile
from tests.emulators.common.openapi import load_spec, specs_dir
from tests.emulators.common.server import Drop, EmulatorApp, Request, Response
from tests.emulators.vercel import shapes
from tests.emulators.vercel.builds import BuildClock
from tests.emulators.vercel.custom_environments import CustomEnvironments
from tests.emulators.vercel.envrules import (
    EnvError,
    EnvInput,
    EnvVar,
    apply_patch,
    bad_request,
    check_git_branch,
    check_rules,
    conflict_error,
    find_conflict,
    parse_create_item,
    present,
    pulled,
)
from tests.emulators.vercel.knobs import Knobs, RateLimits, rate_limited_body
from tests.emulators.vercel.production import ProductionAliases
from tests.emulators.vercel.serving import Build, DeploymentServing, runtime_env
from tests.emulators.vercel.upstream import Upstream

TRUE_VALUES = {"true", "1", "yes"}


@dataclass
class Tenant:
    """Whose token is calling: one test (or one standalone user) and the teams it may use."""

    name: str
    team_ids: set[str] = field(default_factory=set)
    team_slugs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class Scope:
    query: dict[str, str]  # teamId or slug as the client sent it, for emulate


Handler = Callable[[Request, Tenant, Scope, dict[str, str]], Response]


def _not_found(what: str) -> EnvError:
    return EnvError(404, "not_found", f"{what} not found")


class VercelApp(EmulatorApp):
    service = "vercel"
    secret_fields = frozenset({"value"})
    tolerated_statuses: ClassVar[Mapping[int, str]] = {
        404: "the real API answers 404 for a missing project or variable (terraform-provider-vercel "
        "client.NotFound); the spec lists no 404 for getProject, filterProjectEnvs, getProjectEnv",
        429: "every endpoint is rate limited (docs 'REST API errors'); the spec lists 429 for few",
    }

    unspecified_operations: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        # The Vercel CLI 58.10.0's `env pull` (pullEnvRecords) reads env (buildEnv for a
        # deployment): key -> value, a sensitive variable's value empty.
        "pullEnv": {
            "type": "object",
            "required": ["env"],
            "properties": {
                "env": {"type": "object", "additionalProperties": {"type": "string"}},
                "buildEnv": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        # The Vercel CLI's `rollback` (requestRollback): 201, as requestPromote.
        "requestRollback": {},
    }

    def __init__(self, upstream: Upstream, git: Upstream) -> None:
        spec = load_spec(specs_dir() / "vercel-api.json")
        super().__init__(spec)
        self._spec = spec
        self.upstream = upstream
        # emulate's GitHub: the repositories a project can be connected to, and their branches.
        self.git = git
        self.knobs = Knobs()
        self.builds = BuildClock()
        self.production = ProductionAliases()
        self.custom_environments = CustomEnvironments()
        self.serving = DeploymentServing(HostsFile.of_session())
        self.serving.state_of = self._state_of
        self.serving.production_of = self._production_of
        self._team_slugs: dict[str, str] = {}
        # Every rule measured in time reads this clock; tests advance it instead of waiting.
        self.clock = TestClock()
        self._rate_limits = RateLimits(self.clock)
        self._rate_limits.configure(self.knobs.rate_limits)
        self._tenants: dict[str, Tenant] = {}
        self._tenants_lock = threading.Lock()
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        # Deleted variables whose delete has not spread yet (Knobs.delete_settle_seconds):
        # project id -> variable id -> (the variable, the time on its clock it is gone).
        self._settling: dict[str, dict[str, tuple[EnvVar, float]]] = {}
        self._settling_lock = threading.Lock()
        # (method, path regex, spec operation id, handler); any /vN/ version is accepted,
        # as the real API keeps old versions working (terraform-provider-vercel uses v8).
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = [
            ("GET", re.compile(r"/v\d+/projects/(?P<project>[^/]+)/env"), "filterProjectEnvs", self._list_envs),
            ("POST", re.compile(r"/v\d+/projects/(?P<project>[^/]+)/env"), "createProjectEnv", self._create_envs),
            ("DELETE", re.compile(r"/v\d+/projects/(?P<project>[^/]+)/env"), "batchRemoveProjectEnv", self._batch),
            (
                "GET",
                re.compile(r"/v\d+/projects/(?P<project>[^/]+)/env/(?P<env>[^/]+)"),
                "getProjectEnv",
                self._get_env,
            ),
            (
                "PATCH",
                re.compile(r"/v\d+/projects/(?P<project>[^/]+)/env/(?P<env>[^/]+)"),
                "editProjectEnv",
                self._edit,
            ),
            (
                "DELETE",
                re.compile(r"/v\d+/projects/(?P<project>[^/]+)/env/(?P<env>[^/]+)"),
                "removeProjectEnv",
                self._rm,
            ),
            # Not in the spec; the Vercel CLI's `env pull` (its pullEnvRecords) reads it.
            (
                "GET",
                re.compile(r"/v\d+/env/pull/(?P<project>[^/]+)(?:/(?P<target>[^/]+)(?:/(?P<branch>[^/]+))?)?"),
                "pullEnv",
                self._pull_envs,
            ),
            ("GET", re.compile(r"/v\d+/user"), "getAuthUser", self._get_user),
            # The Vercel CLI's --scope lists teams at /v1/teams; the spec documents /v2/teams.
            ("GET", re.compile(r"/v\d+/teams"), "getTeams", self._list_teams),
            # The Vercel CLI asks for its team without a version (GET /teams/<id>).
            ("GET", re.compile(r"(?:/v\d+)?/teams/(?P<team>[^/]+)"), "getTeam", self._get_team),
            (
                "GET",
                re.compile(r"(?:/v\d+)?/projects/(?P<project>[^/]+)/custom-environments"),
                "get /v9/projects/{idOrName}/custom-environments",
                self._list_custom_environments,
            ),
            (
                "POST",
                re.compile(r"/v\d+/projects/(?P<project>[^/]+)/promote/(?P<deployment>[^/]+)"),
                "requestPromote",
                self._promote,
            ),
            # Not in the spec; the Vercel CLI's `rollback` sends it (/v1 in the REST docs).
            (
                "POST",
                re.compile(r"/v\d+/projects/(?P<project>[^/]+)/rollback/(?P<deployment>[^/]+)"),
                "requestRollback",
                self._rollback,
            ),
            ("GET", re.compile(r"/v\d+/projects/(?P<project>[^/]+)"), "getProject", self._get_project),
            ("PATCH", re.compile(r"/v\d+/projects/(?P<project>[^/]+)"), "updateProject", self._update_project),
            ("GET", re.compile(r"/v\d+/projects"), "getProjects", self._list_projects),
            ("POST", re.compile(r"/v\d+/projects"), "createProject", self._create_project),
            ("GET", re.compile(r"/v\d+/deployments"), "getDeployments", self._list_deployments),
            ("GET", re.compile(r"/v\d+/deployments/(?P<deployment>[^/]+)"), "getDeployment", self._get_deployment),
            ("POST", re.compile(r"/v\d+/deployments"), "createDeployment", self._create_deployment),
        ]

    # -- tenants and settings -------------------------------------------------------------
    def add_tenant(self, name: str | None = None) -> tuple[str, Tenant, dict[str, Any]]:
        """A fresh team in emulate and a token that may use it: (token, tenant, team)."""
        slug = name or f"t-{secrets.token_hex(5)}"
        team = self._new_team(slug)
        tenant = Tenant(slug, {team["id"]}, {team["slug"]})
        # Word characters only: the Vercel CLI refuses a token with anything else (/\W/).
        token = f"vcp_{secrets.token_hex(16)}"
        with self._tenants_lock:
            self._tenants[token] = tenant
        return token, tenant, team

    def add_team(self, token: str) -> dict[str, Any]:
        """Another fresh team the token may use too (a person in two teams); returns the team."""
        team = self._new_team(f"t-{secrets.token_hex(5)}")
        with self._tenants_lock:
            tenant = self._tenants[token]
            tenant.team_ids.add(team["id"])
            tenant.team_slugs.add(team["slug"])
        return team

    def _new_team(self, slug: str) -> dict[str, Any]:
        answer = self.upstream.request("POST", "/v2/teams", json={"slug": slug, "name": slug})
        if not answer.ok:
            raise RuntimeError(f"emulate refused to create team {slug!r}: {answer.status} {answer.body}")
        team: dict[str, Any] = answer.body["team"]
        return team

    def forget_token(self, token: str) -> None:
        with self._tenants_lock:
            self._tenants.pop(token, None)

    def configure(self, **changes: Any) -> Knobs:
        """Change test settings: conflict_style, env_write_seconds, queue_seconds,
        build_seconds, rolling_release_seconds, rate_limits (list of RateRule or dicts),
        serve_app (the module the deployments created from now on run, see serving.py),
        next_deployment (an outcome, or a list of them, for the next deployments created)."""
        outcomes = changes.pop("next_deployment", None)
        self.knobs.update(changes)
        if "rate_limits" in changes:
            self._rate_limits.configure(self.knobs.rate_limits)
        if outcomes is not None:
            for outcome in [outcomes] if isinstance(outcomes, str) else outcomes:
                self.builds.queue_outcome(outcome)
        return self.knobs

    def reset_settings(self) -> None:
        self.knobs = Knobs()
        self._rate_limits.configure(self.knobs.rate_limits)
        self.builds.clear_outcomes()
        self.faults.clear()
        self.serving.stop_functions()

    # -- state straight from emulate (no rules, no recording) -----------------------------------
    def stored_envs(self, project_id: str, scope: dict[str, str]) -> list[EnvVar]:
        path = f"/v10/projects/{quote(project_id, safe='')}/env"
        return [EnvVar.from_emulate(raw) for raw in self.upstream.pages(path, "envs", {**scope, "decrypt": "true"})]

    def settling_envs(self, project_id: str) -> list[EnvVar]:
        """Variables deleted whose delete has not spread yet: still listed, still in the way."""
        now = self.clock()
        with self._settling_lock:
            deleted = self._settling.get(project_id, {})
            for env_id in [i for i, (_, gone) in deleted.items() if gone <= now]:
                deleted.pop(env_id)
            return [env for env, _ in deleted.values()]

    def _settle_later(self, project_id: str, env: EnvVar) -> None:
        if self.knobs.delete_settle_seconds > 0:
            with self._settling_lock:
                gone = self.clock() + self.knobs.delete_settle_seconds
                self._settling.setdefault(project_id, {})[env.id] = (env, gone)

    def project(self, id_or_name: str, scope: dict[str, str]) -> dict[str, Any]:
        answer = self.upstream.request("GET", f"/v9/projects/{quote(id_or_name, safe='')}", params=scope)
        if answer.status == 404:
            raise _not_found("Project")
        if not answer.ok:
            raise EnvError(answer.status, "internal_server_error", f"emulate answered {answer.status}")
        project: dict[str, Any] = answer.body
        return project

    # -- Git connections -------------------------------------------------------------------------
    def github_link(self, git_repository: Any, production_branch: str | None = None) -> dict[str, Any]:
        """The link emulate stores for createProject's ``gitRepository``: the real one's fields
        for a GitHub repository (terraform-provider-vercel reads ``org/repo`` back as the
        repository). EnvError 400 when there is no such repository."""
        if not isinstance(git_repository, dict) or git_repository.get("type") != "github":
            raise bad_request("Invalid request: the local Vercel API connects GitHub repositories only.")
        owner, _, name = str(git_repository.get("repo") or "").partition("/")
        found = None
        if owner and name and "/" not in name:
            answer = self.git.request("GET", f"/repos/{quote(owner, safe='')}/{quote(name, safe='')}")
            found = answer.body if answer.status == 200 else None
        if found is None:
            # The real answer when Vercel's GitHub integration cannot see the repository (public
            # reports; the code and the action/link fields from a client's test fixture).
            raise EnvError(
                400,
                "repo_not_found",
                "To link a GitHub repository, you need to install the GitHub integration first.",
                action="Install GitHub App",
                link="https://github.com/apps/vercel",
            )
        return {
            "type": "github",
            "repo": found["name"],
            "org": found["owner"]["login"],
            "repoId": found["id"],
            "productionBranch": production_branch or found.get("default_branch") or "main",
        }

    def branch_exists(self, link: dict[str, Any], branch: str) -> bool:
        """Whether the linked repository has the branch (asked of the local GitHub)."""
        path = f"/repos/{quote(str(link.get('org')), safe='')}/{quote(str(link.get('repo')), safe='')}"
        answer = self.git.request("GET", f"{path}/branches/{quote(branch, safe='/')}")
        if answer.status not in (200, 404):
            raise EnvError(500, "internal_server_error", f"the local GitHub answered {answer.status}")
        return answer.status == 200

    def branch_rules(self, project: dict[str, Any]) -> Callable[[EnvInput], None]:
        """Checks items against the project's Git connection (``check_git_branch``); each
        branch is asked of GitHub once per checker."""
        link = project.get("link") or None
        known: dict[str, bool] = {}

        def exists(branch: str) -> bool:
            if branch not in known:
                known[branch] = link is not None and self.branch_exists(link, branch)
            return known[branch]

        return lambda item: check_git_branch(item, link, exists)

    # -- the pipeline -------------------------------------------------------------------------
    def tenant_of(self, request: Request) -> str | None:
        with self._tenants_lock:
            tenant = self._tenants.get(request.bearer or "")
        return tenant.name if tenant else None

    def handle(self, request: Request) -> Response | Drop:
        token = request.bearer
        if token is None:
            return Response(
                403,
                {
                    "error": {
                        "code": "forbidden",
                        "message": "The request is missing an authentication token",
                        "missingToken": True,
                    }
                },
            )
        with self._tenants_lock:
            tenant = self._tenants.get(token)
        if tenant is None:
            return Response(403, {"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": True}})
        scope = self._scope(request, tenant)
        route = self._route(request)
        operation = route[1] if route else None
        if operation is None and self.spec is not None:
            matched = self.spec.match(request.method, request.path)
            operation = matched[0].operation_id if matched else None
        if self.spec is not None and operation not in self.spec.operations:
            self.record_undocumented(request, operation or f"{request.method} {request.path}")
        response = self._answer(request, tenant, scope, route, operation, token)
        response.tenant = tenant.name
        if route is not None:
            response.operation_id = route[1]
        return response

    def _answer(
        self,
        request: Request,
        tenant: Tenant,
        scope: Scope | None,
        route: tuple[Handler, str, dict[str, str]] | None,
        operation: str | None,
        token: str,
    ) -> Response:
        if scope is None:
            return Response(
                403,
                {"error": {"code": "forbidden", "message": "You do not have permission to access this resource."}},
            )
        if operation is not None:
            try:
                body = request.json()
            except ValueError:
                body = None  # the handler answers a body that is not JSON as the real API does
            problems = self.request_problems(request, operation, body)
            if problems:
                # The real API refuses it (400 bad_request); the test that sent it fails too.
                self.record_violations(request, problems)
                return Response(400, bad_request("Invalid request: " + "; ".join(problems)).body())
        broken = self._rate_limits.hit(operation, token)
        if broken is not None:
            rule, state = broken
            return Response(429, rate_limited_body(rule, state, operation), {"Retry-After": str(state.reset_seconds)})
        try:
            if route is None:
                return self._forward(request)
            handler, _, params = route
            return handler(request, tenant, scope, params)
        except EnvError as error:
            return Response(error.status, error.body())

    def _scope(self, request: Request, tenant: Tenant) -> Scope | None:
        team_id, slug = request.param("teamId"), request.param("slug")
        if team_id:
            return Scope({"teamId": team_id}) if team_id in tenant.team_ids else None
        if slug:
            return Scope({"slug": slug}) if slug in tenant.team_slugs else None
        return Scope({})

    def _route(self, request: Request) -> tuple[Handler, str, dict[str, str]] | None:
        for method, pattern, operation, handler in self._routes:
            if method == request.method:
                found = pattern.fullmatch(request.path)
                if found:
                    return handler, operation, found.groupdict()
        return None

    def _forward(self, request: Request) -> Response:
        headers = {"Content-Type": request.headers.get("content-type", "application/json")} if request.body else {}
        answer = self.upstream.request(
            request.method,
            request.path,
            params={k: v for k, v in request.query.items()},
            content=request.body or None,
            headers=headers,
        )
        return Response(answer.status, answer.body)

    def writing(self, project_id: str) -> bool:
        """Whether an env write to the project is under way (for tests that provoke overlap)."""
        with self._busy_lock:
            return project_id in self._busy

    @contextmanager
    def _writing(self, project_id: str, verb: str) -> Iterator[None]:
        """Hold the project's env-update flag; a concurrent writer gets the real 400."""
        with self._busy_lock:
            if project_id in self._busy:
                raise bad_request(
                    f"The environment variable couldn't be {verb} because an ongoing env update is already happening."
                )
            self._busy.add(project_id)
        try:
            if self.knobs.env_write_seconds:
                time.sleep(self.knobs.env_write_seconds)
            yield
        finally:
            with self._busy_lock:
                self._busy.discard(project_id)

    @staticmethod
    def _json(request: Request) -> Any:
        try:
            return request.json()
        except ValueError as exc:
            raise bad_request("Invalid request: the body is not valid JSON.") from exc

    # -- projects -------------------------------------------------------------------------------
    def _get_team(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        team = params["team"]
        if team not in tenant.team_ids and team not in tenant.team_slugs:
            raise EnvError(403, "forbidden", "Not authorized")
        answer = self.upstream.request("GET", f"/v2/teams/{quote(team, safe='')}")
        if answer.status == 404:
            raise _not_found("Team")
        # emulate wraps the team as {"team": …}; the real API answers the Team itself.
        return Response(200, shapes.team(answer.body.get("team", answer.body)))

    def _list_teams(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        answer = self.upstream.request("GET", "/v2/teams", params={"limit": "100"})
        if not answer.ok:
            return Response(answer.status, answer.body)
        # emulate lists every team it holds; a token sees only the teams it belongs to.
        teams = [shapes.team(t) for t in answer.body.get("teams", []) if t.get("id") in tenant.team_ids]
        return Response(200, {"teams": teams, "pagination": {"count": len(teams), "next": None, "prev": None}})

    def _get_user(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        answer = self._forward(request)
        if answer.status == 200 and isinstance(answer.body.get("user"), dict):
            answer.body = {**answer.body, "user": shapes.user(answer.body["user"])}
        return answer

    def _pull_envs(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project = self.project(params["project"], scope.query)
        target = unquote(params.get("target") or "development")
        branch = unquote(params["branch"]) if params.get("branch") else None
        values = pulled(self.stored_envs(project["id"], scope.query), target, branch)
        return Response(200, {"env": values, "buildEnv": values})

    def _list_custom_environments(
        self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]
    ) -> Response:
        # The Vercel CLI lists them before showing variables. Tests make them
        # (VercelApi.custom_environment); the limit is a Pro team's (one custom environment).
        project = self.project(params["project"], scope.query)
        environments = self.custom_environments.of_project(str(project["id"]))
        return Response(200, {"accountLimit": {"total": 1}, "environments": environments})

    def _get_project(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project = self.project(params["project"], scope.query)
        envs = self.stored_envs(project["id"], scope.query)
        shown = shapes.project(self._spec, project)
        targets = {k: v for k, v in (shown.get("targets") or {}).items() if k != "production"}
        served = self._served(project, scope)
        if served is not None:
            targets["production"] = shapes.project_deployment(served, shown)
            domain = self.serving.domain_of(project["id"])
            if domain is not None:
                targets["production"]["alias"] = [domain]
        shown["targets"] = targets
        shown["lastAliasRequest"] = self.production.last_request(project["id"])
        shown["autoAssignCustomDomains"] = self.production.automatic(project["id"])
        return Response(200, {**shown, "env": [present(env, decrypted=False) for env in envs]})

    def _update_project(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        """emulate's update, and automatic assignment of production domains, which it lacks."""
        project = self.project(params["project"], scope.query)
        body = self._json(request)
        if not isinstance(body, dict):
            raise bad_request("Invalid request: the body should be an object.")
        automatic = body.pop("autoAssignCustomDomains", None)
        if automatic is not None and not isinstance(automatic, bool):
            raise bad_request("Invalid request: `autoAssignCustomDomains` should be boolean.")
        if body:
            path = f"/v9/projects/{quote(str(project['id']), safe='')}"
            sent = self.upstream.request("PATCH", path, params=scope.query, json=body)
            if not sent.ok:
                return Response(sent.status, sent.body)
        if automatic is not None:
            self.production.set_automatic(str(project["id"]), automatic)
        shown = self._get_project(request, tenant, scope, {"project": str(project["id"])})
        shown.body = {k: v for k, v in shown.body.items() if k != "env"}
        return shown

    def _served(self, project: dict[str, Any], scope: Scope) -> dict[str, Any] | None:
        production = [d for d in self._deployments(project["id"], scope) if d.get("target") == "production"]
        return self.production.served(project["id"], production)

    def _deployments(self, project_id: str, scope: Scope, **query: str) -> list[dict[str, Any]]:
        """Every deployment of the project (newest first) as it stands now; emulate's
        ``until`` is inclusive, so items are told apart by id across pages."""
        found: list[dict[str, Any]] = []
        seen: set[str] = set()
        until: str | None = None
        while True:
            params = {**scope.query, **query, "projectId": project_id, "limit": "100"}
            page = {**params, **({"until": until} if until else {})}
            answer = self.upstream.request("GET", "/v6/deployments", params=page)
            if not answer.ok:
                raise EnvError(answer.status, "internal_server_error", f"emulate answered {answer.status}")
            fresh = [d for d in answer.body["deployments"] if d["uid"] not in seen]
            seen.update(d["uid"] for d in fresh)
            found += [self._standing(project_id, d) for d in fresh]
            following = answer.body["pagination"]["next"]
            if following is None or not fresh:
                return found
            until = str(following)

    def _standing(self, project_id: str, deployment: dict[str, Any]) -> dict[str, Any]:
        """The deployment as of now: its build timeline, and whether production serves it."""
        shown = self.builds.overlay(deployment)
        environment = self.custom_environments.of_deployment(str(deployment.get("uid") or deployment.get("id")))
        if environment is not None:
            shown["customEnvironment"] = environment
        # The name the deployment answers at (emulate's would be <name>-<id>.vercel.app).
        shown["url"] = self.serving.url_of(str(deployment.get("uid") or deployment.get("id"))) or shown.get("url")
        substate = self.production.substate(project_id, shown)
        rolling = self.knobs.rolling_release_seconds
        ready_at = shown.get("readyAt")
        if substate == "PROMOTED" and rolling and ready_at and self.builds.now() < float(ready_at) / 1000 + rolling:
            substate = "ROLLING"
        if substate is not None:
            shown["readySubstate"] = substate
        return shown

    def _promote(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        return self._point_production(scope, params, self.production.promote)

    def _rollback(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        return self._point_production(scope, params, self.production.rollback)

    def _point_production(self, scope: Scope, params: dict[str, str], how: Callable[..., str | None]) -> Response:
        project = self.project(params["project"], scope.query)
        deployment = next(
            (d for d in self._deployments(project["id"], scope) if d["uid"] == params["deployment"]), None
        )
        if deployment is None:
            raise _not_found("Deployment")
        current = self._served(project, scope)
        refused = how(project["id"], deployment, current["uid"] if current else None, int(time.time() * 1000))
        if refused is not None:
            raise bad_request(refused)
        # An empty JSON object: the Vercel CLI parses the answer of both as JSON.
        return Response(201, {})

    def _list_projects(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        # emulate lists projects at /v10 only; the Vercel CLI asks /v9 (the real API keeps both).
        upstream = self.upstream.request("GET", "/v10/projects", params=dict(request.query))
        answer = Response(upstream.status, upstream.body)
        if answer.status == 404 and not scope.query:
            # The token's personal account: emulate has no such scope, the real API lists
            # its projects (here: none, every project belongs to the tenant's team).
            return Response(200, {"projects": [], "pagination": {"count": 0, "next": None, "prev": None}})
        if answer.status == 200:
            projects = [shapes.project(self._spec, p) for p in answer.body["projects"]]
            answer.body = {**answer.body, "projects": projects}
        return answer

    def _create_project(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        body = self._json(request) if request.body else None
        if isinstance(body, dict) and body.get("gitRepository") is not None:
            # emulate would store "owner/name" as the repo with no org, and link to anything.
            body = {**body, "gitRepository": self.github_link(body["gitRepository"])}
            sent = self.upstream.request("POST", request.path, params=dict(request.query), json=body)
            answer = Response(sent.status, sent.body)
        else:
            answer = self._forward(request)
        if answer.status == 200:
            answer.body = shapes.project(self._spec, answer.body, "createProject")
        return answer

    # -- environment variables ------------------------------------------------------------------
    def _list_envs(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project = self.project(params["project"], scope.query)
        listed = self.stored_envs(project["id"], scope.query) + self.settling_envs(project["id"])
        envs = sorted(listed, key=lambda e: e.created_at, reverse=True)
        branch, target = request.param("gitBranch"), request.param("target")
        custom = request.param("customEnvironmentId")
        if branch:
            envs = [e for e in envs if e.git_branch == branch]
        if target:
            envs = [e for e in envs if target in e.target]
        if custom:
            envs = [e for e in envs if custom in e.custom_environment_ids]
        until, since = request.param("until"), request.param("since")
        if until:
            envs = [e for e in envs if e.created_at < int(until)]
        if since:
            envs = [e for e in envs if e.created_at > int(since)]
        limit = request.param("limit")
        following: int | None = None
        if limit:
            size = max(1, min(100, int(limit)))
            if len(envs) > size:
                envs = envs[:size]
                following = envs[-1].created_at
        decrypt = (request.param("decrypt") or "").lower() in TRUE_VALUES
        pagination = {"count": len(envs), "next": following, "prev": envs[0].created_at if envs else None}
        response = Response(200, {"envs": [present(e, decrypted=decrypt) for e in envs], "pagination": pagination})
        if decrypt and any(e.type == "sensitive" for e in envs):
            response.notes["decrypt_sensitive"] = True
        return response

    def _create_envs(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project = self.project(params["project"], scope.query)
        raw = self._json(request)
        many = isinstance(raw, list)
        if many and not raw:
            raise bad_request("Invalid request: the body should NOT have fewer than 1 items.")
        items = [parse_create_item(item) for item in (raw if many else [raw])]
        upsert = (request.param("upsert") or "").lower() in TRUE_VALUES
        created: list[EnvVar] = []
        failed: list[EnvError] = []
        branch_rules = self.branch_rules(project)
        with self._writing(project["id"], "created"):
            existing = self.stored_envs(project["id"], scope.query)
            settling = self.settling_envs(project["id"])
            for item in items:
                try:
                    check_rules(item)
                    branch_rules(item)
                    clash = find_conflict(item, existing) or find_conflict(item, settling)
                    if clash is not None and (not upsert or clash in settling):
                        raise conflict_error(self.knobs.conflict_style, item, clash)
                    if clash is not None:
                        # The spec: with upsert=true "the existing variable's value will be
                        # updated". Its value only: type, comment and placement stay as they were
                        # (emulate would rewrite every field, which is the kinder reading).
                        kept = apply_patch(clash, {"value": item.value})
                        env = self._store(project["id"], scope, kept.to_emulate(), clash.id)
                        existing = [env if e.id == clash.id else e for e in existing]
                    else:
                        env = self._store(project["id"], scope, item.to_emulate(), None)
                        existing.append(env)
                    created.append(env)
                except EnvError as error:
                    failed.append(error)
        if not many and failed:
            raise failed[0]
        failures = [{"error": error.error()} for error in failed]
        if not created:
            return Response(
                400,
                {
                    "error": {"code": "BAD_REQUEST", "message": "No environment variables were created"},
                    "failed": failures,
                },
            )
        shown = [present(env, decrypted=False) for env in created]
        return Response(201, {"created": shown if many else shown[0], "failed": failures})

    def _store(self, project_id: str, scope: Scope, body: dict[str, Any], env_id: str | None) -> EnvVar:
        base = f"/v10/projects/{quote(project_id, safe='')}/env"
        if env_id is None:
            answer = self.upstream.request("POST", base, params=scope.query, json=body)
            raw = answer.body["envs"][0] if answer.ok else None
        else:
            answer = self.upstream.request(
                "PATCH",
                f"/v9/projects/{quote(project_id, safe='')}/env/{quote(env_id, safe='')}",
                params=scope.query,
                json=body,
            )
            raw = answer.body if answer.ok else None
        if raw is None:
            raise EnvError(500, "internal_server_error", f"emulate refused the write: {answer.status}")
        return EnvVar.from_emulate(raw)

    def _find_env(self, project_id: str, scope: Scope, env_id: str) -> tuple[EnvVar, list[EnvVar]]:
        envs = self.stored_envs(project_id, scope.query)
        for env in envs:
            if env.id == env_id:
                return env, envs
        raise _not_found("Environment Variable")

    def _get_env(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project = self.project(params["project"], scope.query)
        env, _ = self._find_env(project["id"], scope, params["env"])
        response = Response(200, present(env, decrypted=True, include_value=env.type != "sensitive"))
        if env.type == "sensitive":
            response.notes["decrypt_sensitive"] = True
        return response

    def _edit(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project = self.project(params["project"], scope.query)
        raw = self._json(request)
        with self._writing(project["id"], "updated"):
            current, envs = self._find_env(project["id"], scope, params["env"])
            wanted = apply_patch(current, raw)
            check_rules(wanted)
            # Checked for the variable the edit makes, its branch unchanged or not (the real
            # API's answer to an edit of a variable whose branch is gone is unconfirmed).
            self.branch_rules(project)(wanted)
            clash = find_conflict(wanted, envs, exclude_id=current.id)
            if clash is not None:
                raise conflict_error(self.knobs.conflict_style, wanted, clash)
            updated = self._store(project["id"], scope, wanted.to_emulate(), current.id)
        return Response(200, present(updated, decrypted=False))

    def _rm(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project = self.project(params["project"], scope.query)
        with self._writing(project["id"], "removed"):
            current, _ = self._find_env(project["id"], scope, params["env"])
            self._delete_env(project["id"], scope, current.id)
            self._settle_later(project["id"], current)
        return Response(200, present(current, decrypted=False))

    def _delete_env(self, project_id: str, scope: Scope, env_id: str) -> None:
        answer = self.upstream.request(
            "DELETE", f"/v9/projects/{quote(project_id, safe='')}/env/{quote(env_id, safe='')}", params=scope.query
        )
        if not answer.ok and answer.status != 404:
            raise EnvError(500, "internal_server_error", f"emulate refused the delete: {answer.status}")

    def _batch(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project = self.project(params["project"], scope.query)
        raw = self._json(request)
        ids = raw.get("ids") if isinstance(raw, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids) or not 1 <= len(ids) <= 1000:
            raise bad_request("Invalid request: `ids` should be an array of 1 to 1000 strings.")
        with self._writing(project["id"], "removed"):
            stored = {env.id: env for env in self.stored_envs(project["id"], scope.query)}
            deleted = [env_id for env_id in dict.fromkeys(ids) if env_id in stored]
            for env_id in deleted:
                self._delete_env(project["id"], scope, env_id)
                self._settle_later(project["id"], stored[env_id])
        return Response(200, {"deleted": len(deleted), "ids": deleted})

    # -- deployments ----------------------------------------------------------------------------
    def _get_deployment(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        answer = self._forward(request)
        if answer.status == 200:
            owner = self._owner(answer.body, scope)
            standing = self._standing(str(answer.body.get("projectId")), answer.body)
            standing["alias"] = self._aliases(standing, owner)
            answer.body = shapes.deployment(self._spec, standing, "getDeployment", owner)
            team = self.upstream.request("GET", f"/v2/teams/{quote(owner, safe='')}")
            if team.ok:
                # A team's deployment names its team (the Vercel CLI's rollback checks it).
                found = team.body.get("team", team.body)
                answer.body["team"] = {
                    "id": found["id"],
                    "name": found.get("name") or found["slug"],
                    "slug": found["slug"],
                }
        return answer

    def _owner(self, deployment: dict[str, Any], scope: Scope) -> str:
        try:
            return str(self.project(str(deployment.get("projectId")), scope.query)["accountId"])
        except EnvError:
            return scope.query.get("teamId", "")

    def _list_deployments(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        project_ref = request.param("projectId")
        if not project_ref:
            answer = self.upstream.request("GET", request.path, params=dict(request.query))
            if answer.status != 200:
                return Response(answer.status, answer.body)
            shown = [
                shapes.listed_deployment(self._standing(str(d.get("projectId")), d)) for d in answer.body["deployments"]
            ]
            return Response(200, {**answer.body, "deployments": self._filtered(request, shown)})
        # emulate ignores ``branch``, filters before the build timeline is laid over, and knows
        # a project only by id: the whole list is filtered here, then cut to one page.
        project = self.project(project_ref, scope.query)
        narrowing = {k: v for k in ("target", "since") if (v := request.param(k))}
        found = [shapes.listed_deployment(d) for d in self._deployments(project["id"], scope, **narrowing)]
        until = request.param("until")
        if until:
            found = [d for d in found if float(d.get("created") or 0) <= float(until)]
        found = self._filtered(request, found)
        limit = min(100, max(1, int(request.param("limit") or 20)))
        page = found[:limit]
        pagination = {
            "count": len(page),
            "next": page[-1]["created"] if len(found) > limit and page else None,
            "prev": page[0]["created"] if page else None,
        }
        return Response(200, {"deployments": page, "pagination": pagination})

    @staticmethod
    def _filtered(request: Request, deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``state`` (any of a comma-separated list) and ``branch`` (the Git ref it was built from)."""
        state, branch = request.param("state"), request.param("branch")
        if state:
            wanted = {s.strip() for s in state.split(",")}
            deployments = [d for d in deployments if d.get("readyState") in wanted or d.get("state") in wanted]
        if branch:
            deployments = [d for d in deployments if shapes.git_ref(d) == branch]
        return deployments

    def _create_deployment(self, request: Request, tenant: Tenant, scope: Scope, params: dict[str, str]) -> Response:
        body = self._json(request)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise bad_request("Invalid request: missing required property `name`.")
        sent = dict(body)
        previous_id = body.get("deploymentId")
        if previous_id is not None:
            # A redeploy builds the old deployment's source again for its project; emulate
            # ignores deploymentId and would file the build under a project named `name`.
            previous = self.upstream.request(
                "GET", f"/v13/deployments/{quote(str(previous_id), safe='')}", params=scope.query
            )
            if previous.status == 404:
                raise _not_found("Deployment")
            old = previous.body
            sent = {
                "name": body["name"],
                "project": old["projectId"],
                "target": body.get("target"),  # omitted means preview, as in the real API
                "gitSource": body.get("gitSource") or old.get("gitSource"),
                "meta": {**(old.get("meta") or {}), **(body.get("meta") or {})},
            }
        # A redeploy's project is its old deployment's (in ``sent``), a new deployment's its own.
        environment = self._custom_environment_named(body, str(sent.get("project") or sent["name"]), scope)
        answer = self.upstream.request("POST", "/v13/deployments", params=scope.query, json=sent)
        if not answer.ok:
            return Response(answer.status, answer.body)
        deployment = answer.body
        if environment is not None:
            self.custom_environments.built_into(str(deployment["id"]), environment)
        self.builds.start(deployment["id"], queued_for=self.knobs.queue_seconds, build_seconds=self.knobs.build_seconds)
        if deployment.get("target") == "production":
            self.production.created(str(deployment.get("projectId")), str(deployment["id"]))
        # A redeploy builds its deployment's source again: the app it ran, not the knob's.
        app = (self.serving.app_of(str(previous_id)) if previous_id is not None else None) or self.knobs.serve_app
        self.serve_deployment(self.project(str(deployment["projectId"]), scope.query), deployment, scope.query, app)
        shown = self._standing(str(deployment.get("projectId")), deployment)
        return Response(200, shapes.deployment(self._spec, shown, "createDeployment", self._owner(deployment, scope)))

    def _custom_environment_named(self, body: dict[str, Any], project_ref: str, scope: Scope) -> dict[str, Any] | None:
        """The project's custom environment a create or redeploy names, which must exist."""
        named = body.get("customEnvironmentSlugOrId")
        if named is None:
            return None
        found = self.custom_environments.find(str(self.project(project_ref, scope.query)["id"]), str(named))
        if found is None:
            raise _not_found("Custom environment")
        return found

    # -- serving deployments (serving.py) ---------------------------------------------------------
    def serve_deployment(
        self, project: dict[str, Any], deployment: dict[str, Any], scope: dict[str, str], app: str | None
    ) -> Build:
        """Register a deployment just created (emulate's answer) with the edge: its name, its
        app, and the project's variables for its target and branch as they are now."""
        deployment_id = str(deployment.get("uid") or deployment.get("id"))
        slug = self._team_slug(str(project["accountId"]))
        target = str(deployment.get("target") or "preview")
        branch = shapes.git_ref(deployment)
        host = self.serving.host_for(str(project["name"]), deployment_id, slug)
        domain = self.serving.production_domain(str(project["id"]), str(project["name"]), slug)
        # Branch-scoped variables are preview variables: production reads none of them.
        reads_branch = branch if target != "production" else None
        env = runtime_env(self.stored_envs(str(project["id"]), scope), target, reads_branch)
        system = {
            "VERCEL": "1",
            "VERCEL_ENV": target if target in ("production", "preview") else "preview",
            "VERCEL_TARGET_ENV": target,
            "VERCEL_URL": host,
            "VERCEL_DEPLOYMENT_ID": deployment_id,
            "VERCEL_PROJECT_PRODUCTION_URL": domain,
            **({"VERCEL_GIT_COMMIT_REF": branch} if branch else {}),
        }
        build = Build(
            deployment_id=deployment_id,
            project_id=str(project["id"]),
            team_id=str(project["accountId"]),
            host=host,
            target=target,
            git_branch=branch,
            app=app,
            env={**env, **system},
            inspector_url=shapes.inspector_url(deployment),
        )
        self.serving.add(build, domain)
        return build

    def _team_slug(self, team_id: str) -> str:
        known = self._team_slugs.get(team_id)
        if known is None:
            answer = self.upstream.request("GET", f"/v2/teams/{quote(team_id, safe='')}")
            found = answer.body.get("team", answer.body) if answer.ok else {}
            known = str(found.get("slug") or team_id)
            self._team_slugs[team_id] = known
        return known

    def _state_of(self, build: Build) -> str | None:
        """The deployment's readyState now (None once deleted), for the edge."""
        answer = self.upstream.request(
            "GET", f"/v13/deployments/{quote(build.deployment_id, safe='')}", params={"teamId": build.team_id}
        )
        if answer.status == 404:
            return None
        return str(self.builds.overlay(answer.body).get("readyState") or "READY")

    def _production_of(self, project_id: str, team_id: str) -> str | None:
        served = self._served({"id": project_id}, Scope({"teamId": team_id}))
        return str(served["uid"]) if served is not None else None

    def _aliases(self, deployment: dict[str, Any], owner: str) -> list[str]:
        """The names that serve the deployment now: its own, and its project's production
        domain while production points at it."""
        names = [str(deployment["url"])] if deployment.get("url") else []
        project_id = str(deployment.get("projectId"))
        domain = self.serving.domain_of(project_id)
        if domain is not None and deployment.get("target") == "production":
            served = self._production_of(project_id, owner)
            if served == str(deployment.get("uid") or deployment.get("id")):
                names.append(domain)
        return names

    # -- admin routes (/_emulator/...) ------------------------------------------------------------------
    def admin(self, request: Request, action: str) -> Response | None:
        try:
            if action == "tenants" and request.method == "POST":
                payload = request.json() or {}
                token, tenant, team = self.add_tenant(payload.get("name"))
                return Response(
                    201, {"token": token, "name": tenant.name, "teamId": team["id"], "teamSlug": team["slug"]}
                )
            if action == "config" and request.method == "GET":
                return Response(200, self.knobs.to_json())
            if action == "config" and request.method == "POST":
                return Response(200, self.configure(**(request.json() or {})).to_json())
            if action == "clock" and request.method == "POST":
                seconds = (request.json() or {}).get("advance")
                if not isinstance(seconds, int | float) or seconds < 0:
                    raise ValueError('a JSON object {"advance": seconds, 0 or more}')
                self.clock.advance(float(seconds))
                return Response(200, {"skipped": self.clock.skipped})
            if action == "config" and request.method == "DELETE":
                self.reset_settings()
                return Response(200, self.knobs.to_json())
            if action == "env-vars" and request.method == "GET":
                scope = {k: v for k in ("teamId", "slug") if (v := request.param(k))}
                project = self.project(request.param("project") or "", scope)
                envs = self.stored_envs(project["id"], scope)
                return Response(200, [{**present(e, decrypted=True), "value": e.value} for e in envs])
        except (TypeError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        except EnvError as error:
            return Response(error.status, error.body())
        return None
