"""Run a script in a fresh process whose global OpenTelemetry providers are the real SDK's, recording in memory
(providers are global to a process, so each script gets its own). The script reads what was recorded through
`finished()` and `points(name)` and prints one JSON line last, which `run` returns."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]

PRELUDE = """
import json
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_spans, _reader = InMemorySpanExporter(), InMemoryMetricReader()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(_spans))
trace.set_tracer_provider(_provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[_reader]))


def finished():
    '''Every ended span as a dict: name, ids in hex, parent span id, links' span ids, attributes, status.'''
    return [{"name": s.name, "trace_id": f"{s.context.trace_id:032x}", "span_id": f"{s.context.span_id:016x}",
             "parent": f"{s.parent.span_id:016x}" if s.parent else None,
             "links": [f"{link.context.span_id:016x}" for link in s.links], "attributes": dict(s.attributes),
             "status": s.status.status_code.name.lower(), "description": s.status.description}
            for s in _spans.get_finished_spans()]


def points(name):
    '''The metric's points so far: (attributes, value) for a counter, (attributes, count) for a histogram.'''
    found, data = [], _reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    found += [(dict(p.attributes), getattr(p, "value", getattr(p, "count", None)))
                              for p in metric.data.data_points]
    return found
"""


def run(script: str, **env: str) -> Any:
    """The last line the script printed, as JSON; the script's failure fails the test with its stderr."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "SITELENS_"))}
    code = PRELUDE + textwrap.dedent(script)
    done = subprocess.run([sys.executable, "-c", code], env={**clean, "PYTHONPATH": str(REPO), **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def documented_reconciler_kinds() -> set[str]:
    """The `kind` values docs/telemetry.md lists for `sitelens.reconciler.actions`."""
    row = next(line for line in (REPO / "docs" / "telemetry.md").read_text().splitlines()
               if line.startswith("| `sitelens.reconciler.actions`"))  # fmt: skip
    return set(re.findall(r"`([a-z_]+)`", row.split("|")[4])) - {"kind"}  # the attribute's own name
