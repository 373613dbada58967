"""A failed test's report masks secret-shaped values (tests/secret_masking.py), in a pytest
run of its own."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Made at run time, as every secret in the tests is.
KEY = "sb_secret_" + secrets.token_urlsafe(16)
URL_PASSWORD, OTHER_PASSWORD, LATE_PASSWORD = (secrets.token_hex(8) for _ in range(3))
URL = f"postgresql://app:{URL_PASSWORD}@127.0.0.1:5432/postgres"
# A pooler login: the two URLs share more than pytest keeps of a common prefix by default.
OTHER_URL = f"postgresql://hermes_app_a.abcdefghijklmnopqrst:{OTHER_PASSWORD}@127.0.0.1:6543/postgres"
LATE_URL = f"postgresql://hermes_app_a.abcdefghijklmnopqrst:{LATE_PASSWORD}@127.0.0.1:6543/postgres"
PASSWORD = secrets.token_urlsafe(32) + "Q7z"  # as the stack's passwords are made; mixed case and a digit for sure


def test_a_failed_assert_and_its_output_show_no_secret(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(
        textwrap.dedent(
            f"""
            def test_compares_keys():
                print("connecting to {URL}")
                assert "{KEY}" == "sb_secret_another"

            def test_compares_random_passwords():
                assert {{"POSTGRES_PASSWORD": "{PASSWORD}"}} == {{"POSTGRES_PASSWORD": "x"}}

            def test_compares_urls_that_differ_late():
                assert "{OTHER_URL}" == "{LATE_URL}"
            """
        )
    )
    (tmp_path / "test_broken.py").write_text(f"raise RuntimeError('{URL}')\n")
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    # The project's own setting, which the masking needs.
    (tmp_path / "pytest.ini").write_text(f"[pytest]\nverbosity_assertions = {pytest_ini['verbosity_assertions']}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.secret_masking",
            "-q",
            "--continue-on-collection-errors",
            "test_leaky.py",
            "test_broken.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, "the inner tests fail and a module fails to import: their reports are printed"
    assert "3 failed" in run.stdout
    assert "1 error" in run.stdout
    assert "***" in run.stdout, "the masked values are still marked"
    assert "postgresql://app:***@127.0.0.1:5432/postgres" in run.stdout, "only the password is masked"
    leaked = [s for s in (KEY, URL_PASSWORD, OTHER_PASSWORD, LATE_PASSWORD, PASSWORD) if s in run.stdout]
    assert leaked == [], "every key and password is masked, in a diff that differs late too"
    assert "test_compares_random_passwords" in run.stdout, "names and ids stay readable"
