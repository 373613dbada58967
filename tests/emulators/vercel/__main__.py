"""Run the local Vercel API (and GitHub API) by hand or for benchmarks:

    python -m tests.emulators.vercel --port 4100

prints the URLs, a team and tokens, then serves until SIGTERM or Ctrl-C. Admin routes:
POST /_emulator/tenants (a new team and token), GET/POST/DELETE /_emulator/config
(settings), GET /_emulator/calls, POST/DELETE /_emulator/faults, GET /_emulator/violations,
GET /_emulator/env-vars?project=..&teamId=.. (values as stored, for checks).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from tests.emulators.vercel.process import EmulateUnavailable
from tests.emulators.vercel.stack import EmulateStack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.vercel", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=0, help="Vercel API port (0: any free one)")
    parser.add_argument("--github-port", type=int, default=0, help="GitHub API port (0: any free one)")
    args = parser.parse_args(argv)
    try:
        stack = EmulateStack.start(args.host, args.port, args.github_port)
    except EmulateUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        token, tenant, team = stack.vercel.add_tenant()
        github_token = stack.github.add_token(tenant.name)
        print(
            json.dumps(
                {
                    "vercel": {
                        "url": stack.vercel_server.url,
                        "token": token,
                        "teamId": team["id"],
                        "teamSlug": team["slug"],
                    },
                    "github": {"url": stack.github_server.url, "token": github_token, "owner": stack.github.login},
                }
            ),
            flush=True,
        )
        while not stopping.wait(0.5):
            if not stack.process.running:
                print("error: emulate stopped", file=sys.stderr)
                return 1
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
