"""What the read-only commands (doctor, diff, restore's checks) take from a stack, and from where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pulumi import automation as auto

from envstack.ops import automation, stack_view
from envstack.ops.automation import StackReads

_CONFIG = {
    "envstack:app": "hermes",
    "envstack:database": json.dumps({"provider": "supabase"}),
    "supabase:organization": "hermes-security",
    "supabase:region": "eu-central-1",
    "supabase:apiUrl": "http://127.0.0.1:8001",
    "vercel:apiUrl": "http://127.0.0.1:8002",
    "vercel:team": "team_hermes",
    "vercel:projects": json.dumps(["hermes-web"]),
}


def _state(elsewhere: str) -> dict[str, object]:
    """A state whose resources name another API and team than the stack's settings."""
    return {
        "resources": [
            {
                "type": stack_view.SUPABASE_TYPES[0],
                "outputs": {"ref": "abcdefghijklmnopqrst", "management_api": elsewhere},
            },
            {
                "type": stack_view.VERCEL_VARIABLES_TYPE,
                "outputs": {
                    "project_id": "prj_1",
                    "api_url": elsewhere,
                    "team": "team_someone_else",
                    "target": "preview",
                    "ids": {"DATABASE_URL": "env_1"},
                },
            },
        ]
    }


def test_the_apis_and_the_team_come_from_the_settings_not_the_state(monkeypatch: pytest.MonkeyPatch) -> None:
    """Staging's state is writable by pull-request jobs; drift.yml reads it holding
    production-read's tokens. A state naming another address must not get those tokens."""
    reads = StackReads(
        {key: auto.ConfigValue(value=value) for key, value in _CONFIG.items()}, _state("http://127.0.0.9:9")
    )
    monkeypatch.setattr(automation, "read_config_and_state", lambda _root, _name: reads)
    view = stack_view.read_stack(Path("."), "staging")
    assert view.supabase is not None
    assert view.supabase.management_api == "http://127.0.0.1:8001"
    assert [(v.api_url, v.team) for v in view.vercel] == [("http://127.0.0.1:8002", "team_hermes")]
