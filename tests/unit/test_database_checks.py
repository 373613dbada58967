"""The database checks of `doctor` on a real PostgreSQL: what passes, and each way one fails."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from envstack.db import migrations
from envstack.ops import database_checks
from tests.conftest import ScratchDatabase


@pytest.fixture
def reader(database: ScratchDatabase) -> Iterator[str]:
    """A read-only login role as the stack makes one, on a database with one table; its URL."""
    role, password = f"{database.name}_ro", secrets.token_urlsafe(18)
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.leads (id int)")
        conn.execute(sql.SQL("ALTER TABLE public.leads OWNER TO {}").format(sql.Identifier(database.name)))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN NOINHERIT PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
        )
        conn.execute(sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT SELECT ON public.leads TO {}").format(sql.Identifier(role)))
    yield database.url.replace(f"{database.name}:{database.password}@", f"{role}:{password}@")
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def admin(database: ScratchDatabase, statement: str, role: str) -> None:
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(role)))


def test_a_read_only_role_passes(reader: str) -> None:
    check = database_checks.check_read_only("read_only_url", reader)
    assert check.status == "pass", check.detail
    assert check.detail == "reads its 1 table in public; a write is refused; no write privilege"


def test_a_write_grant_is_named(reader: str, database: ScratchDatabase) -> None:
    admin(database, "GRANT INSERT, DELETE ON public.leads TO {}", f"{database.name}_ro")
    check = database_checks.check_read_only("read_only_url", reader)
    assert (check.status, check.detail) == ("fail", "can write: DELETE, INSERT on public.leads")


def test_a_column_grant_and_a_sequence_grant_are_writes_too(reader: str, database: ScratchDatabase) -> None:
    """has_table_privilege is false for a grant on some columns only, and sequences are not
    tables: both used to pass as "no write privilege"."""
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE public.lead_numbers")
    admin(database, "GRANT UPDATE (id) ON public.leads TO {}", f"{database.name}_ro")
    admin(database, "GRANT USAGE ON SEQUENCE public.lead_numbers TO {}", f"{database.name}_ro")
    check = database_checks.check_read_only("read_only_url", reader)
    assert (check.status, check.detail) == (
        "fail",
        "can write: UPDATE on public.leads; USAGE on sequence public.lead_numbers",
    )


def test_a_check_behind_another_sessions_lock_ends_in_time(
    reader: str, database: ScratchDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration rewriting a table, or a stuck session, holds ACCESS EXCLUSIVE: the check's
    read of the table waited for it, before the sessions line could name the holder."""
    from envstack.db import connect as connecting

    monkeypatch.setattr(connecting, "CHECK_SECONDS", 1.0)
    with psycopg.connect(database.admin) as holder:
        holder.execute("LOCK TABLE public.leads IN ACCESS EXCLUSIVE MODE")
        check = database_checks.check_read_only("read_only_url", reader)
    assert check.status == "fail"
    assert check.detail.startswith("no answer within 1s: another session's lock or a long statement holds it up")


def test_a_session_that_is_not_read_only_fails(reader: str, database: ScratchDatabase) -> None:
    admin(database, "ALTER ROLE {} RESET default_transaction_read_only", f"{database.name}_ro")
    check = database_checks.check_read_only("read_only_url", reader)
    assert (check.status, check.detail) == ("fail", "a write was not refused (its session is not read-only)")


def test_a_table_it_cannot_read_is_named(reader: str, database: ScratchDatabase) -> None:
    with psycopg.connect(database.admin, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.audit (id int)")
    check = database_checks.check_read_only("read_only_url", reader)
    assert (check.status, check.detail) == ("fail", "cannot read audit")


def test_a_direct_url_is_a_session_on_the_expected_host(database: ScratchDatabase) -> None:
    where = database_checks.address_of(database.url)
    check = database_checks.check_session("direct_url", database.url, where)
    assert check.status == "pass", check.detail
    elsewhere = database_checks.Address("127.0.0.2", where.port)
    check = database_checks.check_session("direct_url", database.url, elsewhere)
    assert check.status == "fail"
    assert check.detail.startswith(f"points at {where.host}:{where.port}, not 127.0.0.2:")


def test_a_prisma_url_needs_pgbouncer_true_and_connects_without_it(database: ScratchDatabase) -> None:
    check = database_checks.check_pooled("prisma_url", database.url, None, prisma=True)
    assert (check.status, check.detail) == (
        "fail",
        "has no pgbouncer=true, which Prisma needs behind a transaction pooler",
    )
    check = database_checks.check_pooled("prisma_url", f"{database.url}?pgbouncer=true", None, prisma=True)
    assert check.status == "pass", check.detail


def test_a_pooled_url_must_be_the_projects_transaction_pooler(database: ScratchDatabase) -> None:
    where = database_checks.address_of(database.url)
    pooler = database_checks.PoolerClaim(database_checks.Address(where.host, 6543, "postgres.abc"), "transaction")
    check = database_checks.check_pooled("pooled_url", database.url, pooler)
    assert check.detail == f"points at {where.host}:{where.port}, not the project's pooler at {where.host}:6543"


def test_an_unreachable_database_fails_without_its_password(database: ScratchDatabase) -> None:
    wrong = database.url.replace(database.password, database.password[::-1])
    check = database_checks.check_session("direct_url", wrong, None)
    assert check.status == "fail"
    assert check.detail.startswith("cannot use it: ")
    assert database.password[::-1] not in check.detail


def test_tls_enforcement_is_proven_only_by_a_refusal_for_want_of_tls(database: ScratchDatabase) -> None:
    """Any failed plain connection used to pass: a wrong password or a server that is down said
    nothing about TLS. (A refusal for want of TLS passes: tests/integration/test_supabase_stacks.py.)"""
    plain = database_checks.check_tls_required("ssl enforcement", database.url)
    assert (plain.status, plain.detail.endswith("accepts a connection without TLS")) == ("fail", True)
    wrong = database.url.replace(database.password, "not-" + database.password)
    asked = database_checks.check_tls_required("ssl enforcement", wrong)
    assert asked.status == "fail"
    assert asked.detail.endswith("took a connection without TLS as far as the password: TLS is not enforced")
    down = database_checks.check_tls_required("ssl enforcement", f"postgresql://u:{database.password}@127.0.0.1:1/x")
    assert down.status == "fail"
    assert down.detail.startswith("cannot use it: ")
    assert database.password not in down.detail


def test_the_history_must_equal_the_files(tmp_path: Path, database: ScratchDatabase) -> None:
    (tmp_path / "20250101000000_one.sql").write_text("CREATE TABLE one (id int);\n")
    (tmp_path / "20250102000000_two.sql").write_text("CREATE TABLE two (id int);\n")
    migrations.apply(database.url, tmp_path, log=lambda _: None)
    check = database_checks.check_migrations("migrations", database.url, tmp_path, None)
    assert (check.status, check.detail) == ("pass", "the history equals the 2 migration files")

    (tmp_path / "20250101000000_one.sql").write_text("CREATE TABLE one (id bigint);\n")
    (tmp_path / "20250102000000_two.sql").unlink()
    (tmp_path / "20250103000000_three.sql").write_text("SELECT 1;\n")
    check = database_checks.check_migrations("migrations", database.url, tmp_path, None)
    assert check.status == "fail"
    assert check.detail == (
        "not applied: 20250103000000_three.sql; edited after they were applied: 20250101000000_one.sql; "
        "applied but not in the repository: 20250102000000 (two)"
    )
    other_tool = database_checks.check_migrations("migrations", database.url, tmp_path, "npx prisma migrate deploy")
    assert other_tool.status == "skip"


def test_the_history_read_behind_another_sessions_lock_ends_in_time(
    tmp_path: Path, database: ScratchDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session altering the history table (or stuck holding its lock) held the migrations line,
    and so all of doctor, for as long as it lasted."""
    from envstack.db import connect as connecting

    (tmp_path / "20250101000000_one.sql").write_text("CREATE TABLE one (id int);\n")
    migrations.apply(database.url, tmp_path, log=lambda _: None)
    monkeypatch.setattr(connecting, "CHECK_SECONDS", 1.0)
    with psycopg.connect(database.admin) as holder:
        holder.execute("LOCK TABLE supabase_migrations.schema_migrations IN ACCESS EXCLUSIVE MODE")
        check = database_checks.check_migrations("migrations", database.url, tmp_path, None)
    assert check.status == "fail"
    assert check.detail.startswith("no answer within 1s reading the migration history: another session's lock")
