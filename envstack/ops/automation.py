"""Driving stacks from Python through Pulumi's Automation API.

What the command-line tools (``python -m envstack pr|rotate|…``) and the workflows share:
the workspace is the project directory; the backend, secrets passphrase and API tokens come
from the environment exactly as for the ``pulumi`` CLI (PULUMI_BACKEND_URL,
PULUMI_CONFIG_PASSPHRASE[_FILE], SUPABASE_ACCESS_TOKEN, VERCEL_TOKEN). Progress is the
engine's own output, passed through the redactor line by line.

Production can never be destroyed through these tools: ``refuse_destroy`` runs before any
engine command, on the stack's name and on its settings.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from envstack.errors import Refused, StackError
from envstack.ops.lean_stack import LeanStack, exported_outputs
from envstack.redaction import redact
from envstack.settings import StackSettings, environment_for_stack, load_settings

Printer = Callable[[str], None]
# What the engine says of a stack the backend does not have (the Automation API matches the same).
_NO_SUCH_STACK = re.compile("no stack named.*found")


def printer(prefix: str = "", secrets: tuple[str, ...] = ()) -> Printer:
    """An on_output callback: each engine line, redacted, with the stack name in front."""

    def emit(line: str) -> None:
        text = redact(line.rstrip("\n"), secrets)
        if text.strip():
            print(f"{prefix}{text}", flush=True)

    return emit


@functools.cache
def engine() -> auto.PulumiCommand:
    """The `pulumi` on PATH, asked its version once per process: otherwise every workspace (one
    per stack a command opens, or a test opens) starts a `pulumi version` of its own first."""
    return auto.PulumiCommand()


def workspace(root: Path) -> auto.LocalWorkspace:
    return auto.LocalWorkspace(work_dir=str(root), pulumi_command=engine())


def stack_names(root: Path) -> list[str]:
    return sorted(summary.name for summary in workspace(root).list_stacks())


def stack_env(name: str) -> dict[str, str]:
    """The stack's own passphrase and backend, for a job that holds more than one stack's (`diff
    staging production`): ``ENVSTACK_PASSPHRASE_<STACK>`` and ``ENVSTACK_BACKEND_URL_<STACK>``
    (the name upper-cased, other characters as ``_``), given to the engine as
    ``PULUMI_CONFIG_PASSPHRASE`` (which wins over a ``PULUMI_CONFIG_PASSPHRASE_FILE``) and
    ``PULUMI_BACKEND_URL``. Production's state lives in a backend of its own (README, "Least
    privilege"), so staging's is named apart. Without them the engine reads those as always."""
    suffix = re.sub(r"[^A-Z0-9]", "_", name.upper())
    given = {
        "PULUMI_CONFIG_PASSPHRASE": os.environ.get("ENVSTACK_PASSPHRASE_" + suffix),
        "PULUMI_BACKEND_URL": os.environ.get("ENVSTACK_BACKEND_URL_" + suffix),
    }
    return {key: value for key, value in given.items() if value}


def _workspace_of(root: Path, name: str) -> auto.LocalWorkspace:
    """The project's workspace, with this stack's own passphrase and backend when the job holds several."""
    return auto.LocalWorkspace(work_dir=str(root), env_vars=stack_env(name), pulumi_command=engine())


def select(root: Path, name: str) -> LeanStack:
    """The stack (StackNotFoundError when the backend has none of that name). Its runs read
    their outputs and summary only when a caller uses them (envstack/ops/lean_stack.py)."""
    return LeanStack.open(name, _workspace_of(root, name), create=False)


def existing(root: Path, name: str) -> LeanStack | None:
    """The stack, or None when the backend has no stack of that name (one `pulumi stack select`;
    listing the stacks first would cost a process more, and read every stack in the backend)."""
    try:
        return select(root, name)
    except auto.StackNotFoundError:
        return None


@dataclass(frozen=True)
class StackReads:
    """A stack's configuration (values decrypted) and its exported state, read together."""

    config: dict[str, auto.ConfigValue]
    deployment: dict[str, Any]


def read_config_and_state(root: Path, name: str) -> StackReads | None:
    """The stack's configuration and state, or None when the backend has no stack of that name.

    Two `pulumi` processes side by side and nothing else: through the Automation API the same
    reads take four one after another (its version check, a `stack select`, then each read),
    and each read decrypts with the passphrase, which is most of its CPU."""
    args = {
        "config": ["config", "--show-secrets", "--json", "--stack", name],
        "state": ["stack", "export", "--show-secrets", "--stack", name],
    }
    env = {**os.environ, **stack_env(name)}
    with ThreadPoolExecutor(max_workers=len(args)) as pool:
        running = {key: pool.submit(_pulumi_json, root, command, env) for key, command in args.items()}
        answers = {key: future.result() for key, future in running.items()}
    if any(answer is None for answer in answers.values()):
        return None
    config = {
        key: auto.ConfigValue(value=entry.get("value"), secret=bool(entry.get("secret")))
        for key, entry in (answers["config"] or {}).items()
    }
    return StackReads(config, dict((answers["state"] or {}).get("deployment") or {}))


def _pulumi_json(root: Path, args: list[str], env: Mapping[str, str]) -> Any:
    """A `pulumi` command's JSON answer; None when it names a stack the backend does not have."""
    proc = _pulumi(root, args, env=env)
    if proc.returncode != 0 and _NO_SUCH_STACK.search(proc.stderr):
        return None
    return json.loads(_stdout(args, proc))


def create_or_select(root: Path, name: str) -> LeanStack:
    return LeanStack.open(name, _workspace_of(root, name), create=True)


def plain_config(config: Mapping[str, auto.ConfigValue]) -> dict[str, str]:
    """A stack's configuration as the settings model reads it (values decrypted, in memory only)."""
    return {key: value.value for key, value in config.items()}


def write_config(stack: auto.Stack, config: Mapping[str, auto.ConfigValue]) -> None:
    """Make the stack's configuration exactly ``config``.

    Plain values go in one `pulumi config set-all`; each secret goes to `pulumi config set` on
    standard input, never as an argument (the Automation API's set_config would put secrets on
    a command line, readable in the process list).
    """
    root, name = stack.workspace.work_dir, stack.name
    stale = sorted(set(stack.get_all_config()) - set(config))
    if stale:
        run_pulumi(root, ["config", "rm-all", "--stack", name, *stale])
    plain = [
        arg for key, value in config.items() if not value.secret for arg in ("--plaintext", f"{key}={value.value}")
    ]
    if plain:
        run_pulumi(root, ["config", "set-all", "--stack", name, *plain])
    for key, value in config.items():
        if value.secret:
            run_pulumi(root, ["config", "set", "--stack", name, key, "--secret"], value.value)


def run_pulumi(root: str | Path, args: list[str], stdin: str | None = None) -> str:
    """A `pulumi` command's standard output (StackError when it fails); values travel on stdin,
    never as arguments."""
    return _stdout(args, _pulumi(root, args, stdin=stdin), stdin)


def _pulumi(
    root: str | Path, args: list[str], *, stdin: str | None = None, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=root,
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(env if env is not None else os.environ),
        check=False,
    )


def _stdout(args: list[str], proc: subprocess.CompletedProcess[str], stdin: str | None = None) -> str:
    """What the command printed, or StackError naming it with its (redacted) complaint."""
    if proc.returncode != 0:
        raise StackError(f"pulumi {' '.join(args[:2])} failed: {redact(proc.stderr.strip(), (stdin or '',))}")
    return proc.stdout


def settings_of(stack: auto.Stack) -> StackSettings:
    return load_settings(stack.name, plain_config(stack.get_all_config()))


def outputs(stack: auto.Stack) -> dict[str, auto.OutputValue]:
    """The stack's outputs, secret ones marked (one `pulumi stack export`)."""
    return exported_outputs(stack)


def secret_values(config: Mapping[str, auto.ConfigValue], outputs: Mapping[str, auto.OutputValue]) -> tuple[str, ...]:
    """Every secret a stack holds in its config or its outputs, to mask in anything we print."""
    found = [v.value for v in config.values() if v.secret]
    found += [_text(v.value) for v in outputs.values() if v.secret]
    return tuple(s for s in found if s)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def refuse_destroy(stack: auto.Stack) -> None:
    """Raise Refused for production, before any engine command touches it."""
    if stack.name == "production":
        raise Refused("refusing to destroy production: envstack's tools never tear it down")
    if environment_for_stack(stack.name) == "preview":
        # A pull-request stack's name fixes its environment (validation holds every pr-<n> stack
        # to preview), and its settings file is not there to read where it is torn down: `pr up`
        # writes Pulumi.pr-<n>.yaml, git ignores it, and the workflows that tear pull-request
        # stacks down (pr-environment.yml, janitor.yml) start from a fresh checkout.
        return
    try:
        settings = settings_of(stack)
    except ValueError as exc:
        raise Refused(f"refusing to destroy {stack.name}: its settings cannot be read ({exc})") from None
    if settings.is_production:
        raise Refused(f"refusing to destroy {stack.name}: it is a production environment")


def destroy_and_remove(stack: auto.Stack, out: Printer) -> None:
    """Tear a stack down and forget it; safe to run again after an interrupted attempt."""
    refuse_destroy(stack)
    stack.destroy(on_output=out, show_secrets=False)
    stack.workspace.remove_stack(stack.name)


def fail(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
