"""Waiting for a Supabase project to be healthy: the dead ends say what to do."""

from __future__ import annotations

import pytest

from envstack.errors import ResourceError
from providers.supabase_access import wait_until_healthy


def test_a_paused_project_is_named_with_the_way_to_restore_it() -> None:
    statuses = iter(["INACTIVE"])
    with pytest.raises(ResourceError) as raised:
        wait_until_healthy(lambda: next(statuses), "Supabase project abc", 60, "safe")
    message = str(raised.value)
    assert message.startswith("Supabase project abc is paused (INACTIVE): Supabase pauses a Free-plan project")
    assert "/v1/projects/<ref>/restore" in message
    assert "pulumi up" in message


def test_a_failed_start_is_a_dead_end_not_a_wait() -> None:
    statuses = iter(["COMING_UP", "INIT_FAILED"])
    with pytest.raises(ResourceError, match="ended in status INIT_FAILED instead of ACTIVE_HEALTHY"):
        wait_until_healthy(lambda: next(statuses), "Supabase project abc", 60, "safe")
