"""Organizations, projects and their health."""

from __future__ import annotations

from typing import Any

from tests.emulators.common.server import Response
from tests.emulators.supabase import backup_routes
from tests.emulators.supabase.projects import (
    DEFAULT_INSTANCE_SIZE,
    DEFAULT_REGION,
    PROVISIONING,
    SMART_GROUPS,
    Project,
)
from tests.emulators.supabase.replica_routes import replica_databases_json
from tests.emulators.supabase.routing import ApiError, Ctx, route


def project_json(project: Project, *, database: bool = True) -> dict[str, Any]:
    """V1ProjectWithDatabaseResponse (V1ProjectResponse without ``database``), keys as recorded."""
    body: dict[str, Any] = {
        "id": project.ref,
        "ref": project.ref,
        "organization_id": project.organization.id,
        "organization_slug": project.organization.slug,
        "name": project.name,
        "region": project.region,
        "status": project.status,
    }
    if database:
        body["database"] = {
            "host": project.db_host_name,
            "version": project.postgres_version,
            "postgres_engine": project.postgres_engine,
            "release_channel": "ga",
        }
    body["created_at"] = project.created_at
    return body


def _organization_project_json(ctx: Ctx, project: Project) -> dict[str, Any]:
    return {
        "ref": project.ref,
        "name": project.name,
        "cloud_provider": "AWS",
        "region": project.region,
        "is_branch": project.is_branch,
        "status": project.status,
        "inserted_at": project.created_at,
        "databases": [
            {
                "infra_compute_size": project.instance_size,
                "region": project.region,
                "status": project.status,
                "cloud_provider": "AWS",
                "identifier": project.ref,
                "type": "PRIMARY",
                "disk_volume_size_gb": 8,
                "disk_type": "gp3",
                "disk_throughput_mbps": 125,
            },
            *replica_databases_json(ctx.emulator.replicas.of(project.ref), project),
        ],
    }


@route("v1-list-all-organizations")
def list_organizations(ctx: Ctx) -> Response:
    return Response(200, [ctx.tenant.organization.to_json()])


@route("v1-get-all-projects-for-organization")
def list_organization_projects(ctx: Ctx) -> Response:
    if ctx.params["slug"] != ctx.tenant.organization.slug:
        raise ApiError(404, "Organization not found")
    projects = ctx.emulator.state.projects_of(ctx.tenant)
    search = (ctx.request.param("search") or "").lower()
    if search:
        projects = [p for p in projects if search in p.name.lower()]
    statuses = {s.strip() for s in (ctx.request.param("statuses") or "").split(",") if s.strip()}
    if statuses:
        projects = [p for p in projects if p.status in statuses]
    sort = ctx.request.param("sort") or "name_asc"
    by_created = sort.startswith("created")
    projects.sort(key=lambda p: (p.created_at, p.ref) if by_created else (p.name.lower(), p.ref))
    if sort.endswith("desc"):
        projects.reverse()
    offset = int(ctx.request.param("offset") or 0)
    limit = int(ctx.request.param("limit") or 100)
    page = projects[offset : offset + limit]
    return Response(
        200,
        {
            "projects": [_organization_project_json(ctx, p) for p in page],
            "pagination": {"count": len(projects), "limit": limit, "offset": offset},
        },
    )


@route("v1-list-all-projects")
def list_projects(ctx: Ctx) -> Response:
    projects = sorted(ctx.emulator.state.projects_of(ctx.tenant), key=lambda p: p.created_at)
    return Response(200, [project_json(p) for p in projects])


def _region(body: dict[str, Any]) -> str:
    if "region" in body and "region_selection" in body:
        raise ApiError(400, "Only one of region or region_selection can be specified.")
    selection = body.get("region_selection")
    if selection is not None:
        code = str(selection["code"])
        return SMART_GROUPS.get(code, code) if selection["type"] == "smartGroup" else code
    return str(body.get("region") or DEFAULT_REGION)


FREE_PROJECT_LIMIT = 2  # "2 free projects per user" (supabase/supabase PR #42007, #42593)
_NOT_COUNTED = frozenset({"INACTIVE", "REMOVED", "GOING_DOWN", "INIT_FAILED"})


def _within_plan(ctx: Ctx) -> None:
    """A Free organization's owner may have two active projects; a paused one does not
    count. The wording follows what the dashboard shows; the API's is not recorded."""
    if ctx.tenant.organization.plan != "free":
        return
    active = [p for p in ctx.emulator.state.projects_of(ctx.tenant) if p.status not in _NOT_COUNTED]
    if len(active) >= FREE_PROJECT_LIMIT:
        raise ApiError(
            400,
            "The following organization members have reached their maximum limits for the number of active free "
            f"projects within organizations where they are an administrator or owner: {ctx.tenant.user_id} "
            f"({FREE_PROJECT_LIMIT} project limit)",
        )


@route("v1-create-a-project")
def create_project(ctx: Ctx) -> Response:
    body: dict[str, Any] = ctx.body
    region = _region(body)
    if body["organization_slug"] != ctx.tenant.organization.slug:
        raise ApiError(404, "Organization not found")
    _within_plan(ctx)
    project = ctx.emulator.new_project(
        name=body["name"],
        organization=ctx.tenant.organization,
        region=region,
        instance_size=body.get("desired_instance_size") or DEFAULT_INSTANCE_SIZE,
        password=body["db_pass"],
    )
    answer = Response(201, project_json(project, database=False))  # UNKNOWN, before provisioning starts
    ctx.emulator.provisioner.start(project)
    return answer


@route("v1-get-project")
def get_project(ctx: Ctx) -> Response:
    return Response(200, project_json(ctx.project()))


@route("v1-update-a-project")
def rename_project(ctx: Ctx) -> Response:
    project = ctx.project()
    project.name = ctx.body["name"]
    return Response(200, {"id": project.numeric_id, "ref": project.ref, "name": project.name})


@route("v1-delete-a-project")
def delete_project(ctx: Ctx) -> Response:
    project = ctx.project()
    if project.status in PROVISIONING:
        raise ApiError(400, "Project not ready for deletion.")
    ctx.emulator.delete_project(project)
    return Response(
        200,
        {"id": project.numeric_id, "name": project.name, "ref": project.ref, "slug": project.organization.slug},
    )


def _service_health(project: Project, name: str, db_ok: bool) -> dict[str, Any]:
    if project.status in PROVISIONING or (name in ("pooler", "pg_bouncer") and project.pooler_joining):
        status = "COMING_UP"
    elif project.status == "ACTIVE_HEALTHY" and db_ok:
        status = "ACTIVE_HEALTHY"
    else:
        status = "UNHEALTHY"
    entry: dict[str, Any] = {"name": name, "healthy": status == "ACTIVE_HEALTHY", "status": status}
    if status == "ACTIVE_HEALTHY":
        if name == "auth":
            entry["info"] = {
                "name": "GoTrue",
                "version": "v2.177.0",
                "description": "GoTrue is a user registration and authentication API",
            }
        elif name == "rest":
            entry["info"] = {"db_schema": project.postgrest["db_schema"]}
        elif name == "realtime":
            entry["info"] = {
                "healthy": True,
                "db_connected": True,
                "replication_connected": True,
                "connected_cluster": 1,
            }
    elif status == "UNHEALTHY":
        entry["error"] = "service is not reachable"
    return entry


@route("v1-get-services-health")
def health(ctx: Ctx) -> Response:
    project = ctx.project()
    wanted = [s for value in ctx.request.query.get("services", []) for s in value.split(",") if s]
    db_ok = project.status == "ACTIVE_HEALTHY" and ctx.emulator.databases.accepts(project.db_host, project.db_password)
    return Response(200, [_service_health(project, name, db_ok) for name in wanted])


_ADDON_VARIANT_PREFIXES = {"compute_instance": "ci_", "custom_domain": "cd_", "pitr": "pitr_", "ipv4": "ipv4_"}


@route("v1-apply-project-addon")
def apply_addon(ctx: Ctx) -> Response:
    """Compute and PITR change something here: ``ci_<size>`` becomes the project's instance
    size, ``pitr_<days>`` turns on point-in-time recovery (backup_routes.py)."""
    project = ctx.project()
    kind, variant = ctx.body["addon_type"], ctx.body["addon_variant"]
    prefix = _ADDON_VARIANT_PREFIXES.get(kind)
    if prefix is None or not variant.startswith(prefix):
        raise ApiError(400, f"Addon variant {variant} does not belong to addon type {kind}")
    if kind == "pitr":
        return backup_routes.apply_pitr(ctx, project, variant)
    if kind == "compute_instance":
        backup_routes.check_compute(project, variant.removeprefix(prefix))
        ctx.emulator.resize(project, variant.removeprefix(prefix))
    return Response(200)


@route("v1-pause-a-project")
def pause_project(ctx: Ctx) -> Response:
    project = ctx.project()
    with project.lock:
        if project.organization.plan != "free":
            # Only Free projects pause (docs: free-project-pausing); the wording is not recorded.
            raise ApiError(400, "Only projects on the Free Plan can be paused.")
        if project.status != "ACTIVE_HEALTHY":
            raise ApiError(400, f"Project is {project.status} and cannot be paused.")
        ctx.emulator.provisioner.pause(project)
    return Response(200)


@route("v1-restore-a-project")
def restore_project(ctx: Ctx) -> Response:
    project = ctx.project()
    with project.lock:
        if project.status != "INACTIVE":
            # Restoring while PAUSING is refused (supabase/supabase#44125).
            raise ApiError(400, f"Project is {project.status}: only a paused (INACTIVE) project can be restored.")
        ctx.emulator.provisioner.restore(project)
    return Response(200)
