"""An app a local Vercel deployment can serve: the database health endpoint of docs/app-health.md.

    configure(serve_app="tests.emulators.vercel.example_health_app")

Like a deployment's function, it reads its configuration from its environment (the
deployment's variables) and serves

    GET /api/health/database   200 {"status": "ok", "database": {"host", "name", "ref"}} once a
                               query through POSTGRES_URL worked, on a new connection each time;
                               503 {"status": "error", "error": ...} when it did not.

``host`` is the host it connected to, ``name`` the database's name as the server says it,
``ref`` the Supabase project ref the connection names (the pooler's user ``postgres.<ref>``,
or the ``db.<ref>.`` host), null for another database. The password never leaves the app.

It serves on the listening socket the local edge hands it (serving.py: the descriptor number
is in ENVSTACK_LISTEN_FD).
"""

from __future__ import annotations

import json
import os
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg

PATH = "/api/health/database"
# Query parameters Supabase and Prisma add to a connection URL that libpq refuses.
_NOT_LIBPQ = frozenset({"supa", "pgbouncer", "connection_limit", "pool_timeout", "schema"})
_DIRECT_HOST = re.compile(r"^db\.([a-z0-9]+)\.")


def _connectable(url: str) -> str:
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in _NOT_LIBPQ]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def _ref(host: str, user: str) -> str | None:
    if "." in user:
        return user.split(".", 1)[1] or None
    found = _DIRECT_HOST.match(host)
    return found.group(1) if found else None


def health(url: str | None) -> tuple[int, dict[str, Any]]:
    if not url:
        return 503, {"status": "error", "error": "POSTGRES_URL is not set"}
    parts = urlsplit(url)
    secrets = [s for s in (parts.password, unquote(parts.password or "")) if s]
    try:
        with psycopg.connect(_connectable(url), connect_timeout=5, prepare_threshold=None) as conn:
            row = conn.execute("select current_database()").fetchone()
            host = conn.info.host
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in secrets:
            message = message.replace(secret, "***")
        return 503, {"status": "error", "error": f"could not reach the database: {message}"}
    name = str(row[0]) if row else ""
    user = unquote(parts.username or "")
    return 200, {"status": "ok", "database": {"host": host, "name": name, "ref": _ref(host, user)}}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._send(404, {"status": "error", "error": "not found"})
            return
        self._send(*health(os.environ.get("POSTGRES_URL")))

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


class Server(ThreadingHTTPServer):
    daemon_threads = True


def main() -> None:
    listener = socket.socket(fileno=int(os.environ["ENVSTACK_LISTEN_FD"]))
    server = Server(listener.getsockname()[:2], Handler, bind_and_activate=False)
    server.socket = listener
    server.serve_forever()


if __name__ == "__main__":
    main()
