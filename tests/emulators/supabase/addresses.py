"""Loopback addresses for the emulator's databases and poolers.

Supabase gives every project a host of its own (``db.<ref>.supabase.co``) and every region
a pooler host; here each is an address in 127.54.0.0/16, a part of the loopback network
nothing else in the project uses (Linux answers on all of 127.0.0.0/8 without any setup).
Each emulator claims a /24 inside it with an exclusive lock file (held until the process
ends, so emulators running side by side in other test sessions never share a block) and
still checks every address is free on the ports it needs before handing it out.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import random
import socket
import tempfile
import threading
from pathlib import Path
from typing import TextIO

from envstack.db.pgserver import require_loopback

NETWORK = ipaddress.IPv4Network("127.54.0.0/16")
DATABASE_PORT = 5432
POOLER_PORTS = (5432, 6543)


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _claim_block(network: ipaddress.IPv4Network) -> tuple[ipaddress.IPv4Network, TextIO]:
    """A /24 no other emulator on this machine holds, and the open lock file that holds it."""
    locks = Path(tempfile.gettempdir()) / "envstack-supabase-emulator-addresses"
    locks.mkdir(mode=0o1777, exist_ok=True)
    blocks = list(network.subnets(new_prefix=24))[1:]  # 127.54.0.x stays unused: an easy tell in logs
    random.shuffle(blocks)
    for block in blocks:
        handle = (locks / f"{block.network_address}.lock").open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return block, handle
    raise RuntimeError(f"every /24 of {network} is held by another emulator")


class AddressPool:
    def __init__(self, network: ipaddress.IPv4Network = NETWORK) -> None:
        self._block, self._lock_file = _claim_block(network)
        self._hosts = [str(host) for host in self._block.hosts()]
        self._next = 0  # round robin: a released address is the last to be handed out again
        self._taken: set[str] = set()
        self._lock = threading.Lock()

    @property
    def block_label(self) -> str:
        """A short label of this pool's /24 (``s23`` for 127.54.23.0/24), for host names."""
        return f"s{self._block.network_address.packed[2]}"

    def allocate(self, ports: tuple[int, ...] = (DATABASE_PORT,)) -> str:
        """A loopback address no one listens on at ``ports``, reserved until released."""
        with self._lock:
            for _ in range(len(self._hosts)):
                address = self._hosts[self._next]
                self._next = (self._next + 1) % len(self._hosts)
                if address not in self._taken and all(port_free(address, port) for port in ports):
                    self._taken.add(require_loopback(address))
                    return address
        raise RuntimeError(f"no free loopback address left in {self._block}")

    def release(self, address: str) -> None:
        with self._lock:
            self._taken.discard(address)

    def close(self) -> None:
        """Give the block back (it is also given back when the process ends)."""
        self._lock_file.close()
