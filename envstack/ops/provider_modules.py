"""The modules a stack's dynamic resources were pickled from, and which of them a checkout lacks.

The engine keeps each dynamic resource's provider as a pickle naming the module and class it
was made from (the SDK stores it as a secret, so it is read from a state exported with
``--show-secrets``). Every refresh, update and delete of the resource unpickles it in the
provider process, which imports that module from the checkout the engine runs in. A stack
brought up by code that added a provider module (a pull request's) and torn down from a
checkout without it (the base branch, when the pull request closes unmerged) fails at each
of that module's resources while the engine deletes the others around them: half torn down.
This reads the pickles' opcodes, importing and unpickling nothing, so a teardown can refuse
before it starts.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import pickletools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from envstack.ops.exported_state import plain

PROVIDER_KEY = "__provider"  # where the SDK keeps a dynamic resource's pickled provider
_STRINGS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
)
_MEMO_PUT = frozenset({"BINPUT", "LONG_BINPUT", "PUT"})
_MEMO_GET = frozenset({"BINGET", "LONG_BINGET", "GET"})
# Opcodes that push nothing: they must not come between a module's name and its class's.
_NO_PUSH = frozenset({"FRAME", "PROTO", "MEMOIZE", "STOP", *_MEMO_PUT})


def pickled_modules(pickled: bytes) -> set[str]:
    """Every module a pickle imports when it is loaded (GLOBAL, INST and STACK_GLOBAL)."""
    found: set[str] = set()
    pushed: list[str | None] = []  # the stack as far as strings go: None for anything else
    memo: dict[int, str | None] = {}
    for opcode, arg, _ in pickletools.genops(pickled):
        name = opcode.name
        if name in ("GLOBAL", "INST"):
            found.add(str(arg).split(" ", 1)[0])
        elif name == "STACK_GLOBAL" and len(pushed) >= 2 and isinstance(pushed[-2], str):
            found.add(str(pushed[-2]))
        if name in _STRINGS:
            pushed.append(arg.decode("latin-1") if isinstance(arg, bytes) else str(arg))
        elif name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif name in _MEMO_PUT:
            memo[int(arg or 0)] = pushed[-1] if pushed else None
        elif name in _MEMO_GET:
            pushed.append(memo.get(int(arg or 0)))
        elif name not in _NO_PUSH:
            pushed.append(None)
    return found


def _providers(deployment: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(URN, the base64 pickle) of every dynamic resource, pending operations' included."""
    pending = [op.get("resource") or {} for op in deployment.get("pending_operations") or []]
    for resource in [*(deployment.get("resources") or []), *pending]:
        # The outputs hold the same pickle as the inputs; a pending create may have inputs only.
        held = (resource.get("inputs") or {}).get(PROVIDER_KEY) or (resource.get("outputs") or {}).get(PROVIDER_KEY)
        value = plain(held)
        if isinstance(value, str) and value:
            yield str(resource.get("urn")), value


def importable(module: str, root: Path) -> bool:
    """Whether the provider process, running in ``root``, would find ``module``: a module of the
    project's own packages must be a file there; any other must be installed."""
    parts = module.split(".")
    if (root / parts[0]).is_dir() or (root / f"{parts[0]}.py").is_file():
        path = root.joinpath(*parts)
        return path.with_name(f"{path.name}.py").is_file() or (path / "__init__.py").is_file()
    try:
        return importlib.util.find_spec(parts[0]) is not None
    except (ImportError, ValueError):
        return False


def missing(deployment: Mapping[str, Any], root: Path) -> dict[str, list[str]]:
    """Each module the stack's providers were pickled from that ``root`` lacks, with the URNs of
    the resources that need it. A provider that is not a readable pickle is left to the engine."""
    needed: dict[str, list[str]] = {}
    for urn, blob in _providers(deployment):
        try:
            modules = pickled_modules(base64.b64decode(blob, validate=True))
        except (binascii.Error, ValueError):
            continue
        for module in modules:
            urns = needed.setdefault(module, [])
            if urn not in urns:  # a resource both in the state and in a pending operation
                urns.append(urn)
    return {module: urns for module, urns in sorted(needed.items()) if not importable(module, root)}
