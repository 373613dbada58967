"""Checks the program makes before any resource: files the settings name, and the organization."""

from __future__ import annotations

import json
import socket
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


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_an_api_that_cannot_be_asked_only_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_ACCESS_TOKEN", "sbp_" + "0" * 40)
    settings = load_settings("staging", {**STAGING, "supabase:apiUrl": f"http://127.0.0.1:{closed_port()}"})
    warnings: list[str] = []
    preflight.check_organization(settings, warn=warnings.append)
    assert len(warnings) == 1
    assert warnings[0].startswith("supabase:organization was not checked: supabase GET /v1/organizations failed")
    assert "sbp_" not in warnings[0]


def test_no_call_without_a_token_or_when_no_project_is_created(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPABASE_ACCESS_TOKEN", raising=False)
    warnings: list[str] = []
    preflight.check_organization(load_settings("staging", STAGING), warn=warnings.append)
    assert warnings == ["supabase:organization was not checked: SUPABASE_ACCESS_TOKEN is not set"]
    adopting = {**STAGING, "supabase:projectRef": "abcdefghijklmnopqrst", "supabase:dbPassword": "x" * 24}
    preflight.check_organization(load_settings("staging", adopting), warn=warnings.append)
    assert len(warnings) == 1, "an adopted project needs no organization, so nothing is asked"
