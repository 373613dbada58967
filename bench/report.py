"""The results: one row per figure, printed as a table and written as docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Row:
    figure: str
    measured: str
    floor: str = ""
    calls: str = ""
    ratio: str = ""  # measured / floor, where both are times
    goal: str = ""  # issue 18's bound, and whether this run met it


def ratio(measured: float, floor: float) -> str:
    return f"{measured / floor:.2f}x" if floor > 0 else ""


def goal(measured: float, floor: float, bound: float) -> str:
    """The goal as ``≤ 1.3x: met`` (or ``missed``), for the row that carries it."""
    verdict = "met" if floor > 0 and measured / floor <= bound else "missed"
    return f"≤ {bound:g}x: {verdict}"


@dataclass
class Section:
    key: str  # for `python -m bench --only <key>`
    title: str
    runs: int
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a figure is where it is

    @property
    def command(self) -> str:
        runs = "--pr-runs" if self.key == "prs" else "--runs"
        return f"python -m bench --only {self.key} {runs} {self.runs}"


def seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


_HEADER = ("figure", "measured (median)", "floor", "ratio", "goal", "API calls")


def _cells(row: Row) -> tuple[str, ...]:
    return (row.figure, row.measured, row.floor, row.ratio, row.goal, row.calls)


def _markdown_rows(rows: list[Row]) -> list[str]:
    return ["| " + " | ".join(_cells(r)) + " |" for r in rows]


def text_table(sections: list[Section]) -> str:
    header = _HEADER
    rows = [header] + [_cells(r) for s in sections for r in s.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _machine() -> str:
    try:
        engine = subprocess.run(["pulumi", "version"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        engine = "?"
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        # Which build, not only which version: a distribution's and a plain source build differ by
        # a fifth or more in these figures (scripts/venv-python.sh).
        f"Python {platform.python_version()} (from {sys.base_prefix}), "
        f"pulumi {engine}; load average when the run ended {load} (the machine is shared, so figures wander)"
    )


def markdown(sections: list[Section]) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Benchmarks",
        "",
        f"Measured with `python -m bench` (or `make bench`) on {when}: {_machine()}. The APIs are the",
        "local emulators the tests use (tests/emulators/), on loopback; every figure is the median of",
        "the runs its section names. Figures depend on the machine; the floors say what is",
        "unavoidable, and where a figure is far from its floor the section says why.",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|---|---|---|---|---|---|",
    ]
    out += _markdown_rows([r for s in sections for r in s.rows])
    for section in sections:
        out += ["", f"## {section.title}", "", f"Reproduce: `{section.command}`", ""]
        header = (_HEADER[0], f"measured (median of {section.runs})", *_HEADER[2:])
        out += ["| " + " | ".join(header) + " |", "|---|---|---|---|---|---|"]
        out += _markdown_rows(section.rows)
        if section.notes:
            out.append("")
            out += section.notes
    return "\n".join(out) + "\n"
