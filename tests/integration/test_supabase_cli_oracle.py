"""The real Supabase CLI is the oracle for envstack's migration runner, both ways round.

The CLI is the one tests/oracle/package-lock.json pins (scripts/install-supabase-cli.sh
installs it; `make test` exports its path as ENVSTACK_SUPABASE_CLI). It applies the corpus in
tests/oracle/migrations to one database and envstack applies it to another; each then reads
the other's history and finds everything applied, and the two histories are the same rows,
string for string.

The CLI never sees a network beyond loopback: it runs in a network namespace of its own
(tests/oracle/sandbox.py) whose only interface is that namespace's loopback, where a relay
reaches the test PostgreSQL through its Unix socket, and where traps on the DNS, HTTP and
HTTPS ports of every address fail the test if the CLI tries to call out. Its telemetry is off
through SUPABASE_TELEMETRY_DISABLED and DO_NOT_TRACK (without them 2.117.0 looks up
eu.i.posthog.com), and its update check through SUPABASE_NO_UPDATE_NOTIFIER.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from envstack.db import migrations
from envstack.db.connect import URL_VARIABLES
from envstack.db.pgserver import PostgresServer
from envstack.db.sql_split import split_statements
from tests.oracle.supabase_cli import QUIET, installed_cli
from tests.unit.test_sql_split import CASES as SPLIT_CASES

ROOT = Path(__file__).resolve().parents[2]
ORACLE = ROOT / "tests" / "oracle"
CORPUS = ORACLE / "migrations"
SANDBOX = ORACLE / "sandbox.py"
TRAPPED = 97  # sandbox.py's exit status when the command tried to reach the network


@dataclass(frozen=True)
class Database:
    name: str
    password: str
    port: int

    def url(self, host: str = "127.0.0.1") -> str:
        return f"postgresql://{self.name}:{self.password}@{host}:{self.port}/{self.name}"

    def redact(self, text: str) -> str:
        return text.replace(self.password, "[redacted]")


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str

    def __str__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@pytest.fixture(scope="module")
def supabase_cli() -> Path:
    return installed_cli()


@pytest.fixture
def new_database(postgres_server: PostgresServer) -> Iterator[Callable[[], Database]]:
    """Empty databases, each owned by a login role of its own with a password."""
    made: list[str] = []

    def make() -> Database:
        name = f"o_{secrets.token_hex(6)}"
        password = secrets.token_urlsafe(18)
        with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password))
            )
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(name)))
        made.append(name)
        return Database(name, password, postgres_server.port)

    yield make
    with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as conn:
        for name in made:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def sandboxed(
    server: PostgresServer, command: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """``command`` in a network namespace where 127.0.0.1:<server port> is the server."""
    unshare = ["unshare", "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
    socket_path = server.socket_dir / f".s.PGSQL.{server.port}"
    report = cwd / "sandbox-report.json"
    wrapper = [sys.executable, str(SANDBOX), "--socket", str(socket_path), "--port", str(server.port)]
    wrapper += ["--report", str(report), "--timeout", str(timeout), "--"]
    try:
        return subprocess.run(
            unshare + wrapper + command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout + 30
        )
    except subprocess.TimeoutExpired:
        # Not the exception itself: its message holds the command line, and so the password.
        pytest.fail(f"{Path(command[0]).name} {command[1:3]} outlived its {timeout + 30:.0f}s deadline", pytrace=False)


@pytest.fixture
def run_cli(supabase_cli: Path, postgres_server: PostgresServer, tmp_path: Path) -> Callable[..., Result]:
    """``supabase <args> --db-url <database>`` in a throwaway project whose supabase/migrations
    is a copy of ``migrations`` (the corpus unless given)."""

    def run(args: list[str], db: Database, *, migrations: Path = CORPUS, quiet: bool = True) -> Result:
        project = tmp_path / f"project-{secrets.token_hex(3)}"
        shutil.copytree(migrations, project / "supabase" / "migrations")
        home = project / "home"
        home.mkdir()
        env = {key: value for key, value in os.environ.items() if key not in QUIET}
        env |= {"HOME": str(home), "SUPABASE_HOME": str(home / ".supabase")}
        if quiet:
            env |= QUIET
        # The server has no TLS on loopback; the CLI would otherwise ask for it.
        url = db.url() + "?sslmode=disable"
        command = [str(supabase_cli), *args, "--db-url", url, "--workdir", str(project)]
        done = sandboxed(postgres_server, command, cwd=project, env=env)
        return Result(done.returncode, db.redact(done.stdout), db.redact(done.stderr))

    return run


def envstack(args: list[str], db: Database, directory: Path = CORPUS) -> Result:
    env = {key: value for key, value in os.environ.items() if key not in URL_VARIABLES}
    env["DATABASE_URL"] = db.url()
    done = subprocess.run(
        [sys.executable, "-m", "envstack", "migrate", *args, "--dir", str(directory)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Result(done.returncode, db.redact(done.stdout), db.redact(done.stderr))


def history(server: PostgresServer, db: Database) -> list[tuple[Any, ...]]:
    """Every history row, every column, as stored (no coalescing)."""
    with psycopg.connect(server.admin_conninfo(db.name)) as conn:
        return conn.execute(
            "SELECT version, name, statements, statements IS NULL FROM supabase_migrations.schema_migrations "
            'ORDER BY version COLLATE "C"'
        ).fetchall()


def schema(server: PostgresServer, db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """What the migrations built: relations, valid indexes, routines, and the rows they wrote."""
    with psycopg.connect(server.admin_conninfo(db.name)) as conn:
        relations = conn.execute(
            "SELECT relname, relkind FROM pg_class WHERE relnamespace = 'public'::regnamespace ORDER BY 1"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexrelid::regclass::text, indisvalid FROM pg_index "
            "WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace) ORDER BY 1"
        ).fetchall()
        routines = conn.execute(
            "SELECT proname, prokind, prosrc FROM pg_proc WHERE pronamespace = 'public'::regnamespace ORDER BY 1"
        ).fetchall()
        rows = conn.execute(
            """SELECT 'user;s', count(*)::text FROM public."user;s" UNION ALL
               SELECT 'counts', count(*)::text FROM public.counts UNION ALL
               SELECT 'events', count(*)::text FROM public.events UNION ALL
               SELECT 'ledger', sum(amount)::text FROM public.ledger ORDER BY 1"""
        ).fetchall()
    return {"relations": relations, "indexes": indexes, "routines": routines, "rows": rows}


def corpus_versions() -> list[str]:
    return [m.version for m in migrations.discover(CORPUS)]


CLI_APPLIES = {"migration up": ["migration", "up"], "db push": ["db", "push", "--yes"]}


@pytest.mark.parametrize("how", list(CLI_APPLIES))
def test_what_the_cli_applies_envstack_sees_applied_and_unedited(
    how: str, run_cli: Callable[..., Result], new_database: Callable[[], Database], postgres_server: PostgresServer
) -> None:
    db = new_database()
    applied = run_cli(CLI_APPLIES[how], db)
    assert applied.returncode == 0, applied
    for name in sorted(path.name for path in CORPUS.iterdir()):
        assert f"Applying migration {name}..." in applied.stderr, applied

    status = envstack(["status", "--json"], db)
    assert json.loads(status.stdout or "null") == [
        {"version": m.version, "name": m.name, "state": "applied"} for m in migrations.discover(CORPUS)
    ], status
    assert status.returncode == 0, status
    again = envstack(["up"], db)
    assert (again.returncode, again.stdout) == (0, f"applied 0 migrations, {len(corpus_versions())} already applied\n")


def test_what_envstack_applies_the_cli_lists_as_applied_with_nothing_to_do(
    run_cli: Callable[..., Result], new_database: Callable[[], Database], postgres_server: PostgresServer
) -> None:
    db = new_database()
    applied = envstack(["up"], db)
    assert applied.returncode == 0, applied
    before = history(postgres_server, db)

    listed = run_cli(["migration", "list", "--output-format", "json"], db)
    assert listed.returncode == 0, listed
    rows = json.loads(listed.stdout)["migrations"]
    assert [(row["local"], row["remote"]) for row in rows] == [(v, v) for v in corpus_versions()], listed
    # The table the CLI prints for people shows the same pairs.
    table = run_cli(["migration", "list"], db)
    assert table.returncode == 0, table
    for version in corpus_versions():
        assert f"`{version}` | `{version}`" in table.stdout, table

    up = run_cli(["migration", "up"], db)
    assert (up.returncode, "Local database is up to date." in up.stdout) == (0, True), up
    assert "Applying migration" not in up.stderr, up
    push = run_cli(["db", "push", "--yes"], db)
    assert (push.returncode, "Remote database is up to date." in push.stdout) == (0, True), push
    assert history(postgres_server, db) == before


def test_the_cli_and_envstack_store_identical_history_rows_and_build_the_same_schema(
    run_cli: Callable[..., Result], new_database: Callable[[], Database], postgres_server: PostgresServer
) -> None:
    by_cli, by_envstack = new_database(), new_database()
    cli_run = run_cli(["migration", "up"], by_cli)
    assert cli_run.returncode == 0, cli_run
    envstack_run = envstack(["up"], by_envstack)
    assert envstack_run.returncode == 0, envstack_run

    cli_rows, envstack_rows = history(postgres_server, by_cli), history(postgres_server, by_envstack)
    assert [row[0] for row in cli_rows] == corpus_versions()
    for cli_row, envstack_row in zip(cli_rows, envstack_rows, strict=True):
        assert cli_row == envstack_row, f"history row {cli_row[0]} differs"
    # And both are what envstack's splitter makes of the files.
    assert [(v, n, s) for v, n, s, _ in envstack_rows] == [
        (m.version, m.name, m.statements) for m in migrations.discover(CORPUS)
    ]
    assert schema(postgres_server, by_cli) == schema(postgres_server, by_envstack)


def test_the_cli_splits_every_unit_case_as_envstack_does(
    run_cli: Callable[..., Result],
    new_database: Callable[[], Database],
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    # `migration repair --status applied` stores the split of each file without running it, so
    # statements PostgreSQL would reject can be compared too.
    directory = tmp_path / "split-cases"
    directory.mkdir()
    versions = []
    for index, (label, source, _) in enumerate(SPLIT_CASES):
        version = str(20240101000000 + index)
        with (directory / f"{version}_case.sql").open("w", encoding="utf-8", newline="") as handle:
            handle.write(source)
        versions.append((version, label, source))
    db = new_database()
    repaired = run_cli(
        ["migration", "repair", "--status", "applied", *(v for v, _, _ in versions)], db, migrations=directory
    )
    assert repaired.returncode == 0, repaired
    stored = {row[0]: row[2] for row in history(postgres_server, db)}
    for version, label, source in versions:
        assert stored[version] == split_statements(source), f"{label!r}: the CLI split it otherwise"


def test_the_sandbox_fails_a_command_that_reaches_for_the_network(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    # Name resolution and an HTTPS connection, as telemetry or an update check would make them.
    probe = (
        "import socket\n"
        "for call in (lambda: socket.getaddrinfo('eu.i.posthog.com', 443),\n"
        "             lambda: socket.create_connection(('203.0.113.7', 443), timeout=5)):\n"
        "    try:\n"
        "        call()\n"
        "    except OSError:\n"
        "        pass\n"
    )
    done = sandboxed(postgres_server, [sys.executable, "-c", probe], cwd=tmp_path, env=dict(os.environ), timeout=60)
    assert done.returncode == TRAPPED, done
    assert "DNS query for eu.i.posthog.com" in done.stderr, done
    assert "tcp connection to port 443" in done.stderr, done


def test_a_savepoint_in_a_plain_file_fails_in_the_cli_and_applies_in_envstack(
    run_cli: Callable[..., Result], new_database: Callable[[], Database], tmp_path: Path
) -> None:
    # The CLI runs a plain file as one pipelined batch, an implicit transaction, where
    # PostgreSQL refuses SAVEPOINT; envstack's explicit BEGIN accepts it. Kept on purpose (no
    # history the CLI writes can differ for it), and pinned here so a CLI change shows.
    directory = tmp_path / "savepoints"
    directory.mkdir()
    (directory / "20240101000000_savepoints.sql").write_text(
        "CREATE TABLE attempts (n int);\nSAVEPOINT before;\nINSERT INTO attempts VALUES (1);\n"
        "ROLLBACK TO SAVEPOINT before;\nINSERT INTO attempts VALUES (2);\n"
    )
    by_cli = run_cli(["migration", "up"], new_database(), migrations=directory)
    assert by_cli.returncode != 0, by_cli
    assert "SAVEPOINT can only be used in transaction blocks" in by_cli.stderr, by_cli
    by_envstack = envstack(["up"], new_database(), directory)
    assert by_envstack.returncode == 0, by_envstack
