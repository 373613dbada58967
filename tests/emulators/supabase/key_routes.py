"""API keys (legacy anon/service_role JWTs, publishable and secret keys) and JWT signing keys."""

from __future__ import annotations

from typing import Any

from tests.emulators.common.server import Response
from tests.emulators.supabase import signing_keys, tokens
from tests.emulators.supabase.projects import ApiKey, Project, SigningKey, now_iso
from tests.emulators.supabase.routing import ApiError, Ctx, route

LEGACY_ROLES = ("anon", "service_role")


def _legacy_json(project: Project, role: str) -> dict[str, Any]:
    """As recorded: legacy keys are shown in full, revealed or not, without timestamps."""
    key = project.anon_key if role == "anon" else project.service_role_key
    return {
        "name": role,
        "api_key": key,
        "id": role,
        "type": "legacy",
        "hash": tokens.key_hash(key),
        "prefix": tokens.key_prefix(key),
        "description": f"Legacy {role} API key",
    }


def _find_key(ctx: Ctx, project: Project) -> ApiKey:
    key = project.api_keys.get(ctx.params["id"])
    if key is None:
        raise ApiError(404, "API key not found")
    return key


@route("v1-get-project-api-keys")
def list_api_keys(ctx: Ctx) -> Response:
    project = ctx.project()
    reveal = ctx.flag("reveal")
    keys = [_legacy_json(project, role) for role in LEGACY_ROLES]
    keys += [key.to_json(reveal=reveal) for key in project.api_keys.values()]
    return Response(200, keys)


@route("v1-create-project-api-key")
def create_api_key(ctx: Ctx) -> Response:
    project = ctx.project()
    body: dict[str, Any] = ctx.body
    template = body.get("secret_jwt_template")
    if body["type"] == "secret" and template is None:
        template = {"role": "service_role"}
    if body["type"] == "publishable" and template is not None:
        raise ApiError(400, "secret_jwt_template is only allowed for secret keys")
    key = ctx.emulator.state.new_api_key(body["type"], body["name"], body.get("description"), template)
    project.api_keys[key.id] = key
    return Response(201, key.to_json(reveal=ctx.flag("reveal")))


@route("v1-get-project-api-key")
def get_api_key(ctx: Ctx) -> Response:
    project = ctx.project()
    if ctx.params["id"] in LEGACY_ROLES:
        return Response(200, _legacy_json(project, ctx.params["id"]))
    return Response(200, _find_key(ctx, project).to_json(reveal=ctx.flag("reveal")))


@route("v1-update-project-api-key")
def update_api_key(ctx: Ctx) -> Response:
    project = ctx.project()
    if ctx.params["id"] in LEGACY_ROLES:
        raise ApiError(400, "Legacy API keys cannot be changed")
    key = _find_key(ctx, project)
    body: dict[str, Any] = ctx.body or {}
    if "secret_jwt_template" in body and key.type != "secret":
        raise ApiError(400, "secret_jwt_template is only allowed for secret keys")
    for name in ("name", "description", "secret_jwt_template"):
        if name in body:
            setattr(key, name, body[name])
    key.updated_at = now_iso()
    return Response(200, key.to_json(reveal=ctx.flag("reveal")))


@route("v1-delete-project-api-key")
def delete_api_key(ctx: Ctx) -> Response:
    project = ctx.project()
    if ctx.params["id"] in LEGACY_ROLES:
        raise ApiError(400, "Legacy API keys cannot be deleted; disable them instead")
    key = project.api_keys.pop(_find_key(ctx, project).id)
    return Response(200, key.to_json(reveal=ctx.flag("reveal")))


@route("v1-get-project-legacy-api-keys")
def get_legacy_keys(ctx: Ctx) -> Response:
    return Response(200, {"enabled": ctx.project().legacy_keys_enabled})


@route("v1-update-project-legacy-api-keys")
def set_legacy_keys(ctx: Ctx) -> Response:
    project = ctx.project()
    enabled = ctx.flag("enabled")
    legacy = signing_keys.legacy(project)
    if enabled and legacy is not None and legacy.status == "revoked":
        raise ApiError(400, "The legacy JWT secret is revoked; move it to standby before enabling legacy API keys.")
    project.legacy_keys_enabled = enabled
    return Response(200, {"enabled": enabled})


# -- JWT signing keys ----------------------------------------------------------------------
def _signing_key(ctx: Ctx, project: Project) -> SigningKey:
    key = project.signing_keys.get(ctx.params["id"])
    if key is None:
        raise ApiError(404, "Signing key not found")
    return key


def _refusals(action: Any) -> Any:
    try:
        return action()
    except signing_keys.SigningKeyRefused as refused:
        wait = {} if refused.retry_in is None else {"X-RateLimit-Reset": str(refused.retry_in)}
        raise ApiError(refused.status, refused.message, headers=wait) from refused


@route("v1-get-project-signing-keys")
def list_signing_keys(ctx: Ctx) -> Response:
    project = ctx.project()
    return Response(200, {"keys": [key.to_json() for key in project.signing_keys.values()]})


@route("v1-create-project-signing-key")
def create_signing_key(ctx: Ctx) -> Response:
    project = ctx.project()
    body: dict[str, Any] = ctx.body
    with project.lock:
        key = signing_keys.create(project, body["algorithm"], body.get("status", "standby"))
    return Response(201, key.to_json())


@route("v1-get-legacy-signing-key")
def get_legacy_signing_key(ctx: Ctx) -> Response:
    key = signing_keys.legacy(ctx.project())
    if key is None:
        raise ApiError(404, "The legacy JWT secret has not been imported as a signing key")
    return Response(200, key.to_json())


@route("v1-create-legacy-signing-key")
def import_legacy_signing_key(ctx: Ctx) -> Response:
    project = ctx.project()
    with project.lock:
        key = _refusals(lambda: signing_keys.import_legacy(project))
    return Response(201, key.to_json())


@route("v1-get-project-signing-key")
def get_signing_key(ctx: Ctx) -> Response:
    project = ctx.project()
    return Response(200, _signing_key(ctx, project).to_json())


@route("v1-update-project-signing-key")
def update_signing_key(ctx: Ctx) -> Response:
    project = ctx.project()
    interval = ctx.emulator.behaviour.signing_key_interval
    with project.lock:
        key = _signing_key(ctx, project)
        now = ctx.emulator.clock()
        _refusals(lambda: signing_keys.change_status(project, key, ctx.body["status"], interval=interval, now=now))
    return Response(200, key.to_json())


@route("v1-remove-project-signing-key")
def delete_signing_key(ctx: Ctx) -> Response:
    project = ctx.project()
    interval = ctx.emulator.behaviour.signing_key_interval
    with project.lock:
        key = _signing_key(ctx, project)
        _refusals(lambda: signing_keys.remove(project, key, interval=interval, now=ctx.emulator.clock()))
    return Response(200, key.to_json())
