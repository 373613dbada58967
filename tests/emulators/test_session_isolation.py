"""The test session has nothing but loopback, and the local APIs' names resolve in every
process and thread of it, at once (tests/name_resolution.py, common/hostnames.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.emulators.common.hostnames import HostsFile, session_hosts


def test_nothing_off_the_machine_can_be_reached_or_looked_up() -> None:
    # 192.0.2.1 is TEST-NET-1 (RFC 5737): never a real host, and never dialled on success.
    with pytest.raises(OSError, match="unreachable"):
        socket.create_connection(("192.0.2.1", 80), timeout=2)
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 443)


def test_a_name_written_resolves_at_once_in_other_processes_and_under_threads() -> None:
    path = session_hosts()
    assert path is not None, "the session resolves through its own hosts file"
    hosts = HostsFile(path)
    hosts.set("steady.isolation.supabase.test", "127.54.0.9")
    failures: list[str] = []
    stop = threading.Event()

    def look_up() -> None:
        while not stop.is_set():
            try:
                found = socket.getaddrinfo("steady.isolation.supabase.test", 5432, type=socket.SOCK_STREAM)
                if {info[4][0] for info in found} != {"127.54.0.9"}:
                    failures.append(str(found))
            except OSError as exc:
                failures.append(str(exc))

    readers = [threading.Thread(target=look_up) for _ in range(4)]
    for reader in readers:
        reader.start()
    try:
        # Rewriting the file while others read it (nss_wrapper, used before, crashed here).
        deadline = time.monotonic() + 30
        for i in range(100):
            assert time.monotonic() < deadline
            hosts.set(f"churn-{i}.isolation.supabase.test", "::ffff:127.54.0.10")
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert failures == []
    look = "import socket; print(socket.getaddrinfo('churn-99.isolation.supabase.test', 1)[0][4][0])"
    other = subprocess.run(
        [sys.executable, "-c", look],
        capture_output=True,
        text=True,
        check=True,
    )
    assert other.stdout.strip() == "::ffff:127.54.0.10"
