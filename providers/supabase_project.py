"""Dynamic provider: one Supabase project, created or adopted, and its connection details.

Inputs say where the project lives; outputs carry everything an app needs to reach it
(hosts, the database password, API keys, the JWT secret), every secret one marked as such.
The access token comes from ``SUPABASE_ACCESS_TOKEN``, never an input.

Two ways to own a project:
- created: named by the stack, with a ``db_password`` the stack recorded before the create
  (a GeneratedSecret). A project of that name found later (a run died after the create call,
  or its answer was lost) is the stack's own only when that password opens its database
  (``supabase_ownership``); otherwise it is someone else's and check/create fail with one
  sentence naming it and the two ways out, having written nothing. ``check`` looks before
  any create, so ``pulumi preview`` reports such a collision.
- adopted by ref (``adopt_ref``): read, never renamed, resized or deleted; its database
  password is the stack's ``db_password`` setting, because resetting it would cut off
  whatever already uses the project.

Before a project is created, and whenever ``supabase:organization`` or ``supabase:apiUrl``
changes, ``check`` asks whether the token can see the organization (only the API knows which
exist) and fails with one sentence naming the setting when it cannot; an unchanged stack's
previews and updates ask nothing.

What identifies the project is its organization, region and (for an adopted one) ref;
changing one would replace it, which deletes a created project and its data. That needs
``allow_replace`` (``supabase:allowReplace``), and is refused at check otherwise. Where the
Management API lives (``management_api``) is not part of what exists: a new URL is recorded
without replacing anything.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.api_urls import same_api
from envstack.errors import CredentialError, ResourceError
from providers.declared import Inputs
from providers.supabase_access import TERMINAL, api_details, client_for, wait_seconds, wait_until_healthy
from providers.supabase_database import SupabaseDatabase
from providers.unknowns import is_unknown

# What the project is: a change replaces it (delete first, since the name is taken).
_REPLACE_ON = ("organization", "region", "adopt_ref")
# What the API can change in place. (A new wait_timeout needs no call: it is read at the next wait.)
_UPDATABLE = ("name", "instance_size", "password_version")
_DELETE_RETRY_SECONDS = 1.0


def _wait_until_healthy(client: Any, ref: str, timeout: float, *, just_created: bool = False) -> Any:
    """The project once ACTIVE_HEALTHY (its last poll, so no extra call)."""
    latest: list[Any] = []

    def status() -> str:
        latest[:] = [client.get_project(ref)]
        return str(latest[0].status)

    wait_until_healthy(
        status,
        f"Supabase project {ref}",
        timeout,
        "the project is found by name, not created twice",
        just_created=just_created,
    )
    return latest[0]


# A deleted project stays listed for a while as Supabase removes it in the background: it is
# no one's to claim, and a stack torn down and brought up under the same name makes a new one.
_BEING_REMOVED = frozenset({"GOING_DOWN", "REMOVED"})


# A project that never came up holds no data and can never be proven anyone's (its database
# never accepted a password): passed over, with a warning, so it blocks no later create.
_NEVER_CAME_UP = frozenset({"INIT_FAILED"})


def _find_by_name(client: Any, organization: str, name: str) -> Any | None:
    listed = client.list_organization_projects(organization, search=name)
    named = [p for p in listed if p.name == name and p.status not in _BEING_REMOVED]
    for dead in (p for p in named if p.status in _NEVER_CAME_UP):
        pulumi.log.warn(
            f"Supabase project {name!r} ({dead.ref}) is {dead.status}: Supabase never brought it up, perhaps for an "
            "earlier run of this stack. It is left as it is (nothing proves whose it is) and a new one is made; "
            "delete it in the dashboard"
        )
    matches = [p for p in named if p.status not in _NEVER_CAME_UP]
    return matches[0] if matches else None


def _connection_outputs(
    client: Any, project: Any, pooler_wait: float | None = None, serving_wait: float | None = None
) -> dict[str, Any]:
    """Everything the app needs that the API tells us about a healthy project (``pooler_wait``,
    ``serving_wait``: see api_details)."""
    return {
        **api_details(client, project.ref, jwt_secret=True, pooler_wait=pooler_wait, serving_wait=serving_wait),
        "name": project.name,
        "status": project.status,
        "db_host": project.database.host,
    }


def _collision_in_check(props: dict[str, Any]) -> str | None:
    """Before a project is created: one of that name that is not provably ours, as a sentence.

    Runs in previews too, so a collision shows before any `up`. Without a token, or with
    inputs a preview does not know yet, there is nothing to ask; create asks again anyway.
    """
    from envstack.clients.tokens import supabase_token
    from providers.supabase_ownership import collision, password_opens

    organization, name, password = props.get("organization"), props.get("name"), props.get("db_password")
    if any(is_unknown(v) for v in (organization, name, props.get("management_api"))):
        return None
    try:
        supabase_token()
    except CredentialError:
        return None
    with client_for(props) as client:
        found = _find_by_name(client, str(organization), str(name))
        if found is None:
            return None
        if not isinstance(password, str) or is_unknown(password):
            # The stack's password does not exist yet, so no project can have been made with it.
            return collision(str(name), found.ref, str(organization), None)
        if found.status != "ACTIVE_HEALTHY":
            return None  # ours from a run that died, still coming up? create waits for it, then proves it
        proof = password_opens(client, found, password)
        return None if proof == "opens" else collision(str(name), found.ref, str(organization), proof)


def _organization_to_check(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Whether the organization needs the API's word: for a project not created yet, or when
    the organization or the API it lives in changed. A stack whose settings did not change
    (every later preview and up) asks nothing."""
    if not olds or olds.get("adopt_ref"):
        return True
    return olds.get("organization") != news.get("organization") or not same_api(
        olds.get("management_api"), news.get("management_api")
    )


def _organization_problem(props: dict[str, Any], warn: Callable[[str], None]) -> str | None:
    """One sentence naming ``supabase:organization`` when the token cannot see that organization.

    Only the API knows which organizations exist: one read (``GET /v1/organizations``). When
    it cannot be asked (no token, no answer) the check warns and lets the run go on, because
    that says nothing about the setting (a create would fail with the API's own answer).
    """
    from envstack.clients.http import RetryPolicy
    from envstack.clients.supabase import SupabaseClient
    from envstack.clients.tokens import supabase_token
    from envstack.errors import ApiError
    from envstack.settings import setting_error

    organization, api = props.get("organization"), props.get("management_api")
    if is_unknown(organization) or is_unknown(api):
        return None
    try:
        token = supabase_token()
    except CredentialError:
        warn("supabase:organization was not checked: SUPABASE_ACCESS_TOKEN is not set")
        return None
    try:
        # A preview should not wait long for an answer that only confirms a setting.
        with SupabaseClient(base_url=str(api), token=token, retry=RetryPolicy(attempts=2, max_wait=10)) as client:
            visible = sorted(o.slug for o in client.list_organizations())
    except ApiError as exc:
        warn(f"supabase:organization was not checked: {exc}")
        return None
    if organization in visible:
        return None
    shown = ", ".join(visible[:5]) + (", …" if len(visible) > 5 else "") if visible else "none"
    return str(
        setting_error(
            "supabase:organization",
            f"no organization {organization!r} is visible to SUPABASE_ACCESS_TOKEN (it sees: {shown})",
        )
    )


def _claim_or_refuse(client: Any, project: Any, props: dict[str, Any], timeout: float) -> Any:
    """A same-named project found at create: ours if the recorded password opens it, else refused."""
    from providers.supabase_ownership import collision, password_opens

    healthy = _wait_until_healthy(client, project.ref, timeout)
    proof = password_opens(client, healthy, str(props["db_password"]))
    if proof != "opens":
        raise ResourceError(collision(str(props["name"]), project.ref, str(props["organization"]), proof))
    pulumi.log.info(f"Supabase project {props['name']} ({project.ref}) was created by an earlier run: using it")
    return healthy


class SupabaseProjectProvider(ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        if not news.get("adopt_ref"):
            name = news.get("name")
            if not is_unknown(name) and (not str(name or "").strip() or len(str(name)) > 256):
                failures.append(CheckFailure("name", "a project name of 1 to 256 characters is required"))
            if not re.fullmatch(r"[\w-]+", str(news.get("organization") or "")):
                failures.append(CheckFailure("organization", "an organization slug is required"))
        elif not re.fullmatch(r"[a-z]{20}", str(news["adopt_ref"])):
            failures.append(CheckFailure("adopt_ref", "a project ref is 20 lowercase letters"))
        if failures:
            return CheckResult(news, failures)
        creating = not news.get("adopt_ref")
        # The two reads are independent, so they go together: a first up waits for one, not two.
        # Not parallel.at_once: an unknown organization makes the lookup fail (404), and the
        # organization's sentence must win over that, so each answer is taken in turn.
        warnings: list[str] = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            visible = (
                pool.submit(_organization_problem, news, warnings.append)
                if creating and _organization_to_check(olds, news)
                else None
            )
            # A replacement creates too, after deleting the old project: a name taken by someone
            # else's project in the new organization must stop it here, before the delete, not in
            # create after it. (Only an allowed one: without allowReplace the check fails anyway.
            # In the same organization the name finds the stack's own project, whose recorded
            # password a postgres rotation may have changed: nothing to ask there.)
            replaced = (
                bool(olds)
                and bool(news.get("allow_replace"))
                and (olds.get("organization") or None) != (news.get("organization") or None)
            )
            collision = pool.submit(_collision_in_check, news) if creating and (not olds or replaced) else None
            unseen = visible.result() if visible is not None else None
        for warning in warnings:
            pulumi.log.warn(warning)
        if unseen is not None:
            # The organization first: allowReplace or another project name would not help with it.
            # No property: the engine would print the input's name and value before the sentence,
            # which names the setting already ("... resource '<name>' has a problem: <sentence>").
            return CheckResult(news, [CheckFailure("", unseen)])
        if olds:
            replacing = [key for key in _REPLACE_ON if (olds.get(key) or None) != (news.get(key) or None)]
            if replacing and not news.get("allow_replace"):
                failures.append(
                    CheckFailure(
                        replacing[0],
                        f"changing {', '.join(replacing)} would replace Supabase project {olds.get('name')!r}, "
                        "deleting it and its data; set supabase:allowReplace true to do that (never on production), "
                        "or change the setting back",
                    )
                )
        problem = collision.result() if collision is not None else None
        if problem is not None:
            failures.append(CheckFailure("name", problem))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        timeout = wait_seconds(props)
        with client_for(props) as client:
            if props.get("adopt_ref"):
                ref = str(props["adopt_ref"])
                project = _wait_until_healthy(client, ref, timeout)
                adopted = True
            else:
                adopted = False
                if not props.get("db_password"):
                    raise ResourceError("a created Supabase project needs the password the stack recorded for it")
                existing = _find_by_name(client, props["organization"], props["name"])
                if existing is not None:
                    project = _claim_or_refuse(client, existing, props, timeout)
                    ref = project.ref
                else:
                    ref = _create(client, props)
                    project = _wait_or_clean_up(client, ref, timeout)
            # What this run made (or an interrupted run of the stack made) is waited on until it serves.
            serving = None if adopted else timeout
            outs = {**props, **_connection_outputs(client, project, timeout, serving), "adopted": adopted}
        return CreateResult(id_=ref, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if (olds.get(key) or None) != (news.get(key) or None)]
        # A created project's password is set once, at create (rotation is password_version);
        # an adopted project's password is the stack's setting, so a new one is recorded.
        updatable = [*_UPDATABLE, "db_password"] if news.get("adopt_ref") else list(_UPDATABLE)
        changed = replaces or [key for key in updatable if olds.get(key) != news.get(key)]
        moved = not same_api(olds.get("management_api"), news.get("management_api"))
        return DiffResult(changes=bool(changed) or moved, replaces=replaces, delete_before_replace=True)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        outs = {**olds, **news, "adopted": olds.get("adopted", False)}
        restarted = False
        with client_for(news) as client:
            if outs["adopted"]:
                # Someone else's project: never renamed or resized; its password is the stack's setting.
                outs["db_password"] = news.get("db_password")
            else:
                if olds.get("name") != news.get("name"):
                    client.rename_project(id_, news["name"])
                if news.get("instance_size") and olds.get("instance_size") != news.get("instance_size"):
                    client.set_compute_size(id_, news["instance_size"])
                    # The project restarts (RESIZING): nothing more is asked of it until it is back.
                    _wait_until_healthy(client, id_, wait_seconds(news))
                    restarted = True
                outs["db_password"] = olds["db_password"]
                if olds.get("password_version") != news.get("password_version"):
                    outs["db_password"] = secrets.token_urlsafe(32)
                    client.update_database_password(id_, outs["db_password"])
            # A resize restarts the project, and its pooler is provisioned again.
            serving = wait_seconds(news) if restarted else None
            outs.update(_connection_outputs(client, client.get_project(id_), wait_seconds(news), serving))
        return UpdateResult(outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        from envstack.errors import NotFound

        with client_for(props) as client:
            try:
                project = client.get_project(id_)
            except NotFound:
                return pulumi.dynamic.ReadResult(id_="", outs={})
            if project.status in _BEING_REMOVED:
                return pulumi.dynamic.ReadResult(id_="", outs={})  # deleted; only not gone yet
            # Keys, hosts and status as they are now, so `pulumi refresh` shows any drift. Only
            # the project's own 404 says it is gone: one from its pooler or keys, while it
            # exists, must fail the refresh rather than drop a live (and billed) project.
            now = _connection_outputs(client, project)
            return pulumi.dynamic.ReadResult(id_=id_, outs={**props, **now})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if props.get("adopted"):
            return  # adopted projects belong to someone else: the stack only forgets them
        with client_for(props) as client:
            _delete(client, id_, wait_seconds(props))


def _create(client: Any, props: dict[str, Any]) -> str:
    """POST the project, once: after a failure that may hide a created project it is looked
    up by name (there was none just before, so one found now is the one this call made)."""
    from envstack.clients.create_once import create_once

    name, organization = str(props["name"]), str(props["organization"])

    def create() -> Any:
        return client.create_project(
            name=name,
            organization_slug=organization,
            db_pass=str(props["db_password"]),
            region=props.get("region"),
            desired_instance_size=props.get("instance_size"),
        )

    created = create_once(
        create,
        lambda: _find_by_name(client, organization, name),
        what=f"Supabase project {name}",
        say=pulumi.log.info,
    )
    return str(created.ref)


def _wait_or_clean_up(client: Any, ref: str, timeout: float) -> Any:
    try:
        return _wait_until_healthy(client, ref, timeout, just_created=True)
    except ResourceError as exc:
        if client.get_project(ref).status not in TERMINAL:
            raise
        # A project that failed to start is of no use to anyone: leave nothing behind.
        _delete(client, ref, timeout)
        raise ResourceError(
            f"{exc}; it was deleted again, so nothing is left behind: run `pulumi up` again to create a new one"
        ) from None


def _delete(client: Any, ref: str, timeout: float) -> None:
    from envstack.errors import ApiError, NotFound

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


@dataclass(frozen=True)
class SupabaseProjectInputs(Inputs):
    secret_inputs = ("db_password",)
    management_api: str
    organization: str | None
    name: str
    region: str | None
    instance_size: str | None
    db_password: pulumi.Input[str]
    adopt_ref: str | None = None
    password_version: int = 0
    allow_replace: bool = False
    wait_timeout: float = 600


class SupabaseProject(SupabaseDatabase, module="supabase", name="Project"):
    adopted: pulumi.Output[bool]

    def __init__(self, name: str, inputs: SupabaseProjectInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(SupabaseProjectProvider(), name, inputs, opts)
