"""A project's life: UNKNOWN when created, COMING_UP while a background thread brings
its database up, ACTIVE_HEALTHY only once clients get in (directly and through the
pooler), INIT_FAILED when told to fail. Deleting stops the database, takes it out of the
pooler and removes its files."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from envstack.db.pgserver import PostgresServer
from tests.emulators.supabase.addresses import AddressPool
from tests.emulators.supabase.config import Behaviour
from tests.emulators.supabase.databases import DATABASE_PORT, Databases
from tests.emulators.supabase.pooler import SESSION_PORT, TRANSACTION_PORT, Pooler
from tests.emulators.supabase.projects import Project

_READY_TIMEOUT = 30.0
# PgBouncer's refusal while its last login to the server failed. It retries after
# server_login_retry (1 s in the stand-in's pooler); one that still says so this much later is
# wedged, not waiting for a server that is starting (Pooler.revive).
_LOGIN_RETRY = "server_login_retry"
_WEDGED_AFTER = 5.0
_log = logging.getLogger(__name__)


class Provisioner:
    def __init__(
        self,
        databases: Databases,
        pooler: Pooler,
        addresses: AddressPool,
        behaviour: Behaviour,
        clock: Callable[[], float],
    ) -> None:
        self.clock = clock
        self.databases = databases
        self.pooler = pooler
        self.addresses = addresses
        self.behaviour = behaviour
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    def start(self, project: Project) -> None:
        thread = threading.Thread(target=self._bring_up, args=(project,), name=f"provision-{project.ref}", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait for provisioning threads (at shutdown)."""
        deadline = time.monotonic() + timeout
        with self._threads_lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _bring_up(self, project: Project) -> None:
        try:
            project.status = "COMING_UP"
            delay = self.behaviour.provisioning_delay
            if delay > 0 and _cancelled_during(project, delay):
                return
            if self.behaviour.take_provisioning_failure():
                project.status = "INIT_FAILED"
                return
            with project.lock:
                if project.cancelled.is_set():
                    return
                try:
                    project.server = self.databases.create(project.ref, project.db_host, project.db_password)
                except Exception:
                    _log.exception("project %s failed to start", project.ref)
                    project.status = "INIT_FAILED"
                    return
                lag = self.behaviour.pooler_joins_after
                project.pooler_joining = lag > 0
                if not project.pooler_joining:
                    self.pooler.add(project.ref, project.db_host, project.default_pool_size)
            if not self._become_healthy(project, "INIT_FAILED", pooled=not project.pooler_joining):
                self.teardown(project)
            elif project.pooler_joining:
                self._in_background(project, lambda p: self._join_pooler(p, lag), "pooler-join")
        finally:
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def _join_pooler(self, project: Project, lag: float) -> None:
        """``lag`` seconds after the project turned healthy, its pooler lets its clients in."""
        if _cancelled_during(project, lag):
            return
        with project.lock:
            if project.cancelled.is_set():
                return
            self.pooler.add(project.ref, project.db_host, project.default_pool_size)
        if self._refusal(project) is None:
            project.pooler_joining = False

    def _become_healthy(self, project: Project, failed: str, *, pooled: bool = True) -> bool:
        """ACTIVE_HEALTHY once clients get in (its pooler settings answer after the warm-up), else
        ``failed``; False when it failed (a deleted project is left as deletion left it).
        ``pooled``: through the pooler too (False while it has not joined yet)."""
        refused = self._refusal(project, pooled=pooled)
        if refused is None:
            with project.lock:
                if not project.cancelled.is_set():
                    project.pooler_settings_from = self.clock() + self.behaviour.pooler_warmup
                    project.status = "ACTIVE_HEALTHY"
            return True
        if not project.cancelled.is_set():
            # Nothing a client did: the stand-in itself failed, so say why for whoever reads the test's log.
            _log.error(
                "project %s ends %s: no client got in within %.0fs (%s); the pooler: %s",
                project.ref,
                failed,
                _READY_TIMEOUT,
                refused,
                self.pooler.describe(),
            )
            project.status = failed
            return False
        return True

    def _refusal(self, project: Project, *, pooled: bool = True) -> str | None:
        """None once clients get in directly and through both pooler ports (PgBouncer reloads
        asynchronously); else the last refusal of the first way in that never let one in."""
        deadline = time.monotonic() + _READY_TIMEOUT
        direct = (project.db_host, DATABASE_PORT, "postgres")
        through_pooler = [
            (project.pooler_host or "", port, f"postgres.{project.ref}") for port in (TRANSACTION_PORT, SESSION_PORT)
        ]
        pending = [direct, *(through_pooler if pooled else [])]
        refused = "deleted meanwhile"
        failing_since: float | None = None  # when a pooler port began refusing as a failed login
        while pending and time.monotonic() < deadline and not project.cancelled.is_set():
            host, port, user = pending[0]
            why = self.databases.refusal(host, project.db_password, port=port, user=user)
            if why is None:
                pending.pop(0)
                failing_since = None
                continue
            refused = f"{user}@{host}:{port}: {why}"
            if pending[0] != direct and _LOGIN_RETRY in why:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > _WEDGED_AFTER:
                    self.pooler.revive(port, why)
                    failing_since = None
            time.sleep(0.05)
        return refused if pending else None

    def _in_background(self, project: Project, work: Callable[[Project], None], label: str) -> None:
        def run() -> None:
            try:
                work(project)
            finally:
                with self._threads_lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"{label}-{project.ref}", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()

    def pause(self, project: Project, *, at_once: bool = False) -> None:
        """ACTIVE_HEALTHY -> PAUSING -> INACTIVE: the database stops and leaves the pooler; its
        data stays. ``at_once`` for a pause that happened while nobody was looking (idle)."""
        project.status = "PAUSING"
        if at_once:
            self._stop(project)
        else:
            self._in_background(project, self._stop, "pause")

    def _stop(self, project: Project) -> None:
        with project.lock:
            if project.cancelled.is_set():
                return
            self.pooler.remove(project.ref)
            if project.server is not None:
                project.server.stop()
            project.pooler_settings_from, project.pooler_settings_refused = None, False
            project.status = "INACTIVE"

    def restore(self, project: Project) -> None:
        """INACTIVE -> RESTORING -> ACTIVE_HEALTHY once clients get in again."""
        project.status = "RESTORING"
        self._in_background(project, self._restart, "restore")

    def _restart(self, project: Project) -> None:
        with project.lock:
            if project.cancelled.is_set() or project.server is None:
                return
            try:
                project.server.start()
            except Exception:
                _log.exception("project %s failed to restore", project.ref)
                project.status = "RESTORE_FAILED"
                return
            self.pooler.add(project.ref, project.db_host, project.default_pool_size)
        self._become_healthy(project, "RESTORE_FAILED")

    def restore_database(
        self,
        project: Project,
        prepare: Callable[[PostgresServer], None],
        replace: Callable[[PostgresServer], None],
        finish: Callable[[PostgresServer], None],
    ) -> None:
        """ACTIVE_HEALTHY -> RESTORING -> ACTIVE_HEALTHY with other data (backup_routes.py):
        out of the pooler, ``prepare`` on the running cluster, stop, ``replace`` its files,
        start, ``finish``; then the API's current password is set again, as Supabase does
        after every physical restore (changelog 2026-07-30, "restore-credential-resync").
        The project's lock is held only for the steps a deletion must not interleave with."""
        project.status = "RESTORING"
        self._in_background(project, lambda p: self._restore_database(p, prepare, replace, finish), "pitr")

    def _restore_database(
        self,
        project: Project,
        prepare: Callable[[PostgresServer], None],
        replace: Callable[[PostgresServer], None],
        finish: Callable[[PostgresServer], None],
    ) -> None:
        with project.lock:
            server = project.server
            if project.cancelled.is_set() or server is None:
                return
            self.pooler.remove(project.ref)
            project.pooler_settings_from, project.pooler_settings_refused = None, False
        try:
            prepare(server)
            with project.lock:
                if project.cancelled.is_set():
                    return
                server.stop()
            replace(server)
            with project.lock:
                if project.cancelled.is_set():
                    return
                server.start()
            finish(server)
            self.databases.set_password(server, "postgres", project.db_password)
        except Exception:
            _log.exception("project %s failed to restore its database", project.ref)
            if not project.cancelled.is_set():
                project.status = "RESTORE_FAILED"
            return
        with project.lock:
            if project.cancelled.is_set():
                return
            self.pooler.add(project.ref, project.db_host, project.default_pool_size)
        self._become_healthy(project, "RESTORE_FAILED")

    def teardown(self, project: Project) -> None:
        """Stop and remove everything the project runs; idempotent."""
        project.cancelled.set()
        with project.lock:
            self.pooler.remove(project.ref)
            if project.server is not None:
                self.databases.destroy(project.server)
                project.server = None
            self.addresses.release(project.db_host)


def _cancelled_during(project: Project, seconds: float) -> bool:
    """Stay COMING_UP for ``seconds`` or until a test hurries the project; True if deleted meanwhile."""
    deadline = time.monotonic() + seconds
    while not project.hurried.is_set():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if project.cancelled.wait(min(remaining, 0.05)):
            return True
    return project.cancelled.is_set()
