"""Seed data: idempotent without writing, all or nothing, and never loaded into production."""

from __future__ import annotations

import os
import select
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from envstack.db import migrations
from envstack.db.seeding import seed
from envstack.errors import SeedError, SeedRefused
from tests.conftest import ScratchDatabase

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "supabase/seed.sql"


@pytest.fixture
def migrated(database: ScratchDatabase) -> ScratchDatabase:
    # The repository's migrations create the app's group roles, as Supabase's postgres may.
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{database.name}" CREATEROLE')
    migrations.apply(database.url, ROOT / "supabase/migrations", log=lambda _: None)
    return database


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A loopback port that records connection attempts: the kernel queues any handshake."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


def attempted(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


def url_to(sock: socket.socket) -> str:
    return f"postgresql://someone:a-real-looking-password@127.0.0.1:{sock.getsockname()[1]}/db"


def snapshot(db: ScratchDatabase) -> tuple[object, ...]:
    """What a write would change: the rows' versions and the identity sequence."""
    with psycopg.connect(db.admin) as conn:
        rows = conn.execute("SELECT lead_id, xmin::text FROM hermes_leads ORDER BY lead_id").fetchall()
        sequence = conn.execute("SELECT last_value, is_called FROM hermes_leads_id_seq").fetchone()
    return (tuple(rows), sequence)


def test_seed_inserts_test_leads_once_and_a_rerun_writes_nothing(migrated: ScratchDatabase) -> None:
    assert seed(migrated.url, SEED, environment="staging") == 4
    before = snapshot(migrated)
    assert seed(migrated.url, SEED, environment="staging") == 0
    # A plain ON CONFLICT DO NOTHING would pass the row checks but still draw identity values.
    assert snapshot(migrated) == before
    with psycopg.connect(migrated.url) as conn:
        emails = [r[0] for r in conn.execute("SELECT email FROM hermes_leads")]
    assert len(emails) == 4
    assert all(email.split("@")[1].startswith("example.") for email in emails)


def test_a_failing_seed_keeps_nothing(migrated: ScratchDatabase, tmp_path: Path) -> None:
    bad = tmp_path / "seed.sql"
    bad.write_text(
        "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('test-lead-9', 'A', 'a@example.com');\n"
        "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('test-lead-10', 'B', 'not-an-email');\n"
    )
    with pytest.raises(SeedError, match=r"seed\.sql:2: .*violates check constraint"):
        seed(migrated.url, bad, environment="dev")
    with psycopg.connect(migrated.url) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() == (0,)


@pytest.mark.parametrize("control", ["BEGIN;", "COMMIT;", "START TRANSACTION;", "END;"])
def test_a_seed_with_its_own_transaction_control_is_refused_before_anything_runs(
    migrated: ScratchDatabase, tmp_path: Path, control: str
) -> None:
    """Its COMMIT would keep what came before it, and a later error would still say nothing
    was seeded (in `reset`, it would keep the dropped schema too)."""
    seeded = tmp_path / "seed.sql"
    seeded.write_text(
        "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('test-lead-9', 'A', 'a@example.com');\n"
        f"{control}\n"
        "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('test-lead-10', 'B', 'not-an-email');\n"
    )
    with pytest.raises(SeedError, match=r"seed\.sql:2: the seed controls its own transaction"):
        seed(migrated.url, seeded, environment="dev")
    with psycopg.connect(migrated.url) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() == (0,)


def test_a_seed_waiting_on_a_lock_gives_up_within_the_stacks_bounds(migrated: ScratchDatabase) -> None:
    """Another session holds the seeded table: the seed waited for ever, holding `pulumi up`
    and the stack's lock with it. It now gives up within the bounds the stack gives its
    migrations (the same ENVSTACK_MIGRATION_* variables reach the seed command)."""
    env = {**os.environ, "ENVSTACK_ENVIRONMENT": "dev", "ENVSTACK_MIGRATION_LOCK_TIMEOUT": "0.5"}
    with psycopg.connect(migrated.admin) as holder:
        holder.execute("LOCK TABLE hermes_leads IN ACCESS EXCLUSIVE MODE")
        proc = run_seed(migrated.url, env)
    assert proc.returncode != 0
    assert "canceling statement due to lock timeout" in proc.stderr
    with psycopg.connect(migrated.url) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() == (0,)


@pytest.mark.parametrize("environment", ["production", "Production", " production\n"])
def test_production_is_refused_before_any_connection(listener: socket.socket, environment: str) -> None:
    with pytest.raises(SeedRefused, match="production never receives test data"):
        seed(url_to(listener), SEED, environment=environment)
    assert not attempted(listener), "seeding production must not even connect"


def test_the_check_above_sees_a_connection_attempt(listener: socket.socket) -> None:
    # Proof that `attempted` can fail: a non-production seed does reach the port.
    with pytest.raises(SeedError):
        seed(url_to(listener) + "?connect_timeout=1", SEED, environment="staging")
    assert attempted(listener)


def seed_command(listener: socket.socket, environment: str | None) -> subprocess.CompletedProcess[str]:
    """`python -m envstack seed` with both database variables naming ``listener``."""
    env = {k: v for k, v in os.environ.items() if k != "ENVSTACK_ENVIRONMENT"}
    if environment is not None:
        env["ENVSTACK_ENVIRONMENT"] = environment
    return run_seed(url_to(listener), env)


def run_seed(url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m envstack seed` with ``env``, both database variables naming ``url``."""
    return subprocess.run(
        [sys.executable, "-m", "envstack", "seed", "--file", str(SEED)],
        cwd=ROOT,
        env={**env, "POSTGRES_URL_NON_POOLING": url, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_cli_refuses_production_whatever_else_is_set(listener: socket.socket) -> None:
    proc = seed_command(listener, "production")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip() == (
        "envstack seed: refusing to seed: production never receives test data (ENVSTACK_ENVIRONMENT=production)"
    )
    assert not attempted(listener)


@pytest.mark.parametrize("environment", [None, "", "prod", "live"])
def test_the_cli_refuses_a_database_whose_environment_it_is_not_told(
    listener: socket.socket, environment: str | None
) -> None:
    """Unset or misspelt, the environment could be production's: no connection is attempted."""
    proc = seed_command(listener, environment)
    assert proc.returncode == 1
    said = f"it is {environment!r}" if environment else "it is not set"
    assert proc.stderr.strip() == (
        "envstack seed: refusing to seed: ENVSTACK_ENVIRONMENT must say which environment the database is "
        f"(dev, staging, preview), and {said}"
    )
    assert not attempted(listener)


def test_the_environments_that_take_test_data_are_every_one_but_production() -> None:
    from typing import get_args

    from envstack.db.seeding import TEST_DATA_ENVIRONMENTS
    from envstack.settings import Environment

    assert set(TEST_DATA_ENVIRONMENTS) == set(get_args(Environment)) - {"production"}
