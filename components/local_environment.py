"""The dev environment's database: a role and database on the project-managed PostgreSQL, reached
the way staging's is.

The app's variables go through the dev pooler exactly as they go through Supabase's: the pooled
URLs (``POSTGRES_URL``, ``DATABASE_URL``, ``POSTGRES_PRISMA_URL`` with ``pgbouncer=true``) to
PgBouncer in transaction mode, ``POSTGRES_URL_NON_POOLING`` straight to PostgreSQL, and
``POSTGRES_READ_REPLICA_URL`` through the session-mode PgBouncer (as staging's read-only URL goes
through Supavisor's session port). The app logs in as staging's login roles: one of
``<app>_app_a``/``_b`` (read and write) and one of ``<app>_reader_a``/``_b`` (read only), made by
the same provider. The database's owner is what migrations and seed data run as (``migrations_url``,
as postgres is on Supabase); the app never gets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote

import pulumi

from components.database_migrations import DatabaseMigrations, DatabaseMigrationsArgs, MigrationPlan, content_hash
from envstack import variables
from providers.generated_secret import GeneratedSecret, GeneratedSecretInputs
from providers.local_database import LocalDatabase, LocalDatabaseInputs
from providers.local_database_access import LocalDatabaseAccess, LocalDatabaseAccessInputs
from providers.postgres_login_roles import ACCESS, LoginRoles, LoginRolesInputs, group_role

# The SDK's own annotations of Output.all/secret are too narrow for mixed types.
_Output = cast(Any, pulumi.Output)


@dataclass(frozen=True)
class LocalEnvironmentArgs:
    admin_socket_dir: str  # where the project-managed PostgreSQL's socket is: the admin connects there
    host: str
    port: int
    database: str
    role: str
    migrations: MigrationPlan
    app: str  # names the group roles the app's migrations give their policies to
    pooler_port: int = 54330  # the dev PgBouncer in transaction mode (localdb:poolerPort)
    session_pooler_port: int = 54331  # and in session mode (localdb:sessionPoolerPort)


def app_url(role: str, password: str, host: str, port: int, database: str, *query: str) -> str:
    """A URL as the app gets it (no sslmode: the dev server and pooler serve loopback only)."""
    extra = f"?{'&'.join(query)}" if query else ""
    return f"postgresql://{quote(role, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}{extra}"


class LocalEnvironment(pulumi.ComponentResource):
    """Database + role, migrations and seed data, the app's login roles; ``info`` is what the app needs."""

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
                # owner runs the migrations, and CREATEROLE would let it alter every role of the server.
                groups=[group_role(args.app, access) for access in ACCESS],
            ),
            opts=child,
        )
        owner_url = self.database.url
        self.migrations = DatabaseMigrations(
            f"{name}-migrations",
            DatabaseMigrationsArgs(plan=args.migrations, direct_url=owner_url),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.database]),
        )
        after_database = pulumi.ResourceOptions(parent=self, depends_on=[self.database])
        # The pooler may serve it; the owner sees every session's statistics, as postgres does on Supabase.
        self.access = LocalDatabaseAccess(
            f"{name}-database-access",
            LocalDatabaseAccessInputs(
                admin_socket_dir=args.admin_socket_dir,
                port=args.port,
                database=self.database.database,
                owner=self.database.role,
            ),
            opts=after_database,
        )
        # The login roles are made by the superuser (over the socket: no password), after the
        # migrations, so their grants cover every table, as on Supabase.
        admin_url = self.database.database.apply(
            lambda db: f"host={args.admin_socket_dir} port={args.port} user=postgres dbname={db}"
        )
        grants_version = content_hash(args.migrations.project_root / args.migrations.directory)
        after_migrations = pulumi.ResourceOptions(parent=self, depends_on=[self.migrations])
        # Recorded before any login role is made: the roles carry its tag, as on Supabase.
        ownership = GeneratedSecret(f"{name}-ownership-claim", GeneratedSecretInputs(length=32), opts=child).value

        def login_roles(kind: str, access: str) -> LoginRoles:
            inputs = LoginRolesInputs(
                admin_url=admin_url,
                group=group_role(args.app, access),
                access=access,
                grants_version=grants_version,
                claim=ownership,
                # rotation:database is Supabase's (envstack.ops.rotation): dev keeps its first passwords.
                rotation=0,
                # The project-managed server: a member there is an earlier run's (its state gone), as
                # LocalDatabase takes the database and its owner.
                claim_existing=True,
            )
            return LoginRoles(f"{name}-{kind}-login-roles", inputs, opts=after_migrations)

        self.app_roles = login_roles("app", "read_write")
        self.reader_roles = login_roles("read-only", "read_only")

        def as_role(roles: LoginRoles, port: int, *query: str) -> pulumi.Output[str]:
            url = _Output.all(roles.active, roles.password, self.database.database).apply(
                lambda v: app_url(v[0], v[1], args.host, port, v[2], *query)
            )
            return _Output.secret(url)  # type: ignore[no-any-return]

        self.info: dict[variables.Field, pulumi.Output[str]] = {
            "pooled_url": as_role(self.app_roles, args.pooler_port),
            "prisma_url": as_role(self.app_roles, args.pooler_port, "pgbouncer=true"),
            "direct_url": as_role(self.app_roles, args.port),
            "read_only_url": as_role(self.reader_roles, args.session_pooler_port),
            "user": self.app_roles.active,
            "host": self.database.host,
            "password": pulumi.Output.secret(self.app_roles.password),
            "database": self.database.database,
        }
        # Where migrations (and doctor's history check) connect: the owner, straight to PostgreSQL.
        self.migrations_url = owner_url
        self.url = owner_url
        self.register_outputs({"url": owner_url})
