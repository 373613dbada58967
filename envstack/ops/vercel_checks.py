"""Health checks of the Vercel variables a stack wrote, and of the deployment that reads them.

Per variable the stack's state records: it exists, with the id the stack wrote, scoped
exactly to the stack's target and branch, and with the type the stack chose. Its value is
compared by hash with what the stack wrote (the state keeps a salted HMAC, never the value)
where Vercel lets one read it back; a sensitive value cannot be read back, and the check
says so rather than pretend. Values are never printed, and sensitive ones never asked for.

Then every deployment serving the target (``envstack.clients.vercel_served``: what a redeploy
rebuilds) must be newer than the last change of any variable it reads: Vercel applies
variables only to new deployments.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from envstack.ops.checks import Check
from envstack.ops.stack_view import VercelVariables

if TYPE_CHECKING:
    from envstack.clients.vercel import Deployment, EnvVar, VercelClient


def variable_checks(
    client: VercelClient, stack: VercelVariables, live: Sequence[EnvVar], stack_name: str
) -> list[Check]:
    """One check per variable; a failure names the command that repairs it."""
    from envstack.clients.vercel_scope import Scope, value_hash

    scope = Scope(stack.project_id, stack.target, stack.git_branch)
    repair = _repair(stack_name)
    by_id = {env.id: env for env in live}
    checks: list[Check] = []
    for key, env_id in sorted(stack.ids.items()):
        name = f"vercel {stack.where} {key}"
        env = by_id.get(env_id)
        if env is None or env.key != key:
            others = [e for e in live if e.key == key and scope.exactly(e)]
            detail = (
                "replaced outside the stack: a variable of this name exists, but not the one the stack wrote "
                f"({repair} takes its place back and restores it)"
                if others
                else f"missing: deleted outside the stack ({repair} writes it again)"
            )
            checks.append(Check.failed(name, detail))
            continue
        if not scope.exactly(env):
            applies = ", ".join(env.target + env.custom_environment_ids) or "nothing"
            branch = f", branch {env.git_branch}" if env.git_branch else ""
            checks.append(
                Check.failed(name, f"moved outside the stack: applies to {applies}{branch} ({repair} restores it)")
            )
            continue
        wanted = stack.types.get(key)
        if wanted == "sensitive" and env.type != "sensitive":
            checks.append(Check.failed(name, f"stored as {env.type}, not sensitive: its value can be read in Vercel"))
            continue
        if env.type == "sensitive":
            # Its value cannot be read back, but Vercel's updatedAt moves with every edit.
            stamp = stack.stamps.get(key)
            if stamp is not None and stamp >= 0 and (env.updated_at or 0.0) > stamp:
                checks.append(
                    Check.failed(
                        name,
                        f"edited outside the stack at {_when(env.updated_at or 0.0)}, after the stack wrote it "
                        f"(sensitive: seen by Vercel's updatedAt; {repair} restores it)",
                    )
                )
            elif stamp is not None and stamp >= 0:
                checks.append(Check.passed(name, "exists, unchanged since the stack wrote it (sensitive: by date)"))
            else:
                checks.append(Check.passed(name, "exists, value not readable (sensitive)"))
            continue
        current = client.get_env_decrypted(stack.project_id, env_id)
        if current.value is None or current.decrypted is False:
            checks.append(Check.passed(name, "exists, value not readable"))
            continue
        recorded = stack.hashes.get(key, "")
        if hmac.compare_digest(value_hash(stack.salt, key, current.value), recorded):
            checks.append(Check.passed(name, "exists, value is the one the stack wrote (compared by hash)"))
        else:
            checks.append(
                Check.failed(
                    name,
                    f"value differs from the one the stack wrote (edited outside the stack; {repair} restores it)",
                )
            )
    return checks


def deployment_check(client: VercelClient, stack: VercelVariables, live: Sequence[EnvVar], stack_name: str) -> Check:
    """Every deployment serving the target (the ones a redeploy rebuilds) must be newer than
    the last change of a variable it reads; the advice names what really fixes a stale one."""
    from envstack.clients.vercel_scope import Scope
    from envstack.clients.vercel_served import served

    name = f"vercel {stack.where} deployment"
    if stack.target == "development":
        return Check.skipped(name, "development has no deployments; `vercel env pull` reads the variables")
    now = served(client, stack.project_id, stack.target, stack.git_branch)
    if not now.deployments:
        return Check.skipped(name, now.absent)
    scope = Scope(stack.project_id, stack.target, stack.git_branch)
    changes = [(e.updated_at or e.created_at or 0.0, e.key, e.id) for e in live if scope.overlaps(e)]
    if not changes:
        return Check.passed(name, f"{_listed(now.deployments)}; no variables to read")
    changed, key, env_id = max(changes)
    stale = [d for d in now.deployments if (d.created or 0.0) < changed]
    if not stale:
        return Check.passed(name, f"{_listed(now.deployments)}: newer than the last variable change ({_when(changed)})")
    if now.rolled_back:
        fix = (
            "production is rolled back (Instant Rollback), so it keeps serving that build; promote one built "
            "after the change when production may move on (`vercel promote <deployment>`)"
        )
    elif not now.automatic:
        fix = (
            "the project does not assign its production domains to new builds automatically "
            "(autoAssignCustomDomains is off), so production keeps serving that build; promote one built after the "
            "change (`vercel promote <deployment>`)"
        )
    elif env_id in stack.ids.values():
        fix = f"{_repair(stack_name)} redeploys it"
    else:
        fix = f"{key} is not the stack's: redeploy from Vercel (`vercel redeploy {stale[0].id}`)"
    return Check.failed(name, f"{_listed(stale)} predates the last variable change ({key}, {_when(changed)}): {fix}")


def _repair(stack_name: str) -> str:
    """What finds a change made in Vercel and undoes it: the refresh before the update is what
    looks (a plain `pulumi up` makes no call for variables whose settings did not change)."""
    return f"`pulumi up --refresh --stack {stack_name}`"


def _listed(deployments: Sequence[Deployment]) -> str:
    return ", ".join(f"{d.id} ({_when(d.created or 0.0)})" for d in deployments)


def _when(milliseconds: float) -> str:
    return datetime.fromtimestamp(milliseconds / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
