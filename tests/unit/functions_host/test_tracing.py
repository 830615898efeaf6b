"""The invocation's trace context reaches the function as the worker hands it over: attached around the
call only when `PYTHON_ENABLE_OPENTELEMETRY` is true; host.json's `telemetryMode` decides whether the host
records an invocation span (without an SDK provider here, its context is the invocation's fresh one)."""

from __future__ import annotations

from opentelemetry import trace

from batch_tasks.telemetry import parse_traceparent
from emulators.functions_host.tracing import InvocationTracing


def _current_trace_id() -> str:
    return format(trace.get_current_span().get_span_context().trace_id, "032x")


def test_the_worker_setting_makes_the_invocations_context_current_inside_the_function() -> None:
    tracing = InvocationTracing({"telemetryMode": "OpenTelemetry"}, {"PYTHON_ENABLE_OPENTELEMETRY": "true"})
    with tracing.invocation("on_photo_uploaded", "inv-1") as traceparent:
        assert parse_traceparent(traceparent) is not None
        seen = tracing.in_worker(traceparent, _current_trace_id)()
    assert seen == traceparent.split("-")[1]
    assert _current_trace_id() == "0" * 32  # detached again after the call


def test_without_the_worker_setting_the_function_runs_without_the_context() -> None:
    tracing = InvocationTracing({}, {})
    with tracing.invocation("reconcile", "inv-2") as traceparent:
        assert parse_traceparent(traceparent) is not None  # a fresh id, as context.trace_context still shows one
        assert tracing.in_worker(traceparent, _current_trace_id)() == "0" * 32
