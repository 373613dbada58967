"""Read replicas: real PostgreSQL hot standbys that stream from a project's database.

What the real service does, and where that is written (the routes are in replica_routes.py):

- ``POST /v1/projects/{ref}/read-replicas/setup`` ``{read_replica_region}`` answers 201 with
  no body [spec v1-setup-a-read-replica]; ``POST …/read-replicas/remove``
  ``{database_identifier}`` removes one [spec v1-remove-a-read-replica]. Both are "[Beta]".
- An identifier is ``<ref>-rr-<region>-<five lowercase letters>``: the spec's example
  ``abcdefghijklmnopqrst-rr-us-west-1-abcde``; supabase/supabase-grafana's read-replica
  scrape job ``<ref>-rr-eu-central-1-vxfff``; a public app's replica API URL
  ``https://<ref>-rr-us-east-1-<5>.supabase.co``.
- A client learns the replicas from ``GET /v1/organizations/{slug}/projects``: each project's
  ``databases`` lists the PRIMARY and every READ_REPLICA with its identifier, region and
  status [spec OrganizationProjectsResponse]. Studio reads its own ``/platform/projects/{ref}/
  databases`` (not in the v1 API) for ``db_host`` (apps/studio/data/read-replicas/
  replicas-query.ts). No v1 answer carries a replica's direct host; it follows the
  project's own pattern, ``db.<identifier>.supabase.co`` (docs guides/platform/ipv4-address:
  "each database (including read replicas)" is a database endpoint of its own, IPv6 only
  unless the IPv4 add-on is bought), so here it is ``db.<identifier>.<domain>``, resolved
  exactly as the project's (host_names.py).
- Statuses [spec; Studio's InstanceConfiguration]: ``INIT_READ_REPLICA`` while it is
  deployed from a physical backup and catches up ("Coming up"), ``ACTIVE_HEALTHY``,
  ``INIT_READ_REPLICA_FAILED``, ``GOING_DOWN`` while it is removed. The real deployment takes
  minutes, depending on the database's size (docs guides/platform/read-replicas, "Deploying
  a Read Replica"); the recorded duration is unknown, so the local API keeps a replica
  INIT_READ_REPLICA for ``replica_provisioning`` seconds of its clock (default
  config.REPLICA_PROVISIONING), its PostgreSQL not yet listening, then starts it.
- Who may have one (docs "Prerequisites"): Pro, Team and Enterprise plans; at least the Small
  compute add-on; Postgres 15+. How many: Studio's READ_REPLICA_COMPUTE_CAPS (pico, nano,
  micro 0; small, medium, large 4; larger 5; apps/studio/data/read-replicas/replicas-query.ts).
  The docs' older text said two below XL, five from XL. The API's refusal wording is not
  recorded; these answer 400 with a sentence naming the rule.
- Every Read Replica "has its own dedicated database and API endpoints" and "a connection
  pool through Supavisor" (docs "Dedicated connection pool"): its pooler user is
  ``<role>.<identifier>`` (a public app's replica URL: "user with the suffix
  ``-rr-eu-west-2-<id>``"), and ``GET …/config/database/pooler`` lists it as a
  ``READ_REPLICA`` entry (spec SupavisorConfigResponse.database_type; Studio's Connect panel
  uses that entry's db_host, supabase/supabase#34409). Here the entry's host is the
  replica's region's pooler host, which serves every tenant.
- "All settings configured through the dashboard will be propagated across all databases
  of a project" (docs "Centralized configuration management"): SSL enforcement applies to a
  replica as to the primary.

A replica here is ``pg_basebackup -R -C -S <slot>`` of the project's cluster over its
private Unix socket as the bootstrap superuser (initdb's ``local replication all trust``),
started as a hot standby on an address of its own: a physical copy, so every role of the
project (``postgres``, the app's login roles) logs in with the same password, writes fail
with PostgreSQL's own ``cannot execute … in a read-only transaction`` (SQLSTATE 25006), and
rows written on the primary arrive by streaming replication. The replication slot keeps the
primary's WAL until the standby has it and is dropped with the replica. Nothing runs for a
project without a replica.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import string
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from envstack.db.pgserver import SERVICE_USER, PostgresServer, hand_over, make_reachable, postgres_bindir
from tests.emulators.supabase.addresses import POOLER_PORTS, AddressPool
from tests.emulators.supabase.config import Behaviour
from tests.emulators.supabase.databases import DATABASE_PORT, SUPERUSER, Databases
from tests.emulators.supabase.host_names import SupabaseHostNames
from tests.emulators.supabase.pooler import Pooler
from tests.emulators.supabase.projects import Project, now_iso

_log = logging.getLogger(__name__)

# Studio's caps by compute size; any other size may have READ_REPLICAS_MAX_COUNT.
COMPUTE_CAPS = {"pico": 0, "nano": 0, "micro": 0, "small": 4, "medium": 4, "large": 4}
READ_REPLICAS_MAX_COUNT = 5
_STREAMING_TIMEOUT = 30.0
_SLOT_RELEASE_TIMEOUT = 10.0


def max_replicas(instance_size: str) -> int:
    return COMPUTE_CAPS.get(instance_size, READ_REPLICAS_MAX_COUNT)


@dataclass
class Replica:
    identifier: str  # <ref>-rr-<region>-<5 letters>
    project_ref: str
    region: str
    address: str  # its own loopback address; the standby listens there on 5432
    host_name: str  # db.<identifier>.<domain>, IPv6 only like the project's
    pooler_host: str
    pooler_host_name: str
    slot: str  # the primary's replication slot for it
    root_dir: Path  # its data directory's parent (and its log)
    ready_at: float  # the emulator clock's time its PostgreSQL starts
    status: str = "INIT_READ_REPLICA"
    created_at: str = field(default_factory=now_iso)
    server: PostgresServer | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)  # set by remove
    gone: threading.Event = field(default_factory=threading.Event)  # set once torn down
    lock: threading.RLock = field(default_factory=threading.RLock)  # build steps against teardown


def _as_service_user() -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--"] if os.geteuid() == 0 else []


class Replicas:
    """Every project's replicas, and the threads that bring them up and take them down."""

    def __init__(
        self,
        root: Path,
        sockets: Path,
        databases: Databases,
        pooler: Pooler,
        addresses: AddressPool,
        names: SupabaseHostNames,
        behaviour: Behaviour,
        clock: Callable[[], float],
    ) -> None:
        self.root, self.sockets = root, sockets
        self.databases, self.pooler, self.addresses, self.names = databases, pooler, addresses, names
        self.behaviour, self.clock = behaviour, clock
        self._by_project: dict[str, dict[str, Replica]] = {}
        self._suffixes: set[str] = set()  # never two identifiers (or socket paths) alike
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()

    # -- what exists -------------------------------------------------------------------------
    def of(self, ref: str) -> list[Replica]:
        """The project's replicas, oldest first (the ones being removed included)."""
        with self._lock:
            return sorted(self._by_project.get(ref, {}).values(), key=lambda r: r.created_at)

    def get(self, ref: str, identifier: str) -> Replica | None:
        with self._lock:
            return self._by_project.get(ref, {}).get(identifier)

    def find(self, identifier: str) -> Replica | None:
        with self._lock:
            for replicas in self._by_project.values():
                if identifier in replicas:
                    return replicas[identifier]
        return None

    # -- set up ------------------------------------------------------------------------------
    def set_up(self, project: Project, region: str) -> Replica:
        """Record a replica (INIT_READ_REPLICA) and build it in the background."""
        with self._lock:
            suffix = _letters(5)
            while suffix in self._suffixes:
                suffix = _letters(5)
            self._suffixes.add(suffix)
        identifier = f"{project.ref}-rr-{region}-{suffix}"
        address = self.addresses.allocate((DATABASE_PORT,))
        pooler_host = self.pooler.host_for(region, lambda: self.addresses.allocate(POOLER_PORTS))
        replica = Replica(
            identifier=identifier,
            project_ref=project.ref,
            region=region,
            address=address,
            host_name=self.names.database(identifier, address),
            pooler_host=pooler_host,
            pooler_host_name=self.names.pooler(region, pooler_host),
            slot=f"rr_{suffix}",
            root_dir=self.root / identifier,
            ready_at=self.clock() + self.behaviour.replica_provisioning,
        )
        with self._lock:
            self._by_project.setdefault(project.ref, {})[identifier] = replica
        self._in_background(lambda: self._bring_up(project, replica), f"replica-{suffix}")
        return replica

    def _bring_up(self, project: Project, replica: Replica) -> None:
        try:
            with replica.lock:
                if replica.cancelled.is_set():
                    return
                replica.server = self._copy(project, replica)
            # The deployment's time, on the emulator's clock: nothing listens meanwhile.
            while self.clock() < replica.ready_at:
                if replica.cancelled.wait(0.05):
                    return
            with replica.lock:
                if replica.cancelled.is_set():
                    return
                replica.server.start()
                # The primary's pg_hba.conf may have changed since the copy (SSL enforcement).
                self.databases.enforce_ssl(replica.server, project.ssl_enforced)
            if not self._streaming(replica):
                raise RuntimeError(f"{replica.identifier} did not start streaming from {project.ref}")
            with replica.lock:
                if replica.cancelled.is_set():
                    return
                self.pooler.add(replica.identifier, replica.address, project.default_pool_size)
                self.pooler.require_tls(replica.identifier, project.ssl_enforced)
                replica.status = "ACTIVE_HEALTHY"
        except Exception:
            _log.exception("read replica %s failed to come up", replica.identifier)
            if not replica.cancelled.is_set():
                replica.status = "INIT_READ_REPLICA_FAILED"

    def _copy(self, project: Project, replica: Replica) -> PostgresServer:
        """The physical copy: a base backup of the primary, set up to follow it."""
        primary = project.server
        if primary is None:
            raise RuntimeError(f"project {project.ref} has no database to copy")
        suffix = replica.identifier.rsplit("-", 1)[1]
        server = PostgresServer(
            replica.root_dir,
            host=replica.address,
            port=DATABASE_PORT,
            ssl=True,
            superuser=SUPERUSER,
            socket_directory=self.sockets / f"rr-{suffix}",
        )
        server.directory.mkdir(parents=True, exist_ok=True)
        make_reachable(server.directory)
        server.socket_dir.mkdir(parents=True, exist_ok=True)
        make_reachable(server.socket_dir)
        hand_over(server.directory)
        hand_over(server.socket_dir)
        command = [
            *_as_service_user(),
            str(postgres_bindir() / "pg_basebackup"),
            "--pgdata",
            str(server.data_dir),
            "--dbname",
            f"host={primary.socket_dir} port={primary.port} user={SUPERUSER} application_name={replica.identifier}",
            "--write-recovery-conf",  # standby.signal and primary_conninfo
            "--create-slot",
            "--slot",
            replica.slot,
            "--wal-method=stream",
            "--checkpoint=fast",  # not the default spread checkpoint: minutes on a busy primary
            "--no-sync",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pg_basebackup for {replica.identifier} failed: {done.stderr.strip()[-2000:]}")
        # The copy carries the primary's postgresql.auto.conf (its address, socket, TLS files);
        # the last occurrence of a setting wins, so these lines make it the replica's own.
        with (server.data_dir / "postgresql.auto.conf").open("a") as conf:
            conf.write(
                "\n".join(
                    (
                        f"listen_addresses = '{replica.address}'",
                        f"unix_socket_directories = '{server.socket_dir}'",
                        "hot_standby = on",
                        f"cluster_name = '{replica.identifier}'",
                    )
                )
                + "\n"
            )
        hand_over(server.directory)
        return server

    @staticmethod
    def _streaming(replica: Replica) -> bool:
        """The standby is in recovery and its WAL receiver streams from the primary."""
        server = replica.server
        deadline = time.monotonic() + _STREAMING_TIMEOUT
        while server is not None and time.monotonic() < deadline and not replica.cancelled.is_set():
            try:
                with psycopg.connect(server.admin_conninfo(), autocommit=True, connect_timeout=3) as conn:
                    row = conn.execute(
                        "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"
                    ).fetchone()
                if row == (True, "streaming"):
                    return True
            except psycopg.Error:
                pass
            time.sleep(0.05)
        return False

    # -- remove ------------------------------------------------------------------------------
    def remove(self, project: Project, replica: Replica) -> None:
        """GOING_DOWN now, gone once its PostgreSQL stopped and its files and slot are removed."""
        replica.status = "GOING_DOWN"
        replica.cancelled.set()
        self._in_background(lambda: self._teardown(project, replica), f"replica-down-{replica.slot}")

    def remove_all(self, project: Project) -> None:
        """Every replica of a project being deleted, synchronously (its primary goes next)."""
        for replica in self.of(project.ref):
            replica.status = "GOING_DOWN"
            replica.cancelled.set()
            self._teardown(project, replica, drop_slot=False)

    def _teardown(self, project: Project, replica: Replica, *, drop_slot: bool = True) -> None:
        """Stop and delete the standby, release its address and name, drop its slot; idempotent."""
        with replica.lock:
            if replica.gone.is_set():
                return
            self.pooler.remove(replica.identifier)
            if replica.server is not None:
                replica.server.destroy()
            else:
                shutil.rmtree(replica.root_dir, ignore_errors=True)
            if drop_slot:
                self._drop_slot(project, replica.slot)
            self.names.forget(replica.host_name)
            self.addresses.release(replica.address)
            replica.gone.set()
        with self._lock:
            self._by_project.get(project.ref, {}).pop(replica.identifier, None)

    @staticmethod
    def _drop_slot(project: Project, slot: str) -> None:
        """The primary keeps WAL for a slot until it is dropped; it is active until the
        standby's WAL sender notices the standby left, so wait for that (bounded)."""
        primary = project.server
        if primary is None or not primary.running():
            return
        deadline = time.monotonic() + _SLOT_RELEASE_TIMEOUT
        with psycopg.connect(primary.admin_conninfo(), autocommit=True) as conn:
            while True:
                row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
                if row is None:
                    return
                if not row[0]:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
                    return
                if time.monotonic() > deadline:
                    _log.warning("replication slot %s is still active; left on the primary", slot)
                    return
                time.sleep(0.05)

    # -- settings that apply to every database of a project ------------------------------
    def enforce_ssl(self, project: Project, enforced: bool) -> None:
        """SSL enforcement on the project's replicas too, directly and through the pooler."""
        for replica in self.of(project.ref):
            with replica.lock:
                if replica.gone.is_set():
                    continue
                if replica.server is not None and replica.server.running():
                    self.databases.enforce_ssl(replica.server, enforced)
                self.pooler.require_tls(replica.identifier, enforced)

    # -- threads -----------------------------------------------------------------------------
    def _in_background(self, work: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                work()
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()

    def stop(self, projects: list[Project], timeout: float = 30.0) -> None:
        """At the emulator's end: every replica cancelled, its threads joined, then torn down."""
        for project in projects:
            for replica in self.of(project.ref):
                replica.cancelled.set()
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for project in projects:
            self.remove_all(project)


def _letters(count: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(count))
