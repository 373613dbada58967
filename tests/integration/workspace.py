"""A throwaway copy of the project driven by the real engine through the Automation API.

Each test gets its own copy (so `pulumi config set` never touches the repository's stack
files), its own file backend and passphrase, and the repository's virtualenv. Its stacks read
a run's outputs and summary only when asked, as envstack's own tools do
(envstack/ops/lean_stack.py).
"""

from __future__ import annotations

import compileall
import functools
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from pulumi import automation as auto

from envstack.ops import automation
from envstack.ops.lean_stack import LeanStack

ROOT = Path(__file__).resolve().parents[2]
_COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".envstack",
    ".env.local",
    "node_modules",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "tests",
    "bench",
    "docs",
)


def require_engine() -> None:
    if shutil.which("pulumi") is None or shutil.which("pulumi-language-python") is None:
        pytest.fail(
            "the pulumi engine is not on PATH: run the tests through `make test`, which builds "
            "it (scripts/build-engine.sh)"
        )


@dataclass
class ProjectCopy:
    root: Path
    env: dict[str, str]
    output: list[str] = field(default_factory=list)

    def stack(
        self, name: str, config: Mapping[str, str] | None = None, secrets_config: Mapping[str, str] | None = None
    ) -> auto.Stack:
        stack = LeanStack.open(name, self.workspace(), create=True)
        if config:
            self.write_settings(name, config)
        if secrets_config:
            # Encrypted by the engine, all in one `pulumi config set-all`.
            stack.set_all_config(
                {key: auto.ConfigValue(value=value, secret=True) for key, value in secrets_config.items()}
            )
        return stack

    def write_settings(self, name: str, config: Mapping[str, str], remove: Sequence[str] = ()) -> None:
        """Plain settings written into Pulumi.<name>.yaml as a team commits them, each value the
        string `pulumi config set --plaintext` would write, and ``remove`` taken out: a `pulumi`
        process less each time."""
        path = self.root / f"Pulumi.{name}.yaml"
        document = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
        settings = document.get("config") or {}
        for key, value in config.items():
            assert ":" in key, f"{key}: name its namespace, as envstack's settings do"
            settings[key] = str(value)
        for key in remove:
            settings.pop(key, None)
        document["config"] = settings
        path.write_text(yaml.safe_dump(document, sort_keys=False))

    def workspace(self) -> auto.LocalWorkspace:
        return auto.LocalWorkspace(work_dir=str(self.root), env_vars=self.env, pulumi_command=automation.engine())

    def select(self, name: str) -> auto.Stack:
        """An existing stack of this copy (for example one a command-line tool created)."""
        return LeanStack.open(name, self.workspace(), create=False)

    def run_env(self) -> dict[str, str]:
        """The environment a command in this copy runs with."""
        return {**os.environ, **self.env}

    def on_output(self, line: str) -> None:
        self.output.append(line)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a command in the copy with the stack's environment (e.g. envstack CLI)."""
        return subprocess.run(
            [*args],
            cwd=self.root,
            env=self.run_env(),
            capture_output=True,
            text=True,
            check=False,
        )

    def envstack(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "envstack", *args)

    def envstack_hiding(self, *args: str, hidden: list[str]) -> subprocess.CompletedProcess[str]:
        """``envstack(*args)``, failing the test if it printed any of ``hidden`` or a traceback."""
        proc = self.envstack(*args)
        printed = proc.stdout + proc.stderr
        for value in hidden:
            assert value not in printed, f"`envstack {' '.join(args)}` printed a secret"
        assert "Traceback" not in printed, printed
        return proc

    def secrets_of(self, stacks: list[auto.Stack]) -> list[str]:
        """What must never be printed: the stacks' secret outputs and the passwords inside their
        URLs, the API tokens and the passphrase."""
        found = [
            self.env[n] for n in ("SUPABASE_ACCESS_TOKEN", "VERCEL_TOKEN", "PULUMI_CONFIG_PASSPHRASE") if n in self.env
        ]
        for stack in stacks:
            for value in stack.outputs().values():
                if value.secret:
                    found.append(str(value.value))
                    password = urlsplit(str(value.value)).password
                    if password:
                        found.append(unquote(password))
        return [s for s in found if len(s) >= 8]

    def export_state(self, stack: str) -> str:
        proc = self.run("pulumi", "stack", "export", "--stack", stack)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


def local_apis(supabase_api: Any, vercel_api: Any | None = None) -> dict[str, str]:
    """Stack settings that point a stack at this test's local APIs (without Vercel: no Vercel projects)."""
    config = {
        "supabase:apiUrl": supabase_api.url,
        "supabase:organization": supabase_api.org_slug,
        "supabase:waitTimeout": "120",
    }
    if vercel_api is None:
        return {**config, "vercel:projects": "[]"}
    return {**config, "vercel:apiUrl": vercel_api.url, "vercel:team": vercel_api.team}


@functools.cache
def _compiled_sources() -> None:
    """Bytecode for the project's own packages, which each copy takes along (copytree keeps the
    sources' modification times, so it stays valid there). Every engine run starts the program
    and the provider process, and `migrate` and `seed` run as processes too: each compiled the
    packages afresh (a third of a second) where PYTHONDONTWRITEBYTECODE is set, as on this
    machine, instead of reading the bytecode a user's own Python keeps."""
    for package in ("envstack", "components", "providers"):
        compileall.compile_dir(ROOT / package, quiet=1)


def make_project_copy(tmp_path: Path, extra_env: Mapping[str, str] | None = None) -> ProjectCopy:
    require_engine()
    _compiled_sources()
    root = tmp_path / "project"
    shutil.copytree(ROOT, root, ignore=_COPY_IGNORE)
    (root / ".venv").symlink_to(ROOT / ".venv")
    for stack_file in root.glob("Pulumi.*.yaml"):
        # A salt written by someone's own `pulumi stack init` belongs to their passphrase.
        lines = stack_file.read_text().splitlines(keepends=True)
        stack_file.write_text("".join(line for line in lines if not line.startswith("encryptionsalt:")))
    backend = tmp_path / "backend"
    backend.mkdir()
    env = {
        "PULUMI_BACKEND_URL": f"file://{backend}",
        "PULUMI_CONFIG_PASSPHRASE": secrets.token_urlsafe(16),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_HOME": str(tmp_path / "pulumi-home"),
        **(extra_env or {}),
    }
    return ProjectCopy(root=root, env=env)
