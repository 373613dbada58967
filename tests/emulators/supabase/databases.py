"""The PostgreSQL side of the emulator: one cluster per project, shaped like Supabase's.

A template cluster is made once per emulator (initdb plus the roles below, then stopped);
every project copies it (``cp -a`` of ~40 MB) and starts on its own loopback address with
TLS, which takes a fraction of a second instead of an initdb.

Roles as on Supabase (supabase/postgres migrations, docs guides/database/postgres/roles):
- ``supabase_admin``: the bootstrap superuser; only the emulator uses it, over the
  cluster's private Unix socket.
- ``postgres``: what customers log in as; NOT a superuser (LOGIN CREATEROLE CREATEDB
  REPLICATION BYPASSRLS), owner of database ``postgres`` (so, on PostgreSQL 15, of schema
  ``public`` through pg_database_owner).
- ``anon``, ``authenticated``, ``service_role``: NOLOGIN roles the Data API switches to
  (service_role bypasses row level security); ``authenticator`` logs in and may become them.
- ``pgbouncer``: the pooler's auth user; it may only call ``pgbouncer.get_auth(username)``,
  a SECURITY DEFINER function returning the role's SCRAM secret from pg_shadow, which the
  pooler uses to check client passwords and to log in with them (SCRAM pass-through).
"""

from __future__ import annotations

import secrets
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from envstack.db.pgserver import PostgresServer, postgres_bindir
from envstack.errors import ServerError

SUPERUSER = "supabase_admin"
POOLER_ROLE = "pgbouncer"
DATABASE = "postgres"
DATABASE_PORT = 5432
NO_ARCHIVE = "true"  # the archive_command of a project without PITR: nothing kept

_PROJECT_SETTINGS = (
    "shared_buffers = 16MB",  # many small clusters side by side
    "max_connections = 100",
    "log_min_messages = warning",
    # Ready for point-in-time recovery without a restart (archive_mode is read at start only):
    # until the PITR add-on points archive_command at the project's archive (pitr.py), every
    # WAL segment is let go at once, so a project without PITR keeps nothing.
    "archive_mode = on",
    f"archive_command = '{NO_ARCHIVE}'",
)

_BOOTSTRAP = """
CREATE ROLE postgres WITH LOGIN CREATEROLE CREATEDB REPLICATION BYPASSRLS;
-- As on Supabase, postgres is no superuser but reads every session's statistics (pg_stat_activity)
-- and may cancel them; a project without the first grant is fixed with it (Supabase's docs,
-- troubleshooting "insufficient privilege" on pg_stat_statements).
GRANT pg_read_all_stats, pg_signal_backend TO postgres;
ALTER DATABASE postgres OWNER TO postgres;
CREATE ROLE anon NOLOGIN NOINHERIT;
CREATE ROLE authenticated NOLOGIN NOINHERIT;
CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
CREATE ROLE authenticator WITH LOGIN NOINHERIT;
GRANT anon, authenticated, service_role TO authenticator;
GRANT anon, authenticated, service_role TO postgres;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
CREATE SCHEMA extensions;
GRANT USAGE ON SCHEMA extensions TO postgres, anon, authenticated, service_role;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA extensions;
ALTER ROLE postgres SET search_path = "$user", public, extensions;
CREATE SCHEMA pgbouncer;
CREATE FUNCTION pgbouncer.get_auth(p_usename text) RETURNS TABLE(username text, password text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog
    AS $$ SELECT usename::text, passwd::text FROM pg_catalog.pg_shadow WHERE usename = p_usename $$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
"""


def _server_version() -> str:
    """``15.18`` for the installed server (its ``--version`` line ends with it)."""
    out = subprocess.run(
        [str(postgres_bindir() / "postgres"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return next(part for part in out.split() if part[:1].isdigit())


class Databases:
    """Makes, changes and removes the clusters behind projects (in ``root``)."""

    def __init__(self, root: Path, sockets: Path, certificate: tuple[Path, Path]) -> None:
        self.root = root
        self.sockets = sockets
        self.certificate = certificate
        self.pooler_password = secrets.token_urlsafe(24)
        self._template = PostgresServer(
            root / "template",
            superuser=SUPERUSER,
            # The template never listens on TCP: it exists to be copied.
            settings=("listen_addresses = ''", "min_wal_size = 2MB", "max_wal_size = 64MB"),
            socket_directory=self.sockets / "template",
            # 1 MB WAL segments instead of 16: every project copies the template's WAL.
            initdb_options=("--wal-segsize=1", "--no-sync"),
        )
        self.version = ""

    @property
    def major_version(self) -> str:
        return self.version.split(".")[0]

    def prepare(self) -> None:
        """Build the template cluster (once; about a second)."""
        self.version = _server_version()
        if self._template.initialized():
            return
        self._template.start()
        try:
            with psycopg.connect(self._template.admin_conninfo(), autocommit=True) as conn:
                conn.execute(_BOOTSTRAP)
                conn.execute(
                    sql.SQL("CREATE ROLE {} WITH LOGIN PASSWORD {}").format(
                        sql.Identifier(POOLER_ROLE), sql.Literal(self.pooler_password)
                    )
                )
                conn.execute(sql.SQL("GRANT USAGE ON SCHEMA pgbouncer TO {}").format(sql.Identifier(POOLER_ROLE)))
                conn.execute(
                    sql.SQL("GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO {}").format(
                        sql.Identifier(POOLER_ROLE)
                    )
                )
        finally:
            self._template.stop()
        # Clients reach a project from any loopback source address.
        with (self._template.data_dir / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 127.0.0.0/8 scram-sha-256\n")

    def create(self, ref: str, host: str, password: str) -> PostgresServer:
        """Start a project's cluster on ``host:5432`` with ``postgres``'s password set."""
        server = PostgresServer(
            self.root / "projects" / ref,
            host=host,
            port=DATABASE_PORT,
            ssl=True,
            superuser=SUPERUSER,
            settings=_PROJECT_SETTINGS,
            template=self._template.data_dir,
            certificate=self.certificate,
            socket_directory=self.sockets / ref,
        )
        try:
            server.start()
            self.set_password(server, "postgres", password)
        except (ServerError, psycopg.Error) as exc:
            log = server.log_file.read_text(errors="replace")[-2000:] if server.log_file.exists() else ""
            server.destroy()  # the log goes with it: keep its end in the error
            raise ServerError(f"project {ref} did not start: {exc}\n{log}") from exc
        return server

    @staticmethod
    def set_password(server: PostgresServer, role: str, password: str) -> None:
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))

    @staticmethod
    def accepts(host: str, password: str, *, port: int = DATABASE_PORT, user: str = "postgres") -> bool:
        """Whether a client gets in the way customers do (TLS, password)."""
        return Databases.refusal(host, password, port=port, user=user) is None

    @staticmethod
    def refusal(host: str, password: str, *, port: int = DATABASE_PORT, user: str = "postgres") -> str | None:
        """Why a client does not get in the way customers do (TLS, password); None when it does."""
        try:
            with psycopg.connect(
                host=host,
                port=port,
                user=user,
                password=password,
                dbname=DATABASE,
                sslmode="require",
                connect_timeout=3,
                prepare_threshold=None,
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            return str(exc).strip() or type(exc).__name__
        return None

    @staticmethod
    def enforce_ssl(server: PostgresServer, enforced: bool) -> None:
        """SSL enforcement on the database: a client without TLS gets PostgreSQL's own
        "no pg_hba.conf entry … no encryption" refusal (its local socket is untouched)."""
        hba = server.data_dir / "pg_hba.conf"
        # Every TCP line (initdb's own for 127.0.0.1 and ::1 too) becomes TLS-only, or back.
        old, new = ("host", "hostssl") if enforced else ("hostssl", "host")
        lines = [
            new + line[len(old) :] if line.split(None, 1)[:1] == [old] else line
            for line in hba.read_text().splitlines(keepends=True)
        ]
        hba.write_text("".join(lines))
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")

    def destroy(self, server: PostgresServer) -> None:
        server.destroy()

    def remove_template(self) -> None:
        self._template.destroy()
