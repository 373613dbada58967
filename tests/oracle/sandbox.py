"""Run a command (the Supabase CLI) where the only network is a namespace's own loopback.

    unshare --net [--map-root-user] python sandbox.py --socket PATH --port N \
        [--relay ADDRESS:PORT=PATH ...] --report FILE -- CMD...

Inside a fresh network namespace this brings ``lo`` up, routes every IPv4 and IPv6 address to
it (so nothing can leave the namespace, and any address the command dials is "local"), relays
127.0.0.1:N to a Unix socket (file-system sockets cross namespaces: a PostgreSQL socket, or a
front from tests/oracle/front.py), and each further ``--relay`` address and port to its socket
(a loopback address other than 127.0.0.1, such as a local project's database, is reached
so: the namespace's copy of it relays to a front outside that forwards to the real one). It
listens on
the ports an outbound call would use — DNS (53, UDP and TCP), HTTP (80), HTTPS (443) — on every
address. The command runs with stdin, stdout and stderr inherited. The report file gets a JSON
list of the calls the traps caught; if there was any, the exit status is TRAPPED whatever the
command's, so an attempt to reach the internet fails the test instead of going unnoticed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path

TRAPPED = 97
TRAP_TCP_PORTS = (53, 80, 443)
TRAP_UDP_PORTS = (53,)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def _isolate() -> None:
    _ip("link", "set", "lo", "up")
    _ip("route", "add", "local", "0.0.0.0/0", "dev", "lo", "table", "local")
    _ip("-6", "route", "add", "local", "::/0", "dev", "lo", "table", "local")


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction of a relayed connection until it ends (tests/oracle/front.py too)."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)


def _relay(listener: socket.socket, target: str) -> None:
    while True:
        client, _ = listener.accept()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            server.connect(target)
        except OSError:
            client.close()
            server.close()
            continue
        for source, sink in ((client, server), (server, client)):
            threading.Thread(target=pump, args=(source, sink), daemon=True).start()


def _trap_tcp(listener: socket.socket, port: int, caught: list[str]) -> None:
    while True:
        conn, _ = listener.accept()
        caught.append(f"tcp connection to port {port}")
        conn.close()


def _dns_question(datagram: bytes) -> str:
    """The name a DNS query asks for (after the 12-byte header), or "?"."""
    labels: list[str] = []
    at = 12
    while at < len(datagram) and datagram[at] and len(labels) < 64:
        length = datagram[at]
        labels.append(datagram[at + 1 : at + 1 + length].decode("ascii", "replace"))
        at += 1 + length
    return ".".join(labels) or "?"


def _trap_udp(sock: socket.socket, port: int, caught: list[str]) -> None:
    while True:
        datagram, peer = sock.recvfrom(65536)
        caught.append(f"DNS query for {_dns_question(datagram)}" if port == 53 else f"udp datagram to port {port}")
        if port == 53 and len(datagram) >= 12:
            # Answer REFUSED (the query echoed with QR and rcode 5), so the resolver gives up at
            # once instead of retrying until its timeouts run out.
            sock.sendto(datagram[:2] + bytes([0x80 | (datagram[2] & 0x01), 0x05]) + datagram[4:], peer)


def _dual_stack(kind: socket.SocketKind, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    return sock


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--socket", required=True, help="the PostgreSQL Unix socket to relay to")
    parser.add_argument("--port", type=int, required=True, help="the 127.0.0.1 port to relay from")
    parser.add_argument(
        "--relay", action="append", default=[], metavar="ADDRESS:PORT=PATH", help="one more address to relay"
    )
    parser.add_argument("--report", type=Path, required=True)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    _isolate()
    caught: list[str] = []
    threads = []
    relays = [("127.0.0.1", args.port, args.socket)]
    for relay in args.relay:
        where, _, path = relay.partition("=")
        address, _, port = where.rpartition(":")
        relays.append((address, int(port), path))
    for address, port, path in relays:
        # Any address is local here (the route above), so any loopback address can be bound.
        listener = socket.create_server((address, port))
        threads.append(threading.Thread(target=_relay, args=(listener, path), daemon=True))
    for port in TRAP_TCP_PORTS:
        trap = _dual_stack(socket.SOCK_STREAM, port)
        trap.listen()
        threads.append(threading.Thread(target=_trap_tcp, args=(trap, port, caught), daemon=True))
    for port in TRAP_UDP_PORTS:
        threads.append(
            threading.Thread(target=_trap_udp, args=(_dual_stack(socket.SOCK_DGRAM, port), port, caught), daemon=True)
        )
    for thread in threads:
        thread.start()

    try:
        status = subprocess.run(command, timeout=args.timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"sandbox: the command ran longer than {args.timeout:.0f}s and was killed", file=sys.stderr)
        status = 124
    args.report.write_text(json.dumps(caught))
    if caught:
        print(f"sandbox: outbound network attempts: {'; '.join(caught)}", file=sys.stderr)
        return TRAPPED
    return status


if __name__ == "__main__":
    sys.exit(main())
