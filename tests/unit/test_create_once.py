"""create_once: after a failure that may hide a success, look the object up before creating again."""

from __future__ import annotations

import pytest

from envstack.clients.create_once import create_once
from envstack.errors import ApiError, ResourceError, SettingsError


def failure(status: int | None) -> ApiError:
    return ApiError(service="supabase", method="POST", path="/v1/projects", status=status, message="boom")


class World:
    """Objects that exist, and creates that fail before or after they act."""

    def __init__(self, *outcomes: tuple[bool, int | None]) -> None:
        self.objects: list[str] = []
        self.outcomes = list(outcomes)  # (acted, failing status) per call; exhausted: succeed
        self.creates = self.finds = 0

    def create(self) -> str:
        self.creates += 1
        acted, status = self.outcomes.pop(0) if self.outcomes else (True, 0)
        if acted:
            self.objects.append(f"object-{self.creates}")
        if status != 0:
            raise failure(status)
        return self.objects[-1]

    def find(self) -> str | None:
        self.finds += 1
        return self.objects[0] if self.objects else None


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(world: World, clock: Clock | None = None) -> str:
    clock = clock or Clock()
    return create_once(
        world.create, world.find, what="project p", say=lambda _m: None, sleep=clock.sleep, clock=lambda: clock.now
    )


@pytest.fixture(autouse=True)
def settle(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setenv("ENVSTACK_CREATE_SETTLE_SECONDS", "30")
    return 30.0


@pytest.mark.parametrize("status", [500, 502, 503, 504, None])
def test_a_failure_after_the_create_acted_finds_the_object(status: int | None) -> None:
    world = World((True, status))
    assert run(world) == "object-1"
    assert (world.objects, world.creates, world.finds) == (["object-1"], 1, 1)


@pytest.mark.parametrize("status", [502, None])
def test_a_failure_before_the_create_acted_creates_again(status: int | None) -> None:
    world, clock = World((False, status)), Clock()
    assert run(world, clock) == "object-2"
    assert (world.objects, world.creates) == (["object-2"], 2)
    assert 30 <= clock.now < 40, "looked for it for the settle time first, then waited before creating again"


class LateWorld(World):
    """A server that was still making the object when the client gave up: it appears later."""

    def __init__(self, clock: Clock, appears_after: float) -> None:
        super().__init__((False, None))
        self.clock, self.appears_at = clock, appears_after

    def find(self) -> str | None:
        self.finds += 1
        return "late-object" if self.clock.now >= self.appears_at else None


@pytest.mark.parametrize("status", [None, 504])
def test_an_object_the_server_finishes_after_the_client_gave_up_is_found_not_made_twice(status: int | None) -> None:
    clock = Clock()
    world = LateWorld(clock, appears_after=8.0)
    world.outcomes = [(False, status)]
    assert run(world, clock) == "late-object"
    assert world.creates == 1, "never sent again"
    assert 1 < world.finds <= 16


def test_the_settle_time_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVSTACK_CREATE_SETTLE_SECONDS", "0")
    world, clock = World((False, None)), Clock()
    assert run(world, clock) == "object-2"
    assert world.finds == 1, "looked once, at once"
    monkeypatch.setenv("ENVSTACK_CREATE_SETTLE_SECONDS", "soon")
    with pytest.raises(SettingsError, match="ENVSTACK_CREATE_SETTLE_SECONDS must be a number of seconds"):
        run(World((False, None)))


def test_a_refusal_is_raised_without_looking() -> None:
    world = World((False, 409))
    with pytest.raises(ApiError, match="boom"):
        run(world)
    assert (world.creates, world.finds) == (1, 0)


def test_giving_up_says_nothing_exists_and_why_running_again_is_safe() -> None:
    world = World((False, 503), (False, 503), (False, 503))
    with pytest.raises(ResourceError, match=r"creating project p failed 3 times .* looks for it before creating"):
        run(world)
    assert (world.objects, world.creates) == ([], 3)
