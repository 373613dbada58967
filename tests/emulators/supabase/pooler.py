"""The shared pooler, a stand-in for Supavisor.

Supabase's pooler is one host per region; a client logs in as ``<role>.<project ref>``,
port 6543 pools by transaction, 5432 by session (docs guides/database/connecting-to-postgres).
PgBouncer 1.18 cannot route by a suffix of the user name, so a small asyncio front does:

    client --(TLS or plain)--> front on <pooler host>:5432|6543
        reads the startup message, maps user ``role.ref`` to the project's PgBouncer
        database alias and user ``role``, then pipes bytes both ways
    --> PgBouncer (session or transaction mode) on a private 127.0.0.1 port
        auth_query through ``pgbouncer.get_auth`` on the project's own database, SCRAM
        pass-through (the client's proof logs PgBouncer in to the server, so any role
        created later by SQL works without telling the pooler)
    --> the project's PostgreSQL on its own address:5432.

An unknown tenant gets the ErrorResponse Supavisor sends, ``Tenant or user not found``
(SQLSTATE XX000). New projects join by rewriting PgBouncer's [databases] and a reload
(SIGHUP), never a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import struct
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envstack.db.pgserver import PgBouncer, require_loopback
from tests.emulators.supabase.circuit_breaker import MESSAGE as BREAKER_MESSAGE
from tests.emulators.supabase.circuit_breaker import AuthBreaker
from tests.emulators.supabase.databases import DATABASE, DATABASE_PORT, POOLER_ROLE
from tests.ports import free_ports

TRANSACTION_PORT = 6543
SESSION_PORT = 5432
_SSL_REQUEST = 80877103
_GSSENC_REQUEST = 80877104
_CANCEL_REQUEST = 80877102
_PROTOCOL_3 = 196608
_MAX_STARTUP = 10_000
_log = logging.getLogger(__name__)


def error_response(message: str, code: str = "XX000") -> bytes:
    fields = b"".join(
        tag + value.encode() + b"\0" for tag, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


def parse_startup(payload: bytes) -> dict[str, str]:
    """Key/value pairs of a protocol 3 startup message (after length and version)."""
    parts = payload.split(b"\0")
    pairs: dict[str, str] = {}
    for key, value in zip(parts[0::2], parts[1::2], strict=False):
        if not key:
            break
        pairs[key.decode()] = value.decode()
    return pairs


def build_startup(params: dict[str, str]) -> bytes:
    body = struct.pack("!I", _PROTOCOL_3)
    body += b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params.items()) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


@dataclass(frozen=True)
class Route:
    alias: str  # the project's database name in PgBouncer
    tls_only: bool = False  # the project enforces SSL: a client without TLS is refused


class PoolerFront:
    """The asyncio front, on its own event loop thread."""

    def __init__(
        self,
        tls: ssl.SSLContext,
        upstreams: dict[int, int],
        resolve: Callable[[str], Route | None],
        breaker: AuthBreaker,
    ) -> None:
        self._tls = tls
        self.breaker = breaker
        self._upstreams = upstreams  # listen port -> PgBouncer port on 127.0.0.1
        self._resolve = resolve
        self._drops = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="supabase-pooler", daemon=True)
        self._thread.start()

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=30)

    def listen(self, host: str) -> None:
        """Serve ``host``:5432 (session) and :6543 (transaction)."""
        require_loopback(host)

        def serve_on(port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
            return lambda reader, writer: self._serve(reader, writer, port)

        async def start() -> None:
            for port in self._upstreams:
                server = await asyncio.start_server(serve_on(port), host, port, reuse_address=True)
                self._servers.append(server)

        self._call(start())

    def drop_next(self, count: int) -> None:
        """Reset the next ``count`` connections as soon as they arrive."""
        with self._lock:
            self._drops = count

    def pending_drops(self) -> int:
        with self._lock:
            return self._drops

    def _take_drop(self) -> bool:
        with self._lock:
            if self._drops > 0:
                self._drops -= 1
                return True
            return False

    def stop(self) -> None:
        """Stop listening, cut every client off, end the loop."""

        async def close() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self._call(close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running():
            self._loop.close()

    # -- one client ------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int) -> None:
        if self._take_drop():
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        upstream: asyncio.StreamWriter | None = None
        try:
            message = await self._startup(reader, writer)
            if message is None:
                return
            code, payload = message
            if code == _CANCEL_REQUEST:
                _, up = await asyncio.open_connection("127.0.0.1", self._upstreams[port])
                up.write(struct.pack("!II", 16, code) + payload[:8])
                await up.drain()
                up.close()
                return
            if code != _PROTOCOL_3:
                writer.write(error_response("unsupported frontend protocol", "0A000"))
                return
            params = parse_startup(payload)
            user = params.get("user", "")
            role, _, ref = user.rpartition(".")
            route = self._resolve(ref) if role else None
            if route is None:
                writer.write(error_response("Tenant or user not found"))
                return
            peer = writer.get_extra_info("peername")
            key = (ref, str(peer[0]) if peer else "")
            if self.breaker.is_open(key):
                writer.write(error_response(BREAKER_MESSAGE))
                return
            if route.tls_only and writer.get_extra_info("ssl_object") is None:
                # Supavisor's wording is not recorded; PostgreSQL's for the same refusal.
                writer.write(error_response("SSL connection is required", "28000"))
                return
            database = params.get("database") or user
            if database not in (DATABASE, user):
                writer.write(error_response(f'database "{database}" does not exist', "3D000"))
                return
            params.update(user=role, database=route.alias)
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", self._upstreams[port])
            upstream.write(build_startup(params))
            await upstream.drain()
            await asyncio.gather(
                _pipe(reader, upstream),
                _pipe_watching_login(up_reader, writer, role, lambda: self.breaker.record_failure(key)),
            )
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        except asyncio.CancelledError:  # the pooler stops: cut the client off
            for stream in (upstream, writer):
                if stream is not None:
                    stream.transport.abort()
            raise
        finally:
            for stream in (upstream, writer):
                if stream is not None and not stream.transport.is_closing():
                    with contextlib.suppress(Exception):
                        await stream.drain()
                    stream.close()

    async def _startup(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> tuple[int, bytes] | None:
        """Answer SSL and GSS encryption requests until the real startup message arrives."""
        for _ in range(3):
            length, code = struct.unpack("!II", await reader.readexactly(8))
            if not 8 <= length <= _MAX_STARTUP:
                return None
            payload = await reader.readexactly(length - 8)
            if code == _SSL_REQUEST:
                if writer.get_extra_info("ssl_object") is not None:
                    return None
                writer.write(b"S")
                await writer.drain()
                await writer.start_tls(self._tls)
                continue
            if code == _GSSENC_REQUEST:
                writer.write(b"N")
                await writer.drain()
                continue
            return code, payload
        return None


async def _pipe_watching_login(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, role: str, failed: Callable[[], None]
) -> None:
    """The server's side of a connection, read message by message until the login ends
    (ReadyForQuery, or an error), then piped as bytes. A wrong password counts towards the
    circuit breaker and is worded as Supavisor words it (lib/supavisor/errors: 28P01
    ``password authentication failed for user "<user>"``; PgBouncer says "SASL
    authentication failed")."""
    try:
        while True:
            header = await source.readexactly(5)
            kind, length = header[:1], struct.unpack("!I", header[1:])[0]
            body = await source.readexactly(length - 4)
            if kind == b"E" and b"authentication failed" in body:
                failed()
                sink.write(error_response(f'password authentication failed for user "{role}"', "28P01"))
                await sink.drain()
                break
            sink.write(header + body)
            await sink.drain()
            if kind == b"E":
                break
            if kind == b"Z":
                break
    except (asyncio.IncompleteReadError, ConnectionError):
        with contextlib.suppress(Exception):
            sink.close()
        return
    await _pipe(source, sink)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    finally:
        # One side is done: end the other so neither waits forever.
        with contextlib.suppress(Exception):
            sink.close()


class Pooler:
    """Two PgBouncers (transaction and session) behind one front that serves every region."""

    def __init__(
        self, root: Path, certificate: tuple[Path, Path], pooler_password: str, clock: Callable[[], float]
    ) -> None:
        self.root = root
        self._breaker = AuthBreaker(clock)
        self._password = pooler_password
        transaction, session = free_ports(2)
        self._bouncers = {
            TRANSACTION_PORT: PgBouncer(root / "transaction", "127.0.0.1", transaction, "transaction", tls=False),
            SESSION_PORT: PgBouncer(root / "session", "127.0.0.1", session, "session", tls=False),
        }
        self._revive_lock = threading.Lock()
        self._databases: dict[str, str] = {}  # alias -> conninfo
        self._routes: dict[str, Route] = {}  # ref -> route, once its database is in PgBouncer
        self._tls_only: set[str] = set()  # refs enforcing SSL
        self._lock = threading.Lock()
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(certificate[0]), str(certificate[1]))
        self._front: PoolerFront | None = None
        self._tls = tls
        self._hosts: dict[str, str] = {}  # region -> pooler host
        # Apart from _lock, which the front's loop takes to route a client: a new host waits on
        # that loop, so holding _lock meanwhile would block both for the _call timeout.
        self._hosts_lock = threading.Lock()

    def start(self) -> None:
        self._write_config()
        for bouncer in self._bouncers.values():
            bouncer.start()
        self._front = PoolerFront(
            self._tls, {port: b.port for port, b in self._bouncers.items()}, self._resolve, self._breaker
        )

    def stop(self) -> None:
        if self._front is not None:
            self._front.stop()
        for bouncer in self._bouncers.values():
            bouncer.stop()

    @property
    def front(self) -> PoolerFront:
        if self._front is None:
            raise RuntimeError("the pooler is not started")
        return self._front

    def describe(self) -> str:
        """Each PgBouncer's state, with the end of the log of one that is not running."""
        return "; ".join(
            f"{b.pool_mode} PgBouncer {pid} running"
            if (pid := b.pid()) is not None
            else f"{b.pool_mode} PgBouncer NOT running, its log ends: {_log_end(b)}"
            for b in self._bouncers.values()
        )

    def pids(self) -> dict[str, int | None]:
        """The PgBouncer processes by pool mode (reloaded; started again only after one died)."""
        return {b.pool_mode: b.pid() for b in self._bouncers.values()}

    def host_for(self, region: str, allocate: Callable[[], str]) -> str:
        """The region's pooler host, listening from its first use on."""
        with self._hosts_lock:
            host = self._hosts.get(region)
            if host is None:
                host = allocate()
                self.front.listen(host)
                self._hosts[region] = host
            return host

    def hosts(self) -> dict[str, str]:
        with self._hosts_lock:
            return dict(self._hosts)

    def _resolve(self, ref: str) -> Route | None:
        with self._lock:
            return self._routes.get(ref)

    def add(self, ref: str, db_host: str, pool_size: int | None = None) -> None:
        """Route ``<role>.<ref>`` to the project's database (PgBouncer reloads)."""
        conninfo = f"host={db_host} port={DATABASE_PORT} dbname={DATABASE} auth_user={POOLER_ROLE}"
        if pool_size:
            conninfo += f" pool_size={pool_size}"
        with self._lock:
            self._databases[ref] = conninfo
            self._write_config()
            self._routes[ref] = Route(alias=ref, tls_only=ref in self._tls_only)
        self._reload()

    def require_tls(self, ref: str, required: bool) -> None:
        """SSL enforcement at the pooler (the project's own setting)."""
        with self._lock:
            if required:
                self._tls_only.add(ref)
            else:
                self._tls_only.discard(ref)
            route = self._routes.get(ref)
            if route is not None:
                self._routes[ref] = Route(alias=route.alias, tls_only=required)

    def remove(self, ref: str) -> None:
        with self._lock:
            self._routes.pop(ref, None)
            if self._databases.pop(ref, None) is None:
                return
            self._write_config()
        self._reload()

    def _reload(self) -> None:
        """Each PgBouncer rereads the configuration; one that died is started again, loudly.
        Supavisor is a managed service that comes back, while a dead PgBouncer of the stand-in
        (1.18 has crashes of its own under load: pgbouncer#822, #826) would fail every project
        after it, far from the cause."""
        for bouncer in self._bouncers.values():
            if bouncer.running():
                bouncer.reload()
                continue
            with self._revive_lock:
                if not bouncer.running():
                    _log.error("the %s PgBouncer had stopped; its log ends: %s", bouncer.pool_mode, _log_end(bouncer))
                    bouncer.start()

    def revive(self, port: int, why: str) -> None:
        """Start the PgBouncer behind ``port`` again: it runs, but has refused a new project's
        logins for seconds on end while the project's server lets clients in (seen once in CI:
        every later project on that worker failed to come up, each after 30 s). Supavisor comes
        back from that; the stand-in must too, or the failure lands on tests far from the cause.
        Said loudly, with the log, as for one that died (``_reload``)."""
        bouncer = self._bouncers[port]
        wedged = bouncer.pid()
        with self._revive_lock:
            if bouncer.pid() != wedged:
                return  # another project's wait already started it again
            _log.error(
                "the %s PgBouncer %s refuses new logins (%s); starting it again; its log ends: %s",
                bouncer.pool_mode,
                wedged,
                why,
                _log_end(bouncer),
            )
            bouncer.stop()
            bouncer.start()

    def _write_config(self) -> None:
        settings = {
            "auth_user": POOLER_ROLE,
            "auth_query": "SELECT username, password FROM pgbouncer.get_auth($1)",
            "max_client_conn": "1000",
            "default_pool_size": "15",
            # A server that just started may refuse one login; don't wait the default 15 s.
            "server_login_retry": "1",
            # To the project's database over TLS, so a project enforcing SSL is reached too.
            "server_tls_sslmode": "require",
            "server_idle_timeout": "30",
            "unix_socket_dir": "",  # TCP only: the state directory may be too deep for a socket path
        }
        for bouncer in self._bouncers.values():
            bouncer.configure(dict(self._databases), {POOLER_ROLE: self._password}, settings)


def _log_end(bouncer: PgBouncer, size: int = 1500) -> str:
    try:
        text = bouncer.log_file.read_text(errors="replace")
    except OSError as exc:
        return f"(unreadable: {exc})"
    return text[-size:].strip() or "(empty)"
