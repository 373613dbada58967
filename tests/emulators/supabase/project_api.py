"""Stand-ins for a project's own APIs (Auth and the Data API), so tests can watch a rotated
key stop working. They are NOT the Management API and not in its spec: a real project
serves them at ``https://<ref>.supabase.co``; here they live under

    {emulator url}/project-api/<ref>/...

(``SupabaseTenant.project_api_url(ref)``), answered without the Management API's token,
rate limits, call log or spec checks. Only what rotation needs is emulated:

    GET  …/auth/v1/.well-known/jwks.json   public keys of every signing key that is not
                                           revoked (standby ones included: they are published
                                           before they sign, so caches learn them in time)
    POST …/auth/v1/token?grant_type=password   header ``apikey``; body {"email", "password"}.
                                           Any email signs in (no users are stored, the
                                           password is not checked); the access token is
                                           signed by the key in use (the legacy JWT secret,
                                           without ``kid``, while none was imported) and
                                           expires after the Auth config's ``jwt_exp``.
    GET  …/auth/v1/user                    headers ``apikey`` and ``Authorization: Bearer
                                           <user token>``: the token's user, 403 ``bad_jwt``
                                           when its key is unknown or revoked, its signature
                                           wrong, or it has expired.
    GET  …/rest/v1/                        the Data API's door: header ``apikey``, and when
                                           ``Authorization`` carries a token it must pass the
                                           same checks (401 ``PGRST301``). Answers {"role"}.

An API key is valid while it exists: a publishable or secret key not deleted, or the legacy
``anon``/``service_role`` keys while legacy keys are enabled and the legacy secret they are
signed with is not revoked. Error bodies follow the real services' shapes (the API
gateway's ``{"message", "hint"}``, GoTrue's ``{"code", "error_code", "msg"}``, PostgREST's
``{"code", "details", "hint", "message"}``).
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from tests.emulators.common.server import Request, Response
from tests.emulators.supabase import signing_keys, tokens
from tests.emulators.supabase.projects import Project

if TYPE_CHECKING:
    from tests.emulators.supabase.emulator import SupabaseEmulator

PREFIX = "/project-api/"
JWKS_MAX_AGE = 600  # what a client (or CDN) may cache the key set for
_ROUTE = re.compile(r"/project-api/(?P<ref>[a-z]{20})(?P<rest>/.*)")
_USERS = uuid.UUID("6f1b5c3e-4d0a-4e8b-9a51-0c2d7e9f1a24")  # namespace for stable user ids


def handles(path: str) -> bool:
    return path.startswith(PREFIX)


def handle(emulator: SupabaseEmulator, request: Request) -> Response:
    found = _ROUTE.fullmatch(request.path)
    with emulator.state.lock:
        project = emulator.state.projects.get(found["ref"]) if found else None
    if found is None or project is None:
        return Response(404, {"message": "no project answers here"})
    if project.status != "ACTIVE_HEALTHY":
        return Response(503, {"message": f"project {project.ref} is {project.status}"})
    route = (request.method, found["rest"])
    if route == ("GET", "/auth/v1/.well-known/jwks.json"):
        return _jwks(project)
    if route == ("POST", "/auth/v1/token"):
        return _sign_in(project, request)
    if route == ("GET", "/auth/v1/user"):
        return _user(project, request)
    if route == ("GET", "/rest/v1/"):
        return _data(project, request)
    return Response(404, {"message": f"the emulator has no {request.method} {found['rest']}"})


def _jwks(project: Project) -> Response:
    keys = [k.public_jwk for k in list(project.signing_keys.values()) if k.public_jwk and k.status != "revoked"]
    return Response(200, {"keys": keys}, {"Cache-Control": f"public, max-age={JWKS_MAX_AGE}"})


def _api_key_role(project: Project, request: Request) -> tuple[str | None, Response | None]:
    """The role a request's ``apikey`` stands for, or the gateway's refusal."""
    key = request.headers.get("apikey") or request.param("apikey")
    if not key:
        return None, Response(
            401,
            {"message": "No API key found in request", "hint": "No `apikey` request header or url param was found."},
        )
    legacy = signing_keys.legacy(project)
    legacy_usable = project.legacy_keys_enabled and (legacy is None or legacy.status != "revoked")
    if legacy_usable and key == project.anon_key:
        return "anon", None
    if legacy_usable and key == project.service_role_key:
        return "service_role", None
    for api_key in list(project.api_keys.values()):
        if secrets.compare_digest(api_key.api_key, key):
            return ("anon" if api_key.type == "publishable" else "service_role"), None
    return None, Response(
        401, {"message": "Invalid API key", "hint": "Double check your Supabase `anon` or `service_role` API key."}
    )


def verify_user_token(project: Project, token: str) -> dict[str, Any]:
    """The claims of a token the project's APIs accept; ValueError saying why not."""
    kid = tokens.token_header(token).get("kid")
    if kid is not None:
        key = project.signing_keys.get(str(kid))
        if key is None or not signing_keys.trusted(project, key):
            raise ValueError("signed by a key that is unknown or revoked")
        if key.legacy:
            claims = tokens.verify_jwt(token, secret=project.jwt_secret)
        elif key.algorithm == "HS256":
            claims = tokens.verify_jwt(token, secret=str(key.private))
        else:
            claims = tokens.verify_jwt(token, jwk=key.public_jwk)
    else:
        legacy = signing_keys.legacy(project)
        if legacy is not None and legacy.status == "revoked":
            raise ValueError("signed with the legacy JWT secret, which is revoked")
        claims = tokens.verify_jwt(token, secret=project.jwt_secret)
    if float(claims.get("exp") or 0) <= time.time():
        raise ValueError("token is expired")
    return claims


def issue_user_token(project: Project, email: str) -> dict[str, Any]:
    """An access token for ``email``, signed the way the project's Auth signs now."""
    now = int(time.time())
    lifetime = int(project.auth_config.get("jwt_exp") or 3600)
    user_id = str(uuid.uuid5(_USERS, f"{project.ref}/{email}"))
    claims = {
        "iss": f"https://{project.ref}.supabase.co/auth/v1",
        "sub": user_id,
        "aud": "authenticated",
        "exp": now + lifetime,
        "iat": now,
        "email": email,
        "role": "authenticated",
        "session_id": str(uuid.uuid4()),
    }
    key = signing_keys.signing_key(project)
    if key is None:
        token = tokens.sign_jwt(claims, "HS256", project.jwt_secret)
    elif key.legacy:
        token = tokens.sign_jwt(claims, "HS256", project.jwt_secret, kid=key.id)
    else:
        token = tokens.sign_jwt(claims, key.algorithm, key.private, kid=key.id)
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime,
        "expires_at": now + lifetime,
        "refresh_token": secrets.token_urlsafe(16),
        "user": {"id": user_id, "aud": "authenticated", "role": "authenticated", "email": email},
    }


def _sign_in(project: Project, request: Request) -> Response:
    _, refused = _api_key_role(project, request)
    if refused is not None:
        return refused
    if request.param("grant_type") != "password":
        return Response(400, {"code": 400, "error_code": "validation_failed", "msg": "unsupported grant_type"})
    try:
        body = request.json() or {}
    except ValueError:
        body = {}
    email = body.get("email") if isinstance(body, dict) else None
    if not isinstance(email, str) or "@" not in email:
        return Response(400, {"code": 400, "error_code": "validation_failed", "msg": "An email address is required"})
    return Response(200, issue_user_token(project, email))


def _bearer(request: Request) -> str | None:
    token = request.bearer
    return token if token and not token.startswith("sb_") else None


def _user(project: Project, request: Request) -> Response:
    _, refused = _api_key_role(project, request)
    if refused is not None:
        return refused
    token = _bearer(request)
    if token is None:
        return Response(
            401, {"code": 401, "error_code": "no_authorization", "msg": "This endpoint requires a valid Bearer token"}
        )
    try:
        claims = verify_user_token(project, token)
    except ValueError as exc:
        return Response(403, {"code": 403, "error_code": "bad_jwt", "msg": f"invalid JWT: {exc}"})
    return Response(
        200,
        {"id": claims.get("sub"), "aud": claims.get("aud"), "role": claims.get("role"), "email": claims.get("email")},
    )


def _data(project: Project, request: Request) -> Response:
    role, refused = _api_key_role(project, request)
    if refused is not None:
        return refused
    token = _bearer(request)
    if token is not None:
        try:
            role = str(verify_user_token(project, token).get("role") or role)
        except ValueError as exc:
            return Response(401, {"code": "PGRST301", "details": str(exc), "hint": None, "message": "JWT invalid"})
    return Response(200, {"role": role})
