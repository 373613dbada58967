"""How __main__.py starts: the provider process asked for before the program's own imports, and
the cyclic collector off while the body runs, on again (without the body's objects) after it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OWN_PACKAGES = ("components", "envstack", "providers")


def body() -> list[ast.stmt]:
    return ast.parse((ROOT / "__main__.py").read_text()).body


def calls(statements: list[ast.stmt], name: str) -> list[int]:
    return [
        i
        for i, node in enumerate(statements)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call) and ast.unparse(node.value.func) == name
    ]


def own_imports(statements: list[ast.stmt]) -> list[int]:
    return [
        i
        for i, node in enumerate(statements)
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.split(".")[0] in OWN_PACKAGES
        and [a.name for a in node.names] != ["early_start"]
    ]


def test_the_program_asks_for_the_provider_process_before_it_imports_anything_of_its_own() -> None:
    statements = body()
    asked = calls(statements, "early_start.start_provider_process")
    assert len(asked) == 1, "__main__.py starts the provider process once"
    assert own_imports(statements), "the program imports its own modules"
    assert asked[0] < min(own_imports(statements)), "the process starts while they are imported, not after"


def test_the_collector_is_off_for_the_imports_and_the_body_and_on_after_them() -> None:
    statements = body()
    (off,) = calls(statements, "gc.disable")
    (frozen,) = calls(statements, "gc.freeze")
    (on,) = calls(statements, "gc.enable")
    assert off < min(own_imports(statements))
    # Nothing after them but the program's end: everything the body builds is frozen first.
    assert frozen == len(statements) - 2
    assert on == len(statements) - 1
