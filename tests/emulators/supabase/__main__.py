"""Run the emulator on its own (benchmarks, manual use):

    python -m tests.emulators.supabase --port 54400

prints shell assignments (the API URL, a tenant's token and organization), then serves until
SIGTERM or Ctrl-C and stops every process it started. Outside a test session its projects'
hosts are loopback addresses rather than names (see host_names.py). More tenants and faults over
HTTP: see tests/emulators/supabase/admin_routes.py.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from tests.emulators.supabase.emulator import DEFAULT_RATE_LIMIT, DEFAULT_RATE_WINDOW, SupabaseEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.emulators.supabase", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="HTTP port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve the API on")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where clusters and pooler files live (default: a new temporary directory)",
    )
    parser.add_argument("--rate-limit", type=int, default=DEFAULT_RATE_LIMIT)
    parser.add_argument("--rate-window", type=float, default=DEFAULT_RATE_WINDOW)
    parser.add_argument("--signing-key-interval", type=float, default=0.0, help="seconds (the real API: ~300)")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="supabase-emulator-"))
    emulator = SupabaseEmulator(
        state_dir.resolve(),
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        rate_window=args.rate_window,
    )
    try:
        emulator.start()
        emulator.configure(signing_key_interval=args.signing_key_interval)
        tenant = emulator.add_tenant()
        print(f"SUPABASE_API_URL={emulator.url}", flush=True)
        print(f"SUPABASE_ACCESS_TOKEN={tenant.token}", flush=True)
        print(f"SUPABASE_ORGANIZATION={tenant.organization.slug}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        if args.state_dir is None:
            shutil.rmtree(state_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
