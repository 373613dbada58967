"""One environment per pull request: its stack's name, its settings, and its life (up, down, gc).

A pull-request stack is named ``pr-<number>``. It takes staging's settings (read from the
staging stack, secrets included, so nothing is written by hand) plus what the pull request
gives it: its number and head branch. Its database is its own Supabase project, or a
preview branch of staging's project when staging's ``envstack:previews.database`` says
"branch"; its Vercel variables are preview variables scoped to the pull request's branch.

``down`` destroys and removes the stack (a second ``down`` is a no-op, an interrupted one is
finished by the next); ``gc`` does that for every pull-request stack whose pull request is
closed or that has been idle longer than staging's ``envstack:previews.ttlHours`` (or only
lists them, or looks at one).
Production is refused before anything runs. Each returns the command's exit status and
prints its progress (the engine's output included) through ``automation.printer``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi import automation as auto

from envstack import errors
from envstack.errors import SettingsError
from envstack.ops import automation, preflight, provider_modules, recovery
from envstack.redaction import redact
from envstack.settings import load_settings

if TYPE_CHECKING:
    from envstack.clients.github import PullRequest

STACK_PATTERN = re.compile(r"pr-(\d+)")
# Staging settings a pull request must not inherit: they name staging's own project, or are
# the pull request's own.
NOT_INHERITED = frozenset(
    {
        "envstack:environment",
        "envstack:pullRequest",
        "supabase:projectRef",
        "supabase:dbPassword",
        "supabase:projectName",
        "vercel:gitBranch",
        # A pull request's variables are preview's, scoped to its branch, whatever staging
        # writes (a custom environment's id, say, on which no branch can be set).
        "vercel:target",
        # A throw-away database keeps no recovery history and needs no replica of its own.
        "supabase:backups",
        "supabase:readReplica",
        # Staging's one-time takeover of variables it found; a pull request's stack would take
        # over whatever someone else scoped to its branch, and `pr down` would delete it.
        "vercel:adoptVariables",
    }
)


def stack_name(number: int) -> str:
    return f"pr-{number}"


def pull_request_config(staging: auto.Stack, number: int, branch: str) -> dict[str, auto.ConfigValue]:
    """Staging's configuration, made the pull request's."""
    staging_config = staging.get_all_config()
    inherited = {k: v for k, v in staging_config.items() if k not in NOT_INHERITED}
    settings = load_settings("staging", automation.plain_config(staging_config))
    config = {
        **inherited,
        "envstack:pullRequest": auto.ConfigValue(json.dumps({"number": number, "branch": branch})),
        "supabase:projectName": auto.ConfigValue(f"{settings.envstack.app}-{stack_name(number)}"),
    }
    if settings.vercel.projects:
        config["vercel:gitBranch"] = auto.ConfigValue(branch)
    if settings.envstack.previews.database == "branch":
        outputs = automation.outputs(staging)
        if "supabase_project_ref" not in outputs:
            raise errors.Refused("staging has no Supabase project yet: bring staging up first")
        parent = str(outputs["supabase_project_ref"].value)
        config["envstack:database"] = auto.ConfigValue(json.dumps({"provider": "supabase-branch", "parentRef": parent}))
    return config


def up(root: Path, number: int, branch: str, policy_packs: Sequence[Path] = ()) -> int:
    name = stack_name(number)
    out = automation.printer(f"[{name}] ")
    staging = automation.select(root, "staging")
    config = pull_request_config(staging, number, branch)
    try:
        settings = load_settings(name, automation.plain_config(config))
    except SettingsError as exc:
        raise errors.Refused(f"{name} would be invalid: {exc}") from None
    preflight.check_branch_scope(settings, branch)
    stack = automation.create_or_select(root, name)
    automation.write_config(stack, config)
    # Creates a killed run left (the workflow's recover keeps them) are finished and recorded
    # first: were this run to fail before reaching them, the project they may have made would
    # be in no state, and the teardown would leave it running.
    exported = json.loads(automation.run_pulumi(root, ["stack", "export", "--stack", name]))
    creates = recovery.pending_creates(exported.get("deployment") or {})
    if creates:
        _finish_creates(root, stack, branch, creates, out)
    out(f"bringing up {name} for branch {branch}")
    packs = [str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in policy_packs]
    try:
        result = stack.up(on_output=out, show_secrets=False, policy_packs=packs or None)
    except auto.CommandError as exc:
        # Redacted, and without the traceback: what the engine wrote only to its standard
        # error (a locked stack, a policy pack that will not load) is in here, not above.
        raise errors.StackError(f"pulumi up of {name} failed: {redact(str(exc))[-2000:]}") from None
    changes = ", ".join(f"{k} {v}" for k, v in sorted((result.summary.resource_changes or {}).items()))
    out(f"{name} is up ({changes})")
    return 0


def down(root: Path, name: str, branch: str | None = None, *, abandon_creates: bool = False) -> int:
    """Destroy the stack and remove it. ``branch`` is the pull request's head branch: needed
    only when a killed run left creates unfinished and the stack's settings file is not here.
    ``abandon_creates`` tears down without finishing them (a person's call: see _finish_creates)."""
    out = automation.printer(f"[{name}] ")
    stack = automation.existing(root, name)
    if stack is None:
        if name == "production":
            raise errors.Refused("refusing to destroy production: envstack's tools never tear it down")
        out(f"{name} does not exist: nothing to tear down")
        return 0
    automation.refuse_destroy(stack)
    # The pickled providers are secrets, so this export shows them; it never leaves this process.
    shown = json.loads(automation.run_pulumi(root, ["stack", "export", "--show-secrets", "--stack", name]))
    deployment = shown.get("deployment") or {}
    _refuse_missing_provider_modules(root, name, deployment)
    creates = recovery.pending_creates(deployment)
    if creates and abandon_creates:
        out(f"abandoning {len(creates)} creates a killed run left unfinished (--abandon-creates); what they made, if")
        out("anything, stays in Supabase or Vercel for a person to remove:")
        for urn in creates:
            out(f"  {urn}")
        # Imported back without them: read again with the secrets still encrypted.
        exported = json.loads(automation.run_pulumi(root, ["stack", "export", "--stack", name]))
        recovery.clear_pending_operations(root, name, exported)
    elif creates:
        _finish_creates(root, stack, branch, creates, out)
    out(f"tearing down {name}")
    automation.destroy_and_remove(stack, out)
    out(f"{name} is gone")
    return 0


def _refuse_missing_provider_modules(root: Path, name: str, deployment: Mapping[str, Any]) -> None:
    """Refuse, before anything runs, to tear down a stack whose resources were made by provider
    modules this checkout lacks (envstack/ops/provider_modules.py): the engine would delete
    the others and stop at theirs."""
    lacking = provider_modules.missing(deployment, root)
    if not lacking:
        return
    resources = len({urn for urns in lacking.values() for urn in urns})
    modules = "the provider module" if len(lacking) == 1 else "the provider modules"
    behind = "1 of its resources" if resources == 1 else f"{resources} of its resources"
    raise errors.Refused(
        f"refusing to tear down {name}: the engine deletes each resource with the provider module that made it, "
        f"and this checkout lacks {modules} ({', '.join(lacking)}) behind {behind}, so nothing was torn down. Run "
        "this from the code that brought the stack up (the pull request's test merge commit or head commit, or "
        "any checkout with those modules)"
    )


def _finish_creates(
    root: Path, stack: auto.Stack, branch: str | None, creates: list[str], out: automation.Printer
) -> None:
    """Run the creates a killed run left unfinished once more, so the destroy finds what they
    made: a project whose answer never came is in no state, and a destroy alone would leave it
    running. Each create looks up what an earlier run made before it makes anything (the
    providers' rule), so this finds the leftover, or makes it afresh for the destroy to take.

    The creates stay pending in the state until each is recorded, so a failure here tears
    nothing down and leaves the next `pr down` the same work. A create that can never run
    again (this checkout's program has no such resource any more, or its branch is gone from
    Vercel) needs a person: they check what it may have made and pass --abandon-creates.
    """
    name = stack.name
    out(f"{len(creates)} creates a killed run left unfinished: running them once more, to find what they made")
    if not (root / f"Pulumi.{name}.yaml").exists():
        # A fresh checkout (the workflows' teardowns): the settings `pr up` wrote are not here.
        number = STACK_PATTERN.fullmatch(name)
        if number is None or not branch:
            fix = (
                "pass --branch with the pull request's head branch"
                if number
                else "run this in the checkout that has it"
            )
            raise errors.Refused(
                f"{name} has creates a killed run left unfinished, and its settings file (Pulumi.{name}.yaml) is "
                f"not here to run them with: {fix}"
            )
        staging = automation.select(root, "staging")
        automation.write_config(stack, pull_request_config(staging, int(number.group(1)), branch))
    failure: auto.CommandError | None = None
    try:
        # Each create that can finish does, beside one that fails: the next attempt has only
        # the failed ones to do, and the message below names exactly those.
        stack.up(target=creates, on_output=out, show_secrets=False, continue_on_error=True)
    except auto.CommandError as exc:
        failure = exc
    exported = json.loads(automation.run_pulumi(root, ["stack", "export", "--stack", name]))
    live = recovery.live_resources(exported.get("deployment") or {})
    unfinished = [urn for urn in creates if urn not in live]
    if unfinished:
        why = redact(str(failure))[-2000:] if failure else "the run recorded none of them"
        raise errors.StackError(
            f"could not finish {len(unfinished)} creates a killed run left ({', '.join(unfinished)}), and tearing "
            f"{name} down without them could leave what they made behind, so nothing was torn down. Run this "
            "again; if it keeps failing, check Supabase and Vercel for what they may have made and pass "
            f"--abandon-creates. The run: {why}"
        )
    if failure is not None:
        # A targeted run gives the program no outputs of the resources it skips (none exist
        # yet), so the program can fail after the creates it was asked for are recorded.
        out("the creates are recorded; the program's error above is about resources this targeted run skipped")
    recovery.clear_pending_operations(root, name, exported)
    out(f"recorded what the {len(creates)} creates made, for the teardown")


def _utc(moment: datetime) -> datetime:
    # The SDK parses the backend's UTC timestamps without a zone.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def gc(
    root: Path,
    repo: str,
    github_api: str,
    ttl_hours: float | None,
    *,
    number: int | None = None,
    list_to: Path | None = None,
) -> int:
    """Tear down pull-request stacks whose pull request is closed, or idle past the TTL.

    ``number`` looks at pr-<number> alone. ``list_to`` tears nothing down: it writes the stacks
    that would go to that file, each with the code to tear it down with (``teardown_code``).
    janitor.yml decides with it, then tears each one down with ``number``, from that code, in
    its pull request's concurrency group, where no other run can be working on the stack
    (pr-environment.yml's runs share the group), deciding again there because the pull
    request may have moved on meanwhile.
    """
    from envstack.clients.github import GitHubClient
    from envstack.clients.tokens import github_token

    out = automation.printer("[gc] ")
    if ttl_hours is None:
        ttl_hours = automation.settings_of(automation.select(root, "staging")).envstack.previews.ttl_hours
    cutoff = datetime.now(UTC) - timedelta(hours=ttl_hours)
    summaries = {s.name: s for s in automation.workspace(root).list_stacks() if STACK_PATTERN.fullmatch(s.name)}
    if number is not None:
        summaries = {name: s for name, s in summaries.items() if name == stack_name(number)}
        if not summaries:
            out(f"{stack_name(number)} does not exist: nothing to tear down")
    failures: list[str] = []
    stale: list[dict[str, Any]] = []
    with GitHubClient(base_url=github_api, token=github_token()) as github:
        for name, summary in sorted(summaries.items()):
            pull = int(name.removeprefix("pr-"))
            try:
                request = github.pull_request(repo, pull)
            except Exception as exc:  # one pull request's trouble must not stop the others
                failures.append(f"{name}: could not ask GitHub about pull request {pull}: {exc}")
                continue
            state = request.state
            idle = summary.last_update is not None and _utc(summary.last_update) < cutoff
            if state == "open" and not idle:
                out(f"{name}: pull request {pull} is open, kept")
                continue
            reason = f"pull request {pull} is {state}" if state != "open" else f"idle for over {ttl_hours:g}h"
            stale.append({"number": pull, **teardown_code(request, repo)})
            if list_to is not None:
                out(f"{name}: {reason}, to tear down")
                continue
            out(f"{name}: {reason}, tearing down")
            try:
                down(root, name, request.head.ref if request.head else None)
            except Exception as exc:
                failures.append(f"{name}: teardown failed: {exc}")
    if list_to is not None:
        list_to.write_text(json.dumps(stale) + "\n")
    for failure in failures:
        automation.fail(f"[gc] could not: {failure}")
    out(f"done: {len(summaries)} pull-request stacks looked at, {len(failures)} problems")
    return 1 if failures else 0


def teardown_code(pull: PullRequest, repo: str) -> dict[str, str]:
    """Which commit janitor.yml tears a pull request's stack down from: the code that brought it
    up, since the engine deletes each resource with the provider module that made it, and a
    module the pull request added is in no other checkout (pr-environment.yml's down job
    chooses the same way). ``ref`` is tried first, then ``head``; "" is the janitor run's own
    commit (the default branch's).

    Merged: the base branch, the pull request in it. Otherwise the test merge commit the up
    job ran, or the head commit when GitHub has none (or it can no longer be fetched). A
    pull request from another repository gets "": a fork's code must never run with staging's
    secrets, which the janitor holds."""
    head = pull.head
    if head is None or head.repo is None or head.repo.full_name.lower() != repo.lower():
        return {"ref": "", "head": ""}
    if pull.merged:
        return {"ref": pull.base.ref if pull.base else "", "head": ""}
    commit = pull.merge_commit_sha or head.sha or ""
    return {"ref": commit, "head": head.sha if head.sha and head.sha != commit else ""}
