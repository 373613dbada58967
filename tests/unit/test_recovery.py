"""What `python -m envstack recover` looks at: lock files, pending operations, orphaned plugins."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from envstack.ops import recovery


def write_lock(directory: Path, *, pid: int, hostname: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"lock-{pid}-{hostname}.json"
    content = {"pid": pid, "username": "someone", "hostname": hostname, "timestamp": "2026-11-23T11:32:51Z"}
    path.write_text(json.dumps(content))
    path.with_name(path.name + ".attrs").write_text("{}")
    return path


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_backend_directory_only_for_file_backends(tmp_path: Path) -> None:
    assert recovery.backend_directory(f"file://{tmp_path}") == tmp_path
    assert recovery.backend_directory(f"file://{tmp_path}?no_tmp_dir=true") == tmp_path
    assert recovery.backend_directory("file://~") == Path.home()
    assert recovery.backend_directory("s3://bucket/state") is None
    assert recovery.backend_directory("https://api.pulumi.com") is None


def a_running_pulumi() -> subprocess.Popen[bytes]:
    """A process whose command line says pulumi, standing in for a run that is still going."""
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "pulumi", "up"])


def test_locks_are_stale_only_when_their_process_is_gone_from_this_machine(tmp_path: Path) -> None:
    here = socket.gethostname()
    locks = tmp_path / ".pulumi" / "locks" / "organization" / "envstack" / "staging"
    running = a_running_pulumi()
    try:
        gone = write_lock(locks, pid=dead_pid(), hostname=here)
        live = write_lock(locks, pid=running.pid, hostname=here)
        recycled = write_lock(locks, pid=os.getpid(), hostname=here)  # alive, but no pulumi
        elsewhere = write_lock(locks, pid=dead_pid(), hostname=here + "-other")
        write_lock(tmp_path / ".pulumi" / "locks" / "organization" / "envstack" / "production", pid=1, hostname=here)
        found = {lock.path: lock for lock in recovery.stack_locks(tmp_path, "envstack", "staging")}
        assert set(found) == {gone, live, recycled, elsewhere}, "only the stack's own locks"
        stale = [found[path].stale for path in (gone, live, recycled, elsewhere)]
        assert stale == [True, False, True, False]
        assert found[live].holder_alive
        assert not found[elsewhere].holder_alive, "another machine's process cannot be checked from here"
    finally:
        running.kill()
        running.wait()
    recovery.remove_lock(found[gone])
    assert not gone.exists()
    assert not gone.with_name(gone.name + ".attrs").exists()


def test_the_legacy_backend_layout_is_read_too(tmp_path: Path) -> None:
    lock = write_lock(tmp_path / ".pulumi" / "locks" / "staging", pid=dead_pid(), hostname=socket.gethostname())
    assert [found.path for found in recovery.stack_locks(tmp_path, "envstack", "staging")] == [lock]


def test_pending_operations_are_listed_and_removed() -> None:
    exported = {
        "version": 3,
        "deployment": {
            "resources": [{"urn": "urn:a"}],
            "pending_operations": [{"type": "creating", "resource": {"urn": "urn:b"}}],
        },
    }
    assert recovery.pending_operations(exported["deployment"]) == ["creating urn:b"]  # type: ignore[arg-type]
    cleared = recovery.without_pending_operations(exported)
    assert cleared == {"version": 3, "deployment": {"resources": [{"urn": "urn:a"}]}}
    assert recovery.pending_operations(cleared["deployment"]) == []


def test_interrupted_creates_can_be_kept_for_the_teardown() -> None:
    operations = [
        {"type": "creating", "resource": {"urn": "urn:project"}},
        {"type": "updating", "resource": {"urn": "urn:variables"}},
        {"type": "deleting", "resource": {"urn": "urn:old-key"}},
    ]
    exported = {"version": 3, "deployment": {"resources": [{"urn": "urn:a"}], "pending_operations": operations}}
    assert recovery.pending_creates(exported["deployment"]) == ["urn:project"]  # type: ignore[arg-type]
    kept = recovery.without_pending_operations(exported, keep_creates=True)
    assert kept["deployment"]["pending_operations"] == [operations[0]]
    assert recovery.pending_creates(kept["deployment"]) == ["urn:project"]
    assert "pending_operations" not in recovery.without_pending_operations(exported)["deployment"]


def fake_plugin(cwd: Path, port: int) -> subprocess.Popen[bytes]:
    """A process that looks like a dynamic provider the engine at ``port`` started."""
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)", "pulumi.dynamic", f"127.0.0.1:{port}"],
        cwd=cwd,
        start_new_session=True,
    )


def test_plugins_whose_engine_is_gone_are_found_and_stopped(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    engine = socket.socket()
    engine.bind(("127.0.0.1", 0))
    engine.listen()
    port = engine.getsockname()[1]
    plugin, unrelated = fake_plugin(project, port), fake_plugin(elsewhere, port)
    try:
        deadline = time.monotonic() + 30
        while not Path(f"/proc/{plugin.pid}/cmdline").read_bytes().count(b"pulumi.dynamic"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert recovery.orphans(project) == [], "its engine still listens"
        engine.close()
        found = recovery.orphans(project)
        assert [o.pid for o in found] == [plugin.pid], "only this project's plugin"
        assert recovery.stop(found) == [plugin.pid]
        assert plugin.wait(timeout=30) == -9
        assert unrelated.poll() is None, "another directory's process is left alone"
    finally:
        engine.close()
        for proc in (plugin, unrelated):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_metadata_a_killed_write_cut_short_is_found(tmp_path: Path) -> None:
    root = tmp_path / ".pulumi"
    files = {
        "stacks/envstack/staging.json.attrs": "",  # truncated before the write: "EOF"
        "stacks/envstack/staging.json.bak.attrs": '{"user.content_type": "applicat',  # cut short
        "history/envstack/staging/staging-1.history.json.attrs": "",
        "backups/envstack/staging/staging.1.json.attrs": "[]",
        "locks/organization/envstack/staging/x.json.attrs": "",
        "meta.yaml.attrs": "",
        "stacks/staging.json.attrs": "",  # the legacy layout
        "stacks/envstack/production.json.attrs": "",  # another stack's: not ours to touch
        "stacks/envstack/staging-old.json.attrs": "",
        "history/envstack/staging/staging-2.history.json.attrs": '{"user.content_type": "application/json"}',
        "stacks/envstack/staging.json": "",  # the checkpoint itself is written atomically
    }
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(content)
    damaged = {str(path.relative_to(root)) for path in recovery.damaged_metadata(tmp_path, "envstack", "staging")}
    assert damaged == {
        "stacks/envstack/staging.json.attrs",
        "stacks/envstack/staging.json.bak.attrs",
        "history/envstack/staging/staging-1.history.json.attrs",
        "backups/envstack/staging/staging.1.json.attrs",
        "locks/organization/envstack/staging/x.json.attrs",
        "meta.yaml.attrs",
        "stacks/staging.json.attrs",
    }
    assert recovery.damaged_metadata(tmp_path / "nothing-here", "envstack", "staging") == []
