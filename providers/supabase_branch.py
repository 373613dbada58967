"""Dynamic provider: a Supabase preview branch of another project, as a pull request's database.

A branch is a project of its own (own ref, database, keys) listed under its parent. It is
named deterministically by the stack; a run interrupted after the create call finds it by
name on the next run and adopts it instead of creating a second. Its outputs have the same
names as a project's (providers/supabase_project.py), so an environment can be built on
either. The database password and JWT secret come from the branch's own config endpoint.

Deleting it: DELETE /v1/branches/{id}; a branch someone made persistent answers 422, so it
is first made ephemeral again (this stack created it, so it is this stack's to delete).
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider

from providers.supabase_access import api_details, open_client, wait_until_healthy
from providers.supabase_database import SECRET_OUTPUTS, SupabaseDatabase

_REPLACE_ON = ("management_api", "parent_ref", "name", "git_branch")
_OUTPUTS = (
    "branch_id",
    "ref",
    "status",
    "db_host",
    "db_name",
    "db_password",
    "pooler_host",
    "pooler_port",
    "pooler_user",
    "api_url",
    "anon_key",
    "service_role_key",
    "publishable_key",
    "secret_key",
    "jwt_secret",
)


def _client(props: dict[str, Any]) -> Any:
    return open_client(str(props["management_api"]))


def _create_or_find(client: Any, props: dict[str, Any]) -> Any:
    from providers.clients.http import ApiError

    parent, name = str(props["parent_ref"]), str(props["name"])
    existing = client.find_branch(parent, name)
    if existing is not None:
        pulumi.log.info(f"Supabase branch {name} of {parent} exists ({existing.project_ref}): adopting it")
        return existing
    try:
        return client.create_branch(parent, name=name, git_branch=props.get("git_branch"))
    except ApiError as exc:
        # No answer, or a server error: the branch may exist anyway; it is found by its name.
        found = client.find_branch(parent, name) if exc.status is None or exc.status >= 500 else None
        if found is None:
            raise
        return found


def _details(client: Any, branch: Any, timeout: float) -> dict[str, Any]:
    configs: list[Any] = []

    def status() -> str:
        configs[:] = [client.get_branch_config(branch.id)]
        return str(configs[0].status)

    wait_until_healthy(
        status, f"Supabase branch {branch.name} ({branch.project_ref})", timeout, "the branch is found by name"
    )
    config = configs[0]
    return {
        **api_details(client, config.ref),
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
        with _client(props) as client:
            branch = _create_or_find(client, props)
            outs = {**props, **_details(client, branch, float(props.get("wait_timeout") or 600))}
        return CreateResult(id_=branch.id, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=True)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from providers.clients.http import NotFound

        with _client(props) as client:
            try:
                config = client.get_branch_config(id_)
            except NotFound:
                return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "status": config.status, "db_host": config.db_host})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        from providers.clients.http import ApiError, NotFound

        with _client(props) as client:
            try:
                client.delete_branch(id_)
            except NotFound:
                return
            except ApiError as exc:
                if exc.status != 422:
                    raise
                # "Cannot delete persistent branch.": made persistent since; ours to delete all the same.
                client.make_branch_ephemeral(id_)
                client.delete_branch(id_)


class SupabaseBranch(SupabaseDatabase, module="supabase", name="Branch"):
    branch_id: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        management_api: str,
        parent_ref: str,
        branch_name: str,
        git_branch: str | None,
        wait_timeout: float = 600,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "management_api": management_api,
            "parent_ref": parent_ref,
            "name": branch_name,
            "git_branch": git_branch,
            "wait_timeout": wait_timeout,
            **dict.fromkeys(_OUTPUTS),
        }
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS))
        super().__init__(SupabaseBranchProvider(), name, props, opts)
