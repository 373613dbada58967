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


def test_a_whole_structured_setting_set_as_a_secret_stands_in_as_an_empty_one(tmp_path: Path) -> None:
    """`pulumi config set --secret envstack:secretVariables '{...}'` encrypts the whole map."""
    text = PRODUCTION.replace(
        "  envstack:secretVariables:\n    STRIPE_KEY:\n      secure:", "  envstack:secretVariables:\n    secure:"
    )
    assert "    secure: v1" in text
    write(tmp_path, "production", text)
    config = stack_file_config(tmp_path / "Pulumi.production.yaml")
    assert config["envstack:secretVariables"] == "{}"
    assert list(other_stacks(tmp_path, "staging")) == ["production"]


def test_a_stack_naming_productions_project_is_refused_when_production_holds_nested_secrets(
    tmp_path: Path,
) -> None:
    write(tmp_path, "production", PRODUCTION)
    others = other_stacks(tmp_path, "staging")
    assert list(others) == ["production"], "production's file is read, nested secrets and all"
    with pytest.raises(SettingsError, match=r"^Invalid stack setting supabase:projectRef: .*production's"):
        assert_isolated_from(load_settings("staging", STAGING), others)


def test_a_problem_elsewhere_in_productions_file_still_leaves_its_database_known(tmp_path: Path) -> None:
    """An unknown key is production's own preview's to report; its project ref still counts here."""
    write(tmp_path, "production", PRODUCTION + "  demo:token:\n    secure: v1:eA==\n  supabase:colour: blue\n")
    others = other_stacks(tmp_path, "staging")
    assert others["production"].ref == PRODUCTION_REF
    with pytest.raises(SettingsError, match=r"^Invalid stack setting supabase:projectRef: .*production's"):
        assert_isolated_from(load_settings("staging", STAGING), others)


def test_a_database_that_cannot_be_read_fails_the_check_instead_of_leaving_production_out(tmp_path: Path) -> None:
    encrypted_ref = PRODUCTION.replace(
        f"supabase:projectRef: {PRODUCTION_REF}", f"supabase:projectRef:\n    secure: {SECURE}"
    )
    write(tmp_path, "production", encrypted_ref)
    with pytest.raises(SettingsError) as caught:
        other_stacks(tmp_path, "staging")
    message = str(caught.value)
    assert message.startswith("Pulumi.production.yaml cannot be read, so this stack cannot prove"), message
    assert "Invalid stack setting supabase:projectRef: " in message
    # Seen from production, every other stack is on the far side of the line.
    write(tmp_path, "production", PRODUCTION)
    write(tmp_path, "staging", "config:\n  envstack:app: hermes\n")
    with pytest.raises(SettingsError, match=r"^Pulumi.staging.yaml cannot be read, .* that stack: "):
        other_stacks(tmp_path, "production")


def test_an_unreadable_file_on_the_same_side_is_left_to_its_own_preview(tmp_path: Path) -> None:
    write(tmp_path, "production", PRODUCTION)
    write(tmp_path, "pr-7", "config:\n  envstack:colour: blue\n")
    assert list(other_stacks(tmp_path, "staging")) == ["production"]


def test_an_encrypted_value_among_the_public_variables_is_refused(tmp_path: Path) -> None:
    """`pulumi config set --secret --path 'envstack:variables.add.STRIPE_KEY'`: the program gets
    it decrypted, unmarked, and would write it readable and show it in the preview."""
    from envstack.ops.stack_config import refuse_encrypted_public_settings

    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(
        f"config:\n  envstack:variables:\n    add:\n      PLAIN: p\n      STRIPE_KEY:\n        secure: {SECURE}\n"
    )
    with pytest.raises(
        SettingsError, match=r"^Invalid stack setting envstack:variables\.add\.STRIPE_KEY: it is encrypted"
    ):
        refuse_encrypted_public_settings(path)
    path.write_text(PRODUCTION)  # secrets where they belong
    refuse_encrypted_public_settings(path)
    refuse_encrypted_public_settings(tmp_path / "Pulumi.absent.yaml")
