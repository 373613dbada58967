"""scripts/check-wheels.sh, the wheel-only install check ``make test`` runs first.

It asks PyPI (the suite already needs it: bootstrap installs from it), so these use
requirement files of one small package each.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-wheels.sh"


def check(requirements: Path, cache: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ENVSTACK_CACHE": str(cache), "PYTHON": python}
    return subprocess.run(
        [str(SCRIPT), str(requirements)], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_pin_without_wheels_for_newer_pythons_fails_and_names_them(tmp_path: Path) -> None:
    # grpcio 1.56.2 (what pulumi 3.79.0 pinned) has wheels up to CPython 3.11 only.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("grpcio==1.56.2\n")
    result = check(requirements, tmp_path / "cache")
    assert result.returncode == 1, result.stderr
    assert "no wheel-only install on CPython 3.12 3.13" in result.stderr, result.stderr
    assert "grpcio==1.56.2" in result.stderr, result.stderr
    assert "CPython 3.11: FAILED" not in result.stderr, result.stderr


def test_a_passing_set_is_remembered_by_its_hash_and_rechecked_when_it_changes(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("PyYAML==6.0.3\n")
    first = check(requirements, tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    # Warm: no pip at all (a python that always fails would fail the run if it were asked).
    warm = check(requirements, tmp_path / "cache", python="/bin/false")
    assert warm.returncode == 0, warm.stderr
    assert "resolving" not in warm.stderr, warm.stderr
    # Another pin is another key, so it is checked again.
    requirements.write_text("PyYAML==6.0.2\n")
    changed = check(requirements, tmp_path / "cache", python="/bin/false")
    assert changed.returncode == 1, changed.stderr
    assert "CPython 3.11: resolving" in changed.stderr, changed.stderr
