"""Dynamic provider: the Vercel project a stack writes variables to, referenced or created.

- ``create=False``: the project must exist (by name or id); the stack only reads it and
  never deletes it.
- ``create=True``: the project is looked up by name first. One that exists already (someone
  made it, or an earlier run died before Pulumi recorded it) is adopted as *not* created by
  the stack, so destroy leaves it alone. Otherwise it is created exactly once: after a 5xx or
  a lost answer it is looked up by name again, and one found then is the stack's own (it was
  absent just before); it is created again only when it is still not there. Only a project
  this resource created is ever deleted.

The project's identity is its id (``project_id``, unique across Vercel). ``api_url`` and
``team`` say where the API is and which team scope to send, not which project: they never
replace the resource. A URL that normalizes equal (a trailing slash, upper case) is no change,
and neither is the team's slug changed to its id (``team_id`` records the owner's id). Any
other change re-reads the project through the new location in an in-place update that writes
nothing, and fails, changing nothing, if that reaches another project.

No API call happens in check or diff. The token comes from ``VERCEL_TOKEN``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.api_urls import VERCEL_API_URL, same_api
from envstack.errors import ResourceError
from providers import vercel_access
from providers.declared import Declared, Inputs

if TYPE_CHECKING:
    from envstack.clients.vercel import Project, VercelClient

# Vercel project names: lowercase, up to 100 characters, letters, digits and . _ -
_PROJECT_NAME = re.compile(r"[a-z0-9._-]{1,100}")


def _where(props: dict[str, Any]) -> str:
    team = props.get("team")
    return f"Vercel project {props['project']!r}" + (f" in team {team}" if team else "")


def _find(client: VercelClient, name: str) -> Project | None:
    """The project of that name, or None."""
    from envstack.errors import NotFound

    try:
        project = client.get_project(name)
    except NotFound:
        return None
    return project if project.name == name else None


def _create_or_adopt(client: VercelClient, props: dict[str, Any]) -> tuple[Project, bool]:
    """(the project, whether this call created it)."""
    from envstack.clients.create_once import create_once
    from envstack.errors import ProjectNameTaken

    name = str(props["project"])
    # Looked up first: after a failed create, a project found by name must be one that was
    # absent before this call, or the stack would claim (and one day delete) someone else's.
    existing = _find(client, name)
    if existing is not None:
        pulumi.log.info(f"{_where(props)} already exists: using it, and leaving it in place on destroy")
        return existing, False
    try:
        project = create_once(
            lambda: client.create_project(name, framework=props.get("framework") or None),
            lambda: _find(client, name),
            what=_where(props),
            say=pulumi.log.info,
        )
    except ProjectNameTaken:
        # Made since the look above, by someone else (or by a create of ours whose lost answer
        # the look after it did not see yet): not proven ours, so never deleted by this stack.
        pulumi.log.info(f"{_where(props)} was created by someone else just now: using it, not deleting it on destroy")
        return client.get_project(name), False
    return project, True


def _reference(client: VercelClient, props: dict[str, Any]) -> Project:
    from envstack.errors import NotFound

    try:
        return client.get_project(str(props["project"]))
    except NotFound:
        raise ResourceError(
            f"{_where(props)} was not found: create it in Vercel (or let the stack create it), "
            "and check that VERCEL_TOKEN has access to that team"
        ) from None


def _find_at_new_place(client: VercelClient, props: dict[str, Any]) -> Project | None:
    """The project ``props`` name (by name or id) through their API URL and team, or None."""
    from envstack.errors import NotFound

    try:
        return client.get_project(str(props["project"]))
    except NotFound:
        return None


def _found(props: dict[str, Any], project: Project) -> dict[str, Any]:
    """The outputs read from the project: its id, name and (for a team) the team's id."""
    team_id = project.account_id if props.get("team") else None
    return {"project_id": project.id, "name": project.name, "team_id": team_id}


def _same_team(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Does the new ``team`` name the team recorded, by its slug or by its id?"""
    new = news.get("team") or None
    return new == (olds.get("team") or None) or (new is not None and new == olds.get("team_id"))


def _moved(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Is the project now reached another way (another API URL or team spelling)?"""
    return not same_api(olds.get("api_url"), news.get("api_url")) or not _same_team(olds, news)


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
        with vercel_access.open_client(str(props["api_url"]), props.get("team")) as client:
            if props.get("create"):
                project, created = _create_or_adopt(client, props)
            else:
                project, created = _reference(client, props), False
        outs = {**props, **_found(props, project), "created": created}
        return CreateResult(id_=project.id, outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Another project is a replace; the same one named another way (its id for its name,
        # or back) is not. Neither is `create`: whether the stack made the project is a fact
        # recorded at create, not a setting, so flipping it never deletes anything.
        project = news.get("project")
        if project != olds.get("project") and project not in (olds.get("project_id"), olds.get("name")):
            return DiffResult(changes=True, replaces=["project"], delete_before_replace=False)
        changed = project != olds.get("project") or bool(olds.get("create")) != bool(news.get("create"))
        return DiffResult(changes=changed or _moved(olds, news), replaces=[], delete_before_replace=False)

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Only how the project is reached changed (API URL, team, name or id, ``create``):
        read it there, check it is the same project, and write nothing."""
        recorded = str(olds.get("project_id") or id_)
        with vercel_access.open_client(str(news["api_url"]), news.get("team")) as client:
            project = _find_at_new_place(client, news)
        if project is None or project.id != recorded:
            reached = f"is {project.id}" if project is not None else "is not found"
            raise ResourceError(
                f"{_where(news)} at {news['api_url']} {reached}, not {recorded} which this stack manages, so nothing "
                "was changed: put back the previous api_url and team, or give ones that reach that same project."
            )
        return UpdateResult(outs={**news, **_found(news, project), "created": bool(olds.get("created"))})

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        from envstack.errors import NotFound

        with vercel_access.open_client(str(props["api_url"]), props.get("team")) as client:
            try:
                project = client.get_project(id_)
            except NotFound:
                return pulumi.dynamic.ReadResult(id_="", outs={})
        return pulumi.dynamic.ReadResult(id_=id_, outs={**props, **_found(props, project)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        if not props.get("created"):
            return  # referenced or adopted: someone else's project, the stack only forgets it
        with vercel_access.open_client(str(props["api_url"]), props.get("team")) as client:
            pulumi.log.info(f"{_where(props)}: deleting the project this stack created")
            client.delete_project(id_)


@dataclass(frozen=True)
class VercelProjectInputs(Inputs):
    """``project``: a name or id; ``create``: make it when no project of that name exists."""

    project: str
    create: bool = False
    framework: str | None = None
    api_url: str = VERCEL_API_URL
    team: str | None = None


class VercelProject(Declared, module="vercel", name="Project"):
    project_id: pulumi.Output[str]
    name: pulumi.Output[str]
    created: pulumi.Output[bool]
    team_id: pulumi.Output[str | None]

    def __init__(self, name: str, inputs: VercelProjectInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(VercelProjectProvider(), name, inputs, opts)
