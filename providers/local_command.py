"""Dynamic provider: run a local command when the resource is created or its inputs change.

It stands in for ``pulumi_command.local.Command``, whose provider plugin cannot be built
from the Go module proxy reachable here (see README, "The engine"). Same contract as that
resource's ``create``/``update``: the command runs after its dependencies exist, again
whenever an input (``triggers`` carries content hashes) changes, and never in preview;
a non-zero exit fails the step. Unlike it, output is never stored in state or shown raw:
the environment often holds connection strings, so every value passed in ``environment``,
and every credential the command inherits (envstack.credentials), is masked in the error and
in the ``output_tail`` output.

``purpose`` says what a command is for (``MIGRATE_PURPOSE``, ``SEED_PURPOSE``), so the policy
pack recognises the seed command by a marker rather than by its command line. It is a declared
input only: changing it runs nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from envstack.errors import ResourceError
from providers.declared import Declared, Inputs

_TAIL_LINES = 20
# After its timeout a command is asked to stop (SIGTERM) and given this long to: envstack's own
# migrate and seed cancel the statement they are running on the server (a killed client's
# statement runs on, holding its locks, until statement_timeout). Then it is killed.
_STOP_GRACE_SECONDS = 10.0
_INPUTS = ("command", "environment", "triggers", "dir", "timeout")
# The inputs whose change re-runs the command. Neither ``purpose`` nor ``timeout`` is one: how
# long a command may take is no reason to run it again, and stacks recorded before either
# existed (the seed had no timeout) would re-run their migrate and seed commands on the next `up`.
_RERUN_ON = ("command", "environment", "triggers", "dir")

# Values of ``purpose``. policy/guardrails.py has its own copy of SEED_PURPOSE: the policy pack
# runs in its own directory and cannot import this module. tests/unit/test_guardrails.py keeps
# the two equal.
MIGRATE_PURPOSE = "migrate"
SEED_PURPOSE = "seed"


def _run(props: dict[str, Any]) -> dict[str, Any]:
    from envstack.credentials import credential_values
    from envstack.redaction import redact

    environment: dict[str, str] = dict(props.get("environment") or {})
    # The command inherits this process's environment, the API tokens and passphrase with it
    # (a custom migration command may need them): what it prints of those is masked too.
    masked = [*environment.values(), *credential_values()]
    timeout = float(props["timeout"]) if props.get("timeout") else None
    # A session of its own, so a timeout ends the command and everything it started.
    proc = subprocess.Popen(  # noqa: S602 - the command is the stack author's own setting
        props["command"],
        shell=True,
        cwd=props.get("dir") or None,
        env={**os.environ, **environment},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        output = _stop(proc)
        tail = "\n".join(redact(output, masked).splitlines()[-_TAIL_LINES:])
        raise ResourceError(f"command did not finish within {timeout:g} s and was stopped:\n{tail}") from None
    tail = "\n".join(redact(output, masked).splitlines()[-_TAIL_LINES:])
    if proc.returncode != 0:
        raise ResourceError(f"command exited with status {proc.returncode}:\n{tail}")
    return {key: props.get(key) for key in _INPUTS} | {"output_tail": tail}


def _stop(proc: subprocess.Popen[str]) -> str:
    """Stop the command and all it started: asked first, killed after the grace; its output."""
    _signal_group(proc, signal.SIGTERM)
    try:
        output, _ = proc.communicate(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        output, _ = proc.communicate()
    else:
        _signal_group(proc, signal.SIGKILL)  # whatever it started and left behind
    return output


def _signal_group(proc: subprocess.Popen[str], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # every process of the group has exited
        os.killpg(proc.pid, signum)


class LocalCommandProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = _run(props)
        return CreateResult(id_="command", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [key for key in _RERUN_ON if olds.get(key) != news.get(key)]
        return DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_run(news))

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        # Like a migration, a command that ran cannot be un-run; deleting forgets it.
        return None


@dataclass(frozen=True)
class LocalCommandInputs(Inputs):
    """``timeout``: seconds the command may run before it (and all it started) is stopped.
    ``purpose``: what the command is for (``MIGRATE_PURPOSE``, ``SEED_PURPOSE``), for policies to read."""

    command: pulumi.Input[str]
    environment: pulumi.Input[dict[str, pulumi.Input[str]]] = field(default_factory=dict)
    triggers: pulumi.Input[list[pulumi.Input[str]]] = field(default_factory=list)
    dir: pulumi.Input[str] | None = None
    timeout: float | None = None
    purpose: str | None = None


class LocalCommand(Declared, module="local", name="Command"):
    output_tail: pulumi.Output[str]

    def __init__(self, name: str, inputs: LocalCommandInputs, opts: pulumi.ResourceOptions | None = None) -> None:
        self.declare(LocalCommandProvider(), name, inputs, opts)
