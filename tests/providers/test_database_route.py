"""providers/database_route.py against real sockets on loopback: the first address that
answers wins, a refused one is skipped with its reason, and no candidate is ever logged
with its password."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from envstack.errors import NoRoute
from providers import database_route
from providers.database_route import ReachableUrlProvider


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


@pytest.fixture
def refused() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there now


def url(port: int, password: str = "secret-pw") -> str:
    return f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres?sslmode=require"


def test_the_first_reachable_candidate_wins(listening: int, refused: int) -> None:
    chosen, skipped = database_route.choose([url(refused), url(listening)])
    assert chosen == url(listening)
    assert len(skipped) == 1
    assert skipped[0].startswith(f"127.0.0.1:{refused}: ")
    assert "secret-pw" not in skipped[0]
    assert database_route.choose([url(listening), url(refused)]) == (url(listening), [])


def test_a_single_candidate_is_taken_as_given(refused: int) -> None:
    assert database_route.choose([url(refused)]) == (url(refused), [])


def test_no_reachable_candidate_is_an_error_without_passwords(refused: int) -> None:
    with pytest.raises(NoRoute) as caught:
        database_route.choose([url(refused, "pw-one"), url(refused, "pw-two")])
    assert "pw-one" not in str(caught.value)
    assert "pw-two" not in str(caught.value)
    assert f"127.0.0.1:{refused}" in str(caught.value)


def test_diff_looks_again_and_changes_only_when_the_route_moves(listening: int, refused: int) -> None:
    provider = ReachableUrlProvider()
    candidates = [url(refused), url(listening)]
    olds = {"candidates": candidates, "url": url(listening)}
    assert not provider.diff("route", olds, {"candidates": candidates}).changes
    moved = {"candidates": candidates, "url": url(refused)}  # chosen on a machine where the first answered
    assert provider.diff("route", moved, {"candidates": candidates}).changes
    assert provider.diff("route", olds, {"candidates": [url(listening)]}).changes
