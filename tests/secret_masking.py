"""A pytest plugin (``-p tests.secret_masking`` in pyproject.toml): a failed test's report
shows no secret-shaped value.

A failed ``assert`` prints its operands, and a test's captured output is printed with its
failure, so a test comparing connection strings or API keys would put them in CI's log. Each
failed report's text and captured sections (a test's, or a module's that failed to import) are
masked with envstack's own redaction (URL passwords, ``password=``, bearer tokens, Supabase
tokens and keys, JWTs) before pytest, or a pytest-xdist worker, passes them on. The patterns
need whole values: pyproject.toml sets ``verbosity_assertions = 2``, as pytest otherwise cuts
a long common prefix off a diff (a URL's ``scheme://``, a JWT's header) and shortens long
reprs. Beyond those shapes, any long random-looking token (32 or more URL-safe characters
mixing upper case, lower case and digits: what ``secrets.token_urlsafe`` makes, the stack's
passwords and secrets) is masked too; ids and refs are shorter, or of one case, and stay
readable. A shorter random value is not recognised: tests compare those apart
(``same = a == b; assert not same``).
"""

from __future__ import annotations

import re
from collections.abc import Generator
from typing import Any

import pytest

from envstack.redaction import MASK, redact

_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")


def _masked(text: str) -> str:
    def random_looking(match: re.Match[str]) -> str:
        token = match.group(0)
        mixed = any(c.isupper() for c in token) and any(c.islower() for c in token) and any(c.isdigit() for c in token)
        return MASK if mixed else token

    return _TOKEN.sub(random_looking, redact(text))


def _mask(report: pytest.TestReport | pytest.CollectReport) -> None:
    if not report.failed:
        return  # a skip's longrepr is a tuple pytest relies on, and passing output is not shown
    if report.longrepr is not None:
        text = str(report.longrepr)
        masked = _masked(text)
        if masked != text:
            report.longrepr = masked  # plain text from here on: only what had a secret in it
    report.sections = [(title, _masked(content)) for title, content in report.sections]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    _mask(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, None]:
    outcome = yield
    _mask(outcome.get_result())
