"""The alternating login roles provider called directly, against a real PostgreSQL."""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from envstack.db.pgserver import postgres_bindir
from envstack.errors import ResourceError
from providers.login_revocation import LoginRevocationProvider, idle_member
from providers.postgres_login_roles import OLD_POLICIES_REMOVED, LoginRolesProvider, scram_verifier
from tests.conftest import ScratchDatabase
from tests.ports import free_port


def role_url(database: ScratchDatabase, role: str, password: str) -> str:
    rest = database.url.split("@", 1)[1]
    return f"postgresql://{role}:{password}@{rest}"


def can_login(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


def groups_of(database: ScratchDatabase) -> tuple[str, str]:
    return f"{database.name}_app", f"{database.name}_ro"


@pytest.fixture
def admin_like_supabase(database: ScratchDatabase) -> Iterator[ScratchDatabase]:
    """The admin is like Supabase's postgres: it owns the database and may create roles, but
    is no superuser (so it is not automatically a member of the roles it creates). Its
    migrations made ``leads``, with row level security and the app's own policies: every row
    for the read-write group, reading them for the read-only one."""
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(f'ALTER ROLE "{database.name}" CREATEROLE')
    app, reader = groups_of(database)
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE leads (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text)")
        conn.execute("INSERT INTO leads (name) VALUES ('a'), ('b')")
        conn.execute("ALTER TABLE leads ENABLE ROW LEVEL SECURITY")
        # What the app's migration does: the groups if missing, then its policies for them.
        conn.execute(f'CREATE ROLE "{app}" NOLOGIN')
        conn.execute(f'CREATE ROLE "{reader}" NOLOGIN')
        conn.execute(f'CREATE POLICY leads_app ON leads FOR ALL TO "{app}" USING (true) WITH CHECK (true)')
        conn.execute(f'CREATE POLICY leads_read ON leads FOR SELECT TO "{reader}" USING (true)')
    yield database
    # Roles belong to the server, not the scratch database: what a test left goes with it.
    with psycopg.connect(database.admin, autocommit=True) as conn:
        left = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"{database.name}\\_%",))
        for (role,) in left.fetchall():
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


CLAIM = "a-secret-only-this-stack-holds"


def props(database: ScratchDatabase, access: str, rotation: int = 0, version: str = "1") -> dict[str, Any]:
    return {
        "admin_url": database.url,
        "group": f"{database.name}_{'app' if access == 'read_write' else 'ro'}",
        "access": access,
        "grants_version": version,
        "claim": CLAIM,
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
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,), "the app's policy: every row"
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
        policies = conn.execute("SELECT policyname FROM pg_policies ORDER BY 1").fetchall()
    assert left == [(group,)], "the members are gone; the group stays, the app's policy names it"
    assert policies == [("leads_app",), ("leads_read",)], "the app's policies are untouched"


def test_a_database_made_anew_gets_the_active_role_with_its_recorded_password(
    admin_like_supabase: ScratchDatabase,
) -> None:
    """A preview branch deleted outside the stack, or a replaced project: the next up reaches a
    new database under a new admin URL, an update and not a create. Its members were made
    without a password, and the app's variables kept one no role had."""
    database = admin_like_supabase
    provider = LoginRolesProvider()
    outs = dict(provider.create(props(database, "read_write")).outs or {})
    with psycopg.connect(database.admin, autocommit=True) as conn:
        for which in ("a", "b"):
            conn.execute(f'DROP OWNED BY "{outs["group"]}_{which}"')
            conn.execute(f'DROP ROLE "{outs["group"]}_{which}"')
    news = {**props(database, "read_write"), "admin_url": database.url + "?application_name=new_database"}
    assert provider.diff(outs["group"], outs, news).changes

    after = dict(provider.update(outs["group"], outs, news).outs or {})

    assert (after["active"], after["password"]) == (outs["active"], outs["password"])
    assert can_login(role_url(database, after["active"], after["password"]))


def test_roles_of_a_renamed_app_are_made_before_the_old_ones_go(admin_like_supabase: ScratchDatabase) -> None:
    """envstack:app renamed: the running deployment's roles were dropped first, and the app
    was down until the redeploy onto the new ones finished."""
    database = admin_like_supabase
    provider = LoginRolesProvider()
    old = dict(provider.create(props(database, "read_write")).outs or {})
    renamed = {**props(database, "read_write"), "group": f"{database.name}_new"}
    plan = provider.diff(old["group"], old, renamed)
    assert plan.replaces == ["group"]
    assert plan.delete_before_replace is False
    new = dict(provider.create(renamed).outs or {})
    assert can_login(role_url(database, old["active"], old["password"])), "the running app keeps its role meanwhile"
    provider.delete(old["group"], old)
    assert can_login(role_url(database, new["active"], new["password"]))
    assert not can_login(role_url(database, old["active"], old["password"]))
    same_group = {**props(database, "read_write"), "group": new["group"], "access": "read_only"}
    assert provider.diff(new["group"], new, same_group).delete_before_replace is True, "the same names: old first"


def test_a_group_no_policy_names_is_dropped_with_its_members(admin_like_supabase: ScratchDatabase) -> None:
    database = admin_like_supabase
    provider = LoginRolesProvider()
    inputs = {**props(database, "read_write"), "group": f"{database.name}_other"}
    outs = dict(provider.create(inputs).outs or {})
    provider.delete(inputs["group"], outs)
    with psycopg.connect(database.admin) as conn:
        left = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"{inputs['group']}%",))
        assert left.fetchall() == []


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


def policies(database: ScratchDatabase) -> set[tuple[str, ...]]:
    """Every policy of the database, as pg_policies shows it: table, name, roles, command, USING, CHECK."""
    with psycopg.connect(database.admin) as conn:
        rows = conn.execute(
            "SELECT tablename, policyname, array_to_string(roles, ','), cmd, qual, coalesce(with_check, '-')"
            " FROM pg_policies"
        ).fetchall()
    return {tuple(str(v) for v in row) for row in rows}


def test_the_apps_own_policies_decide_which_rows_its_roles_see(admin_like_supabase: ScratchDatabase) -> None:
    """envstack grants the tables and writes no policy: the app's policy for its group holds the
    app's login role to the rows it allows, and a table with no policy for the read-only group
    shows that group nothing."""
    database = admin_like_supabase
    app, _ = groups_of(database)
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, tenant text NOT NULL, body text)")
        conn.execute("INSERT INTO notes VALUES (1, 'mine', 'a'), (2, 'mine', 'b'), (3, 'theirs', 'c')")
        conn.execute("ALTER TABLE notes ENABLE ROW LEVEL SECURITY")
        conn.execute(
            f'CREATE POLICY notes_own_tenant ON notes FOR ALL TO "{app}"'
            " USING (tenant = 'mine') WITH CHECK (tenant = 'mine')"
        )
    before = policies(database)
    provider = LoginRolesProvider()
    writer = dict(provider.create(props(database, "read_write")).outs or {})
    reader = dict(provider.create(props(database, "read_only")).outs or {})
    assert policies(database) == before, "envstack adds no policy"

    with psycopg.connect(role_url(database, writer["active"], writer["password"]), autocommit=True) as conn:
        assert conn.execute("SELECT id FROM notes ORDER BY id").fetchall() == [(1,), (2,)]
        assert conn.execute("UPDATE notes SET body = 'x'").rowcount == 2, "the other tenant's row is out of reach"
        assert conn.execute("DELETE FROM notes WHERE id = 3").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO notes VALUES (4, 'theirs', 'd')")
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,)
    with psycopg.connect(role_url(database, reader["active"], reader["password"])) as conn:
        assert conn.execute("SELECT count(*) FROM notes").fetchone() == (0,), "no policy names the reader"
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,)
    with psycopg.connect(database.admin) as conn:
        assert conn.execute("SELECT body FROM notes WHERE id = 3").fetchone() == ("c",)

    # Another grants version (a migration changed), and a rotation: still no policy.
    provider.update(writer["group"], writer, {**props(database, "read_write"), "grants_version": "2", "rotation": 1})
    assert policies(database) == before


def old_policies(conn: psycopg.Connection[Any], table: str, app: str, reader: str) -> None:
    """What envstack wrote on every table with row level security before issue 14."""
    conn.execute(f'CREATE POLICY "{app}_all" ON {table} FOR ALL TO "{app}" USING (true) WITH CHECK (true)')
    conn.execute(f'CREATE POLICY "{reader}_select" ON {table} FOR SELECT TO "{reader}" USING (true)')


def test_the_policies_an_earlier_envstack_added_are_removed_and_no_others(
    admin_like_supabase: ScratchDatabase,
) -> None:
    database = admin_like_supabase
    app, reader = groups_of(database)
    with psycopg.connect(database.url, autocommit=True) as conn:
        old_policies(conn, "leads", app, reader)
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, tenant text)")
        conn.execute("ALTER TABLE notes ENABLE ROW LEVEL SECURITY")
        # The app's own policies under envstack's old names, each with another definition.
        conn.execute(f'CREATE POLICY "{app}_all" ON notes FOR ALL TO "{app}" USING (tenant = \'mine\')')
        conn.execute(f'CREATE POLICY "{reader}_select" ON notes FOR SELECT TO "{reader}", "{app}" USING (true)')
    before = policies(database)
    envstacks = {
        ("leads", f"{app}_all", app, "ALL", "true", "true"),
        ("leads", f"{reader}_select", reader, "SELECT", "true", "-"),
    }
    assert envstacks <= before

    # An existing stack: its state was written by the earlier version (no mark), and the
    # migrations that add the app's own policies (leads_app, leads_read) have run.
    provider = LoginRolesProvider()
    states = {}
    for access in ("read_write", "read_only"):
        inputs = props(database, access)
        earlier = dict(provider.create(inputs).outs or {})
        earlier.pop(OLD_POLICIES_REMOVED)
        states[access] = dict(provider.update(inputs["group"], earlier, {**inputs, "grants_version": "2"}).outs or {})
        assert states[access][OLD_POLICIES_REMOVED] is True
    assert policies(database) == before - envstacks, "only envstack's own, exactly as it wrote them, are gone"
    with psycopg.connect(role_url(database, states["read_write"]["active"], states["read_write"]["password"])) as conn:
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,), "the app's own policy lets it in"

    # Once removed, envstack never looks again: a policy the app writes later under the old
    # name and definition is the app's.
    with psycopg.connect(database.url, autocommit=True) as conn:
        old_policies(conn, "leads", app, reader)
    for access, state in states.items():
        inputs = props(database, access)
        last = dict(
            provider.update(inputs["group"], state, {**inputs, "grants_version": "3", "rotation": 1}).outs or {}
        )
        provider.delete(inputs["group"], last)
    assert policies(database) == before, "nor on delete, which keeps the groups the app's policies name"


def test_a_new_resource_removes_policies_an_earlier_life_left(admin_like_supabase: ScratchDatabase) -> None:
    """A stack whose state was lost, or an old version's create that failed after its policies."""
    database = admin_like_supabase
    app, reader = groups_of(database)
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE later (id int)")
        conn.execute("ALTER TABLE later ENABLE ROW LEVEL SECURITY")
        old_policies(conn, "leads", app, reader)
        old_policies(conn, "later", app, reader)
    provider = LoginRolesProvider()
    outs = {access: dict(provider.create(props(database, access)).outs or {}) for access in ("read_write", "read_only")}
    assert {p[1] for p in policies(database)} == {"leads_app", "leads_read"}
    for state in outs.values():
        provider.delete(state["group"], state)


def schema_dump(database: ScratchDatabase) -> list[str]:
    """``pg_dump --schema-only --schema=public``, without its comments, blank lines and the
    random key of its \\restrict line."""
    dumped = subprocess.run(
        [str(postgres_bindir() / "pg_dump"), "--schema-only", "--schema=public", "--dbname", database.admin],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        line
        for line in dumped.splitlines()
        if line.strip() and not line.startswith("--") and not line.startswith(("\\restrict", "\\unrestrict"))
    ]


def only_grants(before: list[str], after: list[str]) -> list[str]:
    """The lines that differ between two dumps and are not a GRANT or REVOKE (nor the default
    privileges that grant to future tables)."""
    changed = set(before) ^ set(after)
    grants = ("GRANT ", "REVOKE ", "ALTER DEFAULT PRIVILEGES ")
    return sorted(line for line in changed if not line.startswith(grants))


def test_a_schema_dump_after_the_roles_differs_from_the_migrations_one_only_in_grants(
    admin_like_supabase: ScratchDatabase,
) -> None:
    database = admin_like_supabase
    migrated = schema_dump(database)
    provider = LoginRolesProvider()
    outs = [provider.create(props(database, access)).outs or {} for access in ("read_write", "read_only")]
    after = schema_dump(database)
    assert after != migrated, "the roles' grants are in the dump"
    assert only_grants(migrated, after) == []
    assert [line for line in after if "POLICY" in line] == [line for line in migrated if "POLICY" in line]
    for state in outs:
        provider.delete(str(state["group"]), dict(state))


def test_destroying_a_stack_an_earlier_envstack_updated_last_removes_its_policies_and_its_group(
    admin_like_supabase: ScratchDatabase,
) -> None:
    database = admin_like_supabase
    inputs = {**props(database, "read_write"), "group": f"{database.name}_old"}
    provider = LoginRolesProvider()
    earlier = dict(provider.create(inputs).outs or {})
    earlier.pop(OLD_POLICIES_REMOVED)
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(
            f'CREATE POLICY "{inputs["group"]}_all" ON leads TO "{inputs["group"]}" USING (true) WITH CHECK (true)'
        )
    provider.delete(inputs["group"], earlier)
    assert {p[1] for p in policies(database)} == {"leads_app", "leads_read"}
    with psycopg.connect(database.admin) as conn:
        left = conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (f"{inputs['group']}%",))
        assert left.fetchall() == [], "no policy of the app names it: the group goes too"


def login_error(url: str) -> str:
    """The error a login with ``url`` fails with ('' when it succeeds)."""
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        return str(exc)
    return ""


def ended(conn: psycopg.Connection[Any], timeout: float = 5.0) -> bool:
    """Whether the server ended ``conn``'s session (the signal may take a moment to land)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return True
        time.sleep(0.1)
    return False


def revocation(database: ScratchDatabase, group: str, active: str, rotation: int, revoked: int) -> dict[str, Any]:
    return {
        "admin_url": database.url,
        "group": group,
        "active": active,
        "rotation": rotation,
        "revoked": revoked,
        "drain_seconds": 0.0,
        "hold": None,
    }


@pytest.mark.parametrize("access", ["read_write", "read_only"])
def test_a_revoked_previous_role_is_refused_at_once_and_its_sessions_end_until_its_next_rotation(
    admin_like_supabase: ScratchDatabase, access: str
) -> None:
    database = admin_like_supabase
    roles, revoker = LoginRolesProvider(), LoginRevocationProvider()
    inputs = props(database, access)
    group = inputs["group"]
    first = dict(roles.create(inputs).outs or {})
    first_url = role_url(database, first["active"], first["password"])
    second = dict(roles.update(group, first, {**inputs, "rotation": 1}).outs or {})
    second_url = role_url(database, second["active"], second["password"])
    # The old deployment's pooled connection, still open when the new deployment is live.
    held = psycopg.connect(first_url, autocommit=True)
    try:
        assert held.execute("SELECT count(*) FROM leads").fetchone() == (2,)

        # Not asked for (revoked names no rotation, or an earlier one): nothing changes.
        quiet = revocation(database, group, second["active"], 1, 0)
        outs = dict(revoker.create(quiet).outs or {})
        assert outs["revoked_role"] is None
        assert "keeps its password" in outs["status"]
        assert can_login(first_url)
        assert not ended(held, timeout=0.3)

        asked = revocation(database, group, second["active"], 1, 1)
        assert revoker.diff(group, outs, asked).changes
        revoked = dict(revoker.update(group, outs, asked).outs or {})
        assert revoked["revoked_role"] == first["active"]
        assert revoked["revoked_rotation"] == 1
        assert revoked["revoked_at"]
        assert "is revoked" in revoked["status"]
        refused = login_error(first_url)
        assert "password authentication failed" in refused or "not permitted to log in" in refused, refused
        assert ended(held), "the previous role's open session was ended"
        assert can_login(second_url), "the active role is untouched"
        with psycopg.connect(database.admin) as conn:
            row = conn.execute(
                "SELECT rolcanlogin, rolpassword IS NULL FROM pg_authid WHERE rolname = %s", (first["active"],)
            ).fetchone()
            privileges = conn.execute("SELECT pg_has_role(%s, %s, 'USAGE')", (database.name, first["active"]))
            has_its_privileges = privileges.fetchone()
        assert row == (False, True), "NOLOGIN, and no password is known for it"
        assert has_its_privileges == (False,), "the admin gave back the membership it took to end the sessions"

        # Again (a repeated run): the same role stays locked, the active one works, nothing fails.
        assert not revoker.diff(group, revoked, asked).changes
        again = dict(revoker.update(group, revoked, {**asked, "admin_url": database.url}).outs or {})
        assert again["revoked_role"] == first["active"]
        assert not can_login(first_url)
        assert can_login(second_url)

        # The next rotation makes the revoked role the active one again, with LOGIN and a new password.
        third = dict(roles.update(group, second, {**inputs, "rotation": 2}).outs or {})
        assert third["active"] == first["active"]
        assert can_login(role_url(database, third["active"], third["password"]))
        assert can_login(second_url), "without a revocation, the previous role keeps its password"
        later = dict(revoker.update(group, again, revocation(database, group, third["active"], 2, 1)).outs or {})
        assert later["revoked_role"] is None, "what was revoked for rotation 1 is the active role now"
        assert can_login(second_url)
        assert can_login(role_url(database, third["active"], third["password"]))
    finally:
        held.close()
    roles.delete(group, third)


def test_a_revocation_never_touches_the_active_role_and_holds_while_deployments_are_not_redeployed(
    admin_like_supabase: ScratchDatabase,
) -> None:
    database = admin_like_supabase
    roles, revoker = LoginRolesProvider(), LoginRevocationProvider()
    inputs = props(database, "read_write")
    group = inputs["group"]
    first = dict(roles.create(inputs).outs or {})
    second = dict(roles.update(group, first, {**inputs, "rotation": 1}).outs or {})
    held = {**revocation(database, group, second["active"], 1, 1), "hold": "vercel:redeploy is false"}
    outs = dict(revoker.create(held).outs or {})
    assert outs["revoked_role"] is None
    assert "vercel:redeploy is false" in outs["status"]
    assert can_login(role_url(database, first["active"], first["password"]))
    with pytest.raises(ResourceError, match="is not one of its members"):
        idle_member(group, "postgres")
    assert idle_member(group, f"{group}_a") == f"{group}_b"
    assert revoker.check({}, {**held, "revoked": -1}).failures
    roles.delete(group, second)


def test_a_stale_session_holding_the_roles_lock_fails_the_step_naming_it(
    admin_like_supabase: ScratchDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    import providers.postgres_login_roles as login_roles

    monkeypatch.setattr(login_roles, "LOCK_WAIT_SECONDS", 0.5)
    with psycopg.connect(admin_like_supabase.url, autocommit=True) as stale:
        stale.execute("SET application_name = 'a-killed-pulumi-up'")
        stale.execute("SELECT pg_advisory_lock(hashtext('envstack:login-roles')::bigint)")
        pid = stale.info.backend_pid
        started = time.monotonic()
        with pytest.raises(ResourceError) as caught:
            LoginRolesProvider().create(props(admin_like_supabase, "read_write"))
        assert time.monotonic() - started < 30, "the wait is bounded"
        message = str(caught.value)
        assert f"session {pid}" in message
        assert "'a-killed-pulumi-up'" in message
        assert f"pg_terminate_backend({pid})" in message
    # Once the stale session is gone the same step goes through.
    outs = LoginRolesProvider().create(props(admin_like_supabase, "read_write")).outs
    assert outs is not None
    assert can_login(role_url(admin_like_supabase, outs["active"], outs["password"]))


@pytest.mark.parametrize(
    ("by_hand", "found"),
    [
        ("ALTER ROLE {role} PASSWORD 'set-in-an-incident'", "no longer logs in with the password the app holds"),
        ("ALTER ROLE {role} NOLOGIN", "may no longer log in"),
        ("DROP ROLE {role}", "was dropped"),
    ],
)
def test_a_refresh_finds_the_active_role_changed_by_hand_and_the_update_sets_its_password_back(
    admin_like_supabase: ScratchDatabase, by_hand: str, found: str
) -> None:
    database = admin_like_supabase
    provider = LoginRolesProvider()
    inputs = props(database, "read_write")
    outs = dict(provider.create(inputs).outs or {})
    active, password = outs["active"], outs["password"]
    intact = dict(provider.read(outs["group"], outs).outs or {})
    assert intact["changed_outside"] is None
    assert not provider.diff(outs["group"], intact, inputs).changes

    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(by_hand.format(role=f'"{active}"'))
    assert not can_login(role_url(database, active, password))
    seen = dict(provider.read(outs["group"], outs).outs or {})
    assert seen["changed_outside"] == f"{active} {found}"
    assert provider.diff(outs["group"], seen, inputs).changes, "the next up sets it back"

    repaired = dict(provider.update(outs["group"], seen, inputs).outs or {})
    assert (repaired["active"], repaired["password"]) == (active, password), "the app's variables stay as they are"
    assert "changed_outside" not in repaired
    assert can_login(role_url(database, active, password))
    with psycopg.connect(role_url(database, active, password)) as conn:
        assert conn.execute("SELECT count(*) FROM leads").fetchone() == (2,), "its grants came back with it"
    assert not provider.diff(outs["group"], repaired, inputs).changes


def test_a_refresh_that_cannot_reach_the_database_keeps_the_state_and_says_so(
    admin_like_supabase: ScratchDatabase,
) -> None:
    database = admin_like_supabase
    provider = LoginRolesProvider()
    outs = dict(provider.create(props(database, "read_write")).outs or {})
    nowhere = f"postgresql://postgres:{secrets.token_urlsafe(12)}@127.0.0.1:{free_port()}/postgres"
    unreachable = {**outs, "admin_url": nowhere}
    seen = provider.read(outs["group"], unreachable)
    assert dict(seen.outs or {}) == unreachable


def test_an_expiry_set_by_hand_is_found_and_lifted_and_a_conninfo_admin_works_too(
    admin_like_supabase: ScratchDatabase,
) -> None:
    """The admin connection as a key=value conninfo over TCP (not a URL): the login is checked
    all the same; a VALID UNTIL in the past refuses it, and the repair lifts it."""
    from psycopg.conninfo import make_conninfo

    database = admin_like_supabase
    provider = LoginRolesProvider()
    inputs = {**props(database, "read_write"), "admin_url": make_conninfo(database.url)}
    outs = dict(provider.create(inputs).outs or {})
    active, password = outs["active"], outs["password"]
    with psycopg.connect(database.url, autocommit=True) as conn:
        conn.execute(f"ALTER ROLE \"{active}\" VALID UNTIL '2000-01-01'")
    seen = dict(provider.read(outs["group"], outs).outs or {})
    assert seen["changed_outside"] == f"{active} no longer logs in with the password the app holds"
    provider.update(outs["group"], seen, inputs)
    assert can_login(role_url(database, active, password))


def member_state(database: ScratchDatabase, role: str) -> tuple[Any, ...] | None:
    """What a role is: may it log in, its password verifier, its groups, its comment."""
    with psycopg.connect(database.admin) as conn:
        return conn.execute(
            "SELECT a.rolcanlogin, a.rolpassword, "
            "ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid "
            "WHERE m.member = a.oid ORDER BY 1), shobj_description(a.oid, 'pg_authid') "
            "FROM pg_authid a WHERE a.rolname = %s",
            (role,),
        ).fetchone()


def test_a_member_someone_else_made_is_refused_and_left_as_it_was(admin_like_supabase: ScratchDatabase) -> None:
    """A role named like the stack's idle member, made by hand (or by another stack on the same
    server): the name is no proof, so the create changes nothing, that role included."""
    database = admin_like_supabase
    inputs = props(database, "read_write")
    theirs = f"{inputs['group']}_b"
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE \"{theirs}\" LOGIN PASSWORD 'theirs-and-only-theirs'")
        conn.execute(f"COMMENT ON ROLE \"{theirs}\" IS 'managed by envstack'")
    before = member_state(database, theirs)
    provider = LoginRolesProvider()

    with pytest.raises(ResourceError, match=f"database role {theirs} already exists and nothing proves it"):
        provider.create(inputs)

    assert member_state(database, theirs) == before, "their role is as it was"
    assert can_login(role_url(database, theirs, "theirs-and-only-theirs"))
    assert member_state(database, f"{inputs['group']}_a") is None, "nothing half-done: no member made"
    # On a server that is the stack's own (a project it created, the dev server), it is an
    # earlier run's: taken, and tagged.
    taken = dict(provider.create({**inputs, "claim_existing": True}).outs or {})
    assert can_login(role_url(database, taken["active"], taken["password"]))
    provider.create(inputs)  # tagged now: proven without claim_existing
    provider.delete(taken["group"], taken)
    # Another stack's roles (another claim) are someone else's just the same.
    outs = dict(provider.create(inputs).outs or {})
    with pytest.raises(ResourceError, match="nothing proves"):
        provider.create({**inputs, "claim": "another-stacks-own-secret"})
    assert can_login(role_url(database, outs["active"], outs["password"])), "the first stack's role is untouched"
    provider.delete(outs["group"], outs)


def test_two_stacks_of_one_app_on_one_server_never_take_each_others_roles(
    admin_like_supabase: ScratchDatabase,
) -> None:
    """Two dev stacks of one envstack:app on the project-managed server: a database each, the
    same member names (roles are the server's). The second one's create changes nothing and
    says whose they are; the first one's app still logs in. The first, its state lost (a new
    claim), on its own database, takes them back."""
    database = admin_like_supabase
    first_inputs = {**props(database, "read_write"), "claim_existing": True}
    provider = LoginRolesProvider()
    first = dict(provider.create(first_inputs).outs or {})
    members = [f"{first_inputs['group']}_{which}" for which in ("a", "b")]
    other = f"{database.name}_other"
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{other}" OWNER "{database.name}"')
    try:
        second_inputs = {
            **first_inputs,
            "admin_url": f"{database.url.rsplit('/', 1)[0]}/{other}",
            "claim": "the-second-stacks-own-secret",
        }
        before = [member_state(database, name) for name in members]

        with pytest.raises(ResourceError, match=f"serve database {database.name}, another stack's on this server"):
            provider.create(second_inputs)

        assert [member_state(database, name) for name in members] == before, "their roles are as they were"
        assert can_login(role_url(database, first["active"], first["password"])), "the first stack's app logs in"
        again = dict(provider.create({**first_inputs, "claim": "the-first-stacks-new-secret"}).outs or {})
        assert can_login(role_url(database, again["active"], again["password"]))
        provider.delete(again["group"], again)
    finally:
        with psycopg.connect(database.admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')


def test_an_earlier_run_whose_state_is_gone_is_found_by_its_tag(admin_like_supabase: ScratchDatabase) -> None:
    database = admin_like_supabase
    inputs = props(database, "read_write")
    provider = LoginRolesProvider()
    provider.create(inputs)  # its answer never reached the state

    outs = dict(provider.create(inputs).outs or {})

    assert can_login(role_url(database, outs["active"], outs["password"]))
    provider.delete(outs["group"], outs)


def test_members_made_before_tags_get_theirs_at_the_next_update(admin_like_supabase: ScratchDatabase) -> None:
    """A stack from before tags: its state records the members, which carry no tag."""
    database = admin_like_supabase
    inputs = props(database, "read_write")
    provider = LoginRolesProvider()
    old = dict(provider.create(inputs).outs or {})
    group = inputs["group"]
    with psycopg.connect(database.admin, autocommit=True) as conn:
        for which in ("a", "b"):
            conn.execute(f'COMMENT ON ROLE "{group}_{which}" IS NULL')
    recorded = {k: v for k, v in old.items() if k != "claim"}

    updated = dict(provider.update(group, recorded, {**inputs, "rotation": 1}).outs or {})

    assert can_login(role_url(database, updated["active"], updated["password"]))
    members = [member_state(database, f"{group}_{which}") for which in ("a", "b")]
    assert all(m is not None and m[3] for m in members), "both tagged"
    again = dict(provider.create(inputs).outs or {})  # its state lost after this version's update
    assert again["active"] == f"{group}_a"
    provider.delete(group, again)
