"""Checks a running program makes after the settings validate and before any resource exists.

The settings model sees only values; some settings name things outside the stack's
configuration that must be right before a preview can mean anything:

- files: the migrations directory (and, for the project's own runner, the names of the files
  in it) and the seed file. A wrong name would otherwise surface only in `pulumi up`, after
  the database was created. Only names are read here, never contents, so a preview stays
  cheap with thousands of migrations.
- for `pr up`, before the pull request's stack exists: the Vercel projects can hold
  variables scoped to its branch (connected to Git, and the branch not their production
  branch), and no other stack's variables hold that branch already; one project read and one
  list of the branch's variables each. Its failure is a Refused naming the project.

Each other failure is a SettingsError with one sentence naming the setting.

The Supabase organization a stack creates its project in is not checked here: only the API
knows which organizations exist, and a check in the program would ask on every preview. The
project's provider asks in its ``check`` (providers/supabase_project.py), only when the
answer can have changed: before the project exists, or when ``supabase:organization`` or
``supabase:apiUrl`` changed.
"""

from __future__ import annotations

from pathlib import Path

from envstack.db.migration_files import FILE_PATTERN
from envstack.settings import StackSettings, setting_error


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


def check_branch_scope(settings: StackSettings, branch: str) -> None:
    """Before a pull request's stack makes anything: Vercel scopes a variable to a branch only
    in a project connected to a Git repository, and never to its production branch; and a
    branch's variables can be one pull request's only. A `pr up` that would end in one of those
    refusals stops here instead, with nothing made."""
    from envstack import errors
    from envstack.clients import tokens
    from envstack.clients.vercel import VercelClient
    from providers.vercel_env import managing_stack

    if not settings.vercel.projects:
        return
    vercel = settings.vercel
    with VercelClient(base_url=vercel.api_url, token=tokens.vercel_token(), team=vercel.team) as client:
        for name in vercel.project_names:
            project = client.get_project(name)
            link = project.link
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
            # Another pull request from the same head branch (into another base): its stack's
            # variables hold the branch, and this one's would be refused only after its
            # database was made. The comment names the stack that manages a variable.
            others = sorted(
                {
                    str(e.comment)
                    for e in client.list_env(project.id, git_branch=branch)
                    if e.git_branch == branch and managing_stack(e.comment) not in (None, settings.stack)
                }
            )
            if others:
                raise errors.Refused(
                    f"branch {branch} already has variables in Vercel project {name} that another stack manages "
                    f"({'; '.join(others)}): Vercel scopes a pull request's variables by its head branch, so two "
                    "pull requests from one branch cannot each have their own. Close the other pull request, or "
                    "open this one from a branch of its own"
                )
