"""Files that hold passwords are never readable by anyone else, not even for a moment."""

from __future__ import annotations

import stat
from pathlib import Path

from envstack.db.pgserver import write_private


def test_a_new_file_is_private_from_its_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "userlist.txt"
    write_private(path, '"pooler" "secret"\n')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == '"pooler" "secret"\n'


def test_a_file_that_was_readable_becomes_private_and_is_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "pgbouncer.ini"
    path.write_text("an older, longer configuration\n")
    path.chmod(0o644)
    write_private(path, "new\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == "new\n", "truncated, not overwritten in place"
