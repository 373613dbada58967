"""The dev environment's database: a role and database on the project-managed PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.database_migrations import DatabaseMigrations, DatabaseMigrationsArgs, MigrationPlan
from envstack import variables
from providers.local_database import LocalDatabase, LocalDatabaseInputs
from providers.postgres_login_roles import ACCESS, group_role


@dataclass(frozen=True)
class LocalEnvironmentArgs:
    admin_socket_dir: str  # where the project-managed PostgreSQL's socket is: the admin connects there
    host: str
    port: int
    database: str
    role: str
    migrations: MigrationPlan
    app: str  # names the group roles the app's migrations give their policies to


class LocalEnvironment(pulumi.ComponentResource):
    """Database + role, migrations and seed data; ``info`` is what the app needs to reach it."""

    def __init__(self, name: str, args: LocalEnvironmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("envstack:environment:Local", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        self.database = LocalDatabase(
            f"{name}-database",
            LocalDatabaseInputs(
                admin_socket_dir=args.admin_socket_dir,
                host=args.host,
                port=args.port,
                database=args.database,
                role=args.role,
                # The same groups as on Supabase, there before the migrations that name them. The
                # app logs in as the owner here, which row level security does not hold to them.
                groups=[group_role(args.app, access) for access in ACCESS],
            ),
            opts=child,
        )
        url = self.database.url
        self.info: dict[variables.Field, pulumi.Output[str]] = {
            "pooled_url": url,
            "prisma_url": url,
            "direct_url": url,
            "user": self.database.role,
            "host": self.database.host,
            "password": self.database.password,
            "database": self.database.database,
        }
        self.migrations = DatabaseMigrations(
            f"{name}-migrations",
            DatabaseMigrationsArgs(plan=args.migrations, direct_url=url),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.database]),
        )
        self.url = url
        self.register_outputs({"url": url})
