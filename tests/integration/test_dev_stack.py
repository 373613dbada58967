"""`pulumi up --stack dev` with the real engine: database, migrations, seed, .env.local."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from envstack.db.pgserver import PostgresServer
from tests.conftest import free_port
from tests.integration.workspace import ProjectCopy, make_project_copy

pytestmark = pytest.mark.engine


def parse_dotenv(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        result[key] = value.strip('"').replace('\\"', '"').replace("\\\\", "\\")
    return result


@pytest.fixture
def dev_project(tmp_path: Path) -> Iterator[ProjectCopy]:
    project = make_project_copy(tmp_path)
    port = free_port()
    project.stack("dev", {"localdb:port": str(port)})
    started = project.envstack("localdb", "start", "--stack", "dev")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield project
    finally:
        PostgresServer(project.root / ".envstack/postgres", port=port).destroy()


def writes(conninfo: str) -> tuple[int, ...]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database"
            " WHERE datname = 'hermes_dev'"
        ).fetchone()
    assert row is not None
    return tuple(row[1:])


def test_dev_up_noop_and_destroy(dev_project: ProjectCopy) -> None:
    stack = dev_project.stack("dev")
    port = int(stack.get_config("localdb:port").value)
    admin = PostgresServer(dev_project.root / ".envstack/postgres", port=port).admin_conninfo()

    result = stack.up(on_output=dev_project.on_output)
    assert result.summary.result == "succeeded"

    env_file = dev_project.root / ".env.local"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    variables = parse_dotenv(env_file)
    for name in (
        "POSTGRES_URL",
        "POSTGRES_PRISMA_URL",
        "POSTGRES_URL_NON_POOLING",
        "DATABASE_URL",
        "POSTGRES_USER",
        "POSTGRES_HOST",
        "POSTGRES_PASSWORD",
        "POSTGRES_DATABASE",
        "JWT_SECRET",
    ):
        assert variables.get(name), name
    for name in ("POSTGRES_URL_NON_POOLING", "DATABASE_URL"):
        with psycopg.connect(variables[name]) as conn:
            leads = conn.execute("SELECT count(*) FROM hermes_leads").fetchone()
            assert leads is not None
            assert leads[0] > 0, "seeded test leads are readable"
            assert conn.execute("SELECT current_user").fetchone() == ("hermes_dev",)

    # The password and URLs are never shown, in output or in state.
    state = dev_project.export_state("dev")
    for secret in (variables["POSTGRES_PASSWORD"], variables["DATABASE_URL"]):
        assert secret not in state
        assert secret not in "".join(dev_project.output)

    before = writes(admin)
    mtime = env_file.stat().st_mtime_ns
    again = stack.up(on_output=dev_project.on_output)
    assert set((again.summary.resource_changes or {}).keys()) == {"same"}, again.summary.resource_changes
    assert writes(admin) == before, "a no-op up writes nothing to the database"
    assert env_file.stat().st_mtime_ns == mtime

    stack.destroy(on_output=dev_project.on_output)
    assert not env_file.exists()
    with psycopg.connect(admin, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'hermes_dev'").fetchone() is None
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'hermes_dev'").fetchone() is None
