"""providers/early_start.py: what it asks the engine, against a real gRPC server in the engine's
place (tests/unit/test_program_start.py: where the program asks it)."""

from __future__ import annotations

from concurrent import futures
from typing import Any

import grpc
import pulumi
from pulumi.runtime.proto import resource_pb2_grpc

from providers import early_start

# What the engine answers for a function the dynamic provider does not have (provider_plugin.go).
NOT_IMPLEMENTED = "invocation of {} returned an error: Invoke is not implemented by the dynamic provider"


class Monitor(resource_pb2_grpc.ResourceMonitorServicer):
    def __init__(self) -> None:
        self.asked: list[str] = []

    def Invoke(self, request: Any, context: grpc.ServicerContext) -> Any:
        self.asked.append(request.tok)
        context.abort(grpc.StatusCode.UNKNOWN, NOT_IMPLEMENTED.format(request.tok))


class NoMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        return None, {}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


def test_the_engine_is_asked_once_for_the_dynamic_resources_package_and_the_error_is_dropped() -> None:
    monitor = Monitor()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    resource_pb2_grpc.add_ResourceMonitorServicer_to_server(monitor, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            thread = early_start.start_provider_process(resource_pb2_grpc.ResourceMonitorStub(channel))
            assert thread is not None
            assert thread.daemon, "a program never waits for it to exit"
            thread.join(timeout=60)
            assert not thread.is_alive(), "the engine's error answer ends the thread"
    finally:
        server.stop(grace=None)
    assert monitor.asked == [early_start.FUNCTION]
    # The package dynamic resources belong to (their types are `pulumi-python:dynamic/...`).
    assert early_start.FUNCTION.split(":")[0] == "pulumi-python"


def test_nothing_is_asked_of_mocks_or_outside_a_program() -> None:
    assert early_start.start_provider_process(pulumi.runtime.mocks.MockMonitor(NoMocks())) is None
    assert early_start.start_provider_process(object()) is None
