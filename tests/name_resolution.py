"""A pytest plugin, loaded first (``-p tests.name_resolution`` in pyproject.toml): the test
session resolves the local APIs' host names (tests/emulators/common/hostnames.py).

nss_wrapper works only when preloaded at process start, so a session started without it
starts itself again, once, with it preloaded and a fresh hosts file of its own. This runs
before pytest captures any output, so the second start prints to the same terminal.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from tests.emulators.common import hostnames

_OWNED = "ENVSTACK_SESSION_HOSTS_DIR"

if not hostnames.is_active():
    _directory = Path(tempfile.mkdtemp(prefix="envstack-names-"))
    (_directory / "hosts").touch()
    _env = hostnames.preload_environment(_directory / "hosts")
    _env[_OWNED] = str(_directory)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], _env)  # noqa: S606 (the same command again)


def pytest_unconfigure() -> None:
    # Only the session that made the hosts file removes it; a file given from outside stays.
    owned = os.environ.get(_OWNED)
    if owned and Path(os.environ[hostnames.HOSTS_VARIABLE]).parent == Path(owned):
        shutil.rmtree(owned, ignore_errors=True)
