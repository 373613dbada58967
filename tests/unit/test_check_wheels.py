"""scripts/check-wheels.sh, the wheel-only install check ``make test`` runs first.

The test session has no network (tests/name_resolution.py), so pip reads a folder of
wheels made here instead of PyPI: the same resolution, with tags chosen per test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "check-wheels.sh"


def wheel(folder: Path, name: str, version: str, tags: str) -> None:
    """A minimal wheel pip can resolve (metadata only)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(folder / f"{name}-{version}-{tags}.whl", "w") as archive:
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        archive.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tags}\n")
        archive.writestr(f"{info}/RECORD", "")


def check(requirements: Path, cache: Path, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    index = requirements.parent / "wheels"
    env = {**os.environ, "ENVSTACK_CACHE": str(cache), "PYTHON": python}
    env |= {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}
    return subprocess.run(
        [str(SCRIPT), str(requirements)], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_a_pin_without_wheels_for_newer_pythons_fails_and_names_them(tmp_path: Path) -> None:
    # grpcio 1.56.2 (what pulumi 3.79.0 pinned) has wheels up to CPython 3.11 only.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("grpcio==1.56.2\n")
    wheel(tmp_path / "wheels", "grpcio", "1.56.2", "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64")
    result = check(requirements, tmp_path / "cache")
    assert result.returncode == 1, result.stderr
    assert "no wheel-only install on CPython 3.12 3.13" in result.stderr, result.stderr
    assert "grpcio==1.56.2" in result.stderr, result.stderr
    assert "CPython 3.11: FAILED" not in result.stderr, result.stderr


def test_a_passing_set_is_remembered_by_its_hash_and_rechecked_when_it_changes(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("PyYAML==6.0.3\n")
    wheel(tmp_path / "wheels", "PyYAML", "6.0.3", "py3-none-any")
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
