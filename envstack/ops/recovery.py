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
per file; a read replica in an adopted project only once named, which the next run's refusal
spells out, since nothing else tells it from someone else's), so forgetting a pending operation
loses nothing, as long as an `up` comes next: before a
teardown, interrupted creates are kept (``keep_creates``) for `pr down` to finish, since a
destroy takes only what the state holds. A missing sidecar reads as default
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
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from envstack import errors
from envstack.ops import automation

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


def pending_creates(deployment: Mapping[str, Any]) -> list[str]:
    """The URNs of the creates an interrupted run began: each may have made something that
    no state records, which only running the create again (it finds what it made) can tell."""
    return [
        str((operation.get("resource") or {}).get("urn"))
        for operation in deployment.get("pending_operations") or []
        if operation.get("type") == "creating"
    ]


def live_resources(deployment: Mapping[str, Any]) -> set[str]:
    """The URNs of the state's resources that stand: not an old one a replacement will delete
    (``delete``), nor one kept only until its replacement exists (``pendingReplacement``)."""
    return {
        str(resource.get("urn"))
        for resource in deployment.get("resources") or []
        if not resource.get("delete") and not resource.get("pendingReplacement")
    }


def without_pending_operations(exported: Mapping[str, Any], *, keep_creates: bool = False) -> dict[str, Any]:
    """An exported stack (``pulumi stack export``) with its pending operations removed (but its
    interrupted creates, with ``keep_creates``)."""
    deployment = dict(exported.get("deployment") or {})
    pending = deployment.pop("pending_operations", None) or []
    kept = [op for op in pending if keep_creates and op.get("type") == "creating"]
    if kept:
        deployment["pending_operations"] = kept
    return {**exported, "deployment": deployment}


def clear_pending_operations(root: Path, name: str, exported: Mapping[str, Any]) -> None:
    """Remove the pending operations of ``exported`` (the stack's own export) from its state."""
    _import(root, name, without_pending_operations(exported))


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


def recover(root: Path, name: str, *, force: bool, if_exists: bool, keep_creates: bool = False) -> int:
    """Clear what a killed `pulumi up` of stack ``name`` left, in this order; the exit status.

    0. in a file backend, nothing is touched while a lock says a run may still be going (step 2's
       refusal comes first); then metadata files a killed write cut short are removed, because
       until then Pulumi cannot even list the stack;
    1. plugin processes the dead engine left running in this project are stopped, so a call
       they were still finishing cannot race the next run;
    2. the stack's lock is removed when the process that took it is gone from this machine; a
       lock held by a live process, or taken on another machine, is left alone (Refused)
       unless ``force``: only a person can know that run is really over;
    3. interrupted operations are removed from the state (``pulumi stack export``, then
       ``import``: the state stays encrypted, nothing is sent to Supabase or Vercel). With
       ``keep_creates`` the interrupted creates stay: a teardown comes next (`pr down`), and
       a destroy alone would leave whatever they made behind, which `pr down` finds first.

    A stack that does not exist is Refused, or skipped with ``if_exists``.
    """
    out = automation.printer(f"[{name}] ")
    workspace = automation.workspace(root)
    url = os.environ.get("PULUMI_BACKEND_URL") or workspace.who_am_i().url or ""
    backend = backend_directory(url)
    project = workspace.project_settings().name
    if backend is not None:
        # A run still going may be rewriting a sidecar this instant (truncate, then write).
        _refuse_live_locks(stack_locks(backend, project, name), force)
        for path in damaged_metadata(backend, project, name):
            path.unlink(missing_ok=True)
            out(f"removed {path.relative_to(backend)}, a metadata file a killed write left empty or cut short")
    if name not in automation.stack_names(root):
        if if_exists:
            out(f"no stack {name} yet: nothing to recover")
            return 0
        raise errors.Refused(f"there is no stack {name} in this backend")

    stopped = stop(orphans(root))
    if stopped:
        out(f"stopped {len(stopped)} plugin process groups a killed run left behind")

    if backend is None:
        _other_backend(root, name, force, out)
    else:
        _clear_locks(stack_locks(backend, project, name), force, out)

    exported = json.loads(automation.run_pulumi(root, ["stack", "export", "--stack", name]))
    deployment = exported.get("deployment") or {}
    kept = pending_creates(deployment) if keep_creates else []
    pending = [line for line in pending_operations(deployment) if not (kept and line.startswith("creating "))]
    if pending:
        _import(root, name, without_pending_operations(exported, keep_creates=keep_creates))
        out(f"removed {len(pending)} interrupted operations from the state:")
        for line in pending:
            out(f"  {line}")
    if kept:
        out(f"kept {len(kept)} interrupted creates in the state, for `pr down` to find what they made:")
        for urn in kept:
            out(f"  creating {urn}")
    if not (stopped or pending or kept):
        out("no interrupted operations in the state")
    out(f"ready: `pulumi up --stack {name}` finishes what the killed run started")
    return 0


def _clear_locks(locks: list[Lock], force: bool, out: automation.Printer) -> None:
    _refuse_live_locks(locks, force)
    for lock in locks:
        remove_lock(lock)
        why = "its process is gone" if lock.stale else "--force"
        out(f"removed the lock {lock.describe()}: {why}")
    if not locks:
        out("the stack is not locked")


def _refuse_live_locks(locks: list[Lock], force: bool) -> None:
    """Refused when a lock may belong to a run still going (unless ``force``)."""
    kept = [lock for lock in locks if not (lock.stale or force)]
    if kept:
        reasons = "; ".join(
            f"{lock.describe()}: "
            + ("that process still runs" if lock.holder_alive else "taken on another machine, which cannot be checked")
            for lock in kept
        )
        raise errors.Refused(
            f"the stack is locked by a run that may still be going ({reasons}). Let it finish, or stop it and "
            "run this again; pass --force only once you are sure no run is going"
        )


def _other_backend(root: Path, name: str, force: bool, out: automation.Printer) -> None:
    if not force:
        out(
            "this backend keeps its locks where envstack cannot check who holds them: if `pulumi up` says the "
            f"stack is locked and you are sure no run is going, run this again with --force (`pulumi cancel --stack "
            f"{name}`)"
        )
        return
    automation.run_pulumi(root, ["cancel", "--yes", "--stack", name])
    out("removed the stack's locks (pulumi cancel)")


def _import(root: Path, name: str, exported: dict[str, object]) -> None:
    # The export holds secrets only encrypted; the file is private all the same.
    with tempfile.TemporaryDirectory(prefix="envstack-recover-") as directory:
        path = Path(directory) / "state.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps(exported))
        automation.run_pulumi(root, ["stack", "import", "--stack", name, "--file", str(path)])
