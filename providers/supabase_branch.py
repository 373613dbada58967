"""Dynamic provider: a Supabase preview branch of another project, as a pull request's database.

A branch is a project of its own (own ref, database, keys) listed under its parent. Its
name carries a claim the stack recorded before creating it (``<stack>-<claim>``, the claim
derived from a GeneratedSecret in the state), so a branch of that name can only be one this
stack made: a run interrupted after the create call, or whose answer was lost, finds it by
name and uses it instead of creating a second, and no one else's branch is ever taken over.
The name is fixed at create: a later change of it (a stack from before claims) replaces
nothing. Its outputs have the same names as a project's (providers/supabase_project.py), so
an environment can be built on either. The database password and JWT secret come from the
branch's own config endpoint.

Deleting it: DELETE /v1/branches/{id}. A branch someone made persistent answers 422: whoever
did that wants to keep it, so it is left in place, the stack forgets it and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider

from providers.declared import Inputs
from providers.supabase_access import api_details, client_for, wait_seconds, wait_until_healthy
from providers.supabase_database import SupabaseDatabase

_REPLACE_ON = ("parent_ref", "git_branch")


def _create_or_find(client: Any, props: dict[str, Any]) -> Any:
    from envstack.clients.create_once import create_once

    parent, name = str(props["parent_ref"]), str(props["name"])
    existing = client.find_branch(parent, name)
    if existing is not None:
        # The name carries this stack's claim: an earlier run made it and died before recording it.
        pulumi.log.info(f"Supabase branch {name} of {parent} was created by an earlier run ({existing.project_ref})")
        return existing
    return create_once(
        lambda: client.create_branch(parent, name=name, git_branch=props.get("git_branch")),
        lambda: client.find_branch(parent, name),
        what=f"Supabase branch {name} of {parent}",
        say=pulumi.log.info,
    )


def _address(id_: str, props: dict[str, Any]) -> str:
    """How /v1/branches/{branch_id_or_ref} is asked about the branch: by its ref, since the API
    calls the id form deprecated (OpenAPI document); once that form is gone a 404 to it would
    read as a branch deleted, dropped from the state while it still runs. The id is the
    resource's, recorded by stacks from before; the ref is in every state since the first."""
    return str(props.get("ref") or id_)


def _details(client: Any, branch: Any, timeout: float) -> dict[str, Any]:
    configs: list[Any] = []

    def status() -> str:
        configs[:] = [client.get_branch_config(branch.project_ref)]
        return str(configs[0].status)

    wait_until_healthy(
        status, f"Supabase branch {branch.name} ({branch.project_ref})", timeout, "the branch is found by name"
    )
    config = configs[0]
    return {
        **api_details(client, config.ref, pooler_wait=timeout, serving_wait=timeout),
        "branch_id": branch.id,
        "status": config.status,
        "db_host": config.db_host,
        "db_password": config.db_pass,
        "jwt_secret": config.jwt_secret,
    }


class SupabaseBranchProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        if not re.fullmatch(r"[a-z]{20}", str(news.get("parent_ref") or "")):
            failures.append(CheckFailure("parent_ref", "a project ref is 20 lowercase letters"))
        if not str(news.get("name") or "").strip():
            failures.append(CheckFailure("name", "a branch needs a name"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        with client_for(props) as client:
            branch = _create_or_find(client, props)
            outs = {**props, **_details(client, branch, wait_seconds(props))}
        return CreateResult(id_=branch.id, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Neither the name (fixed at create) nor where the API lives is part of what exists.
        replaces = [key for key in _REPLACE_ON if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from envstack.errors import NotFound

        with client_for(props) as client:
            try:
                config = client.get_branch_config(_address(id_, props))
            except NotFound:
                return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "status": config.status, "db_host": config.db_host})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from envstack.errors import ApiError, NotFound

        with client_for(props) as client:
            try:
                client.delete_branch(_address(id_, props))
            except NotFound:
                return
            except ApiError as exc:
                if exc.status != 422:
                    raise
                # "Cannot delete persistent branch.": someone chose to keep it since; not ours to undo.
                pulumi.log.warn(
                    f"Supabase branch {props.get('name')} ({props.get('ref')}) was made persistent outside this "
                    "stack, so it is left in place and the stack forgets it: delete it in Supabase once it is "
                    "no longer wanted"
                )


@dataclass(frozen=True)
class SupabaseBranchInputs(Inputs):
    management_api: str
    parent_ref: str
    name: pulumi.Input[str]
    git_branch: str | None
    wait_timeout: float = 600


class SupabaseBranch(SupabaseDatabase, module="supabase", name="Branch"):
    branch_id: pulumi.Output[str]

    def __init__(self, name: str, inputs: SupabaseBranchInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(SupabaseBranchProvider(), name, inputs, opts)
