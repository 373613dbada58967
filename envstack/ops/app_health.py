"""The app's own health check: its health endpoint (docs/app-health.md) answers healthy, and
names the database the stack wired for that target.

A deployment reads the variables it was built with, so the stack's state can be right while
the app talks to another database: a preview built before its branch got a database of its
own still points at production's, a variable edited by hand, a build never redeployed. Only
the app can tell which database it really reached; this check asks it and compares:

- ``check_app_health``: one GET of ``<url><path>`` (https only; see
  envstack.clients.app_endpoint), then the answer held to the contract: 200 with
  ``{"status": "ok", "database": {...}}``, each expected field equal to what the app reports;
- ``deployment_url``: which URL to ask for a Vercel target, from the deployments that serve
  it (envstack.clients.vercel_served, the same choice a redeploy and doctor's deployment check
  make): production's current deployment (an Instant Rollback respected), a branch's newest
  ready preview, or the newest ready preview of any branch;
- ``check_deployment_health``: both, for doctor.

Details never hold a secret: the app's answer is redacted with the stack's secrets, and a
password is never part of what the contract asks an app to report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envstack.clients.app_endpoint import EndpointAnswer, EndpointUnreachable, get_json, https_url
from envstack.errors import ApiError
from envstack.ops.checks import Check
from envstack.redaction import redact

if TYPE_CHECKING:
    from envstack.clients.vercel import VercelClient

DEFAULT_PATH = "/api/health/database"
DEFAULT_TIMEOUT = 10.0
CONTRACT = "docs/app-health.md"
# Vercel's header for a Protection Bypass for Automation secret (docs "Protection Bypass for
# Automation"); a protected deployment answers 401 without it.
BYPASS_HEADER = "x-vercel-protection-bypass"
# Fields whose values are names: compared without regard to case (DNS names are case-blind).
_CASELESS = frozenset({"host"})
_SHOWN_ERROR = 200


@dataclass(frozen=True)
class DeploymentUrl:
    url: str | None  # https://<deployment host>, None when nothing serves the target
    deployment_id: str | None = None
    absent: str = ""  # why there is none


def deployment_url(
    client: VercelClient,
    project_id: str,
    target: str,
    git_branch: str | None = None,
    other_stacks: frozenset[str] = frozenset(),
) -> DeploymentUrl:
    """The URL of the deployment a target's users get now: production's current deployment
    (``targets.production``: promotions and Instant Rollbacks respected), the newest ready
    preview of ``git_branch``, or without a branch the newest ready preview of any branch but
    ``other_stacks`` (branches whose variables are another stack's: a pull request's preview
    reports its own database); a custom environment's newest ready deployment. Its own URL,
    which serves exactly that build (a production domain serves the same one)."""
    from envstack.clients.vercel_served import served

    now = served(client, project_id, target, git_branch)
    found = next((d for d in now.deployments if d.url and d.git_branch not in other_stacks), None)
    if found is None and any(d.url for d in now.deployments):
        return DeploymentUrl(None, absent="every recent preview is of a branch whose variables are another stack's")
    if found is None or found.url is None:
        return DeploymentUrl(None, absent=now.absent or "the serving deployment has no URL")
    url = found.url if "://" in found.url else f"https://{found.url}"
    return DeploymentUrl(url, found.id)


def check_app_health(
    name: str,
    url: str,
    path: str,
    expected: Mapping[str, str | None],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    secrets: Sequence[str] = (),
    bypass_secret: str | None = None,
    ca_file: str | Path | None = None,
) -> Check:
    """Ask ``url`` + ``path`` and hold the answer to the contract: 200, JSON, ``status`` "ok",
    and ``database.<field>`` equal to each non-empty ``expected[field]`` (``host``, ``ref``,
    ``name``, ...). ``url`` may be a bare host, as Vercel names deployments."""
    try:
        target = https_url(url, path)
    except ValueError as exc:
        return Check.failed(name, redact(str(exc), secrets))
    headers = {BYPASS_HEADER: bypass_secret} if bypass_secret else None
    try:
        answer = get_json(target, timeout=timeout, headers=headers, secrets=secrets, ca_file=ca_file)
    except EndpointUnreachable as exc:
        return Check.failed(name, f"{exc}: is the deployment up?")
    return _judge(name, answer, path, expected, secrets)


def check_deployment_health(
    client: VercelClient,
    project_id: str,
    target: str,
    git_branch: str | None,
    path: str,
    expected: Mapping[str, str | None],
    *,
    name: str,
    timeout: float = DEFAULT_TIMEOUT,
    secrets: Sequence[str] = (),
    bypass_secret: str | None = None,
    ca_file: str | Path | None = None,
    other_stacks: frozenset[str] = frozenset(),
) -> Check:
    """``check_app_health`` on the deployment serving the target now (``deployment_url``);
    skipped when none does yet, failed when Vercel cannot be asked."""
    try:
        found = deployment_url(client, project_id, target, git_branch, other_stacks)
    except ApiError as exc:
        return Check.failed(name, str(exc))
    if found.url is None:
        return Check.skipped(name, found.absent)
    return check_app_health(
        name,
        found.url,
        path,
        expected,
        timeout=timeout,
        secrets=secrets,
        bypass_secret=bypass_secret,
        ca_file=ca_file,
    )


def _judge(
    name: str, answer: EndpointAnswer, path: str, expected: Mapping[str, str | None], secrets: Sequence[str]
) -> Check:
    where = answer.url
    body = answer.body if isinstance(answer.body, Mapping) else None
    if answer.status != 200:
        return Check.failed(name, f"{where} answered {_status(answer)}: {_why(answer, body, path, secrets)}")
    if body is None:
        shown = answer.content_type or "no content type"
        return Check.failed(
            name,
            f"{where} answered 200 but not a JSON object ({shown}): is {path} the app's health route ({CONTRACT})?",
        )
    status = body.get("status")
    if status != "ok":
        return Check.failed(
            name, f'{where} answered 200 with status {_shown(status, secrets)}, not "ok": {_error(body, secrets)}'
        )
    database = body.get("database")
    reported: Mapping[str, Any] = database if isinstance(database, Mapping) else {}
    wanted = {field: value for field, value in expected.items() if value}
    wrong: list[str] = []
    for field, value in wanted.items():
        got = reported.get(field)
        if got is None or got == "":
            wrong.append(
                f"the app reports no database {field} (the contract in {CONTRACT} asks for database.{field}); "
                f"the stack wired {value}"
            )
        elif not _same(field, str(got), value):
            wrong.append(f"the app reports database {field} {redact(str(got), secrets)}; the stack wired {value}")
    if wrong:
        return Check.failed(name, f"{where}: " + "; ".join(wrong))
    named = ", ".join(f"{field} {value}" for field, value in wanted.items())
    if not named:
        return Check.passed(name, f"{where}: the app reaches its database")
    return Check.passed(name, f"{where}: the app reaches database {named}, as the stack wired")


def _same(field: str, got: str, wanted: str) -> bool:
    if field in _CASELESS:
        return got.strip().rstrip(".").lower() == wanted.strip().rstrip(".").lower()
    return got == wanted


def _status(answer: EndpointAnswer) -> str:
    return f"{answer.status} ({answer.edge_error})" if answer.edge_error else str(answer.status)


def _why(answer: EndpointAnswer, body: Mapping[str, Any] | None, path: str, secrets: Sequence[str]) -> str:
    """What a non-200 answer means, in one sentence."""
    if answer.status == 503 and body is not None and body.get("status") == "error":
        return f"the app could not reach its database ({_error(body, secrets)})"
    if answer.edge_error == "DEPLOYMENT_NOT_FOUND":
        return "Vercel has no ready deployment at this name (deleted, failed, or never built)"
    if answer.edge_error == "DEPLOYMENT_NOT_READY_REDIRECTING" or (300 <= answer.status < 400):
        where = f" to {answer.location}" if answer.location else ""
        return f"a redirect{where}, not the app's answer (the deployment may still be building)"
    if answer.status in (401, 403):
        return (
            "the deployment is protected (Vercel Deployment Protection): give the check a Protection Bypass "
            f"for Automation secret (sent as {BYPASS_HEADER})"
        )
    if answer.status == 404:
        return f"the app has no route {path}: add the health route of {CONTRACT}"
    if body is not None:
        return f"not the contract's 200 or 503 ({_error(body, secrets)})"
    return f"not the contract's 200 or 503 ({_shown(answer.text, secrets)})"


def _error(body: Mapping[str, Any], secrets: Sequence[str]) -> str:
    error = body.get("error")
    if error is None or error == "":
        return "the app gave no error"
    text = error if isinstance(error, str) else str(error)
    return _shown(text, secrets)


def _shown(value: Any, secrets: Sequence[str]) -> str:
    """What the app said, on one line, short, and redacted: any field may quote a secret."""
    text = " ".join(redact(str(value), secrets).split())
    return text if len(text) <= _SHOWN_ERROR else text[: _SHOWN_ERROR - 1] + "…"
