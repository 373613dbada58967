"""What every envstack dynamic resource shares, so each one states its data once.

A resource's outputs are the attributes its class annotates (``ref: pulumi.Output[str]``);
``declare`` sends them to the engine as unknowns beside the inputs, and marks the ones named in
``secret_outputs`` secret, so a value the provider returns there is encrypted in the state and
masked in every preview. Its type token is read from the class (``type_token``), never
written out elsewhere.

This module holds no provider: state stores providers by module path, and nothing here is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi.dynamic import ResourceProvider


class Declared(pulumi.dynamic.Resource):
    # Outputs that carry a secret: the engine encrypts them in the state and masks them in output.
    secret_outputs: ClassVar[tuple[str, ...]] = ()

    def declare(
        self, provider: ResourceProvider, name: str, inputs: Mapping[str, Any], opts: pulumi.ResourceOptions | None
    ) -> None:
        props = {**inputs, **dict.fromkeys(o for o in output_names(type(self)) if o not in inputs)}
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
