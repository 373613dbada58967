"""`python -m envstack recover --stack NAME`: make a stack usable again after a killed `pulumi up`.

In order (``envstack.ops.recovery`` says what each leftover is and why clearing it is safe):

0. in a file backend, metadata files a killed write cut short are removed first, because
   until then Pulumi cannot even list the stack;
1. plugin processes the dead engine left running in this project are stopped, so a call
   they were still finishing cannot race the next run;
2. the stack's lock is removed when the process that took it is gone from this machine; a
   lock held by a live process, or taken on another machine, is left alone (exit 1) unless
   ``--force``: only a person can know that run is really over;
3. interrupted operations are removed from the state (``pulumi stack export``, then
   ``import``: the state stays encrypted, nothing is sent to Supabase or Vercel).

Then ``pulumi up`` picks up where the killed run stopped. Running it when nothing is left
over changes nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from envstack import errors
from envstack.ops import automation, recovery


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stack", required=True, help="the stack whose `pulumi up` was killed")
    parser.add_argument(
        "--force",
        action="store_true",
        help="also remove a lock of a process that still runs or of another machine (be sure that run is over)",
    )
    parser.add_argument(
        "--if-exists", action="store_true", help="do nothing when the stack does not exist (yet), instead of failing"
    )
    parser.add_argument("--root", type=Path, default=Path.cwd(), help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    root: Path = args.root.resolve()
    name: str = args.stack
    out = automation.printer(f"[{name}] ")
    workspace = automation.workspace(root)
    url = os.environ.get("PULUMI_BACKEND_URL") or workspace.who_am_i().url or ""
    backend = recovery.backend_directory(url)
    project = workspace.project_settings().name
    if backend is not None:
        for path in recovery.damaged_metadata(backend, project, name):
            path.unlink(missing_ok=True)
            out(f"removed {path.relative_to(backend)}, a metadata file a killed write left empty or cut short")
    if name not in automation.stack_names(root):
        if args.if_exists:
            out(f"no stack {name} yet: nothing to recover")
            return 0
        raise errors.Refused(f"there is no stack {name} in this backend")

    stopped = recovery.stop(recovery.orphans(root))
    if stopped:
        out(f"stopped {len(stopped)} plugin process groups a killed run left behind")

    if backend is None:
        _other_backend(root, name, args.force, out)
    else:
        _clear_locks(recovery.stack_locks(backend, project, name), args.force, out)

    exported = json.loads(automation.run_pulumi(root, ["stack", "export", "--stack", name]))
    pending = recovery.pending_operations(exported.get("deployment") or {})
    if pending:
        _import(root, name, recovery.without_pending_operations(exported))
        out(f"removed {len(pending)} interrupted operations from the state:")
        for line in pending:
            out(f"  {line}")
    if not (stopped or pending):
        out("no interrupted operations in the state")
    out(f"ready: `pulumi up --stack {name}` finishes what the killed run started")
    return 0


def _clear_locks(locks: list[recovery.Lock], force: bool, out: automation.Printer) -> None:
    kept = []
    for lock in locks:
        if lock.stale or force:
            recovery.remove_lock(lock)
            why = "its process is gone" if lock.stale else "--force"
            out(f"removed the lock {lock.describe()}: {why}")
        else:
            kept.append(lock)
    if not locks:
        out("the stack is not locked")
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
