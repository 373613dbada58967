"""DNS names for the local APIs' hosts, resolved to loopback addresses for the processes under test.

The real Supabase API answers with names (``db.<ref>.supabase.co``, a region's pooler host)
and real clients parse them, so the local API answers with names too, under the reserved
``.test`` domain so that no name can ever lead to a real host. They resolve through
nss_wrapper (Debian's ``libnss-wrapper``): a library preloaded into every process of a test
session that answers ``getaddrinfo`` from a hosts file of the session's own, for Python,
libpq, psql and Node alike. Nothing on the machine (``/etc/hosts``, the resolver) changes.

Two rules keep every lookup on the machine: a name is written to the file before the API
hands it out, and it is never removed (a deleted project's name points at an address where
nothing listens), so no lookup of an emulator's name ever falls through to DNS.

nss_wrapper re-reads the file when its modification time (in whole seconds) changes, so
every write moves the time forward by at least a second: a name handed out in the same
second as the previous write still resolves at once, without waiting.
"""

from __future__ import annotations

import ctypes.util
import fcntl
import ipaddress
import os
import socket
from collections.abc import Mapping
from pathlib import Path

HOSTS_VARIABLE = "NSS_WRAPPER_HOSTS"
# nss_wrapper keeps at most 100 host entries by default and, when the file holds more, stops
# answering from it at all, so lookups would fall through to real DNS. A session makes a few
# hundred projects; this is far above that.
MAX_ENTRIES = "100000"
_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
    "/usr/lib/libnss_wrapper.so",
    "/usr/lib64/libnss_wrapper.so",
)


class NameResolutionUnavailable(RuntimeError):
    """nss_wrapper is not installed, so the local APIs' host names cannot resolve."""


def nss_wrapper_library() -> str:
    for candidate in _CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = ctypes.util.find_library("nss_wrapper")
    if found:
        return found
    raise NameResolutionUnavailable(
        "nss_wrapper is not installed (Debian: apt-get install libnss-wrapper; scripts/bootstrap.sh installs it), "
        "so the local Supabase API's host names cannot resolve"
    )


def is_active(environ: Mapping[str, str] | None = None) -> bool:
    """Is this process (or one started with ``environ``) resolving through a session hosts file?"""
    env = os.environ if environ is None else environ
    preloaded = env.get("LD_PRELOAD", "").replace(":", " ").split()
    return (
        bool(env.get(HOSTS_VARIABLE))
        and env.get("NSS_WRAPPER_MAX_HOSTENTS") == MAX_ENTRIES
        and any("libnss_wrapper" in entry for entry in preloaded)
    )


def preload_environment(hosts_file: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` with nss_wrapper preloaded and reading ``hosts_file``."""
    env = dict(os.environ if environ is None else environ)
    library = nss_wrapper_library()
    others = [e for e in env.get("LD_PRELOAD", "").replace(":", " ").split() if "libnss_wrapper" not in e]
    env["LD_PRELOAD"] = " ".join([library, *others])
    env[HOSTS_VARIABLE] = str(hosts_file)
    env["NSS_WRAPPER_MAX_HOSTENTS"] = MAX_ENTRIES
    return env


class HostsFile:
    """The session's hosts file: one line per name, rewritten whole under a lock.

    Several emulators of one session (and their threads) share it; each write replaces the
    file atomically, so a reader never sees half a line.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of_session(cls) -> HostsFile | None:
        """The file this process resolves through, or None when names do not resolve here."""
        return cls(Path(os.environ[HOSTS_VARIABLE])) if is_active() else None

    def set(self, name: str, address: str) -> None:
        """Make ``name`` resolve to ``address`` (a loopback address, IPv4 or IPv6, or IPv4-mapped IPv6)."""
        if not _loopback(address):
            raise ValueError(f"{address} is not a loopback address; local names resolve only to loopback")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with (self.path.parent / f".{self.path.name}.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read()
            if entries.get(name) == address:
                return
            entries[name] = address
            self._write(entries)
        self._check(name, address)

    def _check(self, name: str, address: str) -> None:
        """Where this process resolves through this file, the name must now resolve here:
        nss_wrapper that cannot read its file says nothing and falls through to real DNS."""
        if not (is_active() and Path(os.environ[HOSTS_VARIABLE]) == self.path):
            return
        try:
            found = {info[4][0] for info in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
        except OSError as exc:
            raise NameResolutionUnavailable(f"{name} does not resolve through {self.path}: {exc}") from exc
        if found != {address}:
            raise NameResolutionUnavailable(f"{name} resolves to {sorted(found)} through {self.path}, not {address}")

    def resolve(self, name: str) -> str | None:
        return self._read().get(name)

    def _read(self) -> dict[str, str]:
        entries: dict[str, str] = {}
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                fields = line.split()
                if len(fields) >= 2 and not fields[0].startswith("#"):
                    entries[fields[1]] = fields[0]
        return entries

    def _write(self, entries: dict[str, str]) -> None:
        previous = self.path.stat().st_mtime if self.path.exists() else 0.0
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        temporary.write_text("".join(f"{address} {name}\n" for name, address in sorted(entries.items())))
        # Whole seconds, strictly later than the last write: nss_wrapper compares seconds.
        stamp = float(max(int(previous) + 1, int(os.stat(temporary).st_mtime)))
        os.utime(temporary, (stamp, stamp))
        os.replace(temporary, self.path)


def _loopback(address: str) -> bool:
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped.is_loopback
    return parsed.is_loopback
