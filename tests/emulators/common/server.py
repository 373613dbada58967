"""The HTTP side every emulator shares: a threaded loopback server, faults, recording,
and validation of every answer against the official OpenAPI spec.

An emulator subclasses ``EmulatorApp`` and implements ``handle`` (and optionally
``admin``). Paths under ``/_emulator/`` are the test-only admin interface; everything
else is the emulated API, answered through ``dispatch``:

    fault "before"? -> handle() -> fault "after"? -> record the call -> check the answer
    against the spec (violations are collected; the fixtures fail a test that caused any).
"""

from __future__ import annotations

import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from envstack.db.pgserver import require_loopback
from tests.emulators.common.faults import FaultPlan, FaultRule
from tests.emulators.common.openapi import OpenApiSpec
from tests.emulators.common.recording import CallLog


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def json(self) -> Any:
        """The JSON body (None when empty); ValueError when it is not JSON."""
        if not self.body:
            return None
        return json.loads(self.body)

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable; bytes are sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    # Set by the app: the spec operation this answer is for (the answer is then checked
    # against that operation, whatever the path), whose token asked, and notes for the call log.
    operation_id: str | None = None
    tenant: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)


class Drop:
    """Close the connection without answering (a reset, from the client's side)."""


DROP = Drop()


class EmulatorApp:
    """Base of an emulated API. Subclasses implement ``handle``."""

    service = "emulator"
    # Statuses the real API is known to answer although the spec documents none for the
    # operation (status -> why); such answers are not counted as violations.
    tolerated_statuses: ClassVar[Mapping[int, str]] = {}
    # Operations real clients use that the spec does not document (operation id -> the JSON
    # schema of a 200 answer, taken from the client that reads it); their answers are
    # checked against that schema instead.
    unspecified_operations: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    # Request body fields whose values are secrets, kept out of violation reports.
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, spec: OpenApiSpec | None) -> None:
        self.spec = spec
        self.calls = CallLog()
        self.faults = FaultPlan()
        self._violations: list[str] = []
        self._violations_lock = threading.Lock()

    # -- what subclasses implement -------------------------------------------------------
    def handle(self, request: Request) -> Response | Drop:
        raise NotImplementedError

    def admin(self, request: Request, action: str) -> Response | None:
        """Emulator-specific admin routes (``/_emulator/<action>``); None when unknown."""
        return None

    def tenant_of(self, request: Request) -> str | None:
        """Whose call this is, for calls the handler never saw (faults); None: unknown."""
        return None

    # -- the shared pipeline ------------------------------------------------------------------
    def violations(self) -> list[str]:
        with self._violations_lock:
            return list(self._violations)

    def clear_violations(self) -> None:
        with self._violations_lock:
            self._violations.clear()

    def record_violations(self, request: Request, problems: list[str]) -> None:
        """Count problems as spec violations of this request (the test that caused it fails)."""
        if problems:
            with self._violations_lock:
                self._violations.extend(f"{request.method} {request.path}: {p}" for p in problems)

    def record_undocumented(self, request: Request, what: str) -> None:
        """A request for something the spec does not document: the real API may not have it
        (or may change it without notice), so a test whose code sends it fails, unless it
        is a real client's (a CLI's own calls are the CLI's business; see
        ``is_undocumented_request``)."""
        self.record_violations(request, [f"request to {what}: {UNDOCUMENTED}"])

    def request_problems(self, request: Request, operation_id: str, body: Any) -> list[str]:
        """What in a request's query and body (already parsed) the spec does not allow. The
        values of ``secret_fields`` never appear in the problems, which get printed."""
        if self.spec is None or operation_id not in self.spec.operations:
            return []
        operation = self.spec.operations[operation_id]
        problems = self.spec.validate_query(operation, request.query)
        if operation.request_schema() is not None and (
            body is not None or (operation.definition.get("requestBody") or {}).get("required")
        ):
            problems += self.spec.validate_request(operation, body)
        hidden = sorted(_secret_values(body, self.secret_fields), key=len, reverse=True)
        redacted = []
        for problem in problems:
            for value in hidden:
                problem = problem.replace(value, "<secret>")
            redacted.append(f"request to {operation_id}: {problem}")
        return redacted

    def check_response(self, request: Request, response: Response) -> None:
        if self.spec is None or isinstance(response.body, bytes):
            return
        if response.operation_id is not None and response.operation_id in self.spec.operations:
            problems = self.spec.validate_operation_response(response.operation_id, response.status, response.body)
        elif response.operation_id is not None and response.operation_id in self.unspecified_operations:
            schema = self.unspecified_operations[response.operation_id] if response.status == 200 else None
            problems = self.spec.validate_schema(schema, response.body) if schema is not None else []
        else:
            problems = self.spec.validate_response(request.method, request.path, response.status, response.body)
        if response.status in self.tolerated_statuses:
            problems = [p for p in problems if not p.endswith(f"status {response.status} is not documented")]
        if problems:
            with self._violations_lock:
                self._violations.extend(f"{request.method} {request.path}: {p}" for p in problems)

    def dispatch(self, request: Request) -> Response | Drop:
        if request.path.startswith("/_emulator/"):
            return self._admin(request)
        answer: Response | Drop
        injected = False
        rule = self.faults.take(request.method, request.path, "before")
        if rule is not None and rule.action == "hang":
            rule.hold()
            answer, injected = DROP, True  # held, then never handled
        elif rule is not None and rule.action != "delay":
            answer, injected = self._fault_answer(rule), True
        else:
            if rule is not None:
                time.sleep(rule.delay)
            answer = self.handle(request)
            after = self.faults.take(request.method, request.path, "after")
            if after is not None:
                if after.action == "delay":
                    time.sleep(after.delay)
                elif after.action == "hang":
                    after.hold()  # handled; its answer goes out once released
                else:
                    answer, injected = self._fault_answer(after), True
        operation = self.spec.match(request.method, request.path) if self.spec is not None else None
        tenant = answer.tenant if isinstance(answer, Response) else None
        if tenant is None:
            tenant = self.tenant_of(request)  # injected and dropped answers belong to someone too
        self.calls.record(
            method=request.method,
            path=request.path,
            query=request.query,
            status=answer.status if isinstance(answer, Response) else None,
            operation_id=(answer.operation_id if isinstance(answer, Response) else None)
            or (operation[0].operation_id if operation else None),
            injected=injected,
            tenant=tenant,
            notes=dict(answer.notes) if isinstance(answer, Response) else {},
        )
        if isinstance(answer, Response) and not injected:
            self.check_response(request, answer)
        return answer

    @staticmethod
    def _fault_answer(rule: FaultRule) -> Response | Drop:
        if rule.action == "drop":
            return DROP
        return Response(rule.status, rule.body, dict(rule.headers))

    def _admin(self, request: Request) -> Response:
        action = request.path.removeprefix("/_emulator/").strip("/")
        if action == "calls" and request.method == "GET":
            since = int(request.param("since") or 0)
            return Response(200, [call.to_json() for call in self.calls.all(since=since)])
        if action == "faults" and request.method == "POST":
            payload = request.json()
            try:
                rules = [FaultRule.from_json(item) for item in (payload if isinstance(payload, list) else [payload])]
            except (TypeError, ValueError) as exc:
                return Response(400, {"message": str(exc)})
            for rule in rules:
                self.faults.add(rule)
            return Response(201, {"pending": len(self.faults.pending())})
        if action == "faults" and request.method == "DELETE":
            self.faults.clear()
            return Response(200, {"pending": 0})
        if action == "violations" and request.method == "GET":
            return Response(200, self.violations())
        answer = self.admin(request, action)
        return answer if answer is not None else Response(404, {"message": f"no admin action {action!r}"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle on, every keep-alive request
    # then waits for the client's delayed ACK (~40 ms instead of <1 ms).
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are recorded by the app, never printed (they may carry secrets)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        try:
            answer = self.server.app.dispatch(request)
        except Exception as exc:  # an emulator bug must show up as a 500, not a hung client
            answer = Response(500, {"message": f"emulator error: {type(exc).__name__}: {exc}"})
        if isinstance(answer, Drop):
            # SO_LINGER 0: the client sees a reset, as when a load balancer gives up.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        payload = (
            answer.body
            if isinstance(answer.body, bytes)
            else b""
            if answer.body is None
            else json.dumps(answer.body).encode()
        )
        self.send_response(answer.status)
        headers = {"Content-Type": "application/json; charset=utf-8", **answer.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: EmulatorApp) -> None:
        self.app = app
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away (killed, or gave up waiting) is part of the faults tests make.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class EmulatorServer:
    """Serves an EmulatorApp on a loopback address in a background thread."""

    def __init__(self, app: EmulatorApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = app
        self._server = _Server((require_loopback(host), port), app)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{app.service}-http", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EmulatorServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _secret_values(body: Any, fields: frozenset[str]) -> set[str]:
    found: set[str] = set()
    if isinstance(body, list):
        for item in body:
            found |= _secret_values(item, fields)
    elif isinstance(body, dict):
        for key, value in body.items():
            if key in fields and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= _secret_values(value, fields)
    return found


UNDOCUMENTED = "not an operation of the OpenAPI document"


def is_undocumented_request(violation: str) -> bool:
    """Whether a recorded violation is a request for an operation the spec does not have."""
    return is_request_violation(violation) and violation.endswith(UNDOCUMENTED)


def is_request_violation(violation: str) -> bool:
    """Whether a recorded violation is about a request (``request_problems`` words it so)."""
    return violation.partition(": ")[2].startswith("request to ")
