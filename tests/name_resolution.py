"""A pytest plugin, loaded first (``-p tests.name_resolution`` in pyproject.toml): the test
session runs with nothing but loopback, and resolves the local APIs' host names.

A session started outside starts itself again, once, inside new mount and network namespaces
(util-linux's ``unshare``): ``/etc`` is replaced by a copy of the machine's, whose ``hosts``
the local APIs add their names to (tests/emulators/common/hostnames.py), and the network is
a loopback of its own, so no test can reach, or even look up, anything off the machine. The
machine's ``/etc`` and network are never touched. This runs before pytest captures output,
so the second start prints to the same terminal.

As root the namespaces are made directly; otherwise in a user namespace that maps the
current user to itself (unprivileged user namespaces must be enabled).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.emulators.common.hostnames import SESSION_VARIABLE

_OWNED = "ENVSTACK_SESSION_DIR"
_ENTER = 'ip link set lo up && mount --bind "$1" /etc && shift && exec "$@"'


def _fail(message: str) -> None:
    print(f"tests/name_resolution.py: {message}", file=sys.stderr)
    sys.exit(2)


if not os.environ.get(SESSION_VARIABLE):
    for tool, package in (("unshare", "util-linux"), ("ip", "iproute2"), ("mount", "mount")):
        if shutil.which(tool) is None:
            _fail(f"{tool} is needed to isolate the test session: install the Debian package {package}")
    _directory = Path(tempfile.mkdtemp(prefix="envstack-session-"))
    # A copy of /etc whose hosts file the session owns; files this user cannot read stay out.
    subprocess.run(["cp", "-a", "/etc", str(_directory / "etc")], stderr=subprocess.DEVNULL, check=False)
    if not (_directory / "etc" / "hosts").is_file():
        _fail(f"could not copy /etc into {_directory}")
    _env = {**os.environ, SESSION_VARIABLE: str(_directory / "etc" / "hosts"), _OWNED: str(_directory)}
    _namespaces = ["--mount", "--net"] if os.geteuid() == 0 else ["--user", "--map-current-user", "--mount", "--net"]
    sys.stdout.flush()
    sys.stderr.flush()
    _command = ["unshare", *_namespaces, "--", "sh", "-c", _ENTER, "sh", str(_directory / "etc")]
    os.execvpe("unshare", [*_command, sys.executable, *sys.orig_argv[1:]], _env)  # noqa: S606 (the same command again)


def pytest_unconfigure() -> None:
    # Only the session that made the copy removes it: not its pytest-xdist workers, which
    # inherit the variable and end while other workers still resolve through the copy.
    owned = os.environ.get(_OWNED)
    if (
        owned
        and not os.environ.get("PYTEST_XDIST_WORKER")
        and Path(os.environ[SESSION_VARIABLE]).parent.parent == Path(owned)
    ):
        shutil.rmtree(owned, ignore_errors=True)
