"""The alternating login roles provider called directly, against a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from providers.postgres_login_roles import LoginRolesProvider, scram_verifier
from tests.conftest import ScratchDatabase


def role_url(database: ScratchDatabase, role: str, password: str) -> str:
    rest = database.url.split("@", 1)[1]
    return f"postgresql://{role}:{password}@{rest}"


def can_login(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture
def admin_like_supabase(database: ScratchDatabase) -> ScratchDatabase:
    """The admin is like Supabase's postgres: it owns the database and may create roles, but
    is no superuser (so it is not automatically a member of the roles it creates)."""
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE leads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text)")
        conn.execute("INSERT INTO leads (name) VALUES ('a'), ('b')")
        conn.execute("ALTER TABLE leads ENABLE ROW LEVEL SECURITY")
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{database.name}" CREATEROLE')
    return database


def props(database: ScratchDatabase, access: str, rotation: int = 0, version: str = "1") -> dict[str, Any]:
    return {
        "admin_url": database.url,
        "group": f"{database.name}_{'app' if access == 'read_write' else 'ro'}",
        "access": access,
        "grants_version": version,
        "rotation": rotation,
    }


def test_read_write_pair_alternates_and_keeps_the_previous_password_until_the_next_rotation(
    admin_like_supabase: ScratchDatabase,
) -> None:
    database = admin_like_supabase
    provider = LoginRolesProvider()
    inputs = props(database, "read_write")
    assert provider.check({}, inputs).failures == []
    created = provider.create(inputs)
    outs = dict(created.outs or {})
    group = inputs["group"]
    assert outs["active"] == f"{group}_a"
    first = role_url(database, outs["active"], outs["password"])
    with psycopg.connect(first, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,), "RLS lets the app see every row"
        conn.execute("INSERT INTO leads (name) VALUES ('c')")
        conn.execute("UPDATE leads SET name = 'cc' WHERE name = 'c'")
        conn.execute("DELETE FROM leads WHERE name = 'cc'")
    assert not can_login(role_url(database, f"{group}_b", "")), "the idle role has no password yet"

    assert provider.diff(group, outs, {**inputs, "rotation": 1}).changes
    assert not provider.diff(group, outs, inputs).changes, "nothing to do without a new counter"
    rotated = dict(provider.update(group, outs, {**inputs, "rotation": 1}).outs or {})
    assert rotated["active"] == f"{group}_b"
    assert rotated["password"] != outs["password"]
    assert rotated["rotated_at"]
    second = role_url(database, rotated["active"], rotated["password"])
    with psycopg.connect(second, autocommit=True) as conn:
        conn.execute("INSERT INTO leads (name) VALUES ('d')")
    assert can_login(first), "the previously active role keeps its password: the running deployment works"

    # A table from a later migration: the grants follow.
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE later (id bigint GENERATED ALWAYS AS IDENTITY, n int)")
    again = dict(provider.update(group, rotated, {**inputs, "rotation": 1, "grants_version": "2"}).outs or {})
    assert again["password"] == rotated["password"], "a new grants version is not a rotation"
    with psycopg.connect(second, autocommit=True) as conn:
        conn.execute("INSERT INTO later (n) VALUES (1)")

    third = dict(provider.update(group, again, {**inputs, "rotation": 2, "grants_version": "2"}).outs or {})
    assert third["active"] == f"{group}_a"
    assert not can_login(first), "the password of two rotations ago is retired"
    assert can_login(second), "the one the running deployment holds still works"
    assert can_login(role_url(database, third["active"], third["password"]))

    provider.delete(group, third)
    with psycopg.connect(database.admin) as conn:
        left = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"{group}%",)).fetchall()
    assert left == []


def test_read_only_pair_reads_everything_and_cannot_write(admin_like_supabase: ScratchDatabase) -> None:
    database = admin_like_supabase
    provider = LoginRolesProvider()
    inputs = props(database, "read_only")
    outs = dict(provider.create(inputs).outs or {})
    url = role_url(database, outs["active"], outs["password"])
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,)
        with pytest.raises(psycopg.Error):
            conn.execute("INSERT INTO leads (name) VALUES ('x')")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = off")  # privileges, not only the session flag
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM leads")
    rotated = dict(provider.update(inputs["group"], outs, {**inputs, "rotation": 1}).outs or {})
    with psycopg.connect(role_url(database, rotated["active"], rotated["password"])) as conn:
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,)
        with pytest.raises(psycopg.Error):
            conn.execute("UPDATE leads SET name = 'z'")
    provider.delete(inputs["group"], rotated)


def test_an_interrupted_rotation_repeated_sets_another_password_on_the_same_idle_role(
    admin_like_supabase: ScratchDatabase,
) -> None:
    database = admin_like_supabase
    provider = LoginRolesProvider()
    inputs = props(database, "read_write")
    outs = dict(provider.create(inputs).outs or {})
    # The first attempt's result was lost with the process; the engine repeats from the old state.
    lost = dict(provider.update(inputs["group"], outs, {**inputs, "rotation": 1}).outs or {})
    repeated = dict(provider.update(inputs["group"], outs, {**inputs, "rotation": 1}).outs or {})
    assert repeated["active"] == lost["active"] == f"{inputs['group']}_b"
    assert can_login(role_url(database, repeated["active"], repeated["password"]))
    assert not can_login(role_url(database, lost["active"], lost["password"])), "the lost one was never handed out"
    assert can_login(role_url(database, outs["active"], outs["password"])), "the running deployment's role is untouched"
    provider.delete(inputs["group"], repeated)


def test_passwords_reach_the_server_only_as_scram_verifiers(admin_like_supabase: ScratchDatabase) -> None:
    verifier = scram_verifier("correct horse", salt=b"0123456789abcdef")
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert "correct horse" not in verifier
    database = admin_like_supabase
    provider = LoginRolesProvider()
    inputs = props(database, "read_write")
    outs = dict(provider.create(inputs).outs or {})
    with psycopg.connect(database.admin) as conn:
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (outs["active"],)).fetchone()
    assert stored is not None
    assert str(stored[0]).startswith("SCRAM-SHA-256$")
    provider.delete(inputs["group"], outs)
