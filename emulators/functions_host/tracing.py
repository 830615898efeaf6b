"""An invocation's trace context, handed to the function as the Functions host and Python worker do.

In Azure, with `"telemetryMode": "OpenTelemetry"` in host.json the host records a span per invocation and
passes its W3C context to the worker in the invocation request (`context.trace_context`); with the app
setting `PYTHON_ENABLE_OPENTELEMETRY=true` the Python worker makes that context current around the
function, so spans the function starts are the invocation's children (docs/telemetry.md#azure-functions).
This host does the same with the same two switches: host.json's `telemetryMode` starts the invocation span
(exported by whatever the app set up), the app setting attaches its context in the worker thread.
Without `telemetryMode` the context is a fresh random one, as the host's default (Application Insights
SDK) mode gives a function an id it does not export through OpenTelemetry.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

T = TypeVar("T")
WORKER_SETTING = "PYTHON_ENABLE_OPENTELEMETRY"
_PROPAGATOR = TraceContextTextMapPropagator()


class InvocationTracing:
    def __init__(self, host_json: Mapping[str, Any], settings: Mapping[str, str]) -> None:
        self.host_spans = str(host_json.get("telemetryMode", "")).lower() == "opentelemetry"
        self.worker_attaches = settings.get(WORKER_SETTING, "").lower() == "true"

    @contextlib.contextmanager
    def invocation(self, function_name: str, invocation_id: str) -> Iterator[str]:
        """The invocation's span (when the host records them) for its duration; yields its traceparent."""
        if not self.host_spans:
            yield f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
            return
        attributes = {"faas.name": function_name, "faas.invocation_id": invocation_id}
        tracer = trace.get_tracer("sitelens.functions_host")
        with tracer.start_as_current_span(f"Functions.{function_name}", kind=SpanKind.SERVER, attributes=attributes):
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            yield carrier.get("traceparent") or f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"

    def in_worker(self, traceparent: str, call: Callable[[], T]) -> Callable[[], T]:
        """`call`, run with the invocation's context current when the worker setting asks for it."""
        if not self.worker_attaches:
            return call

        def attached() -> T:
            token = otel_context.attach(_PROPAGATOR.extract({"traceparent": traceparent}))
            try:
                return call()
            finally:
                otel_context.detach(token)

        return attached
