"""What a killed `pulumi up` leaves behind, and how to clear it safely.

A `pulumi` process that dies without cleaning up (SIGKILL, the OOM killer, a lost machine)
leaves three things (Pulumi 3.79.0, checked in its source and by tests/integration; the
lock layout and the file backend's write order are the same in 3.276.0's source, and
tests/integration/test_interrupted_up.py passes on the 3.167.0 and 3.276.0 CLIs too):

- its lock file in a self-managed backend, ``.pulumi/locks/organization/<project>/<stack>/
  <uuid>.json`` with the pid, user and host that took it: every later `up`, `refresh` or
  `destroy` of the stack stops with "the stack is currently locked";
- the operations it had begun, in the state's ``pending_operations``: later updates warn
  about them each time, and pending creates stay until removed (`pulumi refresh` only
  clears those interactively);
- its plugins: the engine starts each language host and resource provider in a process
  group of its own, so they outlive it. The language host exits within five minutes (it
  checks on the engine); the Python dynamic-provider process never does, and finishes
  whatever call it was making first, with nobody left to record the result;
- sometimes, a metadata file cut short: the file backend (gocloud.dev's fileblob 0.27)
  rewrites each file's ``.attrs`` sidecar in place, truncate then write, before it writes
  the file itself through a temporary file and a rename. A kill in between leaves the
  sidecar empty, and every later command on the stack stops with "failed to load
  checkpoint: EOF" (`pulumi stack ls` with a bare "EOF").

Clearing each is safe for envstack's resources: a create that was interrupted is adopted by
the next one (the Supabase project and its API keys by name, Vercel variables by the stack's
comment, the Vercel project and the database's login roles by name; migrations are recorded
per file), so forgetting a pending operation loses nothing. A missing sidecar reads as default
metadata, so removing a damaged one loses nothing either. A lock is removed only when the process that
holds it is gone from this machine; anything else needs ``force`` and a person's judgement.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import socket
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# Arguments by which the engine tells its plugins where it listens ("127.0.0.1:34637").
_ENGINE_ADDRESS = re.compile(r"^127\.0\.0\.1:(\d{1,5})$")
_PLUGIN_NAMES = ("pulumi-language-", "pulumi-resource-", "pulumi-analyzer-", "pulumi.dynamic")


@dataclass(frozen=True)
class Lock:
    """One lock file of a stack in a self-managed backend."""

    path: Path
    pid: int | None
    username: str
    hostname: str
    taken: str  # when, as the file says (RFC 3339)

    @property
    def here(self) -> bool:
        return self.hostname == socket.gethostname()

    @property
    def holder_alive(self) -> bool:
        """Whether the process that took the lock still runs (only knowable on its machine)."""
        return self.here and self.pid is not None and _alive(self.pid)

    @property
    def stale(self) -> bool:
        return self.here and not self.holder_alive

    def describe(self) -> str:
        return f"{self.path.name}, taken by {self.username}@{self.hostname} (pid {self.pid}) at {self.taken}"


@dataclass(frozen=True)
class Orphan:
    """A plugin process whose engine is gone."""

    pid: int
    pgid: int
    command: str


def backend_directory(url: str) -> Path | None:
    """The directory of a ``file://`` backend URL; None for any other kind of backend."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    path = unquote(parts.netloc + parts.path)
    return Path(os.path.expanduser(path or "~"))


def stack_locks(backend: Path, project: str, stack: str) -> list[Lock]:
    """The lock files of ``stack`` (both backend layouts Pulumi 3.79.0 to 3.276.0 write)."""
    locks = backend / ".pulumi" / "locks"
    found: list[Lock] = []
    for directory in (locks / "organization" / project / stack, locks / stack):
        for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
            found.append(_read_lock(path))
    return found


def _read_lock(path: Path) -> Lock:
    try:
        content: Any = json.loads(path.read_text())
    except (OSError, ValueError):
        content = {}
    if not isinstance(content, Mapping):
        content = {}
    pid = content.get("pid")
    return Lock(
        path=path,
        pid=pid if isinstance(pid, int) else None,
        username=str(content.get("username") or "?"),
        hostname=str(content.get("hostname") or "?"),
        taken=str(content.get("timestamp") or "?"),
    )


def remove_lock(lock: Lock) -> None:
    for path in (lock.path, lock.path.with_name(lock.path.name + ".attrs")):
        path.unlink(missing_ok=True)


def damaged_metadata(backend: Path, project: str, stack: str) -> list[Path]:
    """The ``.attrs`` sidecars of the stack's files (and of the backend's own) that do not
    hold a JSON object, as a write killed halfway leaves them."""
    root = backend / ".pulumi"
    found = [root / "meta.yaml.attrs"]
    for stacks in (root / "stacks" / project, root / "stacks"):
        found += stacks.glob(f"{glob.escape(stack)}.json*.attrs")  # the checkpoint and its .bak
    for kind in (root / "locks", root / "history", root / "backups"):
        for directory in (kind / "organization" / project / stack, kind / project / stack, kind / stack):
            found += directory.glob("*.attrs")
    return sorted(path for path in set(found) if path.is_file() and not _holds_json_object(path))


def _holds_json_object(path: Path) -> bool:
    try:
        return isinstance(json.loads(path.read_bytes()), dict)
    except (OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs and may be a `pulumi` (a recycled pid running something else is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # cannot tell: assume it is the run
    return b"pulumi" in command


def pending_operations(deployment: Mapping[str, Any]) -> list[str]:
    """The state's interrupted operations, one line each ("creating <urn>")."""
    described = []
    for operation in deployment.get("pending_operations") or []:
        resource = operation.get("resource") or {}
        described.append(f"{operation.get('type', '?')} {resource.get('urn', '?')}")
    return described


def without_pending_operations(exported: Mapping[str, Any]) -> dict[str, Any]:
    """An exported stack (``pulumi stack export``) with its pending operations removed."""
    deployment = dict(exported.get("deployment") or {})
    deployment.pop("pending_operations", None)
    return {**exported, "deployment": deployment}


def orphans(project_root: Path, proc: Path = Path("/proc")) -> list[Orphan]:
    """Plugin processes started for ``project_root`` by an engine that no longer listens.

    Only processes of this user, running in the project directory, whose command line names
    a Pulumi plugin and an engine address nothing answers on any more. Linux only (/proc);
    elsewhere the list is empty.
    """
    root = project_root.resolve()
    found: list[Orphan] = []
    dead: dict[int, bool] = {}
    for pid, argv, cwd, pgid in _processes(proc):
        if cwd != root or not any(name in arg for arg in argv for name in _PLUGIN_NAMES):
            continue
        ports = [int(m.group(1)) for arg in argv if (m := _ENGINE_ADDRESS.match(arg))]
        if not ports:
            continue
        port = ports[-1]  # the engine's; a language host also names the resource monitor first
        if port not in dead:
            dead[port] = not _listening(port)
        if dead[port]:
            found.append(Orphan(pid, pgid, " ".join(argv)[:200]))
    return found


def _processes(proc: Path) -> Iterator[tuple[int, list[str], Path | None, int]]:
    uid = os.getuid()
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            argv = [a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            cwd = Path(os.readlink(entry / "cwd")).resolve()
            # The command name in "pid (comm) state ppid pgid ..." may hold spaces or parentheses.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
        yield int(entry.name), argv, cwd, int(fields[2])


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def stop(found: Iterable[Orphan]) -> list[int]:
    """SIGKILL each orphan's process group (a provider's commands, such as migrations, included)."""
    stopped: list[int] = []
    for group in sorted({o.pgid for o in found}):
        if group <= 1 or group == os.getpgid(0):
            continue  # never our own group, never init's
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            continue
        stopped.append(group)
    return stopped
