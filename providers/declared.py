"""What every envstack dynamic resource shares, so each one states its data once.

A resource's inputs are the fields of its ``…Inputs`` dataclass (the ones named in
``secret_inputs`` sent as secrets); its outputs are the attributes its class annotates
(``ref: pulumi.Output[str]``), sent to the engine as unknowns beside the inputs, the ones named
in ``secret_outputs`` marked secret, so a value the provider returns there is encrypted in the
state and masked in every preview. What replaces a resource is its provider's ``_REPLACE_ON``.
Its type token is read from the class (``type_token``), never written out elsewhere.

This module holds no provider: state stores providers by module path, and nothing here is one.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import ResourceProvider


@dataclass(frozen=True)
class Inputs:
    """A resource's inputs, as its dataclass fields."""

    # Inputs that carry a secret, so the engine never stores or shows them in plain text.
    secret_inputs: ClassVar[tuple[str, ...]] = ()

    def props(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in self.secret_inputs:
            values[name] = pulumi.Output.secret(values[name])
        return values


class Declared(pulumi.dynamic.Resource):
    # Outputs that carry a secret: the engine encrypts them in the state and masks them in output.
    secret_outputs: ClassVar[tuple[str, ...]] = ()

    def declare(
        self, provider: ResourceProvider, name: str, inputs: Inputs, opts: pulumi.ResourceOptions | None
    ) -> None:
        given = inputs.props()
        props = {**given, **dict.fromkeys(o for o in output_names(type(self)) if o not in given)}
        if self.secret_outputs:
            secret = pulumi.ResourceOptions(additional_secret_outputs=list(self.secret_outputs))
            opts = pulumi.ResourceOptions.merge(opts, secret)
        pulumi.dynamic.Resource.__init__(self, provider, name, props, opts)


def output_names(cls: type[Declared]) -> list[str]:
    """The annotated attributes of a resource class and its bases, base first."""
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        if issubclass(klass, Declared) and klass is not Declared:
            annotated = vars(klass).get("__annotations__", {})
            names += [n for n, kind in annotated.items() if "ClassVar" not in str(kind) and n not in names]
    return names


def type_token(cls: type[pulumi.dynamic.Resource]) -> str:
    """The type the engine records for a dynamic resource class, as in a state's ``type`` field."""
    return f"pulumi-python:{cls._resource_type_name}"
