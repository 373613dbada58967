"""The machine-wide write lock: threads and processes take turns; a dead holder frees it."""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from envstack.clients.write_lock import exclusive


@pytest.fixture(autouse=True)
def _private_temp_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("busy")
else:
    print("free")
"""


def test_a_second_thread_waits_until_the_first_releases() -> None:
    parts = ("test", secrets.token_hex(8))
    waiting, entered = threading.Event(), threading.Event()

    def second() -> None:
        with exclusive(parts, on_wait=waiting.set):
            entered.set()

    with exclusive(parts):
        worker = threading.Thread(target=second)
        worker.start()
        assert waiting.wait(timeout=10), "the second thread saw the lock busy"
        assert not entered.is_set()
    assert entered.wait(timeout=10), "and got it once the first let go"
    worker.join(timeout=10)


def test_another_process_sees_the_lock_held_and_free_after() -> None:
    from envstack.clients.write_lock import lock_path

    parts = ("test", secrets.token_hex(8))

    def probe() -> str:
        out = subprocess.run(
            [sys.executable, "-c", TRY_LOCK, str(lock_path(parts))], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()

    with exclusive(parts):
        assert probe() == "busy"
    assert probe() == "free"


def test_different_names_do_not_block_each_other() -> None:
    with exclusive(("test", secrets.token_hex(8))), exclusive(("test", secrets.token_hex(8))):
        pass
