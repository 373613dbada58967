"""The migration runner's round trips: a run with nothing to do asks the database once."""

from __future__ import annotations

from pathlib import Path

import psycopg

from envstack.db import migrations
from tests.conftest import ScratchDatabase
from tests.round_trips import traced


def write_files(directory: Path, count: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (directory / f"2025010100{n:04d}_table_{n}.sql").write_text(f"CREATE TABLE t_{n} (id int);\n")


def test_a_run_with_nothing_pending_is_one_round_trip(tmp_path: Path, database: ScratchDatabase) -> None:
    write_files(tmp_path / "migrations", 3)
    with traced(migrations) as first:
        applied = migrations.apply(database.url, tmp_path / "migrations", log=lambda _: None)
    assert len(applied.applied) == 3
    assert first.counted is not None
    assert first.counted > 3 * 3, "from scratch: at least a round trip per statement"
    with traced(migrations) as again:
        result = migrations.apply(database.url, tmp_path / "migrations", log=lambda _: None)
    assert (result.applied, result.already_applied) == ([], 3)
    assert again.counted == 1, "one query: the history"


def test_a_history_written_by_an_old_cli_is_still_read(tmp_path: Path, database: ScratchDatabase) -> None:
    write_files(tmp_path / "migrations", 2)
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA supabase_migrations")
        conn.execute("CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY)")
        conn.execute("INSERT INTO supabase_migrations.schema_migrations VALUES ('20250101000000')")
    states = migrations.status(database.url, tmp_path / "migrations")
    # No statements recorded, so no edit to tell: applied, as the Supabase CLI (versions only) says.
    assert [(s.version, s.state) for s in states] == [("20250101000000", "applied"), ("20250101000001", "pending")]
