"""Dynamic provider: a random secret generated once and kept in the (encrypted) state.

It stands in for ``pulumi_random.RandomPassword`` with ``keepers``, whose provider plugin
cannot be built from the Go module proxy reachable here: the value is made on create and
never changes until ``rotation`` (a counter) or ``length`` changes. That is an update in
place, not a replace: production's secrets are protected, and the engine refuses to replace
a protected resource, so a replace could never rotate them. No network.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CheckResult, CreateResult, DiffResult, ResourceProvider, UpdateResult

from providers.declared import Declared, Inputs

SECRET_OUTPUTS = ("value",)
MIN_LENGTH = 16
MAX_LENGTH = 4096
_NEW_VALUE_ON = ("length", "rotation")


def generate(length: int) -> str:
    """``length`` characters of the URL-safe alphabet (6 random bits each)."""
    return secrets.token_urlsafe(length)[:length]


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


class GeneratedSecretProvider(ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures: list[CheckFailure] = []
        length: Any = news.get("length")
        if not _is_int(length) or not MIN_LENGTH <= int(length) <= MAX_LENGTH:
            failures.append(CheckFailure("length", f"a whole number from {MIN_LENGTH} to {MAX_LENGTH} is required"))
        rotation: Any = news.get("rotation")
        if not _is_int(rotation) or int(rotation) < 0:
            failures.append(CheckFailure("rotation", "a counter (a whole number, 0 or more) is required"))
        return CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> CreateResult:
        length = int(props["length"])
        outs = {"length": length, "rotation": int(props["rotation"]), "value": generate(length)}
        return CreateResult(id_=secrets.token_hex(8), outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Numbers cross the wire as floats: compare them as numbers, not as text.
        changed = [key for key in _NEW_VALUE_ON if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        length = int(news["length"])
        return UpdateResult(outs={"length": length, "rotation": int(news["rotation"]), "value": generate(length)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        return None  # nothing exists outside the state


@dataclass(frozen=True)
class GeneratedSecretInputs(Inputs):
    """``rotation``: a counter; a new value is generated each time it changes."""

    length: int = 48
    rotation: int = 0


class GeneratedSecret(Declared, module="random", name="Secret"):
    secret_outputs = SECRET_OUTPUTS
    value: pulumi.Output[str]

    def __init__(self, name: str, inputs: GeneratedSecretInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(GeneratedSecretProvider(), name, inputs, opts)
