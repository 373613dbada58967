"""A no-op `pulumi up --stack staging`, against the same engine running an empty program."""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from bench.local_apis import LocalApis
from bench.report import Row, Section, goal, ratio, seconds
from bench.runs import STAGING, RunFailed, empty_program, median, pulumi, scratch_dir, staging_copy, timed, up
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
    subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True)


# The engine's launcher of the Python dynamic-provider process (a shell script beside `pulumi`).
PROVIDER_LAUNCHER = "pulumi-resource-pulumi-python"


def provider_start_seconds() -> float:
    """Seconds from the engine starting the dynamic-provider process to that process naming its
    port, started the way the engine starts it: every resource's check and diff waits for this."""
    launcher = shutil.which(PROVIDER_LAUNCHER)
    if launcher is None:
        raise RunFailed(f"{PROVIDER_LAUNCHER} is not on PATH (. scripts/bootstrap.sh puts the engine there)")
    env = {**os.environ, "PULUMI_RUNTIME_VIRTUALENV": str(ROOT / ".venv")}
    started = time.perf_counter()
    # A session of its own: the launcher is a shell script whose Python child must go with it.
    with subprocess.Popen(
        [launcher, "127.0.0.1:1"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            port = process.stdout.readline().strip() if process.stdout else ""
            took = time.perf_counter() - started
        finally:
            os.killpg(process.pid, signal.SIGKILL)
    if not port.isdigit():
        raise RunFailed(f"{PROVIDER_LAUNCHER} did not name its port (it wrote {port!r})")
    return took


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
            floor = [timed(lambda: up(root, env)) for _ in range(runs)]
            program = median([import_seconds(program_imports()) for _ in range(runs)])
            sdk = median([import_seconds("import pulumi") for _ in range(runs)])
            provider = median([provider_start_seconds() for _ in range(runs)])
        finally:
            apis.forget(tenants)
    noop, empty = median(times), median(floor)
    calls = max(reads) + max(writes)
    section.rows.append(
        Row(
            "no-op `pulumi up --stack staging` (preview, then update)",
            seconds(noop),
            f"{seconds(empty)} (the engine, an empty Python program)",
            calls=f"{max(reads)} reads, {max(writes)} writes",
            ratio=ratio(noop, empty),
            goal=goal(noop, empty, 1.3) + ("" if calls == 0 else ", and it made API calls"),
        )
    )
    section.rows.append(
        Row("of which: a Python importing the program's modules", seconds(program), f"{seconds(sdk)} (`import pulumi`)")
    )
    section.rows.append(
        Row(
            "of which: the dynamic-provider process, until it names its port",
            seconds(provider),
            "none (the empty program starts no provider)",
        )
    )
    # The program asks for the provider process before its own imports (providers/early_start.py),
    # so a pass waits for the longer of the two, not for both.
    startup = 2 * max(program - sdk, provider)
    section.notes.append(
        f"A no-op reads nothing and writes nothing ({max(reads)} reads, {max(writes)} writes across the preview "
        "and the update): every diff is decided from the state, the organization check runs only when its "
        "settings change, and drift made in Vercel is found by `pulumi up --refresh` (README, \"The app's "
        f'variables"), not by every run. The {seconds(noop - empty)} above the floor is work on this machine '
        f"for the stack's {resources} resources, twice (preview and update), each pass a new program and a new "
        f"provider process. In each pass the program imports more than the empty one ({seconds(program - sdk)} "
        "more than `import pulumi` alone: pydantic, the settings, the components and providers), and the engine "
        f"starts the Python dynamic-provider process ({seconds(provider)} until it names its port: another "
        "interpreter importing the SDK, gRPC and dill), which every resource's `check` waits for. The program "
        "asks the engine for that process before its own imports (providers/early_start.py), so the two run "
        f"side by side and a pass waits for the longer: {seconds(startup)} over both passes. The other "
        f"{seconds(max(noop - empty - startup, 0.0))} is mostly the resources themselves, registered in "
        "waves: a resource whose inputs are another's outputs is sent only once that one is registered, and the "
        "longest chain (the database password, the project, its route, the migrations, the seed, the login "
        "roles, the Vercel variables, the redeploy, the retired API keys, the rotation record) is ten "
        "registrations one after another. "
        "Each is a round trip from the program through the engine to the provider process (a `check` and a "
        "`diff`, the first of a kind unpickling its provider and importing its module) and back. The program's "
        "exit costs no more than the empty one's: the cyclic collector, off while the body runs, leaves what "
        "the body built alone from then on, so the exit does not walk it. None of it grows with the APIs' "
        "latency."
    )
    return section
