"""`envstack reset`: a non-production database back to the repository's migrations and seed
data, without recreating the project.

Over the stack's postgres URL (``StackView.history_url``), holding the advisory lock every
migration run takes and the one every change to the login roles' grants takes (so a `pulumi
up` cannot interleave, nor lose a grant made between step 1's read and its drop):

1. the ``public`` schema is dropped with everything in it and made again as it was made: the
   same owner, comment, grants on the schema (Supabase's USAGE for anon, authenticated and
   service_role; the login roles' groups' USAGE) and default privileges in it (the groups' grants
   on every table the migrations create). Roles are cluster-wide and stay; so the app's login
   roles can read the new tables at once, with no `pulumi up`;
2. the migration history (``supabase_migrations.schema_migrations``) is emptied;
3. every migration file is applied by the project's runner with the stack's limits
   (``envstack:migrations``), then the seed file when the stack seeds.

All of it is one transaction when every file fits in one (the usual case): a failure leaves
the database as it was. A file that must run outside a transaction (``CREATE INDEX
CONCURRENTLY``, its own ``BEGIN``/``COMMIT``, the CLI's directive) makes step 1 and 2 one
transaction, committed, and step 3 ``migrate up``'s own run: a failure there leaves an empty
or part-migrated ``public`` whose history says exactly what was applied; ``reset`` again (or
``migrate up`` and ``seed``) finishes it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from envstack.db import advisory, migrations, seeding
from envstack.db.connect import connect, secrets_of
from envstack.errors import DatabaseError, MigrationError, Refused, StackError
from envstack.ops.stack_view import StackView
from envstack.redaction import redact

APPLICATION_NAME = "envstack reset"
# pg_default_acl.defaclobjtype → the word ALTER DEFAULT PRIVILEGES uses for it.
_OBJECT_KINDS = {"r": "TABLES", "S": "SEQUENCES", "f": "FUNCTIONS", "T": "TYPES"}
_PRIVILEGES = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", "EXECUTE", "USAGE", "CREATE"}
)


@dataclass(frozen=True)
class _Grant:
    grantee: str | None  # None: PUBLIC
    privilege: str
    grantable: bool


@dataclass(frozen=True)
class _DefaultGrant(_Grant):
    for_role: str = ""
    kind: str = ""  # TABLES, SEQUENCES, …


@dataclass(frozen=True)
class PublicSchema:
    """What ``public`` is made of, besides its objects: what a reset makes again."""

    owner: str
    comment: str | None
    grants: tuple[_Grant, ...]
    defaults: tuple[_DefaultGrant, ...]
    # Default privileges of roles the connecting role may not act for: they cannot be re-made.
    lost: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResetResult:
    applied: list[str]
    seeded: int | None  # rows the seed file inserted; None when the stack does not seed
    one_transaction: bool
    schema: PublicSchema = field(repr=False)


def refuse_production(view: StackView) -> None:
    if view.settings.is_production:
        raise Refused(
            f"refusing to reset {view.name}: production's data is never dropped (nothing was touched); "
            "to go back in time use `python -m envstack restore`"
        )


def reset(view: StackView, root: Path, *, say: Callable[[str], None] = print) -> ResetResult:
    """Reset the stack's database (see the module's docstring); refused on production before
    anything is read or connected."""
    refuse_production(view)
    plan = view.settings.envstack.migrations
    if plan.command:
        raise Refused(
            f"{view.name} applies its migrations with its own command ({plan.command}), which reset cannot run "
            "inside its transaction; nothing was touched"
        )
    url = view.history_url
    if url is None:
        raise StackError(f"stack {view.name} has no database URL in its outputs: run `pulumi up --stack {view.name}`")
    files = migrations.discover(root / plan.directory)
    seed_file = root / view.settings.envstack.seed_file if view.settings.seeds else None
    limits = migrations.Limits(plan.lock_timeout, plan.statement_timeout, plan.lock_wait)
    secrets = [*secrets_of(url), *view.secrets]
    try:
        with connect(url, autocommit=True) as conn:
            conn.execute(f"SET application_name = '{APPLICATION_NAME}'".encode())
            wait = limits.lock_wait
            with (
                advisory.held(
                    conn,
                    migrations.LOCK_KEY,
                    wait,
                    lambda who: MigrationError(
                        f"a migration run holds the migration lock: {who}; waited {wait:g} s; nothing was touched"
                    ),
                ),
                advisory.held(
                    conn,
                    advisory.named_key(conn, advisory.LOGIN_ROLES),
                    wait,
                    lambda who: DatabaseError(
                        f"another run is changing the login roles' grants: {who}; waited {wait:g} s; "
                        "nothing was touched"
                    ),
                ),
            ):
                return _reset_locked(conn, files, seed_file, view.settings.environment, limits, secrets, say)
    except (MigrationError, DatabaseError) as exc:
        raise type(exc)(redact(str(exc), secrets)) from None
    except psycopg.Error as exc:
        raise DatabaseError(redact(f"database error: {str(exc).strip()}", secrets)) from None


def _reset_locked(
    conn: psycopg.Connection[Any],
    files: list[migrations.Migration],
    seed_file: Path | None,
    environment: str,
    limits: migrations.Limits,
    secrets: list[str],
    say: Callable[[str], None],
) -> ResetResult:
    alone = [m.path.name for m in files if not migrations.fits_one_transaction(m)]
    enums = [m.path.name for m in files if migrations.adds_enum_value(m)]
    if not (alone or enums):
        try:
            with conn.transaction():
                schema = _empty(conn, limits, say)
                result = migrations.apply_in_transaction(conn, files, log=say, limits=limits)
                seeded = _seed(conn, seed_file, environment, limits, secrets)
        except (MigrationError, DatabaseError) as exc:
            raise type(exc)(f"{exc}\nthe reset was rolled back: the database is as it was before it") from None
        return ResetResult(result.applied, seeded, True, schema)
    with conn.transaction():
        schema = _empty(conn, limits, say)
    why = (
        f"{alone[0]} must run outside a transaction"
        if alone
        else f"{enums[0]} adds an enum value, which later files and the seed can use only once it is committed"
    )
    say(f"{why}: applying the files as `migrate up` does, each on its own")
    try:
        result = migrations.apply_holding_lock(conn, files, log=say, limits=limits)
        with conn.transaction():
            seeded = _seed(conn, seed_file, environment, limits, secrets)
    except (MigrationError, DatabaseError) as exc:
        raise type(exc)(
            f"{exc}\npublic was emptied and the history holds what was applied before the failure: fix the "
            "cause, then run reset again (or `migrate up`, then `seed`)"
        ) from None
    return ResetResult(result.applied, seeded, False, schema)


def _seed(
    conn: psycopg.Connection[Any],
    file: Path | None,
    environment: str,
    limits: migrations.Limits,
    secrets: list[str],
) -> int | None:
    if file is None:
        return None
    # Under `pulumi up` the seed has a session of its own; here it follows the migrations on
    # theirs, whose last file may have changed search_path (pg_dump output sets it to '').
    # RESET ALL drops the bounds too, and here the seed holds every table of public locked.
    conn.execute(b"RESET ALL")
    limits.apply(conn)
    return seeding.seed_in_transaction(conn, file, environment=environment, secrets=secrets)


def _empty(conn: psycopg.Connection[Any], limits: migrations.Limits, say: Callable[[str], None]) -> PublicSchema:
    """In the caller's transaction: public dropped and made again as it was, the history emptied."""
    limits.apply(conn)  # the same bounds as a migration: a busy table fails fast, rolled back
    schema = read_public(conn)
    conn.execute(b"DROP SCHEMA public CASCADE")
    conn.execute(sql.SQL("CREATE SCHEMA public AUTHORIZATION {}").format(sql.Identifier(schema.owner)))
    if schema.comment is not None:
        conn.execute(sql.SQL("COMMENT ON SCHEMA public IS {}").format(sql.Literal(schema.comment)))
    for grant in schema.grants:
        conn.execute(sql.SQL("GRANT {} ON SCHEMA public TO {}{}").format(*_grant_parts(grant)))
    for default in schema.defaults:
        privilege, grantee, option = _grant_parts(default)
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA public GRANT {} ON {} TO {}{}").format(
                sql.Identifier(default.for_role), privilege, sql.SQL(default.kind), grantee, option
            )
        )
    say(
        f"dropped schema public and made it again (owner {schema.owner}, {len(schema.grants)} grants on it and "
        f"{len(schema.defaults)} default privileges in it kept)"
    )
    for lost in schema.lost:
        say(f"not re-made (the connecting role may not act for its role): default privilege {lost}")
    history = conn.execute("SELECT to_regclass('supabase_migrations.schema_migrations')").fetchone()
    if history is not None and history[0] is not None:
        conn.execute(b"DELETE FROM supabase_migrations.schema_migrations")
    say("emptied the migration history")
    return schema


def _grant_parts(grant: _Grant) -> tuple[sql.Composable, sql.Composable, sql.Composable]:
    if grant.privilege not in _PRIVILEGES:
        raise DatabaseError(f"unexpected privilege {grant.privilege!r} on schema public; nothing was touched")
    grantee = sql.SQL("PUBLIC") if grant.grantee is None else sql.Identifier(grant.grantee)
    return sql.SQL(grant.privilege), grantee, sql.SQL(" WITH GRANT OPTION" if grant.grantable else "")


def read_public(conn: psycopg.Connection[Any]) -> PublicSchema:
    """The owner, comment, grants and default privileges of ``public``. Only reads."""
    row = conn.execute(
        "SELECT r.rolname, obj_description(n.oid, 'pg_namespace') FROM pg_namespace n"
        " JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = 'public'"
    ).fetchone()
    if row is None:
        raise DatabaseError("the database has no schema public; nothing was touched")
    owner, comment = str(row[0]), row[1]
    grants = tuple(
        _Grant(grantee, privilege, grantable)
        for grantee, privilege, grantable in conn.execute(
            "SELECT (SELECT rolname FROM pg_roles WHERE oid = a.grantee), a.privilege_type, a.is_grantable"
            " FROM pg_namespace n, aclexplode(n.nspacl) a"
            " WHERE n.nspname = 'public' AND a.grantee <> n.nspowner ORDER BY 1, 2"
        ).fetchall()
    )
    defaults: list[_DefaultGrant] = []
    lost: list[str] = []
    for for_role, kind, grantee, privilege, grantable, allowed in conn.execute(
        "SELECT r.rolname, d.defaclobjtype, (SELECT rolname FROM pg_roles WHERE oid = a.grantee),"
        " a.privilege_type, a.is_grantable, pg_has_role(current_user, d.defaclrole, 'MEMBER')"
        " FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace"
        " JOIN pg_roles r ON r.oid = d.defaclrole, aclexplode(d.defaclacl) a"
        " WHERE n.nspname = 'public' ORDER BY 1, 2, 3, 4"
    ).fetchall():
        words = _OBJECT_KINDS.get(str(kind))
        if words is None:
            continue
        if not allowed:
            lost.append(f"for role {for_role}: {privilege} on {words.lower()} to {grantee or 'PUBLIC'}")
            continue
        defaults.append(_DefaultGrant(grantee, str(privilege), bool(grantable), for_role=str(for_role), kind=words))
    return PublicSchema(owner, comment, grants, tuple(defaults), tuple(lost))
