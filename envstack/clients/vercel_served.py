"""Which deployments serve a Vercel target now: what a redeploy rebuilds and what ``doctor``
checks, chosen in one place so the two never disagree.

- production: the deployment the production domains point at (``targets.production``), so an
  Instant Rollback is respected: the rolled-back-to build is rebuilt, never the newer one that
  was rolled away from;
- a branch-scoped preview: that branch's newest ready preview deployment, or none;
- the shared preview target (no branch): every branch's preview deployments read it, so the
  newest ready one of each branch, for the ``PREVIEW_BRANCHES`` most recently deployed
  branches among the newest ``PAGE`` deployments (one list call, however many branches);
- a custom environment (``env_…``): its newest ready deployment, read page by page among the
  project's ready deployments (the list cannot be narrowed to one custom environment), up to
  ``CUSTOM_ENVIRONMENT_PAGES`` pages: a busy project's other targets may have made many
  deployments since the environment's last one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envstack.clients.vercel import Deployment, VercelClient

PREVIEW_BRANCHES = 10
PAGE = 100
CUSTOM_ENVIRONMENT_PAGES = 20


@dataclass(frozen=True)
class Served:
    deployments: tuple[Deployment, ...]  # newest first
    absent: str = ""  # why there is none
    rolled_back: bool = False  # production only: an Instant Rollback put the served one there
    automatic: bool = True  # production only: new production builds are served (not STAGED)


def served(client: VercelClient, project_id: str, target: str, git_branch: str | None = None) -> Served:
    if target == "production":
        production = client.production(project_id)
        if production.served is None or (production.served.ready_state or "READY") != "READY":
            return Served((), "no production deployment yet; the first one reads the variables")
        return Served((production.served,), rolled_back=production.rolled_back, automatic=production.automatic)
    if target != "preview":
        listed = client.deployments(project_id, state="READY", pages=CUSTOM_ENVIRONMENT_PAGES)
        latest = next((d for d in listed if d.custom_environment_id == target), None)
        if latest is None:
            absent = (
                "no deployment in this environment among the project's newest "
                f"{CUSTOM_ENVIRONMENT_PAGES * PAGE} ready deployments; its next one reads the variables"
            )
            return Served((), absent)
        return Served((latest,))
    ready = client.list_deployments(project_id, branch=git_branch or None, state="READY", limit=PAGE)
    ready.sort(key=lambda d: d.created or 0.0, reverse=True)
    previews = [d for d in ready if d.target in (None, "preview") and d.custom_environment_id is None]
    if git_branch:
        absent = f"no preview deployment of branch {git_branch} yet; its first one reads the variables"
        return Served(tuple(previews[:1]), "" if previews else absent)
    newest: dict[str | None, Deployment] = {}
    for deployment in previews:
        newest.setdefault(deployment.git_branch, deployment)
    chosen = tuple(list(newest.values())[:PREVIEW_BRANCHES])
    return Served(chosen, "" if chosen else "no preview deployment yet; the first one reads the variables")
