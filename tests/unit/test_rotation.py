"""The rotation settings, the secrets envstack rotates, and how `rotate` follows a rotation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from envstack.errors import Refused, SettingsError, StackError
from envstack.ops import rotate_stack, rotation
from envstack.settings import load_settings

STAGING = {
    "envstack:app": "hermes",
    "envstack:database": '{"provider": "supabase"}',
    "supabase:organization": "hermes-security",
    "supabase:region": "eu-central-1",
}
DEV = {"envstack:app": "hermes", "envstack:database": '{"provider": "local", "name": "hermes_dev"}'}


def test_counters_and_waits_have_defaults_and_every_secret_is_a_setting() -> None:
    settings = load_settings("staging", STAGING)
    assert rotation.counters(settings) == {"database": 0, "postgres": 0, "jwt": 0, "api-keys": 0, "app-secret": 0}
    assert settings.rotation.jwt_standby_seconds == 1200
    assert settings.rotation.jwt_revoke_after_seconds is None
    for secret in rotation.SECRETS.values():
        bumped = load_settings("staging", {**STAGING, secret.key: "7"})
        assert rotation.counter(bumped, secret) == 7, secret.key


@pytest.mark.parametrize(
    ("key", "value", "sentence"),
    [
        (
            "rotation:database",
            "-1",
            "Invalid stack setting rotation:database: input should be greater than or equal to 0.",
        ),
        ("rotation:apiKeys", "two", "Invalid stack setting rotation:apiKeys: input should be a valid integer"),
        ("rotation:jwtStandbySeconds", "-5", "Invalid stack setting rotation:jwtStandbySeconds: input should be"),
        ("rotation:rotateEverything", "1", "Invalid stack setting rotation:rotateEverything: unknown setting."),
    ],
)
def test_a_bad_rotation_setting_fails_with_one_sentence_naming_the_key(key: str, value: str, sentence: str) -> None:
    with pytest.raises(SettingsError) as failed:
        load_settings("staging", {**STAGING, key: value})
    assert str(failed.value).startswith(sentence)
    assert "\n" not in str(failed.value)


def test_an_adopted_projects_postgres_password_is_not_rotated_by_the_stack() -> None:
    adopted = {**STAGING, "supabase:projectRef": "abcdefghijklmnopqrst", "supabase:dbPassword": "set-by-its-owner"}
    with pytest.raises(SettingsError, match=r"^Invalid stack setting rotation:postgres: an adopted project"):
        load_settings("staging", {**adopted, "rotation:postgres": "1"})
    assert load_settings("staging", {**adopted, "rotation:jwt": "1"}).rotation.jwt == 1


def test_the_dev_stack_rotates_only_the_app_secret() -> None:
    assert rotation.counters(load_settings("dev", {**DEV, "rotation:appSecret": "2"})) == {"app-secret": 2}


def test_a_preview_branch_has_no_postgres_password_of_the_stacks_to_rotate() -> None:
    """A pull-request stack on a branch inherits staging's rotation:postgres; raising it there
    recorded a rotation that changed nothing."""
    branch = {
        **STAGING,
        "envstack:database": '{"provider": "supabase-branch", "parentRef": "abcdefghijklmnopqrst"}',
        "envstack:pullRequest": '{"number": 7, "branch": "feature/x"}',
        "rotation:postgres": "3",
    }
    settings = load_settings("pr-7", branch)
    assert "postgres" not in rotation.counters(settings)
    assert rotation.why_not(settings, rotation.SECRETS["postgres"]) == (
        "its database is a preview branch, whose postgres password is the branch's own, set by Supabase"
    )
    assert rotation.counters(settings)["database"] == 0, "its login roles are the stack's"


def test_who_rotates() -> None:
    assert rotation.run_identity({"ENVSTACK_RUN_ID": "deploy 12"}) == "deploy 12"
    github = {"GITHUB_RUN_ID": "981", "GITHUB_REPOSITORY": "acme/web", "GITHUB_RUN_ATTEMPT": "2"}
    assert rotation.run_identity(github) == "GitHub Actions run 981 of acme/web (attempt 2)"
    assert "@" in rotation.run_identity({})


@dataclass
class FakeValue:
    value: Any


@dataclass
class FakeResult:
    outputs: dict[str, FakeValue]


@dataclass
class FakeStack:
    """Each up moves the JWT rotation one scripted step on."""

    statuses: list[dict[str, Any]]
    name: str = "staging"
    ups: int = 0
    printed: list[str] = field(default_factory=list)

    def up(self, **_: Any) -> FakeResult:
        self.ups += 1
        return FakeResult({"rotations": FakeValue({"jwt": self.statuses[self.ups - 1]})})


def test_rotate_waits_for_each_due_step_and_runs_up_again() -> None:
    now = [1000.0]
    stack = FakeStack(
        [
            {"step": "standby", "status": "standby published", "next_step": "switch", "next_due_epoch": 1060.0},
            {"step": "switched", "status": "switched", "next_step": "revoke", "next_due_epoch": 1200.0},
            {"step": "idle", "status": "rotation 1 is complete", "next_due_epoch": None, "counter": 1},
        ]
    )
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    code = rotate_stack.follow(stack, "jwt", stack.printed.append, wait=True, sleep=sleep, clock=lambda: now[0])  # type: ignore[arg-type]
    assert code == 0
    assert stack.ups == 3
    assert [round(w) for w in waits] == [60, 140]
    assert any("rotation 1 is complete" in line for line in stack.printed)


def test_rotate_without_waiting_says_when_to_run_again() -> None:
    stack = FakeStack([{"step": "standby", "status": "standby published", "next_due_epoch": 5.0, "next_due_at": "T"}])
    assert rotate_stack.follow(stack, "jwt", stack.printed.append, wait=False) == 0  # type: ignore[arg-type]
    assert stack.ups == 1
    assert any("after T" in line for line in stack.printed)


class FailingStack(FakeStack):
    def up(self, **_: Any) -> FakeResult:
        raise auto.CommandError(auto.CommandResult(stdout="", stderr="the redeploy never became READY", code=1))


@pytest.mark.parametrize("secret", ["api-keys", "database", "jwt"])
def test_a_failed_up_says_how_to_finish_without_rotating_twice(secret: str) -> None:
    with pytest.raises(StackError) as caught:
        rotate_stack.follow(FailingStack([]), secret, print, wait=True)  # type: ignore[arg-type]
    assert "run the same command again (or `pulumi up --stack staging`) to finish" in str(caught.value)
    assert "the redeploy never became READY" in str(caught.value)


@dataclass
class DeployedStack:
    """A stack as `rotate` reads it: its config's counter, the counter its last finished `up` recorded."""

    configured: int
    recorded: int
    failed_update: bool = False
    name: str = "staging"
    config_set: dict[str, str] = field(default_factory=dict)
    ups: int = 0

    def set_all_config(self, values: dict[str, auto.ConfigValue]) -> None:
        self.config_set.update({key: value.value for key, value in values.items()})

    def history(self, **_: Any) -> list[Any]:
        return [auto.UpdateSummary("update", None, "", {}, {}, "failed" if self.failed_update else "succeeded")]  # type: ignore[arg-type]

    def up(self, **_: Any) -> FakeResult:
        self.ups += 1
        entry = {"counter": self.configured, "at": "T", "by": "me", "next_due_epoch": None}
        return FakeResult({"rotations": FakeValue({"database": entry})})


def _rotate_database(monkeypatch: pytest.MonkeyPatch, stack: DeployedStack, revoke: bool = False) -> list[str]:
    from envstack.ops import automation

    printed: list[str] = []
    settings = load_settings("staging", {**STAGING, "rotation:database": str(stack.configured)})
    recorded = {"rotations": FakeValue({"database": {"counter": stack.recorded}})}
    monkeypatch.setattr(automation, "existing", lambda _root, _name: stack)
    monkeypatch.setattr(automation, "settings_of", lambda _stack: settings)
    monkeypatch.setattr(automation, "outputs", lambda _stack: recorded)
    monkeypatch.setattr(automation, "printer", lambda *_: printed.append)
    rotate_stack.rotate(Path("."), "staging", "database", dry_run=False, wait=True, revoke=revoke)
    return printed


def test_a_rotation_a_killed_run_left_unfinished_is_continued_not_started_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A killed `up` leaves no failed update in the history, only a counter above the recorded
    one: raising it again would give the role the running deployment uses a new password."""
    unfinished = DeployedStack(configured=3, recorded=2)
    printed = _rotate_database(monkeypatch, unfinished)
    assert unfinished.config_set == {}, "the counter is not raised again"
    assert unfinished.ups == 1
    assert any("a database rotation to 3 was asked for and has not finished" in line for line in printed), printed

    # A failed `up` that was this rotation is finished the same way, not refused.
    failed = DeployedStack(configured=3, recorded=2, failed_update=True)
    _rotate_database(monkeypatch, failed, revoke=True)
    assert failed.config_set == {"rotation:databaseRevoked": "3"}, "the revocation names the rotation under way"

    # With nothing unfinished it is a new rotation, refused while the last `up` has failed.
    done = DeployedStack(configured=3, recorded=3)
    _rotate_database(monkeypatch, done)
    assert done.config_set == {"rotation:database": "4"}
    with pytest.raises(Refused, match="the last `pulumi up` of staging failed"):
        _rotate_database(monkeypatch, DeployedStack(configured=3, recorded=3, failed_update=True))
    with pytest.raises(Refused, match=r"rotation:database is 2 in Pulumi\.staging\.yaml, but the stack last rotated"):
        _rotate_database(monkeypatch, DeployedStack(configured=2, recorded=3))


def test_a_revocation_names_a_rotation_that_happened_and_stacks_that_never_asked_get_no_change() -> None:
    from components import from_settings

    plain = load_settings("staging", STAGING)
    assert (plain.rotation.database_revoked, plain.rotation.api_keys_revoked) == (0, 0)
    assert plain.rotation.revoke_drain_seconds == 10
    assert from_settings.login_revocation_args(plain) is None, "no resource at all until a revocation is asked for"
    assert from_settings.api_key_retirement_args(plain).grace_seconds == 900

    asked = load_settings(
        "staging",
        {**STAGING, "rotation:database": "3", "rotation:databaseRevoked": "3", "rotation:revokeDrainSeconds": "4"},
    )
    revocation = from_settings.login_revocation_args(asked)
    assert revocation is not None
    assert (revocation.revoked, revocation.drain_seconds, revocation.hold) == (3, 4, None)

    keys = {**STAGING, "rotation:apiKeys": "2", "rotation:revokeDrainSeconds": "4"}
    assert from_settings.api_key_retirement_args(load_settings("staging", keys)).grace_seconds == 900
    revoked = load_settings("staging", {**keys, "rotation:apiKeysRevoked": "2"})
    assert from_settings.api_key_retirement_args(revoked).grace_seconds == 4, "revoked: the drain, not the grace"
    earlier = load_settings("staging", {**keys, "rotation:apiKeys": "3", "rotation:apiKeysRevoked": "2"})
    assert from_settings.api_key_retirement_args(earlier).grace_seconds == 900, "a later rotation is not revoked"

    with pytest.raises(SettingsError) as failed:
        load_settings("staging", {**STAGING, "rotation:database": "1", "rotation:databaseRevoked": "2"})
    assert str(failed.value).startswith(
        "Invalid stack setting rotation:databaseRevoked: names rotation 2, but the counter is 1"
    ), str(failed.value)


def test_only_the_database_and_api_keys_revoke_their_previous_credential(tmp_path: Any) -> None:
    assert {s.name for s in rotation.SECRETS.values() if s.revoked_key} == {"database", "api-keys"}
    with pytest.raises(Refused, match="--revoke-previous is for database, api-keys"):
        rotate_stack.rotate(tmp_path, "staging", "jwt", dry_run=False, wait=True, revoke=True)
