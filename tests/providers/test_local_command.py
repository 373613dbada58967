"""providers/local_command.py: a command that outlives its timeout is stopped, with all it started."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from envstack.errors import ResourceError
from providers.local_command import LocalCommandProvider


def test_a_command_past_its_timeout_is_stopped_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    props: dict[str, Any] = {
        "command": f"sh -c 'echo $$ > {marker}; sleep 60' & wait",
        "environment": {"SECRET_URL": "postgresql://u:hunter2@h/db"},
        "triggers": [],
        "dir": None,
        "timeout": 1,
    }
    started = time.monotonic()
    with pytest.raises(ResourceError, match=r"did not finish within 1 s and was stopped"):
        LocalCommandProvider().create(props)
    assert time.monotonic() - started < 30
    child = int(marker.read_text())
    deadline = time.monotonic() + 10
    while True:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break  # the grandchild is gone too
        assert time.monotonic() < deadline, "the command's child outlived the timeout"
        time.sleep(0.05)


def test_a_command_within_its_timeout_runs_as_before() -> None:
    props: dict[str, Any] = {"command": "echo done", "environment": {}, "triggers": [], "dir": None, "timeout": 30}
    outs = LocalCommandProvider().create(props).outs or {}
    assert outs["output_tail"] == "done"
    assert outs["timeout"] == 30


def test_what_the_command_prints_of_the_tokens_it_inherits_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The command inherits this process's environment: a custom migration command run with
    `bash -x`, or one that fails quoting its command line, prints the API tokens."""
    vercel = secrets.token_urlsafe(18)  # Vercel's tokens have no shape to recognise
    monkeypatch.setenv("VERCEL_TOKEN", vercel)
    props: dict[str, Any] = {
        "command": 'echo "deploying with --token $VERCEL_TOKEN"; exit 3',
        "environment": {},
        "triggers": [],
        "dir": None,
        "timeout": 30,
    }
    with pytest.raises(ResourceError) as failed:
        LocalCommandProvider().create(props)
    assert vercel not in str(failed.value)
    assert "deploying with --token ***" in str(failed.value)
    props["command"] = 'echo "deploying with --token $VERCEL_TOKEN"'
    outs = LocalCommandProvider().create(props).outs or {}
    assert outs["output_tail"] == "deploying with --token ***"


def test_a_new_time_limit_alone_does_not_run_the_command_again() -> None:
    """The seed got a timeout of its own: a change of limit re-ran every stack's seed once."""
    recorded: dict[str, Any] = {"command": "echo seeded", "environment": {}, "triggers": ["h1"], "dir": None}
    provider = LocalCommandProvider()
    assert not provider.diff("c", recorded, {**recorded, "timeout": 3600}).changes
    assert provider.diff("c", recorded, {**recorded, "triggers": ["h2"], "timeout": 3600}).changes
