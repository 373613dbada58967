r"""A migration runner whose history is the Supabase CLI's own.

The oracle is the CLI pinned in tests/oracle/package-lock.json (2.117.0, whose migration
commands are TypeScript compiled with Bun): tests/integration/test_supabase_cli_oracle.py runs
it and this runner on one corpus, each way round, and compares the stored rows.

Files are ``<directory>/<version>_<name>.sql`` as the CLI reads them: ``^([0-9]+)_(.*)\.sql$``
(so ``supabase migration new add-users`` names, with hyphens, work). Where the CLI skips a
file with a warning, this runner refuses it: a misnamed migration is a mistake, not noise. The
CLI's one other skip is kept: a first file ``<14 digits>_init.sql`` older than 20211209000000.

History lives in ``supabase_migrations.schema_migrations``, created with the CLI's DDL and
written with its INSERT and the same values: the version, the name part of the file name, and
the file's statements split as the CLI splits them (``envstack.db.sql_split``; an empty array
for a file with none). So ``supabase migration list`` and this runner agree on what has been
applied, and either can take over from the other.

Like ``supabase migration up``, a run refuses when the history holds versions that have no
file, and when a pending file is older than the newest applied one (unless
``include_all``, the CLI's ``--include-all``); it resets session settings before each file.
And like it, a file runs outside one transaction when it must:

- a first line ``-- pg-delta: transaction=false`` (after an optional byte-order mark; the CLI's
  only directive) runs every statement on its own, then records the history row;
- a file with its own transaction control (``BEGIN``, ``START TRANSACTION``, ``COMMIT``,
  ``END``, ``ABORT``, ``ROLLBACK`` but not ``ROLLBACK TO``, ``PREPARE TRANSACTION``) runs its
  statements one by one as written, then records the history row;
- otherwise statements that PostgreSQL refuses in a transaction block (``CREATE [UNIQUE]
  INDEX CONCURRENTLY``, ``DROP INDEX CONCURRENTLY``, ``REINDEX … CONCURRENTLY``, ``VACUUM``,
  ``ALTER SYSTEM``, ``CLUSTER``) run on their own, and the statements between them in one
  transaction each, the last with the history row.

Guarantees beyond the CLI: an advisory lock serializes concurrent runs; a file with none of
the above is one transaction with its history row; a failing file names its line; a run with
nothing pending only reads, in one query.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from envstack.db import advisory
from envstack.db.connect import answered_within, connect, login_refused, secrets_of, transaction_pooled
from envstack.db.migration_files import FILE_PATTERN, LIMIT_VARIABLES
from envstack.db.sql_split import JS_SPACE, Statement, js_trim, split_with_offsets
from envstack.errors import MigrationError
from envstack.redaction import redact

# The CLI skips the first file when it matches this (unanchored) and its version is older.
_OLD_INIT_PATTERN = re.compile(r"([0-9]{14})_init\.sql")
_OLD_INIT_BEFORE = 20211209000000

# The CLI's one migration directive: a first line that runs the file outside a transaction.
NO_TRANSACTION_DIRECTIVE = "-- pg-delta: transaction=false"

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

# The CLI's \s (JavaScript's white space), and its "." (anything but a line terminator).
_S = "[" + "".join(re.escape(char) for char in sorted(JS_SPACE)) + "]"
_LINE = r"[^\n\r\u2028\u2029]"
# Statements the CLI runs on their own, outside any transaction (matched on the upper-cased
# statement after its leading comments).
_OWN_SESSION = re.compile(
    "|".join(
        (
            rf"^CREATE{_S}+(?:UNIQUE{_S}+)?INDEX{_S}+CONCURRENTLY(?:{_S}|\Z)",
            rf"^DROP{_S}+INDEX{_S}+CONCURRENTLY(?:{_S}|\Z)",
            rf"^REINDEX(?:{_S}|\(){_LINE}*{_S}CONCURRENTLY(?:{_S}|\Z)",
            rf"^VACUUM(?:{_S}|\(|\Z)",
            rf"^ALTER{_S}+SYSTEM(?:{_S}|\Z)",
            rf"^CLUSTER(?:{_S}|\Z)",
        )
    )
)
# Index builds that commit an INVALID index before they wait for older transactions; a failure
# (a timeout, a duplicate) leaves it behind, and IF NOT EXISTS would then skip it for good.
_BUILDS_INDEX_CONCURRENTLY = re.compile(
    rf"^(?:CREATE{_S}+(?:UNIQUE{_S}+)?INDEX{_S}+CONCURRENTLY|REINDEX(?:{_S}|\(){_LINE}*{_S}CONCURRENTLY)(?:{_S}|\Z)"
)
_INVALID_INDEXES = (
    b"SELECT i.indexrelid::regclass::text FROM pg_index i WHERE NOT i.indisvalid AND i.indexrelid >= 16384"
)
# Transaction control: a file with any runs statement by statement, as written.
_TRANSACTION_CONTROL = re.compile(
    rf"^(?:BEGIN|START{_S}+TRANSACTION|COMMIT|END|ABORT|PREPARE{_S}+TRANSACTION)(?:{_S}|\Z)"
)
_WORDS = re.compile(f"{_S}+")
_ADDS_ENUM_VALUE = re.compile(rf"^ALTER{_S}+TYPE{_S}.*?{_S}ADD{_S}+VALUE(?:{_S}|\Z)", re.DOTALL)


APPLICATION_NAME = "envstack migrate"


@dataclass(frozen=True)
class Limits:
    lock_timeout: float = 10.0
    statement_timeout: float = 1800.0
    lock_wait: float = 120.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Limits:
        given: dict[str, float] = {}
        for field_name, variable in LIMIT_VARIABLES.items():
            raw = environ.get(variable)
            if raw:
                try:
                    seconds = float(raw)
                except ValueError:
                    raise MigrationError(f"{variable} must be a number of seconds, not {raw!r}") from None
                if seconds <= 0:
                    raise MigrationError(f"{variable} must be more than 0 seconds")
                given[field_name] = seconds
        return cls(**given)

    def session_settings(self) -> list[bytes]:
        return [
            f"SET application_name = '{APPLICATION_NAME}'".encode(),
            f"SET lock_timeout = '{int(self.lock_timeout * 1000)}ms'".encode(),
            f"SET statement_timeout = '{int(self.statement_timeout * 1000)}ms'".encode(),
        ]

    def apply(self, conn: psycopg.Connection[Any]) -> None:
        """Bound the session's waits from its next statement on (until a RESET ALL)."""
        for setting in self.session_settings():
            conn.execute(setting)


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

    @property
    def steps(self) -> list[Step]:
        """How the CLI runs this file: which statements together, in a transaction or not."""
        texts = self.statements
        if _no_transaction(self.source) or any(controls_transaction(text) for text in texts):
            return [Step((index,), transaction=False) for index in range(len(texts))] + [
                Step((), transaction=False, record=True)
            ]
        steps: list[Step] = []
        batch: list[int] = []
        for index, text in enumerate(texts):
            if _OWN_SESSION.match(_leading_words(text).upper()):
                if batch:
                    steps.append(Step(tuple(batch), transaction=True))
                    batch = []
                steps.append(Step((index,), transaction=False))
            else:
                batch.append(index)
        steps.append(Step(tuple(batch), transaction=True, record=True))
        return steps


@dataclass(frozen=True)
class Step:
    statements: tuple[int, ...]  # indexes into the file's statements
    transaction: bool  # run together in one transaction, or each on its own
    record: bool = False  # the history row goes last, in the same transaction if there is one


def _no_transaction(source: str) -> bool:
    """Whether the first line (after a byte-order mark, without a \\r) is the CLI's directive."""
    text = source[1:] if source.startswith("\ufeff") else source
    first = text.split("\n", 1)[0]
    return first.removesuffix("\r") == NO_TRANSACTION_DIRECTIVE


def _leading_words(statement: str) -> str:
    """The statement without the comments and byte-order marks before it, as the CLI sees it."""
    text = statement.lstrip(" \t\n\r")
    while text.startswith("\ufeff"):
        text = text[1:].lstrip(" \t\n\r")
    while True:
        if text.startswith("--"):
            newline = text.find("\n")
            if newline < 0:
                return ""
            text = text[newline + 1 :].lstrip(" \t\n\r")
        elif text.startswith("/*"):
            close = text.find("*/")
            if close < 0:
                return text
            text = text[close + 2 :].lstrip(" \t\n\r")
        else:
            return js_trim(text)


def controls_transaction(statement: str) -> bool:
    """Whether the statement begins or ends a transaction (not a savepoint's ROLLBACK TO)."""
    text = _leading_words(statement).upper()
    words = _WORDS.split(text)
    if words[0] == "ROLLBACK":
        at = 2 if len(words) > 1 and words[1] in ("WORK", "TRANSACTION") else 1
        return len(words) <= at or words[at] != "TO"
    return _TRANSACTION_CONTROL.match(text) is not None


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
    # None: not recorded (rows an old Supabase CLI wrote before it kept statements), so no edit
    # can be told; the CLI itself compares versions only.
    statements: list[str] | None


def discover(directory: Path) -> list[Migration]:
    """The migration files in version order. A file with a bad name is an error, not skipped."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[str, Migration] = {}
    for position, path in enumerate(sorted(directory.iterdir())):
        if path.is_dir():
            continue
        if position == 0 and _is_old_init(path.name):
            continue  # as the CLI: a first <14 digits>_init.sql older than 20211209000000 is skipped
        if path.name.startswith("."):
            continue
        match = FILE_PATTERN.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files must be named <version>_<name>.sql, the version in digits "
                "(as the Supabase CLI reads them)"
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


def _is_old_init(name: str) -> bool:
    match = _OLD_INIT_PATTERN.search(name)
    return match is not None and int(match[1]) < _OLD_INIT_BEFORE


def history(conninfo: str) -> dict[str, tuple[str, list[str] | None]]:
    """version → (name, statements) as the database's history records them (statements None:
    not recorded). Only reads."""
    with _errors_redacted(conninfo), connect(conninfo, autocommit=True) as conn:
        found = _read_history(conn) or {}
    return {version: (recorded.name, recorded.statements) for version, recorded in found.items()}


def status(conninfo: str, directory: Path, *, within: float | None = None) -> list[MigrationState]:
    """Every file and every history entry, with what the database has of it. Only reads.

    ``within``: seconds after which the read is cancelled (doctor, diff), as another session's
    lock on the history table (a migration run altering it, a stuck session) would hold it."""
    files = discover(directory)
    with _errors_redacted(conninfo), connect(conninfo, autocommit=True) as conn:
        bounded = answered_within(conn, within) if within is not None else contextlib.nullcontext()
        try:
            with bounded:
                history = _read_history(conn) or {}
        except psycopg.errors.QueryCanceled:
            if within is None:
                raise
            raise MigrationError(
                f"no answer within {within:.0f}s reading the migration history: another session's lock"
                " or a long statement holds it up"
            ) from None
    names = {version: recorded.name for version, recorded in history.items()}
    return classify(files, names, lambda m: history[m.version].statements in (None, m.statements))


def classify(
    files: list[Migration], history: Mapping[str, str], same: Callable[[Migration], bool]
) -> list[MigrationState]:
    """Each file against a history (version → name): pending when not in it, edited when
    ``same`` says its statements differ from what was recorded, applied otherwise; and each
    history entry without a file."""
    states = [
        MigrationState(m.version, m.name, "pending" if m.version not in history else "applied" if same(m) else "edited")
        for m in files
    ]
    on_disk = {m.version for m in files}
    states += [MigrationState(v, name, "missing-file") for v, name in history.items() if v not in on_disk]
    return sorted(states, key=lambda s: s.version)


def apply(
    conninfo: str,
    directory: Path,
    *,
    log: Callable[[str], None] = print,
    include_all: bool = False,
    limits: Limits | None = None,
) -> ApplyResult:
    """Apply the pending files in version order, under the advisory lock; log one line per file.

    With nothing pending this is one query (the history), and no lock: a run that writes
    nothing needs no protection from another.
    """
    pooled = transaction_pooled(conninfo)
    if pooled:
        # Its lock and session settings last the whole run: through a transaction pooler the
        # lock lands on one server session and the next file on another, so two runs at once
        # would both apply every file.
        raise MigrationError(
            f"the migration runner needs a database session of its own, and this URL reaches a transaction pooler "
            f"({pooled}): use the direct URL or the session pooler (port 5432), which POSTGRES_URL_NON_POOLING holds"
        )
    files = discover(directory)
    with _errors_redacted(conninfo), connect(conninfo, autocommit=True) as conn:
        history = _read_history(conn) or {}
        if all(m.version in history for m in files):
            _refuse_unless_in_order(files, set(history), [], include_all=include_all)
            return ApplyResult(applied=[], already_applied=len(files))
        limits = limits or Limits()
        conn.execute(f"SET application_name = '{APPLICATION_NAME}'".encode())
        # Waited for at most lock_wait; the error names a session that keeps it longer, so a
        # stale one can be ended.
        wait = limits.lock_wait
        with advisory.held(
            conn,
            LOCK_KEY,
            wait,
            lambda who: MigrationError(f"another migration run holds the migration lock: {who}; waited {wait:g} s"),
        ):
            return _apply_locked(conn, files, log=log, include_all=include_all, limits=limits)


def _apply_locked(
    conn: psycopg.Connection[Any],
    files: list[Migration],
    *,
    log: Callable[[str], None],
    include_all: bool,
    limits: Limits,
) -> ApplyResult:
    history = _read_history(conn)
    applied = set(history or {})
    pending = [m for m in files if m.version not in applied]
    _refuse_unless_in_order(files, applied, pending, include_all=include_all)
    if pending:
        _run_in_transaction(conn, _CREATE_HISTORY)
    done: list[str] = []
    for migration in pending:
        _apply_one(conn, migration, limits)
        done.append(migration.version)
        log(f"applied {migration.path.name}")
    return ApplyResult(applied=done, already_applied=len(files) - len(pending))


def fits_one_transaction(migration: Migration) -> bool:
    """Whether the runner applies this file as one transaction with its history row (no
    directive, no transaction control, no statement that must run on its own), so that a
    caller may apply it inside a larger transaction of its own."""
    steps = migration.steps
    return len(steps) == 1 and steps[0].transaction


def adds_enum_value(migration: Migration) -> bool:
    """Whether a statement of the file adds a value to an enum type: PostgreSQL lets no later
    statement of the same transaction use it ("unsafe use of new value"), so files after it,
    and the seed, may need it committed first."""
    return any(_ADDS_ENUM_VALUE.match(_leading_words(text).upper()) for text in migration.statements)


def apply_in_transaction(
    conn: psycopg.Connection[Any], files: Sequence[Migration], *, log: Callable[[str], None], limits: Limits
) -> ApplyResult:
    """Apply ``files`` in the caller's open transaction on ``conn`` over an empty history
    (``envstack reset``): the statements, history rows and session limits ``apply`` uses,
    but nothing is kept unless the caller commits. The caller holds the run lock (LOCK_KEY).
    Every file must fit one transaction (``fits_one_transaction``)."""
    unfit = [m.path.name for m in files if not fits_one_transaction(m)]
    if unfit:
        raise MigrationError(f"{', '.join(unfit)} must run outside a transaction, so cannot be part of a larger one")
    for statement in _CREATE_HISTORY:
        conn.execute(statement.encode())
    done: list[str] = []
    for migration in files:
        conn.execute(b"RESET ALL")
        limits.apply(conn)
        failed_at: int | None = None
        try:
            for index, part in enumerate(migration.parts):
                failed_at = index
                conn.execute(part.text.encode())
            failed_at = None
            conn.execute(_INSERT_HISTORY, (migration.version, migration.name, migration.statements))
        except psycopg.Error as exc:
            raise MigrationError(_describe_failure(migration, failed_at, exc, 0)) from None
        done.append(migration.version)
        log(f"applied {migration.path.name}")
    return ApplyResult(applied=done, already_applied=0)


def apply_holding_lock(
    conn: psycopg.Connection[Any], files: list[Migration], *, log: Callable[[str], None], limits: Limits
) -> ApplyResult:
    """``apply``'s run on an autocommit ``conn`` whose session already holds the run lock
    (LOCK_KEY): each file in its own transaction(s), as ``migrate up`` runs it."""
    return _apply_locked(conn, files, log=log, include_all=False, limits=limits)


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


def _apply_one(conn: psycopg.Connection[Any], migration: Migration, limits: Limits) -> None:
    # A file's session SETs (pg_dump output sets search_path to '') must not leak into the next.
    conn.execute(b"RESET ALL")
    limits.apply(conn)
    failed_at: int | None = None  # index of the statement that failed, None for the history row
    done = 0  # the file's statements that ran
    committed = 0  # of those, how many had been committed when the session was last idle
    left: list[str] = []  # invalid indexes a failed concurrent build left, dropped again
    try:
        for step in migration.steps:
            if step.transaction:
                conn.execute(b"BEGIN")
            for index in step.statements:
                failed_at = index
                _run_statement(conn, migration.parts[index].text, limits, left)
                done += 1
                if not step.transaction and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
                    committed = done
            if step.record:
                failed_at = None
                conn.execute(_INSERT_HISTORY, (migration.version, migration.name, migration.statements))
            if step.transaction:
                conn.execute(b"COMMIT")
                committed = done
    except psycopg.Error as exc:
        if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):  # mid-COPY, say: the session's end rolls back
                conn.execute(b"ROLLBACK")
        raise MigrationError(_describe_failure(migration, failed_at, exc, committed, left)) from None


def _run_statement(conn: psycopg.Connection[Any], text: str, limits: Limits, left: list[str]) -> None:
    """One statement of a file. A concurrent index build waits for every older transaction
    without blocking the app's queries, so ``lockTimeout`` (which keeps a migration from
    queueing the app behind its lock) does not bound it. If it fails, the INVALID index it
    committed first is dropped again when the statement names it (then it is provably this
    statement's); any other index it left invalid is named in ``left`` for the message."""
    # bytes: no parameter placeholder parsing of the file's text.
    words = _leading_words(text)
    if not _BUILDS_INDEX_CONCURRENTLY.match(words.upper()):
        conn.execute(text.encode())
        return
    before = {row[0] for row in conn.execute(_INVALID_INDEXES)}
    conn.execute(b"SET lock_timeout = 0")
    try:
        conn.execute(text.encode())
    except psycopg.Error:
        if conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            raise
        named = _index_named(words)
        for (name,) in conn.execute(_INVALID_INDEXES).fetchall():
            if name in before:
                continue
            if named is not None and _unqualified(name) == named:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}".encode())
                    left.append(f"{name} (dropped again)")
                    continue
            left.append(f"{name} (still there: DROP INDEX CONCURRENTLY {name} before running it again)")
        raise
    finally:
        if not conn.broken and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            conn.execute(f"SET lock_timeout = '{int(limits.lock_timeout * 1000)}ms'".encode())


_CREATE_INDEX_NAME = re.compile(
    rf"^CREATE{_S}+(?:UNIQUE{_S}+)?INDEX{_S}+CONCURRENTLY{_S}+(?:IF{_S}+NOT{_S}+EXISTS{_S}+)?"
    rf'("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*){_S}+ON(?:{_S}|\Z)',
    re.IGNORECASE,
)


def _index_named(words: str) -> str | None:
    """The index a CREATE INDEX CONCURRENTLY names, as PostgreSQL stores it (None: unnamed)."""
    match = _CREATE_INDEX_NAME.match(words)
    if match is None or match.group(1).upper() == "ON":
        return None
    return _unqualified(match.group(1))


def _unqualified(name: str) -> str:
    """An identifier (or the last part of a qualified one) as stored: quotes off, else lower-cased."""
    last = name.rsplit(".", 1)[-1] if not name.endswith('"') else name[name.rfind('"', 0, -1) :]
    if last.startswith('"') and last.endswith('"'):
        return last[1:-1].replace('""', '"')
    return last.lower()


def _describe_failure(
    migration: Migration, failed_at: int | None, exc: psycopg.Error, committed: int, dropped: Sequence[str] = ()
) -> str:
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
    if dropped:
        lines.append(f"  the concurrent index build left an invalid index: {'; '.join(dropped)}")
    if committed:
        lines.append(
            f"  {migration.path.name} runs outside one transaction (as the Supabase CLI runs it): what its first "
            f"{committed} statement(s) committed stays applied, the history has no row for it, and no later "
            "migration was applied"
        )
    else:
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
            b"SELECT version, coalesce(name, ''), statements FROM supabase_migrations.schema_migrations"
        ).fetchall()
    except psycopg.errors.UndefinedTable:
        return None
    except psycopg.errors.UndefinedColumn:
        rows = _read_old_history(conn)
    return {str(version): _Recorded(str(n), None if s is None else list(s)) for version, n, s in rows}


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
    statements = "statements" if "statements" in columns else "NULL::text[]"
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
        said = redact(f"database error: {str(exc).strip()}", secrets)
        if isinstance(exc, psycopg.OperationalError) and login_refused(exc):
            said += (
                ". The password was refused: if it was changed outside the stack (a database password reset in "
                "Supabase's dashboard), then for a project the stack created, raising rotation:postgres and running "
                "`pulumi up` sets a new one through the API"
            )
        raise MigrationError(said) from None


def format_status(states: Sequence[MigrationState]) -> str:
    width = max([len(s.name) for s in states] + [4]) + 2
    lines = [f"{'VERSION':<16}{'NAME':<{width}}STATE"]
    lines += [f"{s.version:<16}{s.name:<{width}}{s.state}" for s in states]
    return "\n".join(lines)
