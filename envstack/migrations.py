"""A migration runner that keeps its history the way the Supabase CLI does.

Files are ``supabase/migrations/<version>_<name>.sql``; history lives in
``supabase_migrations.schema_migrations`` with the CLI's own DDL and insert (supabase/cli
``pkg/migration/history.go``: ``version text NOT NULL PRIMARY KEY``, ``statements text[]``,
``name text``; ``INSERT … (version, name, statements)``), so ``supabase migration list``
and this runner agree on what has been applied.

Guarantees: files apply in version order, each in its own transaction; an advisory lock
serializes concurrent runs; a failing file is rolled back whole and nothing after it runs;
a run with nothing pending only reads.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import psycopg

from envstack.database_url import connect, password_of
from envstack.redaction import redact
from envstack.sql_split import split_statements

FILE_PATTERN = re.compile(r"^(?P<version>\d{14})_(?P<name>[a-z0-9_]+)\.sql$")

# A fixed key: every runner against the same database contends for the same lock.
LOCK_KEY = zlib.crc32(b"envstack.migrations")

_HISTORY_DDL = (
    "CREATE SCHEMA IF NOT EXISTS supabase_migrations",
    "CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY)",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[]",
    "ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text",
)
_INSERT = "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES(%s, %s, %s)"


class MigrationError(RuntimeError):
    """A migration file is invalid or failed; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path

    @property
    def statements(self) -> list[str]:
        return split_statements(self.path.read_text())


@dataclass(frozen=True)
class MigrationState:
    version: str
    name: str
    state: Literal["applied", "pending", "edited", "missing-file"]


@dataclass(frozen=True)
class ApplyResult:
    applied: list[str]
    already_applied: int


def discover(directory: Path) -> list[Migration]:
    """The migration files in version order; a file with a bad name is an error."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: list[Migration] = []
    for path in sorted(directory.iterdir()):
        if path.is_dir() or path.name.startswith("."):
            continue
        match = FILE_PATTERN.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files must be named <YYYYMMDDHHMMSS>_<name>.sql "
                "with a lowercase name of letters, digits and underscores"
            )
        found.append(Migration(match["version"], match["name"], path))
    versions = [m.version for m in found]
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        raise MigrationError(f"two migration files share version {duplicates[0]}")
    return sorted(found, key=lambda m: m.version)


def _history(conn: psycopg.Connection[tuple[object, ...]]) -> dict[str, tuple[str, list[str]]] | None:
    """version → (name, statements), or None when the history table does not exist yet."""
    exists = conn.execute("SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    rows = conn.execute(
        "SELECT version, coalesce(name, ''), coalesce(statements, '{}') FROM supabase_migrations.schema_migrations"
    ).fetchall()
    return {str(v): (str(n), list(s)) for v, n, s in rows}  # type: ignore[call-overload]


def status(conninfo: str, directory: Path) -> list[MigrationState]:
    files = discover(directory)
    with connect(conninfo) as conn:
        history = _history(conn) or {}
    states: list[MigrationState] = []
    for migration in files:
        if migration.version not in history:
            states.append(MigrationState(migration.version, migration.name, "pending"))
        elif history[migration.version][1] != migration.statements:
            states.append(MigrationState(migration.version, migration.name, "edited"))
        else:
            states.append(MigrationState(migration.version, migration.name, "applied"))
    on_disk = {m.version for m in files}
    states += [
        MigrationState(version, name, "missing-file")
        for version, (name, _) in history.items()
        if version not in on_disk
    ]
    return sorted(states, key=lambda s: s.version)


def _apply_one(conn: psycopg.Connection[tuple[object, ...]], migration: Migration) -> None:
    statements = migration.statements
    with conn.transaction():
        for index, statement in enumerate(statements, start=1):
            try:
                conn.execute(statement.encode())  # bytes: no client-side % placeholder parsing
            except psycopg.Error as exc:
                detail = (exc.diag.message_primary or str(exc)).strip()
                raise MigrationError(
                    f"{migration.path.name}: statement {index} of {len(statements)} failed: {detail}; "
                    "the file was rolled back and no later migration was applied"
                ) from None
        conn.execute(_INSERT, (migration.version, migration.name, statements))


def apply(conninfo: str, directory: Path, *, log: Callable[[str], None] = print) -> ApplyResult:
    """Apply every pending migration in order, under the advisory lock."""
    files = discover(directory)
    secrets = [password_of(conninfo)]
    try:
        with connect(conninfo) as conn:
            conn.autocommit = True
            conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
            try:
                history = _history(conn)
                applied_versions = set(history or {})
                pending = [m for m in files if m.version not in applied_versions]
                if pending and history is None:
                    for ddl in _HISTORY_DDL:
                        conn.execute(ddl.encode())
                done: list[str] = []
                for migration in pending:
                    _apply_one(conn, migration)
                    done.append(migration.version)
                    log(f"applied {migration.path.name}")
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))
    except psycopg.Error as exc:
        raise MigrationError(redact(f"database error: {exc}", secrets)) from None
    return ApplyResult(applied=done, already_applied=len(files) - len(pending))


def format_status(states: Sequence[MigrationState]) -> str:
    lines = [f"{'VERSION':<16}{'NAME':<40}STATE"]
    lines += [f"{s.version:<16}{s.name:<40}{s.state}" for s in states]
    return "\n".join(lines)
