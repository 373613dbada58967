"""`envstack.ops.reset` when things go wrong, on a plain PostgreSQL database owned by a role
that is no superuser (as postgres on Supabase): a failing migration or seed leaves the database
as it was; a file that must run outside a transaction takes `migrate up`'s way; a held
migration lock or login roles' lock stops the reset before it touches anything."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from envstack.db import advisory, migrations
from envstack.db.connect import connect
from envstack.errors import DatabaseError, MigrationError, Refused
from envstack.ops.reset import reset
from envstack.ops.stack_view import StackView
from envstack.settings import load_settings
from tests.conftest import ScratchDatabase

SETTINGS = {
    "envstack:app": "hermes",
    "envstack:database": json.dumps({"provider": "supabase"}),
    "envstack:seed": "true",
    "envstack:migrations": json.dumps({"lockWait": 1}),
    "supabase:organization": "hermes-security",
    "supabase:region": "eu-central-1",
}


def stack(name: str, url: str) -> StackView:
    return StackView(
        name,
        load_settings(name, SETTINGS if name != "production" else {**SETTINGS, "envstack:seed": "false"}),
        {"migrations_url": url},
        (),
        None,
        (),
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    write(tmp_path, "20250101000000_notes.sql", "CREATE TABLE public.notes (id int PRIMARY KEY, note text);\n")
    (tmp_path / "supabase" / "seed.sql").write_text("INSERT INTO public.notes VALUES (1, 'seed');\n")
    return tmp_path


def write(root: Path, name: str, text: str) -> None:
    (root / "supabase" / "migrations" / name).write_text(text)


def notes(url: str) -> list[str]:
    with connect(url) as conn:
        return [str(r[0]) for r in conn.execute("SELECT note FROM public.notes ORDER BY id")]


def prepared(database: ScratchDatabase, root: Path) -> None:
    """Reset once, then a row and a table added by hand: what a failed reset must keep."""
    reset(stack("staging", database.url), root, say=lambda _: None)
    with connect(database.url, autocommit=True) as conn:
        conn.execute("INSERT INTO public.notes VALUES (2, 'by hand')")
        conn.execute("CREATE TABLE public.scratch (x int)")


def test_a_failing_migration_or_seed_leaves_the_database_as_it_was(database: ScratchDatabase, root: Path) -> None:
    prepared(database, root)
    history = migrations.history(database.url)
    write(root, "20250102000000_broken.sql", "ALTER TABLE public.notes ADD COLUMN extra text;\nSELECT 1/0;\n")
    with pytest.raises(MigrationError, match=r"(?s)20250102000000_broken.sql:2.*the reset was rolled back"):
        reset(stack("staging", database.url), root, say=lambda _: None)
    assert notes(database.url) == ["seed", "by hand"]
    assert migrations.history(database.url) == history
    (root / "supabase" / "migrations" / "20250102000000_broken.sql").unlink()
    (root / "supabase" / "seed.sql").write_text(
        "INSERT INTO public.notes VALUES (1, 'seed');\nINSERT INTO nowhere VALUES (1);\n"
    )
    with pytest.raises(DatabaseError, match=r"(?s)seed.sql:2.*the reset was rolled back"):
        reset(stack("staging", database.url), root, say=lambda _: None)
    assert notes(database.url) == ["seed", "by hand"]
    with connect(database.url) as conn:
        assert conn.execute("SELECT to_regclass('public.scratch')::text").fetchone() == ("scratch",)


def test_a_file_outside_a_transaction_is_applied_as_migrate_up_applies_it(
    database: ScratchDatabase, root: Path
) -> None:
    prepared(database, root)
    write(root, "20250102000000_index.sql", "CREATE INDEX CONCURRENTLY notes_note ON public.notes (note);\n")
    said: list[str] = []
    result = reset(stack("staging", database.url), root, say=said.append)
    assert not result.one_transaction
    assert "20250102000000_index.sql must run outside a transaction: applying the files" in " ".join(said)
    assert result.applied == ["20250101000000", "20250102000000"]
    assert notes(database.url) == ["seed"]
    assert [s.state for s in migrations.status(database.url, root / "supabase" / "migrations")] == ["applied"] * 2


def test_a_held_lock_or_production_stops_it_before_anything(database: ScratchDatabase, root: Path) -> None:
    prepared(database, root)
    with connect(database.url, autocommit=True) as other:
        other.execute("SET application_name = 'pulumi up elsewhere'")
        other.execute("SELECT pg_advisory_lock(%s)", (migrations.LOCK_KEY,))
        with pytest.raises(
            MigrationError, match=r"holds the migration lock: session \d+ \(application 'pulumi up elsewhere'"
        ):
            reset(stack("staging", database.url), root, say=lambda _: None)
    assert notes(database.url) == ["seed", "by hand"]
    # The login roles' lock too: reset makes their grants on public again from what it reads.
    with connect(database.url, autocommit=True) as other:
        other.execute("SET application_name = 'login roles elsewhere'")
        other.execute("SELECT pg_advisory_lock(%s)", (advisory.named_key(other, advisory.LOGIN_ROLES),))
        with pytest.raises(
            DatabaseError, match=r"changing the login roles' grants: session \d+ \(application 'login roles elsewhere'"
        ):
            reset(stack("staging", database.url), root, say=lambda _: None)
    assert notes(database.url) == ["seed", "by hand"]
    with pytest.raises(Refused, match="refusing to reset production"):
        reset(stack("production", "postgresql://nobody@127.0.0.1:1/none"), root, say=lambda _: None)


@pytest.mark.parametrize("together", [True, False], ids=["one transaction", "file by file"])
def test_the_seed_starts_from_a_fresh_sessions_settings_not_the_last_migrations(
    database: ScratchDatabase, root: Path, together: bool
) -> None:
    """pg_dump output ends search_path at ''; under `pulumi up` the seed runs in a session of its own,
    and reset must run the same seed.sql (unqualified names) the same way."""
    if not together:
        write(root, "20250102000000_index.sql", "CREATE INDEX CONCURRENTLY notes_note ON public.notes (note);\n")
    write(
        root,
        "20250103000000_dump.sql",
        "SELECT pg_catalog.set_config('search_path', '', false);\nCREATE TABLE public.tags (id int);\n",
    )
    (root / "supabase" / "seed.sql").write_text("INSERT INTO notes VALUES (1, 'seed');\n")
    result = reset(stack("staging", database.url), root, say=lambda _: None)
    assert result.one_transaction is together
    assert notes(database.url) == ["seed"]


def test_a_seed_waiting_on_a_lock_gives_up_within_the_bounds_and_nothing_is_reset(
    database: ScratchDatabase, root: Path
) -> None:
    """The seed runs after RESET ALL, which also dropped the migrations' lock_timeout: a seed
    waiting on a row or table another session holds waited for ever, with every table of public
    locked by the reset, so the app stood still until it ended."""
    prepared(database, root)
    with connect(database.url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA app_private")
        conn.execute("CREATE TABLE app_private.audit (id int)")
    (root / "supabase" / "seed.sql").write_text(
        "INSERT INTO public.notes VALUES (1, 'seed');\nINSERT INTO app_private.audit VALUES (1);\n"
    )
    bounded = {**SETTINGS, "envstack:migrations": json.dumps({"lockWait": 1, "lockTimeout": 0.5})}
    view = StackView("staging", load_settings("staging", bounded), {"migrations_url": database.url}, (), None, ())
    with connect(database.url) as holder:
        holder.execute("LOCK TABLE app_private.audit IN ACCESS EXCLUSIVE MODE")
        pid = holder.info.backend_pid
        # Without the bound the reset would wait for this session: end it after a while instead,
        # so that such a run fails on its assertion rather than hanging the suite.
        release = threading.Timer(30, _terminate, (database.admin, pid))
        release.start()
        try:
            with pytest.raises(DatabaseError, match=r"(?s)lock timeout.*the reset was rolled back"):
                reset(view, root, say=lambda _: None)
        finally:
            release.cancel()
    assert notes(database.url) == ["seed", "by hand"]


def _terminate(admin: str, pid: int) -> None:
    with connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_an_enum_value_a_later_file_and_the_seed_use_is_committed_before_them(
    database: ScratchDatabase, root: Path
) -> None:
    """`migrate up` commits each file, so a value added in one is there for the next; in one
    transaction PostgreSQL refuses it ("unsafe use of new value"), so reset goes file by file."""
    write(root, "20250102000000_mood.sql", "CREATE TYPE public.mood AS ENUM ('ok');\n")
    write(
        root, "20250103000000_great.sql", "-- a value for the happy path\nALTER TYPE public.mood ADD VALUE 'great';\n"
    )
    write(root, "20250104000000_moods.sql", "CREATE TABLE public.moods (m public.mood DEFAULT 'great');\n")
    (root / "supabase" / "seed.sql").write_text(
        "INSERT INTO public.notes VALUES (1, 'seed');\nINSERT INTO public.moods VALUES ('great');\n"
    )
    said: list[str] = []
    result = reset(stack("staging", database.url), root, say=said.append)
    assert not result.one_transaction
    assert "20250103000000_great.sql adds an enum value" in " ".join(said)
    with connect(database.url) as conn:
        assert conn.execute("SELECT m::text FROM public.moods").fetchall() == [("great",)]
