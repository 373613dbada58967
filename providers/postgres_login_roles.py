"""Dynamic provider: a pair of alternating login roles in a PostgreSQL database.

The app never logs in as the role that owns its privileges. A NOLOGIN group role holds
them, and two LOGIN members ``<group>_a`` and ``<group>_b`` inherit them (the "alternating
users" scheme of AWS Secrets Manager and Pulumi ESC's PostgreSQL rotator). One member is
active: its password is this resource's ``password`` output, which the app's variables carry.
A rotation (``rotation`` changes) sets a new password on the idle member and makes it the
active one; the previously active member keeps its password until the next rotation, so the
deployment still running with it keeps working while the new one builds. Repeating an
interrupted rotation only sets another password on the idle member, which nothing uses yet.

``access`` is ``read_write`` (DML on every table and sequence of ``public``) or ``read_only``
(SELECT only, and read-only sessions). Grants are re-applied whenever ``grants_version``
changes (new tables from new migrations) and on every update.

Row-level security is the app's, not envstack's. A table with row level security shows a role
nothing until a policy names it, and envstack writes no policy: the app's own migrations
declare theirs for the group roles (``<app>_app`` for read_write, ``<app>_reader`` for
read_only, see ``group_role``), creating the group if it is missing, so the same files work
with the Supabase CLI. Envstack once did write them (``<group>_all``: FOR ALL USING (true)
WITH CHECK (true); ``<group>_select``: FOR SELECT USING (true), on every such table of
``public``): objects the app never declared, which overrode whatever its own policies allowed.
The first create or update of this version removes those, and only those, it can prove are
its own: that exact name and that exact definition (permissive, for the group alone). A
policy of the same name with another definition is the app's and stays; once removed, it
records ``old_policies_removed`` and never looks again. On a stack that had them, the
migrations that add the app's policies run before this update (the resource depends on
them), so the app's roles are never left without access.

The members are the stack's, proven, never assumed from their names: each carries in its
comment a tag only the holder of ``claim`` (a secret the stack recorded before making any role)
can write. A create finds members that carry it (an earlier run's, its answer lost or its
state gone) and takes them as they are. A member of that name without it is someone else's
(made by hand in an adopted project), and the create changes nothing and says so, unless
``claim_existing``: a server that is itself the stack's (a project or branch it created, the
project-managed dev server), where a member without the tag is an earlier run's. There too a
member whose comment says it serves another database is refused: it is another stack's on the
same server (two dev stacks of one ``envstack:app``), whose app logs in with its password. Once
the state records the members, an update writes the tag on them (roles made before tags), and
the delete drops them.

The group is the app's too once its policies name it: DROP OWNED BY the group would drop
those policies with it, so a delete then drops the two members and keeps the group (NOLOGIN,
without members, nobody can use it).

A refresh (``read``) checks the active member as the app uses it: it still exists, may log
in, and the password the app's variables carry still logs it in. A member dropped, set
NOLOGIN or given another password (or an expiry) outside the stack (by hand, in an incident)
is recorded in ``changed_outside``, and the next update sets the recorded password back (no
new password: the app's variables and deployments stay as they are, and work again). A database the
refresh cannot ask is not judged: the state stays as it was, with a warning. Over a local
server's Unix socket (the dev database) a login proves nothing, so only the first two are
checked there.

Passwords reach the server only as SCRAM-SHA-256 verifiers computed here, so the plain
password appears in no statement the server could log. The admin URL (a secret input) is
the project's ``postgres`` connection; on Supabase that role is no superuser, which is why
membership is taken before DROP OWNED.
"""

from __future__ import annotations

import re
import secrets
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

# Kept importable from here too (it lived here before envstack.db.scram).
from envstack.db.scram import scram_verifier as scram_verifier
from envstack.errors import ResourceError
from providers.declared import Declared, Inputs
from providers.ownership import carries, check_claim, tag
from providers.unknowns import is_unknown

SECRET_OUTPUTS = ("password", "claim")
ACCESS = ("read_write", "read_only")
# The group of each access, after the app's slug: what the app's own policies name.
GROUP_SUFFIX = {"read_write": "app", "read_only": "reader"}
# What envstack before issue 14 wrote on every table of public with row level security, per
# access: the policy's name (after the group), its command and its WITH CHECK expression. Its
# USING was ``true``, it was permissive, and it was for the group alone.
_OLD_POLICY = {"read_write": ("{}_all", "ALL", "true"), "read_only": ("{}_select", "SELECT", None)}
# Recorded in the outputs once the old policies are gone: later updates leave every policy alone.
OLD_POLICIES_REMOVED = "old_policies_removed"
MEMBERS = ("a", "b")
# Set by a refresh that found the active member changed outside the stack (what was found).
CHANGED_OUTSIDE = "changed_outside"
# Seconds to wait for another run's grants (they take well under one); a stale session that
# keeps the lock fails the step with its pid instead of hanging `pulumi up`.
LOCK_WAIT_SECONDS = 120.0
_IDENTIFIER_MAX = 63 - len("_a")
_SERVES = re.compile(r"for database (?P<database>.+) \[envstack [0-9a-f]{32}\]\Z")


def member(group: str, which: str) -> str:
    return f"{group}_{which}"


def group_role(app: str, access: str) -> str:
    """``<app>_app`` (read_write) or ``<app>_reader`` (read_only): the NOLOGIN group the app's
    login roles belong to, and the role its migrations' policies name (a slug's hyphens are
    not valid in an unquoted identifier, so they become underscores)."""
    return f"{app.replace('-', '_')}_{GROUP_SUFFIX[access]}"


def _connect(props: dict[str, Any]) -> Any:
    from envstack.db.connect import connect

    return connect(str(props["admin_url"]), autocommit=True)


def _subject(role: str) -> str:
    # Roles are the server's, not a database's: the name alone is the role.
    return f"role/{role}"


def _comment_on(role: str, claim: str, database: str) -> Any:
    from psycopg import sql

    # A utility statement takes no bound parameter: the comment goes in as a quoted literal. The
    # database it serves is there in words for whoever reads it, and for the create's check below.
    comment = f"managed by envstack for database {database} {tag(claim, _subject(role))}"
    return sql.SQL("COMMENT ON ROLE {} IS {}").format(sql.Identifier(role), sql.Literal(comment))


def _served_database(comment: str | None) -> str | None:
    """The database a tagged comment says its member serves (None before comments said so)."""
    found = _SERVES.search(comment or "")
    return found["database"] if found else None


def _others_members(conn: Any, group: str, claim: str, claim_existing: bool) -> dict[str, str | None]:
    """The members that exist and are someone else's, each with the other database it serves
    when its comment names one.

    Without ``claim_existing`` that is every member without this stack's tag. With it (the
    server is the stack's own) a member without a tag, or with another claim's tag for this very
    database, is an earlier run's whose state is gone; one tagged for another database is a
    stack's beside this one on the same server (roles are the server's, databases are not:
    two dev stacks of one envstack:app), and taking it would change the password that stack's
    app logs in with."""
    found = conn.execute(
        "SELECT rolname, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = ANY(%s)",
        ([member(group, which) for which in MEMBERS],),
    ).fetchall()
    theirs: dict[str, str | None] = {}
    for name, comment in found:
        if carries(comment, claim, _subject(name)):
            continue
        served = _served_database(comment)
        elsewhere = served if served != conn.info.dbname else None
        if not claim_existing or elsewhere is not None:
            theirs[name] = elsewhere
    return dict(sorted(theirs.items()))


def _refusal(theirs: dict[str, str | None]) -> ResourceError:
    several = len(theirs) > 1
    roles = f"database role{'s' if several else ''} {' and '.join(theirs)}"
    them = "them" if several else "it"
    elsewhere = sorted({served for served in theirs.values() if served is not None})
    if elsewhere:
        return ResourceError(
            f"{roles} serve{'' if several else 's'} database {' and '.join(elsewhere)}, another stack's on this "
            "server (tagged by a secret this stack does not hold), so nothing was changed: give this stack "
            "another envstack:app, or destroy that stack first"
        )
    are = "they are" if several else "it is"
    return ResourceError(
        f"{roles} already exist{'' if several else 's'} and nothing proves {them} this stack's (the roles envstack "
        f"makes carry the stack's tag in their comment), so nothing was changed: if {are} left from a stack "
        f"whose state is gone, drop {them} (DROP OWNED BY, then DROP ROLE) and run again; if {are} someone else's, "
        "give this stack another envstack:app"
    )


def _ensure_roles(conn: Any, group: str, access: str, claim: str | None) -> list[str]:
    """The group and its members, granted and set up (each member tagged with ``claim``'s tag);
    returns the members it had to create."""
    from psycopg import sql

    exists = "SELECT 1 FROM pg_roles WHERE rolname = %s"
    if conn.execute(exists, (group,)).fetchone() is None:
        conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
    created: list[str] = []
    for which in MEMBERS:
        name = member(group, which)
        # One transaction: a member whose create answer is lost carries the tag that proves it ours.
        with conn.transaction():
            if conn.execute(exists, (name,)).fetchone() is None:
                # No password until a rotation gives it one: nobody can log in as it before.
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN INHERIT PASSWORD NULL").format(sql.Identifier(name)))
                created.append(name)
            if claim:
                conn.execute(_comment_on(name, claim, conn.info.dbname))
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
        # Role settings are per login role (a group's are not inherited).
        setting = "on" if access == "read_only" else "off"
        conn.execute(
            sql.SQL("ALTER ROLE {} SET default_transaction_read_only = {}").format(
                sql.Identifier(name), sql.SQL(setting)
            )
        )
    return created


def grants_one_at_a_time(conn: Any) -> AbstractContextManager[None]:
    """Two resources granting or dropping at once in one database (the engine works on
    resources in parallel) race on the same catalog rows (the database's own ACL, postgres's
    default privileges in public, a table's ACL) and fail with "tuple concurrently updated":
    one at a time. Held by these pairs and by the dev database's pooler grants
    (providers/local_database_access.py)."""
    from envstack.db import advisory

    return advisory.held(
        conn,
        advisory.named_key(conn, advisory.LOGIN_ROLES),
        LOCK_WAIT_SECONDS,
        lambda who: ResourceError(
            f"another run is changing this database's grants: {who}; waited {LOCK_WAIT_SECONDS:g} s"
        ),
    )


def _grant(conn: Any, group: str, access: str) -> None:
    from psycopg import sql

    role = sql.Identifier(group)
    conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(conn.info.dbname), role))
    conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
    if access == "read_write":
        tables, sequences = sql.SQL("SELECT, INSERT, UPDATE, DELETE"), sql.SQL("USAGE, SELECT")
        conn.execute(sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA public TO {}").format(tables, role))
        conn.execute(sql.SQL("GRANT {} ON ALL SEQUENCES IN SCHEMA public TO {}").format(sequences, role))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {} ON TABLES TO {}").format(tables, role))
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {} ON SEQUENCES TO {}").format(sequences, role)
        )
    else:
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(role))
        conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {}").format(role))
    # No policy: which rows of a table with row level security the group sees is the app's to
    # say, in its migrations (see the module's docstring).


def _remove_old_policies(conn: Any, group: str, access: str) -> None:
    """Drop the policies an earlier envstack added for ``group``, and no other: the name and the
    whole definition must be what it wrote (a policy the app named so, or changed, stays)."""
    from psycopg import sql

    name, command, with_check = _OLD_POLICY[access]
    policy = name.format(group)
    tables = conn.execute(
        "SELECT tablename FROM pg_catalog.pg_policies WHERE schemaname = 'public' AND policyname = %s"
        " AND permissive = 'PERMISSIVE' AND roles = ARRAY[%s]::name[] AND cmd = %s AND qual = 'true'"
        " AND with_check IS NOT DISTINCT FROM %s",
        (policy, group, command, with_check),
    ).fetchall()
    for (table,) in tables:
        conn.execute(sql.SQL("DROP POLICY {} ON public.{}").format(sql.Identifier(policy), sql.Identifier(table)))
        pulumi.log.info(f"database role {group}: removed the policy {policy} an earlier envstack added to {table}")


def _named_by_policies(conn: Any, group: str) -> bool:
    """Whether a policy of this database names ``group`` (then the group is part of the app's schema)."""
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_policy p JOIN pg_catalog.pg_roles r"
        " ON r.oid = ANY (p.polroles) WHERE r.rolname = %s)",
        (group,),
    ).fetchone()
    return bool(row and row[0])


def _set_password(conn: Any, role: str, password: str) -> None:
    from psycopg import sql

    conn.execute(
        sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(scram_verifier(password))
        )
    )


def _changed_outside(props: dict[str, Any]) -> str | None:
    """What was done to the active member outside the stack, if anything; raises a psycopg
    error when the database cannot be asked."""
    import psycopg

    from envstack.db.connect import as_role, connect, login_refused, over_socket

    active, admin_url = str(props["active"]), str(props["admin_url"])
    with _connect(props) as conn:
        row = conn.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (active,)).fetchone()
    if row is None:
        return f"{active} was dropped"
    if not row[0]:
        return f"{active} may no longer log in"
    if over_socket(admin_url):
        return None  # a local server's socket may let any password in: a login proves nothing
    try:
        connect(as_role(admin_url, active, str(props["password"])), autocommit=True).close()
    except psycopg.OperationalError as error:
        if login_refused(error):
            return f"{active} no longer logs in with the password the app holds"
        raise
    return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class LoginRolesProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        group = news.get("group")
        if not isinstance(group, str) or not group or len(group) > _IDENTIFIER_MAX:
            failures.append(CheckFailure("group", f"a role name of 1 to {_IDENTIFIER_MAX} characters is required"))
        if news.get("access") not in ACCESS:
            failures.append(CheckFailure("access", f"one of {', '.join(ACCESS)}"))
        rotation = news.get("rotation")
        if not is_unknown(rotation) and (not isinstance(rotation, int | float) or int(rotation) < 0):
            failures.append(CheckFailure("rotation", "a counter (a whole number, 0 or more) is required"))
        return CheckResult(news, [*failures, *check_claim(news)])

    def create(self, props: dict[str, Any]) -> CreateResult:
        group, access, claim = str(props["group"]), str(props["access"]), str(props["claim"])
        password = secrets.token_urlsafe(32)
        active = member(group, "a")
        with _connect(props) as conn, grants_one_at_a_time(conn):
            theirs = _others_members(conn, group, claim, bool(props.get("claim_existing")))
            if theirs:
                raise _refusal(theirs)
            _ensure_roles(conn, group, access, claim)
            _grant(conn, group, access)
            # An earlier life of this resource (its state lost, or an old version's failed
            # create) may have left its policies behind.
            _remove_old_policies(conn, group, access)
            _set_password(conn, active, password)
            # Left over from an earlier life of this resource: no password is known for it now.
            conn.execute(_password_null(member(group, "b")))
        outs = {**props, "rotation": int(props["rotation"]), "active": active, "password": password}
        return CreateResult(id_=group, outs={**outs, "rotated_at": None, OLD_POLICIES_REMOVED: True})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in ("group", "access") if olds.get(key) != news.get(key)]
        # A new admin URL (the postgres password rotated) is kept for the next update and delete.
        changed = replaces or [
            key for key in ("rotation", "grants_version", "admin_url") if olds.get(key) != news.get(key)
        ]
        if olds.get(CHANGED_OUTSIDE):
            changed = [*changed, CHANGED_OUTSIDE]  # a refresh found it: the update sets it back
        # Roles of another group (envstack:app renamed) are other names: they are made, and the
        # app redeployed on them, before the roles it runs on now are dropped. The same group
        # (its access changed) can only go first.
        renamed = olds.get("group") != news.get("group")
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=not renamed)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        from psycopg import sql

        group, access = str(news["group"]), str(news["access"])
        active, password, rotated_at = str(olds["active"]), str(olds["password"]), olds.get("rotated_at")
        rotate = int(news["rotation"]) != int(olds["rotation"])
        with _connect(news) as conn, grants_one_at_a_time(conn):
            # The state records the members: they are the stack's, and get its tag if they lack it.
            created = _ensure_roles(conn, group, access, news.get("claim"))
            _grant(conn, group, access)
            if active in created:
                # A database of its own again (a project or branch made anew under a new admin
                # URL): the active role was just made without a password; it gets the recorded
                # one, which the app's variables hold.
                _set_password(conn, active, password)
                pulumi.log.info(f"database role {group}: {active} made again in a new database, with its password")
            if not olds.get(OLD_POLICIES_REMOVED):
                # The first update since envstack stopped writing policies (an older version's
                # outputs do not carry the mark, so going back and forth removes them again).
                _remove_old_policies(conn, group, access)
            if olds.get(CHANGED_OUTSIDE):
                # The recorded password, not a new one: what the app's variables hold works again.
                # An expiry or a connection limit set by hand would keep it out all the same.
                _set_password(conn, active, password)
                conn.execute(
                    sql.SQL("ALTER ROLE {} WITH VALID UNTIL 'infinity' CONNECTION LIMIT -1").format(
                        sql.Identifier(active)
                    )
                )
                pulumi.log.warn(
                    f"database role {group}: {olds[CHANGED_OUTSIDE]} (changed outside the stack); "
                    "its password is set back to the one the app's variables hold (if it leaked, run "
                    "`python -m envstack rotate --stack <stack> database --revoke-previous` next)"
                )
            if rotate:
                idle = member(group, "b") if active == member(group, "a") else member(group, "a")
                password = secrets.token_urlsafe(32)
                _set_password(conn, idle, password)
                pulumi.log.info(f"database role {group}: {idle} has a new password and is now the active role")
                active, rotated_at = idle, _now()
        outs = {**news, "rotation": int(news["rotation"]), "active": active, "password": password}
        return UpdateResult(outs={**outs, "rotated_at": rotated_at, OLD_POLICIES_REMOVED: True})

    def read(self, id_: str, props: dict[str, Any]) -> pulumi.dynamic.ReadResult:
        import psycopg

        from envstack.db.connect import login_refused, secrets_of
        from envstack.redaction import redact

        try:
            changed = _changed_outside(props)
        except psycopg.Error as error:
            said = redact(str(error).strip(), [*secrets_of(str(props["admin_url"])), str(props["password"])])
            why = "the database cannot be asked"
            if isinstance(error, psycopg.OperationalError) and login_refused(error):
                why = "the admin login is refused (a postgres password reset outside the stack: see rotation:postgres)"
            pulumi.log.warn(f"database role {props['group']}: not checked, {why}: {said}")
            return pulumi.dynamic.ReadResult(id_=id_, outs=props)
        if changed:
            pulumi.log.warn(f"database role {props['group']}: {changed}; the next `pulumi up` sets its password back")
        return pulumi.dynamic.ReadResult(id_=id_, outs={**props, CHANGED_OUTSIDE: changed})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from psycopg import sql

        if props.get("deleted_with_project"):
            # The project (or branch) is the stack's and goes next, its roles with it; its database
            # may not even answer (a Free project Supabase paused), which must not stop the teardown.
            return
        group, access = str(props["group"]), str(props["access"])
        with _connect(props) as conn, grants_one_at_a_time(conn):
            if not props.get(OLD_POLICIES_REMOVED):
                # Destroyed before any update of this version: envstack's own policies are still there.
                _remove_old_policies(conn, group, access)
            keep_group = _named_by_policies(conn, group)
            if keep_group:
                pulumi.log.info(f"database role {group}: kept without members, the app's policies name it")
            for name in (*(member(group, w) for w in MEMBERS), *(() if keep_group else (group,))):
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is None:
                    continue
                # DROP OWNED needs membership in the role; Supabase's postgres is no superuser,
                # and before PostgreSQL 16 creating a role does not make its creator a member.
                conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _password_null(role: str) -> Any:
    from psycopg import sql

    return sql.SQL("ALTER ROLE {} WITH PASSWORD NULL").format(sql.Identifier(role))


@dataclass(frozen=True)
class LoginRolesInputs(Inputs):
    secret_inputs = ("admin_url", "claim")
    admin_url: pulumi.Input[str]
    group: str
    access: str
    grants_version: pulumi.Input[str]
    # A secret recorded before any role is made: what proves a member the stack's (providers/ownership.py).
    claim: pulumi.Input[str]
    rotation: int = 0
    deleted_with_project: bool = False  # a created project or a preview branch, not an adopted project
    # The server is the stack's own: a member found without the tag is an earlier run's, and taken.
    claim_existing: bool = False


class LoginRoles(Declared, module="postgres", name="LoginRoles"):
    secret_outputs = SECRET_OUTPUTS
    active: pulumi.Output[str]
    password: pulumi.Output[str]
    # Kept in the outputs (encrypted): an update of a stack from before tags reads it from there.
    claim: pulumi.Output[str]
    rotated_at: pulumi.Output[str | None]

    def __init__(self, name: str, inputs: LoginRolesInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(LoginRolesProvider(), name, inputs, opts)
