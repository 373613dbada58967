"""The generated-secret provider called directly: made once, replaced only on rotation."""

from __future__ import annotations

import re
from typing import Any

import dill
import pytest

from providers.generated_secret import GeneratedSecretProvider


def create(length: int = 48, rotation: int = 0) -> dict[str, Any]:
    provider = GeneratedSecretProvider()
    props = {"length": length, "rotation": rotation}
    assert provider.check({}, props).failures == []
    result = provider.create(props)
    assert result.outs is not None
    return dict(result.outs)


@pytest.mark.parametrize("length", [16, 48, 97])
def test_value_has_the_length_asked_for_in_a_url_safe_alphabet(length: int) -> None:
    value = create(length)["value"]
    assert len(value) == length
    assert re.fullmatch(r"[A-Za-z0-9_-]+", value)


def test_every_resource_gets_its_own_value() -> None:
    assert len({create()["value"] for _ in range(20)}) == 20


def test_rotation_or_length_is_an_update_in_place_with_a_new_value() -> None:
    """Never a replace: the engine refuses to replace production's protected secrets."""
    provider = GeneratedSecretProvider()
    olds = create()
    same = provider.diff("id", olds, {"length": 48, "rotation": 0})
    assert same.changes is False
    # Numbers come back from the engine as floats.
    assert provider.diff("id", olds, {"length": 48.0, "rotation": 0.0}).changes is False
    rotated = provider.diff("id", olds, {"length": 48, "rotation": 1})
    assert (rotated.changes, rotated.replaces) == (True, [])
    longer = provider.diff("id", olds, {"length": 64, "rotation": 0})
    assert (longer.changes, longer.replaces) == (True, [])
    updated = provider.update("id", olds, {"length": 64, "rotation": 1}).outs or {}
    assert len(updated["value"]) == 64
    assert updated["value"] != olds["value"]
    assert (updated["length"], updated["rotation"]) == (64, 1)


@pytest.mark.parametrize(
    ("props", "prop"),
    [
        ({"length": 8, "rotation": 0}, "length"),
        ({"length": "48", "rotation": 0}, "length"),
        ({"length": 48, "rotation": -1}, "rotation"),
        ({"length": 48, "rotation": True}, "rotation"),
    ],
)
def test_check_names_the_bad_property(props: dict[str, Any], prop: str) -> None:
    assert [f.property for f in GeneratedSecretProvider().check({}, props).failures] == [prop]


def test_the_provider_survives_pickling() -> None:
    provider = dill.loads(dill.dumps(GeneratedSecretProvider(), recurse=True))  # noqa: S301 - our own object, pickled as Pulumi does
    result = provider.create({"length": 32, "rotation": 0})
    assert len(result.outs["value"]) == 32
