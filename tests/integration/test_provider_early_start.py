"""The engine starts the dynamic-provider process while the program is still running its body
(providers/early_start.py), with the real engine: one default provider, no message, no change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.workspace import make_project_copy

pytestmark = pytest.mark.engine

# The program's own first lines, then a body that waits (with a deadline) until the engine that
# runs it has launched the dynamic-provider process, before it declares any resource.
PROGRAM = '''"""Starts the dynamic-provider process early and says whether it came before any resource."""

import os
import time
from pathlib import Path

from providers import early_start

early_start.start_provider_process()

import pulumi

from providers.generated_secret import GeneratedSecret, GeneratedSecretInputs


def stat(pid: str) -> list[str]:
    # The fields after the command's name, which may hold spaces: state, ppid, ... (proc(5)).
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def launched_since(engine: int, started: int) -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields, command = stat(entry.name), (entry / "cmdline").read_bytes()
        except OSError:
            continue  # gone while listed
        # Started by this engine, no earlier than this program (not the preview's, if still there).
        if int(fields[1]) == engine and int(fields[19]) >= started and b"pulumi-resource-pulumi-python" in command:
            return True
    return False


me = stat("self")
engine = int(stat(str(os.getppid()))[1])  # the language host's parent
deadline = time.monotonic() + 60
while not (early := launched_since(engine, int(me[19]))) and time.monotonic() < deadline:
    time.sleep(0.01)

GeneratedSecret("early-start", GeneratedSecretInputs())
pulumi.export("provider_started_before_any_resource", early)
'''


def test_the_provider_process_starts_before_any_resource_with_nothing_else_changed(tmp_path: Path) -> None:
    project = make_project_copy(tmp_path)
    (project.root / "__main__.py").write_text(PROGRAM)
    stack = project.stack("early")

    result = stack.up(on_output=project.on_output)
    assert result.summary.result == "succeeded"
    assert stack.outputs()["provider_started_before_any_resource"].value is True
    printed = "\n".join(project.output)
    assert "error" not in printed.lower(), printed
    assert "warning" not in printed.lower(), printed
    assert "startProviderProcess" not in printed, "the invoke's error answer is never shown"

    # The invoke loads the default provider the resources use: no second provider in the state.
    resources = json.loads(project.export_state("early"))["deployment"]["resources"]
    providers = [r["urn"] for r in resources if r["type"] == "pulumi:providers:pulumi-python"]
    assert providers == ["urn:pulumi:early::envstack::pulumi:providers:pulumi-python::default"]
    assert [r["type"] for r in resources].count("pulumi-python:dynamic/random:Secret") == 1

    again = stack.up(on_output=project.on_output)
    assert set((again.summary.resource_changes or {}).keys()) == {"same"}, again.summary.resource_changes
