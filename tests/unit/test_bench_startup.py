"""What the benchmark says starting costs: a `pulumi` process (bench/suite.py) and the
dynamic-provider process every engine operation starts (bench/noop.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench import suite
from bench.noop import provider_start_seconds
from bench.runs import RunFailed
from tests.integration.workspace import require_engine

# Three lines of Go's `GODEBUG=inittrace=1` output, as the engine writes them to standard error.
TRACE = (
    "init github.com/nbutton23/zxcvbn-go/frequency @12 ms, 42 ms clock, 10262960 bytes, 85370 allocs\n"
    "init github.com/pulumi/pulumi/sdk/v3/go/common/workspace @60 ms, 11 ms clock, 1194720 bytes, 15744 allocs\n"
    "init github.com/ccojocar/zxcvbn-go/matching @70 ms, 0.5 ms clock, 8219560 bytes, 907 allocs\n"
)


def test_the_init_trace_is_read_package_by_package() -> None:
    assert suite._INIT.findall(TRACE) == [
        ("github.com/nbutton23/zxcvbn-go/frequency", "42"),
        ("github.com/pulumi/pulumi/sdk/v3/go/common/workspace", "11"),
        ("github.com/ccojocar/zxcvbn-go/matching", "0.5"),
    ]


def test_the_suite_gogc_is_the_one_the_test_script_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert suite.suite_gogc() == "400"  # what scripts/test.sh says today
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "test.sh").write_text("#!/usr/bin/env bash\nexport GOGC=${GOGC:-250}\n")
    monkeypatch.setattr(suite, "ROOT", tmp_path)
    assert suite.suite_gogc() == "250"
    (tmp_path / "scripts" / "test.sh").write_text("#!/usr/bin/env bash\n")
    with pytest.raises(RunFailed, match="GOGC"):
        suite.suite_gogc()


def test_the_engine_start_is_measured_from_a_real_pulumi() -> None:
    require_engine()
    start = suite.engine_start(suite.suite_gogc(), runs=1)
    # The engine links zxcvbn-go (pkg/cmd/pulumi/config/config.go): its initialization is traced.
    assert 0 < start.password_strength < start.init
    assert start.cpu > 0


def _provider_processes() -> list[str]:
    """Dynamic-provider processes given the measurement's own engine address (no engine uses it)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue  # gone while listed
        if b"pulumi.dynamic" in argv and b"127.0.0.1:1" in argv:
            found.append(cmdline.parent.name)
    return found


def test_the_provider_start_leaves_no_provider_process_behind() -> None:
    require_engine()
    assert provider_start_seconds() > 0
    # The launcher is a shell script: its Python child must be stopped with it, not left waiting.
    deadline = time.monotonic() + 10
    while _provider_processes():
        assert time.monotonic() < deadline, f"provider processes left running: {_provider_processes()}"
        time.sleep(0.05)
