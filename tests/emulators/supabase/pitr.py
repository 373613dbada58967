"""Point-in-time recovery on a project's real PostgreSQL cluster: PostgreSQL's own WAL
archiving and recovery, not a stand-in.

- Every project runs with ``archive_mode = on`` and an ``archive_command`` that keeps nothing
  (databases.py), so turning PITR on needs no restart: ``start_archiving`` points the command at
  the project's archive directory (``<cluster>/wal-archive``) and a base backup
  (``pg_basebackup``, ``<cluster>/base-backups/<n>``) is taken at once, as WAL-G takes a
  physical backup on Supabase [docs: guides/platform/backups, "PITR backup process"].
  ``stop_archiving`` keeps nothing again and removes the archive and the base backups.
- A restore point is ``pg_create_restore_point(name)`` followed by a WAL switch, so the file
  holding it is archived; it is usable once that file is in the archive.
- A restore (``restore``, the cluster stopped): the newest base backup from before the target
  replaces the data directory (its configuration, postgresql.auto.conf and pg_hba.conf, is the
  project's current one: settings and SSL enforcement are not data), and the cluster starts
  with ``recovery.signal``, ``restore_command`` reading the archive and ``recovery_target_time``
  or ``recovery_target_name``, promoting at the target onto a new timeline. Before stopping,
  ``flush`` commits one transaction (a time target is reached at the first commit after it)
  and archives the WAL written so far.

Everything lives under the cluster's directory, so deleting the project removes it too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from envstack.db.pgserver import SERVICE_USER, PostgresServer, hand_over, postgres_bindir
from envstack.errors import ServerError
from tests.emulators.supabase.databases import NO_ARCHIVE

ARCHIVE = "wal-archive"
BASES = "base-backups"
_ARCHIVE_TIMEOUT = 30.0
_PROMOTE_TIMEOUT = 60.0
_RECOVERY_SETTINGS = (
    "restore_command",
    "recovery_target_time",
    "recovery_target_name",
    "recovery_target_action",
    "recovery_target_timeline",
)


def _as_service_user() -> list[str]:
    return ["runuser", "-u", SERVICE_USER, "--"] if os.geteuid() == 0 else []


def archive_dir(server: PostgresServer) -> Path:
    return server.directory / ARCHIVE


def _set(server: PostgresServer, settings: dict[str, str | None]) -> None:
    """ALTER SYSTEM SET (or RESET, for None) each setting, then reload."""
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
        for name, value in settings.items():
            if value is None:
                conn.execute(sql.SQL("ALTER SYSTEM RESET {}").format(sql.Identifier(name)))
            else:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def start_archiving(server: PostgresServer) -> None:
    archive = archive_dir(server)
    archive.mkdir(parents=True, exist_ok=True)
    hand_over(archive)
    _set(server, {"archive_command": f"test ! -f '{archive}/%f' && cp '%p' '{archive}/%f'"})


def stop_archiving(server: PostgresServer) -> None:
    _set(server, {"archive_command": NO_ARCHIVE})
    shutil.rmtree(archive_dir(server), ignore_errors=True)
    shutil.rmtree(server.directory / BASES, ignore_errors=True)


def base_backup(server: PostgresServer) -> Path:
    """A plain-format base backup with the WAL it needs (about half a second for a new project)."""
    bases = server.directory / BASES
    bases.mkdir(exist_ok=True)
    hand_over(bases)
    target = bases / f"{time.time_ns()}"
    command = [
        *_as_service_user(),
        str(postgres_bindir() / "pg_basebackup"),
        f"--host={server.socket_dir}",
        f"--port={server.port}",
        f"--username={server.superuser}",
        f"--pgdata={target}",
        "--wal-method=stream",
        "--checkpoint=fast",
        "--no-sync",
        "--no-manifest",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ServerError(f"pg_basebackup failed: {done.stderr.strip()[-1000:]}")
    return target


def _switch(conn: psycopg.Connection[tuple[object, ...]]) -> str:
    """Close the current WAL file so the archiver takes it; its name."""
    row = conn.execute("SELECT pg_walfile_name(pg_switch_wal())").fetchone()
    assert row is not None
    return str(row[0])


def create_restore_point(server: PostgresServer, name: str) -> str:
    """Mark ``name`` in the WAL; the WAL file that must be archived for it to be usable."""
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_create_restore_point(%s)", (name,))
        return _switch(conn)


def archived(server: PostgresServer, segment: str) -> bool:
    return (archive_dir(server) / segment).exists()


def flush(server: PostgresServer) -> None:
    """Before a restore: one commit after any target (recovery to a time stops at the first
    commit past it; without one it would end short of the target and refuse to start), and
    every WAL file so far in the archive."""
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
        conn.execute("SELECT pg_current_xact_id()")
        segment = _switch(conn)
    deadline = time.monotonic() + _ARCHIVE_TIMEOUT
    while not archived(server, segment):
        if time.monotonic() > deadline:
            raise ServerError(f"WAL file {segment} was not archived within {_ARCHIVE_TIMEOUT:.0f}s")
        time.sleep(0.02)


def restore(server: PostgresServer, base: Path, *, time_target: float | None = None, name: str | None = None) -> None:
    """Replace the stopped cluster's data with ``base`` set to recover to a real unix time or
    a restore point; the cluster recovers when it next starts (then ``finish``)."""
    data = server.data_dir
    kept = {file: (data / file).read_bytes() for file in ("postgresql.auto.conf", "pg_hba.conf")}
    before = server.directory / "data-before-restore"
    shutil.rmtree(before, ignore_errors=True)
    data.rename(before)
    subprocess.run(["cp", "-a", str(base), str(data)], check=True, capture_output=True)
    for file, content in kept.items():
        (data / file).write_bytes(content)
    if time_target is not None:
        moment = datetime.fromtimestamp(time_target, UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")
        target = f"recovery_target_time = '{moment}'"
    else:
        assert name is not None
        target = "recovery_target_name = '{}'".format(name.replace("'", "''"))
    with (data / "postgresql.auto.conf").open("a") as conf:
        conf.write(
            f'restore_command = \'cp "{archive_dir(server)}/%f" "%p"\'\n'
            f"{target}\n"
            "recovery_target_action = 'promote'\n"
            "recovery_target_timeline = 'latest'\n"
        )
    (data / "recovery.signal").write_text("")
    hand_over(data)
    shutil.rmtree(before, ignore_errors=True)


def finish(server: PostgresServer) -> None:
    """After the recovering cluster started: wait for its promotion, then drop the recovery
    settings (they only mean something beside recovery.signal, which promotion removed)."""
    deadline = time.monotonic() + _PROMOTE_TIMEOUT
    while True:
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
        if row is not None and not row[0]:
            break
        if time.monotonic() > deadline:
            raise ServerError(f"the restored cluster was still recovering after {_PROMOTE_TIMEOUT:.0f}s")
        time.sleep(0.05)
    _set(server, dict.fromkeys(_RECOVERY_SETTINGS))
