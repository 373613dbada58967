"""A project's network settings: SSL enforcement and network restrictions.

Answers as recorded from the real API (tests/reference/fixtures, the Supabase CLI's
``ssl-enforcement`` and ``network-restrictions`` commands): SSL enforcement is
``{currentConfig: {database}, appliedSuccessfully}``; restrictions are
``{entitlement, config: {dbAllowedCidrs, dbAllowedCidrsV6}, status}``, a new project allowing
every address. SSL enforcement is really applied: the project's PostgreSQL then accepts TCP
clients only over TLS, and so does the pooler for it. Network restrictions are recorded and
reported but not applied (every local client has a loopback address). With
``network_apply_seconds`` (off by default) a new list is answered ``stored``, the one before
as ``old_config``, until that much of the emulator's clock has passed.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from tests.emulators.common.server import Response
from tests.emulators.supabase.projects import Project, now_iso
from tests.emulators.supabase.routing import ApiError, Ctx, route


def _ssl_json(project: Project) -> dict[str, Any]:
    return {"currentConfig": {"database": project.ssl_enforced}, "appliedSuccessfully": True}


def _restrictions_json(project: Project, now: float, *, applied_at: bool = True) -> dict[str, Any]:
    if project.network_applied_from is not None and now >= project.network_applied_from:
        project.network_old = project.network_applied_from = None  # Supabase got round to it
        project.network_applied_at = now_iso()
    answer: dict[str, Any] = {
        "entitlement": "allowed",
        "config": {"dbAllowedCidrs": list(project.allowed_cidrs), "dbAllowedCidrsV6": list(project.allowed_cidrs_v6)},
        "status": "applied",
    }
    if project.network_old is not None:
        # The spec: old_config is "populated when a new config has been received, but not
        # registered as successfully applied".
        v4, v6 = project.network_old
        answer["status"], answer["old_config"] = "stored", {"dbAllowedCidrs": v4, "dbAllowedCidrsV6": v6}
    elif applied_at and project.network_applied_at is not None:
        answer["applied_at"] = project.network_applied_at
    return answer


@route("v1-get-ssl-enforcement-config")
def get_ssl_enforcement(ctx: Ctx) -> Response:
    return Response(200, _ssl_json(ctx.project()))


@route("v1-update-ssl-enforcement-config")
def update_ssl_enforcement(ctx: Ctx) -> Response:
    project = ctx.project()
    enforced = bool(ctx.body["requestedConfig"]["database"])
    with project.lock:
        if project.server is None or project.status != "ACTIVE_HEALTHY":
            raise ApiError(400, f"Project is {project.status}: SSL enforcement cannot be changed now.")
        ctx.emulator.databases.enforce_ssl(project.server, enforced)
        ctx.emulator.pooler.require_tls(project.ref, enforced)
        project.ssl_enforced = enforced
        # Settings reach every database of the project, its read replicas too (replicas.py).
        ctx.emulator.replicas.enforce_ssl(project, enforced)
    return Response(200, _ssl_json(project))


@route("v1-get-network-restrictions")
def get_network_restrictions(ctx: Ctx) -> Response:
    project = ctx.project()
    with project.lock:
        return Response(200, _restrictions_json(project, ctx.emulator.clock()))


@route("v1-update-network-restrictions")
def apply_network_restrictions(ctx: Ctx) -> Response:
    project = ctx.project()
    body: dict[str, Any] = ctx.body or {}
    v4 = _networks(body.get("dbAllowedCidrs") or [], 4)
    v6 = _networks(body.get("dbAllowedCidrsV6") or [], 6)
    delay, now = ctx.emulator.behaviour.network_apply_seconds, ctx.emulator.clock()
    with project.lock:
        _restrictions_json(project, now)  # a list stored earlier and due by now is applied first
        if delay > 0:
            if project.network_old is None:
                project.network_old = (list(project.allowed_cidrs), list(project.allowed_cidrs_v6))
            project.network_applied_from = now + delay
        project.allowed_cidrs, project.allowed_cidrs_v6 = v4, v6
        answer = _restrictions_json(project, now, applied_at=False)  # as recorded: apply's answer has none
        if delay <= 0:
            project.network_applied_at = now_iso()
    return Response(201, answer)


def _networks(cidrs: list[str], version: int) -> list[str]:
    """The CIDRs as the API keeps them; a bad one or one of the other family is refused (400)."""
    kept = []
    for cidr in cidrs:
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ApiError(400, f"Invalid CIDR: {cidr}") from None
        if network.version != version:
            raise ApiError(400, f"{cidr} is not an IPv{version} CIDR")
        kept.append(str(network))
    return kept
