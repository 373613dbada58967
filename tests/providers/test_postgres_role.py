"""The read-only role provider called directly, against a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from providers.postgres_role import ReadOnlyRoleProvider
from tests.conftest import ScratchDatabase


def role_url(database: ScratchDatabase, role: str, password: str) -> str:
    rest = database.url.split("@", 1)[1]
    return f"postgresql://{role}:{password}@{rest}"


def test_reads_everything_including_rls_tables_and_cannot_write(
    postgres_server: Any, database: ScratchDatabase
) -> None:
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE leads (n int); INSERT INTO leads VALUES (1), (2)")
        conn.execute("ALTER TABLE leads ENABLE ROW LEVEL SECURITY")
    # The admin is like Supabase's postgres: it owns the database and may create roles, but
    # is no superuser (so it is not automatically a member of the roles it creates).
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{database.name}" CREATEROLE')
    provider = ReadOnlyRoleProvider()
    role = f"{database.name}_ro"
    props = {"admin_url": database.url, "role": role, "grants_version": "1"}
    created = provider.create(props)
    assert created.outs is not None
    url = role_url(database, role, created.outs["password"])
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,)
        with pytest.raises(psycopg.Error):
            conn.execute("INSERT INTO leads VALUES (3)")

    # A table from a later migration becomes readable when the grants are re-applied.
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE later (n int); INSERT INTO later VALUES (7)")
    provider.update(role, created.outs, {**props, "grants_version": "2"})
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT n FROM later").fetchone() == (7,)

    provider.delete(role, created.outs)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url).close()
    with psycopg.connect(database.admin) as conn:
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
