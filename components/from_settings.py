"""The one place a stack's settings become the components' Args.

Each component takes only the plain values it needs (its ``…Args``), so no component depends on
the settings model and each can be declared, and tested, without a whole stack's settings. How
a setting reaches a resource is read here: which settings each component is given, and the
choices made from them (the seed file only when the stack seeds, the dev stack's default env
file, holding replaced API keys when deployments are not redeployed).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi

from components.database_migrations import MigrationPlan
from components.local_environment import LocalEnvironmentArgs
from components.supabase_environment import (
    ApiKeyRetirementArgs,
    LoginRevocationArgs,
    SupabaseBranchArgs,
    SupabaseEnvironmentArgs,
    SupabaseProjectArgs,
)
from components.vercel_environment import VercelEnvironmentArgs
from envstack.db.migration_files import LIMIT_VARIABLES
from envstack.settings import LocalDatabaseSettings, StackSettings, SupabaseBranchSettings
from envstack.variables import AppVariables

# Where the dev stack writes its variables when envstack:envFile is not set.
DEFAULT_DEV_ENV_FILE = ".env.local"


def migration_plan(settings: StackSettings, project_root: Path) -> MigrationPlan:
    """envstack:migrations, and the seed file only when the stack seeds (never production)."""
    chosen = settings.envstack.migrations
    return MigrationPlan(
        project_root=project_root,
        directory=chosen.directory,
        command=chosen.command,
        timeout=chosen.timeout,
        limits={variable: getattr(chosen, field) for field, variable in LIMIT_VARIABLES.items()},
        environment=settings.environment,
        seed_file=settings.envstack.seed_file if settings.seeds else None,
    )


def local_args(settings: StackSettings, project_root: Path) -> LocalEnvironmentArgs:
    """The dev stack's database on the project-managed PostgreSQL (localdb:)."""
    database = settings.envstack.database
    assert isinstance(database, LocalDatabaseSettings)
    return LocalEnvironmentArgs(
        admin_socket_dir=str(project_root / settings.localdb.directory / "run"),
        host=settings.localdb.host,
        port=settings.localdb.port,
        database=database.name,
        role=database.role,
        migrations=migration_plan(settings, project_root),
        app=settings.envstack.app,
        pooler_port=settings.localdb.pooler_port,
        session_pooler_port=settings.localdb.session_pooler_port,
    )


def supabase_args(settings: StackSettings, project_root: Path) -> SupabaseEnvironmentArgs:
    """A Supabase project of the stack's own, or a preview branch (supabase:, rotation:)."""
    supabase, rotation = settings.supabase, settings.rotation
    database: SupabaseProjectArgs | SupabaseBranchArgs
    if isinstance(settings.envstack.database, SupabaseBranchSettings):
        request = settings.envstack.pull_request
        database = SupabaseBranchArgs(
            parent_ref=settings.envstack.database.parent_ref, git_branch=request.branch if request else None
        )
    else:
        database = SupabaseProjectArgs(
            name=settings.supabase_project_name,
            organization=supabase.organization,
            region=supabase.region,
            instance_size=supabase.instance_size,
            adopt_ref=supabase.project_ref,
            db_password=supabase.db_password,
            allow_replace=supabase.allow_replace,
            password_version=rotation.postgres,
            ssl_enforced=settings.ssl_enforced,
            allowed_cidrs=supabase.network_restrictions,
            replica_region=supabase.read_replica.region if supabase.read_replica else None,
            replica_identifier=supabase.read_replica.identifier if supabase.read_replica else None,
            pitr_days=supabase.backups.pitr_days,
            recovery_point=settings.takes_recovery_points,
        )
    return SupabaseEnvironmentArgs(
        stack=settings.stack,
        app=settings.envstack.app,
        management_api=supabase.api_url,
        database=database,
        ipv6=supabase.ipv6,
        wait_timeout=supabase.wait_timeout,
        migrations=migration_plan(settings, project_root),
        role_rotation=rotation.database,
        jwt_rotation=rotation.jwt,
        jwt_standby_seconds=rotation.jwt_standby_seconds,
        jwt_revoke_after_seconds=rotation.jwt_revoke_after_seconds,
        api_key_rotation=rotation.api_keys,
    )


def _not_redeployed(settings: StackSettings, what: str) -> str | None:
    """Why a replaced credential is kept: without redeploys a deployment may still use it."""
    vercel = settings.vercel
    if vercel.redeploy or not vercel.projects:
        return None
    return f"vercel:redeploy is false, so deployments may still use them; {what}"


def api_key_retirement_args(settings: StackSettings) -> ApiKeyRetirementArgs:
    """When the API keys a rotation replaced may go: held while deployments may still use them;
    revoked (rotation:apiKeysRevoked names the current rotation) after the drain, not the grace."""
    rotation = settings.rotation
    revoked = rotation.api_keys_revoked > 0 and rotation.api_keys_revoked == rotation.api_keys
    return ApiKeyRetirementArgs(
        grace_seconds=rotation.revoke_drain_seconds if revoked else rotation.api_key_grace_seconds,
        hold=_not_redeployed(settings, "delete them in Supabase once none does"),
    )


def login_revocation_args(settings: StackSettings) -> LoginRevocationArgs | None:
    """Whether a database rotation's previous login role is revoked (rotation:databaseRevoked);
    None (no resource at all, so a stack that never asked sees no change) until one is."""
    rotation = settings.rotation
    if rotation.database_revoked == 0:
        return None
    return LoginRevocationArgs(
        revoked=rotation.database_revoked,
        drain_seconds=rotation.revoke_drain_seconds,
        hold=_not_redeployed(settings, "the next database rotation replaces its password"),
    )


def vercel_args(
    settings: StackSettings, project: str, variables: AppVariables[pulumi.Output[str]]
) -> VercelEnvironmentArgs:
    """One of vercel:projects, receiving ``variables`` for the stack's Vercel target."""
    vercel = settings.vercel
    values: Mapping[str, pulumi.Input[str]] = variables.values
    return VercelEnvironmentArgs(
        project=project,
        stack=settings.stack,
        api_url=vercel.api_url,
        team=vercel.team,
        create_project=vercel.create_projects,
        target=settings.vercel_target,
        git_branch=vercel.git_branch,
        variables=values,
        public=variables.public,
        adopt_variables=vercel.adopt_variables,
        redeploy=vercel.redeploy,
        redeploy_timeout=vercel.redeploy_timeout,
    )


def env_file(settings: StackSettings) -> str | None:
    """The dotenv file the stack writes its variables to: envstack:envFile, or the dev stack's
    default, whichever database it uses (dev has no Vercel project to hold them otherwise)."""
    if settings.envstack.env_file:
        return settings.envstack.env_file
    return DEFAULT_DEV_ENV_FILE if settings.environment == "dev" else None
