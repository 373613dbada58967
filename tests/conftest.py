"""Fixtures shared by every test layer: a real PostgreSQL on loopback, free ports."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from envstack.pgserver import PostgresServer  # noqa: E402


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the whole session, superuser over its socket."""
    server = PostgresServer(
        tmp_path_factory.mktemp("postgres"), host="127.0.0.1", port=free_port()
    )
    server.start()
    try:
        yield server
    finally:
        server.destroy()
