"""`python -m envstack pr comment`: what a pull request would do to staging and production.

For each stack: `pulumi preview --diff` with the policy pack, through the Automation API
(nothing is deployed, nothing is written to the stacks), and the migration files its
database has not applied yet — the migrations command never runs in a preview, so they are
read here from the database's history over the stack's ``migrations_url`` output
(``direct_url`` on the dev stack; a secret output, held in memory only). The results become
one comment on the pull request, rendered by ``envstack.ops.preview_report``, updated in place
on every run.

A stack passed as recorded (production, in the workflow) is never opened: this code may be
a pull request's, and that stack's passphrase must not reach it. It is shown from what needs
no secret: its settings file against the default branch's, and its migrations against the
history its deploy job published (``envstack.db.migration_record``).

A stack whose preview fails (its program, its settings, a policy violation, no such stack)
is reported in the comment and makes the command exit 1 once the comment is posted. A
database that cannot be reached is reported, not fatal: the preview itself is still valid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi import automation as auto
from pulumi.automation import events

from envstack import errors
from envstack.credentials import credential_values
from envstack.db import migrations
from envstack.ops import automation
from envstack.ops.preview_report import MigrationPlan, StackPreview, error_lines, is_ours, plan_from_states, render
from envstack.settings import MigrationSettings

if TYPE_CHECKING:
    from envstack.clients.github import GitHubClient

DEFAULT_STACKS = ("staging", "production")
AUTHOR_VARIABLE = "ENVSTACK_COMMENT_AUTHOR"
DEFAULT_AUTHOR = "github-actions[bot]"  # GITHUB_TOKEN's comments


@dataclass(frozen=True)
class Previewed:
    preview: StackPreview
    secrets: tuple[str, ...]


def pending_migrations(directory: Path, direct_url: str | None, command: str | None = None) -> MigrationPlan:
    """The files `pulumi up` would apply, from the database's history (only reads)."""
    if command is not None:
        return MigrationPlan(
            note=f"Migrations run through `{command}`, whose history envstack does not read: not listed."
        )
    try:
        if direct_url is None:
            files = migrations.discover(directory)
            return MigrationPlan(
                pending=tuple(m.path.name for m in files),
                note="No database yet (the stack was never deployed): every migration file would run.",
            )
        return plan_from_states(migrations.status(direct_url, directory))
    except errors.MigrationError as exc:
        # Already redacted (the URL's password never appears); unreachable hosts land here.
        return MigrationPlan(problem=str(exc))


def migration_settings(stack: auto.Stack) -> MigrationSettings:
    """The stack's migration settings; the defaults when its settings do not validate (its
    preview reports why)."""
    try:
        return automation.settings_of(stack).envstack.migrations
    except ValueError:
        return MigrationSettings()


def preview_stack(root: Path, name: str, policy_packs: Sequence[Path]) -> Previewed:
    """Preview one stack and list its pending migrations; every failure is recorded, none raised."""
    credentials = credential_values()
    out = automation.printer(f"[{name}] ", credentials)
    stack = automation.existing(root, name)
    if stack is None:
        out(f"{name}: no such stack in the backend")
        missing = f"no stack named {name} in the backend: create it with `pulumi stack init {name}` and deploy it first"
        plan = pending_migrations(root / MigrationSettings().directory, None)
        return Previewed(StackPreview(name, None, "", plan, missing), credentials)
    outputs = automation.outputs(stack)
    secrets = (*automation.secret_values(stack.get_all_config(), outputs), *credentials)
    out = automation.printer(f"[{name}] ", secrets)

    output: list[str] = []
    diagnostics: list[str] = []
    summary: dict[str, int] = {}

    def on_output(line: str) -> None:
        output.append(line)
        out(line)

    def on_event(event: events.EngineEvent) -> None:
        if event.diagnostic_event is not None and event.diagnostic_event.severity == "error":
            diagnostics.append(event.diagnostic_event.message)
        if event.policy_event is not None and event.policy_event.enforcement_level == "mandatory":
            policy = event.policy_event
            diagnostics.append(f"policy {policy.policy_pack_name}/{policy.policy_name}: {policy.message}")
        if event.summary_event is not None:
            summary.update({str(getattr(k, "value", k)): v for k, v in event.summary_event.resource_changes.items()})

    out(f"previewing {name}")
    error: str | None = None
    changes: dict[str, int] | None = None
    try:
        stack.preview(
            diff=True,
            color="never",
            # Relative to the project (the engine's working directory), as the README writes it.
            policy_packs=[str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in policy_packs],
            on_output=on_output,
            on_event=on_event,
        )
        changes = summary
    except auto.CommandError as exc:
        # CommandError carries only its text; the engine's stderr is its last part.
        stderr = str(exc).partition("\n stderr: ")[2]
        error = error_lines(diagnostics, "\n".join([*output, stderr]))
    settings = migration_settings(stack)
    # Supabase stacks export the postgres URL migrations use; the app's direct_url is another role.
    url_output = "migrations_url" if "migrations_url" in outputs else "direct_url"
    direct_url = outputs[url_output].value if url_output in outputs else None
    plan = pending_migrations(root / settings.directory, direct_url, settings.command)
    if plan.problem:
        out(f"migrations of {name} could not be listed: {plan.problem}")
    else:
        out(f"{len(plan.pending)} migration(s) would run on {name}")
    return Previewed(StackPreview(name, changes, "\n".join(output), plan, error), secrets)


RECORDED = (
    "Not previewed with this pull request's code: that would hand it {stack}'s passphrase. Its program "
    "diff is previewed on the default branch by the deploy workflow, before the approval to deploy; "
    "its pending migrations come from the history {stack}'s last deploy published."
)


def recorded_preview(root: Path, trusted: Path | None, name: str, record: Path) -> StackPreview:
    """A stack this job may not open (production): its settings as this pull request changes
    them against the default branch's, and its migrations against the published history."""
    from envstack.db import migration_record

    config = _plain_settings(root / f"Pulumi.{name}.yaml")
    chosen = config.get("envstack:migrations")
    chosen = chosen if isinstance(chosen, dict) else {}
    if chosen.get("command"):
        plan = pending_migrations(root, None, str(chosen["command"]))
    else:
        directory = root / str(chosen.get("directory") or MigrationSettings().directory)
        try:
            states = migration_record.states(directory, migration_record.load(record))
            plan = plan_from_states(states)
        except errors.MigrationError as exc:
            plan = MigrationPlan(problem=str(exc))
    base = _plain_settings(trusted / f"Pulumi.{name}.yaml") if trusted is not None else {}
    changes = settings_changes(base, config) if trusted is not None else ["(no default branch to compare with)"]
    return StackPreview(name, None, "\n".join(changes), plan, recorded=RECORDED.format(stack=name))


def _plain_settings(path: Path) -> dict[str, Any]:
    """A stack's settings file as written (secure values stay ciphertext); empty when absent."""
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as exc:
        raise errors.SettingsError(f"{path.name} is not valid YAML: {exc}") from None
    config = loaded.get("config") if isinstance(loaded, dict) else None
    return dict(config) if isinstance(config, dict) else {}


def settings_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[str]:
    """One diff line per setting added, removed or changed; a secure value only as `[secret]`."""

    def shown(value: Any) -> str:
        if isinstance(value, dict) and set(value) == {"secure"}:
            return "[secret]"
        return json.dumps(value, sort_keys=True)

    lines: list[str] = []
    for key in sorted(set(base) | set(head)):
        if key not in head:
            lines.append(f"- {key}: {shown(base[key])}")
        elif key not in base:
            lines.append(f"+ {key}: {shown(head[key])}")
        elif base[key] != head[key]:
            lines.append(f"~ {key}: {shown(base[key])} => {shown(head[key])}")
    return lines


def guarded_preview(root: Path, name: str, policy_packs: Sequence[Path]) -> Previewed:
    """preview_stack, with anything unexpected (an unreadable backend, a wrong passphrase)
    recorded as that stack's failure so the other stacks still get previewed and reported."""
    try:
        return preview_stack(root, name, policy_packs)
    except Exception as exc:  # one stack's trouble must not keep the comment from being posted
        credentials = credential_values()
        automation.printer(f"[{name}] ", credentials)(f"could not preview {name}: {exc}")
        problem = MigrationPlan(problem="not read: the stack could not be opened")
        return Previewed(StackPreview(name, None, "", problem, f"could not preview {name}: {exc}"), credentials)


def comment_author() -> str:
    """Who posts the preview comment: the workflow's own token posts as GitHub Actions' bot;
    a job that posts with another identity (a GitHub App's token) names it."""
    return os.environ.get(AUTHOR_VARIABLE, "").strip() or DEFAULT_AUTHOR


def guarded_recorded(root: Path, trusted: Path | None, name: str, record: Path) -> Previewed:
    """recorded_preview, with a failure (an unreadable settings file or record) shown as that
    stack's: the comment is still posted, and never keeps an earlier run's verdict."""
    try:
        return Previewed(recorded_preview(root, trusted, name, record), ())
    except Exception as exc:  # the same reason as guarded_preview's
        credentials = credential_values()
        automation.printer(f"[{name}] ", credentials)(f"could not show {name}: {exc}")
        problem = MigrationPlan(problem="not read: the published history or the settings could not be read")
        return Previewed(StackPreview(name, None, "", problem, f"could not show {name}: {exc}"), credentials)


def upsert_comment(github: GitHubClient, repo: str, number: int, body: str) -> str:
    """Update envstack's comment on the pull request, or post it when there is none yet.

    Ours is the marker *and* our author: anyone may write the marker into a comment of their
    own, and a preview written into it could then be edited by them after the fact."""
    author = comment_author()
    ours = [
        c
        for c in github.issue_comments(repo, number)
        if is_ours(c.body) and c.user is not None and c.user.login == author
    ]
    if ours:
        # The oldest is the one reviewers have been reading; runs never make a second one.
        comment = github.update_comment(repo, ours[0].id, body)
        return f"updated comment {comment.html_url or comment.id}"
    comment = github.create_comment(repo, number, body)
    return f"posted comment {comment.html_url or comment.id}"


def comment(
    root: Path,
    repo: str,
    number: int,
    github_api: str,
    stacks: Sequence[str],
    policy_packs: Sequence[Path],
    recorded: Mapping[str, Path] | None = None,
    trusted: Path | None = None,
) -> int:
    """Preview ``stacks`` with the pull request's code; show each of ``recorded`` (a stack →
    its published migration history) without opening it. ``trusted`` is a checkout of the
    default branch: the settings are compared with its files."""
    from envstack.clients.github import GitHubClient
    from envstack.clients.tokens import github_token
    from envstack.errors import ApiError

    token = github_token()  # before any preview: without it nothing can be posted
    out = automation.printer("[comment] ", credential_values())
    for pack in policy_packs:
        if not (pack / "PulumiPolicy.yaml").is_file():
            raise errors.Refused(f"{pack} is not a policy pack (it has no PulumiPolicy.yaml)")
    recorded = dict(recorded or {})
    both = sorted(set(stacks) & set(recorded))
    if both:
        raise errors.Refused(f"{', '.join(both)}: previewed and recorded at once; pass each stack one way")
    previewed = [guarded_preview(root, name, policy_packs) for name in dict.fromkeys(stacks)]
    previewed += [guarded_recorded(root, trusted, n, path) for n, path in recorded.items()]
    secrets = [s for p in previewed for s in p.secrets]
    body = render([p.preview for p in previewed], secrets, updated=datetime.now(UTC))
    try:
        with GitHubClient(base_url=github_api, token=token) as github:
            done = upsert_comment(github, repo, number, body)
    except ApiError as exc:
        # No subclass fits: the failed call is GitHub's, but this names the pull request, not the call.
        raise errors.EnvstackError(f"could not comment on pull request {number} of {repo}: {exc}") from None
    out(done)
    failed = [p.preview.stack for p in previewed if p.preview.failed]
    for name in failed:
        automation.fail(f"[comment] the preview of {name} failed (see the comment)")
    return 1 if failed else 0
