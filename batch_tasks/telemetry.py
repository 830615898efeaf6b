"""OpenTelemetry set-up for every sitelens process, and the W3C trace context that carries a photo's trace.

Shared by the Functions app and the node server (the app package ships this module beside `shared/`,
`infra/package.py`), so both export the same way:

- `SITELENS_TELEMETRY_DIR` set (the local stack): spans, metrics and logs as JSON lines under that folder,
  one file of each per process (`batch_tasks.telemetry_files`), read back by `sitelens trace`;
- else `APPLICATIONINSIGHTS_CONNECTION_STRING` set (Azure): `configure_azure_monitor()` with the managed
  identity named by `AZURE_CLIENT_ID` (Entra ingestion; the connection string holds no key that is used);
- else nothing is exported and the API's no-op providers make every call here nearly free.

`SITELENS_TELEMETRY=off` turns all of it off (the overhead benchmark's baseline). Sampling follows the
OpenTelemetry variables `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG` (docs/telemetry.md#sampling).
`SITELENS_TELEMETRY_AZURE_SDK=on` adds the Azure SDKs' spans in Azure, 2 per storage or Batch call: diagnosis only.

A traceparent from outside (blob metadata a device wrote, a task's environment) is only a correlation hint:
`parse_traceparent` accepts exactly the W3C version-00 form and anything else starts a new trace.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

DIR_ENV = "SITELENS_TELEMETRY_DIR"
SWITCH_ENV = "SITELENS_TELEMETRY"
CONNECTION_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING"
AZURE_SDK_ENV = "SITELENS_TELEMETRY_AZURE_SDK"
# version 00, a non-zero trace id and span id, lower-case hex only, nothing after the flags
_TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
_PROPAGATOR = TraceContextTextMapPropagator()
_job_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("sitelens_job_id", default=None)
_configured: list[str] = []  # the service this process was set up as (set-up happens once)


def parse_traceparent(value: object) -> str | None:
    """`value` when it is a well-formed W3C traceparent (version 00), else None: never trusted further."""
    if isinstance(value, str) and len(value) == 55 and _TRACEPARENT.fullmatch(value):
        return value
    return None


def context_of(traceparent: str | None) -> otel_context.Context | None:
    """The remote parent a valid traceparent names, else None (the next span starts a new trace)."""
    valid = parse_traceparent(traceparent)
    return _PROPAGATOR.extract({"traceparent": valid}) if valid else None


def link_to(traceparent: str | None) -> Link | None:
    ctx = context_of(traceparent)
    span_context = trace.get_current_span(ctx).get_span_context() if ctx is not None else None
    return Link(span_context) if span_context is not None and span_context.is_valid else None


def current_traceparent() -> str | None:
    """The current span as a traceparent (to hand to the next process), or None when nothing is recorded."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return parse_traceparent(carrier.get("traceparent"))


def enabled(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return env.get(SWITCH_ENV, "on").lower() not in ("off", "0", "false")


def setup(service: str, env: Mapping[str, str] | None = None) -> str:
    """Install the process's providers once; returns where telemetry goes: `files`, `azure` or `none`."""
    env = os.environ if env is None else env
    if _configured:
        return _configured[0]
    # The Azure SDKs log every HTTP request and response at INFO, the Functions worker's root level: exported, half a
    # photo's telemetry, and the exporter's own posts made more. WARNING only; a level set before (`sitelens -v`) stays.
    logging.getLogger("azure").setLevel(logging.getLogger("azure").level or logging.WARNING)
    where = "none"
    _sampler_spelling(sdk=bool(env.get(DIR_ENV)))  # as the branch below chooses: an empty directory is none
    if enabled(env) and env.get(DIR_ENV):
        from batch_tasks import telemetry_files  # noqa: PLC0415 (the SDK only where something is exported)

        telemetry_files.install(service, Path(env[DIR_ENV]))
        where = "files"
    elif enabled(env) and env.get(CONNECTION_ENV):
        _azure_monitor(service, env)
        where = "azure"
    if where != "none":
        _keep_batches_with_their_photos()
        _log_job_ids()
    _configured.append(where)
    return where


# The OpenTelemetry SDK and Azure Monitor's distro spell the ratio samplers differently; one setting serves both.
_SDK_SPELLING = {"trace_id_ratio": "traceidratio", "parentbased_trace_id_ratio": "parentbased_traceidratio"}


# Every trace unless told otherwise (docs/telemetry.md). The OpenTelemetry SDK's own default, but not Azure
# Monitor's distro's: unset, it keeps 5 traces a second, so most photos of a burst would lose their traces.
DEFAULT_SAMPLER = "parentbased_always_on"


def _sampler_spelling(sdk: bool) -> None:
    """Rewrite `OTEL_TRACES_SAMPLER` in this process's environment to the spelling its exporter's reader knows,
    or set the default where it is not set."""
    value = os.environ.get("OTEL_TRACES_SAMPLER")
    if value is None:
        os.environ["OTEL_TRACES_SAMPLER"] = DEFAULT_SAMPLER
        return
    to_sdk = _SDK_SPELLING if sdk else {v: k for k, v in _SDK_SPELLING.items()}
    os.environ["OTEL_TRACES_SAMPLER"] = to_sdk.get(value, value)


def _azure_monitor(service: str, env: Mapping[str, str]) -> None:
    """Application Insights with Entra ingestion: the managed identity's token, never a key."""
    from azure.identity import ManagedIdentityCredential  # noqa: PLC0415
    from azure.monitor.opentelemetry import configure_azure_monitor  # noqa: PLC0415
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415

    client_id = env.get("AZURE_CLIENT_ID") or env.get("SITELENS_NODE_CLIENT_ID")  # the app's, or the pool's
    credential = ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()
    sdk = env.get(AZURE_SDK_ENV, "").lower() in ("on", "true")  # SDK calls, their requests; webhooks are http.client
    configure_azure_monitor(
        connection_string=env[CONNECTION_ENV], credential=credential,
        resource=Resource.create({"service.name": service}), logger_name="",
        instrumentation_options={i: {"enabled": sdk} for i in ("azure_sdk", "requests", "urllib3")},
        enable_trace_based_sampling_for_logs=True,  # else a trace the sampler drops keeps its log lines
    )  # fmt: skip


# Marks a link from a span that does the work of others (the node's batch) to each span it serves.
SERVES = "sitelens.serves"


def serving(contexts: Iterable[SpanContext]) -> list[Link]:
    """Links from a span doing the work of these spans (a batch's photos): it is sampled when any of them is."""
    return [Link(c, {SERVES: True}) for c in contexts if c.is_valid]


def _keep_batches_with_their_photos() -> None:
    """Wrap the process's sampler (the files export's and the Azure Monitor distro's alike) so that a new trace
    whose root serves other spans (`serving`) is sampled when one of them is, and not when none is. The standard
    samplers decide a root by its own trace id and ignore links: at a ratio of 0.1 most kept photos would lose
    their batch's spans. Every other span is decided by the configured sampler."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult  # noqa: PLC0415
    from opentelemetry.trace.span import TraceState  # noqa: PLC0415
    from opentelemetry.util.types import Attributes  # noqa: PLC0415

    class ByServedSpans(Sampler):
        def __init__(self, configured: Sampler) -> None:
            self.configured = configured

        def should_sample(  # noqa: PLR0917 (the SDK's signature)
            self, parent_context: otel_context.Context | None, trace_id: int, name: str,
            kind: SpanKind | None = None, attributes: Attributes = None, links: Sequence[Link] | None = None,
            trace_state: TraceState | None = None,
        ) -> SamplingResult:  # fmt: skip
            served = [link for link in links or () if (link.attributes or {}).get(SERVES)]
            if not served or trace.get_current_span(parent_context).get_span_context().is_valid:
                return self.configured.should_sample(parent_context, trace_id, name, kind, attributes, links,
                                                     trace_state)  # fmt: skip
            if any(link.context.trace_flags.sampled for link in served):
                return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
            return SamplingResult(Decision.DROP)

        def get_description(self) -> str:
            return f"ByServedSpans{{{self.configured.get_description()}}}"

    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):  # set up just now, before any of sitelens' spans took its sampler
        provider.sampler = ByServedSpans(provider.sampler)


class _JobIdFilter(logging.Filter):
    """Adds the job being worked on to every log record, so each exported line names its job."""

    def filter(self, record: logging.LogRecord) -> bool:
        job = _job_id.get()
        if job is not None and not hasattr(record, "job_id"):
            record.job_id = job
        return True


def _log_job_ids() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(_JobIdFilter())


def tracer() -> trace.Tracer:
    return trace.get_tracer("sitelens")


def meter() -> metrics.Meter:
    return metrics.get_meter("sitelens")


SpanScope = contextlib.AbstractContextManager[Span]


class _Current:
    """`job_span`'s parent when none is named: the span current where it starts (work inside a job's span)."""


CURRENT = _Current()


@contextlib.contextmanager
def job_span(
    name: str,
    job_id: str | None,
    *,
    parent: str | _Current | None = CURRENT,
    attributes: Mapping[str, Any] | None = None,
    links: list[Link] | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[Span]:
    """A span for work on one job. Without `parent`, a child of the current span (work inside a job's span).
    With `parent`, the traceparent of the job's trace (None when it has none): its child when it is valid, else
    a child of the job's span it is inside, else the root of a new trace; one not under the current span links
    to it (the invocation that does the work). The job id goes on the span and on every log line written inside
    it. An exception marks it failed and goes on."""
    ctx = context_of(parent if isinstance(parent, str) else None)
    if ctx is None and parent is not CURRENT and _job_id.get() is None:
        # The job's first span here, with no trace to join: a new one, never the span of the invocation that
        # runs it (an Event Grid or queue invocation belongs to no photo); the link below still names it.
        ctx = otel_context.Context()
    current = trace.get_current_span().get_span_context()
    if ctx is not None and current.is_valid:  # the invocation that does this work (Azure's host span)
        links = [*(links or []), Link(current)]
    attrs = {k: v for k, v in (attributes or {}).items() if v is not None}
    if job_id:
        attrs["sitelens.job_id"] = job_id
    token = _job_id.set(job_id) if job_id else None
    try:
        with tracer().start_as_current_span(name, context=ctx, attributes=attrs, links=links, kind=kind) as span:
            yield span
    finally:
        if token is not None:
            _job_id.reset(token)


def fail(span: Span, reason: str, detail: str | None = None) -> None:
    """Mark a span as ended in a refusal or failure with its reason code (a short fixed set: queries group by
    it); free text, if any, goes in the status description only."""
    span.set_attribute("sitelens.reason", reason)
    span.set_status(Status(StatusCode.ERROR, detail or reason))


def flush(timeout_ms: int = 5000) -> None:
    """Push what is buffered (a short-lived process before it exits)."""
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        force = getattr(provider, "force_flush", None)
        if force is not None:
            force(timeout_ms)


_instruments: dict[str, Any] = {}


def counter(name: str, unit: str, description: str) -> metrics.Counter:
    """The process's counter `name` (created once; docs/telemetry.md#metrics lists every name)."""
    if name not in _instruments:
        _instruments[name] = meter().create_counter(name, unit=unit, description=description)
    found: metrics.Counter = _instruments[name]
    return found


def histogram(name: str, unit: str, description: str) -> metrics.Histogram:
    if name not in _instruments:
        _instruments[name] = meter().create_histogram(name, unit=unit, description=description)
    found: metrics.Histogram = _instruments[name]
    return found


def in_job_span() -> bool:
    """Whether this runs inside a job's span (`job_span`), whose trace later work joins; else a job's stored
    traceparent is the parent (an invocation's span belongs to no photo)."""
    return _job_id.get() is not None


@contextlib.contextmanager
def stage(name: str) -> Iterator[None]:
    """One inference stage (det, cls, rec) of a batch: a span under the batch's, and its duration."""
    started = time.perf_counter()
    with tracer().start_as_current_span(name):
        yield
    histogram("sitelens.node.stage.duration", "s", "One inference stage of one batch").record(
        time.perf_counter() - started, {"stage": name}
    )
