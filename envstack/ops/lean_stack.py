"""An Automation API stack that reads a run's outputs and summary only when they are used.

After every ``up`` the Automation API starts three more `pulumi` processes (the outputs, once
masked and once shown, then the history entry for the summary), and one more after each
``refresh`` and ``destroy``. Each costs the engine's start and most of them the passphrase's
key derivation: about a CPU second per ``up``, and seconds of wall time on a busy machine,
for results a caller may never look at (``pr up`` reads only the summary, ``rotate`` only the
outputs). Here those reads happen when ``result.outputs`` or ``result.summary`` is first
touched. Outputs are read as the rest of envstack reads them: one `pulumi stack export`, not
`stack output` twice.

A result first read after its stack has run something else would describe the later run, so
that raises ``StaleResult`` instead of answering.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode

from envstack.errors import StackError
from envstack.ops.exported_state import outputs_in


def exported_outputs(stack: auto.Stack) -> dict[str, auto.OutputValue]:
    """The stack's outputs, secret ones marked: one `pulumi stack export` where the Automation
    API's ``stack.outputs()`` runs two processes (envstack/ops/exported_state.py)."""
    return outputs_in(stack.export_stack().deployment or {})


class StaleResult(StackError):
    """A run's outputs or summary were first read after the stack ran something else."""


class _Later:
    """A value loaded on first use, only while no other run of its stack has started."""

    def __init__(self, stack: LeanStack, load: Callable[[], Any]) -> None:
        self._stack, self._load, self._run = stack, load, stack.runs
        self._loaded = False
        self._value: Any = None

    def get(self) -> Any:
        if not self._loaded:
            if self._stack.runs != self._run:
                raise StaleResult(f"read a run's result of {self._stack.name} after running the stack again")
            self._value, self._loaded = self._load(), True
        return self._value


class _LaterSummary:
    def __init__(self, later: _Later) -> None:
        self._later = later

    def __getattr__(self, name: str) -> Any:
        return getattr(self._later.get(), name)


class _LaterOutputs(Mapping[str, auto.OutputValue]):
    def __init__(self, later: _Later) -> None:
        self._later = later

    def __getitem__(self, key: str) -> auto.OutputValue:
        value: auto.OutputValue = self._later.get()[key]
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._later.get())

    def __len__(self) -> int:
        return len(self._later.get())


class LeanStack(auto.Stack):
    runs = 0  # operations started on this stack object, so a late read can tell it is stale
    _deferring = False

    @classmethod
    def open(cls, name: str, workspace: auto.Workspace, *, create: bool) -> LeanStack:
        """The stack (``create``: made when the backend has none of that name)."""
        if not create:
            return cls(name, workspace, StackInitMode.SELECT)
        # Most stacks opened with ``create`` are new: `stack init` first, and `stack select`
        # only when it exists (the Automation API's create-or-select runs a failing select
        # before every init).
        try:
            return cls(name, workspace, StackInitMode.CREATE)
        except auto.StackAlreadyExistsError:
            return cls(name, workspace, StackInitMode.SELECT)

    def outputs(self) -> auto.OutputMap:
        if self._deferring:
            return _LaterOutputs(_Later(self, lambda: exported_outputs(self)))  # type: ignore[return-value]
        return exported_outputs(self)

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        if self._deferring:
            # A run's summary with its config masked: nothing read from a summary is secret
            # (its changes, result and times), and masked the engine derives no key for it.
            return _LaterSummary(_Later(self, lambda: auto.Stack.info(self, show_secrets=False)))  # type: ignore[return-value]
        return super().info(show_secrets)

    def _deferred(self, run: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        self._deferring = True
        try:
            return run(*args, **kwargs)
        finally:
            self._deferring = False

    def up(self, *args: Any, **kwargs: Any) -> auto.UpResult:
        result: auto.UpResult = self._deferred(super().up, *args, **kwargs)
        return result

    def refresh(self, *args: Any, **kwargs: Any) -> auto.RefreshResult:
        result: auto.RefreshResult = self._deferred(super().refresh, *args, **kwargs)
        return result

    def destroy(self, *args: Any, **kwargs: Any) -> auto.DestroyResult:
        result: auto.DestroyResult = self._deferred(super().destroy, *args, **kwargs)
        return result

    def preview(self, *args: Any, **kwargs: Any) -> auto.PreviewResult:
        self.runs += 1
        return super().preview(*args, **kwargs)
