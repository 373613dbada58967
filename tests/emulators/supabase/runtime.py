"""Where the emulator keeps the files its PostgreSQL and PgBouncer processes read.

Not under the state directory a test gives it: pytest resets /tmp/pytest-of-<user> to
mode 0700 whenever any pytest session starts on the machine, and from then on the
service user (``postgres``, when we are root) could no longer reach a certificate or a
PgBouncer config below it. So: a private directory in RAM (/dev/shm: every project copies
~30 MB, nothing needs to survive a reboot), else ``<state dir>/runtime``. Unix sockets need
a short path (~107 bytes at most), so they get one of their own when the root is deep.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

_SHM = Path("/dev/shm")  # noqa: S108  (only private mkdtemp directories inside it)
_SHORT_TMP = Path("/tmp")  # noqa: S108  (likewise)
_SHM_NEEDED = 2 << 30
_SOCKET_ROOM = 50  # characters left for "/<ref>/.s.PGSQL.5432" within a socket path


@dataclass(frozen=True)
class Runtime:
    root: Path
    sockets: Path

    @classmethod
    def make(cls, state_dir: Path) -> Runtime:
        if _SHM.is_dir() and os.access(_SHM, os.W_OK) and shutil.disk_usage(_SHM).free > _SHM_NEEDED:
            root = Path(tempfile.mkdtemp(prefix="sbe-", dir=_SHM))
        else:
            root = state_dir / "runtime"
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
        sockets = root / "s"
        if len(str(sockets)) > 107 - _SOCKET_ROOM:
            sockets = Path(tempfile.mkdtemp(prefix="sbe-", dir=_SHORT_TMP if _SHORT_TMP.is_dir() else None))
        return cls(root, sockets)

    def remove(self) -> None:
        shutil.rmtree(self.sockets, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
