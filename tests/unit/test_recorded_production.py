"""The pieces that show production to a pull request without its secrets: a published
migration history compared with files, settings compared with the default branch's, and a
passphrase per stack for commands that open two."""

from __future__ import annotations

from pathlib import Path

import pytest

from envstack.db import migration_record, migrations
from envstack.errors import MigrationError
from envstack.ops import automation
from envstack.ops.pr_comment import settings_changes


def write(directory: Path, name: str, text: str) -> None:
    (directory / name).write_text(text)


def test_files_are_told_apart_by_the_published_history(tmp_path: Path) -> None:
    write(tmp_path, "20250101000000_one.sql", "CREATE TABLE a (id int);\n")
    write(tmp_path, "20250102000000_two.sql", "CREATE TABLE b (id int);\n")
    write(tmp_path, "20250103000000_three.sql", "CREATE TABLE c (id int);\n")
    files = {m.version: m for m in migrations.discover(tmp_path)}
    recorded = {
        "format": migration_record.FORMAT,
        "stack": "production",
        "migrations": [
            {
                "version": "20250101000000",
                "name": "one",
                "digest": migration_record.digest(files["20250101000000"].statements),
            },
            {"version": "20250102000000", "name": "two", "digest": migration_record.digest(["CREATE TABLE b (x int)"])},
            {"version": "20241231000000", "name": "gone", "digest": "0" * 64},
        ],
    }
    states = {s.version: s.state for s in migration_record.states(tmp_path, recorded)}
    assert states == {
        "20241231000000": "missing-file",
        "20250101000000": "applied",
        "20250102000000": "edited",
        "20250103000000": "pending",
    }


def test_a_file_that_is_not_a_record_is_refused(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{"format": 99}')
    with pytest.raises(MigrationError, match="format 1"):
        migration_record.load(tmp_path / "r.json")
    (tmp_path / "r.json").write_text("not json")
    with pytest.raises(MigrationError, match="not a migration record"):
        migration_record.load(tmp_path / "r.json")


def test_settings_changes_show_plain_values_and_hide_secure_ones() -> None:
    base = {"supabase:instanceSize": "small", "a:gone": 1, "a:secret": {"secure": "v1:abc"}, "a:same": "x"}
    head = {
        "supabase:instanceSize": "medium",
        "a:new": {"secure": "v1:def"},
        "a:secret": {"secure": "v1:zzz"},
        "a:same": "x",
    }
    assert settings_changes(base, head) == [
        "- a:gone: 1",
        "+ a:new: [secret]",
        "~ a:secret: [secret] => [secret]",
        '~ supabase:instanceSize: "small" => "medium"',
    ]


def test_a_stack_s_own_passphrase_and_backend_are_given_to_the_engine_for_it_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ENVSTACK_PASSPHRASE_STAGING", "staging-phrase")
    monkeypatch.setenv("ENVSTACK_BACKEND_URL_STAGING", "s3://state/staging")
    monkeypatch.setenv("ENVSTACK_PASSPHRASE_PR_42", "pr-phrase")
    assert automation.stack_env("staging") == {
        "PULUMI_CONFIG_PASSPHRASE": "staging-phrase",
        "PULUMI_BACKEND_URL": "s3://state/staging",
    }
    assert automation.stack_env("pr-42") == {"PULUMI_CONFIG_PASSPHRASE": "pr-phrase"}
    assert automation.stack_env("production") == {}
