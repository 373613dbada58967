"""Fixtures of the integration tests that drive the real engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.emulators.supabase.fixtures import SupabaseTenant
from tests.emulators.vercel.fixtures import VercelApi
from tests.integration.convergence import Staging, make_staging


@pytest.fixture
def fresh_staging(tmp_path: Path, supabase_api: SupabaseTenant, vercel_api: VercelApi) -> Iterator[Staging]:
    """A copy of the project with a staging stack configured for both local APIs, never brought up.
    Whatever `pulumi` processes a test started and left are killed afterwards."""
    staging = make_staging(tmp_path, supabase_api, vercel_api)
    try:
        yield staging
    finally:
        staging.close()
