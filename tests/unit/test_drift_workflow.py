"""The scheduled drift workflow: doctor on staging and production, diff between them, a red run on
any failure. (actionlint and the command check of every workflow are in test_workflows.py.)"""

from __future__ import annotations

from tests.unit.test_workflows import PR_SECRETS, ROOT, load, steps

DRIFT = ROOT / ".github" / "workflows" / "drift.yml"


def test_it_runs_on_a_schedule_and_by_hand_with_read_only_permissions() -> None:
    workflow = load(DRIFT)
    assert workflow["on"]["schedule"], "scheduled"
    assert "workflow_dispatch" in workflow["on"]
    assert workflow["permissions"] == {"contents": "read"}


def test_doctor_checks_staging_and_production_and_diff_compares_them() -> None:
    jobs = load(DRIFT)["jobs"]
    assert jobs["doctor"]["strategy"]["matrix"]["stack"] == ["staging", "production"]
    assert jobs["doctor"]["strategy"]["fail-fast"] is False, "one unhealthy stack does not hide the other"
    scripts = {name: "\n".join(str(s.get("run") or "") for s in job["steps"]) for name, job in jobs.items()}
    assert 'python -m envstack doctor --stack "$STACK"' in scripts["doctor"]
    assert "python -m envstack diff staging production" in scripts["diff"]
    for name in ("doctor", "diff"):
        assert 'exit "$status"' in scripts[name], f"{name}: a failure or drift fails the job"
        assert "::error" in scripts[name], f"{name}: and says so in an annotation"
        assert "GITHUB_STEP_SUMMARY" in scripts[name], f"{name}: with the table in the run's summary"


def test_every_step_that_runs_envstack_gets_the_credentials_and_nothing_hides_a_failure() -> None:
    found = 0
    for where, step, env in steps(DRIFT):
        assert "continue-on-error" not in step, where
        if "python -m envstack" in str(step.get("run") or ""):
            found += 1
            for name in PR_SECRETS:
                assert env[name] == f"${{{{ secrets.{name} }}}}", f"{where}: {name}"
    assert found == 2
