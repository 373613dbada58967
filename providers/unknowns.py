"""Values a preview does not know yet, as dynamic providers' check and diff receive them."""

from __future__ import annotations

from typing import Any


def is_unknown(value: Any) -> bool:
    """True for a value the engine will only know after an update (never in create or update)."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    # The provider host passes unknowns as Unknown objects; older hosts used a sentinel string.
    return isinstance(value, Unknown) or (isinstance(value, str) and value == rpc.UNKNOWN)
