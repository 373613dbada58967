"""Run the Pulumi program under ``pulumi.runtime.set_mocks`` and record its resource graph."""

from __future__ import annotations

import gc
import runpy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi

ROOT = Path(__file__).resolve().parents[2]


# How the SDK marks a secret value on the wire (pulumi.runtime.rpc._special_sig_key/_special_secret_sig).
_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"


def _unwrap(value: Any) -> tuple[Any, bool]:
    """(plain value, whether it was marked secret) for a value as the mock monitor sees it."""
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return _unwrap(value.get("value"))[0], True
        return {k: _unwrap(v)[0] for k, v in value.items()}, False
    if isinstance(value, list):
        return [_unwrap(v)[0] for v in value], False
    return value, False


@dataclass
class Registered:
    type: str
    name: str
    inputs: dict[str, Any]
    secret_inputs: frozenset[str] = frozenset()
    protect: bool = False
    depends_on: frozenset[str] = frozenset()  # names of the resources it waits for, however it came to


class RecordingMonitor(pulumi.runtime.mocks.MockMonitor):
    """Also records what the mocks API does not show: ``protect``, and the dependencies (explicit
    ``depends_on``, a component's expanded to its children, and those its inputs carry)."""

    def __init__(self, mocks: GraphMocks) -> None:
        super().__init__(mocks)
        self.graph = mocks

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        for registered in self.graph.resources:
            if registered.name == request.name and registered.type == request.type:
                registered.protect = bool(request.protect)
                registered.depends_on = frozenset(urn.rsplit("::", 1)[-1] for urn in request.dependencies)
        return response


@dataclass
class GraphMocks(pulumi.runtime.Mocks):
    resources: list[Registered] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        unwrapped = {key: _unwrap(value) for key, value in args.inputs.items()}
        self.resources.append(
            Registered(
                args.typ,
                args.name,
                {key: value for key, (value, _) in unwrapped.items()},
                frozenset(key for key, (_, secret) in unwrapped.items() if secret),
            )
        )
        outputs = dict(args.inputs)
        for key in (
            "url",
            "password",
            "db_password",
            "ref",
            "db_host",
            "db_name",
            "pooler_host",
            "pooler_user",
            "value",
            "active",
        ):
            if outputs.get(key) is None:
                outputs[key] = f"mock-{key}"
        outputs["pooler_port"] = 6543
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def run_program(stack: str, config: dict[str, str], *, preview: bool = True) -> GraphMocks:
    """Evaluate __main__.py for ``stack`` with ``config``; return what it registered."""
    mocks = GraphMocks()
    pulumi.runtime.set_mocks(mocks, project="envstack", stack=stack, preview=preview, monitor=RecordingMonitor(mocks))
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def evaluate() -> None:
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    try:
        evaluate()
    finally:
        # The program turns the cyclic collector off while its body runs (it is its own process
        # under the engine); a body that raised here would leave it off for the rest of the tests.
        gc.enable()
    return mocks
