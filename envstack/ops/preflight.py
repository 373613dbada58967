"""Checks a running program makes after the settings validate and before any resource exists.

The settings model sees only values; some settings name things outside the stack's
configuration that must be right before a preview can mean anything:

- files: the migrations directory (and, for the project's own runner, the names of the files
  in it) and the seed file. A wrong name would otherwise surface only in `pulumi up`, after
  the database was created. Only names are read here, never contents, so a preview stays
  cheap with thousands of migrations.
- the Supabase organization a stack creates its project in: only the API knows which
  organizations exist. A preview of such a stack makes one read (``GET /v1/organizations``)
  and fails when the token cannot see the organization; an adopted project
  (``supabase:projectRef``) and a preview branch need no organization and make no call. The
  check runs in previews only: a plain `up` then fails at the create call with the API's own
  answer. When the API cannot be asked (no token, no answer), the preview goes on with a
  warning, because that says nothing about the setting.
- for `pr up`, before the pull request's stack exists: the Vercel projects can hold
  variables scoped to its branch (connected to Git, and the branch not their production
  branch), one project read each. Its failure is a Refused naming the project.

Each other failure is a SettingsError with one sentence naming the setting.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from envstack.db.migrations import FILE_PATTERN
from envstack.settings import StackSettings, SupabaseProjectSettings, setting_error


def check_files(settings: StackSettings, project_root: Path) -> None:
    """The migrations directory and seed file the settings name exist and are usable."""
    migrations = settings.envstack.migrations
    directory = project_root / migrations.directory
    if not directory.is_dir():
        raise setting_error("envstack:migrations.directory", f"{migrations.directory} is not a directory")
    if migrations.command is None:
        # The project's own runner reads every file in it; other tools have layouts of their own.
        _check_migration_names(directory)
    if settings.seeds and not (project_root / settings.envstack.seed_file).is_file():
        raise setting_error("envstack:seedFile", f"{settings.envstack.seed_file} does not exist")


def _check_migration_names(directory: Path) -> None:
    versions: dict[str, str] = {}
    for path in sorted(directory.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        match = FILE_PATTERN.match(path.name)
        if match is None:
            raise setting_error(
                "envstack:migrations.directory",
                f"{path.name} is not named <version>_<name>.sql with a version in digits (the Supabase "
                "CLI's rule), so the migrations cannot run",
            )
        version = match["version"]
        if version in versions:
            raise setting_error(
                "envstack:migrations.directory", f"{path.name} and {versions[version]} share version {version}"
            )
        versions[version] = path.name


def creates_supabase_project(settings: StackSettings) -> bool:
    return isinstance(settings.envstack.database, SupabaseProjectSettings) and not settings.supabase.project_ref


def check_organization(settings: StackSettings, warn: Callable[[str], None]) -> None:
    """Fail when the token cannot see the organization the stack would create its project in."""
    organization = settings.supabase.organization
    if not creates_supabase_project(settings) or organization is None:
        return
    token = os.environ.get("SUPABASE_ACCESS_TOKEN")
    if not token:
        warn("supabase:organization was not checked: SUPABASE_ACCESS_TOKEN is not set")
        return
    from envstack.clients.http import RetryPolicy
    from envstack.clients.supabase import SupabaseClient
    from envstack.errors import ApiError

    try:
        # A preview should not wait long for an answer that only confirms a setting.
        with SupabaseClient(
            base_url=settings.supabase.api_url, token=token, retry=RetryPolicy(attempts=2, max_wait=10)
        ) as client:
            visible = sorted(o.slug for o in client.list_organizations())
    except ApiError as exc:
        warn(f"supabase:organization was not checked: {exc}")
        return
    if organization not in visible:
        shown = ", ".join(visible[:5]) + (", …" if len(visible) > 5 else "") if visible else "none"
        raise setting_error(
            "supabase:organization",
            f"no organization {organization!r} is visible to SUPABASE_ACCESS_TOKEN (it sees: {shown})",
        )


def check_branch_scope(settings: StackSettings, branch: str) -> None:
    """Before a pull request's stack makes anything: Vercel scopes a variable to a branch only
    in a project connected to a Git repository, and never to its production branch, so a
    `pr up` that would end in that refusal stops here instead, with nothing made."""
    from envstack import errors
    from envstack.clients import tokens
    from envstack.clients.vercel import VercelClient

    if not settings.vercel.projects:
        return
    vercel = settings.vercel
    with VercelClient(base_url=vercel.api_url, token=tokens.vercel_token(), team=vercel.team) as client:
        for name in vercel.project_names:
            link = client.get_project(name).link
            if link is None or not link.repo:
                raise errors.Refused(
                    f"Vercel project {name} is not connected to a Git repository, so Vercel cannot scope its "
                    f"variables to branch {branch}: connect it (Project Settings → Git), then run pr up again"
                )
            if link.production_branch == branch:
                raise errors.Refused(
                    f"{branch} is the production branch of Vercel project {name}: a pull request's variables are "
                    "preview variables of its own head branch, and Vercel refuses them on the production branch"
                )
