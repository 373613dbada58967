"""The project-managed PostgreSQL (envstack.db.pgserver), as a developer's machine sees it: only
its own user gets in over the trusted socket, a changed port reaches a cluster made before the
change, and a pid file left by a crash does not stop it from starting."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from envstack.db.pgserver import SERVICE_USER, PostgresServer, postgres_bindir
from envstack.errors import ServerError
from tests.ports import free_ports


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path / "pg", port=free_ports(1)[0])
    server.start()
    try:
        yield server
    finally:
        server.destroy()


def _superuser_over_socket(server: PostgresServer, os_user: str) -> subprocess.CompletedProcess[str]:
    """psql as ``os_user`` over the server's socket, as the superuser, with no password."""
    return subprocess.run(
        [
            str(postgres_bindir() / "psql"),
            "-X",
            "-w",
            "-At",
            "-h",
            str(server.socket_dir),
            "-p",
            str(server.port),
            "-U",
            server.superuser,
            "-d",
            "postgres",
            "-c",
            "SELECT current_user",
        ],
        **_as_user(os_user),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _as_user(name: str) -> dict[str, Any]:
    """subprocess arguments to run as ``name`` with its own group alone (with root's group kept,
    a root-owned directory's group bits would decide, not the other bits the server relies on)."""
    entry = pwd.getpwnam(name)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _accepts(server: PostgresServer) -> bool:
    try:
        psycopg.connect(server.admin_conninfo(), connect_timeout=5).close()
    except psycopg.OperationalError:
        return False
    return True


def test_only_the_servers_own_user_logs_in_over_the_socket(cluster: PostgresServer) -> None:
    assert _accepts(cluster)
    socket = cluster.socket_dir / f".s.PGSQL.{cluster.port}"
    assert stat.S_ISSOCK(socket.stat().st_mode)
    assert stat.S_IMODE(socket.stat().st_mode) & 0o077 == 0, oct(socket.stat().st_mode)
    assert stat.S_IMODE(cluster.socket_dir.stat().st_mode) == 0o700
    if os.geteuid() != 0:
        return  # another user to try it as needs root; the modes above are what keeps them out
    # The server's own user gets in; `nobody` (any other user of a shared machine) does not.
    own = _superuser_over_socket(cluster, SERVICE_USER)
    assert own.returncode == 0, own.stderr
    assert own.stdout.strip() == cluster.superuser
    other = _superuser_over_socket(cluster, "nobody")
    assert other.returncode != 0, other.stdout
    assert "Permission denied" in other.stderr, other.stderr


def test_a_cluster_made_before_is_moved_and_closed_at_its_next_start(cluster: PostgresServer) -> None:
    """The way an older envstack left a cluster: its location written once at initdb, its
    socket open to everyone. The next start with another port moves it and closes the socket."""
    conf = cluster.data_dir / "postgresql.auto.conf"
    lines = [line for line in conf.read_text().splitlines() if not line.startswith("unix_socket_permissions")]
    conf.write_text("\n".join(lines) + "\n")
    cluster.stop()
    cluster.socket_dir.chmod(0o755)
    pg_ctl = [
        str(postgres_bindir() / "pg_ctl"),
        "start",
        "-w",
        "-D",
        str(cluster.data_dir),
        "-l",
        str(cluster.log_file),
    ]
    as_server = _as_user(SERVICE_USER) if os.geteuid() == 0 else {}
    subprocess.run(pg_ctl, **as_server, capture_output=True, check=True, timeout=120)
    socket = cluster.socket_dir / f".s.PGSQL.{cluster.port}"
    assert stat.S_IMODE(socket.stat().st_mode) == 0o777, "the old way, for the test to start from"

    moved = PostgresServer(cluster.directory, port=free_ports(1)[0])
    moved.start()  # the running server is restarted on its new port
    assert _accepts(moved)
    assert not _accepts(cluster), "nothing listens on the old port any more"
    with psycopg.connect(moved.admin_conninfo()) as conn:
        assert conn.execute("SHOW port").fetchone() == (str(moved.port),)
    new_socket = moved.socket_dir / f".s.PGSQL.{moved.port}"
    assert stat.S_IMODE(new_socket.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(moved.socket_dir.stat().st_mode) == 0o700
    settings = [line.split("=")[0].strip() for line in conf.read_text().splitlines() if "=" in line]
    assert settings.count("port") == 1, "one port line, not one more a start"

    # A start with nothing changed leaves the running server alone, even once ALTER SYSTEM has
    # rewritten the file its own way (every value quoted, its new setting after ours).
    pid = (moved.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
    moved.start()
    assert (moved.data_dir / "postmaster.pid").read_text().split("\n", 1)[0] == pid
    with psycopg.connect(moved.admin_conninfo(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET work_mem = '8MB'")
    assert f"port = '{moved.port}'" in conf.read_text()
    moved.start()
    assert (moved.data_dir / "postmaster.pid").read_text().split("\n", 1)[0] == pid
    assert "work_mem = '8MB'" in conf.read_text()
    moved.stop()


def test_a_pid_file_naming_another_program_does_not_keep_the_server_down(cluster: PostgresServer) -> None:
    """After a crash or a reboot the pid in postmaster.pid may run another program of the
    server's user: it is not taken for the server, never signalled, and the server starts."""
    pid_file = cluster.data_dir / "postmaster.pid"
    left = pid_file.read_text()
    cluster.stop()
    other = subprocess.Popen(["sleep", "120"], **(_as_user(SERVICE_USER) if os.geteuid() == 0 else {}))
    try:
        pid_file.write_text(left.replace(left.split("\n", 1)[0], str(other.pid), 1))
        if os.geteuid() == 0:
            os.chown(pid_file, *_owner(cluster.data_dir))
        assert not cluster.running()
        assert not _accepts(cluster)
        cluster.start()
        assert _accepts(cluster)
        assert other.poll() is None, "the other program was signalled"
    finally:
        other.kill()
        other.wait()


def _owner(path: Path) -> tuple[int, int]:
    info = path.stat()
    return info.st_uid, info.st_gid


def test_a_socket_path_too_long_to_bind_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    """A checkout deep in a home directory: the server would fail at start, its reason only in its log."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    server = PostgresServer(deep / "pg", port=free_ports(1)[0])
    with pytest.raises(ServerError, match=r"socket path .* is \d+ bytes, over the 107 a Unix socket allows"):
        server.start()
    assert not deep.exists(), "nothing made"
