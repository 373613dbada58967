"""The benchmark's CPU-by-kind table (bench/processes.py) names each process the suite runs by
what it is, and counts the CPU time a process spends while sampled."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest

from bench.processes import ProcessCpu, kind_of

PROGRAM = "/work/copy/project/.venv/bin/python"
LANGUAGE_HOST = "/root/.cache/envstack/engine/cli-v3.167.0-python-v3.79.0/bin"


@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["pulumi", "--non-interactive", "up", "--yes"], "pulumi: the CLI and engine (Go)"),
        ([f"{LANGUAGE_HOST}/pulumi-language-python", "-virtualenv=.venv", "127.0.0.1:1"], "language host"),
        ([PROGRAM, f"{LANGUAGE_HOST}/pulumi-language-python-exec", "--monitor", "x"], "a stack's Python program"),
        ([PROGRAM, "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"], "the dynamic-provider process"),
        ([PROGRAM, "-m", "pip", "list", "-v", "--format", "json"], "`pip list`"),
        ([PROGRAM, "-m", "envstack", "rotate", "--stack", "staging"], "`python -m envstack` commands"),
        ([PROGRAM, "-m", "tests.integration.rotation_app", "--port", "1"], "apps playing Vercel deployments"),
        ([PROGRAM, "-u", "-c", "import sys;exec(eval(sys.stdin.readline()))"], "pytest and its workers"),
        (["postgres: hermes_app postgres 127.0.0.1(5) idle"], "PostgreSQL"),
        (["/usr/lib/postgresql/15/bin/postgres", "-D", "/work/copy/cluster"], "PostgreSQL"),
        (["/usr/sbin/pgbouncer", "-d", "/work/copy/pgbouncer.ini"], "PgBouncer"),
        ([PROGRAM, "-m", "mypy", "."], "lint, types"),
        ([PROGRAM, "/work/main/.venv/bin/mypy", "."], "lint, types"),
        ([PROGRAM, "/work/main/.venv/bin/lint-imports", "--no-cache"], "lint, types"),
        (["python3.12", "-m", "pip", "download", "--only-binary=:all:", "pydantic"], "the wheel check"),
        ([], "the kernel's own threads"),
    ],
)
def test_each_process_the_suite_runs_has_its_kind(argv: list[str], kind: str) -> None:
    assert kind in kind_of(argv)


def test_a_busy_process_is_counted_under_its_kind() -> None:
    burn = "import time\nend = time.process_time() + 0.6\nwhile time.process_time() < end: pass"
    # The arguments after the script only name it, with a kind of its own: the sampler counts
    # every process on the machine, and other tests run beside this one.
    module = f"probe_{uuid.uuid4().hex}"
    with ProcessCpu(interval=0.05) as sampled:
        subprocess.run([sys.executable, "-c", burn, "-m", module], check=True)
    spent = sampled.seconds_by_kind()
    # Its last 0.05 s may fall after the last read; its 0.6 s cannot be counted twice.
    assert 0.4 <= spent[f"python -m {module}"] <= 0.7, spent


def test_processes_of_a_kind_are_counted_once_each() -> None:
    module = f"probe_{uuid.uuid4().hex}"
    wait_for_input = "import sys; sys.stdin.read()"
    with ProcessCpu(interval=0.05) as sampled:
        probes = [
            subprocess.Popen([sys.executable, "-c", wait_for_input, "-m", module], stdin=subprocess.PIPE)
            for _ in range(3)
        ]
        try:
            deadline = time.monotonic() + 30
            while sampled.processes_of(f"python -m {module}") < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            for probe in probes:
                probe.communicate(b"")
    assert sampled.processes_of(f"python -m {module}") == 3, "each seen, none twice"
    assert sampled.processes_of("no such kind") == 0
