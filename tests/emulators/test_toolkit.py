"""The shared emulator toolkit: routing by the spec, faults, recording, answer validation."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import httpx
import pytest

from tests.emulators.common.faults import FaultRule
from tests.emulators.common.openapi import OpenApiSpec, load_spec, specs_dir
from tests.emulators.common.server import EmulatorApp, EmulatorServer, Request, Response


class TinyApp(EmulatorApp):
    """Answers GET /v1/organizations, correctly or (when told) off-spec."""

    service = "tiny"

    def __init__(self) -> None:
        super().__init__(load_spec(specs_dir() / "supabase-management-api.json"))
        self.off_spec = False
        self.handled = 0

    def handle(self, request: Request) -> Response:
        self.handled += 1
        if self.off_spec:
            return Response(200, [{"slug": 42}])
        return Response(200, [{"id": "org-id", "slug": "acme", "name": "Acme"}])


@pytest.fixture
def tiny() -> Iterator[tuple[TinyApp, str]]:
    app = TinyApp()
    server = EmulatorServer(app).start()
    try:
        yield app, server.url
    finally:
        server.stop()


def test_answers_are_recorded_and_checked_against_the_spec(tiny: tuple[TinyApp, str]) -> None:
    app, url = tiny
    assert httpx.get(f"{url}/v1/organizations").status_code == 200
    assert app.violations() == []
    app.off_spec = True
    httpx.get(f"{url}/v1/organizations")
    problems = app.violations()
    assert any("'name' is a required property" in p for p in problems), problems
    assert any("42 is not of type 'string'" in p for p in problems), problems
    calls = app.calls.all()
    assert [(c.method, c.path, c.status, c.operation_id) for c in calls] == [
        ("GET", "/v1/organizations", 200, "v1-list-all-organizations"),
    ] * 2


def test_fault_before_answers_without_handling(tiny: tuple[TinyApp, str]) -> None:
    app, url = tiny
    app.faults.add(FaultRule(path="/v1/organizations", status=503, count=2, headers={"Retry-After": "1"}))
    statuses = [httpx.get(f"{url}/v1/organizations").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert app.handled == 1
    assert [c.injected for c in app.calls.all()] == [True, True, False]


def test_fault_after_handles_then_loses_the_answer(tiny: tuple[TinyApp, str]) -> None:
    app, url = tiny
    app.faults.add(FaultRule(path="/v1/.*", action="drop", when="after"))
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/v1/organizations")
    assert app.handled == 1, "the request took effect; only its answer was lost"
    assert app.calls.all()[0].status is None


def test_skip_faults_the_nth_call_only(tiny: tuple[TinyApp, str]) -> None:
    app, url = tiny
    app.faults.add(FaultRule(path="/v1/organizations", status=502, skip=2))
    statuses = [httpx.get(f"{url}/v1/organizations").status_code for _ in range(4)]
    assert statuses == [200, 200, 502, 200]


def test_hang_before_holds_the_call_then_drops_it_unhandled(tiny: tuple[TinyApp, str]) -> None:
    app, url = tiny
    rule = app.faults.add(FaultRule(path="/v1/organizations", action="hang"))
    outcome: list[BaseException | int] = []

    def call() -> None:
        try:
            outcome.append(httpx.get(f"{url}/v1/organizations", timeout=30).status_code)
        except httpx.TransportError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    assert rule.fired.wait(10), "the call reached the rule"
    caller.join(0.2)
    assert caller.is_alive(), "the call is held until released"
    rule.release()
    caller.join(10)
    assert len(outcome) == 1
    assert isinstance(outcome[0], httpx.TransportError)
    assert app.handled == 0, "a call held before handling never takes effect"


def test_hang_after_sends_the_held_answer_once_released(tiny: tuple[TinyApp, str]) -> None:
    app, url = tiny
    rule = app.faults.add(FaultRule(path="/v1/organizations", action="hang", when="after"))
    statuses: list[int] = []
    caller = threading.Thread(target=lambda: statuses.append(httpx.get(f"{url}/v1/organizations").status_code))
    caller.start()
    assert rule.fired.wait(10)
    assert app.handled == 1, "held after it took effect"
    app.faults.clear()  # clearing the plan releases what its rules hold
    caller.join(10)
    assert statuses == [200]


def test_admin_interface_adds_faults_and_lists_calls(tiny: tuple[TinyApp, str]) -> None:
    _, url = tiny
    added = httpx.post(f"{url}/_emulator/faults", json={"path": "/v1/organizations", "status": 429})
    assert added.status_code == 201
    assert httpx.get(f"{url}/v1/organizations").status_code == 429
    calls = httpx.get(f"{url}/_emulator/calls").json()
    assert [(c["path"], c["status"], c["injected"]) for c in calls] == [("/v1/organizations", 429, True)]
    rejected = httpx.post(f"{url}/_emulator/faults", json={"path": "x", "colour": "red"})
    assert rejected.status_code == 400


class NotingApp(EmulatorApp):
    """Answers every path as one named operation, with notes and a tenant from the token."""

    service = "noting"
    tolerated_statuses: ClassVar[Mapping[int, str]] = {418: "this API is a teapot"}

    def __init__(self) -> None:
        super().__init__(load_spec(specs_dir() / "supabase-management-api.json"))
        self.status = 200
        self.body: Any = [{"id": "org-id", "slug": "acme", "name": "Acme"}]

    def tenant_of(self, request: Request) -> str | None:
        return request.bearer

    def handle(self, request: Request) -> Response:
        return Response(
            self.status,
            self.body,
            operation_id="v1-list-all-organizations",
            tenant=request.bearer,
            notes={"asked": request.path},
        )


@pytest.fixture
def noting() -> Iterator[tuple[NotingApp, str]]:
    app = NotingApp()
    server = EmulatorServer(app).start()
    try:
        yield app, server.url
    finally:
        server.stop()


def test_an_answer_naming_its_operation_is_checked_against_it_whatever_the_path(
    noting: tuple[NotingApp, str],
) -> None:
    app, url = noting
    assert httpx.get(f"{url}/v0/old/organizations").status_code == 200
    assert app.violations() == []  # no such path in the spec, but the named operation fits
    app.body = [{"slug": "acme"}]
    httpx.get(f"{url}/v0/old/organizations")
    assert any("'id' is a required property" in p for p in app.violations())


def test_notes_and_tenants_reach_the_call_log(noting: tuple[NotingApp, str]) -> None:
    app, url = noting
    app.faults.add(FaultRule(path="/x", status=503))
    httpx.get(f"{url}/x", headers={"Authorization": "Bearer alice"})
    httpx.get(f"{url}/y", headers={"Authorization": "Bearer bob"})
    calls = app.calls.all()
    assert [(c.tenant, c.injected, c.notes) for c in calls] == [
        ("alice", True, {}),
        ("bob", False, {"asked": "/y"}),
    ]
    assert [c.path for c in app.calls.all(tenant="bob")] == ["/y"]


def test_tolerated_statuses_are_not_violations_but_others_are(noting: tuple[NotingApp, str]) -> None:
    app, url = noting
    app.status, app.body = 418, {"message": "short and stout"}
    httpx.get(f"{url}/v1/organizations")
    assert app.violations() == []
    app.status = 420
    httpx.get(f"{url}/v1/organizations")
    assert app.violations() == ["GET /v1/organizations: v1-list-all-organizations: status 420 is not documented"]


def test_a_body_fitting_no_variant_is_described_by_its_closest_variant() -> None:
    spec = OpenApiSpec({"paths": {}, "components": {}})
    schema = {"oneOf": [{"type": "object", "required": ["id"]}, {"type": "string"}]}
    assert spec._errors(schema, {"name": "x"}) == ["<body>: 'id' is a required property"]
