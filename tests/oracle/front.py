"""A Unix socket in front of a loopback TCP address, for commands run in tests/oracle/sandbox.py.

The sandbox's network namespace has a loopback of its own; file-system sockets cross into
it. The sandbox relays the namespace's 127.0.0.1:<port> (or another loopback address given with
``--relay``) to a Unix socket, and this forwards each connection on that socket to the real
address and port outside, so a client inside sees the same URL and addresses the tests use.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oracle.sandbox import pump

_CONNECT_SECONDS = 30.0


@contextlib.contextmanager
def unix_front(path: Path, port: int, host: str = "127.0.0.1") -> Iterator[Path]:
    """A Unix socket at ``path`` that forwards each connection to ``host``:``port`` (the
    sandbox relays the namespace's ``host``:``port`` to it)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection((host, port), timeout=_CONNECT_SECONDS)
            except OSError:
                client.close()
                continue
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=pump, args=(source, sink), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield path
    finally:
        listener.close()
        path.unlink(missing_ok=True)  # so the same path serves again


def require_sandbox_tools() -> None:
    """Fail the test, saying what to install, when the sandbox cannot be made here."""
    for tool, package in (("unshare", "util-linux"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed to keep the client off the network: install the Debian package {package}")
