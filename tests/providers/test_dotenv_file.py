"""The dotenv file provider: what it writes, and a developer's own file it never touches."""

from __future__ import annotations

import secrets
import stat
from pathlib import Path

import pytest

from envstack.errors import ResourceError
from providers.dotenv_file import HEADER, DotenvFileProvider


def props(path: Path, **variables: str) -> dict[str, object]:
    return {"path": str(path), "variables": variables}


def test_the_file_is_private_quoted_and_gone_with_the_stack(tmp_path: Path) -> None:
    path = tmp_path / ".env.local"
    password = secrets.token_urlsafe(16)
    provider = DotenvFileProvider()
    created = provider.create(props(path, POSTGRES_PASSWORD=password, NOTE='say "hi"\nbye'))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == f'{HEADER}NOTE="say \\"hi\\"\\nbye"\nPOSTGRES_PASSWORD="{password}"\n'
    provider.update(created.id, created.outs or {}, props(path, POSTGRES_PASSWORD="changed"))
    assert path.read_text() == f'{HEADER}POSTGRES_PASSWORD="changed"\n'
    provider.delete(created.id, props(path))
    assert not path.exists()


def test_a_developers_own_file_is_never_overwritten_nor_deleted(tmp_path: Path) -> None:
    """A Next.js app's .env.local may already hold the developer's own keys."""
    path = tmp_path / ".env.local"
    own = "STRIPE_KEY=sk_test_mine\n"
    path.write_text(own)
    provider = DotenvFileProvider()
    with pytest.raises(ResourceError, match=r"\.env\.local exists and envstack did not write it"):
        provider.create(props(path, POSTGRES_PASSWORD="x"))
    assert path.read_text() == own

    path.unlink()
    created = provider.create(props(path, POSTGRES_PASSWORD="x"))
    path.write_text(own)  # replaced by the developer's own since
    provider.delete(created.id, props(path))
    assert path.read_text() == own, "theirs now: left alone"
