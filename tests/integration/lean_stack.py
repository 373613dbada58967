"""An Automation API stack that reads a run's outputs and summary only when a test asks.

After every ``up`` the Automation API runs three more `pulumi` processes (the outputs, once
plain and once with secrets, and the history entry for the summary), and one after each
``refresh`` and ``destroy``: about a second and a half of CPU per ``up`` on the 2-CPU machine,
hundreds of times per suite, for results most tests never look at. Here those reads happen
when a test first touches ``result.outputs`` or ``result.summary``. A result read after the
stack has run something else would describe the later run, so that fails instead of answering.
Outputs, asked for or not, are read as envstack's tools read them: one `pulumi stack export`
(envstack/ops/automation.py), not `stack output` twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode

from envstack.ops import automation


class StaleResult(AssertionError):
    """A result's outputs or summary were first read after the stack ran something else."""


class _Later:
    """A value loaded on first use, only while no other run of its stack has started."""

    def __init__(self, stack: LeanStack, load: Callable[[], Any]) -> None:
        self._stack, self._load, self._run = stack, load, stack.runs
        self._loaded = False
        self._value: Any = None

    def get(self) -> Any:
        if not self._loaded:
            if self._stack.runs != self._run:
                raise StaleResult("read a run's result before running the stack again")
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
    def open(cls, name: str, workspace: auto.LocalWorkspace, *, create: bool) -> LeanStack:
        if not create:
            return cls(name, workspace, StackInitMode.SELECT)
        # Most stacks a test opens are new: `stack init` first, and `stack select` only when it
        # exists (the Automation API's create-or-select runs a failing select before every init).
        try:
            return cls(name, workspace, StackInitMode.CREATE)
        except auto.StackAlreadyExistsError:
            return cls(name, workspace, StackInitMode.SELECT)

    def outputs(self) -> auto.OutputMap:
        if self._deferring:
            return _LaterOutputs(_Later(self, lambda: automation.outputs(self)))  # type: ignore[return-value]
        return automation.outputs(self)

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        if self._deferring:
            return _LaterSummary(_Later(self, lambda: auto.Stack.info(self, show_secrets)))  # type: ignore[return-value]
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
