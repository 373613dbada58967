"""The emulator's state: tenants (a token and its organization), projects, branches and
the keys each project holds. Plain data under one lock; the PostgreSQL side lives in
databases.py and pooler.py, the lifecycle in provisioning.py."""

from __future__ import annotations

import copy
import itertools
import json
import secrets
import string
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from envstack.db.pgserver import PostgresServer
from tests.emulators.supabase import tokens
from tests.emulators.supabase.backups import BackupState

# Statuses during which the real API refuses to delete a project (recorded 400
# "Project not ready for deletion.").
PROVISIONING = frozenset({"UNKNOWN", "COMING_UP"})

# Which region a smart group lands in is Supabase's choice at the time; these are stand-ins.
SMART_GROUPS = {"americas": "us-east-1", "emea": "eu-central-1", "apac": "ap-southeast-1"}
DEFAULT_REGION = "us-east-1"
DEFAULT_INSTANCE_SIZE = "nano"  # "Omit this field to always default to the smallest possible size." [spec]

# The recorded GET …/config/auth answer (site_url and uri_allow_list de-placeholdered), plus
# nimbus_oauth_email_optional, which the spec requires and the recording predates.
_AUTH_DEFAULTS: dict[str, Any] = json.loads((Path(__file__).with_name("auth_config_defaults.json")).read_text())
POSTGREST_DEFAULTS: dict[str, Any] = {
    "db_schema": "public,graphql_public",
    "max_rows": 1000,
    "db_extra_search_path": "public, extensions",
    "db_pool": None,
}  # as recorded (GET_v1_projects___PROJECT_REF___postgrest)


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_ref() -> str:
    """A project ref: 20 lowercase letters."""
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(20))


@dataclass
class Organization:
    id: str
    slug: str
    name: str
    # Free organizations hold at most FREE_PROJECT_LIMIT active projects and no branches;
    # the tests' organizations are Pro (envstack needs branches), unless a test asks.
    plan: str = "pro"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "slug": self.slug, "name": self.name}


@dataclass
class Tenant:
    """One caller of the API: its access token and the organization it owns."""

    id: str
    token: str
    user_id: str  # the x-gotrue-id every real answer carries
    organization: Organization


@dataclass
class ApiKey:
    id: str
    name: str
    type: str  # publishable | secret
    api_key: str
    description: str | None
    secret_jwt_template: dict[str, Any] | None
    inserted_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    def to_json(self, *, reveal: bool) -> dict[str, Any]:
        shown = self.api_key if reveal or self.type == "publishable" else tokens.masked(self.api_key)
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "api_key": shown,
            "description": self.description,
            "secret_jwt_template": copy.deepcopy(self.secret_jwt_template),
            "hash": tokens.key_hash(self.api_key),
            "prefix": tokens.key_prefix(self.api_key),
            "inserted_at": self.inserted_at,
            "updated_at": self.updated_at,
        }


@dataclass
class SigningKey:
    id: str
    algorithm: str
    status: str
    public_jwk: dict[str, Any] | None
    legacy: bool = False  # the imported legacy JWT secret
    # What the project's Auth stand-in signs with (project_api.py): a private key, or the shared
    # secret of an HS256 key (the legacy one signs with the project's jwt_secret). Never shown.
    private: Any = field(default=None, repr=False, compare=False)
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "algorithm": self.algorithm,
            "status": self.status,
            "public_jwk": copy.deepcopy(self.public_jwk),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass
class Branch:
    """A preview (or persistent) branch of a project; its database is the project
    ``project_ref`` (for the default branch: the parent itself)."""

    id: str
    name: str
    parent_ref: str
    project_ref: str
    is_default: bool
    persistent: bool
    git_branch: str | None
    with_data: bool
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)


@dataclass
class Project:
    ref: str
    numeric_id: int
    name: str
    organization: Organization
    region: str
    instance_size: str
    db_host: str  # its own loopback address; PostgreSQL listens there on 5432
    db_host_name: str  # what the API answers: db.<ref>.<domain>, IPv6 only (host_names.py)
    db_password: str
    jwt_secret: str
    anon_key: str
    service_role_key: str
    postgres_version: str = ""  # Supabase's image version format, e.g. 15.18.1.000
    postgres_engine: str = ""  # the major version
    parent_ref: str | None = None  # set for a branch's project
    status: str = "UNKNOWN"
    created_at: str = field(default_factory=now_iso)
    legacy_keys_enabled: bool = True
    # Off for a new project (the dashboard's default); on: clients need TLS, directly and pooled.
    ssl_enforced: bool = False
    # The addresses allowed to reach the database: everyone, as recorded for a new project.
    allowed_cidrs: list[str] = field(default_factory=lambda: ["0.0.0.0/0"])
    allowed_cidrs_v6: list[str] = field(default_factory=lambda: ["::/0"])
    network_applied_at: str | None = None  # once restrictions were applied (recorded: applied_at)
    # Restrictions stored, not yet applied: the list still in force, and from when (the emulator
    # clock's time) the stored one is (Behaviour.network_apply_seconds).
    network_old: tuple[list[str], list[str]] | None = None
    network_applied_from: float | None = None
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    signing_keys: dict[str, SigningKey] = field(default_factory=dict)
    last_signing_change: float | None = None  # monotonic time of the last state change
    auth_config: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(_AUTH_DEFAULTS))
    postgrest: dict[str, Any] = field(default_factory=lambda: dict(POSTGREST_DEFAULTS))
    # The Postgres settings set through the API (PUT replaces them all); a new project has none,
    # and GET answers {} as recorded for one (PostgresConfigResponse lists only overrides).
    postgres_config: dict[str, Any] = field(default_factory=dict)
    pool_mode: str = "transaction"
    default_pool_size: int | None = None
    server: PostgresServer | None = None  # while its cluster exists
    pooler_host: str | None = None
    pooler_host_name: str | None = None  # aws-0-<region>.pooler.<domain>
    # The emulator clock's time from which the pooler's settings answer; None: not yet
    # healthy. The first call after the project turns healthy is refused all the same.
    pooler_settings_from: float | None = None
    pooler_joining: bool = False  # healthy, but its pooler does not let its clients in yet
    pooler_settings_refused: bool = False
    # The emulator clock's time of the last Management API call about the project: a Free
    # project that long idle (PAUSE_AFTER_SECONDS) is found paused.
    last_active: float = 0.0
    # Set by DELETE; a provisioning thread still running tears down what it built.
    cancelled: threading.Event = field(default_factory=threading.Event)
    # Deleted, GOING_DOWN and still listed until this emulator clock time (Behaviour.removal_seconds).
    removed_after: float | None = None
    # RESIZING until this emulator clock time (Behaviour.resize_seconds).
    resized_until: float | None = None
    # Set by a test: the provisioning delay ends now (a project that stayed COMING_UP for long).
    hurried: threading.Event = field(default_factory=threading.Event)
    # Daily backups, the PITR add-on, its base backups and restore points (backups.py, pitr.py).
    backups: BackupState = field(default_factory=BackupState)
    lock: threading.RLock = field(default_factory=threading.RLock)  # serialises start and teardown

    @property
    def is_branch(self) -> bool:
        return self.parent_ref is not None


class State:
    """Every tenant, project and branch; guarded by ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}  # by token
        self.projects: dict[str, Project] = {}  # by ref (branch projects included)
        self.branches: dict[str, Branch] = {}  # by id
        self._numbers = itertools.count(100_001)
        self._tenant_numbers = itertools.count(1)

    def next_project_id(self) -> int:
        return next(self._numbers)

    def add_tenant(self, name: str | None = None, plan: str = "pro") -> Tenant:
        with self.lock:
            number = next(self._tenant_numbers)
            slug = new_ref()
            org = Organization(id=slug, slug=slug, name=name or f"Tenant {number}'s Org", plan=plan)
            tenant = Tenant(
                id=f"tenant-{number}",
                token=f"sbp_{secrets.token_hex(20)}",
                user_id=str(uuid.uuid4()),
                organization=org,
            )
            self.tenants[tenant.token] = tenant
            return tenant

    def tenant_by_token(self, token: str | None) -> Tenant | None:
        with self.lock:
            return self.tenants.get(token or "")

    def project_of(self, tenant: Tenant, ref: str) -> Project | None:
        with self.lock:
            project = self.projects.get(ref)
        if project is None or project.organization.slug != tenant.organization.slug:
            return None
        return project

    def projects_of(self, tenant: Tenant, *, branches: bool = False) -> list[Project]:
        with self.lock:
            return [
                p
                for p in self.projects.values()
                if p.organization.slug == tenant.organization.slug and (branches or not p.is_branch)
            ]

    def branches_of(self, parent_ref: str) -> list[Branch]:
        with self.lock:
            return sorted(
                (b for b in self.branches.values() if b.parent_ref == parent_ref),
                key=lambda b: (not b.is_default, b.created_at),
            )

    def branch_by_id_or_ref(self, tenant: Tenant, key: str) -> Branch | None:
        with self.lock:
            for branch in self.branches.values():
                if branch.id == key or (branch.project_ref == key and not branch.is_default):
                    parent = self.projects.get(branch.parent_ref)
                    if parent is not None and parent.organization.slug == tenant.organization.slug:
                        return branch
        return None

    def new_api_key(self, kind: str, name: str, description: str | None, template: Any) -> ApiKey:
        return ApiKey(
            id=str(uuid.uuid4()),
            name=name,
            type=kind,
            api_key=tokens.new_api_key(kind),
            description=description,
            secret_jwt_template=template,
        )
