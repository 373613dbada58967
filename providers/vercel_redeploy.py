"""Dynamic provider: rebuild what serves a target so it picks up changed variables.

Vercel applies environment variables only to new deployments (promoting does not rebuild),
so after the variables of a target change, what serves it is redeployed (the CLI's
``vercel redeploy``: ``POST /v13/deployments?forceNew=1`` with ``deploymentId``) and polled
until it is READY, and on production until it is no longer ROLLING (a rolling release, while
the deployment before it still serves part of the traffic). ``trigger`` is a digest that
changes whenever any variable of the target changed; nothing is redeployed while it stays
the same.

What is rebuilt is what serves the target now (``envstack.clients.vercel_served``, which
``doctor`` checks too): production's current deployment (after an Instant Rollback, the
rolled-back-to build, redeployed to production; Vercel then stages the rebuild instead of
serving it, and the step fails saying to promote it), a branch's newest preview, the newest
preview of each recently deployed branch for the shared preview target, a custom
environment's newest deployment. Development has no deployments (``vercel dev`` and
``vercel env pull`` read variables directly), and a target with nothing deployed yet has
nothing to rebuild: both are recorded in ``skipped_reason`` instead of failing.

A build that already reads the variables is not rebuilt: each redeploy carries, in its
``meta``, a digest of the place and the ``trigger`` it was made for, and a served deployment
that carries the current one is taken as it is. So a production rebuild that was staged
(automatic assignment off) and then promoted by hand is done at the next ``up``, and a run
that failed on one branch's build rebuilds only what did not go through.

A redeploy is started exactly once. Its request carries a one-off value in the deployment's
``meta`` (a free-form string map that listed deployments show); after a 5xx, a reset or a
timeout, which may come after Vercel started the build, the project's deployments created
since the request are searched for that value, and the redeploy is asked for again only when
none carries it (``create_once``).

``api_url`` and ``team`` only say where the API is: changing them (a trailing slash, a team
slug changed to the team's id) neither replaces the resource nor rebuilds anything; the next
redeploy uses the new values.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.api_urls import VERCEL_API_URL
from envstack.clients.polling import Backoff
from envstack.errors import ResourceError
from providers import vercel_access
from providers.declared import Declared, Inputs
from providers.unknowns import is_unknown

if TYPE_CHECKING:
    from envstack.clients.vercel import Deployment, VercelClient
    from envstack.clients.vercel_served import Served

# The first poll comes soon and later ones less often, every 3 s at most. A real build takes
# tens of seconds, so starting at a quarter of a second costs only a few early calls (the
# waits grow by half each time: nine polls in the first 15 s, three more than a start at 1 s,
# and the same every 3 s after), while a quick rebuild (cached work, or the local API's) is
# seen almost as soon as it is READY.
FIRST_POLL_SECONDS = 0.25
POLL_SECONDS = 3.0
# How far this machine's clock may run ahead of Vercel's without missing a redeploy whose
# answer was lost (deployments are looked up by creation time on Vercel's clock).
CLOCK_SLACK_MS = 10 * 60 * 1000
# A build created up to this long after the redeploy began is still taken to have begun before
# the variables changed (Vercel's clock may run a little behind this machine's); one taken for
# that wrongly is only rebuilt once more.
_BEGUN_ALLOWANCE_MS = 60 * 1000
_FAILED = {"ERROR", "CANCELED", "DELETED"}
_INPUTS = (
    "api_url",
    "team",
    "project_id",
    "project_name",
    "target",
    "git_branch",
    "trigger",
    "enabled",
    "timeout_seconds",
)
# Where the rebuild happens; api_url and team are only how Vercel is reached, not a reason to rebuild.
_PLACE = ("project_id", "target", "git_branch")


def _pause(seconds: float) -> None:
    time.sleep(seconds)


def _clock() -> float:
    return time.monotonic()


def _now_ms() -> int:
    """Wall-clock time as Vercel stamps deployments: milliseconds since the epoch."""
    return int(time.time() * 1000)


def _describe(props: dict[str, Any]) -> str:
    branch = f" (branch {props['git_branch']})" if props.get("git_branch") else ""
    return f"Vercel project {props.get('project_name') or props['project_id']}, {props['target']}{branch}"


def _outputs(props: dict[str, Any], **found: Any) -> dict[str, Any]:
    outs = {key: props.get(key) for key in _INPUTS}
    outs.update(
        {"deployment_id": None, "deployment_ids": [], "url": None, "ready_state": None, "skipped_reason": None},
        **found,
    )
    return outs


def _reads(props: dict[str, Any]) -> str:
    """What a rebuild for these props reads, as a digest that reveals nothing of the values."""
    place = [props.get("project_id"), props.get("target"), props.get("git_branch") or None, props.get("trigger")]
    return hashlib.sha256(repr(place).encode()).hexdigest()[:32]


def _redeploy(props: dict[str, Any]) -> dict[str, Any]:
    from envstack.clients.vercel import REDEPLOY_READS
    from envstack.clients.vercel_served import served

    where = _describe(props)
    target = str(props["target"])
    if not props.get("enabled"):
        return _outputs(props, skipped_reason="redeploys are disabled for this stack")
    if target == "development":
        return _outputs(props, skipped_reason="development has no deployments; `vercel env pull` reads the variables")
    reads = _reads(props)
    begun = _now_ms()
    timeout = float(props.get("timeout_seconds") or 900)
    with vercel_access.open_client(str(props["api_url"]), props.get("team")) as client:

        def look() -> Served:
            return served(client, str(props["project_id"]), target, props.get("git_branch") or None)

        now = look()
        waited: set[str] = set()
        while True:
            finals = _rebuild(client, props, now, reads, where, timeout)
            # A build that began before the variables changed reads the old values, and once
            # ready it serves the target instead of the rebuild: wait for it, then rebuild what
            # serves the target then. A build begun since reads the new values.
            late = [
                d
                for d in now.building
                if d.id not in waited
                and d.meta.get(REDEPLOY_READS) != reads
                and (d.created or 0) <= begun + _BEGUN_ALLOWANCE_MS
            ]
            if not late:
                break
            for deployment in late:
                pulumi.log.info(
                    f"{where}: {deployment.id} was building when the variables changed, so it reads the old values: "
                    "waiting for it, then rebuilding what serves the target"
                )
            _wait_done(client, late, where, timeout)
            waited.update(d.id for d in late)
            now = look()
    if not finals:
        pulumi.log.info(f"{where}: {now.absent}, so nothing to redeploy")
        return _outputs(props, skipped_reason=now.absent)
    first = finals[0]
    return _outputs(
        props,
        deployment_id=first.id,
        deployment_ids=[d.id for d in finals],
        url=first.url,
        ready_state=first.ready_state,
    )


def _rebuild(
    client: VercelClient, props: dict[str, Any], now: Served, reads: str, where: str, timeout: float
) -> list[Deployment]:
    """Rebuild each deployment serving the target that does not read ``reads`` yet, and wait
    until every one is ready; the served ones, rebuilt or already reading it, in order."""
    from envstack.clients.vercel import REDEPLOY_READS

    target = str(props["target"])
    started = []
    for source in now.deployments:
        if source.meta.get(REDEPLOY_READS) == reads:
            pulumi.log.info(f"{where}: {source.id} already reads these variables (an earlier run rebuilt it)")
            started.append(source)
            continue
        pulumi.log.info(f"{where}: redeploying {source.id} so it reads the new variables")
        started.append(_start(client, props, source, where, reads))
    finals = _wait_ready(client, started, where, timeout, rolled_out=target == "production")
    if target == "production" and finals and finals[0].ready_substate == "STAGED":
        if now.rolled_back:
            why = (
                f"production is rolled back to {now.deployments[0].id} (an Instant Rollback turns off automatic "
                "assignment of the production domains)"
            )
        else:
            why = (
                f"the project does not assign its production domains to new builds automatically "
                f"(autoAssignCustomDomains is off), so production still serves {now.deployments[0].id}"
            )
        raise ResourceError(
            f"{where}: {why}, and its rebuild {finals[0].id}, which reads the new variables, is staged and not "
            f"served. Production keeps the previous values until it is promoted: `vercel promote {finals[0].id}` "
            "when production may move on, then run `pulumi up` again, which finds that the promoted build reads "
            "the variables and builds nothing more."
        )
    return finals


def _start(client: VercelClient, props: dict[str, Any], source: Deployment, where: str, reads: str) -> Deployment:
    """Ask for the redeploy of ``source`` once, however its answer gets lost (see the module doc)."""
    from envstack.clients.create_once import create_once

    target = str(props["target"])
    name = source.name or str(props.get("project_name") or props["project_id"])
    marker = secrets.token_hex(16)
    since = _now_ms() - CLOCK_SLACK_MS

    def say(message: str) -> None:
        pulumi.log.info(f"{where}: {message}")

    return create_once(
        lambda: client.redeploy(
            name,
            source.id,
            target="production" if target == "production" else None,
            custom_environment=target if target.startswith("env_") else None,
            marker=marker,
            reads=reads,
        ),
        lambda: client.find_redeploy(str(props["project_id"]), marker, since=since),
        what=f"the redeploy of {source.id}",
        say=say,
        sleep=_pause,
        clock=_clock,
    )


def _wait_ready(
    client: VercelClient, deployments: Sequence[Deployment], where: str, timeout: float, rolled_out: bool = False
) -> list[Deployment]:
    """Poll until every deployment is READY, all under one deadline (they build side by side);
    with ``rolled_out`` (production), until production has moved to it too: under Vercel's
    Rolling Releases a READY deployment is ROLLING while the one before it still serves part of
    the traffic, and what waits for this redeploy (revoking the credentials it replaced) must
    wait for that deployment to be gone."""
    backoff = Backoff(first=FIRST_POLL_SECONDS, cap=POLL_SECONDS, timeout=timeout, sleep=_pause, clock=_clock)
    current = list(deployments)
    said: set[tuple[str, str]] = set()
    while True:
        pending = [i for i, deployment in enumerate(current) if not _done(deployment, where, rolled_out, said)]
        if not pending:
            return current
        if backoff.expired():
            raise _outlasted(current[pending[0]], where, timeout, rolled_out)
        backoff.wait()
        for i in pending:
            current[i] = client.get_deployment(current[i].id)


def _done(deployment: Deployment, where: str, rolled_out: bool, said: set[tuple[str, str]]) -> bool:
    """Whether the redeploy is done (READY, and on production no longer ROLLING); a build that
    failed fails the step. ``said`` keeps each progress line to once per deployment."""
    state = deployment.ready_state or "QUEUED"
    rolling = rolled_out and state == "READY" and deployment.ready_substate == "ROLLING"
    if state == "READY" and not rolling:
        if (deployment.id, "ready") not in said:
            pulumi.log.info(f"{where}: deployment {deployment.id} is ready")
            said.add((deployment.id, "ready"))
        return True
    if rolling and (deployment.id, "rolling") not in said:
        pulumi.log.info(
            f"{where}: deployment {deployment.id} is ready and rolling out (a rolling release): waiting until "
            "production has moved to it"
        )
        said.add((deployment.id, "rolling"))
    if state in _FAILED:
        reason = f": {deployment.error_message}" if deployment.error_message else ""
        extra = (
            " An Ignored Build Step or the project's 'affected projects' setting can cancel a same-commit rebuild."
            if state == "CANCELED"
            else ""
        )
        raise ResourceError(
            f"{where}: redeploy {deployment.id} ended {state}{reason}{_inspect(deployment)}. The variables are "
            f"saved; fix the build and redeploy from Vercel, or run `pulumi up` again to retry.{extra}"
        )
    return False


def _outlasted(deployment: Deployment, where: str, timeout: float, rolled_out: bool) -> ResourceError:
    state = deployment.ready_state or "QUEUED"
    if rolled_out and state == "READY":
        return ResourceError(
            f"{where}: redeploy {deployment.id} is READY, but its rolling release had not finished after "
            f"{timeout:.0f}s: the deployment before it still serves part of production, so nothing that waits "
            "for this redeploy (revoking the credentials it replaced) has run. Complete or approve the rolling "
            "release in Vercel, or raise timeout_seconds, and run `pulumi up` again."
        )
    return ResourceError(
        f"{where}: redeploy {deployment.id} was still {state} after {timeout:.0f}s{_inspect(deployment)}. It keeps "
        "building on Vercel; raise timeout_seconds, or check it there and run `pulumi up` again."
    )


def _inspect(deployment: Deployment) -> str:
    return f" (build log: {deployment.inspector_url})" if deployment.inspector_url else ""


def _wait_done(client: VercelClient, deployments: Sequence[Deployment], where: str, timeout: float) -> None:
    """Poll builds someone else started until none is under way, however each ends, all under
    one deadline."""
    from envstack.clients.vercel_served import under_way

    backoff = Backoff(first=FIRST_POLL_SECONDS, cap=POLL_SECONDS, timeout=timeout, sleep=_pause, clock=_clock)
    current = list(deployments)
    while pending := [d for d in current if under_way(d)]:
        if backoff.expired():
            raise ResourceError(
                f"{where}: {pending[0].id}, a build that began before the variables changed, was still "
                f"{pending[0].ready_state} after {timeout:.0f}s. Once ready it would serve the old values, so "
                "nothing that waits for this redeploy (revoking the credentials it replaced) has run; run `pulumi up` "
                "again once it is done (or cancel it in Vercel)."
            )
        backoff.wait()
        current = [client.get_deployment(d.id) if under_way(d) else d for d in current]


class VercelRedeployProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = _redeploy(props)
        return CreateResult(id_=f"{props['project_id']}/{props['target']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Only a new trigger (or redeploys switched back on) is worth a rebuild; other input
        # changes wait for the next one.
        if not news.get("enabled") or is_unknown(news.get("enabled")):
            return DiffResult(changes=is_unknown(news.get("enabled")), replaces=[], delete_before_replace=False)
        moved = any(is_unknown(news.get(k)) or (olds.get(k) or None) != (news.get(k) or None) for k in _PLACE)
        triggered = is_unknown(news.get("trigger")) or olds.get("trigger") != news.get("trigger")
        switched_on = not olds.get("enabled")
        return DiffResult(changes=moved or triggered or switched_on, replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_redeploy(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # a deployment that happened is not undone


@dataclass(frozen=True)
class VercelRedeployInputs(Inputs):
    """``trigger`` changes when the variables a deployment reads change; ``enabled`` off skips it."""

    project_id: pulumi.Input[str]
    project_name: pulumi.Input[str]
    target: str
    trigger: pulumi.Input[str]
    git_branch: str | None = None
    enabled: bool = True
    timeout_seconds: float = 900
    api_url: str = VERCEL_API_URL
    team: str | None = None


class VercelRedeploy(Declared, module="vercel", name="Redeploy"):
    deployment_id: pulumi.Output[str | None]  # the newest of deployment_ids
    deployment_ids: pulumi.Output[list[str]]
    url: pulumi.Output[str | None]
    ready_state: pulumi.Output[str | None]
    skipped_reason: pulumi.Output[str | None]

    def __init__(self, name: str, inputs: VercelRedeployInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(VercelRedeployProvider(), name, inputs, opts)
