"""The migration runner: 1,000 files from scratch, then a run with nothing to do."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

import psycopg
from psycopg import sql

from bench.report import Row, Section, seconds
from bench.runs import median, scratch_dir, timed
from envstack.db import migrations
from envstack.db.pgserver import PostgresServer
from tests.round_trips import traced

FILES = 1000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def write_files(directory: Path, count: int) -> None:
    """``count`` files of the kind a project accumulates: a table, an index, a comment each."""
    directory.mkdir(parents=True)
    for n in range(count):
        (directory / f"{20250101000000 + n:014d}_step_{n:04d}.sql").write_text(
            f"CREATE TABLE public.step_{n:04d} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, note text);\n"
            f"CREATE INDEX step_{n:04d}_note_idx ON public.step_{n:04d} (note);\n"
            f"COMMENT ON TABLE public.step_{n:04d} IS 'migration {n}';\n"
        )


def _database(server: PostgresServer) -> str:
    name, password = f"bench_{secrets.token_hex(4)}", secrets.token_urlsafe(18)
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(name), sql.Literal(password)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(name)))
    return f"postgresql://{name}:{password}@{server.host}:{server.port}/{name}"


def _apply(url: str, files: Path) -> tuple[float, int]:
    """Seconds and round trips of one `migrate up`."""
    with traced(migrations) as trace:
        took = timed(lambda: migrations.apply(url, files, log=lambda _: None))
    return took, trace.counted or 0


def _bare(url: str, files: Path) -> float:
    """The same SQL, one transaction a file, one round trip each: what no runner can beat."""
    scripts = [f"BEGIN;\n{path.read_text()}COMMIT;" for path in sorted(files.iterdir())]

    def run() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            for script in scripts:
                conn.execute(script.encode())

    return timed(run)


def measure(runs: int) -> Section:
    section = Section("migrations", "The migration runner", runs)
    scratch: list[tuple[float, int]] = []
    noop: list[tuple[float, int]] = []
    bare: list[float] = []
    reading: list[float] = []
    with scratch_dir("migrations") as directory:
        files = directory / "migrations"
        write_files(files, FILES)
        server = PostgresServer(directory / "postgres", host="127.0.0.1", port=_free_port())
        server.start()
        try:
            for _ in range(runs):
                url = _database(server)
                scratch.append(_apply(url, files))
                noop.append(_apply(url, files))
                bare.append(_bare(_database(server), files))
                reading.append(timed(lambda: migrations.discover(files)))
        finally:
            server.destroy()
    trips = median([float(r) for _, r in scratch])
    section.rows += [
        Row(
            f"{FILES} migration files, from scratch",
            seconds(median([t for t, _ in scratch])),
            f"{seconds(median(bare))} (the same SQL, a transaction and a round trip a file)",
            f"{trips:.0f} round trips",
        ),
        Row(
            f"{FILES} migration files, nothing to do",
            seconds(median([t for t, _ in noop])),
            "1 round trip",
            f"{median([float(r) for _, r in noop]):.0f} round trip",
        ),
    ]
    extra = trips - FILES
    gap = median([t for t, _ in scratch]) - median(bare)
    section.notes += [
        "Each file holds three statements (a table, an index, a comment). From scratch the runner takes the "
        "lock, creates the history table, then per file: RESET ALL (a file's session settings must not leak "
        "into the next), BEGIN, each statement on its own (so a failure names its file, line and statement), "
        f"the history row the Supabase CLI writes, COMMIT: {(trips - 11) / FILES:.0f} round trips a file "
        f"where the floor sends one. The floor's {seconds(median(bare))} is PostgreSQL creating a thousand "
        "tables and indexes and making a thousand commits durable; the runner's "
        f"{seconds(gap)} more are its {extra:.0f} extra round trips, about "
        f"{max(gap, 0.0) / max(extra, 1.0) * 1000:.2f} ms each on loopback (tens of milliseconds each to a "
        "database across a network: there, a file costs its round trips, not its SQL). Sending a file's "
        "statements as one pipeline would make that one round trip a file, errors still named by statement; "
        "that is the change to make if remote runs with many pending files matter.",
        "",
        "A run with nothing to do reads the history in one query and stops there: no lock is needed to write "
        f"nothing. Of its time, {seconds(median(reading))} is reading and splitting the thousand files (what "
        "the history should hold) and most of the rest is connecting (TCP and SCRAM authentication), which "
        "is not counted as a round trip. Round trips are counted from libpq's protocol trace "
        "(tests/round_trips.py).",
    ]
    return section
