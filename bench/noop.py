"""A no-op `pulumi up --stack staging`, against the same engine running an empty program."""

from __future__ import annotations

import ast
import json
import sys

from bench.local_apis import LocalApis
from bench.report import Row, Section, seconds
from bench.runs import STAGING, empty_program, median, pulumi, scratch_dir, staging_copy, timed
from tests.integration.workspace import ROOT


def program_imports() -> str:
    """The modules the stack's program imports (read from __main__.py)."""
    tree = ast.parse((ROOT / "__main__.py").read_text())
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return "import " + ", ".join(dict.fromkeys(names))


def import_seconds(statement: str) -> float:
    return timed(lambda: pulumi_free_python(statement))


def pulumi_free_python(statement: str) -> None:
    import subprocess

    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True)


def measure(apis: LocalApis, runs: int) -> Section:
    section = Section("noop", "No-op `pulumi up --stack staging`", runs)
    with scratch_dir("noop") as directory:
        tenants = apis.tenants()
        try:
            staging = staging_copy(directory, tenants)
            staging.up()  # from scratch; not measured
            exported = pulumi(staging.copy.root, staging.copy.env, "stack", "export", "--stack", STAGING)
            resources = len(json.loads(exported)["deployment"]["resources"])
            times: list[float] = []
            reads: list[int] = []
            writes: list[int] = []
            for _ in range(runs):
                before = tenants.calls()
                times.append(staging.up())
                after = tenants.calls()
                reads.append(after[0] - before[0])
                writes.append(after[1] - before[1])
            root, env = empty_program(directory)
            floor = [
                timed(lambda: pulumi(root, env, "up", "--stack", STAGING, "--yes", "--skip-preview"))
                for _ in range(runs)
            ]
            program = median([import_seconds(program_imports()) for _ in range(runs)])
            sdk = median([import_seconds("import pulumi") for _ in range(runs)])
        finally:
            apis.forget(tenants)
    noop, empty = median(times), median(floor)
    section.rows.append(
        Row(
            "no-op `pulumi up --stack staging`",
            seconds(noop),
            f"{seconds(empty)} (the engine, an empty Python program)",
            f"{max(reads)} reads, {max(writes)} writes",
        )
    )
    section.rows.append(
        Row("of which: a Python importing the program's modules", seconds(program), f"{seconds(sdk)} (`import pulumi`)")
    )
    section.notes.append(
        f"No refresh runs and a no-op writes nothing; its {max(reads)} reads are the drift check, one list of "
        "each Vercel target's variables per diff (a plain `pulumi up` repairs variables changed in Vercel; "
        f"issue 18 weighs this against a no-op with no call at all). The {seconds(noop - empty)} above the floor "
        f"is work on this machine for the stack's {resources} resources: the program imports more than the "
        f"empty one ({seconds(program - sdk)} more than `import pulumi` alone: pydantic, the settings, the "
        "components and providers); the engine starts the Python dynamic-provider process (another "
        "interpreter, which imports the providers again); and for each resource the program serializes its "
        "provider with dill into the inputs, and the engine makes a `check` and a `diff` call to that "
        "process. None of it grows with the APIs' latency."
    )
    return section
