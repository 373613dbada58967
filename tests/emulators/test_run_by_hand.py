"""The README's commands for running the local APIs by hand work as written: no required
argument beyond what the README shows, the printed lines are what a shell needs, and Ctrl-C
(SIGINT) stops the server and everything it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT
from tests.emulators.common.hostnames import SESSION_VARIABLE

_DEADLINE_SECONDS = 120


def start(module: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, "--port", "0", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def read_lines(process: subprocess.Popen[str], count: int) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + _DEADLINE_SECONDS
    while len(lines) < count:
        assert time.monotonic() < deadline, f"only {lines} within {_DEADLINE_SECONDS}s"
        line = process.stdout.readline()
        assert line, f"exited early ({process.poll()}): {process.stderr.read() if process.stderr else ''}"
        lines.append(line.rstrip("\n"))
    return lines


def stop(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGINT)
    return process.wait(timeout=_DEADLINE_SECONDS)


def test_the_supabase_api_runs_with_only_a_port_and_prints_what_a_shell_needs() -> None:
    # Started without the test session's hosts file, as from a user's own shell.
    env = {k: v for k, v in os.environ.items() if k != SESSION_VARIABLE}
    process = start("tests.emulators.supabase", env=env)
    try:
        printed = dict(line.split("=", 1) for line in read_lines(process, 3))
        assert set(printed) == {"SUPABASE_API_URL", "SUPABASE_ACCESS_TOKEN", "SUPABASE_ORGANIZATION"}
        answer = httpx.get(
            f"{printed['SUPABASE_API_URL']}/v1/organizations",
            headers={"Authorization": f"Bearer {printed['SUPABASE_ACCESS_TOKEN']}"},
        )
        assert answer.status_code == 200
        assert [o["id"] for o in answer.json()] == [printed["SUPABASE_ORGANIZATION"]]
    finally:
        code = stop(process)
    assert code == 0
    assert not any(Path(tempfile.gettempdir()).glob(f"supabase-emulator-*/runtime/*{process.pid}*"))


def test_the_vercel_api_runs_with_only_a_port() -> None:
    process = start("tests.emulators.vercel")
    try:
        printed = json.loads(read_lines(process, 1)[0])
        vercel = printed["vercel"]
        answer = httpx.get(
            f"{vercel['url']}/v2/user", headers={"Authorization": f"Bearer {vercel['token']}"}, params={}
        )
        assert answer.status_code == 200, answer.text
        assert vercel["teamId"].startswith("team_")
    finally:
        assert stop(process) == 0
