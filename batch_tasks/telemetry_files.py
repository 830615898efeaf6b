"""Local export: spans, metrics and logs as JSON lines, one file of each per process, under one folder.

No collector runs on a development machine; every process of the local stack appends to
`{dir}/{service}-{pid}.{spans,metrics,logs}.jsonl` and `sitelens trace` reads them all back. A line is
one span (`name, trace_id, span_id, parent_span_id, service, start, end, status, attributes, links`),
one metric point (cumulative: the last line of a process and attribute set is its total; a point is
written only when it changed since its last line, so an idle process writes nothing) or one log record
(with the trace and span ids and the job id). Files are appended a batch at a time by the SDK's batch
processors, so the export never runs on the request's own thread.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

METRIC_INTERVAL_MS = 2000  # metric points every 2 s locally; Azure Monitor's exporter keeps its own pace
SPAN_DELAY_MS = 200  # spans reach the files within a fraction of a second, for `sitelens trace`


class _Lines:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, docs: list[dict[str, Any]]) -> None:
        if not docs:
            return
        text = "".join(json.dumps(d, separators=(",", ":"), default=str) + "\n" for d in docs)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(text)


def _hex(value: int, width: int) -> str:
    return format(value, f"0{width}x")


class SpanFileExporter(SpanExporter):
    def __init__(self, path: Path, service: str) -> None:
        self._lines, self.service = _Lines(path), service

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self._lines.write([self.document(s) for s in spans])
        return SpanExportResult.SUCCESS

    def document(self, span: ReadableSpan) -> dict[str, Any]:
        ctx = span.context
        assert ctx is not None
        return {
            "name": span.name,
            "trace_id": _hex(ctx.trace_id, 32),
            "span_id": _hex(ctx.span_id, 16),
            "parent_span_id": _hex(span.parent.span_id, 16) if span.parent else None,
            "service": self.service,
            "kind": span.kind.name.lower(),
            "start": span.start_time,  # ns since the epoch
            "end": span.end_time,
            "status": span.status.status_code.name.lower(),
            "attributes": dict(span.attributes or {}),
            "links": [
                {"trace_id": _hex(link.context.trace_id, 32), "span_id": _hex(link.context.span_id, 16)}
                for link in span.links
            ],
        }


class MetricFileExporter(MetricExporter):
    """The reader collects every series at each interval; a series' line is written only when its point changed
    (every 2 s, a dozen unchanged series came to about 95 MB a day for a process doing nothing)."""

    def __init__(self, path: Path, service: str) -> None:
        super().__init__()
        self._lines, self.service = _Lines(path), service
        self._written: dict[tuple[str, str], tuple[Any, ...]] = {}  # (metric, attributes) -> its last line's values

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        docs: list[dict[str, Any]] = []
        for resource in metrics_data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        doc: dict[str, Any] = {"metric": metric.name, "unit": metric.unit, "service": self.service,
                               "pid": os.getpid(), "attributes": dict(point.attributes or {}),
                               "time": point.time_unix_nano}  # fmt: skip
                        if isinstance(point, HistogramDataPoint):
                            doc.update(count=point.count, sum=point.sum, min=point.min, max=point.max)
                        elif isinstance(point, NumberDataPoint):
                            doc["value"] = point.value
                        docs.append(doc)
        fresh = [(d, self._series(d), self._values(d)) for d in docs]
        fresh = [(d, series, values) for d, series, values in fresh if self._written.get(series) != values]
        self._lines.write([d for d, _, _ in fresh])
        self._written.update((series, values) for _, series, values in fresh)  # after: a failed write is tried again
        return MetricExportResult.SUCCESS

    @staticmethod
    def _series(doc: dict[str, Any]) -> tuple[str, str]:
        return doc["metric"], json.dumps(doc["attributes"], sort_keys=True, default=str)

    @staticmethod
    def _values(doc: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(doc.get(k) for k in ("value", "count", "sum", "min", "max"))

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        return None


class LogFileExporter(LogRecordExporter):
    def __init__(self, path: Path, service: str) -> None:
        self._lines, self.service = _Lines(path), service

    def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
        docs = []
        for item in batch:
            record = getattr(item, "log_record", item)
            attributes = dict(record.attributes or {})
            docs.append({
                "service": self.service, "time": record.timestamp, "severity": record.severity_text,
                "body": str(record.body), "trace_id": _hex(record.trace_id or 0, 32),
                "span_id": _hex(record.span_id or 0, 16), "job_id": attributes.get("job_id"),
            })  # fmt: skip
        self._lines.write(docs)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def install(service: str, folder: Path) -> None:
    """Set this process's tracer, meter and logger providers to write under `folder`."""
    stem = folder / f"{service}-{os.getpid()}"
    resource = Resource.create({"service.name": service})
    tracing = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER, as the SDK reads it
    tracing.add_span_processor(BatchSpanProcessor(SpanFileExporter(Path(f"{stem}.spans.jsonl"), service),
                                                  schedule_delay_millis=SPAN_DELAY_MS))  # fmt: skip
    trace.set_tracer_provider(tracing)
    reader = PeriodicExportingMetricReader(MetricFileExporter(Path(f"{stem}.metrics.jsonl"), service),
                                           export_interval_millis=METRIC_INTERVAL_MS)  # fmt: skip
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    logging_provider = LoggerProvider(resource=resource)
    logging_provider.add_log_record_processor(
        BatchLogRecordProcessor(LogFileExporter(Path(f"{stem}.logs.jsonl"), service), schedule_delay_millis=500)
    )
    set_logger_provider(logging_provider)
    import logging  # noqa: PLC0415

    logging.getLogger().addHandler(LoggingHandler(logger_provider=logging_provider))
