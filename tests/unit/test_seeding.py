"""Seed data: idempotent, and never loaded into production."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from envstack import migrations
from envstack.seeding import SeedRefused, seed
from tests.conftest import ScratchDatabase

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "supabase/seed.sql"


def test_seed_is_idempotent(database: ScratchDatabase) -> None:
    migrations.apply(database.url, ROOT / "supabase/migrations", log=lambda _: None)
    first = seed(database.url, SEED, environment="staging")
    assert first >= 3
    assert seed(database.url, SEED, environment="staging") == 0
    with psycopg.connect(database.url) as conn:
        assert conn.execute("SELECT count(*) FROM hermes_leads").fetchone() == (first,)


def test_production_is_refused_before_connecting() -> None:
    # An address nothing listens on: a connection attempt would fail differently.
    with pytest.raises(SeedRefused, match="production never receives test data"):
        seed("postgresql://u:p@127.0.0.1:1/db", SEED, environment="production")


def test_cli_refuses_production_whatever_else_is_set(database: ScratchDatabase) -> None:
    env = {"ENVSTACK_ENVIRONMENT": "production", "POSTGRES_URL_NON_POOLING": database.url}
    proc = subprocess.run(
        [sys.executable, "-m", "envstack", "seed"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert "production never receives test data" in proc.stderr
    with psycopg.connect(database.admin) as conn:
        assert conn.execute("SELECT to_regclass('public.hermes_leads')").fetchone() == (None,)
