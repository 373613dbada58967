"""The other stacks' files, as the program reads them for the check that production shares no
database: encrypted values at any depth, and files that cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from envstack.errors import SettingsError
from envstack.ops.stack_config import SECRET_PLACEHOLDER, other_stacks, stack_file_config
from envstack.settings import assert_isolated_from, load_settings

PRODUCTION_REF = "abcdefghijklmnopqrst"
SECURE = "v1:c2FsdA==:v1:bm9uY2U=:Y2lwaGVydGV4dA=="

# Production adopting its real project, with a secret variable set the way the README says
# (`pulumi config set --secret --path 'envstack:secretVariables.STRIPE_KEY'`), which nests.
PRODUCTION = f"""\
config:
  envstack:app: hermes
  envstack:database:
    provider: supabase
  envstack:seed: "false"
  supabase:projectRef: {PRODUCTION_REF}
  supabase:dbPassword:
    secure: {SECURE}
  envstack:secretVariables:
    STRIPE_KEY:
      secure: {SECURE}
"""

STAGING = {
    "envstack:app": "hermes",
    "envstack:database": '{"provider": "supabase"}',
    "supabase:projectRef": PRODUCTION_REF,
    "supabase:dbPassword": "known-to-staging",
}


def write(root: Path, stack: str, text: str) -> None:
    (root / f"Pulumi.{stack}.yaml").write_text(text)


def test_encrypted_values_nested_in_a_setting_are_placeholders(tmp_path: Path) -> None:
    write(tmp_path, "production", PRODUCTION)
    config = stack_file_config(tmp_path / "Pulumi.production.yaml")
    assert config["supabase:dbPassword"] == SECRET_PLACEHOLDER
    assert config["envstack:secretVariables"] == f'{{"STRIPE_KEY": "{SECRET_PLACEHOLDER}"}}'
    assert SECURE not in "".join(config.values())


def test_a_stack_naming_productions_project_is_refused_when_production_holds_nested_secrets(
    tmp_path: Path,
) -> None:
    write(tmp_path, "production", PRODUCTION)
    others = other_stacks(tmp_path, "staging")
    assert list(others) == ["production"], "production's file is read, nested secrets and all"
    with pytest.raises(SettingsError, match=r"^Invalid stack setting supabase:projectRef: .*production's"):
        assert_isolated_from(load_settings("staging", STAGING), others)


def test_an_unreadable_production_file_fails_the_check_instead_of_leaving_production_out(tmp_path: Path) -> None:
    write(tmp_path, "production", PRODUCTION.replace(f"supabase:projectRef: {PRODUCTION_REF}", "supabase:ref: x"))
    with pytest.raises(SettingsError) as caught:
        other_stacks(tmp_path, "staging")
    message = str(caught.value)
    assert message.startswith("Pulumi.production.yaml cannot be read, so this stack cannot prove"), message
    assert "supabase:ref: unknown setting" in message
    # Seen from production, every other stack is on the far side of the line.
    write(tmp_path, "staging", "config:\n  envstack:app: hermes\n")
    with pytest.raises(SettingsError, match=r"^Pulumi.staging.yaml cannot be read, .* that stack: "):
        other_stacks(tmp_path, "production")


def test_an_unreadable_file_on_the_same_side_is_left_to_its_own_preview(tmp_path: Path) -> None:
    write(tmp_path, "production", PRODUCTION)
    write(tmp_path, "pr-7", "config:\n  envstack:colour: blue\n")
    assert list(other_stacks(tmp_path, "staging")) == ["production"]
