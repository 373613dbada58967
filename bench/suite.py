"""The whole test suite as a developer runs it: `make test` (installs checked, lint, types,
every test), on a machine whose caches are warm."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.processes import ENGINE, PULUMI, ProcessCpu
from bench.report import Row, Section, ratio, seconds
from bench.runs import STAGING, RunFailed, cpu_seconds, empty_program, median, pulumi, scratch_dir

ROOT = Path(__file__).resolve().parent.parent
GOAL = 8 * 60.0
COMMAND_RUNS = 9  # runs of each short `pulumi` command whose median a figure of this section reports
_SUMMARY = re.compile(r"=+ (?P<summary>[^=]*?\d+ passed[^=]*?) in (?P<took>[\d.]+)s")
_SUITE_GOGC = re.compile(r"GOGC=\$\{GOGC:-(\d+)\}")
_INIT = re.compile(r"^init (\S+) @[\d.]+ ms, ([\d.]+) ms clock", re.MULTILINE)
_DURATION = re.compile(r"^(?P<took>[\d.]+)s (?P<phase>call|setup|teardown)\s+(?P<test>\S+)", re.MULTILINE)


def measure() -> Section:
    section = Section("suite", "The test suite: `make test`, warm caches", 1)
    busy, started = cpu_seconds(), time.perf_counter()
    with ProcessCpu() as sampled:
        proc = subprocess.run(
            ["scripts/test.sh", "--durations=3"], cwd=ROOT, capture_output=True, text=True, check=False
        )
    took, cpu = time.perf_counter() - started, cpu_seconds() - busy
    if proc.returncode != 0:
        raise RunFailed(f"make test failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    summary = _SUMMARY.search(proc.stdout)
    longest = max(_DURATION.finditer(proc.stdout), key=lambda m: float(m["took"]), default=None)
    cpus = os.cpu_count() or 1
    floor = cpu / cpus
    verdict = "met" if took <= GOAL else "missed"
    section.rows.append(
        Row(
            "`make test`: wheels, ruff, mypy, import contracts, every test",
            seconds(took),
            f"{seconds(floor)} (its {cpu:.0f} CPU seconds over {cpus} CPUs, none idle)",
            calls=summary["summary"] if summary else "",
            ratio=ratio(took, floor),
            goal=f"under {GOAL / 60:.0f} min: {verdict}",
        )
    )
    if longest is not None:
        section.notes.append(
            f"The longest single test step was {longest['test']} ({longest['phase']}, {float(longest['took']):.1f} s); "
            'tests run in parallel worker processes (README, "Tests and the local APIs"), so no figure here '
            "is a sum of test times."
        )
    gogc = suite_gogc()
    section.notes.append(
        "scripts/test.sh runs the suite's Go programs (the engine, its language host, the Supabase CLI) "
        f"with GOGC={gogc}: each `pulumi` command lives briefly with a small heap, and collecting less often "
        "spends about 0.05 CPU seconds less a command. The other sections measure `pulumi` as users run "
        "it, without that setting. The script also keeps Python's bytecode where PYTHONDONTWRITEBYTECODE is "
        "set, so the test workers do not compile and assertion-rewrite every test module at each start."
    )
    by_kind = sampled.seconds_by_kind()
    section.notes += _by_kind(by_kind, cpu, cpus, took)
    processes, spent = sampled.processes_of(PULUMI), by_kind.get(PULUMI, 0.0)
    section.notes.append(_engine_start(processes, spent, engine_start(gogc)))
    section.notes.append(_key_derivation())
    return section


def suite_gogc() -> str:
    """The GOGC scripts/test.sh gives the suite's Go programs (read from the script, so the two agree)."""
    found = _SUITE_GOGC.search((ROOT / "scripts" / "test.sh").read_text())
    if found is None:
        raise RunFailed("scripts/test.sh no longer sets GOGC=${GOGC:-N}; say here what the suite runs Go with")
    return found[1]


def key_derivation_seconds(runs: int = COMMAND_RUNS) -> float:
    """CPU seconds a `pulumi` process spends deriving the stack's key from its passphrase: the
    same command with and without a secret to decrypt (a stack with one secret setting)."""
    with scratch_dir("passphrase") as directory:
        root, env = empty_program(directory)
        pulumi(root, env, "config", "set", "--secret", "--stack", STAGING, "probe", "not-a-secret")

        def config(*flags: str) -> float:
            return _children_cpu(lambda: pulumi(root, env, "config", *flags, "--stack", STAGING))

        plain = median([config() for _ in range(runs)])
        decrypting = median([config("--show-secrets") for _ in range(runs)])
    return max(decrypting - plain, 0.0)


def _children_cpu(action: Callable[[], object]) -> float:
    """CPU seconds the child processes that ``action`` runs (and waits for) spend."""
    before = os.times()
    action()
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


@dataclass(frozen=True)
class EngineStart:
    """What any `pulumi` process costs before it does anything."""

    cpu: float  # CPU seconds of `pulumi version`
    init: float  # seconds Go spends initializing the engine's packages
    password_strength: float  # of which building zxcvbn-go's dictionaries


def engine_start(gogc: str, runs: int = COMMAND_RUNS) -> EngineStart:
    """`pulumi version` (it reads no stack and no plugin) with the suite's GOGC, medians of ``runs``;
    Go's own trace of package initialization (GODEBUG=inittrace=1) says where the time goes."""
    cpu = median([_children_cpu(lambda: _pulumi_version({"GOGC": gogc})) for _ in range(runs)])
    traces = [_INIT.findall(_pulumi_version({"GOGC": gogc, "GODEBUG": "inittrace=1"})) for _ in range(runs)]
    init = median([sum(float(clock) for _, clock in trace) / 1000 for trace in traces])
    strength = median([sum(float(clock) for package, clock in trace if "zxcvbn" in package) / 1000 for trace in traces])
    return EngineStart(cpu, init, strength)


def _pulumi_version(extra_env: dict[str, str]) -> str:
    """Runs `pulumi version`; its standard error (where Go writes traces)."""
    proc = subprocess.run(
        ["pulumi", "version"], env={**os.environ, **extra_env}, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RunFailed(f"pulumi version failed:\n{proc.stderr[-2000:]}")
    return proc.stderr


def _engine_start(processes: int, spent: float, start: EngineStart) -> str:
    each = f", {spent / processes:.2f} CPU seconds each" if processes else ""
    total = f" ({processes} x {start.cpu:.2f} = {processes * start.cpu:.0f} of their {spent:.0f})" if processes else ""
    return (
        f"The sampler saw {processes} `pulumi` processes{each}. Each one, whatever it is asked to do, first "
        f"spends {start.cpu:.2f} CPU seconds starting (`pulumi version` as the suite runs it, medians of "
        f"{COMMAND_RUNS}){total}. Go's own trace (GODEBUG=inittrace=1) shows where: initializing the engine's "
        f"packages takes {start.init:.2f} s of clock time, {start.password_strength:.2f} s of it building the "
        "password-strength dictionaries of two copies of zxcvbn-go, which the CLI links for its warning that a "
        "plain `pulumi config set` value looks like a secret (pkg/cmd/pulumi/config/config.go) and for ESC's "
        "`env set`. No setting skips that initialization; only fewer `pulumi` processes would."
    )


def _key_derivation() -> str:
    key = key_derivation_seconds()
    return (
        "Every `pulumi` process that reads or writes a secret (each `up`, `preview`, `refresh` and `destroy`, "
        "`config --show-secrets`, `stack export --show-secrets`, a secret's `config set`, `stack init`) also "
        f"derives the stack's key from its passphrase: {key:.2f} CPU seconds here (`pulumi config "
        f"--show-secrets` against `pulumi config`, medians of {COMMAND_RUNS}, on a stack with one secret). The engine "
        "derives it with PBKDF2-SHA256 over 1,000,000 iterations in every process that needs it "
        "(sdk/go/common/resource/config/crypt.go), on purpose, to slow down guessing; a stack on a cloud KMS "
        "secrets provider spends a call to the KMS instead."
    )


def _by_kind(by_kind: dict[str, float], cpu: float, cpus: int, took: float) -> list[str]:
    """The run's CPU seconds by kind of process (bench/processes.py), as a table for the notes."""
    shown = {kind: spent for kind, spent in by_kind.items() if spent >= 1.0}
    unseen = cpu - sum(by_kind.values())
    lines = [
        "",
        "Where the CPU time went (bench/processes.py: /proc read every 0.2 s, so a process that lives less "
        "than that is seen late or not at all; those seconds, and kinds under one second, are the last row):",
        "",
        "| kind of process | CPU seconds | share |",
        "|---|---|---|",
    ]
    lines += [f"| {kind} | {spent:.0f} | {spent / cpu:.0%} |" for kind, spent in shown.items()]
    rest = unseen + sum(spent for kind, spent in by_kind.items() if kind not in shown)
    lines.append(f"| not seen by the sampler, or under one second a kind | {rest:.0f} | {rest / cpu:.0%} |")
    engine = sum(by_kind.get(kind, 0.0) for kind in ENGINE)
    budget = GOAL * cpus
    if cpu > budget:
        room = f"{cpu - budget:.0f} fewer than this run spent."
    elif took <= GOAL:
        room = f"{budget - cpu:.0f} more than this run spent."
    else:
        room = (
            f"{budget - cpu:.0f} more than this run spent: what is left above the goal is time with a CPU "
            "idle (the steps before the tests, the workers' start, the last tests' end)."
        )
    lines += [
        "",
        f"Every `pulumi` run (the tests' `up`, `preview`, `refresh` and `destroy`, and those the envstack "
        f"commands start) costs the engine, its language host and `pip list`, the stack's program and the "
        f"provider process: {engine:.0f} CPU seconds here, {engine / cpu:.0%} of the run. "
        f"{GOAL / 60:.0f} minutes on {cpus} CPUs hold {budget:.0f} CPU seconds at most, {room}",
    ]
    return lines
