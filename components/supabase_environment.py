"""A Supabase-backed environment: a project (or a preview branch), migrations and seed, a read-only role."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pulumi

from components.migrations import DatabaseMigrations, content_hash
from envstack import connection, variables
from envstack.settings import StackSettings, SupabaseBranchDatabase
from providers.postgres_role import ReadOnlyRole
from providers.supabase_branch import SupabaseBranch
from providers.supabase_database import SupabaseDatabase
from providers.supabase_project import SupabaseProject

# The SDK's own annotations of Output.all/secret are too narrow for mixed types.
_Output = cast(Any, pulumi.Output)


class SupabaseEnvironment(pulumi.ComponentResource):
    """Everything an app needs from Supabase, as secret outputs in ``self.info``."""

    def __init__(
        self,
        name: str,
        *,
        settings: StackSettings,
        project_root: Path,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("envstack:environment:Supabase", name, None, opts)
        supabase = settings.supabase
        child = pulumi.ResourceOptions(parent=self)
        self.project: SupabaseDatabase
        database = settings.envstack.database
        if isinstance(database, SupabaseBranchDatabase):
            request = settings.envstack.pull_request
            self.project = SupabaseBranch(
                f"{name}-branch",
                management_api=supabase.api_url,
                parent_ref=database.parent_ref,
                branch_name=settings.stack,
                git_branch=request.branch if request else None,
                wait_timeout=supabase.wait_timeout,
                opts=child,
            )
        else:
            self.project = SupabaseProject(
                f"{name}-project",
                management_api=supabase.api_url,
                organization=supabase.organization,
                project_name=settings.supabase_project_name,
                region=supabase.region,
                instance_size=supabase.instance_size,
                adopt_ref=supabase.project_ref,
                db_password=supabase.db_password,
                wait_timeout=supabase.wait_timeout,
                opts=child,
            )
        p = self.project
        parts = _Output.all(
            p.ref, p.db_host, p.db_name, p.pooler_host, p.pooler_port, p.pooler_user, p.db_password
        ).apply(lambda v: connection.ProjectParts(v[0], v[1], v[2], v[3], int(v[4]), v[5], v[6]))

        def secret(fn: object) -> pulumi.Output[str]:
            return _Output.secret(parts.apply(fn))  # type: ignore[no-any-return]

        direct = secret(lambda x: connection.direct_url(x, ipv6=supabase.ipv6))
        self.migrations = DatabaseMigrations(
            f"{name}-migrations",
            project_root=project_root,
            direct_url=direct,
            settings=settings.envstack.migrations,
            environment=settings.environment,
            seed_file=settings.envstack.seed_file if settings.seeds else None,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.project]),
        )
        role_name = f"{settings.envstack.app.replace('-', '_')}_readonly"
        self.read_only = ReadOnlyRole(
            f"{name}-read-only-role",
            admin_url=direct,
            role=role_name,
            # New tables from new migrations need their SELECT grant.
            grants_version=content_hash(project_root / settings.envstack.migrations.directory),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.migrations]),
        )
        read_only_url: pulumi.Output[str] = _Output.secret(
            _Output.all(parts, self.read_only.password).apply(
                lambda v: connection.role_url(v[0], role_name, v[1], ipv6=supabase.ipv6)
            )
        )
        self.info: dict[variables.Field, pulumi.Output[str]] = {
            "pooled_url": secret(connection.pooled_url),
            "prisma_url": secret(connection.prisma_url),
            "direct_url": direct,
            "read_only_url": read_only_url,
            "user": pulumi.Output.from_input("postgres"),
            "host": p.db_host,
            "password": pulumi.Output.secret(p.db_password),
            "database": p.db_name,
            "api_url": p.api_url,
            "anon_key": pulumi.Output.secret(p.anon_key),
            "service_role_key": pulumi.Output.secret(p.service_role_key),
            "jwt_secret": pulumi.Output.secret(p.jwt_secret),
        }
        self.register_outputs({"ref": p.ref})
