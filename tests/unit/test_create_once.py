"""create_once: after a failure that may hide a success, look the object up before creating again."""

from __future__ import annotations

import pytest

from envstack.clients.create_once import create_once
from envstack.errors import ApiError, ResourceError


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


def run(world: World) -> str:
    return create_once(world.create, world.find, what="project p", say=lambda _m: None, sleep=lambda _s: None)


@pytest.mark.parametrize("status", [500, 502, 503, 504, None])
def test_a_failure_after_the_create_acted_finds_the_object(status: int | None) -> None:
    world = World((True, status))
    assert run(world) == "object-1"
    assert (world.objects, world.creates, world.finds) == (["object-1"], 1, 1)


@pytest.mark.parametrize("status", [502, None])
def test_a_failure_before_the_create_acted_creates_again(status: int | None) -> None:
    world = World((False, status))
    assert run(world) == "object-2"
    assert (world.objects, world.creates) == (["object-2"], 2)


def test_a_refusal_is_raised_without_looking() -> None:
    world = World((False, 409))
    with pytest.raises(ApiError, match="boom"):
        run(world)
    assert (world.creates, world.finds) == (1, 0)


def test_giving_up_says_nothing_exists_and_why_running_again_is_safe() -> None:
    world = World((False, 503), (False, 503), (False, 503))
    with pytest.raises(ResourceError, match=r"creating project p failed 3 times .* looks for it before creating"):
        run(world)
    assert (world.objects, world.creates, world.finds) == ([], 3, 3)
