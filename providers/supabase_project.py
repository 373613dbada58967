"""Dynamic provider: one Supabase project, created or adopted, and its connection details.

Inputs say where the project lives; outputs carry everything an app needs to reach it
(hosts, the generated database password, API keys, the JWT secret), every secret one
marked as such. The access token comes from ``SUPABASE_ACCESS_TOKEN``, never an input.

Two ways to own a project:
- created: named deterministically by the stack; a run interrupted after the create call
  finds the project by name on the next run and adopts it instead of creating a second;
  its database password is then reset, since the generated one was lost with the run.
- adopted by ref (``adopt_ref``): read, never renamed, never deleted; its database
  password is the stack's ``db_password`` secret, because resetting it would cut off
  whatever already uses the project.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import pulumi
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from providers.supabase_access import TERMINAL, api_details, open_client, wait_until_healthy
from providers.supabase_database import SECRET_OUTPUTS, SupabaseDatabase

_REPLACE_ON = ("management_api", "organization", "region", "adopt_ref")
# What the API can change in place. (A new wait_timeout needs no call: it is read at the next wait.)
_UPDATABLE = ("name", "instance_size", "password_version", "db_password")
_DELETE_RETRY_SECONDS = 1.0
_CREATE_ATTEMPTS = 3
_CREATE_RETRY_SECONDS = 1.0


def _client(props: dict[str, Any]) -> Any:
    return open_client(str(props["management_api"]))


def _wait_until_healthy(client: Any, ref: str, timeout: float) -> Any:
    """The project once ACTIVE_HEALTHY (its last poll, so no extra call)."""
    latest: list[Any] = []

    def status() -> str:
        latest[:] = [client.get_project(ref)]
        return str(latest[0].status)

    wait_until_healthy(status, f"Supabase project {ref}", timeout, "the project is found by name, not created twice")
    return latest[0]


def _find_by_name(client: Any, organization: str, name: str) -> Any | None:
    matches = [p for p in client.list_organization_projects(organization, search=name) if p.name == name]
    return matches[0] if matches else None


def _connection_outputs(client: Any, project: Any) -> dict[str, Any]:
    """Everything the app needs that the API tells us about a healthy project."""
    return {
        **api_details(client, project.ref),
        "name": project.name,
        "status": project.status,
        "db_host": project.database.host,
        "jwt_secret": client.get_postgrest_config(project.ref).jwt_secret,
    }


class SupabaseProjectProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        if not news.get("adopt_ref"):
            name = str(news.get("name") or "")
            if not name.strip() or len(name) > 256:
                failures.append(CheckFailure("name", "a project name of 1 to 256 characters is required"))
            if not re.fullmatch(r"[\w-]+", str(news.get("organization") or "")):
                failures.append(CheckFailure("organization", "an organization slug is required"))
        elif not re.fullmatch(r"[a-z]{20}", str(news["adopt_ref"])):
            failures.append(CheckFailure("adopt_ref", "a project ref is 20 lowercase letters"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        timeout = float(props.get("wait_timeout") or 600)
        with _client(props) as client:
            if props.get("adopt_ref"):
                ref = str(props["adopt_ref"])
                project = _wait_until_healthy(client, ref, timeout)
                password = props.get("db_password")
                adopted = True
            else:
                password = secrets.token_urlsafe(32)
                adopted = False
                existing = _find_by_name(client, props["organization"], props["name"])
                if existing is not None:
                    # Ours, from a run that died before Pulumi recorded it; its password died too.
                    ref = existing.ref
                    pulumi.log.info(f"Supabase project {props['name']} exists ({ref}): adopting it, not a second")
                    project = _wait_until_healthy(client, ref, timeout)
                    client.update_database_password(ref, password)
                else:
                    ref = _create(client, props, password)
                    try:
                        project = _wait_until_healthy(client, ref, timeout)
                    except RuntimeError as exc:
                        if client.get_project(ref).status not in TERMINAL:
                            raise
                        # A project that failed to start is of no use to anyone: leave nothing behind.
                        _delete(client, ref, timeout)
                        raise RuntimeError(
                            f"{exc}; it was deleted again, so nothing is left behind: run `pulumi up` again to "
                            "create a new one"
                        ) from None
            outs = {**props, **_connection_outputs(client, project), "db_password": password, "adopted": adopted}
        return CreateResult(id_=ref, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if olds.get(key) != news.get(key)]
        # db_password is an input only for an adopted project; a created one's is generated (an output).
        updatable = [key for key in _UPDATABLE if key != "db_password" or news.get("adopt_ref")]
        changed = replaces or [key for key in updatable if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = {**olds, **news, "adopted": olds.get("adopted", False)}
        with _client(news) as client:
            if outs["adopted"]:
                # Someone else's project: never renamed or resized; its password is the stack's setting.
                outs["db_password"] = news.get("db_password")
            else:
                if olds.get("name") != news.get("name"):
                    client.rename_project(id_, news["name"])
                if news.get("instance_size") and olds.get("instance_size") != news.get("instance_size"):
                    client.set_compute_size(id_, news["instance_size"])
                outs["db_password"] = olds["db_password"]
                if olds.get("password_version") != news.get("password_version"):
                    outs["db_password"] = secrets.token_urlsafe(32)
                    client.update_database_password(id_, outs["db_password"])
            outs.update(_connection_outputs(client, client.get_project(id_)))
        return UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from providers.clients.http import NotFound

        with _client(props) as client:
            try:
                # Keys, hosts and status as they are now, so `pulumi refresh` shows any drift.
                return ReadResult(id_=id_, outs={**props, **_connection_outputs(client, client.get_project(id_))})
            except NotFound:
                return ReadResult(id_="", outs={})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            return  # adopted projects belong to someone else: the stack only forgets them
        with _client(props) as client:
            _delete(client, id_, float(props.get("wait_timeout") or 600))


def _create(client: Any, props: dict[str, Any], password: str) -> str:
    """POST the project. A failed answer may hide a created project, so look for it by name
    first; only after a 500 (the server finished with the request) and nothing found is the
    create repeated. A lost answer (a reset, a timeout) is never repeated blindly: the server
    may still be creating the project, which the next run then finds by name."""
    from providers.clients.http import ApiError

    name = props["name"]
    for attempt in range(1, _CREATE_ATTEMPTS + 1):
        try:
            created = client.create_project(
                name=name,
                organization_slug=props["organization"],
                db_pass=password,
                region=props.get("region"),
                desired_instance_size=props.get("instance_size"),
            )
            return str(created.ref)
        except ApiError as exc:
            if exc.status is not None and exc.status < 500:
                raise
            # We looked before creating, so a project of this name now is the one this call made.
            found = _find_by_name(client, props["organization"], name)
            if found is not None:
                answer = f"a {exc.status} answer" if exc.status else "no answer"
                pulumi.log.info(f"creating {name} got {answer}, but it was created as {found.ref}: using it")
                return str(found.ref)
            if exc.status != 500 or attempt == _CREATE_ATTEMPTS:
                raise RuntimeError(
                    f"creating Supabase project {name} failed ({exc}) and no project of that name exists yet; "
                    "run `pulumi up` again: it adopts the project if Supabase made it after all, and creates "
                    "it otherwise"
                ) from None
            pulumi.log.info(f"creating Supabase project {name} failed with {exc.status} and none exists: trying again")
            time.sleep(_CREATE_RETRY_SECONDS * attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _delete(client: Any, ref: str, timeout: float) -> None:
    from providers.clients.http import ApiError, NotFound

    deadline = time.monotonic() + timeout
    while True:
        try:
            client.delete_project(ref)
            return
        except NotFound:
            return
        except ApiError as exc:
            # "Project not ready for deletion." while it is still provisioning.
            if exc.status != 400 or time.monotonic() > deadline:
                raise
        time.sleep(_DELETE_RETRY_SECONDS)


class SupabaseProject(SupabaseDatabase, module="supabase", name="Project"):
    adopted: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        management_api: str,
        organization: str | None,
        project_name: str,
        region: str | None,
        instance_size: str | None,
        adopt_ref: str | None = None,
        db_password: pulumi.Input[str] | None = None,
        password_version: int = 0,
        wait_timeout: float = 600,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "management_api": management_api,
            "organization": organization,
            "name": project_name,
            "region": region,
            "instance_size": instance_size,
            "adopt_ref": adopt_ref,
            "db_password": pulumi.Output.secret(db_password) if db_password is not None else None,
            "password_version": password_version,
            "wait_timeout": wait_timeout,
        }
        for output in (
            "ref",
            "status",
            "db_host",
            "db_name",
            "pooler_host",
            "pooler_port",
            "pooler_user",
            "api_url",
            "anon_key",
            "service_role_key",
            "publishable_key",
            "secret_key",
            "jwt_secret",
            "adopted",
        ):
            props.setdefault(output, None)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
        super().__init__(SupabaseProjectProvider(), name, props, opts)
