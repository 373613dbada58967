"""The HTTP face of the emulator: every request goes through

    route by the spec -> bearer token (401) -> rate limit (429) -> query and body checked
    against the spec (400) -> the operation's handler

and every answer carries X-RateLimit-Limit/-Remaining/-Reset like the real API's
(recorded in every fixture). Errors are ``{"message": …}`` as the API sends them.
"""

from __future__ import annotations

import json
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from tests.emulators.common.openapi import load_spec, specs_dir
from tests.emulators.common.ratelimit import RateLimiter, RateState
from tests.emulators.common.server import Drop, EmulatorApp, Request, Response
from tests.emulators.supabase import admin_routes, project_api
from tests.emulators.supabase import backup_routes as _backup_routes  # noqa: F401  (registers routes)
from tests.emulators.supabase import branch_routes as _branch_routes  # noqa: F401
from tests.emulators.supabase import config_routes as _config_routes  # noqa: F401
from tests.emulators.supabase import key_routes as _key_routes  # noqa: F401
from tests.emulators.supabase import network_routes as _network_routes  # noqa: F401
from tests.emulators.supabase import project_routes as _project_routes  # noqa: F401
from tests.emulators.supabase import replica_routes as _replica_routes  # noqa: F401
from tests.emulators.supabase.projects import Tenant
from tests.emulators.supabase.routing import HANDLERS, ApiError, Ctx

if TYPE_CHECKING:
    from tests.emulators.supabase.emulator import SupabaseEmulator

SPEC_FILE = "supabase-management-api.json"
UNAUTHORIZED = {"message": "Unauthorized"}  # supabase/cli#1053, #6480
THROTTLED = {"message": "ThrottlerException: Too Many Requests"}  # dyad-sh/dyad#2147


class SupabaseApp(EmulatorApp):
    service = "supabase"
    secret_fields = frozenset({"db_pass", "password", "private_jwk", "secret_jwt", "jwt_secret"})
    tolerated_statuses = MappingProxyType(
        {
            400: "recorded: DELETE /v1/projects/{ref} while provisioning; invalid bodies",
            404: "recorded for unknown resources; the API answers it for unknown refs on every route",
            422: "DELETE of a persistent branch (supabase/terraform-provider-supabase PR #339)",
        }
    )

    def __init__(self, emulator: SupabaseEmulator, limiter: RateLimiter) -> None:
        super().__init__(load_spec(specs_dir() / SPEC_FILE))
        self.emulator = emulator
        self.limiter = limiter

    # -- the pipeline ----------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response | Drop:
        # A project's own APIs (Auth, Data API) are not the Management API: no token, no call
        # log, no spec to check them against (project_api.py).
        if project_api.handles(request.path):
            return project_api.handle(self.emulator, request)
        return super().dispatch(request)

    def handle(self, request: Request) -> Response:
        assert self.spec is not None
        self.emulator.sweep_removed()
        matched = self.spec.match(request.method, request.path)
        token = request.bearer
        if matched is None:
            rate = self.limiter.hit(f"{token}|unrouted")
            self.record_undocumented(request, f"{request.method} {request.path}")
            return self._answer(Response(404, {"message": f"Cannot {request.method} {request.path}"}), rate)
        operation, params = matched
        scope = params.get("ref") or params.get("slug") or params.get("branch_id_or_ref") or ""
        tenant = self.emulator.state.tenant_by_token(token)
        if tenant is None:
            rate = self.limiter.hit(f"unauthenticated|{operation.operation_id}")
            return self._answer(Response(401, dict(UNAUTHORIZED), operation_id=operation.operation_id), rate)
        rate = self.limiter.hit(f"{tenant.token}|{operation.operation_id}|{scope}")
        answer = self._authorized(request, operation.operation_id, params, tenant, rate)
        answer.headers["x-gotrue-id"] = tenant.user_id
        answer.operation_id, answer.tenant = operation.operation_id, tenant.id
        return self._answer(answer, rate)

    def _authorized(
        self, request: Request, operation_id: str, params: dict[str, str], tenant: Tenant, rate: RateState
    ) -> Response:
        assert self.spec is not None
        if not rate.allowed:
            return Response(429, dict(THROTTLED))
        handler = HANDLERS.get(operation_id)
        if handler is None:
            # Not a real answer: a test that needs this operation learns it is missing.
            return Response(501, {"message": f"the emulator does not implement {operation_id}"})
        operation = self.spec.operations[operation_id]
        body: Any = None
        if operation.request_schema() is not None:
            try:
                body = request.json()
            except ValueError as exc:
                self.record_violations(request, [f"request to {operation_id}: the body is not JSON"])
                return Response(400, {"message": f"Invalid JSON body: {exc}"})
        problems = self.request_problems(request, operation_id, body)
        if problems:
            # The real API refuses it; the test that sent it fails too.
            self.record_violations(request, problems)
            return Response(400, {"message": "; ".join(problems)})
        try:
            return handler(Ctx(self.emulator, tenant, request, params, body))
        except ApiError as error:
            return Response(error.status, {"message": error.message}, dict(error.headers))

    @staticmethod
    def _answer(response: Response, rate: RateState) -> Response:
        # A refusal that names its own wait (a throttled signing-key change) keeps it.
        for name, value in (
            ("X-RateLimit-Limit", rate.limit),
            ("X-RateLimit-Remaining", rate.remaining),
            ("X-RateLimit-Reset", rate.reset_seconds),
        ):
            response.headers.setdefault(name, str(value))
        return response

    # -- answer checks -----------------------------------------------------------------------
    def check_response(self, request: Request, response: Response) -> None:
        assert self.spec is not None
        problems: list[str] = []
        if self.spec.match(request.method, request.path) is None and response.status == 404:
            pass  # the right answer for a route the API does not have
        else:
            super().check_response(request, response)
        if response.status in self.tolerated_statuses or response.status == 404:
            body = response.body
            if not (isinstance(body, dict) and isinstance(body.get("message"), str)):
                problems.append(f"status {response.status}: body is not {{'message': str}}: {json.dumps(body)[:200]}")
        if problems:
            with self._violations_lock:
                self._violations.extend(f"{request.method} {request.path}: {p}" for p in problems)

    def tenant_of(self, request: Request) -> str | None:
        tenant = self.emulator.state.tenant_by_token(request.bearer)
        return tenant.id if tenant is not None else None

    def admin(self, request: Request, action: str) -> Response | None:
        return admin_routes.handle(self.emulator, request, action)
