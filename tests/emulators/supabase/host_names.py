"""The names the local Supabase API gives its hosts, as the real one does.

Real answers carry DNS names: ``db.<ref>.supabase.co`` for a project's database (IPv6-only
unless the IPv4 add-on is bought) and ``aws-0-<region>.pooler.supabase.com`` for a region's
pooler (IPv4). Here they are ``db.<ref>.<domain>`` and ``aws-0-<region>.pooler.<domain>``
under ``<block>.supabase.test``, the block being this emulator's share of 127.54.0.0/16,
so two emulators never hand out the same name.

Run by hand, outside a test session, there is no hosts file to write to: the API then
answers the loopback addresses themselves, as it did before it had names.

A database's name resolves to an IPv6 address only. Whether that address leads anywhere
is the machine's network, which a test sets with :meth:`SupabaseHostNames.set_ipv6_route`:
by default there is no IPv6 route (as on GitHub's hosted runners and many offices), and
the name resolves to an address where nothing listens, so a connection to the direct
host is refused while the pooler works. With a route, the name resolves to the project's
database (its IPv4 loopback address, written as IPv4-mapped IPv6).
"""

from __future__ import annotations

import threading

from tests.emulators.common.hostnames import HostsFile

# In 127.54.0.0/24, which the address pool never hands out: nothing listens there.
NOWHERE = "127.54.0.1"


def _ipv6(address: str) -> str:
    return f"::ffff:{address}"


class SupabaseHostNames:
    def __init__(self, block: str, hosts: HostsFile | None) -> None:
        self.domain = f"{block}.supabase.test"
        self.hosts = hosts
        self._databases: dict[str, str | None] = {}  # name -> the database's address, None once gone
        self._ipv6_route = False
        self._lock = threading.Lock()

    @property
    def ipv6_route(self) -> bool:
        return self._ipv6_route

    def database(self, ref: str, address: str) -> str:
        """The name of ``ref``'s database host, resolving to ``address`` over IPv6."""
        if self.hosts is None:
            return address
        name = f"db.{ref}.{self.domain}"
        with self._lock:
            self._databases[name] = address
            self.hosts.set(name, self._target(address))
        return name

    def pooler(self, region: str, address: str) -> str:
        if self.hosts is None:
            return address
        name = f"aws-0-{region}.pooler.{self.domain}"
        self.hosts.set(name, address)
        return name

    def forget(self, name: str) -> None:
        """A deleted database: its name stays (no lookup may reach real DNS) and leads nowhere."""
        with self._lock:
            if self.hosts is not None and name in self._databases:
                self._databases[name] = None
                self.hosts.set(name, _ipv6(NOWHERE))

    def set_ipv6_route(self, route: bool) -> None:
        with self._lock:
            self._ipv6_route = route
            for name, address in self._databases.items():
                if self.hosts is not None:
                    self.hosts.set(name, self._target(address))

    def _target(self, address: str | None) -> str:
        return _ipv6(address if address is not None and self._ipv6_route else NOWHERE)
