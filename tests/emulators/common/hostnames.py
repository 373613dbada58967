"""DNS names for the local APIs' hosts, resolved to loopback addresses for the processes under test.

The real Supabase API answers with names (``db.<ref>.supabase.co``, a region's pooler host)
and real clients parse them, so the local API answers with names too, under the reserved
``.test`` domain. They resolve through ``/etc/hosts`` as any name does, for Python, libpq,
psql, Node and Go alike: the test session runs in a mount namespace of its own where
``/etc`` is a copy of the machine's (tests/name_resolution.py), so the session's hosts file
changes and the machine's never does. glibc reads ``/etc/hosts`` afresh on every lookup, so
a name written here resolves at once, in every process and thread.

The session also has a network namespace of its own with nothing but loopback: a lookup that
misses the file cannot reach a real resolver, and no address off the machine can be dialled.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import socket
from pathlib import Path

SESSION_VARIABLE = "ENVSTACK_SESSION_HOSTS"


class NameResolutionUnavailable(RuntimeError):
    """The session's hosts file does not answer as it should."""


def session_hosts() -> Path | None:
    """This session's hosts file when this process resolves through it (it is ``/etc/hosts``)."""
    path = os.environ.get(SESSION_VARIABLE)
    if not path:
        return None
    try:
        return Path(path) if os.path.samefile(path, "/etc/hosts") else None
    except OSError:
        return None


class HostsFile:
    """The session's hosts file: the machine's lines, then one line per name, rewritten
    whole under a lock and replaced atomically, so a reader never sees half a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of_session(cls) -> HostsFile | None:
        path = session_hosts()
        return cls(path) if path is not None else None

    def set(self, name: str, address: str) -> None:
        """Make ``name`` resolve to ``address`` (loopback: IPv4, IPv6 or IPv4-mapped IPv6)."""
        if not _loopback(address):
            raise ValueError(f"{address} is not a loopback address; local names resolve only to loopback")
        with (self.path.parent / f".{self.path.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            lines = self.path.read_text().splitlines() if self.path.exists() else []
            kept = [line for line in lines if _name_of(line) != name]
            temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            temporary.write_text("".join(f"{line}\n" for line in [*kept, f"{address} {name}"]))
            os.replace(temporary, self.path)
        self._check(name, address)

    def _check(self, name: str, address: str) -> None:
        """Where this process resolves through this file, the name must now resolve here."""
        if session_hosts() != self.path:
            return
        try:
            found = {info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
        except OSError as exc:
            raise NameResolutionUnavailable(f"{name} does not resolve through {self.path}: {exc}") from exc
        if found != {address}:
            raise NameResolutionUnavailable(f"{name} resolves to {sorted(found)} through {self.path}, not {address}")


def _name_of(line: str) -> str | None:
    fields = line.split("#", 1)[0].split()
    return fields[1] if len(fields) == 2 else None


def _loopback(address: str) -> bool:
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped.is_loopback
    return parsed.is_loopback
