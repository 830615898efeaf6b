"""What the log alerts on the app's own reports (infra/modules/alerts.bicep) read reaches Application Insights
whatever the trace sampler drops: the app's counters, each export an item named as the instrument whose value is
the increase since the previous export (AppMetrics' Name and Sum) and whose properties are its attributes. The log
lines written inside the same dropped traces do not arrive. And what the function-errors alert counts, the
requests, carry no sample rate with the standard samplers, so Application Insights counts each kept one once.
Through the real Azure Monitor distro and exporter, to the loopback stand-in for ingestion; each case is a
process of its own (providers are global)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.unit.infra import app_metrics, bicep
from tests.unit.telemetry.recording import REPO
from tests.unit.telemetry.test_azure_export_volume import Ingestion

ROUND = 6  # jobs in the first export, twice as many in the second: a whole number of each state and outcome
PROBE = f"""
import logging, os
logging.getLogger().setLevel(logging.INFO)  # as the Functions Python worker sets it
import azure.monitor.opentelemetry as distro
configure = distro.configure_azure_monitor


def keyless(**options):
    options.pop("credential")  # the stand-in takes no token
    options["enable_live_metrics"] = False
    options["disable_offline_storage"] = True  # its retry folder is shared: other processes' items would be sent
    configure(**options)


distro.configure_azure_monitor = keyless
from opentelemetry._logs import get_logger_provider
from opentelemetry.trace import SpanKind
from batch_tasks import telemetry
from shared import metrics

telemetry.setup("sitelens-app")
finisher = logging.getLogger("shared.jobs.finisher")
for rounds in (1, 2):  # two exports: the second carries only its own round
    for n in range({ROUND} * rounds):
        job = f"j_{{rounds}}{{n:025d}}"
        try:
            with telemetry.job_span("ingest", job, parent=None, kind=SpanKind.CONSUMER):
                metrics.task_submitted("ocr")
                state = ("SUCCEEDED", "FAILED", "REJECTED")[n % 3]
                metrics.photo_finished("north-yard", state, None if state == "SUCCEEDED" else "task_failed", "ocr", 1.0)
                finisher.info("job %s -> %s (%s)", job, state, "ok")
                metrics.record_expired(("expired", "error")[n % 2])
                if n % 2:
                    raise RuntimeError("the handler raised")  # a failed request
        except RuntimeError:
            pass
    telemetry.flush()
get_logger_provider().force_flush()
os._exit(0)
"""


def run(ingestion: Ingestion, sampler: str, ratio: str) -> None:
    """The probe, exporting to `ingestion` with this sampler; every item is there once it has exited."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "SITELENS_"))}
    env = {
        **clean, "PYTHONPATH": str(REPO),
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        f"IngestionEndpoint={ingestion.url}/;LiveEndpoint={ingestion.url}/",
        "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        # nothing off loopback: no statsbeat, no remote configuration, no VM metadata lookup
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true", "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
        "OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": ratio,
    }  # fmt: skip
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def alert_metrics() -> set[str]:
    """The metric names the log alerts' queries compare `Name` with."""
    alerts = bicep.module("alerts")
    queries = (bicep.variable(alerts, name) for name in ("failureQuery", "stuckPoolQuery", "recordsQuery"))
    texts = [q["function"]["parameters"]["format_string"] if isinstance(q, dict) else str(q) for q in queries]
    return set().union(*(app_metrics.named_metrics(text) for text in texts))


def exports_of(ingestion: Ingestion, name: str) -> list[tuple[dict[str, Any], float]]:
    """(properties, value) of each metric item named `name`, in the order sent."""
    return [(item["properties"], point["value"]) for item in ingestion.of("Metric")
            for point in item["metrics"] if point["name"] == name]  # fmt: skip


def test_the_counters_the_alerts_read_arrive_whole_when_every_trace_is_dropped(ingestion: Ingestion) -> None:
    run(ingestion, "parentbased_traceidratio", "0")
    assert not ingestion.of("Request") and not ingestion.of("Message")  # the traces went, their lines with them
    read = alert_metrics()
    assert read == {"sitelens.photos.succeeded", "sitelens.photos.failed", "sitelens.photos.rejected",
                    "sitelens.tasks.submitted", "sitelens.records.expired"}  # fmt: skip
    submitted = exports_of(ingestion, "sitelens.tasks.submitted")
    assert [value for _, value in submitted] == [ROUND, 2 * ROUND]  # each export its own increase: sum(Sum)
    jobs = 3 * ROUND
    finished = {name: sum(value for _, value in exports_of(ingestion, name))
                for name in read if name.startswith("sitelens.photos.")}  # fmt: skip
    assert finished == {"sitelens.photos.succeeded": jobs / 3, "sitelens.photos.failed": jobs / 3,
                        "sitelens.photos.rejected": jobs / 3}  # fmt: skip
    outcomes: dict[str, float] = {}
    for properties, value in exports_of(ingestion, "sitelens.records.expired"):
        outcomes[properties["outcome"]] = outcomes.get(properties["outcome"], 0) + value  # Properties.outcome
    assert outcomes == {"expired": jobs / 2, "error": jobs / 2}


@pytest.mark.parametrize(("sampler", "ratio", "rate"), [
    ("parentbased_traceidratio", "1", None),  # the standard samplers: nothing to scale a count by
    ("microsoft.fixed_percentage", "0.5", 50.0),  # Azure Monitor's own: each kept item stands for 100 / rate
])  # fmt: skip
def test_what_sample_rate_the_requests_carry(ingestion: Ingestion, sampler: str, ratio: str,
                                             rate: float | None) -> None:  # fmt: skip
    run(ingestion, sampler, ratio)
    requests = [item for item in ingestion.items if item["name"] == "Microsoft.ApplicationInsights.Request"]
    assert requests and any(not r["data"]["baseData"]["success"] for r in requests)
    assert {r.get("sampleRate") for r in requests} == {rate}
