"""envstack/ops/automation.py against the real `pulumi` CLI and a file backend: the reads and
writes the tools make around the engine (one inline program, for a stack with outputs)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi import automation as auto

from envstack.errors import StackError
from envstack.ops import automation
from envstack.ops.lean_stack import LeanStack, StaleResult


@pytest.fixture(autouse=True)
def no_engine_left_behind() -> Iterator[None]:
    """An inline program points the SDK's settings at its engine process-wide (the first value
    set in a thread becomes every thread's default); that engine is gone once the run ends, and
    a later test in this process that logs through ``pulumi.log`` would call its dead address."""
    yield
    pulumi.runtime.settings.SETTINGS.engine = None
    pulumi.runtime.settings.SETTINGS.monitor = None


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    (root / "Pulumi.yaml").write_text("name: automation-test\nruntime: python\n")
    (tmp_path / "backend").mkdir()
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", secrets.token_urlsafe(16))
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "pulumi-home"))
    monkeypatch.setenv("PULUMI_SKIP_UPDATE_CHECK", "true")
    return root


def test_a_stack_the_backend_does_not_have_reads_as_none(project: Path) -> None:
    assert automation.read_config_and_state(project, "nowhere") is None


def test_config_written_is_read_back_with_its_secret_decrypted(project: Path) -> None:
    automation.run_pulumi(project, ["stack", "init", "scratch"])
    secret = secrets.token_urlsafe(24)
    stack = automation.select(project, "scratch")
    automation.write_config(
        stack,
        {
            "envstack:region": auto.ConfigValue("eu-west-1"),
            "envstack:dbPassword": auto.ConfigValue(secret, secret=True),
        },
    )

    reads = automation.read_config_and_state(project, "scratch")

    assert reads is not None
    read = {key: (value.value, value.secret) for key, value in reads.config.items()}
    assert read == {"envstack:region": ("eu-west-1", False), "envstack:dbPassword": (secret, True)}
    assert secret not in (project / "Pulumi.scratch.yaml").read_text(), "stored encrypted"
    assert reads.deployment.get("manifest"), "the exported state of a stack never run"


def test_a_failed_command_names_itself_and_keeps_the_value_it_was_given_out(project: Path) -> None:
    secret = secrets.token_urlsafe(24)
    with pytest.raises(StackError, match=r"^pulumi config set failed: .*no stack named 'nowhere' found") as failure:
        automation.run_pulumi(project, ["config", "set", "--stack", "nowhere", "envstack:key", "--secret"], secret)
    assert secret not in str(failure.value)


def test_outputs_read_from_one_export_are_what_the_automation_api_reads(project: Path) -> None:
    secret = secrets.token_urlsafe(24)

    def program() -> None:
        pulumi.export("region", "eu-west-1")
        pulumi.export("replicas", 2)
        pulumi.export("limits", {"pool": 15, "roles": ["app", "migrator"]})
        pulumi.export("database_url", pulumi.Output.secret(f"postgresql://app:{secret}@127.0.0.1/app"))
        pulumi.export("rotation", {"step": "idle", "key": pulumi.Output.secret(secret)})

    stack = auto.create_stack(
        "outputs",
        project_name="automation-test",
        program=program,
        opts=auto.LocalWorkspaceOptions(work_dir=str(project), pulumi_command=automation.engine()),
    )
    stack.up()

    read = {key: (value.value, value.secret) for key, value in automation.outputs(stack).items()}

    by_the_automation_api = {key: (value.value, value.secret) for key, value in auto.Stack.outputs(stack).items()}
    assert read == by_the_automation_api
    assert read["database_url"] == (f"postgresql://app:{secret}@127.0.0.1/app", True)
    assert read["region"] == ("eu-west-1", False)


class CountingEngine(auto.PulumiCommand):
    """The real `pulumi`, keeping the name of every command it runs (`up`, `stack export`)."""

    def __init__(self) -> None:
        super().__init__()
        self.commands: list[str] = []

    def run(self, args: list[str], *rest: Any, **kwargs: Any) -> auto.CommandResult:
        words = [a for a in args if not a.startswith("-")]
        self.commands.append(" ".join(words[:2]) if words[0] == "stack" else words[0])
        return super().run(args, *rest, **kwargs)


def test_a_run_reads_its_outputs_and_summary_only_when_they_are_used(project: Path) -> None:
    secret = secrets.token_urlsafe(24)

    def program() -> None:
        pulumi.export("region", "eu-west-1")
        pulumi.export("database_url", pulumi.Output.secret(f"postgresql://app:{secret}@127.0.0.1/app"))

    engine = CountingEngine()
    workspace = auto.LocalWorkspace(work_dir=str(project), program=program, pulumi_command=engine)
    stack = LeanStack.open("lean", workspace, create=True)
    engine.commands.clear()

    unread = stack.up()
    assert engine.commands == ["up"], "nothing is read after an up nobody looks at"

    result = stack.up()
    assert engine.commands == ["up", "up"]
    outputs = {key: (value.value, value.secret) for key, value in result.outputs.items()}
    assert result.summary.resource_changes == {"same": 1}
    assert engine.commands[2:] == ["stack export", "stack history"], "one export for the outputs, as asked"
    assert outputs == {key: (value.value, value.secret) for key, value in auto.Stack.outputs(stack).items()}
    assert outputs["database_url"] == (f"postgresql://app:{secret}@127.0.0.1/app", True)

    with pytest.raises(StaleResult):
        _ = unread.outputs["region"]  # the first up's outputs, asked for after the second ran
