"""`doctor`'s connection monitoring on a real PostgreSQL: each figure read from the database, and
each threshold breached by real sessions, then cleared when they end."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import replace

import psycopg
import pytest

from envstack.ops import pool_checks
from envstack.ops.checks import Check
from tests.conftest import ScratchDatabase

LIMITS = pool_checks.Limits(
    connections_percent=80,
    pool_percent=80,
    pool_size=5,
    pool_clients=200,
    long_query_seconds=300,
    idle_in_transaction_seconds=60,
)


def checks(database: ScratchDatabase, limits: pool_checks.Limits = LIMITS) -> dict[str, Check]:
    found = pool_checks.pool_checks(database.admin, limits, lambda role: role == database.name)
    return {c.name: c for c in found}


def until(what: Callable[[], Check], status: str, deadline: float = 20.0) -> Check:
    """Statistics and session states settle a moment after a statement: poll, never sleep blindly."""
    end = time.monotonic() + deadline
    while True:
        found = what()
        if found.status == status or time.monotonic() > end:
            return found
        time.sleep(0.05)


@pytest.fixture
def busy_sessions(database: ScratchDatabase) -> Iterator[Callable[[int], None]]:
    """Open n sessions as the app's role, each holding an open transaction (a busy pool slot)."""
    with ExitStack() as held:

        def hold(n: int) -> None:
            for _ in range(n):
                conn = held.enter_context(psycopg.connect(database.url))
                conn.execute("SELECT 1")  # the transaction stays open: idle in transaction

        yield hold


def test_a_pool_four_fifths_busy_fails_then_passes_when_the_load_stops(database: ScratchDatabase) -> None:
    assert checks(database)["pool"].status == "pass"
    with ExitStack() as held:
        for _ in range(4):
            conn = held.enter_context(psycopg.connect(database.url))
            conn.execute("SELECT 1")
        pool = checks(database)["pool"]
        assert pool.status == "fail", pool
        assert f"{database.name}: 4 of 5 pooled server connections busy (80%, limit 80%)" in pool.detail
        assert "the pooler admits 200 clients" in pool.detail
    assert checks(database)["pool"].status == "pass"
    # Idle sessions hold no pool slot: the pooler hands their server connection to the next client.
    with psycopg.connect(database.url, autocommit=True) as idle, psycopg.connect(database.url, autocommit=True):
        idle.execute("SELECT 1")
        assert checks(database)["pool"].status == "pass"


def test_connections_count_every_session_by_role_and_application(
    database: ScratchDatabase, busy_sessions: Callable[[int], None]
) -> None:
    busy_sessions(3)
    with psycopg.connect(database.url, application_name="reporting-job"):
        connections = checks(database)["connections"]
        assert connections.status == "pass", connections
        assert f"{database.name} 4" in connections.detail
        assert "reporting-job 1" in connections.detail
        slots = int(connections.detail.split(" of ")[1].split(" ")[0])
        used = int(connections.detail.split(" ")[0])
        assert used >= 4
        # A threshold below what is in use is a breach, with the numbers.
        tight = replace(LIMITS, connections_percent=100 * (used - 1) / slots)
        breached = checks(database, tight)["connections"]
        assert breached.status == "fail"
        assert f"{used} of {slots} connection slots in use" in breached.detail


def test_an_unknown_pool_size_is_skipped_with_how_to_set_it(database: ScratchDatabase) -> None:
    pool = checks(database, replace(LIMITS, pool_size=None))["pool"]
    assert pool.status == "skip"
    assert "envstack:monitoring.poolSize" in pool.detail


def test_a_transaction_left_open_and_a_long_query_are_named_without_their_text(database: ScratchDatabase) -> None:
    quick = replace(LIMITS, long_query_seconds=0.2, idle_in_transaction_seconds=0.2)
    assert checks(database, quick)["sessions"].status == "pass"
    with psycopg.connect(database.url, application_name="forgot-to-commit") as forgot:
        forgot.execute("SELECT 'a secret literal'")
        stuck = until(lambda: checks(database, quick)["sessions"], "fail")
        assert stuck.status == "fail", stuck
        assert "1 transactions idle 0.2s or longer" in stuck.detail
        assert "forgot-to-commit" in stuck.detail
        assert "secret" not in stuck.detail
    with psycopg.connect(database.url, application_name="slow-report", autocommit=True) as slow:
        pid = slow.info.backend_pid
        running = threading.Thread(target=lambda: _ignore_cancel(slow), daemon=True)
        running.start()
        try:
            found = until(lambda: checks(database, quick)["sessions"], "fail")
            assert found.status == "fail", found
            assert f"queries running 0.2s or longer (longest: pid {pid}, {database.name}, slow-report" in found.detail
            assert "pg_sleep" not in found.detail
        finally:
            with psycopg.connect(database.admin, autocommit=True) as admin:
                admin.execute("SELECT pg_cancel_backend(%s)", (pid,))
            running.join(timeout=10)
    assert until(lambda: checks(database, quick)["sessions"], "pass").status == "pass"


def _ignore_cancel(conn: psycopg.Connection) -> None:
    with suppress(psycopg.errors.QueryCanceled):
        conn.execute("SELECT pg_sleep(60)")


def test_the_read_write_ratio_counts_rows(database: ScratchDatabase) -> None:
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE leads (id int)")
        conn.execute("INSERT INTO leads SELECT generate_series(1, 50)")
        conn.execute("SELECT * FROM leads").fetchall()

    def written() -> Check:
        ratio = checks(database)["read/write"]
        writes = int(ratio.detail.split(" written")[0].split(", ")[-1])
        return ratio if writes >= 50 else Check.failed(ratio.name, ratio.detail)

    ratio = until(written, "pass")
    assert ratio.status == "pass", ratio
    assert ":1)" in ratio.detail


def test_an_unreachable_database_fails_every_figure_without_its_password(database: ScratchDatabase) -> None:
    wrong = database.url.replace(database.password, "not-the-password")
    found = pool_checks.pool_checks(wrong, LIMITS, lambda role: True)
    assert [c.status for c in found] == ["fail"] * 4
    assert all("not-the-password" not in c.detail for c in found)
    assert all("cannot read the database's sessions" in c.detail for c in found)


def test_a_role_that_cannot_see_other_sessions_fails_with_the_grant_to_make(database: ScratchDatabase) -> None:
    # The database's own role is no superuser and holds no pg_read_all_stats: its counts would read low.
    found = pool_checks.pool_checks(database.url, LIMITS, lambda role: True)
    assert [c.status for c in found] == ["fail"] * 4
    assert found[0].detail == (
        f"{database.name} cannot see other roles' sessions, so the counts would read low: "
        f"grant pg_read_all_stats to {database.name}"
    )
