"""Dynamic provider: the Vercel project a stack writes variables to, referenced or created.

- ``create=False``: the project must exist (by name or id); the stack only reads it and
  never deletes it.
- ``create=True``: the project is created; if one of that name already exists (someone made
  it, or an earlier run died before Pulumi recorded it) it is adopted as *not* created by the
  stack, so destroy leaves it alone. Only a project this resource created is ever deleted.

No API call happens in check or diff. The token comes from ``VERCEL_TOKEN``.
"""

from __future__ import annotations

import re
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider

from providers import vercel_access

DEFAULT_API_URL = "https://api.vercel.com"
_REPLACE_ON = ("api_url", "team", "project", "create")
# Vercel project names: lowercase, up to 100 characters, letters, digits and . _ -
_PROJECT_NAME = re.compile(r"[a-z0-9._-]{1,100}")


def _where(props: dict[str, Any]) -> str:
    team = props.get("team")
    return f"Vercel project {props['project']!r}" + (f" in team {team}" if team else "")


class VercelProjectProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        project = news.get("project")
        if not isinstance(project, str) or not project.strip():
            failures.append(CheckFailure("project", "the name (or id) of the Vercel project is required"))
        elif news.get("create") and not _PROJECT_NAME.fullmatch(project):
            failures.append(
                CheckFailure(
                    "project",
                    "a new Vercel project name is up to 100 lowercase letters, digits, '.', '_' or '-'",
                )
            )
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        from providers.clients.http import NotFound
        from providers.clients.vercel import ProjectNameTaken

        with vercel_access.open_client(str(props["api_url"]), props.get("team")) as client:
            created = False
            if props.get("create"):
                try:
                    project = client.create_project(str(props["project"]), framework=props.get("framework") or None)
                    created = True
                except ProjectNameTaken:
                    pulumi.log.info(f"{_where(props)} already exists: using it, and leaving it in place on destroy")
                    project = client.get_project(str(props["project"]))
            else:
                try:
                    project = client.get_project(str(props["project"]))
                except NotFound:
                    raise RuntimeError(
                        f"{_where(props)} was not found: create it in Vercel (or let the stack create it), "
                        "and check that VERCEL_TOKEN has access to that team"
                    ) from None
        outs = {**props, "project_id": project.id, "name": project.name, "created": created}
        return CreateResult(id_=project.id, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if (olds.get(key) or None) != (news.get(key) or None)]
        return DiffResult(changes=bool(replaces), replaces=replaces, delete_before_replace=False)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from providers.clients.http import NotFound

        with vercel_access.open_client(str(props["api_url"]), props.get("team")) as client:
            try:
                project = client.get_project(id_)
            except NotFound:
                return ReadResult(id_="", outs={})
        return ReadResult(id_=id_, outs={**props, "project_id": project.id, "name": project.name})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if not props.get("created"):
            return  # referenced or adopted: someone else's project, the stack only forgets it
        with vercel_access.open_client(str(props["api_url"]), props.get("team")) as client:
            pulumi.log.info(f"{_where(props)}: deleting the project this stack created")
            client.delete_project(id_)


class VercelProject(pulumi.dynamic.Resource, module="vercel", name="Project"):
    project_id: pulumi.Output[str]
    name: pulumi.Output[str]
    created: pulumi.Output[bool]

    def __init__(
        self,
        name: str,
        *,
        project: str,
        create: bool = False,
        framework: str | None = None,
        api_url: str | None = None,
        team: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {
            "api_url": api_url or DEFAULT_API_URL,
            "team": team,
            "project": project,
            "create": create,
            "framework": framework,
            "project_id": None,
            "name": None,
            "created": None,
        }
        super().__init__(VercelProjectProvider(), name, props, opts)
