"""Checks the program makes before any resource: the files the settings name.

The organization is checked by the project's provider (tests/providers/test_supabase_project.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envstack.errors import SettingsError
from envstack.ops import preflight
from envstack.settings import load_settings

STAGING = {
    "envstack:app": "hermes",
    "envstack:database": json.dumps({"provider": "supabase"}),
    "envstack:seed": "true",
    "supabase:organization": "hermes-security",
    "supabase:region": "eu-central-1",
}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    (tmp_path / "supabase" / "migrations" / "20250101000000_create_leads.sql").write_text("SELECT 1;\n")
    (tmp_path / "supabase" / "seed.sql").write_text("SELECT 1;\n")
    return tmp_path


def test_files_of_a_valid_project_pass(root: Path) -> None:
    preflight.check_files(load_settings("staging", STAGING), root)


def test_other_tools_may_name_their_files_as_they_like(root: Path) -> None:
    (root / "supabase" / "migrations" / "0001_init").mkdir()
    (root / "supabase" / "migrations" / "migration_lock.toml").write_text("")
    config = {**STAGING, "envstack:migrations": json.dumps({"command": "npx prisma migrate deploy"})}
    preflight.check_files(load_settings("staging", config), root)


def test_a_stack_that_does_not_seed_needs_no_seed_file(root: Path) -> None:
    (root / "supabase" / "seed.sql").unlink()
    preflight.check_files(load_settings("production", {**STAGING, "envstack:seed": "false"}), root)
    with pytest.raises(SettingsError, match=r"^Invalid stack setting envstack:seedFile: supabase/seed.sql does not"):
        preflight.check_files(load_settings("staging", STAGING), root)
