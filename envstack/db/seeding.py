"""Loading test data (``supabase/seed.sql``). Production never receives it, whatever a caller asks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from envstack.db.connect import connect, secrets_of
from envstack.db.sql_split import split_with_offsets
from envstack.errors import SeedError, SeedRefused
from envstack.redaction import redact

if TYPE_CHECKING:  # an annotation only: callers hand the limits in
    from envstack.db.migrations import Limits

REFUSAL = "refusing to seed: production never receives test data (ENVSTACK_ENVIRONMENT=production)"
# Every environment but production (envstack.settings.Environment; tests/unit/test_seeding.py
# keeps the two in step without this module importing the settings model).
TEST_DATA_ENVIRONMENTS = ("dev", "staging", "preview")


def unnamed_environment_problem(environment: str) -> str | None:
    """Why ``seed`` refuses a database whose environment it is not told: unset or misspelt
    (``prod``), it could be production's."""
    if environment.strip().lower() in TEST_DATA_ENVIRONMENTS:
        return None
    said = f"it is {environment.strip()!r}" if environment.strip() else "it is not set"
    return (
        f"refusing to seed: ENVSTACK_ENVIRONMENT must say which environment the database is "
        f"({', '.join(TEST_DATA_ENVIRONMENTS)}), and {said}"
    )


def is_production(environment: str) -> bool:
    return environment.strip().lower() == "production"


def seed(conninfo: str, file: Path, *, environment: str, limits: Limits | None = None) -> int:
    """Run ``file`` in one transaction and return how many rows it inserted.

    Refused, before the file is read or a connection opened, when ``environment`` is
    production; before any statement runs, when the file begins or ends transactions of its
    own. The file's statements are split as the Supabase CLI splits its seed. ``limits``: the
    migrations' bounds on its waits.
    """
    if is_production(environment):
        raise SeedRefused(REFUSAL)
    source = _read(file)
    secrets = secrets_of(conninfo)
    try:
        with connect(conninfo) as conn:
            if limits is not None:
                limits.apply(conn)
            with conn.transaction():
                return _run(conn, file, source, secrets)
    except psycopg.Error as exc:
        raise SeedError(redact(f"seeding failed: {str(exc).strip()}", secrets)) from None


def seed_in_transaction(
    conn: psycopg.Connection[Any], file: Path, *, environment: str, secrets: Sequence[str] = ()
) -> int:
    """``seed`` in the caller's open transaction on ``conn`` (``envstack reset``): nothing is
    kept unless the caller commits. Refused on production before the file is read."""
    if is_production(environment):
        raise SeedRefused(REFUSAL)
    return _run(conn, file, _read(file), secrets)


def _read(file: Path) -> str:
    try:
        with file.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise SeedError(f"cannot read seed file {file}: {exc}") from None


def _run(conn: psycopg.Connection[Any], file: Path, source: str, secrets: Sequence[str]) -> int:
    from envstack.db.migrations import controls_transaction

    statements = split_with_offsets(source)
    for statement in statements:
        if controls_transaction(statement.text):
            # Its COMMIT would keep what came before it, however the rest of the file fared
            # (and, in `reset`, the schema dropped before the seed): refused before running any.
            line = source.count("\n", 0, statement.offset) + 1
            raise SeedError(
                f"{file}:{line}: the seed controls its own transaction ({statement.text.split()[0]}); it runs in one "
                "transaction of envstack's, so a failure keeps none of it: remove its BEGIN/COMMIT"
            )
    inserted = 0
    for statement in statements:
        try:
            cursor = conn.execute(statement.text.encode())
        except psycopg.Error as exc:
            line = source.count("\n", 0, statement.offset) + 1
            message = (exc.diag.message_primary or str(exc)).strip()
            raise SeedError(redact(f"{file}:{line}: {message}; nothing was seeded", list(secrets))) from None
        if (cursor.statusmessage or "").startswith("INSERT") and cursor.rowcount > 0:
            inserted += cursor.rowcount
    return inserted
