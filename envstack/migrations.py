"""A migration runner whose history is the Supabase CLI's own.

Files are ``<directory>/<YYYYMMDDHHMMSS>_<name>.sql``. History lives in
``supabase_migrations.schema_migrations``, created with the CLI's DDL and written with its
INSERT (supabase/cli ``pkg/migration/history.go``, now ``apps/cli-go/pkg/migration/history.go``,
last changed in commit cad09571874a22db60da5ecbfcc047bf35cf6e0a; the current CLI creates no
other columns) and the same values: the version, the name part of the file name, and the
file's statements split as the CLI splits them (``envstack.sql_split``; NULL for a file
with none, as pgx encodes the CLI's nil slice). So ``supabase migration list`` and this runner
agree on what has been applied, and either can take over from the other.

Like ``supabase migration up``, a run refuses when the history holds versions that have no
file, and when a pending file is older than the newest applied one (unless
``include_all``, the CLI's ``--include-all``); it resets session settings before each file.

Guarantees beyond the CLI: an advisory lock serializes concurrent runs; each file, with its
history row, is one transaction, and a failing file names its line; a run with nothing
pending only reads, in one query.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from envstack.database_url import connect, secrets_of
from envstack.redaction import redact
from envstack.sql_split import Statement, split_with_offsets

FILE_PATTERN = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")

# Every runner against a database contends for this one session-level lock key (a signed
# bigint derived from a constant, so it never changes between releases).
LOCK_KEY = int.from_bytes(hashlib.sha256(b"envstack.migrations").digest()[:8], "big", signed=True)

# The CLI's statements in the order it runs them (CreateMigrationTable); only SET became SET
# LOCAL, since ours run in an explicit transaction where the CLI's batch has an implicit one.
_CREATE_HISTORY = (
    "SET LOCAL lock_timeout = '4s'",
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)
_INSERT_HISTORY = "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES(%s, %s, %s)"

State = Literal["applied", "pending", "edited", "missing-file"]


class MigrationError(RuntimeError):
    """A migration file is invalid or failed, or the history forbids a run. Already redacted."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    parts: tuple[Statement, ...] = field(repr=False)
    source: str = field(repr=False)

    @property
    def statements(self) -> list[str]:
        """What the Supabase CLI stores for this file."""
        return [part.text for part in self.parts]

    def line_of(self, offset: int) -> int:
        return self.source.count("\n", 0, offset) + 1


@dataclass(frozen=True)
class MigrationState:
    version: str
    name: str
    state: State


@dataclass(frozen=True)
class ApplyResult:
    applied: list[str]  # versions applied by this run, in order
    already_applied: int


@dataclass(frozen=True)
class _Recorded:
    name: str
    statements: list[str]


def discover(directory: Path) -> list[Migration]:
    """The migration files in version order. A file with a bad name is an error, not skipped."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[str, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        match = FILE_PATTERN.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files must be named <YYYYMMDDHHMMSS>_<name>.sql, "
                "the name in lowercase letters, digits and underscores"
            )
        version = match["version"]
        if version in found:
            raise MigrationError(f"{path.name} and {found[version].path.name} share version {version}")
        try:
            # newline="": the CLI keeps \r\n, and the stored statements must match it.
            with path.open(encoding="utf-8", newline="") as handle:
                source = handle.read()
        except UnicodeDecodeError as exc:
            raise MigrationError(f"{path.name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        found[version] = Migration(version, match["name"], path, tuple(split_with_offsets(source)), source)
    return [found[version] for version in sorted(found)]


def status(conninfo: str, directory: Path) -> list[MigrationState]:
    """Every file and every history entry, with what the database has of it. Only reads."""
    files = discover(directory)
    with _errors_redacted(conninfo), connect(conninfo, autocommit=True) as conn:
        history = _read_history(conn) or {}
    states: list[MigrationState] = []
    for migration in files:
        recorded = history.get(migration.version)
        if recorded is None:
            state: State = "pending"
        elif recorded.statements != migration.statements:
            state = "edited"
        else:
            state = "applied"
        states.append(MigrationState(migration.version, migration.name, state))
    on_disk = {m.version for m in files}
    states += [
        MigrationState(version, recorded.name, "missing-file")
        for version, recorded in history.items()
        if version not in on_disk
    ]
    return sorted(states, key=lambda s: s.version)


def apply(
    conninfo: str,
    directory: Path,
    *,
    log: Callable[[str], None] = print,
    include_all: bool = False,
) -> ApplyResult:
    """Apply the pending files in version order, under the advisory lock; log one line per file.

    With nothing pending this is one query (the history), and no lock: a run that writes
    nothing needs no protection from another.
    """
    files = discover(directory)
    with _errors_redacted(conninfo), connect(conninfo, autocommit=True) as conn:
        history = _read_history(conn) or {}
        if all(m.version in history for m in files):
            _refuse_unless_in_order(files, set(history), [], include_all=include_all)
            return ApplyResult(applied=[], already_applied=len(files))
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            return _apply_locked(conn, files, log=log, include_all=include_all)
        finally:
            if not conn.broken:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def _apply_locked(
    conn: psycopg.Connection[Any], files: list[Migration], *, log: Callable[[str], None], include_all: bool
) -> ApplyResult:
    history = _read_history(conn)
    applied = set(history or {})
    pending = [m for m in files if m.version not in applied]
    _refuse_unless_in_order(files, applied, pending, include_all=include_all)
    if pending:
        _run_in_transaction(conn, _CREATE_HISTORY)
    done: list[str] = []
    for migration in pending:
        _apply_one(conn, migration)
        done.append(migration.version)
        log(f"applied {migration.path.name}")
    return ApplyResult(applied=done, already_applied=len(files) - len(pending))


def _refuse_unless_in_order(
    files: list[Migration], applied: set[str], pending: list[Migration], *, include_all: bool
) -> None:
    """The CLI's FindPendingMigrations rules: history must be a prefix of the files."""
    on_disk = {m.version for m in files}
    missing = sorted(applied - on_disk)
    if missing:
        raise MigrationError(
            f"the database has applied migrations with no file: {', '.join(missing)}; restore those files "
            "(or repair the history with `supabase migration repair`) before applying more"
        )
    newest = max(applied, default="")
    late = [m for m in pending if m.version < newest]
    if late and not include_all:
        names = ", ".join(m.path.name for m in late)
        raise MigrationError(
            f"{names} would run before the newest applied migration {newest}; give it a newer version, "
            "or apply it out of order with --include-all"
        )


def _apply_one(conn: psycopg.Connection[Any], migration: Migration) -> None:
    # A file's session SETs (pg_dump output sets search_path to '') must not leak into the next.
    conn.execute(b"RESET ALL")
    conn.execute(b"BEGIN")
    failed_at: int | None = None  # index of the statement that failed, None for the history row
    try:
        for index, statement in enumerate(migration.parts):
            failed_at = index
            # bytes: no parameter placeholder parsing of the file's text.
            conn.execute(statement.text.encode())
        failed_at = None
        conn.execute(_INSERT_HISTORY, (migration.version, migration.name, migration.statements or None))
        conn.execute(b"COMMIT")
    except psycopg.Error as exc:
        if not conn.broken:
            conn.execute(b"ROLLBACK")
        raise MigrationError(_describe_failure(migration, failed_at, exc)) from None


def _describe_failure(migration: Migration, failed_at: int | None, exc: psycopg.Error) -> str:
    diag = exc.diag
    message = (diag.message_primary or str(exc)).strip()
    if failed_at is None:
        where = f"{migration.path.name}: recording the history row"
    else:
        statement = migration.parts[failed_at]
        index = failed_at + 1
        offset = statement.offset
        if diag.statement_position and diag.statement_position.isdigit():
            offset += int(diag.statement_position) - 1
        where = f"{migration.path.name}:{migration.line_of(offset)} (statement {index} of {len(migration.parts)})"
    lines = [f"{where}: {message}"]
    lines += [
        f"  {label}: {text}" for label, text in (("detail", diag.message_detail), ("hint", diag.message_hint)) if text
    ]
    lines.append(f"  {migration.path.name} was rolled back; no later migration was applied")
    return "\n".join(lines)


def _run_in_transaction(conn: psycopg.Connection[Any], statements: Sequence[str]) -> None:
    with conn.transaction():
        for statement in statements:
            conn.execute(statement.encode())


def _read_history(conn: psycopg.Connection[Any]) -> dict[str, _Recorded] | None:
    """version → what was recorded; None when there is no history table. Only reads; one query
    for a history the current CLI (or this runner) wrote, autocommit, so a failed guess costs
    nothing but the next query."""
    try:
        rows = conn.execute(
            b"SELECT version, coalesce(name, ''), coalesce(statements, '{}') FROM supabase_migrations.schema_migrations"
        ).fetchall()
    except psycopg.errors.UndefinedTable:
        return None
    except psycopg.errors.UndefinedColumn:
        rows = _read_old_history(conn)
    return {str(version): _Recorded(str(n), list(s)) for version, n, s in rows}


def _read_old_history(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    """Histories written by old CLI versions have only some of the columns."""
    row = conn.execute("SELECT 'supabase_migrations.schema_migrations'::regclass::oid").fetchone()
    assert row is not None
    columns = {
        r[0]
        for r in conn.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped", (row[0],)
        )
    }
    name = "coalesce(name, '')" if "name" in columns else "''"
    statements = "coalesce(statements, '{}')" if "statements" in columns else "'{}'::text[]"
    return conn.execute(
        f"SELECT version, {name}, {statements} FROM supabase_migrations.schema_migrations".encode()
    ).fetchall()


@contextmanager
def _errors_redacted(conninfo: str) -> Iterator[None]:
    """Database errors become MigrationError, and no message keeps the URL's password."""
    secrets = secrets_of(conninfo)
    try:
        yield
    except MigrationError as exc:
        raise MigrationError(redact(str(exc), secrets)) from None
    except psycopg.Error as exc:
        raise MigrationError(redact(f"database error: {str(exc).strip()}", secrets)) from None


def format_status(states: Sequence[MigrationState]) -> str:
    width = max([len(s.name) for s in states] + [4]) + 2
    lines = [f"{'VERSION':<16}{'NAME':<{width}}STATE"]
    lines += [f"{s.version:<16}{s.name:<{width}}{s.state}" for s in states]
    return "\n".join(lines)
