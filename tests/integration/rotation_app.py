"""A small app that behaves like one Vercel deployment of the Hermes site, for the rotation load test.

    python -m tests.integration.rotation_app --port 8123

It reads its configuration from the environment once, at start, as a deployment's functions
do (the deployment's variables, with SUPABASE_URL pointed at the local project API), and
serves

    GET /api/health/database   200 {"ok": true, ...} when every check passes, else 503 {"ok": false,
                               "check": ..., "error": ...}:
        1. a query through POSTGRES_URL (the transaction pooler), on a new connection each time,
           so the deployment's password is proven on every request;
        2. a signed-in user's access token (signing in again with SUPABASE_PUBLISHABLE_KEY when it
           is past half its life), verified locally against the project's JWKS as apps should
           (cached for JWKS_TTL_SECONDS and not refetched on a miss, like an edge cache), unless
           it is an HS256 token from the legacy secret, which only the server can verify;
        3. GET /auth/v1/user with the publishable key and that token;
        4. GET /rest/v1/ with SUPABASE_SECRET_KEY.

Nothing secret is printed: errors go through the redactor.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg

from envstack.db.connect import libpq_url
from envstack.redaction import redact
from tests.emulators.supabase import tokens


class CheckFailed(Exception):
    def __init__(self, check: str, error: str) -> None:
        super().__init__(f"{check}: {error}")
        self.check, self.error = check, error


class App:
    def __init__(self, environ: dict[str, str]) -> None:
        self.database_url = libpq_url(environ["POSTGRES_URL"])
        self.api = environ["SUPABASE_URL"].rstrip("/")
        self.publishable = environ["SUPABASE_PUBLISHABLE_KEY"]
        self.secret_key = environ["SUPABASE_SECRET_KEY"]
        self.jwks_ttl = float(environ.get("JWKS_TTL_SECONDS", "1"))
        self.secrets = [v for k, v in environ.items() if k.startswith(("POSTGRES", "SUPABASE", "JWT"))]
        self.http = httpx.Client(timeout=10)
        self._lock = threading.Lock()
        self._token: tuple[str, float, float] | None = None  # token, issued, expires
        self._jwks: tuple[dict[str, Any], float] | None = None  # kid -> jwk, fetched at

    def health(self) -> dict[str, Any]:
        try:
            with psycopg.connect(self.database_url, connect_timeout=5, prepare_threshold=None) as conn:
                row = conn.execute("SELECT current_user, count(*) FROM public.hermes_leads").fetchone()
        except psycopg.Error as exc:
            raise CheckFailed("database", str(exc)) from None
        assert row is not None
        token = self.user_token()
        kid = self.verify_locally(token)
        user = self.http.get(
            f"{self.api}/auth/v1/user", headers={"apikey": self.publishable, "Authorization": f"Bearer {token}"}
        )
        if user.status_code != 200:
            raise CheckFailed("auth user", f"{user.status_code} {user.text}")
        data = self.http.get(f"{self.api}/rest/v1/", headers={"apikey": self.secret_key})
        if data.status_code != 200:
            raise CheckFailed("data api", f"{data.status_code} {data.text}")
        return {"ok": True, "db_user": row[0], "leads": row[1], "kid": kid}

    def user_token(self) -> str:
        with self._lock:
            now = time.time()
            if self._token is not None and now < self._token[1] + (self._token[2] - self._token[1]) / 2:
                return self._token[0]
            answer = self.http.post(
                f"{self.api}/auth/v1/token",
                params={"grant_type": "password"},
                headers={"apikey": self.publishable},
                json={"email": "load@example.com", "password": "load-test"},
            )
            if answer.status_code != 200:
                raise CheckFailed("sign in", f"{answer.status_code} {answer.text}")
            body = answer.json()
            self._token = (body["access_token"], now, float(body["expires_at"]))
            return self._token[0]

    def verify_locally(self, token: str) -> str | None:
        header = tokens.token_header(token)
        kid = header.get("kid")
        with self._lock:
            # Refreshed on its own schedule, not when a token names an unknown key: a cache
            # that is up to JWKS_TTL_SECONDS old, as behind a CDN.
            if self._jwks is None or time.monotonic() - self._jwks[1] > self.jwks_ttl:
                listed = self.http.get(f"{self.api}/auth/v1/.well-known/jwks.json").json()["keys"]
                self._jwks = ({k["kid"]: k for k in listed}, time.monotonic())
            jwk = self._jwks[0].get(str(kid))
        if header.get("alg") == "HS256":
            return kid  # the legacy secret's tokens: only /auth/v1/user can verify them
        if jwk is None:
            raise CheckFailed("jwks", f"key {kid} is not in the cached JWKS")
        try:
            tokens.verify_jwt(token, jwk=jwk)
        except ValueError as exc:
            raise CheckFailed("jwks", str(exc)) from None
        return str(kid)


def serve(app: App, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path != "/api/health/database":
                self._send(404, {"ok": False, "error": "not found"})
                return
            try:
                self._send(200, app.health())
            except CheckFailed as failed:
                self._send(503, {"ok": False, "check": failed.check, "error": redact(failed.error, app.secrets)})
            except Exception as exc:
                self._send(503, {"ok": False, "check": "app", "error": redact(repr(exc), app.secrets)})

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

    return Server(("127.0.0.1", port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = serve(App(dict(os.environ)), args.port)
    print(f"serving on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
