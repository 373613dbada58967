"""Fixtures shared by every test layer: a real PostgreSQL on loopback, free ports; and how the
tests are spread over parallel workers (scripts/test.sh runs pytest-xdist)."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# After a create's answer is lost, envstack looks for the object for 30 s before making it
# again (a real server may still be at work). The local APIs act at once or not at all, so
# here a second is as good; tests of a server that acts late set their own. Inherited by
# every command and engine the tests start.
os.environ.setdefault("ENVSTACK_CREATE_SETTLE_SECONDS", "1")

from envstack.db.pgserver import PostgresServer  # noqa: E402
from tests.emulators.supabase.fixtures import supabase_api, supabase_emulator  # noqa: E402, F401
from tests.emulators.vercel.fixtures import emulate_stack, github_api, vercel_api  # noqa: E402, F401
from tests.ports import free_port  # noqa: E402

# The longest tests (a minute or more each, `pytest --durations`), handed out first: the workers
# take tests in collection order, and one of these started late would run on alone at the end
# while the other workers sit idle.
LONGEST_FIRST = (
    "tests/integration/test_rotation_under_load.py",
    "tests/integration/test_rotation_interrupted.py",
    "tests/integration/test_supabase_stacks.py",
    "tests/integration/test_health.py",
)
# Then the engine tests (CPU-bound) with the provider tests (they mostly wait: a provider
# outlasting a timeout, a poll backing off) dealt in among them, so one's waits are the other's
# CPU time. In collection order the provider tests came last, leaving a CPU idle for most of
# the suite's final minute; handed out as a block, they left one idle all the same.
BUSY = "tests/integration/"
WAITING = "tests/providers/"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that share a module- or class-scoped fixture (a stack brought up once, say) go to
    one worker together, so it is set up once rather than once per worker that gets one of
    them; the longest go out first (LONGEST_FIRST), then the engine and provider tests dealt
    together (BUSY, WAITING). Runs before pytest-xdist reads the marks (``--dist loadgroup``)."""
    items[:] = start_order(items)
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        info = item._fixtureinfo
        shared = any(
            definition.scope in ("module", "class", "package")
            for name in item.fixturenames
            for definition in info.name2fixturedefs.get(name, ())
        )
        if shared:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def start_order(items: list[pytest.Item]) -> list[pytest.Item]:
    """LONGEST_FIRST's tests, then BUSY's and WAITING's modules dealt evenly (each module at the
    fraction of its kind's tests before it, so both kinds run out together), then the rest. A
    module's tests stay together and in order, so a module fixture is set up once even where
    no worker groups them."""
    paths = [item.nodeid.split("::")[0] for item in items]
    keys: dict[str, tuple[int, float]] = {path: (0, LONGEST_FIRST.index(path)) for path in LONGEST_FIRST}
    for folder in (BUSY, WAITING):
        dealt = [path for path in paths if path.startswith(folder) and path not in LONGEST_FIRST]
        for position, path in enumerate(dealt):
            keys.setdefault(path, (1, position / len(dealt)))
    order = sorted(range(len(items)), key=lambda index: (keys.get(paths[index], (2, 0.0)), index))
    return [items[index] for index in order]


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the whole session, superuser over its socket."""
    server = PostgresServer(tmp_path_factory.mktemp("postgres"), host="127.0.0.1", port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.destroy()


@dataclass(frozen=True)
class ScratchDatabase:
    name: str
    password: str
    url: str
    admin: str  # superuser conninfo for this database, for assertions


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[ScratchDatabase]:
    name = f"t_{secrets.token_hex(6)}"
    password = secrets.token_urlsafe(18)
    with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(name)))
    url = f"postgresql://{name}:{password}@{postgres_server.host}:{postgres_server.port}/{name}"
    yield ScratchDatabase(name, password, url, postgres_server.admin_conninfo(name))
    with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
