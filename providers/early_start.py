"""Have the engine start the dynamic-provider process while the program is still importing.

The engine starts that process (`python -m pulumi.dynamic`: an interpreter importing the SDK,
gRPC and dill, about 0.16 s until it names its port) only when the first dynamic resource is
registered, and the SDK sends registrations only once the program's body has run. So every pass
(a preview, an update: a plain `pulumi up` makes both) waited for the program's imports and then
for that process, one after the other. An invoke of a function of the `pulumi-python` package
makes the engine load the same default provider at once, beside the imports. The dynamic provider
has no functions, so the answer is an error: expected, and dropped. If an engine ever loads it
differently, nothing is lost but the head start.
"""

from __future__ import annotations

import threading
from contextlib import suppress

from pulumi.runtime import settings
from pulumi.runtime.proto import resource_pb2, resource_pb2_grpc

# A function no dynamic provider has: its package is the one dynamic resources belong to (their
# type tokens start `pulumi-python:dynamic`), so the engine loads that package's default provider.
FUNCTION = "pulumi-python:dynamic:startProviderProcess"
# The engine answers as soon as the process names its port; this only bounds a thread that never
# matters to the program's result.
TIMEOUT_SECONDS = 120.0


def start_provider_process(monitor: object | None = None) -> threading.Thread | None:
    """Ask the engine (``monitor``: the program's own by default), on a thread of its own, to start
    the dynamic-provider process now. Nothing is asked under mocks (unit tests' monitor is not the
    engine) or outside a Pulumi program."""
    if monitor is None:
        monitor = settings.get_monitor()
    if not isinstance(monitor, resource_pb2_grpc.ResourceMonitorStub):
        return None
    thread = threading.Thread(target=_invoke, args=(monitor,), name="provider-process-start", daemon=True)
    thread.start()
    return thread


def _invoke(monitor: resource_pb2_grpc.ResourceMonitorStub) -> None:
    # The answer is an error by design (see the module's docstring); so is an engine gone away.
    with suppress(Exception):
        monitor.Invoke(resource_pb2.ResourceInvokeRequest(tok=FUNCTION), timeout=TIMEOUT_SECONDS)
