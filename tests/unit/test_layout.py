"""The structure of README "Layout" holds: no import cycle anywhere, every module of envstack's
core named in the layers contract (so none escapes it), and commands that stay small."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("envstack", "providers", "components")
# Modules the program must not load: it runs twice on every `pulumi up` (preview, update), and
# these cost more to import than the program's own work in a no-op. They belong to the
# providers' methods and the commands, which import them where they are used.
HEAVY_FOR_THE_PROGRAM = ("psycopg", "httpx")
# Lines a command module may have: arguments, one call into envstack.ops, printing.
COMMAND_LINES = 80


def layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = config["tool"]["importlinter"]["contracts"]
    layered = [c for c in contracts if c["type"] == "layers"]
    assert len(layered) == 1
    return [m.strip() for layer in layered[0]["layers"] for m in layer.replace("|", ":").split(":")]


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_module_imports_itself_back_through_others() -> None:
    # Imports under TYPE_CHECKING count: a cycle a type checker needs is still a knot for readers.
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    assert cycles(graph) == []


def test_the_cycle_finder_finds_one() -> None:
    graph = grimp.ImportGraph()
    for module in ("a", "b", "c"):
        graph.add_module(module)
    graph.add_import(importer="a", imported="b")
    graph.add_import(importer="b", imported="a")
    graph.add_import(importer="b", imported="c")
    assert cycles(graph) == [["a", "b"]]


def test_every_core_module_is_in_a_layer() -> None:
    named = set(layers())
    core = {f"envstack.{p.stem}" for p in (ROOT / "envstack").glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert core - named == set(), "add the module to the layers contract in pyproject.toml"
    packages = {f"envstack.{p.name}" for p in (ROOT / "envstack").iterdir() if (p / "__init__.py").exists()}
    assert packages - named == set()


def test_each_command_is_a_small_module() -> None:
    long = {
        p.name: n
        for p in (ROOT / "envstack" / "cli").glob("*.py")
        if (n := len(p.read_text().splitlines())) >= COMMAND_LINES
    }
    assert long == {}, f"commands hold arguments, one call into envstack.ops and printing: {long}"


def test_nothing_imports_the_command_line() -> None:
    graph = grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)
    cli = graph.find_children("envstack.cli") | {"envstack.cli"}
    importers = {m for c in cli for m in graph.find_modules_that_directly_import(c)} - cli
    assert importers == {"envstack.__main__"}


def test_the_program_imports_no_database_or_http_client() -> None:
    tree = ast.parse((ROOT / "__main__.py").read_text())
    imports = [
        f"import {alias.name}" if isinstance(node, ast.Import) else f"from {node.module} import {alias.name}"
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in node.names
    ]
    probe = "\n".join([*imports, "import sys", f"print(sorted(set(sys.modules) & {set(HEAVY_FOR_THE_PROGRAM)!r}))"])
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", f"the program's imports load {loaded.stdout.strip()}"
