"""Proving that a Supabase project found by name is the stack's own.

A project name is not proof of anything: someone else (a teammate, the live production
project made by hand) may have the same one. The stack creates a project only with a
password it has already recorded in its state (a GeneratedSecret made before the project),
so a project is the stack's own exactly when that password opens its database. Anything
else is someone else's, and is never reset, renamed, resized or deleted.
"""

from __future__ import annotations

from typing import Any, Literal

Proof = Literal["opens", "refused", "unreachable"]

# A proof is one login; a project that does not answer quickly is treated as unproven.
_CONNECT_TIMEOUT_SECONDS = 10


def _try_login(host: str, port: int, user: str, password: str, database: str) -> Proof:
    import psycopg

    from envstack.db.connect import connect

    try:
        with connect(
            "",
            host=host,
            port=port,
            user=user,
            password=password,
            dbname=database,
            sslmode="require",
            connect_timeout=_CONNECT_TIMEOUT_SECONDS,
        ) as conn:
            conn.execute("SELECT 1")
        return "opens"
    except psycopg.OperationalError as exc:
        # 28P01 invalid_password, 28000 invalid_authorization: the server answered "not this password".
        if exc.sqlstate in ("28P01", "28000") or "password authentication failed" in str(exc):
            return "refused"
        return "unreachable"


def password_opens(client: Any, project: Any, password: str) -> Proof:
    """Does ``password`` open ``project``'s database as postgres? The direct host first; the
    session pooler when the direct host cannot be reached (it is IPv6-only on Supabase)."""
    if project.database is not None and project.database.host:
        direct = _try_login(project.database.host, 5432, "postgres", password, "postgres")
        if direct != "unreachable":
            return direct
    pooler = client.get_pooler_config(project.ref)
    return _try_login(pooler.db_host, 5432, pooler.db_user, password, pooler.db_name)


def collision(name: str, ref: str, organization: str, proof: Proof | None) -> str:
    """The one sentence a user sees when a same-named project is not provably the stack's
    (``proof`` None: the stack had no password yet, so it cannot have made the project)."""
    why = (
        "the password this stack recorded does not open it"
        if proof == "refused"
        else "its database could not be reached to check the password this stack recorded"
        if proof == "unreachable"
        else "this stack has not recorded creating it"
    )
    return (
        f"Supabase project {name!r} ({ref}) already exists in organization {organization} and is not provably this "
        f"stack's ({why}), so nothing was changed: to manage it knowingly set supabase:projectRef {ref} (with "
        "supabase:dbPassword), or choose another supabase:projectName"
    )
