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
  project's deployments (the list cannot be narrowed to one custom environment), up to
  ``CUSTOM_ENVIRONMENT_PAGES`` pages: a busy project's other targets may have made many
  deployments since the environment's last one.

"Newest ready" is the one that became ready last, not the one created last: Vercel gives a
branch's or an environment's domains to each build as it finishes, so a build created earlier
that finishes later takes them (builds finish out of order; production's own domains follow
``targets.production``, which says so directly).

Each also names the target's builds still under way (``building``): a Git push's build that
started before the variables changed reads the old values and, once ready, serves the target
in place of the rebuild. For production they matter only while new production builds are
served automatically; staged ones serve nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envstack.clients.vercel import Deployment, VercelClient

PREVIEW_BRANCHES = 10
PAGE = 100
CUSTOM_ENVIRONMENT_PAGES = 20
# A deployment in one of these states has not finished building.
UNDER_WAY = frozenset({"QUEUED", "INITIALIZING", "BUILDING"})


@dataclass(frozen=True)
class Served:
    deployments: tuple[Deployment, ...]  # newest first
    absent: str = ""  # why there is none
    rolled_back: bool = False  # production only: an Instant Rollback put the served one there
    automatic: bool = True  # production only: new production builds are served (not STAGED)
    building: tuple[Deployment, ...] = ()  # the target's builds under way, newest first


def under_way(deployment: Deployment) -> bool:
    return (deployment.ready_state or "") in UNDER_WAY


def served(client: VercelClient, project_id: str, target: str, git_branch: str | None = None) -> Served:
    if target == "production":
        return _production(client, project_id)
    if target != "preview":
        return _custom_environment(client, project_id, target)
    # Every state, not only READY: the same call shows the builds still under way.
    listed = client.list_deployments(project_id, branch=git_branch or None, limit=PAGE)
    previews = [d for d in listed if d.target in (None, "preview") and d.custom_environment_id is None]
    building = tuple(sorted((d for d in previews if under_way(d)), key=lambda d: d.created or 0.0, reverse=True))
    ready = sorted((d for d in previews if d.ready_state == "READY"), key=lambda d: d.finished, reverse=True)
    if git_branch:
        absent = f"no preview deployment of branch {git_branch} yet; its first one reads the variables"
        return Served(tuple(ready[:1]), "" if ready else absent, building=building)
    newest: dict[str | None, Deployment] = {}
    for deployment in ready:
        newest.setdefault(deployment.git_branch, deployment)
    chosen = tuple(list(newest.values())[:PREVIEW_BRANCHES])
    absent = "no preview deployment yet; the first one reads the variables"
    return Served(chosen, "" if chosen else absent, building=building)


def _production(client: VercelClient, project_id: str) -> Served:
    production = client.production(project_id)
    building: tuple[Deployment, ...] = ()
    if production.automatic:
        listed = client.list_deployments(project_id, target="production", limit=PAGE)
        building = tuple(d for d in listed if under_way(d))
    if production.served is None or (production.served.ready_state or "READY") != "READY":
        absent = "no production deployment yet; the first one reads the variables"
        return Served((), absent, automatic=production.automatic, building=building)
    return Served(
        (production.served,), rolled_back=production.rolled_back, automatic=production.automatic, building=building
    )


def _custom_environment(client: VercelClient, project_id: str, target: str) -> Served:
    building: list[Deployment] = []
    # Newest first: the environment's builds under way come before its newest ready one, and
    # one that finished after it is on the same page (or, out of order, on the one before).
    for page in client.deployment_pages(project_id, pages=CUSTOM_ENVIRONMENT_PAGES):
        mine = [d for d in page if d.custom_environment_id == target]
        building += [d for d in mine if under_way(d)]
        ready = [d for d in mine if d.ready_state == "READY"]
        if ready:
            return Served((max(ready, key=lambda d: d.finished),), building=tuple(building))
    absent = (
        "no deployment in this environment among the project's newest "
        f"{CUSTOM_ENVIRONMENT_PAGES * PAGE} deployments; its next one reads the variables"
    )
    return Served((), absent, building=tuple(building))
