"""A project's settings: pooler, database password, PostgREST (with the JWT secret), Auth."""

from __future__ import annotations

from typing import Any

from tests.emulators.common.server import Response
from tests.emulators.supabase.databases import DATABASE
from tests.emulators.supabase.pooler import TRANSACTION_PORT
from tests.emulators.supabase.projects import Project
from tests.emulators.supabase.routing import ApiError, Ctx, route


def pooler_json(project: Project, identifier: str | None = None, host: str | None = None) -> dict[str, Any]:
    """One entry, keys in the recorded order: the PRIMARY one (the host comes from the region),
    or with ``identifier`` and ``host`` a READ_REPLICA one, shaped the same."""
    identifier = identifier or project.ref
    host = host or project.pooler_host_name
    user = f"postgres.{identifier}"
    url = f"postgresql://{user}:[YOUR-PASSWORD]@{host}:{TRANSACTION_PORT}/{DATABASE}"
    return {
        "identifier": identifier,
        "database_type": "PRIMARY" if identifier == project.ref else "READ_REPLICA",
        "db_user": user,
        "db_host": host,
        "db_port": TRANSACTION_PORT,
        "db_name": DATABASE,
        "connection_string": url,
        "pool_mode": project.pool_mode,
        "default_pool_size": project.default_pool_size,
        "max_client_conn": None,
        "is_using_scram_auth": True,
        "connectionString": url,
    }


def _pooler_provisioned(ctx: Ctx, project: Project) -> None:
    """Right after a project turns healthy its pooler tenant is still being made, and its
    settings answer 500 for a while (terraform-provider-supabase#239; the wording of the
    real message is not recorded). The first call is refused however late it comes, so
    every client that reads them right after create meets it; before the project is healthy
    there is no pooler tenant at all."""
    with project.lock:
        ready_from = project.pooler_settings_from
        if ready_from is None or ctx.emulator.clock() < ready_from or not project.pooler_settings_refused:
            project.pooler_settings_refused = True
            raise ApiError(500, "Failed to retrieve the pooler configuration: the pooler is being provisioned")


@route("v1-get-pooler-config")
def get_pooler(ctx: Ctx) -> Response:
    project = ctx.project()
    _pooler_provisioned(ctx, project)
    # A healthy replica has a pooler tenant of its own: a READ_REPLICA entry beside the PRIMARY one.
    replicas = [r for r in ctx.emulator.replicas.of(project.ref) if r.status == "ACTIVE_HEALTHY"]
    return Response(
        200, [pooler_json(project), *(pooler_json(project, r.identifier, r.pooler_host_name) for r in replicas)]
    )


@route("v1-update-pooler-config")
def update_pooler(ctx: Ctx) -> Response:
    project = ctx.project()
    _pooler_provisioned(ctx, project)
    body: dict[str, Any] = ctx.body or {}
    with project.lock:
        if "pool_mode" in body:
            project.pool_mode = body["pool_mode"]
        if "default_pool_size" in body:
            project.default_pool_size = body["default_pool_size"]
            if project.server is not None:
                ctx.emulator.pooler.add(project.ref, project.db_host, project.default_pool_size)
    return Response(200, {"default_pool_size": project.default_pool_size, "pool_mode": project.pool_mode})


@route("v1-get-postgres-config")
def get_postgres_config(ctx: Ctx) -> Response:
    project = ctx.project()
    with project.lock:
        return Response(200, dict(project.postgres_config))


@route("v1-update-postgres-config")
def update_postgres_config(ctx: Ctx) -> Response:
    """PUT replaces every override (the CLI merges with the current ones itself unless told
    --replace-existing-overrides); ``restart_database`` is an instruction, not a setting."""
    project = ctx.project()
    body: dict[str, Any] = ctx.body or {}
    with project.lock:
        project.postgres_config = {k: v for k, v in body.items() if k != "restart_database"}
        return Response(200, dict(project.postgres_config))


@route("v1-update-database-password")
def update_password(ctx: Ctx) -> Response:
    project = ctx.project()
    password = ctx.body["password"]
    with project.lock:
        if project.server is not None:
            ctx.emulator.databases.set_password(project.server, "postgres", password)
        elif project.status not in ("UNKNOWN", "COMING_UP"):
            raise ApiError(400, "Project is not running")
        project.db_password = password
    return Response(200, {"message": "Database password updated"})


@route("v1-get-postgrest-service-config")
def get_postgrest(ctx: Ctx) -> Response:
    project = ctx.project()
    return Response(200, {**project.postgrest, "jwt_secret": project.jwt_secret})


@route("v1-update-postgrest-service-config")
def update_postgrest(ctx: Ctx) -> Response:
    project = ctx.project()
    # Fields the API does not know are ignored, as the body schema allows them.
    project.postgrest.update({k: v for k, v in (ctx.body or {}).items() if k in project.postgrest})
    return Response(200, dict(project.postgrest))


@route("v1-get-auth-service-config")
def get_auth_config(ctx: Ctx) -> Response:
    return Response(200, dict(ctx.project().auth_config))


@route("v1-update-auth-service-config")
def update_auth_config(ctx: Ctx) -> Response:
    project = ctx.project()
    # The body was checked against UpdateAuthConfigBody, whose every field the response has;
    # fields the API does not know are ignored, as that schema allows them.
    project.auth_config.update({k: v for k, v in (ctx.body or {}).items() if k in project.auth_config})
    return Response(200, dict(project.auth_config))
