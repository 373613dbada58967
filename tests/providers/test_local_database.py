"""The local database provider called directly, against a real PostgreSQL."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import psycopg
import pytest

from envstack.db.pgserver import PostgresServer
from envstack.errors import ResourceError
from providers.local_database import LocalDatabaseProvider
from providers.local_database_access import LocalDatabaseAccessProvider


def props(server: PostgresServer, name: str) -> dict[str, Any]:
    return {
        "admin_socket_dir": str(server.socket_dir),
        "host": server.host,
        "port": float(server.port),  # the engine hands numbers over as floats
        "database": name,
        "role": name,
    }


def outs_of(result: Any) -> dict[str, Any]:
    assert result.outs is not None
    return dict(result.outs)


def exists(server: PostgresServer, name: str) -> tuple[bool, bool]:
    with psycopg.connect(server.admin_conninfo()) as conn:
        db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
    return db is not None, role is not None


@pytest.fixture
def name() -> str:
    return f"p_{secrets.token_hex(5)}"


def test_create_read_delete(postgres_server: PostgresServer, name: str) -> None:
    provider = LocalDatabaseProvider()
    created = provider.create(props(postgres_server, name))
    with psycopg.connect(outs_of(created)["url"]) as conn:
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (name, name)
    assert outs_of(created)["password"] not in created.id
    read = provider.read(created.id, outs_of(created))
    assert read.id == created.id
    provider.delete(created.id, outs_of(created))
    assert exists(postgres_server, name) == (False, False)
    assert provider.read(created.id, outs_of(created)).id == "", "a vanished database leaves state"


def test_existing_database_and_role_are_adopted(postgres_server: PostgresServer, name: str) -> None:
    with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'previous-password'")
        conn.execute(f"CREATE DATABASE {name}")
        conn.execute("CREATE TABLE IF NOT EXISTS keep_me (n int)")
    provider = LocalDatabaseProvider()
    created = provider.create(props(postgres_server, name))
    with psycopg.connect(outs_of(created)["url"]) as conn:
        owner = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert owner == (name,)
    provider.delete(created.id, outs_of(created))
    assert exists(postgres_server, name) == (False, False)


def test_other_roles_cannot_connect(postgres_server: PostgresServer, name: str) -> None:
    provider = LocalDatabaseProvider()
    mine = provider.create(props(postgres_server, name))
    theirs = provider.create(props(postgres_server, name + "_other"))
    try:
        stranger = outs_of(mine)["url"].replace(
            f"{name}:{outs_of(mine)['password']}", f"{name}_other:{outs_of(theirs)['password']}"
        )
        with pytest.raises(psycopg.OperationalError, match="permission denied"):
            psycopg.connect(stranger).close()
    finally:
        provider.delete(mine.id, outs_of(mine))
        provider.delete(theirs.id, outs_of(theirs))


def test_renaming_the_database_replaces_it(postgres_server: PostgresServer, name: str) -> None:
    provider = LocalDatabaseProvider()
    olds = props(postgres_server, name)
    diff = provider.diff("id", olds, {**olds, "database": name + "_x"})
    assert diff.changes
    assert diff.replaces == ["database"]
    assert not provider.diff("id", olds, dict(olds)).changes


def roles(server: PostgresServer, *names: str) -> set[str]:
    with psycopg.connect(server.admin_conninfo()) as conn:
        rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY (%s)", (list(names),)).fetchall()
    return {row[0] for row in rows}


def test_the_apps_group_roles_exist_before_its_migrations(postgres_server: PostgresServer, name: str) -> None:
    """The migrations run as the database's owner, which may not create roles, and the app's
    policies name its groups: they are made first, for a stack made before they existed too,
    and go with the last database whose objects name them."""
    groups = [f"{name}_app", f"{name}_reader"]
    provider = LocalDatabaseProvider()
    created = provider.create({**props(postgres_server, name), "groups": groups})
    assert roles(postgres_server, *groups) == set(groups)
    with psycopg.connect(outs_of(created)["url"], autocommit=True) as conn:
        conn.execute("CREATE TABLE leads (id int)")
        conn.execute("ALTER TABLE leads ENABLE ROW LEVEL SECURITY")
        conn.execute(f"CREATE POLICY leads_app ON leads TO {groups[0]} USING (true)")

    # A stack from before: no groups in its state, so the next up makes them.
    other = f"{name}_other"
    earlier = outs_of(provider.create(props(postgres_server, other)))
    news = {**props(postgres_server, other), "groups": groups}
    assert provider.diff("id", earlier, news).changes
    assert provider.diff("id", earlier, news).replaces == []
    updated = outs_of(provider.update("id", earlier, news))
    assert not provider.diff("id", updated, news).changes
    with psycopg.connect(updated["url"], autocommit=True) as conn:
        conn.execute(f"CREATE TABLE notes (id int); GRANT SELECT ON notes TO {groups[1]}")

    provider.delete(created.id, outs_of(created))
    assert roles(postgres_server, *groups) == {groups[1]}, "another database of the app still names one"
    provider.delete("id", updated)
    assert roles(postgres_server, *groups) == set(), "the last database naming them is gone"


def test_the_pooler_grants_wait_for_a_grant_change_under_way(
    postgres_server: PostgresServer, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dev database's pooler grant and the login roles' grants both change the database's
    own ACL row: run at once (the engine creates both in parallel), one failed with "tuple
    concurrently updated". Both hold one lock, so this one waits for a change under way."""
    import providers.postgres_login_roles as login_roles

    monkeypatch.setattr(login_roles, "LOCK_WAIT_SECONDS", 0.5)
    database = LocalDatabaseProvider().create(props(postgres_server, name))
    access = {
        "admin_socket_dir": str(postgres_server.socket_dir),
        "port": float(postgres_server.port),
        "database": name,
        "owner": name,
    }
    with psycopg.connect(postgres_server.admin_conninfo(name), autocommit=True) as other:
        other.execute("SET application_name = 'login-roles-granting'")
        other.execute("SELECT pg_advisory_lock(hashtext('envstack:login-roles')::bigint)")
        with pytest.raises(ResourceError, match="'login-roles-granting'"):
            LocalDatabaseAccessProvider().create(access)
    created = LocalDatabaseAccessProvider().create(access)
    assert LocalDatabaseAccessProvider().read(created.id, access).id == created.id
    LocalDatabaseAccessProvider().delete(created.id, access)
    LocalDatabaseProvider().delete(database.id, outs_of(database))


def test_a_refused_role_statement_logs_no_password(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL writes a failed statement to its log: the role's password goes in as its
    SCRAM verifier, so a refusal logs no password."""
    password = secrets.token_urlsafe(24)
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _n: password)  # the provider's new password
    with pytest.raises(psycopg.Error, match="reserved"):
        LocalDatabaseProvider().create(
            {**props(postgres_server, "pg_monitor"), "database": f"p_{secrets.token_hex(5)}"}
        )
    log = postgres_server.log_file.read_text(errors="replace")
    assert "SCRAM-SHA-256$" in log, "the refused statement was logged, with the verifier"
    assert password not in log


def test_a_database_replaced_after_the_cluster_moved_is_dropped_where_it_is_now(tmp_path: Path, name: str) -> None:
    """localdb:port and the database's name changed together: the replacement deletes with the
    props recorded before, whose port has nothing listening once `localdb start` moved the cluster."""
    from tests.ports import free_ports

    first, second = free_ports(2)
    server = PostgresServer(tmp_path / "pg", port=first)
    server.start()
    try:
        provider = LocalDatabaseProvider()
        recorded = outs_of(provider.create(props(server, name)))
        moved = PostgresServer(server.directory, port=second)
        moved.start()
        provider.delete("id", recorded)
        assert exists(moved, name) == (False, False)
    finally:
        server.destroy()
