"""Dynamic provider: a dotenv file (mode 0600) holding a set of variables.

The file is written atomically (temporary file, then rename) so a reader never sees half
of it, and created with mode 0600 from the start so the secrets it holds are never
readable by others, not even for a moment. Values are quoted so that any character
survives a dotenv parser. A file envstack did not write (its first line is not envstack's
header: a developer's own ``.env.local``, say) is never overwritten or deleted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, ResourceProvider, UpdateResult

from providers.declared import Declared, Inputs

HEADER = "# Written by envstack (pulumi up); destroyed with the stack. Do not edit.\n"


def render(variables: dict[str, str]) -> str:
    def quote(value: str) -> str:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'

    return HEADER + "".join(f"{key}={quote(variables[key])}\n" for key in sorted(variables))


def _ours(path: Path) -> bool:
    """Whether the file at ``path`` is one envstack wrote (its first line is the header)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline() == HEADER
    except FileNotFoundError:
        return True  # nothing there to lose
    except OSError:
        return False


def _refuse_unless_ours(path: Path) -> None:
    if not _ours(path):
        from envstack.errors import ResourceError

        raise ResourceError(
            f"{path} exists and envstack did not write it (its first line is not envstack's): it may hold a "
            "developer's own variables, which writing it would lose. Move them elsewhere (or delete the file), "
            "or point envstack:envFile at another path, then run pulumi up again"
        )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _apply(props: dict[str, Any]) -> dict[str, Any]:
    text = render(dict(props["variables"]))
    _refuse_unless_ours(Path(props["path"]))
    _write(Path(props["path"]), text)
    return {"path": props["path"], "variables": props["variables"], "digest": _digest(text)}


class DotenvFileProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=str(props["path"]), outs=_apply(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = ["path"] if olds.get("path") != news.get("path") else []
        changed = replaces or olds.get("variables") != news.get("variables")
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_apply(news))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        path = Path(props["path"])
        if not path.exists():
            return ReadResult(id_="", outs={})
        # A hand edit shows up as drift in `pulumi refresh` through the digest.
        return ReadResult(id_=id_, outs={**props, "digest": _digest(path.read_text())})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        path = Path(props["path"])
        if not _ours(path):
            # Replaced by someone's own file since: theirs now, left alone.
            pulumi.log.warn(f"{path} is no longer the file envstack wrote: left as it is")
            return
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class DotenvFileInputs(Inputs):
    secret_inputs = ("variables",)
    path: pulumi.Input[str]
    variables: Mapping[str, pulumi.Input[str]]


class DotenvFile(Declared, module="local", name="DotenvFile"):
    digest: pulumi.Output[str]

    def __init__(self, name: str, inputs: DotenvFileInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(DotenvFileProvider(), name, inputs, opts)
