"""The migration runner against a real PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from envstack import migrations
from envstack.migrations import MigrationError
from tests.conftest import ScratchDatabase

ROOT = Path(__file__).resolve().parents[2]


def write(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body)
    return path


def history(db: ScratchDatabase) -> list[tuple[str, str, list[str]]]:
    with psycopg.connect(db.admin) as conn:
        rows = conn.execute(
            "SELECT version, name, statements FROM supabase_migrations.schema_migrations ORDER BY version"
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def tuple_writes(db: ScratchDatabase) -> tuple[int, int, int]:
    with psycopg.connect(db.admin) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT tup_inserted, tup_updated, tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return (row[0], row[1], row[2])


def test_applies_in_version_order_whatever_the_creation_order(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240102000000_second.sql", "INSERT INTO t VALUES (2);")
    write(tmp_path, "20240101000000_first.sql", "CREATE TABLE t (n int);\nINSERT INTO t VALUES (1);")
    result = migrations.apply(database.url, tmp_path, log=lambda _: None)
    assert result.applied == ["20240101000000", "20240102000000"]
    with psycopg.connect(database.url) as conn:
        assert conn.execute("SELECT array_agg(n ORDER BY n) FROM t").fetchone() == ([1, 2],)


def test_history_matches_the_supabase_cli_layout(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240101000000_create_t.sql", "CREATE TABLE t (n int);\n\nCREATE INDEX t_n ON t (n);\n")
    migrations.apply(database.url, tmp_path, log=lambda _: None)
    assert history(database) == [
        ("20240101000000", "create_t", ["CREATE TABLE t (n int);", "CREATE INDEX t_n ON t (n);"])
    ]
    with psycopg.connect(database.admin) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
            " WHERE table_schema = 'supabase_migrations' AND table_name = 'schema_migrations'"
            " ORDER BY ordinal_position"
        ).fetchall()
    assert columns == [("version", "text", "NO"), ("statements", "ARRAY", "YES"), ("name", "text", "YES")]


def test_second_run_applies_nothing_and_writes_nothing(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240101000000_create_t.sql", "CREATE TABLE t (n int); INSERT INTO t VALUES (1);")
    migrations.apply(database.url, tmp_path, log=lambda _: None)
    before = tuple_writes(database)
    result = migrations.apply(database.url, tmp_path, log=lambda _: None)
    assert result.applied == []
    assert result.already_applied == 1
    assert tuple_writes(database) == before


def test_failed_file_is_rolled_back_and_stops_the_run(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240101000000_good.sql", "CREATE TABLE good (n int);")
    write(tmp_path, "20240102000000_bad.sql", "CREATE TABLE half (n int);\nSELECT * FROM no_such_table;")
    write(tmp_path, "20240103000000_later.sql", "CREATE TABLE later (n int);")
    with pytest.raises(MigrationError) as caught:
        migrations.apply(database.url, tmp_path, log=lambda _: None)
    message = str(caught.value)
    assert "20240102000000_bad.sql" in message
    assert "no_such_table" in message
    assert [v for v, _, _ in history(database)] == ["20240101000000"]
    with psycopg.connect(database.url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables == {"good"}, "the bad file's first statement was rolled back and later files not run"


def test_concurrent_runs_are_serialized(tmp_path: Path, database: ScratchDatabase) -> None:
    # Slow enough that both runs overlap; without the lock the second would fail on the
    # duplicate CREATE TABLE or the duplicate history row.
    write(tmp_path, "20240101000000_slow.sql", "CREATE TABLE t (n int); SELECT pg_sleep(0.5);")
    write(tmp_path, "20240102000000_next.sql", "INSERT INTO t VALUES (1);")
    errors: list[BaseException] = []
    applied: list[list[str]] = []

    def run() -> None:
        try:
            applied.append(migrations.apply(database.url, tmp_path, log=lambda _: None).applied)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert sorted(applied, key=len) == [[], ["20240101000000", "20240102000000"]]
    with psycopg.connect(database.url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)


def test_status_reports_applied_pending_edited_and_missing(tmp_path: Path, database: ScratchDatabase) -> None:
    first = write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    gone = write(tmp_path, "20240102000000_b.sql", "CREATE TABLE b (n int);")
    write(tmp_path, "20240103000000_c.sql", "CREATE TABLE c (n int);")
    migrations.apply(database.url, tmp_path, log=lambda _: None)
    first.write_text("CREATE TABLE a (n bigint);")
    gone.unlink()
    write(tmp_path, "20240104000000_d.sql", "CREATE TABLE d (n int);")
    states = {s.version: s.state for s in migrations.status(database.url, tmp_path)}
    assert states == {
        "20240101000000": "edited",
        "20240102000000": "missing-file",
        "20240103000000": "applied",
        "20240104000000": "pending",
    }


@pytest.mark.parametrize(
    "name", ["2024_create.sql", "20240101000000-create.sql", "20240101000000_Create.sql", "notes.txt"]
)
def test_badly_named_file_is_rejected(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match=name.replace(".", r"\.")):
        migrations.discover(tmp_path)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envstack", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def test_cli_never_prints_the_url_or_password(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    wrong = database.url.replace(database.password, database.password + "x")
    for url in (database.url, wrong):
        env = {"PATH": "/usr/bin:/bin", "POSTGRES_URL_NON_POOLING": url}
        for args in (("migrate", "up", "--dir", str(tmp_path)), ("migrate", "status", "--dir", str(tmp_path))):
            proc = run_cli(*args, env=env)
            output = proc.stdout + proc.stderr
            assert database.password not in output
            assert url not in output
    ok = run_cli("migrate", "up", "--dir", str(tmp_path), env={"POSTGRES_URL_NON_POOLING": database.url})
    assert ok.returncode == 0
    assert "0 migrations, 1 already applied" in ok.stdout
    bad = run_cli("migrate", "up", "--dir", str(tmp_path), env={"POSTGRES_URL_NON_POOLING": wrong})
    assert bad.returncode == 1
    assert "password authentication failed" in bad.stderr


def test_hermes_leads_schema_accepts_valid_and_rejects_invalid_leads(database: ScratchDatabase) -> None:
    migrations.apply(database.url, ROOT / "supabase/migrations", log=lambda _: None)
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('lead-000001', 'A', 'a@example.com')"
        )
        row = conn.execute("SELECT status, workflow_status FROM hermes_leads").fetchone()
        assert row == ("new", "pending")
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('lead-000002', 'B', 'not-an-email')"
            )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO hermes_leads (lead_id, full_name, email, status)"
                " VALUES ('lead-000003', 'C', 'c@example.com', 'maybe')"
            )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES ('lead-000001', 'D', 'd@example.com')"
            )
