"""The local metrics file grows with what happens, not with time: the SDK's reader collects every series at each
interval (cumulative), and the exporter writes a series' line only when its point changed, while
`sitelens.trace_reader` still reads every total. The real SDK reader and the real exporter; each collection is
one the test asks for (the reader's interval is infinite), so no timing is involved."""

from __future__ import annotations

import math
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

from batch_tasks.telemetry_files import MetricFileExporter
from sitelens.trace_reader import total


def test_an_idle_process_writes_no_metric_lines_and_the_totals_still_read_right(tmp_path: Path) -> None:
    path = tmp_path / "sitelens-app-1.metrics.jsonl"
    reader = PeriodicExportingMetricReader(MetricFileExporter(path, "sitelens-app"), export_interval_millis=math.inf)
    provider = MeterProvider(metric_readers=[reader])
    try:
        meter = provider.get_meter("sitelens")
        received = meter.create_counter("sitelens.photos.received", unit="{photo}")
        duration = meter.create_histogram("sitelens.validation.duration", unit="s")
        for site in ("a", "b", "c"):
            received.add(1, {"site": site})
            duration.record(0.1, {"site": site, "verdict": "accepted"})
        reader.force_flush()
        written = path.read_text().splitlines()
        assert len(written) == 6  # each series once
        for _ in range(5):  # idle intervals
            reader.force_flush()
        assert path.read_text().splitlines() == written  # nothing appended while nothing happened
        received.add(2, {"site": "b"})
        reader.force_flush()
        reader.force_flush()
        lines = path.read_text().splitlines()
        assert lines[:6] == written and len(lines) == 7  # only the series that changed, once
        assert total(tmp_path, "sitelens.photos.received") == 5
        assert total(tmp_path, "sitelens.photos.received", site="b") == 3
    finally:
        provider.shutdown()
