"""The emulator's own routes under ``/_emulator/`` (besides the toolkit's ``calls``,
``faults`` and ``violations``), so a standalone emulator can be driven over HTTP:

    POST /_emulator/tenants {name?, plan?}  -> 201 {tenant, token, org_slug, org_name}
    GET  /_emulator/tenants/<id>/calls      -> that tenant's calls
    GET  /_emulator/projects/<ref>          -> addresses, password, status, postgres_running
    GET  /_emulator/replicas/<identifier>   -> a read replica's address, host names, status, postgres_running
    GET  /_emulator/config                  -> current behaviour settings
    POST /_emulator/config                  -> change them: provisioning_delay,
         fail_next_provisionings, signing_key_interval, pooler_warmup, pooler_joins_after,
         rate_limit, rate_window,
         drop_pooler_connections, ipv6_route (does db.<ref>.… lead anywhere),
         replica_provisioning (seconds a new read replica stays INIT_READ_REPLICA)
    POST /_emulator/clock {"advance": s}    -> let s seconds pass on the emulator's clock
    POST /_emulator/reset                   -> defaults back, faults cleared
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.emulators.common.server import Request, Response
from tests.emulators.supabase.config import knobs

if TYPE_CHECKING:
    from tests.emulators.supabase.emulator import SupabaseEmulator

# What the config route may set: Behaviour's knobs, and the settings configure takes besides.
_CONFIG_KEYS: dict[str, type] = {
    **knobs(),
    "rate_limit": int,
    "rate_window": float,
    "drop_pooler_connections": int,
    "ipv6_route": bool,
}


def handle(emulator: SupabaseEmulator, request: Request, action: str) -> Response | None:
    parts = action.split("/")
    if parts == ["tenants"] and request.method == "POST":
        body = _json(request) or {}
        tenant = emulator.add_tenant(body.get("name"), str(body.get("plan") or "pro"))
        return Response(
            201,
            {
                "tenant": tenant.id,
                "token": tenant.token,
                "org_slug": tenant.organization.slug,
                "org_name": tenant.organization.name,
            },
        )
    if len(parts) == 3 and parts[0] == "tenants" and parts[2] == "calls" and request.method == "GET":
        return Response(200, [call.to_json() for call in emulator.app.calls.all(tenant=parts[1])])
    if len(parts) == 2 and parts[0] == "projects" and request.method == "GET":
        info = emulator.project_info(parts[1])
        return Response(200, info.to_json()) if info else Response(404, {"message": "Project not found"})
    if len(parts) == 2 and parts[0] == "replicas" and request.method == "GET":
        replica = emulator.replicas.find(parts[1])
        if replica is None:
            return Response(404, {"message": "Read replica not found"})
        server = replica.server
        return Response(
            200,
            {
                "identifier": replica.identifier,
                "project_ref": replica.project_ref,
                "region": replica.region,
                "status": replica.status,
                "address": replica.address,
                "host_name": replica.host_name,
                "pooler_host": replica.pooler_host,
                "pooler_host_name": replica.pooler_host_name,
                "postgres_running": server is not None and server.running(),
            },
        )
    if parts == ["config"] and request.method == "GET":
        return Response(200, emulator.configuration())
    if parts == ["config"] and request.method == "POST":
        body = _json(request)
        if not isinstance(body, dict) or set(body) - set(_CONFIG_KEYS):
            return Response(400, {"message": f"a JSON object with some of {sorted(_CONFIG_KEYS)}"})
        try:
            emulator.configure(**{k: _CONFIG_KEYS[k](v) for k, v in body.items()})
        except (TypeError, ValueError) as exc:
            return Response(400, {"message": str(exc)})
        return Response(200, emulator.configuration())
    if parts == ["clock"] and request.method == "POST":
        body = _json(request)
        seconds = body.get("advance") if isinstance(body, dict) else None
        if not isinstance(seconds, int | float) or seconds < 0:
            return Response(400, {"message": 'a JSON object {"advance": seconds, 0 or more}'})
        emulator.clock.advance(float(seconds))
        return Response(200, {"skipped": emulator.clock.skipped})
    if parts == ["reset"] and request.method == "POST":
        emulator.reset()
        return Response(200, emulator.configuration())
    return None


def _json(request: Request) -> Any:
    try:
        return request.json()
    except ValueError:
        return None
