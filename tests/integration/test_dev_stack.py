"""`pulumi up --stack dev` with the real engine: database, migrations, seed, .env.local, and a dev
that behaves like staging (a transaction pooler, staging's login roles, doctor's checks)."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from pulumi import automation as auto

from envstack.db.pgbouncer import DevPooler
from envstack.db.pgserver import PostgresServer
from envstack.variables import DEFAULT_NAMES
from tests.integration.workspace import ROOT, ProjectCopy, make_project_copy
from tests.ports import free_ports
from tests.program.test_dev_variables import documented_dev_exceptions

pytestmark = pytest.mark.engine

# The last commit before the dev pooler and login roles (issue 19): the shape a developer's
# existing dev stack has.
PREVIOUS_VERSION = "6d19b20f1e31962b72658702a0ed91a950bd4c7e"  # the last commit before issue 19
_PROGRAM = ("__main__.py", "components", "providers", "envstack")


def parse_dotenv(path: Path) -> dict[str, str]:
    result = {}
    for line in path.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        result[key] = value.strip('"').replace('\\"', '"').replace("\\\\", "\\")
    return result


def _ports() -> dict[str, str]:
    keys = ("localdb:port", "localdb:poolerPort", "localdb:sessionPoolerPort")
    return {key: str(port) for key, port in zip(keys, free_ports(len(keys)), strict=True)}


def _server(project: ProjectCopy, ports: dict[str, str]) -> PostgresServer:
    return PostgresServer(project.root / ".envstack/postgres", port=int(ports["localdb:port"]))


def _pooler(project: ProjectCopy, ports: dict[str, str]) -> DevPooler:
    return DevPooler(
        _server(project, ports),
        port=int(ports["localdb:poolerPort"]),
        session_port=int(ports["localdb:sessionPoolerPort"]),
    )


@pytest.fixture
def dev_project(tmp_path: Path) -> Iterator[ProjectCopy]:
    project = make_project_copy(tmp_path)
    ports = _ports()
    project.stack("dev", ports)
    started = project.envstack("localdb", "start", "--stack", "dev")
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield project
    finally:
        _pooler(project, ports).stop()
        _server(project, ports).destroy()


def writes(conninfo: str) -> tuple[int, ...]:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute(
            "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted FROM pg_stat_database"
            " WHERE datname = 'hermes_dev'"
        ).fetchone()
    assert row is not None
    return tuple(row[1:])


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def test_dev_up_noop_and_destroy(dev_project: ProjectCopy) -> None:
    stack = dev_project.stack("dev")
    config = {key: int(stack.get_config(key).value) for key in ("localdb:port", "localdb:poolerPort")}
    session_port = int(stack.get_config("localdb:sessionPoolerPort").value)
    admin = PostgresServer(dev_project.root / ".envstack/postgres", port=config["localdb:port"]).admin_conninfo()

    result = stack.up(on_output=dev_project.on_output)
    assert result.summary.result == "succeeded"

    env_file = dev_project.root / ".env.local"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    variables = parse_dotenv(env_file)
    # Every name staging writes to Vercel, but the ones the README says have no local meaning.
    assert set(variables) == set(DEFAULT_NAMES) - documented_dev_exceptions()
    assert all(variables.values()), [name for name, value in variables.items() if not value]
    # Where each URL goes: the pooled ones to the transaction PgBouncer, the non-pooled one
    # straight to PostgreSQL, the read-only one to the session PgBouncer.
    assert port_of(variables["POSTGRES_URL"]) == port_of(variables["DATABASE_URL"]) == config["localdb:poolerPort"]
    assert port_of(variables["POSTGRES_PRISMA_URL"]) == config["localdb:poolerPort"]
    assert urlsplit(variables["POSTGRES_PRISMA_URL"]).query == "pgbouncer=true"
    assert port_of(variables["POSTGRES_URL_NON_POOLING"]) == config["localdb:port"]
    assert port_of(variables["POSTGRES_READ_REPLICA_URL"]) == session_port
    assert variables["POSTGRES_USER"] == "hermes_app_a", "staging's login role, not the database's owner"
    for name in ("POSTGRES_URL_NON_POOLING", "DATABASE_URL", "POSTGRES_READ_REPLICA_URL"):
        with psycopg.connect(variables[name], prepare_threshold=None) as conn:
            leads = conn.execute("SELECT count(*) FROM hermes_leads").fetchone()
            assert leads is not None
            assert leads[0] > 0, f"seeded test leads are readable through {name}"
            expected = "hermes_reader_a" if name == "POSTGRES_READ_REPLICA_URL" else "hermes_app_a"
            assert conn.execute("SELECT current_user").fetchone() == (expected,)

    # The password and URLs are never shown, in output or in state.
    state = dev_project.export_state("dev")
    for secret in (variables["POSTGRES_PASSWORD"], variables["DATABASE_URL"], variables["POSTGRES_READ_REPLICA_URL"]):
        assert secret not in state
        assert secret not in "".join(dev_project.output)

    before = writes(admin)
    mtime = env_file.stat().st_mtime_ns
    again = stack.up(on_output=dev_project.on_output)
    assert set((again.summary.resource_changes or {}).keys()) == {"same"}, again.summary.resource_changes
    assert writes(admin) == before, "a no-op up writes nothing to the database"
    assert env_file.stat().st_mtime_ns == mtime

    # The app's role locked by hand: `pulumi up --refresh` sees it (the login roles are made
    # over the server's socket, a key=value conninfo) and lets it in again, same password.
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('ALTER ROLE "hermes_app_a" NOLOGIN')
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(variables["POSTGRES_URL_NON_POOLING"]).close()
    output_before = len(dev_project.output)
    stack.up(on_output=dev_project.on_output, refresh=True)
    with psycopg.connect(variables["POSTGRES_URL_NON_POOLING"]) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("hermes_app_a",)
    assert parse_dotenv(env_file) == variables, "the same password: nothing for the app to change"
    said = "".join(dev_project.output[output_before:])
    assert "hermes_app_a may no longer log in" in said
    assert variables["POSTGRES_PASSWORD"] not in said

    # Another port (README, "Port 54329 in use"): the next `make dev` moves the same cluster and
    # points the app at it, its data kept; nothing is dropped and made again.
    new_port = free_ports(1)[0]
    stack.set_config("localdb:port", auto.ConfigValue(value=str(new_port)))
    moved = dev_project.envstack("localdb", "start", "--stack", "dev")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    moved_server = PostgresServer(dev_project.root / ".envstack/postgres", port=new_port)
    admin = moved_server.admin_conninfo()  # for the checks after destroy
    with psycopg.connect(moved_server.admin_conninfo("hermes_dev"), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO hermes_leads (lead_id, full_name, email, source)"
            " VALUES ('test-lead-moved', 'Moved', 'moved@example.com', 'contact_form')"
        )
    after_move = stack.up(on_output=dev_project.on_output)
    changes = after_move.summary.resource_changes or {}
    assert not {"delete", "replace", "create", "create-replacement", "delete-replaced"} & set(changes), changes
    moved_variables = parse_dotenv(env_file)
    assert port_of(moved_variables["POSTGRES_URL_NON_POOLING"]) == new_port
    assert moved_variables["POSTGRES_PASSWORD"] == variables["POSTGRES_PASSWORD"]
    for name in ("POSTGRES_URL_NON_POOLING", "DATABASE_URL"):
        with psycopg.connect(moved_variables[name], prepare_threshold=None) as conn:
            found = conn.execute("SELECT full_name FROM hermes_leads WHERE lead_id = 'test-lead-moved'").fetchone()
            assert found == ("Moved",), name
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(variables["POSTGRES_URL_NON_POOLING"], connect_timeout=5).close()

    stack.destroy(on_output=dev_project.on_output)
    assert not env_file.exists()
    with psycopg.connect(admin, autocommit=True) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'hermes_dev'").fetchone() is None
        for role in ("hermes_dev", "hermes_app_a", "hermes_app_b", "hermes_reader_a", "hermes_reader_b"):
            assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None, role


def _prepared_twice(url: str) -> None:
    """What a driver does with a named prepared statement: parse it once, run it again later
    (psycopg's prepare=True, node-postgres's named queries, Prisma without pgbouncer=true)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(2):
            row = conn.execute("SELECT count(*) FROM hermes_leads WHERE status = %s", ("new",), prepare=True).fetchone()
            assert row is not None
            assert row[0] >= 0


def test_dev_like_staging(dev_project: ProjectCopy) -> None:
    """(A short name: the server's socket lives under the test's directory, 107 bytes at most.)
    Prepared statements fail through the transaction pooler, the reader cannot write, doctor
    runs staging's database checks."""
    stack = dev_project.stack("dev")
    stack.up(on_output=dev_project.on_output)
    variables = parse_dotenv(dev_project.root / ".env.local")

    _prepared_twice(variables["POSTGRES_URL_NON_POOLING"])  # a session keeps its statements
    with pytest.raises(psycopg.errors.InvalidSqlStatementName, match="does not exist"):
        _prepared_twice(variables["POSTGRES_URL"])  # the next transaction's server connection has none
    # Session state is gone by the next transaction too, as on staging's transaction pooler.
    with psycopg.connect(variables["DATABASE_URL"], autocommit=True, prepare_threshold=None) as conn:
        # (Not application_name or TimeZone: PgBouncer keeps those per client and sets them again.)
        conn.execute("SET envstack.probe = 'kept?'")
        assert conn.execute("SELECT current_setting('envstack.probe', true)").fetchone() != ("kept?",)

    # A write through the read-only URL is refused, as on staging.
    reader = psycopg.connect(variables["POSTGRES_READ_REPLICA_URL"], autocommit=True)
    with reader as conn, pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        conn.execute(
            "INSERT INTO hermes_leads (lead_id, full_name, email, source) "
            "VALUES ('test-lead-ro', 'Read Only', 'ro@example.com', 'contact_form')"
        )
    # The app's own role writes through the pooler.
    with psycopg.connect(variables["DATABASE_URL"], autocommit=True, prepare_threshold=None) as conn:
        conn.execute(
            "INSERT INTO hermes_leads (lead_id, full_name, email, source) "
            "VALUES ('test-lead-rw', 'Read Write', 'rw@example.com', 'contact_form')"
        )

    # doctor runs staging's database checks on dev.
    doctor = dev_project.envstack("doctor", "--stack", "dev", "--json")
    results = {c["check"]: (c["status"], c["detail"]) for c in json.loads(doctor.stdout)["checks"]}
    for name in ("pooled_url", "prisma_url", "direct_url", "read_only_url", "migrations"):
        assert results[name][0] == "pass", (name, results[name])
    # The connection checks read the app's sessions as the owner, as postgres on Supabase.
    assert doctor.returncode == 0, results
    pooler_port = stack.get_config("localdb:poolerPort").value
    assert f"transaction pooler 127.0.0.1:{pooler_port}" in results["pooled_url"][1]
    assert "a write is refused" in results["read_only_url"][1]
    assert "a real session" in results["direct_url"][1]
    for secret in (variables["POSTGRES_PASSWORD"], variables["DATABASE_URL"]):
        assert secret not in doctor.stdout + doctor.stderr

    # A pooler started in session mode on the transaction port is named by doctor.
    ini = _pooler(dev_project, {k: stack.get_config(k).value for k in _ports()}).bouncers()["transaction"].ini_file
    ini.write_text(ini.read_text().replace("pool_mode = transaction", "pool_mode = session"))
    doctor = dev_project.envstack("doctor", "--stack", "dev", "--json")
    results = {c["check"]: (c["status"], c["detail"]) for c in json.loads(doctor.stdout)["checks"]}
    assert results["pooled_url"] == ("fail", "the project's pooler on that port runs in session mode, not transaction")

    # `localdb start` again (every `make dev`) puts the configuration back and restarts that PgBouncer.
    again = dev_project.envstack("localdb", "start", "--stack", "dev")
    assert again.returncode == 0, again.stderr
    assert "pool_mode = transaction" in ini.read_text()
    with pytest.raises(psycopg.errors.InvalidSqlStatementName):
        _prepared_twice(variables["POSTGRES_URL"])


def test_dev_pooler_managed(dev_project: ProjectCopy) -> None:
    """`localdb start` is idempotent; `status` and `stop` cover the pooler."""
    stack = dev_project.stack("dev")
    ports = {k: stack.get_config(k).value for k in _ports()}
    pooler = _pooler(dev_project, ports)
    pids = {mode: bouncer.pid() for mode, bouncer in pooler.bouncers().items()}
    assert all(pids.values()), pids
    again = dev_project.envstack("localdb", "start", "--stack", "dev")
    assert again.returncode == 0, again.stderr
    assert {mode: b.pid() for mode, b in pooler.bouncers().items()} == pids, "a re-run leaves a running pooler alone"
    status = dev_project.envstack("localdb", "status", "--stack", "dev")
    assert status.returncode == 0
    assert f"PgBouncer on 127.0.0.1:{ports['localdb:poolerPort']} (transaction mode): running" in status.stdout
    assert f"PgBouncer on 127.0.0.1:{ports['localdb:sessionPoolerPort']} (session mode): running" in status.stdout
    stopped = dev_project.envstack("localdb", "stop", "--stack", "dev")
    assert stopped.returncode == 0, stopped.stderr
    status = dev_project.envstack("localdb", "status", "--stack", "dev")
    assert status.returncode == 3
    assert "(transaction mode): stopped" in status.stdout
    assert "(session mode): stopped" in status.stdout

    # After a reboot a pid file may name a pid that some other program runs now: it is not
    # taken for the pooler, never signalled, and the pooler starts over it.
    other = subprocess.Popen(["sleep", "120"])
    try:
        pooler.bouncers()["transaction"].pid_file.write_text(f"{other.pid}\n")
        status = dev_project.envstack("localdb", "status", "--stack", "dev")
        assert "(transaction mode): stopped" in status.stdout
        assert dev_project.envstack("localdb", "stop", "--stack", "dev").returncode == 0
        started = dev_project.envstack("localdb", "start", "--stack", "dev")
        assert started.returncode == 0, started.stderr
        assert pooler.bouncers()["transaction"].pid() not in (None, other.pid)
        assert other.poll() is None, "the other program was signalled"
    finally:
        other.kill()
        other.wait()
        dev_project.envstack("localdb", "stop", "--stack", "dev")


def _overlay(source: Path, root: Path) -> None:
    """The program's files from ``source`` over the copy's (files only one of them has stay)."""
    for name in _PROGRAM:
        if (source / name).is_dir():
            shutil.copytree(source / name, root / name, dirs_exist_ok=True)
        else:
            shutil.copy2(source / name, root / name)


def test_dev_upgrade(dev_project: ProjectCopy, tmp_path: Path) -> None:
    """A dev stack of the previous version comes up in the new shape, its data kept."""
    present = subprocess.run(
        ["git", "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_VERSION}^{{commit}}"], capture_output=True, check=False
    )
    if present.returncode != 0:
        pytest.skip(
            f"needs the previous version, commit {PREVIOUS_VERSION[:7]}, in the checkout (a shallow clone lacks it)"
        )
    old = tmp_path / "previous"
    old.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_VERSION, *_PROGRAM],
        capture_output=True,
        check=False,
    )
    assert archive.returncode == 0, f"git archive {PREVIOUS_VERSION}: {archive.stderr.decode()}"
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    shutil.rmtree(dev_project.root / "providers")  # only the previous version's providers in state
    _overlay(old, dev_project.root)
    stack = dev_project.stack("dev")
    pooler_ports = {key: stack.get_config(key).value for key in ("localdb:poolerPort", "localdb:sessionPoolerPort")}
    for key in pooler_ports:
        stack.remove_config(key)  # settings the previous version did not know
    first = stack.up(on_output=dev_project.on_output)
    assert first.summary.result == "succeeded"
    before = parse_dotenv(dev_project.root / ".env.local")
    assert before["POSTGRES_USER"] == "hermes_dev", "the previous version's app logged in as the owner"
    with psycopg.connect(before["POSTGRES_URL_NON_POOLING"], autocommit=True) as conn:
        conn.execute(
            "INSERT INTO hermes_leads (lead_id, full_name, email, source) "
            "VALUES ('test-lead-kept', 'Kept Across', 'kept@example.com', 'contact_form')"
        )

    _overlay(ROOT, dev_project.root)
    for key, value in pooler_ports.items():
        stack.set_config(key, auto.ConfigValue(value=value))
    started = dev_project.envstack("localdb", "start", "--stack", "dev")
    assert started.returncode == 0, started.stderr
    second = stack.up(on_output=dev_project.on_output)
    changes = second.summary.resource_changes or {}
    assert second.summary.result == "succeeded"
    assert not {"delete", "replace", "create-replacement", "delete-replaced"} & set(changes), changes
    after = parse_dotenv(dev_project.root / ".env.local")
    assert after["POSTGRES_USER"] == "hermes_app_a"
    assert "POSTGRES_READ_REPLICA_URL" in after
    with psycopg.connect(after["DATABASE_URL"], autocommit=True, prepare_threshold=None) as conn:
        kept = conn.execute("SELECT full_name FROM hermes_leads WHERE lead_id = 'test-lead-kept'").fetchone()
    assert kept == ("Kept Across",), "the database and its data stayed"
    third = stack.up(on_output=dev_project.on_output)
    assert set((third.summary.resource_changes or {}).keys()) == {"same"}, third.summary.resource_changes
