"""Branches: each non-default branch is a project of its own (own ref, own database,
own keys), listed under its parent. The first branch created turns branching on, which
adds the parent's default branch ``main`` (persistent, ``is_default``)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.emulators.common.server import Response
from tests.emulators.supabase.projects import PROVISIONING, Branch, Project, now_iso
from tests.emulators.supabase.routing import ApiError, Ctx, route


def branch_status(project: Project | None) -> str:
    """The deprecated ``status`` field, from the branch database's state."""
    if project is None or project.status in PROVISIONING:
        return "CREATING_PROJECT"
    if project.status == "ACTIVE_HEALTHY":
        return "MIGRATIONS_PASSED"
    return "MIGRATIONS_FAILED"


def branch_json(ctx: Ctx, branch: Branch) -> dict[str, Any]:
    """BranchResponse with the recorded keys (git_branch only when there is one)."""
    project = ctx.emulator.state.projects.get(branch.project_ref)
    body: dict[str, Any] = {
        "id": branch.id,
        "name": branch.name,
        "project_ref": branch.project_ref,
        "parent_project_ref": branch.parent_ref,
        "is_default": branch.is_default,
    }
    if branch.git_branch is not None:
        body["git_branch"] = branch.git_branch
    body.update(
        persistent=branch.persistent,
        status=branch_status(project),
        created_at=branch.created_at,
        updated_at=branch.updated_at,
        with_data=branch.with_data,
    )
    return body


def _branch(ctx: Ctx) -> tuple[Branch, Project]:
    branch = ctx.emulator.state.branch_by_id_or_ref(ctx.tenant, ctx.params["branch_id_or_ref"])
    project = ctx.emulator.state.projects.get(branch.project_ref) if branch is not None else None
    if branch is None or project is None:
        raise ApiError(404, "Branch not found")
    return branch, project


@route("v1-list-all-branches")
def list_branches(ctx: Ctx) -> Response:
    parent = ctx.project()
    return Response(200, [branch_json(ctx, b) for b in ctx.emulator.state.branches_of(parent.ref)])


@route("v1-create-a-branch")
def create_branch(ctx: Ctx) -> Response:
    parent = ctx.project()
    body: dict[str, Any] = ctx.body
    if parent.is_branch:
        raise ApiError(400, "A branch cannot have branches of its own.")
    if parent.organization.plan == "free":
        # Branching needs a paid plan (tldraw/tldraw PR #8066); the real wording is not recorded.
        raise ApiError(400, "Branching is available on the Pro plan and above.")
    state = ctx.emulator.state
    with state.lock:
        existing = state.branches_of(parent.ref)
        if any(b.name == body["branch_name"] for b in existing):
            raise ApiError(400, f"A branch named {body['branch_name']} already exists.")
        if not existing:
            default = Branch(
                id=str(uuid.uuid4()),
                name="main",
                parent_ref=parent.ref,
                project_ref=parent.ref,
                is_default=True,
                persistent=True,
                git_branch="main",
                with_data=True,
            )
            state.branches[default.id] = default
    project = ctx.emulator.new_project(
        name=body["branch_name"],
        organization=parent.organization,
        region=body.get("region") or parent.region,
        instance_size=body.get("desired_instance_size") or parent.instance_size,
        password=None,
        parent_ref=parent.ref,
    )
    branch = Branch(
        id=str(uuid.uuid4()),
        name=body["branch_name"],
        parent_ref=parent.ref,
        project_ref=project.ref,
        is_default=bool(body.get("is_default", False)),
        persistent=bool(body.get("persistent", False)),
        git_branch=body.get("git_branch"),
        with_data=bool(body.get("with_data", False)),
    )
    with state.lock:
        state.branches[branch.id] = branch
    answer = Response(201, branch_json(ctx, branch))
    ctx.emulator.provisioner.start(project)
    return answer


@route("v1-get-a-branch")
def get_branch_by_name(ctx: Ctx) -> Response:
    parent = ctx.project()
    for branch in ctx.emulator.state.branches_of(parent.ref):
        if branch.name == ctx.params["name"]:
            return Response(200, branch_json(ctx, branch))
    raise ApiError(404, "Branch not found")


@route("v1-get-a-branch-config")
def get_branch_config(ctx: Ctx) -> Response:
    _, project = _branch(ctx)
    return Response(
        200,
        {
            "db_host": project.db_host_name,
            "db_port": 5432,
            "db_user": "postgres",
            "db_pass": project.db_password,
            "jwt_secret": project.jwt_secret,
            "postgres_version": project.postgres_version,
            "postgres_engine": project.postgres_engine,
            "ref": project.ref,
            "release_channel": "ga",
            "status": project.status,
        },
    )


@route("v1-update-a-branch-config")
def update_branch(ctx: Ctx) -> Response:
    branch, _ = _branch(ctx)
    body: dict[str, Any] = ctx.body or {}
    state = ctx.emulator.state
    with state.lock:
        name = body.get("branch_name")
        if name and name != branch.name and any(b.name == name for b in state.branches_of(branch.parent_ref)):
            raise ApiError(400, f"A branch named {name} already exists.")
        if name:
            branch.name = name
        if "git_branch" in body:
            branch.git_branch = body["git_branch"]
        if "persistent" in body:
            branch.persistent = bool(body["persistent"])
        branch.updated_at = now_iso()
    return Response(200, branch_json(ctx, branch))


@route("v1-delete-a-branch")
def delete_branch(ctx: Ctx) -> Response:
    branch, _ = _branch(ctx)
    if branch.persistent:
        raise ApiError(422, "Cannot delete persistent branch.")
    ctx.emulator.remove_branch(branch)
    return Response(200, {"message": "ok"})


@route("v1-disable-preview-branching")
def disable_branching(ctx: Ctx) -> Response:
    parent = ctx.project()
    for branch in ctx.emulator.state.branches_of(parent.ref):
        ctx.emulator.remove_branch(branch)
    return Response(200, {"message": "ok"})
