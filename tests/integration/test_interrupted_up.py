"""`pulumi up` of staging from scratch, killed with SIGKILL at ten points, then recovered;
and a `pulumi destroy` killed halfway, then finished.

Each test holds one known API call (a ``hang`` fault: the call waits in the emulator, before
it takes effect or after), kills the run while it waits, and then does what a user does:
`pulumi up` refuses (the killed run's lock), `python -m envstack recover --stack staging`
clears what the killed run left, and `pulumi up` converges: one Supabase project, one set of
variables, nothing pending, no secret shown, and a following up is a no-op.

Most points kill the run whole (the engine and every plugin it started, as when a machine
or container goes away). Two kill only the `pulumi` process, as the OOM killer would: its
resource provider lives on as an orphan, still inside a call (waiting for a project, or for
the migration runner it started), which ``recover`` has to stop.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg
import pytest

from envstack.ops import recovery
from tests.emulators.common.faults import FaultRule, When
from tests.emulators.supabase.testing import pg
from tests.integration.convergence import (
    PROJECT as PROJECT_NAME,
)
from tests.integration.convergence import (
    STACK,
    EngineRun,
    Staging,
    assert_converged,
    assert_noop,
    wait_until,
)

pytestmark = pytest.mark.engine

PROJECT_PATH = r"/v1/projects/[a-z]{20}"
ENV = r"/v10/projects/[^/]+/env"
# Run 1 waits here at most this long for the held call (the engine's start included).
REACH_SECONDS = 120


@dataclass(frozen=True)
class KillPoint:
    api: Literal["supabase", "vercel"]
    method: str
    path: str
    when: When
    skip: int = 0  # matching calls let through first
    engine_only: bool = False  # kill `pulumi` alone; its plugins live on


POINTS = {
    # The create is on its way: Supabase never sees it.
    "project-create-sent": KillPoint("supabase", "POST", r"/v1/projects", "before"),
    # Supabase made the project; the answer (its ref) never arrives.
    "project-create-answered": KillPoint("supabase", "POST", r"/v1/projects", "after"),
    # The project is COMING_UP; the provider is polling it, and outlives the engine.
    "while-provisioning": KillPoint("supabase", "GET", PROJECT_PATH, "after", skip=1, engine_only=True),
    # The project is healthy; its pooler and keys are not read yet.
    "healthy-before-keys": KillPoint("supabase", "GET", PROJECT_PATH + "/api-keys", "before"),
    # The database is migrated and its login roles exist; the variables are being checked.
    "variables-listed": KillPoint("vercel", "GET", ENV, "before"),
    # The batch of variables is on its way: Vercel never sees it.
    "variables-write-sent": KillPoint("vercel", "POST", ENV, "before"),
    # Vercel wrote every variable; the answer (their ids) never arrives.
    "variables-written": KillPoint("vercel", "POST", ENV, "after"),
    # The redeploy started; its answer never arrives.
    "redeploy-started": KillPoint("vercel", "POST", r"/v13/deployments", "after"),
    # Waiting for the redeploy to be READY.
    "redeploy-building": KillPoint("vercel", "GET", r"/v13/deployments/[^/]+", "before"),
}


@pytest.mark.parametrize("point", list(POINTS.values()), ids=list(POINTS))
def test_a_killed_up_converges_after_recover(fresh_staging: Staging, point: KillPoint) -> None:
    staging = fresh_staging
    if point.skip:
        staging.supabase.configure(provisioning_delay=3.0)  # COMING_UP long enough to be polled twice
    if point.path.startswith(r"/v13/deployments/"):
        staging.vercel.configure(build_seconds=1.0)  # a build that has to be waited for
    api = staging.supabase if point.api == "supabase" else staging.vercel
    rule = api.faults.add(
        FaultRule(path=point.path, method=point.method, when=point.when, action="hang", skip=point.skip)
    )
    run = staging.spawn_up()
    assert rule.fired.wait(REACH_SECONDS), f"the run never reached {point}:\n{run.output()}"
    if point.engine_only:
        run.kill_engine()
    else:
        run.kill()
    rule.release()
    recover(staging, run, orphans=point.engine_only)
    staging.up()
    assert_converged(staging)
    assert_noop(staging)


def test_killed_during_migrations(fresh_staging: Staging) -> None:
    """The tenth point: the migration runner, started by the provider, is between files."""
    staging = fresh_staging
    key = 7_250_001
    migrations = staging.copy.root / "supabase" / "migrations"
    (migrations / "20250103000000_wait_for_the_test.sql").write_text(
        "-- Waits for a lock the test holds, so the run is killed between migration files.\n"
        f"SELECT pg_advisory_xact_lock({key});\n"
    )
    # Held once the project is healthy: the test takes the lock before migrations can start.
    healthy = staging.supabase.faults.add(
        FaultRule(path=PROJECT_PATH + "/postgrest", method="GET", when="after", action="hang")
    )
    run = staging.spawn_up()
    assert healthy.fired.wait(REACH_SECONDS), run.output()
    (project,) = staging.supabase.emulator.state.projects_of(staging.supabase.tenant)
    info = staging.supabase.project(project.ref)
    assert info is not None
    with pg(info.db_host, info.db_port, "postgres", info.db_password) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (key,))
        healthy.release()

        def runner_waits() -> bool:
            row = holder.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ("%pg_advisory_xact_lock%",),
            ).fetchone()
            return row is not None and row[0] == 1

        wait_until(runner_waits, REACH_SECONDS, "the migration runner to reach the third file")
        assert applied(holder) == ["20250101000000", "20250102000000"]
        run.kill_engine()  # the provider and its runner live on, still waiting for the lock
        recover(staging, run, orphans=True)
    # The lock is gone with the test's session: the killed runner's transaction rolls back.
    staging.up()
    with pg(info.db_host, info.db_port, "postgres", info.db_password) as check:
        assert applied(check) == ["20250101000000", "20250102000000", "20250103000000", "20250201000000"]
    assert_converged(staging)
    assert_noop(staging)


def recover(staging: Staging, run: EngineRun, *, orphans: bool) -> None:
    """What a user meets after the kill, and `python -m envstack recover`."""
    backend = Path(staging.copy.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    assert [lock.stale for lock in recovery.stack_locks(backend, "envstack", STACK)] == [True], "a lock is left"
    if orphans:
        assert run.leftovers(), "the killed engine's plugins outlive it"
    refused = staging.up_failing()
    # The lock; or, when the kill fell inside a checkpoint write, the metadata file it cut short.
    assert "the stack is currently locked by 1 lock(s)" in refused or "failed to load checkpoint: EOF" in refused
    done = staging.envstack("recover", "--stack", STACK)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "removed the lock" in done.stdout
    assert "interrupted operations from the state" in done.stdout, done.stdout
    if orphans:
        assert "plugin process groups a killed run left behind" in done.stdout, done.stdout
    wait_until(lambda: run.leftovers() == [], 30, "every process of the killed run to be gone")
    assert recovery.stack_locks(backend, "envstack", STACK) == []


def test_a_killed_destroy_is_finished_by_the_next(fresh_staging: Staging) -> None:
    """Teardown is certain: a destroy killed halfway (variables gone, the project's delete on its
    way) is finished by recover and one more destroy; a destroy after that deletes nothing."""
    staging = fresh_staging
    staging.up()
    ref = str(staging.stack.outputs()["supabase_project_ref"].value)
    rule = staging.supabase.faults.add(FaultRule(path=PROJECT_PATH, method="DELETE", when="before", action="hang"))
    run = staging.spawn("destroy")
    assert rule.fired.wait(REACH_SECONDS), f"the destroy never reached the project:\n{run.output()}"
    assert staging.vercel.env_vars(PROJECT_NAME) == [], "the variables went first"
    run.kill()
    rule.release()
    assert staging.supabase.project_status(ref) == "ACTIVE_HEALTHY", "the killed call never took effect"

    done = staging.envstack("recover", "--stack", STACK)
    assert done.returncode == 0, done.stdout + done.stderr
    staging.stack.destroy(on_output=staging.copy.on_output)
    assert staging.supabase.project_status(ref) is None, "the project is gone"
    assert staging.vercel.env_vars(PROJECT_NAME) == []

    before = staging.writes()
    staging.stack.destroy(on_output=staging.copy.on_output)
    assert staging.writes() == before, "a second destroy is a no-op"


def applied(conn: psycopg.Connection[Any]) -> list[str]:
    return [str(r[0]) for r in conn.execute("SELECT version FROM supabase_migrations.schema_migrations ORDER BY 1")]


def test_a_checkpoint_whose_metadata_a_kill_cut_short_is_recovered(fresh_staging: Staging) -> None:
    """The backend rewrites a checkpoint's ``.attrs`` sidecar in place before each checkpoint:
    a kill in between leaves it empty, as CI once met at the "project-create-answered" point."""
    staging = fresh_staging
    staging.up()
    backend = Path(staging.copy.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    sidecar = backend / ".pulumi" / "stacks" / "envstack" / f"{STACK}.json.attrs"
    assert sidecar.is_file()
    sidecar.write_bytes(b"")
    assert "failed to load checkpoint: EOF" in staging.up_failing()
    done = staging.envstack("recover", "--stack", STACK)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"removed .pulumi/stacks/envstack/{STACK}.json.attrs" in done.stdout
    assert_converged(staging)
    assert_noop(staging)


def test_recover_leaves_a_run_that_may_still_be_going_alone(fresh_staging: Staging) -> None:
    staging = fresh_staging
    backend = Path(staging.copy.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    locks = backend / ".pulumi" / "locks" / "organization" / "envstack" / STACK
    locks.mkdir(parents=True, exist_ok=True)  # the backend keeps the directory once a lock was taken
    held = locks / "held-by-a-live-run.json"
    # A process whose command line says pulumi stands in for a run that is still going.
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "pulumi", "up"])
    staging.stand_ins.append(running)
    held.write_text(json.dumps({"pid": running.pid, "username": "ci", "hostname": socket.gethostname()}))
    # The live run is rewriting its lock's sidecar (truncate, then write): recover must not take
    # that for what a killed write left.
    being_written = held.with_name(held.name + ".attrs")
    being_written.write_bytes(b"")
    refused = staging.envstack("recover", "--stack", STACK)
    assert refused.returncode == 1
    assert "that process still runs" in refused.stderr
    assert "pass --force only once you are sure no run is going" in refused.stderr
    assert held.exists()
    assert being_written.exists(), "recover touched the backend while a run may still be going"
    forced = staging.envstack("recover", "--stack", STACK, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "--force" in forced.stdout
    assert not held.exists()
    again = staging.envstack("recover", "--stack", STACK)
    assert again.returncode == 0, again.stderr
    assert "the stack is not locked" in again.stdout
    assert "no interrupted operations in the state" in again.stdout
