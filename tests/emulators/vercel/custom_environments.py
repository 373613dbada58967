"""Custom environments, which emulate does not keep: a project's environments, and which
deployment was built into which.

Only what envstack and the Vercel CLI read is kept: an environment's id (``env_…``) and slug,
listed by ``GET /v9/projects/{idOrName}/custom-environments``; a deployment built into one
(a redeploy naming it in ``customEnvironmentSlugOrId``) shows it as ``customEnvironment`` when
it is read or listed, as the real API's does (the shape the spec gives for getDeployment).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any


class CustomEnvironments:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._of_project: dict[str, list[dict[str, Any]]] = {}
        self._of_deployment: dict[str, dict[str, Any]] = {}

    def add(self, project_id: str, slug: str) -> dict[str, Any]:
        """A new environment of the project (what the dashboard or the API's POST would make)."""
        now = int(time.time() * 1000)
        environment = {
            "id": f"env_{secrets.token_hex(12)}",
            "slug": slug,
            "type": "preview",
            "createdAt": now,
            "updatedAt": now,
        }
        with self._lock:
            self._of_project.setdefault(project_id, []).append(environment)
        return dict(environment)

    def of_project(self, project_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._of_project.get(project_id, [])]

    def find(self, project_id: str, slug_or_id: str) -> dict[str, Any] | None:
        return next((e for e in self.of_project(project_id) if slug_or_id in (e["id"], e["slug"])), None)

    def built_into(self, deployment_id: str, environment: dict[str, Any]) -> None:
        with self._lock:
            self._of_deployment[deployment_id] = dict(environment)

    def of_deployment(self, deployment_id: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._of_deployment.get(deployment_id)
        return dict(found) if found else None
