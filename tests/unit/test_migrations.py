"""The migration runner against a real PostgreSQL, over TCP with a password like real use."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from envstack.db import migration_record, migrations
from envstack.db.pgserver import PostgresServer
from envstack.errors import MigrationError
from tests.conftest import ScratchDatabase

ROOT = Path(__file__).resolve().parents[2]

# supabase/cli apps/cli-go/pkg/migration/history.go (commit cad09571874a22db60da5ecbfcc047bf35cf6e0a):
# the statements the CLI runs to create its history table, the reference for our layout.
SUPABASE_CLI_DDL = (
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)


def write(directory: Path, name: str, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body)
    return path


def quiet(_: str) -> None:
    pass


def history(db: ScratchDatabase) -> list[tuple[str, str, list[str] | None]]:
    with psycopg.connect(db.admin) as conn:
        rows = conn.execute(
            "SELECT version, name, statements FROM supabase_migrations.schema_migrations ORDER BY version"
        ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def public_tables(db: ScratchDatabase) -> set[str]:
    with psycopg.connect(db.admin) as conn:
        return {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}


def describe_history_table(conninfo: str) -> dict[str, Any]:
    with psycopg.connect(conninfo) as conn:
        table = "'supabase_migrations.schema_migrations'::regclass"
        columns = conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod), attnotnull, pg_get_expr(adbin, adrelid)"
            f" FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum"
            f" WHERE attrelid = {table} AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
        ).fetchall()
        constraints = conn.execute(
            f"SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = {table} ORDER BY conname"
        ).fetchall()
        indexes = conn.execute(
            f"SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = {table} ORDER BY 1"
        ).fetchall()
    return {"columns": columns, "constraints": constraints, "indexes": indexes}


@pytest.fixture
def cli_reference_layout(postgres_server: PostgresServer) -> Iterator[dict[str, Any]]:
    """The history table exactly as the Supabase CLI's own DDL creates it, in a throwaway database."""
    name = f"ref_{secrets.token_hex(5)}"
    with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(postgres_server.admin_conninfo(name), autocommit=True) as conn:
            for statement in SUPABASE_CLI_DDL:
                conn.execute(statement.encode())
        yield describe_history_table(postgres_server.admin_conninfo(name))
    finally:
        with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def poll(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def test_applies_in_version_order_whatever_the_creation_order(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240103000000_third.sql", "INSERT INTO t (v) VALUES (3);")
    write(tmp_path, "20240102000000_second.sql", "INSERT INTO t (v) VALUES (2);")
    write(tmp_path, "20240101000000_first.sql", "CREATE TABLE t (n serial, v int);\nINSERT INTO t (v) VALUES (1);")
    logged: list[str] = []
    result = migrations.apply(database.url, tmp_path, log=logged.append)
    assert result.applied == ["20240101000000", "20240102000000", "20240103000000"]
    assert logged == [
        "applied 20240101000000_first.sql",
        "applied 20240102000000_second.sql",
        "applied 20240103000000_third.sql",
    ]
    with psycopg.connect(database.url) as conn:
        # serial n records the order in which the inserts really ran.
        assert conn.execute("SELECT array_agg(v ORDER BY n) FROM t").fetchone() == ([1, 2, 3],)


def test_history_table_and_rows_are_the_supabase_clis(
    tmp_path: Path, database: ScratchDatabase, cli_reference_layout: dict[str, Any]
) -> None:
    write(
        tmp_path,
        "20240101000000_create_t.sql",
        "-- the table\nCREATE TABLE t (n int);\n\nCREATE INDEX t_n ON t (n);\n-- trailing comment\n",
    )
    write(tmp_path, "20240102000000_nothing_yet.sql", "\n\n")
    migrations.apply(database.url, tmp_path, log=quiet)
    assert describe_history_table(database.admin) == cli_reference_layout
    # What the CLI stores: the name part, the statements as its parser splits them (comments
    # kept, the ';' trimmed), and an empty array for a file without statements (the Go CLI
    # stored NULL; the TypeScript CLI 2.117.0 stores '{}', and it is the oracle).
    assert history(database) == [
        (
            "20240101000000",
            "create_t",
            ["-- the table\nCREATE TABLE t (n int)", "CREATE INDEX t_n ON t (n)", "-- trailing comment"],
        ),
        ("20240102000000", "nothing_yet", []),
    ]


def test_a_run_with_nothing_pending_writes_nothing(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240101000000_create_t.sql", "CREATE TABLE t (n int); INSERT INTO t VALUES (1);")
    migrations.apply(database.url, tmp_path, log=quiet)
    # Every transaction of this session is read-only: any INSERT, UPDATE or DDL fails, even
    # CREATE SCHEMA IF NOT EXISTS on a schema that exists.
    read_only = database.url + "?options=-c%20default_transaction_read_only%3Don"
    result = migrations.apply(read_only, tmp_path, log=quiet)
    assert (result.applied, result.already_applied) == ([], 1)
    # The same session setting does stop a run that has something to write.
    write(tmp_path, "20240102000000_more.sql", "INSERT INTO t VALUES (2);")
    with pytest.raises(MigrationError, match="read-only transaction"):
        migrations.apply(read_only, tmp_path, log=quiet)


def test_a_failing_file_is_rolled_back_whole_and_stops_the_run(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240101000000_good.sql", "CREATE TABLE good (n int);")
    bad = write(tmp_path, "20240102000000_bad.sql", "CREATE TABLE half (n int);\n\nSELECT *\n  FROM no_such_table;\n")
    write(tmp_path, "20240103000000_later.sql", "CREATE TABLE later (n int);")
    logged: list[str] = []
    with pytest.raises(MigrationError) as caught:
        migrations.apply(database.url, tmp_path, log=logged.append)
    message = str(caught.value)
    assert message.startswith("20240102000000_bad.sql:4 (statement 2 of 2): ")
    assert 'relation "no_such_table" does not exist' in message
    assert logged == ["applied 20240101000000_good.sql"]
    assert [row[0] for row in history(database)] == ["20240101000000"]
    assert public_tables(database) == {"good"}, "the bad file's first statement stays rolled back"
    # Once fixed, the run resumes at the file that failed.
    bad.write_text("CREATE TABLE half (n int);\n")
    assert migrations.apply(database.url, tmp_path, log=quiet).applied == ["20240102000000", "20240103000000"]
    assert public_tables(database) == {"good", "half", "later"}


def test_session_settings_of_one_file_do_not_leak_into_the_next(tmp_path: Path, database: ScratchDatabase) -> None:
    # pg_dump output starts with this; the Supabase CLI resets the session between files too.
    write(tmp_path, "20240101000000_dump.sql", "SELECT pg_catalog.set_config('search_path', '', false);")
    write(tmp_path, "20240102000000_unqualified.sql", "CREATE TABLE t (n int);")
    migrations.apply(database.url, tmp_path, log=quiet)
    assert public_tables(database) == {"t"}


def test_concurrent_runs_wait_for_each_other(tmp_path: Path, database: ScratchDatabase) -> None:
    # The first run is held inside its first file by a lock the test owns; the second run
    # must then be waiting for the runner's advisory lock, not racing into the same files.
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE gate (n int)")
    write(tmp_path, "20240101000000_slow.sql", "CREATE TABLE t (n int);\nSELECT count(*) FROM gate;")
    write(tmp_path, "20240102000000_next.sql", "INSERT INTO t VALUES (1);")
    env = {**os.environ, "POSTGRES_URL_NON_POOLING": database.url}
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "envstack", "migrate", "up", "--dir", str(tmp_path)]

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    with psycopg.connect(database.admin) as admin, psycopg.connect(database.admin) as gatekeeper:
        admin.autocommit = True
        gatekeeper.execute("LOCK TABLE gate IN ACCESS EXCLUSIVE MODE")

        def waiting(query: str) -> bool:
            return admin.execute(query, (database.name,)).fetchone() is not None

        first = start()
        second: subprocess.Popen[str] | None = None
        try:
            poll(
                lambda: waiting(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
                    " AND query LIKE '%%gate%%'"
                ),
                "the first run to reach the gate",
            )
            second = start()
            poll(
                lambda: waiting(
                    "SELECT 1 FROM pg_locks JOIN pg_database d ON d.oid = pg_locks.database"
                    " WHERE d.datname = %s AND locktype = 'advisory' AND NOT granted"
                ),
                "the second run to wait for the advisory lock",
            )
        finally:
            gatekeeper.commit()
            outputs = [proc.communicate(timeout=60) for proc in (first, second) if proc is not None]
    assert [proc.returncode for proc in (first, second) if proc is not None] == [0, 0], outputs
    assert outputs[0][0].splitlines() == [
        "applied 20240101000000_slow.sql",
        "applied 20240102000000_next.sql",
        "applied 2 migrations, 0 already applied",
    ]
    assert outputs[1][0].splitlines() == ["applied 0 migrations, 2 already applied"]
    with psycopg.connect(database.url) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (1,)
    assert [row[0] for row in history(database)] == ["20240101000000", "20240102000000"]


def test_status_reports_applied_pending_edited_and_missing(tmp_path: Path, database: ScratchDatabase) -> None:
    first = write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    gone = write(tmp_path, "20240102000000_b.sql", "CREATE TABLE b (n int);")
    write(tmp_path, "20240103000000_c.sql", "-- c\nCREATE TABLE c (n int);")
    assert {s.state for s in migrations.status(database.url, tmp_path)} == {"pending"}
    migrations.apply(database.url, tmp_path, log=quiet)
    first.write_text("CREATE TABLE a (n bigint);")
    gone.unlink()
    write(tmp_path, "20240104000000_d.sql", "CREATE TABLE d (n int);")
    # Only white space after the last statement changed: the CLI would store the same.
    (tmp_path / "20240103000000_c.sql").write_text("-- c\nCREATE TABLE c (n int);\n\n")
    assert migrations.status(database.url, tmp_path) == [
        migrations.MigrationState("20240101000000", "a", "edited"),
        migrations.MigrationState("20240102000000", "b", "missing-file"),
        migrations.MigrationState("20240103000000", "c", "applied"),
        migrations.MigrationState("20240104000000", "d", "pending"),
    ]


@pytest.mark.parametrize("layout", ["statements-null", "version-only"])
def test_a_history_an_old_cli_wrote_is_applied_not_edited(
    tmp_path: Path, database: ScratchDatabase, layout: str
) -> None:
    """Rows from before the CLI kept statements (NULL, or no such column) read as []: every file
    was "edited", so `migrate status` exited 3 and doctor failed for good on an adopted project."""
    write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    write(tmp_path, "20240102000000_b.sql", "CREATE TABLE b (n int);")
    migrations.apply(database.url, tmp_path, log=quiet)
    with psycopg.connect(database.admin) as conn:
        if layout == "version-only":
            conn.execute("ALTER TABLE supabase_migrations.schema_migrations DROP COLUMN statements, DROP COLUMN name")
        else:
            conn.execute("UPDATE supabase_migrations.schema_migrations SET statements = NULL")
    write(tmp_path, "20240103000000_c.sql", "CREATE TABLE c (n int);")

    states = [s.state for s in migrations.status(database.url, tmp_path)]

    assert states == ["applied", "applied", "pending"]
    record = migration_record.record(database.url, "production")
    assert [e["digest"] for e in record["migrations"]] == [None, None]
    assert [s.state for s in migration_record.states(tmp_path, record)] == ["applied", "applied", "pending"]


def test_up_refuses_when_history_has_a_version_without_a_file(tmp_path: Path, database: ScratchDatabase) -> None:
    write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    gone = write(tmp_path, "20240102000000_b.sql", "CREATE TABLE b (n int);")
    migrations.apply(database.url, tmp_path, log=quiet)
    gone.unlink()
    write(tmp_path, "20240103000000_c.sql", "CREATE TABLE c (n int);")
    with pytest.raises(MigrationError, match="applied migrations with no file: 20240102000000"):
        migrations.apply(database.url, tmp_path, log=quiet)
    assert "c" not in public_tables(database)


def test_up_refuses_a_file_older_than_the_newest_applied_unless_asked(
    tmp_path: Path, database: ScratchDatabase
) -> None:
    write(tmp_path, "20240102000000_b.sql", "CREATE TABLE b (n int);")
    migrations.apply(database.url, tmp_path, log=quiet)
    write(tmp_path, "20240101000000_a.sql", "CREATE TABLE a (n int);")
    with pytest.raises(MigrationError, match=r"20240101000000_a\.sql would run before .* 20240102000000"):
        migrations.apply(database.url, tmp_path, log=quiet)
    assert "a" not in public_tables(database)
    assert migrations.apply(database.url, tmp_path, log=quiet, include_all=True).applied == ["20240101000000"]


@pytest.mark.parametrize(
    "name",
    [
        "20240101000000-create.sql",
        "20240101000000_create.SQL",
        "create.sql",
        "_create.sql",
        "v1_create.sql",
        "notes.txt",
    ],
)
def test_a_badly_named_file_is_an_error_naming_it(tmp_path: Path, name: str) -> None:
    write(tmp_path, "20240101000000_fine.sql", "SELECT 1;")
    write(tmp_path, name, "SELECT 1;")
    with pytest.raises(MigrationError, match=f"^{name.replace('.', r'[.]')}: migration files must be named"):
        migrations.discover(tmp_path)


def test_every_name_the_supabase_cli_applies_is_accepted(tmp_path: Path) -> None:
    # ^([0-9]+)_(.*)\.sql$: `supabase migration new add-users` writes hyphens; any digits are a version.
    names = [
        "1_a.sql",
        "2024_b.sql",
        "20240101000000_add-users.sql",
        "20240102000000_.sql",
        "20240103000000_Ünï cödé.sql",
    ]
    for name in names:
        write(tmp_path, name, "SELECT 1;")
    found = migrations.discover(tmp_path)
    assert [(m.version, m.name) for m in found] == [
        ("1", "a"),
        ("2024", "b"),
        ("20240101000000", "add-users"),
        ("20240102000000", ""),
        ("20240103000000", "Ünï cödé"),
    ]


def test_a_first_old_init_file_is_skipped_as_the_cli_skips_it(tmp_path: Path) -> None:
    write(tmp_path, "20211208000000_init.sql", "SELECT 1;")
    write(tmp_path, "20211208000001_next.sql", "SELECT 1;")
    assert [m.version for m in migrations.discover(tmp_path)] == ["20211208000001"]
    write(tmp_path, "20211201000000_first.sql", "SELECT 1;")  # now init.sql is not the first file
    assert [m.version for m in migrations.discover(tmp_path)] == ["20211201000000", "20211208000000", "20211208000001"]


def steps_of(tmp_path: Path, body: str) -> list[tuple[tuple[int, ...], bool, bool]]:
    write(tmp_path, "1_f.sql", body)
    (migration,) = migrations.discover(tmp_path)
    return [(step.statements, step.transaction, step.record) for step in migration.steps]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("CREATE TABLE a (n int); INSERT INTO a VALUES (1);", [((0, 1), True, True)]),
        ("", [((), True, True)]),
        (
            "CREATE TABLE a (n int);\n-- fast\ncreate  unique index\tconcurrently a_n ON a (n); VACUUM a; SELECT 1;",
            [((0,), True, False), ((1,), False, False), ((2,), False, False), ((3,), True, True)],
        ),
        (
            "/* x */ DROP INDEX CONCURRENTLY i; REINDEX (VERBOSE) TABLE CONCURRENTLY t;",
            [((0,), False, False), ((1,), False, False), ((), True, True)],
        ),
        (
            "\ufeff-- pg-delta: transaction=false\r\nSELECT 1; SELECT 2;",
            [((0,), False, False), ((1,), False, False), ((), False, True)],
        ),
        (
            "BEGIN; SELECT 1; COMMIT;",
            [((0,), False, False), ((1,), False, False), ((2,), False, False), ((), False, True)],
        ),
        ("SELECT 1; ROLLBACK WORK;", [((0,), False, False), ((1,), False, False), ((), False, True)]),
        ("SAVEPOINT s; ROLLBACK TO s; ROLLBACK TRANSACTION TO SAVEPOINT s;", [((0, 1, 2), True, True)]),
        ("-- pg-delta: transaction=false is not alone\nSELECT 1;", [((0,), True, True)]),
    ],
    ids=[
        "plain",
        "empty",
        "concurrently",
        "drop-and-reindex",
        "directive",
        "own-transaction",
        "rollback",
        "rollback-to",
        "not-the-directive",
    ],
)
def test_files_run_in_the_transactions_the_cli_uses(
    tmp_path: Path, body: str, expected: list[tuple[tuple[int, ...], bool, bool]]
) -> None:
    assert steps_of(tmp_path, body) == expected


def test_statements_that_refuse_a_transaction_block_apply(tmp_path: Path, database: ScratchDatabase) -> None:
    write(
        tmp_path,
        "20240101000000_concurrently.sql",
        "CREATE TABLE t (n int);\nCREATE INDEX CONCURRENTLY t_n ON t (n);\nINSERT INTO t VALUES (1);\n",
    )
    write(tmp_path, "20240102000000_own.sql", "BEGIN;\nCREATE TABLE u (n int);\nCOMMIT;\n")
    write(tmp_path, "20240103000000_directive.sql", "-- pg-delta: transaction=false\nCREATE TABLE v (n int);\n")
    assert migrations.apply(database.url, tmp_path, log=quiet).applied == [
        "20240101000000",
        "20240102000000",
        "20240103000000",
    ]
    assert public_tables(database) == {"t", "u", "v"}
    with psycopg.connect(database.admin) as conn:
        assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_n'::regclass").fetchone() == (True,)


def test_a_failure_after_a_statement_outside_a_transaction_says_what_stays(
    tmp_path: Path, database: ScratchDatabase
) -> None:
    write(
        tmp_path,
        "20240101000000_half.sql",
        "-- pg-delta: transaction=false\nCREATE TABLE a (n int);\nSELECT * FROM nope;\n",
    )
    with pytest.raises(MigrationError) as caught:
        migrations.apply(database.url, tmp_path, log=quiet)
    assert "20240101000000_half.sql:3 (statement 2 of 2)" in str(caught.value)
    assert "first 1 statement(s) committed stays applied" in str(caught.value)
    assert public_tables(database) == {"a"}
    assert history(database) == []


def test_a_file_whose_own_transaction_fails_says_it_was_rolled_back(tmp_path: Path, database: ScratchDatabase) -> None:
    """Statements inside the file's own BEGIN are not committed when a later one fails."""
    write(tmp_path, "20240101000000_own.sql", "BEGIN;\nCREATE TABLE a (n int);\nSELECT * FROM nope;\nCOMMIT;\n")
    with pytest.raises(MigrationError) as caught:
        migrations.apply(database.url, tmp_path, log=quiet)
    assert "20240101000000_own.sql was rolled back" in str(caught.value)
    assert "stays applied" not in str(caught.value)
    assert public_tables(database) == set()


def test_copy_from_stdin_fails_naming_its_file_not_the_session_it_left_busy(
    tmp_path: Path, database: ScratchDatabase
) -> None:
    """psycopg refuses COPY FROM STDIN in a plain execute and leaves the session mid-COPY; the
    rollback and the unlock after it failed in turn, and their error replaced the file's."""
    write(tmp_path, "20240101000000_copy.sql", "CREATE TABLE c (n int);\nCOPY c FROM stdin;\n")
    with pytest.raises(MigrationError) as caught:
        migrations.apply(database.url, tmp_path, log=quiet)
    assert "20240101000000_copy.sql:2 (statement 2 of 2)" in str(caught.value)
    assert "another command is already in progress" not in str(caught.value)
    assert public_tables(database) == set()


def invalid_indexes(db: ScratchDatabase) -> list[str]:
    with psycopg.connect(db.admin) as conn:
        rows = conn.execute("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid").fetchall()
    return [row[0] for row in rows]


def test_a_failed_concurrent_index_build_leaves_no_invalid_index(tmp_path: Path, database: ScratchDatabase) -> None:
    """CONCURRENTLY commits the index before it builds it: failing, it leaves an INVALID index
    behind, which IF NOT EXISTS would then skip on the next run, recording a broken index as
    applied. The runner drops the one the statement names."""
    write(tmp_path, "20240101000000_t.sql", "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1), (1);\n")
    write(tmp_path, "20240102000000_u.sql", "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_key ON t (a);\n")
    with pytest.raises(MigrationError) as caught:
        migrations.apply(database.url, tmp_path, log=quiet)
    assert "could not create unique index" in str(caught.value)
    assert "t_a_key (dropped again)" in str(caught.value)
    assert invalid_indexes(database) == []
    assert [row[0] for row in history(database)] == ["20240101000000"]

    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("DELETE FROM t WHERE ctid <> (SELECT min(ctid) FROM t)")
    migrations.apply(database.url, tmp_path, log=quiet)
    with psycopg.connect(database.admin) as conn:
        assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_a_key'::regclass").fetchone() == (
            True,
        )


def test_a_concurrent_index_build_outwaits_the_lock_timeout(tmp_path: Path, database: ScratchDatabase) -> None:
    """It waits for the app's open transactions without blocking their queries, so the lock
    timeout (there to keep the app from queueing behind a migration) does not cut it short."""
    write(tmp_path, "20240101000000_t.sql", "CREATE TABLE t (a int);\n")
    migrations.apply(database.url, tmp_path, log=quiet)
    write(tmp_path, "20240102000000_idx.sql", "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON t (a);\n")
    limits = migrations.Limits(lock_timeout=0.5)
    with psycopg.connect(database.url) as app:
        app.execute("INSERT INTO t VALUES (1)")  # an open write transaction on t
        result: list[Any] = []
        runner = threading.Thread(
            target=lambda: result.append(migrations.apply(database.url, tmp_path, log=quiet, limits=limits))
        )
        runner.start()
        try:
            deadline = time.monotonic() + 30
            with psycopg.connect(database.admin, autocommit=True) as probe:
                while True:  # the build has waited longer than the lock timeout
                    row = probe.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%'"
                        " AND wait_event_type = 'Lock' AND now() - query_start > interval '1 second'"
                    ).fetchone()
                    if row and row[0]:
                        break
                    assert runner.is_alive(), "the build gave up"
                    assert time.monotonic() < deadline, "the build never waited"
                    time.sleep(0.05)
        finally:
            app.commit()
            runner.join(60)
    assert result, "the run ended without an answer"
    assert result[0].applied == ["20240102000000"]
    assert invalid_indexes(database) == []


def test_two_files_with_one_version_are_an_error(tmp_path: Path) -> None:
    write(tmp_path, "20240101000000_a.sql", "SELECT 1;")
    write(tmp_path, "20240101000000_b.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match="share version 20240101000000"):
        migrations.discover(tmp_path)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgresql://hermes_app_a.abc:{pw}@127.0.0.1:6543/postgres", "port 6543 is Supabase's transaction pooler"),
        ("postgresql://postgres:{pw}@127.0.0.1:5432/postgres?pgbouncer=true", "it carries pgbouncer=true"),
        ("host=127.0.0.1 port=6543 user=postgres password={pw} dbname=postgres", "port 6543"),
    ],
)
def test_a_transaction_pooler_is_refused_before_any_connection(tmp_path: Path, url: str, says: str) -> None:
    """The run's lock and settings are its session's: through a transaction pooler two runs
    at once would each apply every file (and DATABASE_URL, a name some set to the direct URL,
    holds the pooled one in the app's variables)."""
    password = secrets.token_urlsafe(12)
    write(tmp_path, "20250101000000_one.sql", "CREATE TABLE one (id int);")
    with pytest.raises(MigrationError) as refused:
        migrations.apply(url.format(pw=password), tmp_path)  # nothing listens there: only the check can answer
    assert says in str(refused.value)
    assert "POSTGRES_URL_NON_POOLING" in str(refused.value)
    assert password not in str(refused.value)


def test_errors_never_show_the_password(tmp_path: Path, database: ScratchDatabase) -> None:
    # A failing statement that quotes the password back in Postgres' error message.
    write(tmp_path, "20240101000000_leaky.sql", f"SELECT '{database.password}'::int;")
    with pytest.raises(MigrationError) as caught:
        migrations.apply(database.url, tmp_path, log=quiet)
    assert "invalid input syntax for type integer" in str(caught.value)
    assert database.password not in str(caught.value)
    wrong = database.url.replace(database.password, "not-" + database.password)
    for call in (lambda: migrations.status(wrong, tmp_path), lambda: migrations.apply(wrong, tmp_path, log=quiet)):
        with pytest.raises(MigrationError, match="password authentication failed") as caught:
            call()
        assert "raising rotation:postgres and running `pulumi up`" in str(caught.value), "what repairs it"
        assert database.password not in str(caught.value)
        assert wrong not in str(caught.value)


def test_the_hermes_leads_schema(database: ScratchDatabase) -> None:
    # The repository's migrations create the app's group roles, as Supabase's postgres may.
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CREATEROLE").format(sql.Identifier(database.name)))
    migrations.apply(database.url, ROOT / "supabase/migrations", log=quiet)
    assert {s.state for s in migrations.status(database.url, ROOT / "supabase/migrations")} == {"applied"}
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO hermes_leads (full_name, email, company, service_interest, created_at, updated_at)"
            " VALUES ('Ada Example', 'ada@example.com', 'Example Corp', 'Penetration testing',"
            " now() - interval '1 day', now() - interval '1 day')"
        )
        row = conn.execute("SELECT lead_id, status, workflow_status FROM hermes_leads").fetchone()
        assert row is not None
        assert row[1:] == ("new", "pending")
        assert len(row[0]) == 36, "lead_id defaults to a UUID"
        conn.execute("UPDATE hermes_leads SET status = 'contacted'")
        touched = conn.execute("SELECT updated_at > created_at + interval '1 hour' FROM hermes_leads").fetchone()
        assert touched == (True,), "the trigger moves updated_at"
        bad_rows = [
            ("not-an-email", "new"),
            ("two@@example.com", "new"),
            ("ok@example.com", "maybe"),
        ]
        for email, status in bad_rows:
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute(
                    "INSERT INTO hermes_leads (full_name, email, status) VALUES ('B', %s, %s)", (email, status)
                )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                "INSERT INTO hermes_leads (lead_id, full_name, email) VALUES (%s, 'D', 'd@example.com')", (row[0],)
            )
        assert conn.execute("SELECT relrowsecurity FROM pg_class WHERE oid = 'hermes_leads'::regclass").fetchone() == (
            True,
        )


def test_a_migration_blocked_by_a_held_lock_gives_up_in_time_and_leaves_nothing(
    tmp_path: Path, database: ScratchDatabase
) -> None:
    """A file that needs a table an app transaction is reading waits at most lock_timeout:
    meanwhile the app's next query queues behind it, and flows again once it gives up."""
    write(tmp_path, "20250101000000_leads.sql", "CREATE TABLE leads (id int);\n")
    migrations.apply(database.url, tmp_path, log=quiet)
    write(tmp_path, "20250102000000_more.sql", "CREATE TABLE notes (id int);\nALTER TABLE leads ADD COLUMN n int;\n")
    with psycopg.connect(database.url) as app, psycopg.connect(database.url, autocommit=True) as other:
        app.execute("SELECT count(*) FROM leads").fetchone()  # the app's open transaction holds ACCESS SHARE
        limits = migrations.Limits(lock_timeout=0.5, statement_timeout=30, lock_wait=5)
        started = time.monotonic()
        with pytest.raises(MigrationError) as caught:
            migrations.apply(database.url, tmp_path, log=quiet, limits=limits)
        waited = time.monotonic() - started
        # The ALTER gave up after lock_timeout (well within the 30 s statement limit).
        assert waited < 10, waited
        assert "20250102000000_more.sql" in str(caught.value)
        assert "lock timeout" in str(caught.value)
        other.execute("SET statement_timeout = '5s'")
        assert other.execute("SELECT count(*) FROM leads").fetchone() == (0,), "the app's queries flow"
    assert public_tables(database) == {"leads"}, "the failed file left nothing: notes was rolled back"
    assert [row[0] for row in history(database)] == ["20250101000000"]


def test_a_run_waits_only_so_long_for_another_runs_lock_and_names_the_session_holding_it(
    tmp_path: Path, database: ScratchDatabase
) -> None:
    write(tmp_path, "20250101000000_leads.sql", "CREATE TABLE leads (id int);\n")
    with psycopg.connect(database.url, autocommit=True) as stale:
        stale.execute("SET application_name = 'forgotten deploy'")
        stale.execute("SELECT pg_advisory_lock(%s)", (migrations.LOCK_KEY,))
        pid = stale.info.backend_pid
        with pytest.raises(MigrationError) as caught:
            migrations.apply(database.url, tmp_path, log=quiet, limits=migrations.Limits(lock_wait=0.5))
    message = str(caught.value)
    assert f"session {pid} (application 'forgotten deploy'" in message, message
    assert f"pg_terminate_backend({pid})" in message
    assert database.password not in message
    assert public_tables(database) == set(), "nothing ran"
    assert migrations.apply(database.url, tmp_path, log=quiet).applied == ["20250101000000"], "free again"


def test_limits_come_from_the_environment_in_seconds() -> None:
    env = {"ENVSTACK_MIGRATION_LOCK_TIMEOUT": "2.5", "ENVSTACK_MIGRATION_LOCK_WAIT": "30"}
    assert migrations.Limits.from_environment(env) == migrations.Limits(lock_timeout=2.5, lock_wait=30)
    with pytest.raises(MigrationError, match="ENVSTACK_MIGRATION_STATEMENT_TIMEOUT"):
        migrations.Limits.from_environment({"ENVSTACK_MIGRATION_STATEMENT_TIMEOUT": "soon"})


@pytest.mark.parametrize(
    ("body", "adds"),
    [
        ("ALTER TYPE public.mood ADD VALUE 'great';\n", True),
        ("/* later */ alter type \"My Mood\"\n  add value if not exists 'x' before 'ok';\n", True),
        ("CREATE TABLE t (a int);\n-- then\nALTER TYPE mood ADD VALUE 'x';\n", True),
        ("ALTER TYPE mood RENAME VALUE 'ok' TO 'fine';\n", False),
        ("ALTER TYPE mood ADD ATTRIBUTE a int;\n", False),
        ("SELECT 'ALTER TYPE mood ADD VALUE x';\n", False),
    ],
)
def test_which_files_add_an_enum_value(tmp_path: Path, body: str, adds: bool) -> None:
    write(tmp_path, "20250101000000_x.sql", body)
    (migration,) = migrations.discover(tmp_path)
    assert migrations.adds_enum_value(migration) is adds


def test_a_run_stopped_at_its_timeout_stops_its_statement_on_the_server(
    tmp_path: Path, database: ScratchDatabase
) -> None:
    """`pulumi up` stops a migration command at envstack:migrations.timeout. The statement it
    was running stops with it, and its transaction and locks go: a killed client's statement
    would run on until statement_timeout (30 minutes by default), holding its table."""
    from envstack.errors import ResourceError
    from providers.local_command import LocalCommandProvider

    write(tmp_path, "20240101000000_slow.sql", "CREATE TABLE t (n int);\nSELECT pg_sleep(600);")
    props: dict[str, Any] = {
        "command": f"{sys.executable} -m envstack migrate up --dir {tmp_path}",
        "environment": {"POSTGRES_URL_NON_POOLING": database.url, "DATABASE_URL": database.url},
        "triggers": [],
        "dir": str(ROOT),
        "timeout": 3,
    }
    with psycopg.connect(database.admin, autocommit=True) as admin:

        def sleeping() -> bool:
            found = admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE datname = %s AND query LIKE 'SELECT pg_sleep(600)%%'",
                (database.name,),
            )
            return found.fetchone() is not None

        with pytest.raises(ResourceError, match=r"did not finish within 3 s and was stopped"):
            LocalCommandProvider().create(props)
        poll(lambda: not sleeping(), "the statement to stop on the server", timeout=10)
    assert public_tables(database) == set(), "the file's transaction rolled back"
    assert history(database) == []
