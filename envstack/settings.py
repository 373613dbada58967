"""The one model of a stack's settings, validated before any resource is declared.

Pulumi hands the program a flat mapping of namespaced keys (``envstack:seed``,
``supabase:region``…) whose values are strings, or JSON for structured values. This
module turns that mapping into a ``StackSettings`` or fails with one sentence per
problem, each naming the offending key the way the user would type it in
``pulumi config set``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from envstack import variables
from envstack.api_urls import SUPABASE_API_URL, VERCEL_API_URL, normalize_api_url
from envstack.errors import SettingsError
from envstack.variables import DEFAULT_NAMES
from envstack.vercel_names import VERCEL_MAX_TOTAL_BYTES, is_target, name_problem

T = TypeVar("T")

Environment = Literal["dev", "staging", "production", "preview"]

# Where and how big a Supabase project can be: the enums of V1CreateProjectBody in the
# Management API's OpenAPI document (region_selection "specific" codes, desired_instance_size).
SupabaseRegion = Literal[
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-east-1", "ap-southeast-1", "ap-northeast-1",
    "ap-northeast-2", "ap-southeast-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "eu-central-1",
    "eu-central-2", "ca-central-1", "ap-south-1", "sa-east-1",
]  # fmt: skip
InstanceSize = Literal[
    "nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge",
    "24xlarge", "24xlarge_optimized_memory", "24xlarge_optimized_cpu", "24xlarge_high_memory", "48xlarge",
    "48xlarge_optimized_memory", "48xlarge_optimized_cpu", "48xlarge_high_memory",
]  # fmt: skip

# Namespaces the engine itself owns; their keys are not ours to validate.
_ENGINE_NAMESPACES = frozenset({"pulumi"})

_SLUG = r"^[a-z0-9][a-z0-9-]*[a-z0-9]$"
_IDENTIFIER = r"^[a-z_][a-z0-9_]{0,62}$"  # a PostgreSQL identifier we never need to quote
_PROJECT_REF = r"^[a-z]{20}$"
# What Vercel accepts as the name of a project it creates.
_NEW_VERCEL_PROJECT = re.compile(r"[a-z0-9._-]{1,100}")

NonEmpty = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
# One spelling per API: a trailing slash or a capital letter is not a move of the API.


def _ipv6(value: Any) -> bool | Literal["auto"]:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text == "auto":
        return "auto"
    if text in ("true", "false"):
        return text == "true"
    raise ValueError("use auto (try the direct host, fall back to the session pooler), true or false")


Ipv6Setting = Annotated[bool | Literal["auto"], PlainValidator(_ipv6)]


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError:
        raise ValueError(f"{value!r} is not a network in CIDR notation (for example 203.0.113.0/24)") from None


Cidr = Annotated[str, AfterValidator(_cidr)]


def _loopback_address(value: str) -> str:
    # The dev servers listen on this machine only (envstack.db.pgserver.require_loopback): said
    # here too, so a bad value fails the preview with the key, not the server's start.
    try:
        if ipaddress.ip_address(value) in ipaddress.ip_network("127.0.0.0/8"):
            return value
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not an IPv4 loopback address (127.0.0.0/8, for example 127.0.0.1)")


LoopbackAddress = Annotated[str, AfterValidator(_loopback_address)]


def _not_reserved(value: str) -> str:
    # The server's own roles and databases (and PgBouncer's login): taking one over would give
    # it a password, and destroying the stack would try to drop it.
    if value in {"postgres", "pgbouncer", "template0", "template1"} or value.startswith("pg_"):
        raise ValueError(f"{value!r} is the server's own; choose another name")
    return value


def _tls_unless_loopback(url: str) -> str:
    # The API token travels in every request's Authorization header, and the answers are
    # the environment's credentials: plain http is only for a stand-in on this machine.
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "http" and not loopback:
        raise ValueError(f"{url} is plain http, which only an API on this machine (127.0.0.1, ::1) may use: use https")
    return url


ApiUrl = Annotated[
    NonEmpty,
    StringConstraints(pattern=r"(?i)^https?://"),
    AfterValidator(normalize_api_url),
    AfterValidator(_tls_unless_loopback),
]
Identifier = Annotated[str, StringConstraints(pattern=_IDENTIFIER)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MigrationSettings(_Section):
    directory: NonEmpty = "supabase/migrations"
    # None runs the project's own Supabase-compatible runner; anything else is a shell
    # command (for example "npx prisma migrate deploy") that finds the database in
    # POSTGRES_URL_NON_POOLING / DATABASE_URL.
    command: NonEmpty | None = None
    # Seconds. How long a statement may wait for a table lock (then it gives up, so the app's
    # queries queued behind it flow again), how long a statement may run, how long a run waits
    # for another run's lock, and how long the whole migration command may take.
    lock_timeout: float = Field(10, alias="lockTimeout", gt=0)
    statement_timeout: float = Field(1800, alias="statementTimeout", gt=0)
    lock_wait: float = Field(120, alias="lockWait", gt=0)
    timeout: float = Field(3600, gt=0)


class LocalDatabaseSettings(_Section):
    """A database and login role on the project-managed PostgreSQL (dev only)."""

    provider: Literal["local"]
    name: Annotated[Identifier, AfterValidator(_not_reserved)]
    owner: Annotated[Identifier, AfterValidator(_not_reserved)] | None = None

    @property
    def role(self) -> str:
        return self.owner or self.name


class SupabaseProjectSettings(_Section):
    """A Supabase project of the stack's own (created, or adopted with supabase:projectRef)."""

    provider: Literal["supabase"]


class SupabaseBranchSettings(_Section):
    """A Supabase preview branch of another project (pull-request stacks of staging)."""

    provider: Literal["supabase-branch"]
    parent_ref: NonEmpty = Field(alias="parentRef", pattern=_PROJECT_REF)


DatabaseSettings = Annotated[
    LocalDatabaseSettings | SupabaseProjectSettings | SupabaseBranchSettings, Field(discriminator="provider")
]


class PreviewSettings(_Section):
    """``envstack:previews``, set on staging: what its pull-request stacks get."""

    # "project": a Supabase project per pull request; "branch": a preview branch of staging's.
    database: Literal["project", "branch"] = "project"
    # `python -m envstack pr gc` tears down pull-request stacks idle for longer than this.
    ttl_hours: float = Field(168, alias="ttlHours", gt=0)


class PullRequestSettings(_Section):
    """``envstack:pullRequest``: set by `python -m envstack pr up`, never by hand."""

    number: int = Field(ge=1)
    branch: NonEmpty = Field(max_length=250)


class VariableSettings(_Section):
    """``envstack:variables``: where the app's variables differ from the default names."""

    rename: dict[str, str] = {}
    drop: list[str] = []
    add: dict[str, str] = {}


class MonitoringSettings(_Section):
    """``envstack:monitoring``: when `doctor` calls a connection figure a breach."""

    # Share of max_connections (less the superuser slots) in use.
    connections_percent: float = Field(80, alias="connectionsPercent", gt=0, le=100)
    # Share of the pooler's pool size one login role keeps busy.
    pool_percent: float = Field(80, alias="poolPercent", gt=0, le=100)
    # The pool size to check against when the Management API reports none (the compute size's default).
    pool_size: int | None = Field(None, alias="poolSize", ge=1)
    long_query_seconds: float = Field(300, alias="longQuerySeconds", gt=0)
    idle_in_transaction_seconds: float = Field(60, alias="idleInTransactionSeconds", gt=0)
    # WAL the read replica's replay may be behind the primary's (MiB): past it, reads there are stale.
    replica_lag_megabytes: float = Field(64, alias="replicaLagMegabytes", gt=0)


HealthField = Literal["ref", "host", "name"]


class HealthSettings(_Section):
    """``envstack:health``: the app's own health endpoint (docs/app-health.md), which `doctor`
    calls on the deployment serving each target."""

    path: NonEmpty = Field("/api/health/database", pattern=r"^/[^\s?#]*$")
    # What the app's answer must match: the project ref, the host of its POSTGRES_URL, the database name.
    expect: list[HealthField] = Field(["ref", "name"], min_length=1)
    timeout: float = Field(10, gt=0, le=60)
    # Only these of vercel:projects serve the endpoint; None: all of them.
    projects: list[NonEmpty] | None = Field(None, min_length=1)


class EnvstackSettings(_Section):
    """The ``envstack:`` namespace."""

    environment: Environment | None = None
    app: NonEmpty = Field(pattern=_SLUG, max_length=40)
    database: DatabaseSettings
    seed: bool = False
    seed_file: NonEmpty = Field("supabase/seed.sql", alias="seedFile")
    migrations: MigrationSettings = MigrationSettings()
    env_file: NonEmpty | None = Field(None, alias="envFile")
    variables: VariableSettings = VariableSettings()
    previews: PreviewSettings = PreviewSettings()
    pull_request: PullRequestSettings | None = Field(None, alias="pullRequest")
    monitoring: MonitoringSettings = MonitoringSettings()
    health: HealthSettings | None = None
    # Extra secret variables: `pulumi config set --secret --path 'envstack:secretVariables.NAME' value`.
    secret_variables: dict[str, str] = Field({}, alias="secretVariables", repr=False)


class LocalServerSettings(_Section):
    """The ``localdb:`` namespace: where the project-managed PostgreSQL listens."""

    host: LoopbackAddress = "127.0.0.1"
    port: int = Field(54329, ge=1, le=65535)
    directory: NonEmpty = ".envstack/postgres"
    # PgBouncer beside it, as Supabase's pooler: transaction mode (the app's pooled URLs) and session mode.
    pooler_port: int = Field(54330, alias="poolerPort", ge=1, le=65535)
    session_pooler_port: int = Field(54331, alias="sessionPoolerPort", ge=1, le=65535)

    @model_validator(mode="after")
    def _ports_differ(self) -> LocalServerSettings:
        ports = {"localdb:port": self.port, "localdb:poolerPort": self.pooler_port}
        for key, port in ports.items():
            if port == self.session_pooler_port:
                raise _KeyedError("localdb:sessionPoolerPort", f"is {key} too; each listener needs its own port")
        if self.pooler_port == self.port:
            raise _KeyedError("localdb:poolerPort", "is localdb:port too; each listener needs its own port")
        return self


class BackupSettings(_Section):
    """``supabase:backups``: the project's backup posture, applied by `pulumi up`, checked by `doctor`."""

    # Days of point-in-time recovery (the PITR add-on); 0: none; unset: left as it is.
    pitr_days: Literal[0, 7, 14, 28] | None = Field(None, alias="pitrDays")
    # doctor fails when the newest backup (with PITR: the newest moment it can restore to) is older.
    max_age_hours: float = Field(26, alias="maxAgeHours", gt=0)
    # Record the moment before each migration run (and a restore point where Supabase offers
    # them). Unset: on for production.
    recovery_point: bool | None = Field(None, alias="recoveryPoint")


class ReadReplicaSettings(_Section):
    """``supabase:readReplica``: a read replica of the stack's project."""

    region: SupabaseRegion
    # In an adopted project, a replica a failed run of this stack set up and never recorded:
    # nothing else proves it is the stack's (another team's may stand in the region).
    identifier: str | None = Field(None, pattern=r"^[a-z]{20}-rr-[a-z0-9-]+$")


class SupabaseSettings(_Section):
    """The ``supabase:`` namespace."""

    api_url: ApiUrl = Field(SUPABASE_API_URL, alias="apiUrl")
    organization: NonEmpty | None = Field(None, pattern=r"^[\w-]+$")
    region: SupabaseRegion | None = None
    instance_size: InstanceSize | None = Field(None, alias="instanceSize")
    project_name: NonEmpty | None = Field(None, alias="projectName", max_length=256)
    # Adopt an existing project instead of creating one; an adopted project is never
    # deleted by `pulumi destroy`.
    project_ref: NonEmpty | None = Field(None, alias="projectRef", pattern=_PROJECT_REF)
    # The database password of an adopted project (pulumi config set --secret): adopting
    # must not reset it, or whatever already uses the project would be cut off.
    db_password: NonEmpty | None = Field(None, alias="dbPassword", repr=False)
    # Where sessions go (envstack/db/supabase_urls.py): "auto" tries the IPv6-only direct host and
    # falls back to the session pooler; true always the direct host; false always the pooler.
    ipv6: Ipv6Setting = "auto"
    # Seconds to wait for a new project to become healthy.
    wait_timeout: float = Field(600, alias="waitTimeout", gt=0)
    # Changing organization, region or projectRef replaces the project (deleting a created one
    # and its data); that is refused unless this is set. Production never replaces.
    allow_replace: bool = Field(False, alias="allowReplace")
    # Clients must use TLS (directly and through the pooler). Unset: on for a project
    # production creates, left as it is otherwise. Production never turns it off.
    ssl_enforcement: bool | None = Field(None, alias="sslEnforcement")
    # The only networks allowed to reach the database (IPv4 and IPv6 CIDRs). Unset: left as
    # it is (a new project allows every address).
    network_restrictions: list[Cidr] | None = Field(None, alias="networkRestrictions", min_length=1)
    # A read replica that POSTGRES_READ_REPLICA_URL points at (as the read-only role); removed
    # when unset. Unset: that variable is the read-only role on the primary.
    read_replica: ReadReplicaSettings | None = Field(None, alias="readReplica")
    backups: BackupSettings = BackupSettings()


Role = Literal["read_write", "read_only"]


class VercelProjectSettings(_Section):
    """One entry of ``vercel:projects``: a project, and the variables it gets where it needs
    fewer or other ones than the rest (NivoStack: only the dashboard reads the replica)."""

    name: NonEmpty
    # Only these variables (their names after envstack:variables); None: every variable.
    select: list[NonEmpty] | None = Field(None, min_length=1)
    drop: list[NonEmpty] = []
    rename: dict[str, str] = {}
    # read_only: the database variables log in as the read-only role, and no key that can
    # write past it (service role, secret key, Supabase's JWT secret) is given.
    role: Role = "read_write"


def _project_entry(value: Any) -> Any:
    """A bare name is the common case: every variable, the app's role."""
    return {"name": value} if isinstance(value, str) else value


class VercelSettings(_Section):
    """The ``vercel:`` namespace: which Vercel projects receive the app's variables."""

    api_url: ApiUrl = Field(VERCEL_API_URL, alias="apiUrl")
    # A team id (team_…) or slug; None for a personal account.
    team: NonEmpty | None = None
    # The Vercel projects that get this environment's variables: a name or id, or
    # {name, select|drop, rename, role} for a project that gets its own set.
    projects: list[Annotated[VercelProjectSettings, BeforeValidator(_project_entry)]] = []
    create_projects: bool = Field(False, alias="createProjects")
    # production, preview, development or a custom environment id; default from the environment.
    target: NonEmpty | None = None
    git_branch: NonEmpty | None = Field(None, alias="gitBranch", max_length=250)
    redeploy: bool = True
    redeploy_timeout: float = Field(900, alias="redeployTimeout", gt=0)
    # Take over variables of the same name that already exist for the target, instead of failing.
    adopt_variables: bool = Field(False, alias="adoptVariables")

    @property
    def project_names(self) -> list[str]:
        return [p.name for p in self.projects]


class RotationSettings(_Section):
    """The ``rotation:`` namespace: a counter per secret (changing it rotates that secret) and
    the waits between the steps of a signing-key or API-key rotation."""

    # The app's two database login roles (and the read-only pair): new password on the idle one.
    database: int = Field(0, ge=0)
    # The `postgres` password, which only the migrations use.
    postgres: int = Field(0, ge=0)
    # Supabase Auth's JWT signing key: standby, in use, then the old one revoked.
    jwt: int = Field(0, ge=0)
    # The publishable and secret API keys: new ones to Vercel, redeploy, then the old ones deleted.
    api_keys: int = Field(0, alias="apiKeys", ge=0)
    # The app's own JWT_SECRET.
    app_secret: int = Field(0, alias="appSecret", ge=0)
    # A standby key is published in the JWKS this long before it signs: caches must know it by then
    # (Supabase: up to 10 minutes at the edge plus 10 in clients).
    jwt_standby_seconds: float = Field(1200, alias="jwtStandbySeconds", ge=0)
    # The old key is revoked this long after the switch; unset: the project's JWT expiry + 15 minutes,
    # so no token it signed is still valid.
    jwt_revoke_after_seconds: float | None = Field(None, alias="jwtRevokeAfterSeconds", ge=0)
    # Replaced API keys are deleted this long after the redeploy that stopped using them, for
    # requests still in flight on the old deployment and pages that still carry the old
    # publishable key.
    api_key_grace_seconds: float = Field(900, alias="apiKeyGraceSeconds", ge=0)
    # Revocation: when one equals its counter (and is above 0), the credential that rotation
    # replaced stops working as soon as the redeploys carrying the new one are READY (plus
    # revokeDrainSeconds), instead of at the next rotation (database) or after the grace (API
    # keys). 0: never (the default; rotation 0 replaced nothing).
    database_revoked: int = Field(0, alias="databaseRevoked", ge=0)
    api_keys_revoked: int = Field(0, alias="apiKeysRevoked", ge=0)
    # How long a revocation waits after those redeploys are READY, for requests still in flight
    # on the old deployment.
    revoke_drain_seconds: float = Field(10, alias="revokeDrainSeconds", ge=0, le=600)

    @model_validator(mode="after")
    def _revoked_is_a_rotation(self) -> RotationSettings:
        for key, counter, revoked in (
            ("rotation:databaseRevoked", self.database, self.database_revoked),
            ("rotation:apiKeysRevoked", self.api_keys, self.api_keys_revoked),
        ):
            if revoked > counter:
                raise _KeyedError(key, f"names rotation {revoked}, but the counter is {counter}")
        return self


class StackSettings(_Section):
    """Everything a stack can set, across namespaces."""

    stack: NonEmpty
    environment: Environment
    envstack: EnvstackSettings
    localdb: LocalServerSettings = LocalServerSettings()
    supabase: SupabaseSettings = SupabaseSettings()
    vercel: VercelSettings = VercelSettings()
    rotation: RotationSettings = RotationSettings()

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def seeds(self) -> bool:
        # Belt and braces: validation already rejects seed on production.
        return self.envstack.seed and not self.is_production

    @property
    def ssl_enforced(self) -> bool | None:
        """Whether the stack's project must enforce SSL (None: the stack leaves it as it is)."""
        if self.supabase.ssl_enforcement is not None:
            return self.supabase.ssl_enforcement
        created = isinstance(self.envstack.database, SupabaseProjectSettings) and not self.supabase.project_ref
        return True if self.is_production and created else None

    @property
    def takes_recovery_points(self) -> bool:
        """Whether the moment before each migration run is recorded (production's by default)."""
        if not isinstance(self.envstack.database, SupabaseProjectSettings):
            return False
        chosen = self.supabase.backups.recovery_point
        return self.is_production if chosen is None else chosen

    @property
    def supabase_project_name(self) -> str:
        return self.supabase.project_name or f"{self.envstack.app}-{self.stack}"

    @property
    def vercel_target(self) -> str:
        """Production's variables go to Vercel's production environment, every other stack's to preview."""
        return self.vercel.target or ("production" if self.is_production else "preview")

    @model_validator(mode="after")
    def _production_is_one_stack(self) -> StackSettings:
        # Tools and policies recognise production by its name (policy/, `pr down`), so the two
        # must never disagree.
        if self.is_production != (self.stack == "production"):
            raise _KeyedError(
                "envstack:environment", "production is the stack named production, and that stack is production"
            )
        # The same for dev and staging: `pr up` copies staging's settings, drift.yml and the
        # preview comment read staging by its name, and dev alone may write an env file.
        if self.stack in ("dev", "staging") and self.environment != self.stack:
            raise _KeyedError("envstack:environment", f"the stack named {self.stack} is {self.stack}")
        return self

    @model_validator(mode="after")
    def _pull_request_rules(self) -> StackSettings:
        numbered = re.fullmatch(r"pr-(\d+)", self.stack)
        request = self.envstack.pull_request
        if numbered and self.environment != "preview":
            raise _KeyedError("envstack:environment", f"stack {self.stack} is a pull-request stack, so it is preview")
        if self.environment != "preview":
            if isinstance(self.envstack.database, SupabaseBranchSettings):
                raise _KeyedError("envstack:database", "a Supabase preview branch is for pull-request stacks only")
            return self
        if request is None:
            raise _KeyedError(
                "envstack:pullRequest", "a preview stack needs its pull request (python -m envstack pr up sets it)"
            )
        if numbered and int(numbered.group(1)) != request.number:
            raise _KeyedError("envstack:pullRequest", f"stack {self.stack} belongs to pull request {numbered.group(1)}")
        if self.vercel.projects and self.vercel.git_branch != request.branch:
            raise _KeyedError(
                "vercel:gitBranch",
                f"must be the pull request's branch ({request.branch}), so only its deployments see its "
                "variables and staging's stay untouched",
            )
        return self

    @model_validator(mode="after")
    def _production_is_hardened(self) -> StackSettings:
        if self.is_production and self.supabase.ssl_enforcement is False:
            raise _KeyedError("supabase:sslEnforcement", "production's database always requires TLS")
        return self

    @model_validator(mode="after")
    def _vercel_rules(self) -> StackSettings:
        vercel = self.vercel
        if vercel.target is not None and not is_target(vercel.target):
            raise _KeyedError(
                "vercel:target",
                f"{vercel.target!r} is not production, preview, development or a custom environment's id (env_…)",
            )
        if self.environment == "dev" and vercel.projects:
            raise _KeyedError("vercel:projects", "the dev stack writes its variables to envstack:envFile, not Vercel")
        if self.is_production != (self.vercel_target == "production"):
            raise _KeyedError(
                "vercel:target",
                "only the production stack writes Vercel's production environment, and it writes no other",
            )
        if vercel.git_branch and self.vercel_target != "preview":
            raise _KeyedError("vercel:gitBranch", "a git branch can only scope variables of the preview target")
        if vercel.projects and self.vercel_target == "development":
            # Every stack writes secrets (database URLs, keys, JWT_SECRET), and Vercel keeps
            # development variables readable: they cannot be sensitive.
            raise _KeyedError(
                "vercel:target",
                "development cannot hold sensitive variables and this stack's secrets must be sensitive, "
                "so developers get theirs from the dev stack's envstack:envFile",
            )
        names = vercel.project_names
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise _KeyedError("vercel:projects", f"{', '.join(twice)} is listed twice")
        if vercel.create_projects:
            for project in names:
                if not _NEW_VERCEL_PROJECT.fullmatch(project):
                    raise _KeyedError(
                        "vercel:projects",
                        f"{project!r} cannot be the name of a new Vercel project "
                        "(up to 100 lowercase letters, digits, '.', '_' or '-')",
                    )
        return self

    @model_validator(mode="after")
    def _variable_rules(self) -> StackSettings:
        chosen = self.envstack.variables
        for key, names in (("envstack:variables.rename", chosen.rename), ("envstack:variables.drop", chosen.drop)):
            unknown = sorted(set(names) - set(DEFAULT_NAMES))
            if unknown:
                raise _KeyedError(key, f"{', '.join(unknown)} is not one of envstack's variables")
        for key, names in (
            ("envstack:variables.rename", list(chosen.rename.values())),
            ("envstack:variables.add", list(chosen.add)),
            ("envstack:secretVariables", list(self.envstack.secret_variables)),
        ):
            for name in names:
                problem = name_problem(name)
                if problem is not None:
                    raise _KeyedError(key, problem)
        final = _variable_names(self)
        duplicates = sorted({n for n in final if final.count(n) > 1})
        if duplicates:
            raise _KeyedError("envstack:variables", f"{', '.join(duplicates)} would be defined twice")
        _check_values(
            ("envstack:variables.add", chosen.add), ("envstack:secretVariables", self.envstack.secret_variables)
        )
        return self

    @model_validator(mode="after")
    def _health_rules(self) -> StackSettings:
        health = self.envstack.health
        if health is not None and health.projects is not None:
            unknown = sorted(set(health.projects) - set(self.vercel.project_names))
            if unknown:
                raise _KeyedError("envstack:health.projects", f"{', '.join(unknown)} is not one of vercel:projects")
        return self

    @model_validator(mode="after")
    def _project_variable_rules(self) -> StackSettings:
        stack_names = _variable_names(self)
        for index, project in enumerate(self.vercel.projects):
            key = f"vercel:projects.{index}"
            if project.select is not None and project.drop:
                raise _KeyedError(key, "select and drop cannot both be set: select names every variable it keeps")
            for field, names in (("select", project.select or []), ("drop", project.drop), ("rename", project.rename)):
                unknown = sorted(set(names) - set(stack_names))
                if unknown:
                    raise _KeyedError(f"{key}.{field}", f"{', '.join(unknown)} is not one of this stack's variables")
            for name in project.rename.values():
                problem = name_problem(name)
                if problem is not None:
                    raise _KeyedError(f"{key}.rename", problem)
            if project.role == "read_only":
                chosen = self.envstack.variables
                fields = {chosen.rename.get(n, n): f for n, f in DEFAULT_NAMES.items() if n not in chosen.drop}
                writers = sorted(n for n in project.select or [] if fields.get(n) in variables.WRITE_KEYS)
                if writers:
                    raise _KeyedError(
                        f"{key}.select", f"a read-only project never gets {', '.join(writers)}, which can write"
                    )
            kept = [n for n in (project.select or stack_names) if n not in project.drop]
            final = [project.rename.get(n, n) for n in kept]
            duplicates = sorted({n for n in final if final.count(n) > 1})
            if duplicates:
                raise _KeyedError(f"{key}.rename", f"{', '.join(duplicates)} would be defined twice")
        return self

    @model_validator(mode="after")
    def _environment_rules(self) -> StackSettings:
        db = self.envstack.database
        if self.is_production:
            if self.envstack.seed:
                raise _KeyedError("envstack:seed", "production never receives test data, so seed must be false")
            if isinstance(db, LocalDatabaseSettings):
                raise _KeyedError(
                    "envstack:database", "production must use a Supabase database, not the local dev PostgreSQL"
                )
        if self.environment != "dev":
            # The local PostgreSQL serves one machine, and a second stack naming its database
            # would take that database over; its URLs would also reach Vercel, where 127.0.0.1
            # is nobody's. A file of secrets on the machine that runs `up` is the dev stack's
            # convenience, never a home for a shared environment's credentials.
            if isinstance(db, LocalDatabaseSettings):
                raise _KeyedError(
                    "envstack:database", "the local PostgreSQL is the dev environment's; this stack needs Supabase"
                )
            if self.envstack.env_file:
                raise _KeyedError(
                    "envstack:envFile",
                    "only the dev environment writes its variables to a file (Vercel holds the rest)",
                )
        if self.is_production and self.supabase.allow_replace:
            raise _KeyedError(
                "supabase:allowReplace", "production never replaces its Supabase project, so it must be false"
            )
        if isinstance(db, SupabaseProjectSettings) and self.supabase.project_ref and not self.supabase.db_password:
            raise _KeyedError(
                "supabase:dbPassword",
                "is required when adopting supabase:projectRef (pulumi config set --secret supabase:dbPassword …)",
            )
        if isinstance(db, SupabaseProjectSettings) and not self.supabase.project_ref:
            for key, value in (
                ("supabase:organization", self.supabase.organization),
                ("supabase:region", self.supabase.region),
            ):
                if value is None:
                    raise _KeyedError(
                        key, "is required to create a Supabase project (or set supabase:projectRef to adopt one)"
                    )
        return self

    @model_validator(mode="after")
    def _backup_rules(self) -> StackSettings:
        pitr = self.supabase.backups.pitr_days
        if pitr is None:
            return self
        key = "supabase:backups.pitrDays"
        if not isinstance(self.envstack.database, SupabaseProjectSettings):
            raise _KeyedError(key, "only a Supabase project of the stack's own has point-in-time recovery")
        if pitr == 0 and self.is_production:
            raise _KeyedError(key, "production keeps point-in-time recovery, so it cannot be 0")
        if pitr and self.supabase.instance_size in ("nano", "micro"):
            raise _KeyedError(key, "Supabase offers point-in-time recovery for the Small compute size or larger")
        return self

    @model_validator(mode="after")
    def _replica_rules(self) -> StackSettings:
        if self.supabase.read_replica is None:
            return self
        if not isinstance(self.envstack.database, SupabaseProjectSettings):
            raise _KeyedError(
                "supabase:readReplica", "only a Supabase project of the stack's own can have a read replica"
            )
        if self.supabase.instance_size in ("nano", "micro"):
            raise _KeyedError(
                "supabase:readReplica",
                "Supabase sets up read replicas for projects on the Small compute size or larger",
            )
        return self

    @model_validator(mode="after")
    def _rotation_rules(self) -> StackSettings:
        if self.rotation.postgres and self.supabase.project_ref:
            raise _KeyedError(
                "rotation:postgres",
                "an adopted project's postgres password is not the stack's to change: change it in Supabase, "
                "then set the new one with pulumi config set --secret supabase:dbPassword",
            )
        return self


def _variable_names(settings: StackSettings) -> list[str]:
    """Every variable name the stack defines, in order, repeats kept (a repeat is a mistake to report)."""
    chosen = settings.envstack.variables
    final = [chosen.rename.get(n, n) for n in DEFAULT_NAMES if n not in chosen.drop]
    return final + list(chosen.add) + list(settings.envstack.secret_variables)


class _KeyedError(ValueError):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}")
        self.key, self.reason = key, reason


def _check_values(*sources: tuple[str, Mapping[str, str]]) -> None:
    """Values set in the stack's settings that Vercel would refuse (sizes only: some are secret).

    The connection details come on top of these when the provider writes them; its check
    sees the full total once they are known.
    """
    for key, values in sources:
        empty = sorted(name for name, value in values.items() if value == "")
        if empty:
            raise _KeyedError(key, f"{', '.join(empty)} is empty, and Vercel stores no empty values")
    sizes = {
        (key, name): len(name.encode()) + len(value.encode())
        for key, values in sources
        for name, value in values.items()
    }
    total = sum(sizes.values())
    if total > VERCEL_MAX_TOTAL_BYTES:
        key, name = max(sizes, key=lambda k: sizes[k])
        raise _KeyedError(
            key,
            f"{name} takes {sizes[key, name]} bytes, and Vercel allows {VERCEL_MAX_TOTAL_BYTES} bytes for all of "
            "a deployment's variables together",
        )


def setting_error(key: str, reason: str) -> SettingsError:
    """The error for a setting found wrong outside the model (files it names, what an API says)."""
    return SettingsError(_sentence(key, reason))


def environment_for_stack(stack: str) -> Environment | None:
    """The environment a conventional stack name implies."""
    if stack in ("dev", "staging", "production"):
        return stack  # type: ignore[return-value]
    if re.fullmatch(r"pr-\d+", stack):
        return "preview"
    return None


def _decode(value: str) -> Any:
    """Config values are strings; structured ones arrive as JSON."""
    stripped = value.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return value
    return value


_NAMESPACES: dict[str, type[_Section]] = {
    "envstack": EnvstackSettings,
    "localdb": LocalServerSettings,
    "supabase": SupabaseSettings,
    "vercel": VercelSettings,
    "rotation": RotationSettings,
}


def encrypted_stand_in(full_key: str, marker: str) -> str:
    """What stands in for a setting's value that cannot be decrypted here (another stack's file):
    ``marker`` for a text setting, an empty map or list for a structured one (a whole
    ``envstack:secretVariables`` set with --secret), so the rest of that file still validates."""
    namespace, _, key = full_key.partition(":")
    section = _NAMESPACES.get(namespace)
    fields = section.model_fields.items() if section is not None else ()
    annotation = next((f.annotation for name, f in fields if (f.alias or name) == key), None)
    while get_origin(annotation) in (Union, UnionType, Annotated):
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    origin = get_origin(annotation) or annotation
    if isinstance(origin, type) and (issubclass(origin, Mapping | BaseModel) or origin is dict):
        return "{}"
    if origin in (list, tuple, frozenset, set):
        return "[]"
    return marker


def _config_key(loc: tuple[int | str, ...], *, as_given: bool = False) -> str:
    """Map a pydantic error location back to the key a user sets with `pulumi config`
    (``as_given``: a key the user wrote that is not one, left as written)."""
    parts = [str(p) for p in loc]
    # A discriminated union adds its tag ("local"/"supabase") after the field name.
    if parts[:2] == ["envstack", "database"] and len(parts) > 2:
        del parts[2]
    if not parts or parts[0] not in _NAMESPACES:
        return ".".join(parts) or "settings"
    namespace, *rest = parts
    if not rest:
        return namespace
    field = _NAMESPACES[namespace].model_fields.get(rest[0])
    if field is not None and field.alias and not as_given:
        rest[0] = field.alias
    return f"{namespace}:{rest[0]}" + "".join(f".{p}" for p in rest[1:])


def _unknown(loc: tuple[int | str, ...]) -> str:
    """Why a key is refused: one spelling per setting, so a check that looks a key up by its
    name (what a pull-request stack does not inherit, which project production names) cannot
    be passed by the other spelling."""
    parts = [str(p) for p in loc]
    if len(parts) == 2 and parts[0] in _NAMESPACES:
        field = _NAMESPACES[parts[0]].model_fields.get(parts[1])
        if field is not None and field.alias:
            return f"unknown setting (the key is {parts[0]}:{field.alias})"
    return "unknown setting"


def _sentence(key: str, message: str) -> str:
    message = message.rstrip(".")
    # Lower-case a leading word ("Input should…"), not a leading name ("TZ is reserved…").
    if message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    return f"Invalid stack setting {key}: {message}."


def load_settings(stack: str, config: Mapping[str, str]) -> StackSettings:
    """Validate a stack's configuration, raising SettingsError with one sentence per problem."""
    problems: list[str] = []
    sections: dict[str, dict[str, Any]] = {}
    for full_key, raw in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace in _ENGINE_NAMESPACES:
            continue
        if namespace not in _NAMESPACES or not key:
            known = ", ".join(f"{n}:" for n in _NAMESPACES)
            problems.append(_sentence(full_key, f"unknown setting (envstack reads only {known} keys)"))
            continue
        sections.setdefault(namespace, {})[key] = _decode(raw)

    envstack = sections.setdefault("envstack", {})
    declared = envstack.get("environment")
    environment = declared or environment_for_stack(stack)
    if environment is None:
        problems.append(
            _sentence(
                "envstack:environment",
                f"stack '{stack}' is not dev, staging, production or pr-<number>, "
                "so this setting must say which environment it is",
            )
        )
    if problems:
        raise SettingsError("\n".join(problems))

    try:
        return StackSettings.model_validate({"stack": stack, "environment": environment, **sections})
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            if tuple(error["loc"]) == ("environment",) and declared:
                continue  # the declared value's own error, at envstack:environment, says it
            original = error.get("ctx", {}).get("error")
            if isinstance(original, _KeyedError):
                problems.append(_sentence(original.key, original.reason))
                continue
            if error["type"] == "extra_forbidden":
                loc = tuple(error["loc"])
                problems.append(_sentence(_config_key(loc, as_given=True), _unknown(loc)))
                continue
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "is required"
            problems.append(_sentence(_config_key(tuple(error["loc"])), message))
        raise SettingsError("\n".join(dict.fromkeys(problems))) from None


@dataclass(frozen=True)
class DatabaseIdentity:
    """What a stack's Supabase database is known by, for the check that production shares it
    with no other stack."""

    production: bool
    ref: str | None = None  # the project's ref, when the stack adopts one
    name: str | None = None  # the project's name, when the stack has a project of its own
    parent: str | None = None  # the parent's ref, when the stack's database is a preview branch


def _identity(
    production: bool,
    database: LocalDatabaseSettings | SupabaseProjectSettings | SupabaseBranchSettings,
    project: Callable[[], tuple[str | None, str]],
) -> DatabaseIdentity:
    """``project``: the ref and name of a project of the stack's own, asked only for one."""
    if isinstance(database, SupabaseBranchSettings):
        return DatabaseIdentity(production, parent=database.parent_ref)
    if isinstance(database, SupabaseProjectSettings):
        return DatabaseIdentity(production, *project())
    return DatabaseIdentity(production)


def database_identity(settings: StackSettings) -> DatabaseIdentity:
    return _identity(
        settings.is_production,
        settings.envstack.database,
        lambda: (settings.supabase.project_ref, settings.supabase_project_name),
    )


def database_identity_of(stack: str, config: Mapping[str, str]) -> DatabaseIdentity:
    """A stack's identity from its configuration: from the whole settings when they validate,
    else from the settings that name its database alone (a problem elsewhere in the file, say
    an unknown key, is that stack's own preview's to report). SettingsError when those cannot
    be read either: an encrypted project ref, a missing database."""
    try:
        return database_identity(load_settings(stack, config))
    except SettingsError as whole:
        identity = _identity_from_keys(stack, config)
        if identity is None:
            raise whole from None
        return identity


def _identity_from_keys(stack: str, config: Mapping[str, str]) -> DatabaseIdentity | None:
    try:
        database: LocalDatabaseSettings | SupabaseProjectSettings | SupabaseBranchSettings = TypeAdapter(
            DatabaseSettings
        ).validate_python(_decode(config.get("envstack:database", "")))
    except ValidationError:
        return None
    ref, name, app = (
        config.get(k, "").strip() for k in ("supabase:projectRef", "supabase:projectName", "envstack:app")
    )
    if isinstance(database, SupabaseProjectSettings) and (
        (ref and not re.fullmatch(_PROJECT_REF, ref)) or not (name or app)
    ):
        return None
    # Validation holds the name and the environment together: production is the stack named so.
    return _identity(stack == "production", database, lambda: (ref or None, name or f"{app}-{stack}"))


def assert_isolated_from(settings: StackSettings, others: Mapping[str, DatabaseIdentity]) -> None:
    """Production shares no database with any other stack in this repository, seen from either side:
    a staging or pull-request stack that named production's project would seed it, run its own
    migrations in it and delete it on destroy."""
    mine = database_identity(settings)
    for name, other in others.items():
        if mine.production == other.production:
            continue
        production, rest = (mine, other) if mine.production else (other, mine)
        shared: tuple[str, str] | None = None
        if production.ref and production.ref in (rest.ref, rest.parent):
            key = "envstack:database.parentRef" if production.ref == rest.parent else "supabase:projectRef"
            shared = (key, production.ref)
        elif production.name and production.name == rest.name:
            shared = ("supabase:projectName", production.name)
        if shared is None:
            continue
        key, value = shared
        reason = (
            f"production must not share its Supabase project {value} with stack '{name}'"
            if settings.is_production
            else f"{value} is production's Supabase project, and no other stack may use it"
        )
        raise SettingsError(_sentence(key, reason))


def app_variables(
    info: Mapping[variables.Field, T],
    settings: StackSettings,
    project: VercelProjectSettings | None = None,
    reader: Mapping[variables.Field, T] | None = None,
) -> variables.AppVariables[T]:
    """The variables a stack's settings ask for, from its environment's connection info; with
    ``project``, that Vercel project's own share (``reader``: the read-only role's pieces)."""
    chosen = settings.envstack.variables
    if project is not None and project.role == "read_only":
        if reader is None:
            reason = f"{project.name} asks for the read-only role, which this environment does not have"
            raise setting_error("vercel:projects", reason)
        info = variables.as_reader(info, reader)
    everything = variables.variables_for(
        info, rename=chosen.rename, drop=chosen.drop, add=chosen.add, secret_add=settings.envstack.secret_variables
    )
    if project is None:
        return everything
    return variables.narrowed(everything, select=project.select, drop=project.drop, rename=project.rename)
