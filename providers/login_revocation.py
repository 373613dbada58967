"""Dynamic provider: revoking the login member a database rotation made idle.

``LoginRoles`` keeps the previously active member's password until the next rotation, so the
deployment still running keeps working while the new one builds. When that credential must
stop working now (it leaked), ``revoked`` names the rotation whose previous credential goes:
once it equals ``rotation`` (above 0), this resource, declared after (depending on) the Vercel
redeploys that carry the new credential, waits ``drain_seconds`` for requests still in flight
on the old deployment, then

1. locks the idle member: ``ALTER ROLE … NOLOGIN PASSWORD NULL`` (no password is known for it
   any more, and it may not log in with any);
2. ends its sessions (``pg_terminate_backend``), so a connection opened before, a pooler's
   server connection included, does not outlive the revocation;
3. on a read replica (``replica_admin_candidates``, the routes to it as ``postgres``), once
   the replica has replayed the lock, ends the member's sessions there too: the primary's
   ``pg_stat_activity`` does not list them, and the replica's pooler keeps server
   connections of its own.

The active member (``active``, LoginRoles' output) is never touched. It is idempotent: running
it again locks the same member and finds no session. The next rotation gives the idle member
``LOGIN`` and a new password again before it becomes the active one (``LoginRoles``'s
update). With ``hold`` set (redeploys are off, so a deployment may still use the idle member)
nothing is revoked and the status says why. Delete does nothing: the roles are LoginRoles'.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from providers.declared import Declared, Inputs
from providers.postgres_login_roles import MEMBERS, member
from providers.unknowns import is_unknown

_COMPARED = ("group", "active", "rotation", "revoked", "hold")
REPLAY_TIMEOUT_SECONDS = 60.0  # how long a replica may lag the lock before the step fails


def _sleep(seconds: float) -> None:
    time.sleep(seconds)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def idle_member(group: str, active: str) -> str:
    """The member of ``group`` that is not ``active``."""
    names = [member(group, which) for which in MEMBERS]
    if active not in names:
        from envstack.errors import ResourceError

        raise ResourceError(f"database role {group}: the active role {active} is not one of its members")
    return next(name for name in names if name != active)


def due(props: dict[str, Any]) -> bool:
    """Whether ``props`` ask for the revocation of the previous credential of the current rotation."""
    revoked, rotation = int(props.get("revoked") or 0), int(props.get("rotation") or 0)
    return revoked > 0 and revoked == rotation


def _revoke(props: dict[str, Any]) -> int:
    """Lock the idle member and end its sessions, on the replica too; the number of sessions ended."""
    from psycopg import sql

    from envstack.db.connect import connect

    group, active = str(props["group"]), str(props["active"])
    idle = idle_member(group, active)
    with connect(str(props["admin_url"]), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (idle,)).fetchone() is None:
            return 0  # never created (or already dropped): nothing can log in as it
        role = sql.Identifier(idle)
        conn.execute(sql.SQL("ALTER ROLE {} WITH NOLOGIN PASSWORD NULL").format(role))
        locked_at = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        # Ending another role's sessions takes that role's privileges (or pg_signal_backend, which
        # Supabase's postgres has); a role's creator may take them, as LoginRoles' delete does.
        row = conn.execute(
            "SELECT pg_has_role(current_user, %s, 'USAGE') OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE')",
            (idle,),
        ).fetchone()
        borrowed = not (row and row[0])
        if borrowed:
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
        try:
            ended = conn.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE usename = %s AND pid <> pg_backend_pid()",
                (idle,),
            ).fetchone()
        finally:
            if borrowed:
                conn.execute(sql.SQL("REVOKE {} FROM CURRENT_USER").format(role))
    replica = [str(c) for c in props.get("replica_admin_candidates") or []]
    on_replica = _end_on_replica(replica, idle, str(locked_at[0]) if locked_at else None) if replica else 0
    return (int(ended[0]) if ended else 0) + on_replica


def _end_on_replica(candidates: list[str], idle: str, locked_at: str | None) -> int:
    """End ``idle``'s sessions on the read replica once it has replayed the lock (ended sooner,
    a client could log in again in between); the number ended."""
    from envstack.clients.polling import Backoff
    from envstack.db.connect import connect
    from envstack.errors import ResourceError
    from providers.database_route import choose

    url, _ = choose(candidates)
    backoff = Backoff(first=0.05, cap=1.0, timeout=REPLAY_TIMEOUT_SECONDS, sleep=_sleep)
    with connect(url, autocommit=True) as conn:
        while locked_at is not None:
            row = conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (locked_at,)).fetchone()
            if row and row[0]:
                break
            if backoff.expired():
                raise ResourceError(
                    f"the read replica had not replayed the revocation of {idle} after {REPLAY_TIMEOUT_SECONDS:.0f}s "
                    "(it lags the primary), so its sessions there were not ended yet; run `pulumi up` again"
                )
            backoff.wait()
        # Supabase's postgres has pg_signal_backend, and a standby cannot grant the role
        # itself as the primary's step may.
        ended = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE usename = %s AND pid <> pg_backend_pid()",
            (idle,),
        ).fetchone()
    return int(ended[0]) if ended else 0


def _apply(props: dict[str, Any], olds: dict[str, Any]) -> dict[str, Any]:
    group, rotation = str(props["group"]), int(props.get("rotation") or 0)
    # What is revoked now: a member revoked for an earlier rotation has a new password by now.
    same = olds.get("revoked_rotation") == rotation
    revoked_role = olds.get("revoked_role") if same else None
    revoked_rotation, revoked_at = (rotation, olds.get("revoked_at")) if same else (None, None)
    if not due(props):
        status = f"database role {group}: the previous role of rotation {rotation} keeps its password until the next"
    elif props.get("hold"):
        status = f"database role {group}: the previous role is not revoked: {props['hold']}"
    else:
        idle = idle_member(group, str(props["active"]))
        # Already revoked for this rotation (a new admin URL, say): no deployment is left to drain.
        drain = 0.0 if revoked_role == idle else float(props.get("drain_seconds") or 0)
        if drain > 0:
            pulumi.log.info(f"database role {group}: revoking {idle} in {drain:.0f}s (requests in flight finish)")
            _sleep(drain)
        ended = _revoke(props)
        pulumi.log.info(f"database role {group}: {idle} is revoked (NOLOGIN, no password); {ended} sessions ended")
        revoked_role, revoked_rotation, revoked_at = idle, rotation, _now()
        status = f"database role {group}: {idle}, the previous role of rotation {rotation}, is revoked"
    outs = {k: props.get(k) for k in (*_COMPARED, "admin_url", "replica_admin_candidates", "drain_seconds")}
    return {
        **outs,
        "revoked_role": revoked_role,
        "revoked_rotation": revoked_rotation,
        "revoked_at": revoked_at,
        "status": status,
    }


class LoginRevocationProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        for key in ("rotation", "revoked"):
            value = news.get(key)
            if not is_unknown(value) and (not isinstance(value, int | float) or int(value) < 0):
                failures.append(CheckFailure(key, "a counter (a whole number, 0 or more) is required"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=f"{props['group']}/revocation", outs=_apply(props, {}))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # A new admin URL (the postgres password rotated) is kept for the next revocation.
        changed = [k for k in (*_COMPARED, "admin_url", "drain_seconds") if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_apply(news, olds))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # the roles are LoginRoles'; a revoked member gets LOGIN back at its next rotation


@dataclass(frozen=True)
class LoginRevocationInputs(Inputs):
    secret_inputs = ("admin_url", "replica_admin_candidates")
    admin_url: pulumi.Input[str]
    group: str
    active: pulumi.Input[str]  # LoginRoles' active member: the one never touched
    rotation: int
    revoked: int  # rotation:databaseRevoked
    drain_seconds: float = 0.0
    hold: str | None = None
    # The read replica as postgres, routes in order of preference (None: no replica).
    replica_admin_candidates: pulumi.Input[list[str]] | None = None


class LoginRevocation(Declared, module="postgres", name="LoginRevocation"):
    revoked_role: pulumi.Output[str | None]
    revoked_rotation: pulumi.Output[int | None]
    revoked_at: pulumi.Output[str | None]
    status: pulumi.Output[str]

    def __init__(self, name: str, inputs: LoginRevocationInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(LoginRevocationProvider(), name, inputs, opts)
