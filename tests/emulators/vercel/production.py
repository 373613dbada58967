"""Which deployment each project's production domains serve: promotion and Instant Rollback.

emulate points a project's production alias at every production deployment the moment it is
created and has no promote or rollback. Vercel's rules, as its docs describe them
(https://vercel.com/docs/instant-rollback, /docs/deployments/promoting-a-deployment):

- a production deployment serves production once it is READY, while the project assigns its
  production domains automatically (``readySubstate`` PROMOTED): the domains go to each build
  as it finishes, so one created earlier that finishes later takes them from a newer one
  (builds finish out of order: colophon-group/jobseek#6655, a parent commit's build holding
  production after its child's);
- an Instant Rollback (``POST /v9/projects/{id}/rollback/{deploymentId}``, what the Vercel
  CLI's ``rollback`` sends; ``/v1`` in the REST docs) points the domains back at a deployment
  that served production before, and turns automatic assignment off: production deployments
  made after it build but are not served (``readySubstate`` STAGED);
- a promotion (``POST /v10/projects/{id}/promote/{deploymentId}``) points the domains at a
  READY production deployment without rebuilding it and turns automatic assignment back on;
- both leave ``lastAliasRequest`` on the project (``type`` rollback or promote), which the
  CLI polls; the project's ``targets.production`` is the deployment being served;
- automatic assignment is also a project setting of its own (``autoAssignCustomDomains``,
  shown by getProject and set by updateProject): a team that promotes by hand turns it off,
  and its production builds are STAGED with no rollback behind them.

Deployments are given here as emulate lists them with the build timeline laid over
(``readyState`` as of now, ``created`` in ms).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Project:
    automatic: bool = True
    pinned: str | None = None  # the deployment a promote or rollback pointed the domains at
    pinned_at: float = 0.0  # ms
    staged: set[str] = field(default_factory=set)  # built while automatic assignment was off
    served_before: set[str] = field(default_factory=set)  # rollback candidates
    request: dict[str, Any] | None = None  # lastAliasRequest


class ProductionAliases:
    def __init__(self) -> None:
        self._projects: dict[str, _Project] = {}
        self._lock = threading.Lock()

    def _of(self, project_id: str) -> _Project:
        return self._projects.setdefault(project_id, _Project())

    def created(self, project_id: str, deployment_id: str) -> None:
        """A production deployment was created: staged when automatic assignment is off."""
        with self._lock:
            project = self._of(project_id)
            if not project.automatic:
                project.staged.add(deployment_id)

    def automatic(self, project_id: str) -> bool:
        with self._lock:
            return self._of(project_id).automatic

    def set_automatic(self, project_id: str, on: bool) -> None:
        """The project setting: builds made from now on are served (on) or staged (off)."""
        with self._lock:
            self._of(project_id).automatic = on

    def served(self, project_id: str, production: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
        """The deployment the production domains point at, among the project's production ones."""
        with self._lock:
            project = self._of(project_id)
            ready = [d for d in production if d.get("readyState") == "READY" and _id(d) not in project.staged]
            later = [d for d in ready if _finished(d) > project.pinned_at]
            candidates = later if project.pinned is not None else ready
            if project.automatic:
                # Each was served once it was the newest ready one: all may be rolled back to.
                project.served_before.update(_id(d) for d in candidates)
            if project.pinned is not None and not (project.automatic and later):
                return next((d for d in production if _id(d) == project.pinned), None)
            return max(candidates, key=_finished, default=None)

    def substate(self, project_id: str, deployment: dict[str, Any]) -> str | None:
        if deployment.get("target") != "production" or deployment.get("readyState") != "READY":
            return None
        with self._lock:
            return "STAGED" if _id(deployment) in self._of(project_id).staged else "PROMOTED"

    def last_request(self, project_id: str) -> dict[str, Any] | None:
        with self._lock:
            request = self._of(project_id).request
            return dict(request) if request else None

    def promote(self, project_id: str, deployment: dict[str, Any], current: str | None, now_ms: int) -> str | None:
        """Point production at ``deployment``; a refusal's message, or None when done."""
        if deployment.get("target") != "production":
            return "Only a production deployment can be promoted without a rebuild; redeploy it to production."
        if deployment.get("readyState") != "READY":
            return "The deployment is not ready, so it cannot be promoted."
        with self._lock:
            project = self._of(project_id)
            project.automatic = True
            project.staged.discard(_id(deployment))
            self._pin(project, "promote", deployment, current, now_ms)
        return None

    def rollback(self, project_id: str, deployment: dict[str, Any], current: str | None, now_ms: int) -> str | None:
        """Point production back at ``deployment``; a refusal's message, or None when done."""
        with self._lock:
            project = self._of(project_id)
            if _id(deployment) not in project.served_before or deployment.get("readyState") != "READY":
                return "This deployment never served production, so it cannot be rolled back to."
            project.automatic = False
            self._pin(project, "rollback", deployment, current, now_ms)
        return None

    @staticmethod
    def _pin(project: _Project, kind: str, deployment: dict[str, Any], current: str | None, now_ms: int) -> None:
        project.pinned = _id(deployment)
        project.pinned_at = float(now_ms)
        project.served_before.add(_id(deployment))
        project.request = {
            "fromDeploymentId": current or _id(deployment),
            "toDeploymentId": _id(deployment),
            "jobStatus": "succeeded",
            "requestedAt": now_ms,
            "type": kind,
        }


def _id(deployment: dict[str, Any]) -> str:
    return str(deployment.get("uid") or deployment.get("id"))


def _created(deployment: dict[str, Any]) -> float:
    return float(deployment.get("created") or deployment.get("createdAt") or 0)


def _finished(deployment: dict[str, Any]) -> float:
    """When it became ready (a deployment made READY at once has only its creation time)."""
    return float(deployment.get("readyAt") or deployment.get("ready") or _created(deployment))
