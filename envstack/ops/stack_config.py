"""Reading a stack's settings inside a running Pulumi program.

Kept apart from ``settings`` so the model stays free of the Pulumi runtime and can be
validated (and unit-tested) anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml

from envstack.errors import SettingsError
from envstack.ops import preflight
from envstack.settings import (
    DatabaseIdentity,
    StackSettings,
    assert_isolated_from,
    database_identity_of,
    encrypted_stand_in,
    load_settings,
)


def _runtime_config() -> dict[str, str]:
    from pulumi.runtime import config as runtime_config

    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in merged.items()}


# Stands in for a `pulumi config set --secret` value we cannot (and need not) decrypt here.
SECRET_PLACEHOLDER = "<secret>"  # noqa: S105 - a marker, not a password


def _placeheld(value: Any) -> Any:
    """``value`` with every encrypted part, at any depth, replaced by the placeholder
    (`pulumi config set --secret --path` nests ``{secure: …}`` inside maps and lists)."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {key: _placeheld(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_placeheld(item) for item in value]
    return value


def stack_file_config(path: Path) -> dict[str, str]:
    """The settings a Pulumi.<stack>.yaml declares; encrypted values appear as a placeholder
    (a whole encrypted map or list as an empty one, so the file still validates)."""
    document = yaml.safe_load(path.read_text()) or {}
    config: Mapping[str, Any] = document.get("config") or {}
    found: dict[str, str] = {}
    for key, raw in config.items():
        value = _placeheld(raw)
        if value == SECRET_PLACEHOLDER:
            found[key] = encrypted_stand_in(key, SECRET_PLACEHOLDER)
        else:
            found[key] = value if isinstance(value, str) else json.dumps(value)
    return found


# Settings whose values are written to Vercel readable and shown in previews and their
# digests: the engine hands a program such a value decrypted and does not say it was secret.
_PUBLIC_SETTINGS = ("envstack:variables",)


def _encrypted_part(value: Any, where: str) -> str | None:
    """The path of the first encrypted part of a stack file's value, or None."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return where
        parts = (_encrypted_part(item, f"{where}.{key}") for key, item in value.items())
    elif isinstance(value, list):
        parts = (_encrypted_part(item, f"{where}[{index}]") for index, item in enumerate(value))
    else:
        return None
    return next((part for part in parts if part is not None), None)


def refuse_encrypted_public_settings(path: Path) -> None:
    """SettingsError when the stack file encrypts a value of a setting that is public."""
    if not path.exists():
        return
    config: Mapping[str, Any] = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    for key in _PUBLIC_SETTINGS:
        where = _encrypted_part(config.get(key), key)
        if where is not None:
            raise SettingsError(
                f"Invalid stack setting {where}: it is encrypted (pulumi config set --secret), but its values are"
                " written to Vercel readable and shown in previews, so set a secret under envstack:secretVariables"
                " instead."
            )


def other_stacks(project_root: Path, current: str) -> dict[str, DatabaseIdentity]:
    """What the repository's other stack files name as their databases, for the check that
    production shares none (``assert_isolated_from``).

    A file on the far side of production's line (production's, seen from any other stack, or
    any other's, seen from production) must name its database readably: that is what proves
    the two share none, so one that does not fails the check instead of being left out. Files
    on the same side as ``current`` are skipped when invalid; their own previews report them.
    """
    found: dict[str, DatabaseIdentity] = {}
    for path in sorted(project_root.glob("Pulumi.*.yaml")):
        name = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        if name == current:
            continue
        try:
            found[name] = database_identity_of(name, stack_file_config(path))
        except SettingsError as exc:
            if (name == "production") == (current == "production"):
                continue
            raise SettingsError(
                f"{path.name} cannot be read, so this stack cannot prove it shares no database with "
                f"{'that stack' if current == 'production' else 'production'}: {exc}"
            ) from None
    return found


def current_settings(project_root: Path) -> StackSettings:
    """Validated settings of the stack being deployed, or a RunError naming the key."""
    stack = pulumi.get_stack()
    try:
        refuse_encrypted_public_settings(project_root / f"Pulumi.{stack}.yaml")
        settings = load_settings(stack, _runtime_config())
        assert_isolated_from(settings, other_stacks(project_root, stack))
        preflight.check_files(settings, project_root)
    except SettingsError as exc:
        # RunError makes the engine print the sentence without a Python traceback.
        raise pulumi.RunError(str(exc)) from None
    return settings
