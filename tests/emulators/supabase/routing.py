"""How a route handler is written: it gets a ``Ctx`` and returns a Response or raises
``ApiError``; ``route`` registers it under the spec's operation id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tests.emulators.common.server import Request, Response
from tests.emulators.supabase.projects import Project, Tenant

if TYPE_CHECKING:
    from tests.emulators.supabase.emulator import SupabaseEmulator

Handler = Callable[["Ctx"], Response]
HANDLERS: dict[str, Handler] = {}


class ApiError(Exception):
    """An error answer in the API's usual shape, ``{"message": …}``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def route(operation_id: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if operation_id in HANDLERS:
            raise RuntimeError(f"two handlers for {operation_id}")
        HANDLERS[operation_id] = handler
        return handler

    return register


@dataclass
class Ctx:
    emulator: SupabaseEmulator
    tenant: Tenant
    request: Request
    params: dict[str, str]  # path parameters
    body: Any

    def project(self, key: str = "ref") -> Project:
        """The caller's project named by the path; 404 as the real API answers otherwise."""
        project = self.emulator.state.project_of(self.tenant, self.params[key])
        if project is None:
            raise ApiError(404, "Project not found")
        self.emulator.seen_active(project)
        return project

    def flag(self, name: str) -> bool:
        return (self.request.param(name) or "").lower() == "true"
