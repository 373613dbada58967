"""Cross-stack isolation reads the repository's other stack files (envstack/stack_config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from envstack.settings import SettingsError
from envstack.stack_config import other_stacks

VALID = """config:
  envstack:app: hermes
  envstack:database:
    provider: supabase
  supabase:organization: hermes-security
  supabase:region: eu-central-1
  supabase:projectName: hermes-production
"""


def test_an_invalid_production_file_stops_every_other_stack(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.production.yaml").write_text(VALID.replace("eu-central-1", "moon-1"))
    with pytest.raises(SettingsError) as caught:
        other_stacks(tmp_path, "staging")
    message = str(caught.value)
    assert message.startswith("Pulumi.production.yaml is invalid (supabase:region: "), message
    assert "stack 'staging' cannot be shown to share no database with production" in message
    assert message.count("\n") == 0


def test_production_itself_and_valid_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.production.yaml").write_text(VALID)
    (tmp_path / "Pulumi.pr-3.yaml").write_text("config:\n  envstack:app: ''\n")
    found = other_stacks(tmp_path, "staging")
    assert set(found) == {"production"}, "an invalid pull-request file is left to its own preview"
    assert found["production"].supabase_project_name == "hermes-production"
    (tmp_path / "Pulumi.production.yaml").write_text(VALID.replace("eu-central-1", "moon-1"))
    assert other_stacks(tmp_path, "production") == {}, "production's own preview reports its file"
