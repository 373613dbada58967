"""The whole emulator: the HTTP API, a PostgreSQL cluster per project, the pooler.

    emulator = SupabaseEmulator(state_dir).start()   # template cluster, PgBouncers, HTTP
    tenant = emulator.add_tenant()                    # a token and its organization
    ...
    emulator.stop()                                   # every process it started, every file

Everything listens on loopback only; processes are stopped at stop() and, should the
owner forget, at interpreter exit.
"""

from __future__ import annotations

import atexit
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstack.db.pgserver import hand_over, make_reachable, make_self_signed_certificate
from tests.emulators.common.clock import TestClock
from tests.emulators.common.hostnames import HostsFile
from tests.emulators.common.ratelimit import RateLimiter
from tests.emulators.common.server import EmulatorServer
from tests.emulators.supabase import tokens
from tests.emulators.supabase.addresses import POOLER_PORTS, AddressPool
from tests.emulators.supabase.app import SupabaseApp
from tests.emulators.supabase.config import Behaviour, knobs
from tests.emulators.supabase.databases import DATABASE_PORT, Databases
from tests.emulators.supabase.host_names import SupabaseHostNames
from tests.emulators.supabase.pooler import Pooler
from tests.emulators.supabase.projects import Branch, Organization, Project, State, Tenant, new_ref
from tests.emulators.supabase.provisioning import Provisioner
from tests.emulators.supabase.replicas import Replicas
from tests.emulators.supabase.runtime import Runtime

DEFAULT_RATE_LIMIT = 120  # requests per window per token and endpoint [docs: api_rate_limits]
DEFAULT_RATE_WINDOW = 60.0
# "Free Plan projects are paused after 7 days of inactivity" (docs: free-project-pausing).
# Activity here is a Management API call about the project; the real service also counts
# database traffic, which the local API does not observe.
PAUSE_AFTER_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class ProjectInfo:
    """What tests may assert about a project beyond the API's answers."""

    ref: str
    name: str
    status: str
    region: str
    db_host: str  # the address its PostgreSQL listens on (tests connect here directly)
    db_port: int
    pooler_host: str | None
    db_host_name: str  # what the API answers as database.host
    pooler_host_name: str | None
    db_password: str
    jwt_secret: str
    is_branch: bool
    parent_ref: str | None
    instance_size: str
    data_dir: Path | None
    postgres_running: bool

    def to_json(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.__dict__.items() if k != "data_dir"},
            "data_dir": str(self.data_dir) if self.data_dir else None,
        }


class SupabaseEmulator:
    def __init__(
        self,
        state_dir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int = DEFAULT_RATE_LIMIT,
        rate_window: float = DEFAULT_RATE_WINDOW,
    ) -> None:
        self.state_dir = state_dir
        self.state = State()
        self.behaviour = Behaviour()
        # Every rule measured in time reads this clock; tests advance it instead of waiting.
        self.clock = TestClock()
        self.limiter = RateLimiter(rate_limit, rate_window, clock=self.clock)
        self.addresses = AddressPool()
        # The test session's hosts file; by hand there is none, and hosts are addresses.
        self.names = SupabaseHostNames(self.addresses.block_label, HostsFile.of_session())
        self._host, self._port = host, port
        self._started = False
        self._stop_lock = threading.Lock()
        self.app = SupabaseApp(self, self.limiter)
        self._server: EmulatorServer | None = None
        # Set in start(): they need the runtime directory, its certificate and template.
        self.runtime: Runtime
        self.databases: Databases
        self.pooler: Pooler
        self.provisioner: Provisioner
        self.replicas: Replicas

    # -- life of the emulator ---------------------------------------------------------------
    def start(self) -> SupabaseEmulator:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.runtime = Runtime.make(self.state_dir)
        make_reachable(self.runtime.root)
        certificate = make_self_signed_certificate(self.runtime.root / "tls", "supabase-emulator")
        hand_over(self.runtime.root / "tls")  # PostgreSQL (the service user) reads the key too
        self.databases = Databases(self.runtime.root / "clusters", self.runtime.sockets, certificate)
        self.pooler = Pooler(self.runtime.root / "pooler", certificate, self.databases.pooler_password, self.clock)
        self.provisioner = Provisioner(self.databases, self.pooler, self.addresses, self.behaviour, self.clock)
        self.replicas = Replicas(
            self.runtime.root / "replicas",
            self.runtime.sockets,
            self.databases,
            self.pooler,
            self.addresses,
            self.names,
            self.behaviour,
            self.clock,
        )
        atexit.register(self.stop)
        self._started = True
        try:
            self.databases.prepare()
            self.pooler.start()
            self._server = EmulatorServer(self.app, self._host, self._port).start()
        except BaseException:
            self.stop()  # nothing half-started stays behind
            raise
        return self

    def stop(self) -> None:
        """Stop every process this emulator started and remove its files; idempotent."""
        with self._stop_lock:
            if not self._started:
                return
            self._started = False
            atexit.unregister(self.stop)
            if self._server is not None:
                self._server.stop()
            with self.state.lock:
                projects = list(self.state.projects.values())
            for project in projects:
                project.cancelled.set()
            self.replicas.stop(projects)  # standbys first: their primaries go next
            self.provisioner.wait_idle()
            for project in projects:
                self.provisioner.teardown(project)
            self.pooler.stop()
            self.databases.remove_template()
            self.addresses.close()
            self.runtime.remove()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return self._server.url

    # -- tenants and projects ------------------------------------------------------------------
    def add_tenant(self, name: str | None = None, plan: str = "pro") -> Tenant:
        return self.state.add_tenant(name, plan)

    def new_project(
        self,
        *,
        name: str,
        organization: Organization,
        region: str,
        instance_size: str,
        password: str | None,
        parent_ref: str | None = None,
    ) -> Project:
        """Record a project (UNKNOWN); ``provisioner.start(project)`` then brings it up."""
        with self.state.lock:
            ref = new_ref()
            while ref in self.state.projects:
                ref = new_ref()
            numeric_id = self.state.next_project_id()
        db_host = self.addresses.allocate((DATABASE_PORT,))
        pooler_host = self.pooler.host_for(region, lambda: self.addresses.allocate(POOLER_PORTS))
        db_host_name = self.names.database(ref, db_host)
        pooler_host_name = self.names.pooler(region, pooler_host)
        jwt_secret = tokens.new_jwt_secret()
        issued = int(time.time())
        project = Project(
            ref=ref,
            numeric_id=numeric_id,
            name=name,
            organization=organization,
            region=region,
            instance_size=instance_size,
            db_host=db_host,
            db_host_name=db_host_name,
            db_password=password if password is not None else secrets.token_urlsafe(24),
            jwt_secret=jwt_secret,
            anon_key=tokens.legacy_key(ref, "anon", jwt_secret, issued),
            service_role_key=tokens.legacy_key(ref, "service_role", jwt_secret, issued),
            postgres_version=f"{self.databases.version}.1.000",
            postgres_engine=self.databases.major_version,
            parent_ref=parent_ref,
            pooler_host=pooler_host,
            pooler_host_name=pooler_host_name,
            last_active=self.clock(),
        )
        # New projects come with a default publishable and secret key (as recorded).
        for kind, template in (("publishable", None), ("secret", {"role": "service_role"})):
            key = self.state.new_api_key(kind, "default", None, template)
            project.api_keys[key.id] = key
        with self.state.lock:
            self.state.projects[ref] = project
        return project

    def seen_active(self, project: Project) -> None:
        """A Management API call about the project: a Free project idle for a week before it
        is found paused (Supabase pauses it meanwhile; its data stays, restorable)."""
        now = self.clock()
        with project.lock:
            self._finish_resize(project, now)
            idle = now - project.last_active
            project.last_active = now
            pausable = project.organization.plan == "free" and project.status == "ACTIVE_HEALTHY"
            if pausable and idle >= PAUSE_AFTER_SECONDS:
                self.provisioner.pause(project, at_once=True)

    def resize(self, project: Project, size: str) -> None:
        """A new compute size: the project restarts, RESIZING for ``resize_seconds``."""
        with project.lock:
            changed = size != project.instance_size
            project.instance_size = size
            if changed and self.behaviour.resize_seconds > 0 and project.status == "ACTIVE_HEALTHY":
                project.status = "RESIZING"
                project.resized_until = self.clock() + self.behaviour.resize_seconds

    @staticmethod
    def _finish_resize(project: Project, now: float) -> None:
        if project.status == "RESIZING" and project.resized_until is not None and now >= project.resized_until:
            project.status, project.resized_until = "ACTIVE_HEALTHY", None

    def delete_project(self, project: Project) -> None:
        """DELETE: gone at once, or GOING_DOWN and still listed for ``removal_seconds`` (its
        database, branches and replicas gone already), as Supabase deletes in the background.
        A second DELETE meanwhile changes nothing."""
        with project.lock:
            if project.status == "GOING_DOWN":
                return
            if self.behaviour.removal_seconds <= 0:
                self.remove_project(project)
                return
            # Marked first, so no one sees a healthy project without its database meanwhile.
            project.status = "GOING_DOWN"
            project.removed_after = self.clock() + self.behaviour.removal_seconds
            self._tear_down(project)

    def sweep_removed(self) -> None:
        """Forget the projects whose background deletion has finished by the emulator's clock."""
        now = self.clock()
        with self.state.lock:
            for ref, project in list(self.state.projects.items()):
                if project.removed_after is not None and now >= project.removed_after:
                    self._forget(ref)

    def remove_project(self, project: Project) -> None:
        """Delete a project, its branches' projects, its read replicas and their databases
        (synchronously)."""
        if project.removed_after is None:
            self._tear_down(project)
        with self.state.lock:
            self._forget(project.ref)

    def _forget(self, ref: str) -> None:
        """The project's record and its branch record, if it is a branch's (under state.lock)."""
        self.state.projects.pop(ref, None)
        for branch_id in [b.id for b in self.state.branches.values() if b.project_ref == ref]:
            self.state.branches.pop(branch_id, None)

    def _tear_down(self, project: Project) -> None:
        for branch in self.state.branches_of(project.ref):
            self.remove_branch(branch)
        self.replicas.remove_all(project)
        self.provisioner.teardown(project)
        self.names.forget(project.db_host_name)

    def remove_branch(self, branch: Branch) -> None:
        with self.state.lock:
            self.state.branches.pop(branch.id, None)
            project = None if branch.is_default else self.state.projects.get(branch.project_ref)
        if project is not None:
            self.provisioner.teardown(project)
            self.names.forget(project.db_host_name)
            with self.state.lock:
                self.state.projects.pop(project.ref, None)

    def remove_projects_of(self, tenant: Tenant) -> None:
        for project in self.state.projects_of(tenant):
            self.remove_project(project)
        for project in self.state.projects_of(tenant, branches=True):
            self.remove_project(project)

    def project_info(self, ref: str) -> ProjectInfo | None:
        self.sweep_removed()
        with self.state.lock:
            project = self.state.projects.get(ref)
        if project is None:
            return None
        with project.lock:
            self._finish_resize(project, self.clock())
        server = project.server
        return ProjectInfo(
            ref=project.ref,
            name=project.name,
            status=project.status,
            region=project.region,
            db_host=project.db_host,
            db_port=DATABASE_PORT,
            pooler_host=project.pooler_host,
            db_host_name=project.db_host_name,
            pooler_host_name=project.pooler_host_name,
            db_password=project.db_password,
            jwt_secret=project.jwt_secret,
            is_branch=project.is_branch,
            parent_ref=project.parent_ref,
            instance_size=project.instance_size,
            data_dir=server.data_dir if server is not None else None,
            postgres_running=server is not None and server.running(),
        )

    def finish_provisioning(self, ref: str) -> None:
        """End the provisioning delay of a project that is COMING_UP: it starts its database now."""
        with self.state.lock:
            project = self.state.projects.get(ref)
        if project is None:
            raise KeyError(f"no project {ref}")
        project.hurried.set()

    # -- behaviour ---------------------------------------------------------------------------
    def configure(
        self,
        *,
        rate_limit: int | None = None,
        rate_window: float | None = None,
        drop_pooler_connections: int | None = None,
        ipv6_route: bool | None = None,
        **behaviour: float | None,
    ) -> None:
        """Set any of Behaviour's knobs (config.knobs) by name, and the rate limiter, the
        pooler's dropped connections and the IPv6 route; None leaves a setting as it is."""
        kinds = knobs()
        unknown = sorted(set(behaviour) - set(kinds))
        if unknown:
            raise TypeError(f"no such setting: {', '.join(unknown)}")
        for name, value in behaviour.items():
            if value is not None:
                setattr(self.behaviour, name, kinds[name](value))
        if rate_limit is not None or rate_window is not None:
            self.limiter.configure(limit=rate_limit, window=rate_window)
        if drop_pooler_connections is not None:
            self.pooler.front.drop_next(drop_pooler_connections)
        if ipv6_route is not None:
            self.names.set_ipv6_route(ipv6_route)

    def configuration(self) -> dict[str, Any]:
        return {
            **self.behaviour.to_json(),
            "rate_limit": self.limiter.limit,
            "rate_window": self.limiter.window,
            "drop_pooler_connections": self.pooler.front.pending_drops(),
            "ipv6_route": self.names.ipv6_route,
            "clock_skipped": self.clock.skipped,
        }

    def reset(self) -> None:
        """Back to the defaults (between tests)."""
        defaults = Behaviour()
        self.configure(
            rate_limit=DEFAULT_RATE_LIMIT,
            rate_window=DEFAULT_RATE_WINDOW,
            drop_pooler_connections=0,
            ipv6_route=False,
            **{name: getattr(defaults, name) for name in knobs()},
        )
        self.app.faults.clear()
        self.pooler.front.breaker.clear()
