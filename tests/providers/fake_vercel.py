"""An in-process, stateful stand-in for the Vercel REST API, served through httpx.MockTransport.

It routes by the official spec's operation ids and enforces the rules the real API has and
the providers rely on (shared/research/vercel.md): team scope on every call, the uniqueness
of key + overlapping target + branch, ``gitBranch`` only on preview, no sensitive variable on
development, sensitive values never returned, per-item ``failed`` entries in a batch create,
``upsert``, the "ongoing env update" rejection, and deployments that build through states.
Every 2xx body it sends and every request body it receives is checked against the spec;
anything off is collected in ``problems`` for the test to assert empty.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from envstack.clients import tokens
from envstack.clients.vercel import VercelClient
from tests.emulators.common.openapi import OpenApiSpec, load_spec, specs_dir

TARGETS = ("production", "preview", "development")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BUSY_MESSAGE = "The environment variable couldn't be created because an ongoing env update is already happening"


def vercel_spec() -> OpenApiSpec:
    return load_spec(specs_dir() / "vercel-api.json")


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, str]
    body: Any

    @property
    def writes_env(self) -> bool:
        return "/env" in self.path and self.method in {"POST", "PATCH", "DELETE"}


@dataclass
class FakeVercel:
    token: str
    team_id: str = "team_fakeTeam000000000001"
    team_slug: str = "fake-team"
    page_size: int = 25
    # Queued answers: how many env writes to reject as "ongoing env update" first.
    busy: int = 0
    # How many batch creates take effect but then answer 500 (as if the answer was lost).
    lose_answers: int = 0
    # key -> (code, message): items of a batch create that the API refuses.
    refuse: dict[str, tuple[str, str]] = field(default_factory=dict)
    # States a new deployment reports to successive GETs (the last one sticks).
    build_states: list[str] = field(default_factory=lambda: ["QUEUED", "BUILDING", "READY"])
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    envs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deployments: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    _now: int = 1_760_000_000_000

    # set-up helpers (what a person would do in the dashboard)

    def add_project(self, name: str) -> str:
        project_id = "prj_" + secrets.token_hex(12)
        self.projects[project_id] = {"id": project_id, "name": name}
        self.envs[project_id] = []
        return project_id

    def add_env(
        self,
        project_id: str,
        key: str,
        value: str,
        *,
        type_: str = "encrypted",
        target: list[str] | None = None,
        git_branch: str | None = None,
        custom_environment_ids: list[str] | None = None,
        comment: str | None = None,
    ) -> str:
        record = self._record(key, value, type_, target or [], git_branch, custom_environment_ids or [], comment)
        self.envs[project_id].append(record)
        return str(record["id"])

    def add_deployment(
        self,
        project_id: str,
        *,
        target: str | None = None,
        branch: str = "main",
        state: str = "READY",
        custom_environment: str | None = None,
    ) -> str:
        deployment_id = "dpl_" + secrets.token_hex(12)
        self.deployments[deployment_id] = {
            "id": deployment_id,
            "projectId": project_id,
            "name": self.projects[project_id]["name"],
            "target": target,
            "branch": branch,
            "customEnvironment": custom_environment,
            "states": [state],
            "created": self._tick(),
            "source": None,
        }
        return deployment_id

    # inspection helpers

    def env_of(self, project_id: str, key: str) -> list[dict[str, Any]]:
        return [r for r in self.envs[project_id] if r["key"] == key]

    def writes(self) -> list[Seen]:
        return [r for r in self.requests if r.writes_env]

    def calls(self, method: str, pattern: str) -> list[Seen]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def forget_requests(self) -> None:
        self.requests.clear()

    def client(self, api_url: str, team: str | None) -> VercelClient:
        """A stand-in for ``vercel_access.open_client``: the token still comes from VERCEL_TOKEN."""
        return VercelClient(
            base_url=api_url,
            token=tokens.vercel_token(),
            team=team,
            transport=httpx.MockTransport(self.handle),
            sleep=_no_wait,
        )

    # the API

    def handle(self, request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        body = json.loads(request.content) if request.content else None
        self.requests.append(Seen(request.method, request.url.path, params, body))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(403, "forbidden", "Not authorized")
        if params.get("teamId") != self.team_id and params.get("slug") != self.team_slug:
            self.problems.append(f"{request.method} {request.url.path} without this team's scope")
            return self._error(403, "forbidden", "You don't have permission to access this team")
        spec = vercel_spec()
        matched = spec.match(request.method, request.url.path)
        if matched is None:
            self.problems.append(f"{request.method} {request.url.path}: not in the spec")
            return self._error(404, "not_found", "The requested endpoint does not exist")
        operation, path_params = matched
        if body is not None:
            problems = spec.validate_request(operation, _masked(body))
            self.problems += [f"{operation.operation_id} request {p}" for p in problems]
        route: Callable[..., tuple[int, Any]] | None = getattr(self, f"_op_{operation.operation_id}", None)
        if route is None:
            self.problems.append(f"{operation.operation_id} is not served by the fake")
            return self._error(404, "not_found", "not served")
        if self.busy and operation.operation_id in {
            "createProjectEnv",
            "editProjectEnv",
            "batchRemoveProjectEnv",
            "removeProjectEnv",
        }:
            self.busy -= 1
            return self._error(400, "bad_request", _BUSY_MESSAGE)
        status, answer = route(params=params, body=body, **path_params)
        if self.lose_answers and operation.operation_id == "createProjectEnv":
            self.lose_answers -= 1
            return self._error(500, "internal_server_error", "An unexpected error occurred")
        if 200 <= status < 300:
            self.problems += spec.validate_response(request.method, request.url.path, status, _masked(answer))
        if answer is None:
            return httpx.Response(status)
        return httpx.Response(status, json=answer)

    @staticmethod
    def _error(status: int, code: str, message: str) -> httpx.Response:
        return httpx.Response(status, json=_error_body(code, message))

    # projects

    def _project(self, id_or_name: str) -> dict[str, Any] | None:
        if id_or_name in self.projects:
            return self.projects[id_or_name]
        return next((p for p in self.projects.values() if p["name"] == id_or_name), None)

    def _project_view(self, project: dict[str, Any]) -> dict[str, Any]:
        regions = {"functionDefaultRegions": ["iad1"]}
        return {
            "accountId": self.team_id,
            "directoryListing": False,
            "id": project["id"],
            "name": project["name"],
            "nodeVersion": "22.x",
            "resourceConfig": regions,
            "defaultResourceConfig": regions,
        }

    def _op_getProject(self, *, idOrName: str, **_: Any) -> tuple[int, Any]:
        project = self._project(idOrName)
        if project is None:
            return 404, _error_body("not_found", "Project not found")
        return 200, self._project_view(project)

    def _op_createProject(self, *, body: Any, **_: Any) -> tuple[int, Any]:
        if self._project(body["name"]) is not None:
            return 409, _error_body("conflict", "A project with the provided name already exists.")
        return 200, self._project_view(self.projects[self.add_project(body["name"])])

    def _op_deleteProject(self, *, idOrName: str, **_: Any) -> tuple[int, Any]:
        project = self._project(idOrName)
        if project is None:
            return 404, _error_body("not_found", "Project not found")
        del self.projects[project["id"]]
        del self.envs[project["id"]]
        return 204, None

    # environment variables

    def _tick(self) -> int:
        self._now += 1
        return self._now

    def _record(
        self,
        key: str,
        value: str,
        type_: str,
        target: list[str],
        git_branch: str | None,
        custom: list[str],
        comment: str | None,
    ) -> dict[str, Any]:
        now = self._tick()
        return {
            "id": secrets.token_urlsafe(12).replace("-", "x").replace("_", "y"),
            "key": key,
            "value": value,
            "type": type_,
            "target": list(target),
            "gitBranch": git_branch or None,
            "customEnvironmentIds": list(custom),
            "comment": comment,
            "createdAt": now,
            "updatedAt": now,
        }

    @staticmethod
    def _view(record: dict[str, Any], *, decrypted: bool = False) -> dict[str, Any]:
        view = {k: record[k] for k in ("id", "key", "type", "target", "customEnvironmentIds", "createdAt", "updatedAt")}
        view.update(configurationId=None, createdBy="usr_fake", updatedBy=None, decrypted=decrypted)
        if record["gitBranch"]:
            view["gitBranch"] = record["gitBranch"]
        if record["comment"]:
            view["comment"] = record["comment"]
        if record["type"] == "sensitive":
            view["value"] = ""  # never readable
        elif decrypted:
            view["value"] = record["value"]
        else:
            view["value"] = "enc:" + hashlib.sha256(record["value"].encode()).hexdigest()[:24]
        return view

    @staticmethod
    def _collides(a: dict[str, Any], b: dict[str, Any]) -> bool:
        overlap = set(a["target"]) & set(b["target"]) or set(a["customEnvironmentIds"]) & set(b["customEnvironmentIds"])
        return a["key"] == b["key"] and bool(overlap) and (a["gitBranch"] or None) == (b["gitBranch"] or None)

    def _invalid(self, record: dict[str, Any]) -> tuple[str, str] | None:
        if not _NAME.fullmatch(record["key"]):
            return "KEY_INVALID_CHARACTERS", "The name contains invalid characters."
        if not record["value"]:
            return "MISSING_VALUE", "A value is required."
        if not record["target"] and not record["customEnvironmentIds"]:
            return "MISSING_TARGET", "A target is required."
        if record["gitBranch"] and record["target"] != ["preview"]:
            return "bad_request", "Environment Variables with `gitBranch` can only be used with `target=preview`"
        if record["type"] == "sensitive" and "development" in record["target"]:
            return "bad_request", "Sensitive Environment Variables cannot target development"
        return None

    def _op_createProjectEnv(self, *, idOrName: str, params: dict[str, str], body: Any, **_: Any) -> tuple[int, Any]:
        project = self._project(idOrName)
        if project is None:
            return 404, _error_body("not_found", "Project not found")
        records = self.envs[project["id"]]
        upsert = params.get("upsert") == "true"
        single = isinstance(body, dict)
        created: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        for item in [body] if single else body:
            candidate = self._record(
                item["key"],
                item["value"],
                item["type"],
                list(item.get("target") or []),
                item.get("gitBranch"),
                list(item.get("customEnvironmentIds") or []),
                item.get("comment"),
            )
            problem = self.refuse.get(item["key"]) or self._invalid(candidate)
            if problem is not None:
                failed.append({"error": {"code": problem[0], "message": problem[1], "key": item["key"]}})
                continue
            existing = next((r for r in records if self._collides(r, candidate)), None)
            if existing is not None and not upsert:
                target_text = ", ".join(existing["target"] + existing["customEnvironmentIds"])
                failed.append(
                    {
                        "error": {
                            "code": "ENV_CONFLICT",
                            "message": f"A variable with the name `{item['key']}` already exists for the target "
                            f"{target_text}",
                            "key": item["key"],
                            "envVarKey": item["key"],
                            "envVarId": existing["id"],
                        }
                    }
                )
                continue
            if existing is not None:
                if existing["type"] == "sensitive" and candidate["type"] != "sensitive":
                    failed.append(
                        {
                            "error": {
                                "code": "bad_request",
                                "message": "Cannot un-sensitive a variable",
                                "key": item["key"],
                            }
                        }
                    )
                    continue
                for name in ("value", "type", "target", "gitBranch", "customEnvironmentIds", "comment"):
                    existing[name] = candidate[name]
                existing["updatedAt"] = self._tick()
                created.append(self._view(existing))
            else:
                records.append(candidate)
                created.append(self._view(candidate))
        if single and failed:
            error = failed[0]["error"]
            return 400, {"error": error}
        if not created and failed:
            return 400, _error_body("BAD_REQUEST", "No environment variables were created")
        answer = created[0] if single or len(created) == 1 else created
        return 201, {"created": answer, "failed": failed}

    def _op_filterProjectEnvs(self, *, idOrName: str, params: dict[str, str], **_: Any) -> tuple[int, Any]:
        project = self._project(idOrName)
        if project is None:
            return 404, _error_body("not_found", "Project not found")
        if "decrypt" in params:
            self.problems.append("env list asked for decrypted values (deprecated)")
        ordered = sorted(self.envs[project["id"]], key=lambda r: -int(r["createdAt"]))
        if "until" in params:
            ordered = [r for r in ordered if r["createdAt"] < float(params["until"])]
        page = ordered[: self.page_size]
        following = page[-1]["createdAt"] if len(ordered) > self.page_size else None
        pagination = {"count": len(page), "next": following, "prev": None}
        return 200, {"envs": [self._view(r) for r in page], "pagination": pagination}

    def _find_env(self, id_or_name: str, env_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        project = self._project(id_or_name)
        if project is None:
            return None, None
        return project, next((r for r in self.envs[project["id"]] if r["id"] == env_id), None)

    def _op_getProjectEnv(self, *, idOrName: str, id: str, **_: Any) -> tuple[int, Any]:
        _project, record = self._find_env(idOrName, id)
        if record is None:
            return 404, _error_body("not_found", "Environment Variable not found")
        if record["type"] == "sensitive":
            self.problems.append(f"asked to decrypt the sensitive variable {record['key']}")
            view = self._view(record)
            view.pop("value")
            return 200, view
        return 200, self._view(record, decrypted=True)

    def _op_editProjectEnv(self, *, idOrName: str, id: str, body: Any, **_: Any) -> tuple[int, Any]:
        project, record = self._find_env(idOrName, id)
        if project is None or record is None:
            return 404, _error_body("not_found", "Environment Variable not found")
        updated = dict(record)
        for name in ("key", "value", "type", "target", "gitBranch", "customEnvironmentIds", "comment"):
            if name in body:
                updated[name] = body[name]
        if record["type"] == "sensitive" and updated["type"] != "sensitive":
            return 400, _error_body("bad_request", "A sensitive Environment Variable cannot be made readable")
        problem = self._invalid(updated)
        if problem is not None:
            return 400, _error_body(*problem)
        others = [r for r in self.envs[project["id"]] if r["id"] != id]
        if any(self._collides(r, updated) for r in others):
            return 400, _error_body("ENV_CONFLICT", f"A variable with the name `{updated['key']}` already exists")
        record.update(updated, updatedAt=self._tick())
        return 200, self._view(record)

    def _op_batchRemoveProjectEnv(self, *, idOrName: str, body: Any, **_: Any) -> tuple[int, Any]:
        project = self._project(idOrName)
        if project is None:
            return 404, _error_body("not_found", "Project not found")
        wanted = set(body["ids"])
        gone = [r["id"] for r in self.envs[project["id"]] if r["id"] in wanted]
        self.envs[project["id"]] = [r for r in self.envs[project["id"]] if r["id"] not in wanted]
        return 200, {"deleted": len(gone), "ids": gone}

    # deployments

    def _deployment_view(self, deployment: dict[str, Any], *, full: bool) -> dict[str, Any]:
        state = deployment["states"][0]
        view: dict[str, Any] = {
            "name": deployment["name"],
            "projectId": deployment["projectId"],
            "url": f"{deployment['name']}-{deployment['id'][4:12]}.vercel.app",
            "type": "LAMBDAS",
            "creator": {"uid": "usr_fake"},
            "inspectorUrl": f"https://vercel.com/fake/{deployment['name']}/{deployment['id']}",
            "meta": {"githubCommitRef": deployment["branch"]},
            "target": deployment["target"],
            "readyState": state,
            "state": state,
        }
        if deployment["customEnvironment"]:
            view["customEnvironment"] = {"id": deployment["customEnvironment"]}
        if not full:
            view.update(uid=deployment["id"], created=deployment["created"])
            return view
        view.update(
            id=deployment["id"],
            status=state,
            createdAt=deployment["created"],
            build={"env": []},
            env=[],
            isInConcurrentBuildsQueue=False,
            isInSystemBuildsQueue=False,
            projectSettings={},
            aliasAssigned=state == "READY",
            bootedAt=deployment["created"],
            buildingAt=deployment["created"],
            buildSkipped=False,
            public=False,
            regions=["iad1"],
            version=2,
            plan="pro",
            createdIn="sfo1",
            ownerId=self.team_id,
            routes=None,
        )
        if state == "ERROR":
            view["errorMessage"] = 'Command "npm run build" exited with 1'
        if deployment["target"] is None:
            del view["target"]
        return view

    def _op_getDeployments(self, *, params: dict[str, str], **_: Any) -> tuple[int, Any]:
        found = [d for d in self.deployments.values() if d["projectId"] == params.get("projectId")]
        if "target" in params:
            found = [d for d in found if d["target"] == params["target"]]
        if "branch" in params:
            found = [d for d in found if d["branch"] == params["branch"]]
        if "state" in params:
            found = [d for d in found if d["states"][0] in params["state"].split(",")]
        found.sort(key=lambda d: -int(d["created"]))
        found = found[: int(float(params.get("limit", 20)))]
        pagination = {"count": len(found), "next": None, "prev": None}
        return 200, {"deployments": [self._deployment_view(d, full=False) for d in found], "pagination": pagination}

    def _op_getDeployment(self, *, idOrUrl: str, **_: Any) -> tuple[int, Any]:
        deployment = self.deployments.get(idOrUrl)
        if deployment is None:
            return 404, _error_body("not_found", "Deployment not found")
        if len(deployment["states"]) > 1:
            deployment["states"].pop(0)
        return 200, self._deployment_view(deployment, full=True)

    def _op_createDeployment(self, *, params: dict[str, str], body: Any, **_: Any) -> tuple[int, Any]:
        source = self.deployments.get(body.get("deploymentId", ""))
        if source is None:
            return 404, _error_body("not_found", "Deployment not found")
        if params.get("forceNew") != "1":
            self.problems.append("redeploy without forceNew=1")
        target = body.get("target")
        if target not in (None, "production", "staging"):
            return 400, _error_body("bad_request", f"Invalid target {target!r}")
        deployment_id = self.add_deployment(
            source["projectId"],
            target=target,
            branch=source["branch"],
            custom_environment=body.get("customEnvironmentSlugOrId"),
        )
        created = self.deployments[deployment_id]
        created["states"] = list(self.build_states)
        created["source"] = source["id"]
        return 200, self._deployment_view(created, full=True)


def _masked(body: Any) -> Any:
    """The body with every variable value replaced, so a problem report never prints one."""
    if isinstance(body, list):
        return [_masked(item) for item in body]
    if isinstance(body, dict):
        return {k: "<value>" if k == "value" and isinstance(v, str) else _masked(v) for k, v in body.items()}
    return body


def _error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def _no_wait(_seconds: float) -> None:
    return None


def new_token() -> str:
    return "vcp_" + secrets.token_urlsafe(24)
