"""The dev stack's PgBouncer: Supabase's pooler on the developer's machine.

Two PgBouncer processes beside the project-managed PostgreSQL, on its loopback address: one in
transaction mode (the app's ``POSTGRES_URL``, ``DATABASE_URL`` and ``POSTGRES_PRISMA_URL``, as
Supavisor's port 6543) and one in session mode (as Supavisor's port 5432). Like Supabase's they
check passwords with ``auth_query`` through ``pgbouncer.get_auth``, a SECURITY DEFINER function
in each database that returns a role's SCRAM secret, and log in to PostgreSQL with the client's
own SCRAM proof (pass-through): any login role a stack creates later works at once, and the
pooler holds no password but its own.

PgBouncer 1.18 (Debian's) runs the auth query in the database the client asked for, so each
database the pooler serves needs the function and must let the ``pgbouncer`` role connect:
``grant_database`` does both (providers/local_database_access.py calls it for the dev database).

The transaction pooler discards each server connection's session state after every transaction
(``server_reset_query_always``): what an app leaves behind in a session (a prepared statement,
a SET) is gone for its next transaction every time, not only when another client happened to
take the connection. Supavisor's transaction mode does not support prepared statements either
(supabase.com/docs/guides/troubleshooting/disabling-prepared-statements-qL8lEL), so a developer
sees locally what fails in staging.

Started by ``python -m envstack localdb start`` (and so by every ``make dev``), which is
idempotent: a running pooler whose configuration is unchanged is left alone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstack.db.pgserver import PgBouncer, PostgresServer, hand_over, require_loopback, write_private
from envstack.db.scram import scram_verifier

POOLER_ROLE = "pgbouncer"
AUTH_SCHEMA = "pgbouncer"
AUTH_QUERY = "SELECT username, password FROM pgbouncer.get_auth($1)"
TRANSACTION, SESSION = "transaction", "session"
# What each PgBouncer allows (PgBouncer's own defaults are 20 and 100); doctor's pool checks read them.
POOL_SIZE = 20
MAX_CLIENTS = 200

# The function Supabase's pooler calls (supabase/postgres: migrations/db/init-scripts), owned by the
# superuser, callable only by the pooler's role.
_GET_AUTH = (
    "CREATE SCHEMA IF NOT EXISTS pgbouncer",
    "CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text)"
    " RETURNS TABLE(username text, password text)"
    " LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog"
    " AS $$ SELECT usename::text, passwd::text FROM pg_catalog.pg_shadow WHERE usename = p_usename $$",
    "REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC",
    "GRANT USAGE ON SCHEMA pgbouncer TO pgbouncer",
    "GRANT EXECUTE ON FUNCTION pgbouncer.get_auth(text) TO pgbouncer",
)


def ensure_pooler_role(conn: Any) -> None:
    """The ``pgbouncer`` login role (no password yet: the pooler sets its own at start)."""
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (POOLER_ROLE,)).fetchone() is None:
        conn.execute(f"CREATE ROLE {POOLER_ROLE} LOGIN PASSWORD NULL")


def grant_database(conn: Any, database: str) -> None:
    """Let the pooler serve ``database``: ``pgbouncer.get_auth`` in it, and CONNECT for its role.

    ``conn`` is a superuser's connection to that database."""
    from psycopg import sql

    ensure_pooler_role(conn)
    for statement in _GET_AUTH:
        conn.execute(statement)
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), sql.Identifier(POOLER_ROLE))
    )


def revoke_database(conn: Any, database: str) -> None:
    """Undo ``grant_database`` (the database stays)."""
    from psycopg import sql

    conn.execute("DROP SCHEMA IF EXISTS pgbouncer CASCADE")
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (POOLER_ROLE,)).fetchone() is not None:
        conn.execute(
            sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}").format(
                sql.Identifier(database), sql.Identifier(POOLER_ROLE)
            )
        )


@dataclass(frozen=True)
class DevPooler:
    """The transaction and session PgBouncers in front of ``server``, in ``server.directory/pgbouncer``."""

    server: PostgresServer
    port: int  # transaction mode
    session_port: int

    @property
    def host(self) -> str:
        return self.server.host

    @property
    def directory(self) -> Path:
        return self.server.directory / "pgbouncer"

    @property
    def _password_file(self) -> Path:
        return self.directory / "password"

    def bouncers(self) -> dict[str, PgBouncer]:
        """The PgBouncer of each pool mode."""
        return {
            TRANSACTION: PgBouncer(self.directory / TRANSACTION, self.host, self.port, TRANSACTION, tls=False),
            SESSION: PgBouncer(self.directory / SESSION, self.host, self.session_port, SESSION, tls=False),
        }

    def _password(self) -> str:
        """The pooler role's password, generated once and kept beside the pooler (mode 0600)."""
        try:
            found = self._password_file.read_text().strip()
        except FileNotFoundError:
            found = ""
        if found:
            return found
        self.directory.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(32)
        write_private(self._password_file, password + "\n")
        return password

    def start(self) -> None:
        """Configure and start both PgBouncers (the server must be running); a running one is
        restarted only when its configuration changed (a new port, say), never otherwise."""
        require_loopback(self.host)
        password = self._password()
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.server.admin_conninfo(), autocommit=True) as conn:
            ensure_pooler_role(conn)
            # Every start, so a lost password file is healed by the next `make dev`.
            verifier = sql.Literal(scram_verifier(password))
            conn.execute(sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(sql.Identifier(POOLER_ROLE), verifier))
        upstream = f"host={self.server.host} port={self.server.port} auth_user={POOLER_ROLE}"
        for mode, bouncer in self.bouncers().items():
            settings = {
                "auth_user": POOLER_ROLE,
                "auth_query": AUTH_QUERY,
                "max_client_conn": str(MAX_CLIENTS),
                "default_pool_size": str(POOL_SIZE),
                "server_login_retry": "1",
                "unix_socket_dir": "",  # TCP on loopback only: a deep directory is too long for a socket path
            }
            if mode == TRANSACTION:
                settings["server_reset_query_always"] = "1"
            before = _read(bouncer.ini_file), _read(bouncer.auth_file)
            # "*": every database of the server under its own name, as the client asks for it.
            bouncer.configure({"*": upstream}, {POOLER_ROLE: password}, settings)
            changed = (_read(bouncer.ini_file), _read(bouncer.auth_file)) != before
            if changed and bouncer.running():
                bouncer.stop()
            bouncer.start()
        hand_over(self.directory)

    def running(self) -> dict[str, bool]:
        """Whether each pool mode's PgBouncer runs."""
        return {mode: bouncer.running() for mode, bouncer in self.bouncers().items()}

    def stop(self) -> None:
        for bouncer in self.bouncers().values():
            bouncer.stop()


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def configured_mode(bouncer: PgBouncer) -> str | None:
    """The pool mode a PgBouncer was started with, from its configuration (None: never configured)."""
    for line in (_read(bouncer.ini_file) or "").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "pool_mode":
            return value.strip()
    return None
