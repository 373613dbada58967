"""Values in a stack's exported state (``pulumi stack export --show-secrets``).

The engine wraps each secret in a marked object; here it is taken off again, and the stack's
outputs (its root resource's) are read with each one's secrecy, as the Automation API's
``outputs()`` reports them: from the one export, where that method runs two `pulumi`
processes (the outputs masked, then shown) and each pays the passphrase's key derivation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

# How the engine marks a secret in an exported state (pulumi/sdk resource/sig).
_SIG_KEY, _SECRET_SIG = "4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270"
# The root resource, whose outputs are the stack's outputs.
_STACK_TYPE = "pulumi:pulumi:Stack"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG


def plain(value: Any) -> Any:
    """A value of an exported state with the engine's secret wrapper taken off."""
    if isinstance(value, dict):
        if _is_secret(value):
            if "plaintext" in value:
                return json.loads(value["plaintext"])
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _root_outputs(deployment: Mapping[str, Any]) -> dict[str, Any]:
    """The stack's outputs as the state holds them (secrets still wrapped)."""
    for resource in deployment.get("resources") or []:
        if resource.get("type") == _STACK_TYPE:
            return dict(resource.get("outputs") or {})
    return {}


def outputs_in(deployment: Mapping[str, Any]) -> dict[str, auto.OutputValue]:
    """The stack's outputs, each marked secret when the engine holds it as one."""
    return {
        key: auto.OutputValue(value=plain(value), secret=_is_secret(value))
        for key, value in _root_outputs(deployment).items()
    }
