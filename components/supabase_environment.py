"""A Supabase-backed environment: a project (or a preview branch), migrations and seed, the app's
login roles, its API keys and the rotation of its JWT signing key."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, cast

import pulumi

from components.database_migrations import DatabaseMigrations, DatabaseMigrationsArgs, MigrationPlan, content_hash
from envstack import variables
from envstack.db import supabase_urls
from providers.database_route import ReachableUrl, ReachableUrlInputs
from providers.generated_secret import GeneratedSecret, GeneratedSecretInputs
from providers.login_revocation import LoginRevocation, LoginRevocationInputs
from providers.postgres_login_roles import LoginRoles, LoginRolesInputs, group_role
from providers.recovery_point import RecoveryPoint, RecoveryPointInputs
from providers.supabase_api_keys import (
    ApiKeyRetirement,
    ApiKeyRetirementInputs,
    SupabaseApiKeys,
    SupabaseApiKeysInputs,
)
from providers.supabase_branch import SupabaseBranch, SupabaseBranchInputs
from providers.supabase_database import SupabaseDatabase
from providers.supabase_network import ProjectNetwork, ProjectNetworkInputs
from providers.supabase_pitr import ProjectPitr, ProjectPitrInputs
from providers.supabase_project import SupabaseProject, SupabaseProjectInputs
from providers.supabase_read_replica import SupabaseReadReplica, SupabaseReadReplicaInputs
from providers.supabase_signing_keys import SigningKeyRotation, SigningKeyRotationInputs

# The SDK's own annotations of Output.all/secret are too narrow for mixed types.
_Output = cast(Any, pulumi.Output)


@dataclass(frozen=True)
class SupabaseProjectArgs:
    """A project of the stack's own: created, or adopted when ``adopt_ref`` names one."""

    name: str
    organization: str | None
    region: str | None
    instance_size: str | None
    adopt_ref: str | None = None
    # An adopted project's password (required with adopt_ref: adopting must not reset it);
    # a created project's is generated and recorded before the project exists.
    db_password: str | None = None
    allow_replace: bool = False
    password_version: int = 0  # rotation:postgres
    # Who may reach the database: TLS required, the networks allowed (None: left as they are).
    ssl_enforced: bool | None = None
    allowed_cidrs: list[str] | None = None
    replica_region: str | None = None  # a read replica there serves the read-only URL
    replica_identifier: str | None = None  # one a failed run set up in an adopted project: the stack's
    pitr_days: int | None = None  # days of point-in-time recovery; 0: none; None: left as it is
    recovery_point: bool = False  # record the moment before each migration run


@dataclass(frozen=True)
class SupabaseBranchArgs:
    """A preview branch of another project (pull-request stacks)."""

    parent_ref: str
    git_branch: str | None


@dataclass(frozen=True)
class SupabaseEnvironmentArgs:
    stack: str  # names the branch and the API keys, and says which stack made them
    app: str  # names the login roles' groups
    management_api: str
    database: SupabaseProjectArgs | SupabaseBranchArgs
    ipv6: supabase_urls.Ipv6  # how envstack's own sessions and the app reach the database
    wait_timeout: float  # seconds to wait for a new project or branch to become healthy
    migrations: MigrationPlan
    # The rotation counters (changing one rotates that secret) and the signing key's waits.
    role_rotation: int
    jwt_rotation: int
    jwt_standby_seconds: float
    jwt_revoke_after_seconds: float | None
    api_key_rotation: int


@dataclass(frozen=True)
class ApiKeyRetirementArgs:
    grace_seconds: float  # after the redeploys that carry the new keys
    hold: str | None = None  # keeps the replaced keys, saying why


@dataclass(frozen=True)
class LoginRevocationArgs:
    revoked: int  # rotation:databaseRevoked: this rotation's previous login role stops working
    drain_seconds: float  # after the redeploys that carry the new role, for requests in flight
    hold: str | None = None  # revokes nothing, saying why


class SupabaseEnvironment(pulumi.ComponentResource):
    """Everything an app needs from Supabase, as secret outputs in ``self.info``."""

    def __init__(self, name: str, args: SupabaseEnvironmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("envstack:environment:Supabase", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        # Recorded before any API key or login role is made: the tag it lets them carry proves them the stack's.
        ownership = GeneratedSecret(f"{name}-ownership-claim", GeneratedSecretInputs(length=32), opts=child).value
        self.project: SupabaseDatabase
        database = args.database
        # What is deleted with the database (a project the stack made, or its branch) needs no
        # teardown of its own inside it: an adopted project outlives the stack.
        goes_with_project = isinstance(database, SupabaseBranchArgs) or not database.adopt_ref
        if isinstance(database, SupabaseBranchArgs):
            # The claim in the name is recorded before the branch exists: a branch of that name
            # is this stack's own, and no one else's is ever taken for it.
            claim = GeneratedSecret(f"{name}-branch-claim", GeneratedSecretInputs(length=32), opts=child).value
            branch_name = _Output.unsecret(claim.apply(lambda v: f"{args.stack}-{branch_claim(v)}"))
            self.project = SupabaseBranch(
                f"{name}-branch",
                SupabaseBranchInputs(
                    management_api=args.management_api,
                    parent_ref=database.parent_ref,
                    name=branch_name,
                    git_branch=database.git_branch,
                    wait_timeout=args.wait_timeout,
                ),
                opts=child,
            )
        else:
            db_password: pulumi.Input[str]
            if database.adopt_ref:
                db_password = cast(str, database.db_password)  # required with projectRef (settings)
            else:
                # Recorded before the project exists, so whatever happens to the create call the
                # stack still knows the password, and it proves which same-named project is its own.
                password = GeneratedSecret(f"{name}-database-password", GeneratedSecretInputs(length=40), opts=child)
                db_password = password.value
            self.project = SupabaseProject(
                f"{name}-project",
                SupabaseProjectInputs(
                    management_api=args.management_api,
                    organization=database.organization,
                    name=database.name,
                    region=database.region,
                    instance_size=database.instance_size,
                    adopt_ref=database.adopt_ref,
                    db_password=db_password,
                    allow_replace=database.allow_replace,
                    # rotation:postgres: a new password through PATCH …/database/password (migrations only).
                    password_version=database.password_version,
                    wait_timeout=args.wait_timeout,
                ),
                opts=child,
            )
        p = self.project
        self.network: ProjectNetwork | None = None
        if isinstance(database, SupabaseProjectArgs) and (
            database.ssl_enforced is not None or database.allowed_cidrs is not None
        ):
            self.network = ProjectNetwork(
                f"{name}-network",
                ProjectNetworkInputs(
                    management_api=args.management_api,
                    ref=p.ref,
                    ssl_enforced=database.ssl_enforced,
                    allowed_cidrs=database.allowed_cidrs,
                    wait_timeout=args.wait_timeout,
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.project]),
            )
        before_migrations: list[pulumi.Resource] = [self.project]
        self.pitr: ProjectPitr | None = None
        self.recovery_point: RecoveryPoint | None = None
        if isinstance(database, SupabaseProjectArgs):
            self.pitr, self.recovery_point = self._backups(name, args, database)
            before_migrations += [r for r in (self.pitr, self.recovery_point) if r is not None]
        parts = _Output.all(
            p.ref, p.db_host, p.db_name, p.pooler_host, p.pooler_port, p.pooler_user, p.db_password
        ).apply(lambda v: supabase_urls.ProjectParts(v[0], v[1], v[2], v[3], int(v[4]), v[5], v[6]))

        def secret(fn: object) -> pulumi.Output[Any]:
            return _Output.secret(parts.apply(fn))  # type: ignore[no-any-return]

        # envstack's own sessions as postgres: the first route this machine reaches.
        self.route = ReachableUrl(
            f"{name}-database-route",
            ReachableUrlInputs(
                candidates=secret(lambda x: supabase_urls.admin_candidates(x, args.ipv6)),
                why_it_may_fail="Supabase's direct host is IPv6-only unless the IPv4 add-on is bought",
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.project]),
        )
        direct = self.route.url
        app_route = supabase_urls.app_route(args.ipv6)
        self.migrations = DatabaseMigrations(
            f"{name}-migrations",
            DatabaseMigrationsArgs(plan=args.migrations, direct_url=direct),
            opts=pulumi.ResourceOptions(parent=self, depends_on=before_migrations),
        )
        # The app logs in as one of two alternating roles (rotation:database), never as postgres.
        # After the migrations: the grants cover their tables, and the app's own policies for the
        # group are in place before the roles' update removes what an older envstack added.
        after_migrations = pulumi.ResourceOptions(parent=self, depends_on=[self.migrations])
        # New tables from new migrations need their grants.
        grants_version = content_hash(args.migrations.project_root / args.migrations.directory)

        def login_roles(kind: str, access: str) -> LoginRoles:
            inputs = LoginRolesInputs(
                admin_url=direct,
                group=group_role(args.app, access),
                access=access,
                grants_version=grants_version,
                claim=ownership,
                rotation=args.role_rotation,
                deleted_with_project=goes_with_project,
                # A database the stack created is its own: a member there is an earlier run's.
                claim_existing=goes_with_project,
            )
            return LoginRoles(f"{name}-{kind}-login-roles", inputs, opts=after_migrations)

        self.app_roles = login_roles("app", "read_write")
        self.reader_roles = login_roles("read-only", "read_only")
        app = _Output.all(parts, self.app_roles.active, self.app_roles.password).apply(
            lambda v: (supabase_urls.as_role(v[0], v[1], v[2]), v[1])
        )
        reader_parts = _Output.all(parts, self.reader_roles.active, self.reader_roles.password).apply(
            lambda v: (supabase_urls.as_role(v[0], v[1], v[2]), v[1])
        )
        reader = reader_parts.apply(lambda r: supabase_urls.role_url(r[0], r[1], r[0].password, app_route))
        # A read-only app's own sessions stay on the primary; only the replica URL moves.
        on_primary = reader
        self.replica: SupabaseReadReplica | None = None
        self._replica_admin: pulumi.Output[list[str]] | None = None
        if isinstance(database, SupabaseProjectArgs) and database.replica_region:
            self.replica = SupabaseReadReplica(
                f"{name}-read-replica",
                SupabaseReadReplicaInputs(
                    api_url=args.management_api,
                    project_ref=p.ref,
                    region=database.replica_region,
                    adopt_identifier=database.replica_identifier,
                    claim_existing=not database.adopt_ref,
                    wait_timeout=args.wait_timeout,
                ),
                # After the login roles: the replica is a copy of the primary, roles included.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.project, self.reader_roles]),
            )
            r = self.replica
            where = _Output.all(r.identifier, r.host, r.pooler_host).apply(
                lambda v: supabase_urls.ReplicaParts(v[0], v[1], v[2])
            )
            reader = _Output.all(reader_parts, where).apply(
                lambda v: supabase_urls.replica_url(v[0][0], v[1], v[0][1], v[0][0].password, app_route)
            )
            self._replica_admin = _Output.secret(
                _Output.all(parts, where).apply(lambda v: supabase_urls.replica_admin_candidates(v[0], v[1], args.ipv6))
            )
        self.signing_keys = SigningKeyRotation(
            f"{name}-jwt-signing-keys",
            SigningKeyRotationInputs(
                management_api=args.management_api,
                ref=p.ref,
                rotation=args.jwt_rotation,
                standby_seconds=args.jwt_standby_seconds,
                revoke_after_seconds=args.jwt_revoke_after_seconds,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.project]),
        )
        self.api_keys = SupabaseApiKeys(
            f"{name}-api-keys",
            SupabaseApiKeysInputs(
                management_api=args.management_api,
                ref=p.ref,
                prefix=api_key_prefix(args.stack),
                rotation=args.api_key_rotation,
                claim=ownership,
                description=f"managed by envstack ({pulumi.get_project()}/{args.stack})",
                deleted_with_project=goes_with_project,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.project]),
        )
        self._names, self._management_api = name, args.management_api
        self._direct, self._role_rotation, self._app = direct, args.role_rotation, args.app
        # Where migrations (and `pr comment`) connect: postgres on the direct route, never the app's.
        self.migrations_url = direct
        self.info: dict[variables.Field, pulumi.Output[str]] = {
            "pooled_url": _Output.secret(app.apply(lambda a: supabase_urls.pooled_url(a[0]))),
            "prisma_url": _Output.secret(app.apply(lambda a: supabase_urls.prisma_url(a[0]))),
            "direct_url": _Output.secret(
                app.apply(lambda a: supabase_urls.role_url(a[0], a[1], a[0].password, app_route))
            ),
            "read_only_url": _Output.secret(reader),
            "user": self.app_roles.active,
            "host": p.db_host,
            "password": pulumi.Output.secret(self.app_roles.password),
            "database": p.db_name,
            "api_url": p.api_url,
            "anon_key": pulumi.Output.secret(p.anon_key),
            "service_role_key": pulumi.Output.secret(p.service_role_key),
            "publishable_key": pulumi.Output.secret(self.api_keys.publishable_key),
            "secret_key": pulumi.Output.secret(self.api_keys.secret_key),
            "jwt_secret": pulumi.Output.secret(p.jwt_secret),
        }
        # A read-only app's connection pieces (vercel:projects role read_only).
        self.reader_info: dict[variables.Field, pulumi.Output[str]] = {
            "pooled_url": _Output.secret(reader_parts.apply(lambda r: supabase_urls.pooled_url(r[0]))),
            "prisma_url": _Output.secret(reader_parts.apply(lambda r: supabase_urls.prisma_url(r[0]))),
            "direct_url": _Output.secret(on_primary),
            "read_only_url": _Output.secret(reader),
            "user": self.reader_roles.active,
            "password": pulumi.Output.secret(self.reader_roles.password),
        }
        self.register_outputs({"ref": p.ref})

    def _backups(
        self, name: str, args: SupabaseEnvironmentArgs, database: SupabaseProjectArgs
    ) -> tuple[ProjectPitr | None, RecoveryPoint | None]:
        """The PITR add-on the stack asks for, and the moment before this run's migrations."""
        after_project = pulumi.ResourceOptions(parent=self, depends_on=[self.project])
        pitr = None
        if database.pitr_days is not None:
            variant = f"pitr_{database.pitr_days}" if database.pitr_days else None
            inputs = ProjectPitrInputs(management_api=args.management_api, ref=self.project.ref, variant=variant)
            pitr = ProjectPitr(f"{name}-pitr", inputs, opts=after_project)
        directory = args.migrations.project_root / args.migrations.directory
        versions = sorted(f.name.split("_", 1)[0] for f in directory.glob("*.sql"))
        point = None
        if database.recovery_point and versions:
            point = RecoveryPoint(
                f"{name}-recovery-point",
                RecoveryPointInputs(
                    management_api=args.management_api,
                    ref=self.project.ref,
                    name=f"pre-{versions[-1]}"[:20],
                    trigger=content_hash(directory),
                ),
                # With PITR on first, so the moment recorded can be restored to.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.project, *([pitr] if pitr else [])]),
            )
        return pitr, point

    def retire_replaced_api_keys(self, args: ApiKeyRetirementArgs, *, after: list[pulumi.Resource]) -> ApiKeyRetirement:
        """Delete the API keys a rotation replaced, once ``after`` (the redeploys that carry the
        new keys) are done and ``args.grace_seconds`` have passed; ``args.hold`` keeps them, saying why."""
        return ApiKeyRetirement(
            f"{self._names}-retired-api-keys",
            ApiKeyRetirementInputs(
                management_api=self._management_api,
                ref=self.project.ref,
                key_ids=self.api_keys.replaced_ids,
                grace_seconds=args.grace_seconds,
                hold=args.hold,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.api_keys, *after]),
        )

    def revoke_previous_logins(
        self, args: LoginRevocationArgs, *, after: list[pulumi.Resource]
    ) -> list[LoginRevocation]:
        """Lock the login roles (the app's and the reader's) the current database rotation made
        idle, once ``after`` (the redeploys that carry the new ones) are done and
        ``args.drain_seconds`` have passed, when ``args.revoked`` names the current rotation."""
        return [
            LoginRevocation(
                f"{self._names}-{kind}-login-revocation",
                LoginRevocationInputs(
                    admin_url=self._direct,
                    group=group_role(self._app, access),
                    active=roles.active,
                    rotation=self._role_rotation,
                    revoked=args.revoked,
                    drain_seconds=args.drain_seconds,
                    hold=args.hold,
                    replica_admin_candidates=self._replica_admin,
                ),
                # After the replica too: it must be there to end the sessions it holds.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[roles, *after, *([self.replica] if self.replica else [])]
                ),
            )
            for kind, access, roles in (
                ("app", "read_write", self.app_roles),
                ("read-only", "read_only", self.reader_roles),
            )
        ]


def branch_claim(secret: str) -> str:
    """Ten hex digits that only the holder of ``secret`` can name a branch with."""
    return hashlib.sha256(secret.encode()).hexdigest()[:10]


def api_key_prefix(stack: str) -> str:
    """``envstack_<stack>`` in the characters Supabase allows in a key name."""
    slug = re.sub(r"[^a-z0-9]+", "_", stack.lower()).strip("_") or "stack"
    return f"envstack_{slug}"[:40]
