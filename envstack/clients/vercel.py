"""A typed client of the Vercel REST API (the project, env and deployment calls envstack makes).

Shapes follow the official OpenAPI spec (tests/reference/specs/vercel-api.json); models ignore fields
we don't use, so additions on Vercel's side never break a deploy. Every request carries the
team scope (``teamId=`` for ``team_…`` ids, ``slug=`` otherwise). Every variable value the
client sends or receives is registered with the transport, so no error can ever print it.

Vercel answers concurrent env writes on one project with 400 "ongoing env update is already
happening": nothing was written, so the shared layer retries it with backoff like a 429.

No create (a project, a batch of variables, a redeploy) is repeated here after a 5xx or a lost
answer: it may have taken effect. The providers repeat it through ``create_once``, after
looking for what the failed call made: a project by name, variables by key and scope, a
redeploy by the marker it carries in its ``meta`` (``find_redeploy``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from envstack.api_urls import VERCEL_API_URL
from envstack.clients.http import ApiClient, RetryPolicy, ServiceClient
from envstack.errors import ApiError, EnvConflict, NotFound, ProjectNameTaken, ResourceError

DEFAULT_BASE_URL = VERCEL_API_URL
# Codes Vercel (and its legacy API, and its shared-env API) use for "a variable with this
# key already exists for an overlapping target and branch".
CONFLICT_CODES = frozenset({"ENV_CONFLICT", "ENV_ALREADY_EXISTS", "EXISTING_KEY_AND_TARGET"})
_CONFLICT_STATUSES = frozenset({400, 403, 409})
_BUSY = re.compile(r"ongoing\b.*\bupdate is already happening", re.IGNORECASE)
_NAMED_KEY = re.compile(r"name `([^`]+)`")
_BATCH_DELETE_LIMIT = 1000
_MAX_PAGES = 1000
# The meta key of the one-off value a redeploy carries, so it can be found after a lost answer.
REDEPLOY_MARKER = "envstackRedeploy"
# The meta key naming which variables a redeploy was made to read (a digest of them): a build
# that already reads them is not rebuilt again (a staged rebuild promoted by hand, a branch
# whose rebuild went through in a run that failed on another).
REDEPLOY_READS = "envstackReads"
# The most deployments one list call returns (the API caps ``limit`` at 100).
_LIST_LIMIT = 100


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)


class GitLink(_Model):
    """The Git repository a project is connected to (``link`` in a project's answer)."""

    type: str | None = None
    org: str | None = None
    repo: str | None = None
    production_branch: str | None = Field(default=None, alias="productionBranch")


class Project(_Model):
    id: str
    name: str
    account_id: str | None = Field(default=None, alias="accountId")
    link: GitLink | None = None


class EnvVar(_Model):
    """One variable as Vercel reports it. ``value`` is absent or opaque unless decrypted."""

    id: str
    key: str
    type: str
    target: list[str] = Field(default_factory=list)
    git_branch: str | None = Field(default=None, alias="gitBranch")
    custom_environment_ids: list[str] = Field(default_factory=list, alias="customEnvironmentIds")
    value: str | None = Field(default=None, repr=False)
    decrypted: bool | None = None
    comment: str | None = None
    # Milliseconds since the epoch, as Vercel reports them.
    created_at: float | None = Field(default=None, alias="createdAt")
    updated_at: float | None = Field(default=None, alias="updatedAt")

    @field_validator("target", mode="before")
    @classmethod
    def _target_list(cls, value: Any) -> Any:
        # The API sends either one target or a list of them.
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("git_branch", mode="before")
    @classmethod
    def _no_empty_branch(cls, value: Any) -> Any:
        return value or None

    @field_validator("custom_environment_ids", mode="before")
    @classmethod
    def _ids_list(cls, value: Any) -> Any:
        return value or []


@dataclass(frozen=True)
class NewEnv:
    """One variable to write with ``create_env``."""

    key: str
    value: str = field(repr=False)
    type: str
    target: Sequence[str] = ()
    git_branch: str | None = None
    custom_environment_ids: Sequence[str] = ()
    comment: str | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"key": self.key, "value": self.value, "type": self.type}
        if self.target:
            body["target"] = list(self.target)
        if self.custom_environment_ids:
            body["customEnvironmentIds"] = list(self.custom_environment_ids)
        if self.git_branch:
            body["gitBranch"] = self.git_branch
        if self.comment:
            body["comment"] = self.comment
        return body


class EnvFailure(_Model):
    """One entry of the ``failed`` list of a create: which key, and why."""

    code: str = ""
    message: str = ""
    key: str | None = None
    env_var_key: str | None = Field(default=None, alias="envVarKey")
    env_var_id: str | None = Field(default=None, alias="envVarId")

    @property
    def name(self) -> str | None:
        return self.key or self.env_var_key


@dataclass(frozen=True)
class Production:
    """What a project's production domains point at now (``targets.production``), whether an
    Instant Rollback put it there, and whether new production builds are served
    (``autoAssignCustomDomains``: an Instant Rollback turns it off, and a team that promotes by
    hand keeps it off; Vercel then stages new production builds)."""

    served: Deployment | None
    rolled_back: bool
    automatic: bool = True


@dataclass(frozen=True)
class CreatedEnvs:
    created: list[EnvVar]
    failed: list[EnvFailure]


class Deployment(_Model):
    id: str = Field(validation_alias=AliasChoices("id", "uid"))
    name: str | None = None
    url: str | None = None
    ready_state: str | None = Field(default=None, validation_alias=AliasChoices("readyState", "state"))
    target: str | None = None
    created: float | None = Field(default=None, validation_alias=AliasChoices("created", "createdAt"))
    ready_at: float | None = Field(default=None, validation_alias=AliasChoices("ready", "readyAt"))
    inspector_url: str | None = Field(default=None, alias="inspectorUrl")
    error_message: str | None = Field(default=None, alias="errorMessage")
    meta: dict[str, Any] = Field(default_factory=dict)
    custom_environment_id: str | None = None
    # PROMOTED (serving production, or did), STAGED (a production build the domains do not
    # point at: automatic assignment is off after an Instant Rollback), ROLLING.
    ready_substate: str | None = Field(default=None, alias="readySubstate")

    @field_validator("meta", mode="before")
    @classmethod
    def _meta_map(cls, value: Any) -> Any:
        return value if isinstance(value, Mapping) else {}

    @property
    def finished(self) -> float:
        """When it became ready (when it was created, if the answer does not say): what a
        target's domains follow, as Vercel assigns them to the build that finishes last."""
        return self.ready_at or self.created or 0.0

    @property
    def git_branch(self) -> str | None:
        """The branch it was built from, as its meta records it for each Git provider."""
        for key in ("githubCommitRef", "gitlabCommitRef", "bitbucketCommitRef"):
            if isinstance(self.meta.get(key), str):
                return str(self.meta[key])
        return None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> Deployment:
        deployment = cls.model_validate(body)
        custom = body.get("customEnvironment")
        if isinstance(custom, Mapping) and isinstance(custom.get("id"), str):
            deployment.custom_environment_id = custom["id"]
        return deployment


def _busy(response: httpx.Response) -> bool:
    if response.status_code != 400:
        return False
    try:
        body = response.json()
    except ValueError:
        return bool(_BUSY.search(response.text))
    error = body.get("error") if isinstance(body, Mapping) else None
    message = error.get("message") if isinstance(error, Mapping) else None
    return isinstance(message, str) and bool(_BUSY.search(message))


def _as_conflict(error: ApiError) -> EnvConflict | None:
    if error.status not in _CONFLICT_STATUSES:
        return None
    code = (error.code or "").upper()
    if code not in CONFLICT_CODES and "already exist" not in error.message.lower():
        return None
    keys: list[str] = []
    body: Mapping[str, Any] = error.body if isinstance(error.body, Mapping) else {}
    details = body.get("error")
    if isinstance(details, Mapping):
        keys += [details[n] for n in ("key", "envVarKey") if isinstance(details.get(n), str)]
    for failure in body.get("failed") or []:
        entry = failure.get("error") if isinstance(failure, Mapping) else None
        if isinstance(entry, Mapping):
            keys += [entry[n] for n in ("key", "envVarKey") if isinstance(entry.get(n), str)]
    if not keys:
        keys = _NAMED_KEY.findall(error.message)
    return EnvConflict(error, keys)


_EDITABLE = {
    "key": "key",
    "value": "value",
    "type": "type",
    "target": "target",
    "git_branch": "gitBranch",
    "comment": "comment",
    "custom_environment_ids": "customEnvironmentIds",
}


class VercelClient(ServiceClient):
    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        token: str,
        team: str | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._scope: dict[str, str] = {}
        if team:
            self._scope = {"teamId": team} if team.startswith("team_") else {"slug": team}
        self._api = ApiClient(
            service="vercel",
            base_url=base_url,
            token=token,
            retry=retry,
            transport=transport,
            sleep=sleep,
            clock=clock,
            retry_when=_busy,
        )

    def redact(self, text: str) -> str:
        return self._api.redact(text)

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        response = self._api.request(method, path, params={**(params or {}), **self._scope}, **kwargs)
        return response.json() if response.content else None

    def _learn(self, envs: Iterable[EnvVar]) -> None:
        for env in envs:
            self._api.add_secret(env.value)

    # projects

    def get_project(self, id_or_name: str) -> Project:
        """The project; ``NotFound`` when there is none by that id or name."""
        return Project.model_validate(self._call("GET", f"/v9/projects/{id_or_name}"))

    def create_project(self, name: str, *, framework: str | None = None) -> Project:
        """Create a project; ``ProjectNameTaken`` when the name is already in use."""
        body: dict[str, Any] = {"name": name}
        if framework:
            body["framework"] = framework
        try:
            return Project.model_validate(self._call("POST", "/v11/projects", json=body, expected=(200, 201)))
        except ApiError as exc:
            if exc.status == 409:
                raise ProjectNameTaken(
                    service=exc.service,
                    method=exc.method,
                    path=exc.path,
                    status=exc.status,
                    message=exc.message,
                    code=exc.code,
                    body=exc.body,
                ) from None
            raise

    def delete_project(self, id_or_name: str) -> None:
        try:
            self._call("DELETE", f"/v9/projects/{id_or_name}")
        except NotFound:
            return

    # environment variables

    def list_env(self, project_id: str, *, git_branch: str | None = None) -> list[EnvVar]:
        """Every variable of the project (values opaque), following ``pagination.next``."""
        envs: list[EnvVar] = []
        params: dict[str, Any] = {}
        if git_branch:
            params["gitBranch"] = git_branch
        cursors: set[Any] = set()
        ids: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = self._call("GET", f"/v10/projects/{project_id}/env", params=params)
            if isinstance(page, Mapping) and "envs" in page:
                batch = [EnvVar.model_validate(e) for e in page.get("envs") or []]
                pagination = page.get("pagination")
                following = pagination.get("next") if isinstance(pagination, Mapping) else None
            else:
                # The spec also allows a bare variable for this call.
                batch = [EnvVar.model_validate(page)] if page else []
                following = None
            # A cursor that includes its own moment (variables written together share one)
            # gives a page's last variables again.
            fresh = [e for e in batch if e.id not in ids]
            ids.update(e.id for e in fresh)
            self._learn(fresh)
            envs += fresh
            if following is None or not batch:
                return envs
            if following in cursors:
                # A part of the list taken for the whole would make variables look deleted.
                raise ResourceError(
                    f"Vercel project {project_id}: the env list's pages did not move past {following}; refusing to "
                    "act on part of the list"
                )
            cursors.add(following)
            params["until"] = following
        raise ResourceError(f"Vercel project {project_id}: env list did not end after {_MAX_PAGES} pages")

    def create_env(self, project_id: str, items: Sequence[NewEnv], *, upsert: bool) -> CreatedEnvs:
        """Write ``items`` in one call. Per-item failures come back in ``failed``, not as errors.

        With ``upsert``, an item whose key, target and branch match an existing variable
        updates that variable in place (same id, a later ``updatedAt``); the spec does not say
        whether ``created`` then lists it, so callers must not count on it.

        A 5xx or a lost answer is raised, not repeated: the call may have written some or all
        of ``items``, and only the caller knows which variables were there before it.
        """
        for item in items:
            self._api.add_secret(item.value)
        params = {"upsert": "true"} if upsert else {}
        try:
            answer = self._call(
                "POST",
                f"/v10/projects/{project_id}/env",
                params=params,
                json=[item.body() for item in items],
                expected=(200, 201),
            )
        except ApiError as exc:
            if isinstance(exc.body, Mapping) and isinstance(exc.body.get("failed"), list):
                # "No environment variables were created": the same per-key report as a 201.
                answer = exc.body
            else:
                raise _as_conflict(exc) or exc from None
        answer = answer or {}
        created_raw = answer.get("created")
        if isinstance(created_raw, Mapping):
            created_raw = [created_raw]
        created = [EnvVar.model_validate(e) for e in created_raw or []]
        self._learn(created)
        failed = [EnvFailure.model_validate(f.get("error") or {}) for f in answer.get("failed") or []]
        for failure in failed:
            failure.message = self._api.redact(failure.message)
        return CreatedEnvs(created=created, failed=failed)

    def edit_env(self, project_id: str, env_id: str, **fields: Any) -> EnvVar:
        """PATCH only the given fields (key, value, type, target, git_branch, comment,
        custom_environment_ids): the API refuses any other property."""
        unknown = set(fields) - set(_EDITABLE)
        if unknown:
            raise TypeError(f"edit_env cannot change {', '.join(sorted(unknown))}")
        if isinstance(fields.get("value"), str):
            self._api.add_secret(fields["value"])
        body = {_EDITABLE[name]: value for name, value in fields.items()}
        try:
            # Setting the same fields twice is harmless, so a lost answer may be retried.
            answer = self._call("PATCH", f"/v9/projects/{project_id}/env/{env_id}", json=body, retry_unsafe=True)
        except ApiError as exc:
            raise _as_conflict(exc) or exc from None
        env = EnvVar.model_validate(answer)
        self._learn([env])
        return env

    def get_env_decrypted(self, project_id: str, env_id: str) -> EnvVar:
        """One variable with its value. Never call it for a sensitive variable."""
        env = EnvVar.model_validate(self._call("GET", f"/v1/projects/{project_id}/env/{env_id}"))
        self._learn([env])
        return env

    def delete_envs(self, project_id: str, ids: Sequence[str]) -> list[str]:
        """Delete ``ids`` in batches; ids (or a project) already gone are not an error."""
        deleted: list[str] = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), _BATCH_DELETE_LIMIT):
            chunk = unique[start : start + _BATCH_DELETE_LIMIT]
            try:
                answer = self._call("DELETE", f"/v1/projects/{project_id}/env", json={"ids": chunk})
            except NotFound:
                continue
            if isinstance(answer, Mapping):
                deleted += [i for i in answer.get("ids") or [] if isinstance(i, str)]
        return deleted

    # deployments

    def list_deployments(
        self,
        project_id: str,
        *,
        target: str | None = None,
        branch: str | None = None,
        state: str | None = None,
        since: int | None = None,
        limit: int = 20,
    ) -> list[Deployment]:
        """The newest deployments of a project (newest first), one page; ``since`` (ms since
        the epoch) leaves out those created at or before it."""
        pages = self.deployment_pages(
            project_id, target=target, branch=branch, state=state, since=since, limit=limit, pages=1
        )
        return next(pages, [])

    def deployment_pages(
        self,
        project_id: str,
        *,
        target: str | None = None,
        branch: str | None = None,
        state: str | None = None,
        since: int | None = None,
        limit: int = _LIST_LIMIT,
        pages: int = _MAX_PAGES,
    ) -> Iterator[list[Deployment]]:
        """The project's deployments, newest first, a page of ``limit`` at a time as the caller
        reads on (``pagination.next`` as ``until``), at most ``pages`` pages; the filters as in
        ``list_deployments``. Stop reading to stop listing."""
        params: dict[str, Any] = {"projectId": project_id, "limit": limit}
        filters = {"target": target, "branch": branch, "state": state, "since": since}
        params.update({key: value for key, value in filters.items() if value is not None and value != ""})
        seen: set[str] = set()
        cursors: set[Any] = set()
        for _ in range(pages):
            answer = self._call("GET", "/v6/deployments", params=params) or {}
            # ``until`` may include its own moment (deployments made in the same millisecond):
            # one already read comes again and is told apart by its id.
            fresh = [d for d in (Deployment.parse(r) for r in answer.get("deployments") or []) if d.id not in seen]
            seen.update(d.id for d in fresh)
            if fresh:
                yield fresh
            pagination = answer.get("pagination")
            following = pagination.get("next") if isinstance(pagination, Mapping) else None
            if following is None or not fresh or following in cursors:
                return
            cursors.add(following)
            params["until"] = following

    def production(self, project_id: str) -> Production:
        """The deployment serving the project's production domains (after promotions and
        Instant Rollbacks), from the project's ``targets.production``."""
        body = self._call("GET", f"/v9/projects/{project_id}") or {}
        entry = (body.get("targets") or {}).get("production")
        served = Deployment.parse(entry) if isinstance(entry, Mapping) and entry.get("id") else None
        request = body.get("lastAliasRequest")
        rolled_back = isinstance(request, Mapping) and request.get("type") == "rollback"
        return Production(served, rolled_back, body.get("autoAssignCustomDomains") is not False)

    def get_deployment(self, deployment_id: str) -> Deployment:
        return Deployment.parse(self._call("GET", f"/v13/deployments/{deployment_id}"))

    def redeploy(
        self,
        name: str,
        deployment_id: str,
        *,
        target: str | None = None,
        custom_environment: str | None = None,
        marker: str | None = None,
        reads: str | None = None,
    ) -> Deployment:
        """Rebuild ``deployment_id`` so it reads the current variables.

        ``target`` is ``production`` (or ``staging``); leave it out for a preview, and name a
        custom environment with ``custom_environment`` instead. ``marker`` (a one-off value)
        goes into the deployment's ``meta``, so ``find_redeploy`` can tell whether a call whose
        answer was lost started a build. Such a failure is raised, never repeated here: a
        gateway's 502 can come after the build started, and a repeat would build twice.
        ``reads`` (a digest of the variables the rebuild is for) goes into ``meta`` too.
        """
        meta = {"action": "redeploy"}
        if marker:
            meta[REDEPLOY_MARKER] = marker
        if reads:
            meta[REDEPLOY_READS] = reads
        body: dict[str, Any] = {"name": name, "deploymentId": deployment_id, "meta": meta}
        if target and target != "preview":
            body["target"] = target
        if custom_environment:
            body["customEnvironmentSlugOrId"] = custom_environment
        return Deployment.parse(self._call("POST", "/v13/deployments", params={"forceNew": "1"}, json=body))

    def find_redeploy(self, project_id: str, marker: str, *, since: int) -> Deployment | None:
        """The deployment of the project that ``redeploy(..., marker=marker)`` started, if any.

        Listed deployments carry their ``meta``; ``since`` (ms since the epoch, a little before
        the redeploy was asked for) keeps the search to recent deployments, every page of them:
        a busy project may have made more than a page's worth since, and a redeploy missed
        here would be asked for twice.
        """
        for page in self.deployment_pages(project_id, since=since):
            for deployment in page:
                if deployment.meta.get(REDEPLOY_MARKER) == marker:
                    return deployment
        return None
