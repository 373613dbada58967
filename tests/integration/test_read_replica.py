"""supabase:readReplica: a real replica that follows the primary, POSTGRES_READ_REPLICA_URL pointed
at it as the read-only role, and gone again when the setting is: the real engine, both local APIs."""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from pulumi import automation as auto

from envstack.clients.supabase_replicas import SupabaseReplicaClient
from tests.integration.workspace import ProjectCopy, local_apis, make_project_copy

pytestmark = pytest.mark.engine

PROJECT = "nivo-dashboard"


@pytest.fixture
def project(tmp_path: Path, supabase_api: Any, vercel_api: Any) -> ProjectCopy:
    # The replica's provisioning is instant here; its clock-driven wait is the provider's own test.
    supabase_api.configure(replica_provisioning=0)
    vercel_api.create_project(PROJECT)
    vercel_api.deploy(PROJECT, target="preview")
    return make_project_copy(tmp_path, {"SUPABASE_ACCESS_TOKEN": supabase_api.token, "VERCEL_TOKEN": vercel_api.token})


def preview(vercel_api: Any, name: str) -> str:
    return str(next(e.value for e in vercel_api.env_vars(PROJECT) if e.key == name and "preview" in e.target))


def login(url: str) -> str:
    return unquote(urlsplit(url).username or "")


def doctor_checks(project: ProjectCopy) -> dict[str, dict[str, str]]:
    """`doctor --json` on staging: each check by its name."""
    doctor = project.envstack("doctor", "--stack", "staging", "--json")
    return {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}


def followed(conn: psycopg.Connection[Any], marker: str) -> bool:
    """The marker row has reached the replica (the table itself may not have yet)."""
    if conn.execute("SELECT to_regclass('public.replica_probe')").fetchone() == (None,):
        return False
    return conn.execute("SELECT 1 FROM public.replica_probe WHERE marker = %s", (marker,)).fetchone() is not None


def test_a_replica_serves_the_read_only_url_and_goes_with_the_setting(
    project: ProjectCopy, supabase_api: Any, vercel_api: Any
) -> None:
    config = {
        **local_apis(supabase_api, vercel_api),
        "vercel:projects": json.dumps([PROJECT]),
        "supabase:instanceSize": "small",
        "supabase:readReplica": json.dumps({"region": "eu-central-1"}),
    }
    staging = project.stack("staging", config)
    staging.up(on_output=project.on_output)
    outputs = {k: str(v.value) for k, v in staging.outputs().items()}
    ref = outputs["supabase_project_ref"]
    with SupabaseReplicaClient(base_url=supabase_api.url, token=supabase_api.token) as client:
        (replica,) = client.list_read_replicas(ref)
    assert replica.region == "eu-central-1"

    replica_url = preview(vercel_api, "POSTGRES_READ_REPLICA_URL")
    assert replica_url == outputs["read_only_url"]
    reader, _, route = login(replica_url).partition(".")
    assert route == replica.identifier, "the pooler routes the login to the replica"
    assert reader.endswith(("_reader_a", "_reader_b")), "as the read-only role"
    assert login(preview(vercel_api, "POSTGRES_URL")).endswith(f".{ref}"), "the app still writes to the primary"

    # A row written on the primary is read on the replica; the replica refuses writes.
    marker = secrets.token_hex(8)
    with psycopg.connect(outputs["migrations_url"], autocommit=True) as primary:
        primary.execute("CREATE TABLE IF NOT EXISTS public.replica_probe (marker text)")
        primary.execute("GRANT SELECT ON public.replica_probe TO PUBLIC")
        primary.execute("INSERT INTO public.replica_probe VALUES (%s)", (marker,))
    with psycopg.connect(replica_url, autocommit=True, prepare_threshold=None) as conn:
        deadline = time.monotonic() + 30
        while not followed(conn, marker):
            assert time.monotonic() < deadline, "the replica did not follow the primary within 30 s"
            time.sleep(0.05)
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO public.replica_probe VALUES ('written on a replica')")

    # doctor sees it: listed healthy, reached by the read-only URL, following the primary.
    checks = doctor_checks(project)
    assert checks["read replica"]["status"] == "pass", checks
    assert (
        f"{replica.identifier} in eu-central-1 is ACTIVE_HEALTHY; the read-only URL reaches it"
        in (checks["read replica"]["detail"])
    )
    assert checks["read_only_url"]["status"] == "pass", checks

    # Its replay stopped while the primary writes on: the replica still answers, with ever older
    # data, and doctor fails it once it is further behind than envstack:monitoring allows.
    standby = supabase_api.emulator.replicas.find(replica.identifier)
    assert standby is not None
    assert standby.server is not None
    project.write_settings("staging", {"envstack:monitoring": json.dumps({"replicaLagMegabytes": 1})})
    with psycopg.connect(standby.server.admin_conninfo(), autocommit=True) as admin:
        admin.execute("SELECT pg_wal_replay_pause()")
        try:
            with psycopg.connect(outputs["migrations_url"], autocommit=True) as primary:
                # About 5 MB of WAL.
                primary.execute(
                    "CREATE TABLE public.lag_probe AS"
                    " SELECT g, repeat('x', 200) AS filler FROM generate_series(1, 20000) g"
                )
            lagging = doctor_checks(project)["read replica"]
        finally:
            admin.execute("SELECT pg_wal_replay_resume()")
    assert lagging["status"] == "fail", lagging
    assert re.fullmatch(
        rf"{replica.identifier} in eu-central-1 is ACTIVE_HEALTHY; the read-only URL reaches it, but its replay is "
        r"[\d.]+ MB behind the primary, more than envstack:monitoring.replicaLagMegabytes \(1\)",
        lagging["detail"],
    ), lagging
    with psycopg.connect(replica_url, autocommit=True, prepare_threshold=None) as conn:
        deadline = time.monotonic() + 30
        while conn.execute("SELECT to_regclass('public.lag_probe')").fetchone() == (None,):
            assert time.monotonic() < deadline, "the replica did not catch up within 30 s of its replay resuming"
            time.sleep(0.05)
    assert doctor_checks(project)["read replica"]["status"] == "pass", "caught up, it passes again"

    # A rotation that revokes the previous roles ends the previous reader's sessions on the
    # replica too, where the primary's pg_stat_activity does not see them.
    with psycopg.connect(replica_url, autocommit=True, prepare_threshold=None) as held:
        held.execute("SELECT 1")
        revoke = {"rotation:database": "1", "rotation:databaseRevoked": "1", "rotation:revokeDrainSeconds": "0"}
        staging.set_all_config({key: auto.ConfigValue(value) for key, value in revoke.items()})
        staging.up(on_output=project.on_output)
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(replica_url, autocommit=True, prepare_threshold=None, connect_timeout=5).close()
    postgres_password = unquote(urlsplit(outputs["migrations_url"]).password or "")
    assert postgres_password, "the replica's admin routes carry it"
    assert postgres_password not in project.export_state("staging"), "stored encrypted"
    rotated = preview(vercel_api, "POSTGRES_READ_REPLICA_URL")
    assert login(rotated).partition(".")[0] != reader, "the other reader is active"
    with psycopg.connect(rotated, autocommit=True, prepare_threshold=None) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)

    # Unset, the replica is removed and the variable is the read-only role on the primary again.
    staging.remove_config("supabase:readReplica")
    staging.up(on_output=project.on_output)
    with SupabaseReplicaClient(base_url=supabase_api.url, token=supabase_api.token) as client:
        assert client.list_read_replicas(ref) == []
    on_primary = preview(vercel_api, "POSTGRES_READ_REPLICA_URL")
    assert login(on_primary).endswith(f".{ref}")
    with psycopg.connect(on_primary, autocommit=True, prepare_threshold=None) as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
