"""CPU seconds by kind of process while a command runs: where the test suite's time goes.

Every process on the machine is read from /proc a few times a second; each one's CPU time is
kept under a kind named from its command line (the pulumi engine, a stack's Python program,
the dynamic-provider process, PostgreSQL, ...). A process that lives less than one interval
is seen late or not at all, so the kinds add up to less than the machine's total: the rest
is reported as "not seen by the sampler" rather than spread over the kinds.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

PROC = Path("/proc")
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# The apps the tests run as Vercel deployments (tests/integration/deployments.py and the
# local Vercel API's example app).
_APPS = ("tests.integration.rotation_app", "tests.emulators.vercel.example_health_app")

# What each engine operation runs: its share of the suite is what fewer `pulumi` runs would save.
PULUMI = "pulumi: the CLI and engine (Go)"
LANGUAGE_HOST = "pulumi-language-python: the language host (Go)"
PIP_LIST = "`pip list` that the language host runs before each engine operation"
PROGRAM = "a stack's Python program"
PROVIDER = "the dynamic-provider process (Python)"
ENGINE = (PULUMI, LANGUAGE_HOST, PIP_LIST, PROGRAM, PROVIDER)


def _module(argv: Sequence[str]) -> str | None:
    """The module of `python -m <module>`, if that is what the command is."""
    for flag, value in itertools.pairwise(argv):
        if flag == "-m":
            return value
    return None


def kind_of(argv: Sequence[str]) -> str:
    """The kind of process a command line is, in words a reader of the results table knows."""
    if not argv:
        return "the kernel's own threads, and processes gone before they were named"
    program = os.path.basename(argv[0])
    if program.startswith("python") and len(argv) > 1 and not argv[1].startswith("-"):
        program = os.path.basename(argv[1])  # a script run by its shebang: mypy, lint-imports, ...
    text = " ".join(argv)
    module = _module(argv)
    if program == "pulumi":
        return PULUMI
    if program == "pulumi-language-python":
        return LANGUAGE_HOST
    if "pulumi-language-python-exec" in text:
        return PROGRAM
    if module == "pulumi.dynamic" or program == "pulumi-resource-pulumi-python":
        return PROVIDER
    if module == "pip" and "list" in argv:
        return PIP_LIST
    if module == "envstack":
        return "`python -m envstack` commands"
    if module in _APPS:
        return "apps playing Vercel deployments (rotation load test, health checks)"
    if module == "pytest" or "exec(eval(sys.stdin.readline()))" in text or "xdist" in text:
        return "pytest and its workers (the tests, the local Supabase API)"
    if (
        argv[0].startswith("postgres")
        or program.startswith("postgres")
        or program in {"initdb", "pg_ctl", "pg_basebackup", "pg_dump", "psql"}
    ):
        return "PostgreSQL"
    if program == "pgbouncer":
        return "PgBouncer"
    if program == "node":
        return "Node.js: the local Vercel API and the Vercel CLI"
    if program == "supabase":
        return "the Supabase CLI (Go)"
    if program in {"ruff", "mypy", "lint-imports", "dmypy"} or module in {"mypy", "ruff", "pip"}:
        return "lint, types and the wheel check"
    if module == "bench":
        return "python -m bench: this benchmark, its /proc sampler included"
    if module is not None:
        return f"python -m {module}"
    return program


@dataclass
class _Seen:
    kind: str
    first: int  # CPU ticks when first sampled: 0 for a process that started while sampled
    last: int


@dataclass
class ProcessCpu:
    """Samples /proc every ``interval`` seconds between ``with`` and its end."""

    interval: float = 0.2
    _seen: dict[tuple[int, int, str], _Seen] = field(default_factory=dict)
    _ticks: dict[tuple[int, int], int] = field(default_factory=dict)  # the last read of each process
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ProcessCpu:
        # What ran before the start is not counted: a process already running counts from here.
        self._sample(baseline=True)
        self._thread = threading.Thread(target=self._run, name="process-cpu", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()

    def seconds_by_kind(self) -> dict[str, float]:
        """CPU seconds each kind used while sampled, the largest first."""
        totals: dict[str, float] = {}
        for seen in self._seen.values():
            totals[seen.kind] = totals.get(seen.kind, 0.0) + (seen.last - seen.first) / _TICK
        return dict(sorted(((k, v) for k, v in totals.items() if v > 0), key=lambda item: -item[1]))

    def processes_of(self, kind: str) -> int:
        """How many processes of a kind were seen (one that ran another program counts once)."""
        return len({(pid, started) for (pid, started, _name), seen in self._seen.items() if seen.kind == kind})

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self, baseline: bool = False) -> None:
        # Raw reads, not pathlib: a read of every process five times a second is this
        # benchmark's own cost, and it lands in the suite's figures (a third of what it was).
        for pid in os.listdir(PROC):
            if not pid.isdigit():
                continue
            stat = _read_stat(pid)
            if stat is None:
                continue  # it ended between the listing and the read
            # The command name is in parentheses and may hold spaces: the fields follow the last ")".
            close = stat.rfind(b")")
            name = stat[stat.find(b"(") + 1 : close].decode(errors="replace")
            fields = stat[close + 2 :].split()
            ticks, started = int(fields[11]) + int(fields[12]), int(fields[19])
            # The name changes when a process runs another program (exec), and a kernel worker's
            # with its work: the time before that stays with the kind it was then.
            process = (int(pid), started)
            key = (*process, name)
            seen = self._seen.get(key)
            if seen is None:
                before = ticks if baseline else self._ticks.get(process, 0)
                self._seen[key] = _Seen(_kind(pid), before, ticks)
            else:
                seen.last = ticks
            self._ticks[process] = ticks


def _read_stat(pid: str) -> bytes | None:
    try:
        fd = os.open(f"{PROC}/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)


def _kind(pid: str) -> str:
    try:
        raw = (PROC / pid / "cmdline").read_bytes()
    except OSError:
        raw = b""  # it ended, or it is a kernel thread (these have no command line)
    return kind_of([part.decode(errors="replace") for part in raw.split(b"\0") if part])
