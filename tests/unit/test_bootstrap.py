"""scripts/bootstrap.sh's choices: the engine (an installed pulumi of the pinned CLI version, or a
build) and the CPython .venv is made from (scripts/venv-python.sh).

Stand-in `pulumi`, `pulumi-language-python` and `go` executables record whether they ran, so no
engine is built here. The venv step is the checkout's own (already installed: quick).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def venv_python(tools: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/venv-python.sh with only ``tools`` on PATH (bash is run by its absolute path)."""
    environment = {
        **{k: v for k, v in os.environ.items() if k not in {"ENVSTACK_PYTHON", "ENVSTACK_SYSTEM_PYTHON"}},
        "PATH": str(tools),
        **env,
    }
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "venv-python.sh")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# What a stand-in interpreter runs before the script's `-c` check to look like an older or a
# stripped one; without any, it is this test's own CPython (3.11+, with venv and ensurepip).
PRETEND = {
    "Python 3.10": "sys.version_info = (3, 10, 12, 'final', 0)",
    "no ensurepip": "sys.modules['ensurepip'] = None",  # as Debian without python3-venv
}


def a_python(tools: Path, name: str, pretend: str = "") -> Path:
    """A stand-in interpreter that answers `-c CODE` as this test's CPython would, after PRETEND."""
    setup = f"import sys; {PRETEND[pretend]}; " if pretend else ""
    stand_in(tools, name, f'[ "$1" = -c ] && exec "{sys.executable}" -c "{setup}$2"; exec "{sys.executable}" "$@"')
    return tools / name


def test_the_distributions_python_is_chosen_over_python3_on_path(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    a_python(tools, "python3")
    system = a_python(tmp_path / "usr-bin", "python3")
    result = venv_python(tools, ENVSTACK_SYSTEM_PYTHON=str(system))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(system)


@pytest.mark.parametrize("pretend", ["Python 3.10", "no ensurepip"])
def test_python3_on_path_when_the_distributions_is_too_old_or_cannot_make_a_venv(tmp_path: Path, pretend: str) -> None:
    tools = tmp_path / "tools"
    on_path = a_python(tools, "python3")
    system = a_python(tmp_path / "usr-bin", "python3", pretend)
    result = venv_python(tools, ENVSTACK_SYSTEM_PYTHON=str(system))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(on_path)


def test_envstack_python_wins_and_must_be_a_command(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    a_python(tools, "python3")
    chosen = a_python(tools, "python3.13")
    system = a_python(tmp_path / "usr-bin", "python3")
    result = venv_python(tools, ENVSTACK_PYTHON="python3.13", ENVSTACK_SYSTEM_PYTHON=str(system))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(chosen)

    missing = venv_python(tools, ENVSTACK_PYTHON="python9", ENVSTACK_SYSTEM_PYTHON=str(system))
    assert missing.returncode != 0
    assert missing.stdout == ""
    assert "ENVSTACK_PYTHON=python9 is not a command" in missing.stderr


def test_no_python_at_all_is_named(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    result = venv_python(tools, ENVSTACK_SYSTEM_PYTHON=str(tmp_path / "absent"))
    assert result.returncode != 0
    assert result.stdout == ""
    assert "no python3 on PATH (envstack needs CPython 3.11 or newer)" in result.stderr
