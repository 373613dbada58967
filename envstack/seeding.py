"""Loading test data. Production never receives it, whatever a caller asks."""

from __future__ import annotations

from pathlib import Path

import psycopg

from envstack.database_url import connect, password_of
from envstack.redaction import redact


class SeedRefused(RuntimeError):
    """Seeding was refused before any connection was made."""


def seed(conninfo: str, file: Path, *, environment: str) -> int:
    """Run ``file`` in one transaction; return the number of rows it inserted."""
    if environment == "production":
        raise SeedRefused("refusing to seed: production never receives test data")
    if not file.is_file():
        raise SeedRefused(f"seed file {file} does not exist")
    sql = file.read_bytes()
    try:
        with connect(conninfo) as conn, conn.transaction():
            cursor = conn.execute(sql)
            inserted = 0
            while True:
                if cursor.rowcount > 0 and (cursor.statusmessage or "").startswith("INSERT"):
                    inserted += cursor.rowcount
                if not cursor.nextset():
                    break
    except psycopg.Error as exc:
        raise RuntimeError(redact(f"seeding failed: {exc}", [password_of(conninfo)])) from None
    return inserted
