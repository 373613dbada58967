"""With supabase:readReplica, a `doctor` line for the replica: the Management API lists it healthy
in the region the stack asked for, the read-only URL reaches it (a server in recovery, not the
primary), and its replay is no further behind the primary's WAL than
envstack:monitoring.replicaLagMegabytes: a replica that has stopped replaying still answers,
with ever older data."""

from __future__ import annotations

import psycopg

from envstack.clients import tokens
from envstack.db.connect import connect_for_check, secrets_of
from envstack.errors import ApiError
from envstack.ops.checks import Check
from envstack.ops.stack_view import StackView
from envstack.redaction import redact

NAME = "read replica"
MEBIBYTE = 1024 * 1024


def replica_check(view: StackView) -> list[Check]:
    chosen, project = view.settings.supabase.read_replica, view.supabase
    token = tokens.present(tokens.SUPABASE)
    if chosen is None or project is None or not token:
        return []
    from envstack.clients.supabase_replicas import HEALTHY, SupabaseReplicaClient

    try:
        with SupabaseReplicaClient(base_url=project.management_api, token=token) as client:
            replica = client.find_read_replica(project.ref, chosen.region)
    except ApiError as exc:
        return [Check.failed(NAME, str(exc))]
    if replica is None:
        return [Check.failed(NAME, f"none in {chosen.region}: run pulumi up --refresh")]
    if replica.status != HEALTHY:
        return [Check.failed(NAME, f"{replica.identifier} is {replica.status}, not {HEALTHY}")]
    replica_url, primary_url = view.output("read_only_url"), view.history_url
    if not replica_url or not primary_url:
        return [Check.failed(NAME, "the stack exports no read-only URL")]
    try:
        with connect_for_check(replica_url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text").fetchone()
        if not row or not row[0]:
            return [Check.failed(NAME, f"{replica.identifier} is healthy, but the read-only URL reaches the primary")]
        with connect_for_check(primary_url, autocommit=True) as conn:
            behind = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)::bigint", (row[1],))
            lag = (behind.fetchone() or (0,))[0]
    except psycopg.Error as exc:
        known = [*secrets_of(replica_url), *secrets_of(primary_url)]
        return [Check.failed(NAME, redact(f"cannot use it: {str(exc).strip()}", known))]
    where = f"{replica.identifier} in {replica.region} is {HEALTHY}; the read-only URL reaches it"
    limit = view.settings.envstack.monitoring.replica_lag_megabytes
    if lag > limit * MEBIBYTE:
        return [
            Check.failed(
                NAME,
                f"{where}, but its replay is {lag / MEBIBYTE:.1f} MB behind the primary, more than "
                f"envstack:monitoring.replicaLagMegabytes ({limit:g})",
            )
        ]
    return [Check.passed(NAME, f"{where}, replay {lag} bytes behind the primary")]
