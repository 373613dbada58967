"""Free TCP ports on loopback for the servers the tests start."""

from __future__ import annotations

import contextlib
import socket


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` different ports that nothing listens on now. The sockets stay bound until all
    are chosen: one at a time, the kernel may hand out the same port twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)]
        for sock in sockets:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


def free_port(host: str = "127.0.0.1") -> int:
    return free_ports(1, host)[0]
