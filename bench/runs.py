"""Running things to measure: `pulumi` in a project copy, timed; medians."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.local_apis import Tenants
from tests.integration.workspace import ROOT, ProjectCopy, make_project_copy

STAGING = "staging"


class RunFailed(RuntimeError):
    """A measured run did not succeed: the figure would mean nothing."""


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_seconds() -> float:
    """CPU time the whole machine has spent working since it booted (Linux's /proc/stat): every
    process counts, the local APIs and their PostgreSQL servers included."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def pulumi(root: Path, env: Mapping[str, str], *args: str) -> str:
    proc = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RunFailed(f"pulumi {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    return proc.stdout


@dataclass
class Staging:
    copy: ProjectCopy
    tenants: Tenants
    repo: str  # the Git repository the Vercel project is connected to ("owner/name")

    def up(self) -> float:
        """Seconds one `pulumi up --stack staging` takes as a user runs it: preview, then update."""
        return timed(lambda: up(self.copy.root, self.copy.env))


def up(root: Path, env: Mapping[str, str]) -> str:
    """`pulumi up --yes`, its preview included (what users and the workflows run)."""
    return pulumi(root, env, "up", "--stack", STAGING, "--yes")


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"envstack-bench-{prefix}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def staging_copy(directory: Path, tenants: Tenants, **config: str) -> Staging:
    """A copy of the project with a staging stack set up for ``tenants`` (never brought up)."""
    supabase, vercel = tenants.supabase, tenants.vercel
    # Connected to a repository, as Vercel requires for branch-scoped (pull-request) variables.
    repo = tenants.github.create_repo()
    vercel.create_project("hermes-web", git_repo=repo)
    vercel.deploy("hermes-web", target="preview")
    env = {"SUPABASE_ACCESS_TOKEN": supabase.token, "VERCEL_TOKEN": vercel.token}
    copy = make_project_copy(directory, env)
    copy.stack(
        STAGING,
        {
            "supabase:apiUrl": supabase.url,
            "supabase:organization": supabase.org_slug,
            "vercel:apiUrl": vercel.url,
            "vercel:team": vercel.team,
            **config,
        },
    )
    return Staging(copy, tenants, repo)


def empty_program(directory: Path) -> tuple[Path, dict[str, str]]:
    """A Python project that declares nothing, on the same engine, venv and kind of backend."""
    root = directory / "empty"
    root.mkdir()
    (root / "Pulumi.yaml").write_text(
        f"name: empty\nruntime:\n  name: python\n  options:\n    virtualenv: {ROOT / '.venv'}\n"
    )
    (root / "__main__.py").write_text('"""Declares nothing: what the engine costs on its own."""\n')
    backend = directory / "empty-backend"
    backend.mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": "bench",
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_HOME": str(directory / "empty-pulumi-home"),
    }
    pulumi(root, env, "stack", "init", STAGING)
    return root, env
