"""Read replicas: set one up, remove one, and how they show in the project's other answers.

The real service's rules and the sources for them are in replicas.py. Both calls answer 201
with no body (the spec documents none), so a client learns the new replica's identifier from
the organization's project list, where the project's ``databases`` carry every replica
(``replica_databases_json``), and its pooler from the pooler settings once it is healthy
(``config_routes.pooler_json``).
"""

from __future__ import annotations

from typing import Any

from tests.emulators.common.server import Response
from tests.emulators.supabase.projects import Project
from tests.emulators.supabase.replicas import Replica, max_replicas
from tests.emulators.supabase.routing import ApiError, Ctx, route


def replica_databases_json(replicas: list[Replica], project: Project) -> list[dict[str, Any]]:
    """The project's replicas as entries of OrganizationProjectsResponse ``databases``; a
    replica has its primary's compute size ("All Read Replicas inherit the compute size of
    their Primary database", docs)."""
    return [
        {
            "infra_compute_size": project.instance_size,
            "region": replica.region,
            "status": replica.status,
            "cloud_provider": "AWS",
            "identifier": replica.identifier,
            "type": "READ_REPLICA",
            "disk_volume_size_gb": 8,
            "disk_type": "gp3",
            "disk_throughput_mbps": 125,
        }
        for replica in replicas
    ]


def _may_have_replicas(ctx: Ctx, project: Project) -> None:
    """The prerequisites (docs guides/platform/read-replicas): a paid plan, Small compute or
    larger, a healthy project; and no more replicas than the compute size allows."""
    if project.organization.plan == "free":
        raise ApiError(400, "Read replicas are only available on the Pro, Team and Enterprise plans.")
    if project.status != "ACTIVE_HEALTHY":
        raise ApiError(400, f"Project is {project.status}: a read replica can only be set up for a healthy project.")
    cap = max_replicas(project.instance_size)
    if cap == 0:
        raise ApiError(
            400,
            f"Read replicas need at least the Small compute add-on; the project runs on {project.instance_size}.",
        )
    live = [r for r in ctx.emulator.replicas.of(project.ref) if r.status != "GOING_DOWN"]
    if len(live) >= cap:
        raise ApiError(
            400,
            f"A project on {project.instance_size} compute can have at most {cap} read replicas; it has {len(live)}.",
        )


@route("v1-setup-a-read-replica")
def set_up_read_replica(ctx: Ctx) -> Response:
    project = ctx.project()
    with project.lock:
        _may_have_replicas(ctx, project)
        ctx.emulator.replicas.set_up(project, ctx.body["read_replica_region"])
    return Response(201)


@route("v1-remove-a-read-replica")
def remove_read_replica(ctx: Ctx) -> Response:
    project = ctx.project()
    identifier = ctx.body["database_identifier"]
    replica = ctx.emulator.replicas.get(project.ref, identifier)
    if replica is None:
        # The real wording is not recorded; an unknown identifier is refused, not ignored.
        raise ApiError(404, f"Read replica {identifier} not found")
    if replica.status != "GOING_DOWN":
        ctx.emulator.replicas.remove(project, replica)
    return Response(201)
