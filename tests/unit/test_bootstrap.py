"""scripts/bootstrap.sh's choice of engine: an installed pulumi of the pinned CLI version, or a build.

Stand-in `pulumi`, `pulumi-language-python` and `go` executables record whether they ran, so no
engine is built here. The venv step is the checkout's own (already installed: quick).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pinned(name: str) -> str:
    for line in (ROOT / "scripts" / "versions.env").read_text().splitlines():
        if line.startswith(f"{name}="):
            return line.split("=", 1)[1].strip()
    raise AssertionError(f"scripts/versions.env pins no {name}")


def stand_in(directory: Path, name: str, script: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)


def bootstrap(tmp_path: Path, tools: Path, **env: str) -> subprocess.CompletedProcess[str]:
    # PATH without any real pulumi or go, so only the stand-ins can answer.
    kept = [
        part
        for part in os.environ["PATH"].split(os.pathsep)
        if part and not (Path(part) / "pulumi").exists() and not (Path(part) / "go").exists()
    ]
    environment = {
        **{k: v for k, v in os.environ.items() if k != "ENVSTACK_NO_ENGINE_BUILD"},
        "PATH": os.pathsep.join([str(tools), *kept]),
        "ENVSTACK_CACHE": str(tmp_path / "cache"),
        **env,
    }
    return subprocess.run(
        [
            "bash",
            "-c",
            ". scripts/bootstrap.sh && command -v pulumi",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def fake_go(tools: Path, tmp_path: Path) -> None:
    stand_in(tools, "go", f'echo yes > "{tmp_path / "go-ran"}"; exit 1')


def test_an_installed_pulumi_of_the_pinned_cli_version_is_used_whatever_its_language_host(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    stand_in(tools, "pulumi", f'[ "$1" = version ] && echo v{pinned("PULUMI_CLI_VERSION")}')
    stand_in(tools, "pulumi-language-python", "exit 0")
    fake_go(tools, tmp_path)
    result = bootstrap(tmp_path, tools)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(tools / "pulumi")
    assert not (tmp_path / "go-ran").exists(), "an installed CLI of the pinned version is never rebuilt"


def test_another_cli_version_is_not_used(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    stand_in(tools, "pulumi", '[ "$1" = version ] && echo v3.79.0')
    stand_in(tools, "pulumi-language-python", "exit 0")
    fake_go(tools, tmp_path)
    result = bootstrap(tmp_path, tools)
    # It went on to build: the stand-in go was asked, and failed the build.
    assert result.returncode != 0
    assert (tmp_path / "go-ran").exists(), result.stderr
    assert "build-engine: `go env GOPROXY` failed" in result.stderr, result.stderr


def test_no_engine_build_fails_instead_of_building(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    stand_in(tools, "pulumi", '[ "$1" = version ] && echo v3.79.0')
    stand_in(tools, "pulumi-language-python", "exit 0")
    fake_go(tools, tmp_path)
    result = bootstrap(tmp_path, tools, ENVSTACK_NO_ENGINE_BUILD="1")
    assert result.returncode != 0
    assert "ENVSTACK_NO_ENGINE_BUILD=1 forbids building one" in result.stderr, result.stderr
    assert "build-engine" not in result.stderr, result.stderr
    assert not (tmp_path / "go-ran").exists()
