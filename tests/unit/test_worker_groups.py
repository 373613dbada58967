"""Tests that share a module-scoped fixture run on one pytest-xdist worker (tests/conftest.py marks
them, `--dist loadgroup` keeps each mark's tests together). Nothing fails when that stops: the
tests just spread over the workers, each setting the shared fixture up again, and a module's
check of its own tests sees only part of them. pytest 9.2 stopped it silently
(pytest-xdist#1386), so a small session proves it here, with the suite's own marking hook."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import cast

import pytest

ROOT = Path(__file__).resolve().parents[2]

_CONFTEST = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tests.conftest import pytest_collection_modifyitems  # the suite's own marking
"""

_TESTS = """
import os
import pytest

@pytest.fixture(scope="module")
def shared():
    return object()

@pytest.mark.parametrize("n", range(4))
def test_sharing(shared, n):
    with open("workers.txt", "a") as out:
        out.write(f"sharing {os.environ['PYTEST_XDIST_WORKER']} {os.environ['PYTEST_CURRENT_TEST']}\\n")

@pytest.mark.parametrize("n", range(4))
def test_alone(n):
    with open("workers.txt", "a") as out:
        out.write(f"alone {os.environ['PYTEST_XDIST_WORKER']} {os.environ['PYTEST_CURRENT_TEST']}\\n")
"""


def test_tests_sharing_a_module_fixture_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(_CONFTEST)
    (tmp_path / "test_groups.py").write_text(_TESTS)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers: dict[str, set[str]] = {"sharing": set(), "alone": set()}
    grouped: dict[str, list[bool]] = {"sharing": [], "alone": []}
    for line in (tmp_path / "workers.txt").read_text().splitlines():
        kind, worker, test_id = line.split()[:3]
        workers[kind].add(worker)
        grouped[kind].append("@" in test_id)  # xdist's scheduler reads a test's group from its id
    assert grouped == {"sharing": [True] * 4, "alone": [False] * 4}
    assert len(workers["sharing"]) == 1, f"the module fixture's tests ran on {sorted(workers['sharing'])}"


def test_the_tests_handed_out_first_exist() -> None:
    """A renamed or removed module in LONGEST_FIRST would silently go back to its place in
    collection order, and could again run on alone at the suite's end."""
    from tests.conftest import LONGEST_FIRST

    assert [path for path in LONGEST_FIRST if not (ROOT / path).is_file()] == []


def test_provider_modules_are_dealt_among_the_engine_tests_each_module_whole() -> None:
    from tests.conftest import LONGEST_FIRST, start_order

    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    longest = LONGEST_FIRST[0]
    ids = [
        "tests/emulators/test_e.py::t",
        "tests/integration/test_a.py::t1",
        "tests/integration/test_a.py::t2",
        "tests/integration/test_b.py::t",
        "tests/providers/test_p.py::t1",
        "tests/providers/test_p.py::t2",
        "tests/providers/test_q.py::t",
        "tests/unit/test_u.py::t",
        f"{longest}::t",
    ]
    items = cast(list[pytest.Item], [Item(nodeid) for nodeid in ids])  # only their node ids are read
    ordered = [item.nodeid for item in start_order(items)]
    assert ordered == [
        f"{longest}::t",
        "tests/integration/test_a.py::t1",
        "tests/integration/test_a.py::t2",
        "tests/providers/test_p.py::t1",
        "tests/providers/test_p.py::t2",
        "tests/integration/test_b.py::t",
        "tests/providers/test_q.py::t",
        "tests/emulators/test_e.py::t",
        "tests/unit/test_u.py::t",
    ]
