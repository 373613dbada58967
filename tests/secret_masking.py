"""A pytest plugin (``-p tests.secret_masking`` in pyproject.toml): a failed test's report
shows no secret-shaped value.

A failed ``assert`` prints its operands, and a test's captured output is printed with its
failure, so a test comparing connection strings or API keys would put them in CI's log. Each
failed report's text and captured sections (a test's, or a module's that failed to import) are
masked with envstack's own redaction (URL passwords, ``password=``, bearer tokens, Supabase
tokens and keys, JWTs) before pytest, or a pytest-xdist worker, passes them on. The patterns
need whole values: pyproject.toml sets ``verbosity_assertions = 2``, as pytest otherwise cuts
a long common prefix off a diff (a URL's ``scheme://``, a JWT's header) and shortens long
reprs. A value of no secret shape (a random password on its own) is not recognised here:
tests compare those apart (``same = a == b; assert not same``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from envstack.redaction import redact


def _mask(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not report.failed:
        return  # a skip's longrepr is a tuple pytest relies on, and passing output is not shown
    if report.longrepr is not None:
        text = str(report.longrepr)
        masked = redact(text)
        if masked != text:
            report.longrepr = masked  # plain text from here on: only what had a secret in it
    report.sections = [(title, redact(content)) for title, content in report.sections]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    _mask(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    _mask(outcome.get_result())
