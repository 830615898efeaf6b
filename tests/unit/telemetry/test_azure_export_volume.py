"""What the app sends Application Insights for a job, through the real Azure Monitor distro and exporter, to a
loopback stand-in for ingestion that keeps every item: the app's spans and log lines, not the Azure SDKs' log
line per HTTP request and response (the Functions worker leaves the root logger at INFO, and the exporter's own
posts to ingestion are such requests) nor its spans per call unless asked for, and no log line of a trace the
sampler dropped. Each case is a process of its own (providers are global)."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.unit.telemetry.recording import REPO

INSIDE, OUTSIDE = "job j_0123456789abcdef: inferred", "nothing waiting"
PROBE = f"""
import contextlib, json, logging, os, threading
logging.getLogger().setLevel(logging.INFO)  # as the Functions Python worker sets it; it leaves "azure" alone
import azure.monitor.opentelemetry as distro
configure = distro.configure_azure_monitor


def keyless(**options):
    options.pop("credential")  # the stand-in takes no token; the managed identity's exchange is not this test's
    options["enable_live_metrics"] = False  # polls on a schedule of its own: not what is counted here
    options["disable_offline_storage"] = True  # its retry folder is shared: other processes' items would be sent
    configure(**options)


distro.configure_azure_monitor = keyless
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient
from opentelemetry._logs import get_logger_provider
from batch_tasks import telemetry

where = telemetry.setup("sitelens-app")
container = ContainerClient.from_container_url(os.environ["PROBE_STORAGE_URL"])
log = logging.getLogger("shared.jobs.finisher")
log.info({OUTSIDE!r})
with telemetry.job_span("ingest", "j_0123456789abcdef", parent=None):
    with contextlib.suppress(ResourceNotFoundError):  # the stand-in has no containers
        container.get_container_properties()
    log.info({INSIDE!r})
telemetry.flush()
logs_flushed = threading.Thread(target=get_logger_provider().force_flush, daemon=True)
logs_flushed.start()
logs_flushed.join(30)  # each export of Azure SDK log lines logs more: then it never ends
print(json.dumps({{"where": where, "azure_level": logging.getLogger("azure").getEffectiveLevel(),
                  "logs_flushed": not logs_flushed.is_alive()}}))
os._exit(0)
"""


class Ingestion:
    """Application Insights' track endpoint on loopback, accepting and keeping every item; any other path answers as
    Blob storage does for a container that does not exist."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        ingestion = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/track"):
                    raw = gzip.decompress(body) if self.headers.get("Content-Encoding") == "gzip" else body
                    items = json.loads(raw)
                    ingestion.items += items if isinstance(items, list) else [items]
                    accepted = {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
                    self.answer(200, json.dumps(accepted).encode(), {"Content-Type": "application/json"})
                else:
                    self.do_GET()

            def do_GET(self) -> None:
                self.answer(404, b"", {"x-ms-error-code": "ContainerNotFound"})

            def answer(self, status: int, data: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(data))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The base data of every item of this type (`Message`, `RemoteDependency`, `Request`, `Metric`)."""
        return [i["data"]["baseData"] for i in self.items if i["name"] == f"Microsoft.ApplicationInsights.{kind}"]


def export(ingestion: Ingestion, **env: str) -> dict[str, Any]:
    """Run the probe exporting to `ingestion`; every item is in `ingestion` once it has exited (its flushes
    wait for each post's answer)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "SITELENS_"))}
    given = {
        "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
        f"IngestionEndpoint={ingestion.url}/;LiveEndpoint={ingestion.url}/",
        "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
        # nothing off loopback: no statsbeat, no remote configuration, no VM metadata lookup
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
        "PROBE_STORAGE_URL": f"{ingestion.url}/devstoreaccount1/photos",
    }
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, "PYTHONPATH": str(REPO), **given, **env},
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["where"] == "azure"
    return result


def test_only_the_apps_own_spans_and_lines_reach_ingestion(ingestion: Ingestion) -> None:
    result = export(ingestion)
    assert result["logs_flushed"], "the exporter kept exporting its own log lines"
    assert result["azure_level"] == logging.WARNING  # although the root logger passes INFO
    assert sorted(m["message"] for m in ingestion.of("Message")) == sorted([INSIDE, OUTSIDE])
    assert [d["name"] for d in ingestion.of("RemoteDependency") + ingestion.of("Request")] == ["ingest"]


def test_the_azure_sdk_spans_come_back_when_asked_for(ingestion: Ingestion) -> None:
    export(ingestion, SITELENS_TELEMETRY_AZURE_SDK="on")
    names = [d["name"] for d in ingestion.of("RemoteDependency") + ingestion.of("Request")]
    assert "ingest" in names
    assert any("get_container_properties" in name for name in names), names  # the SDK's call span
    assert any(d.get("type") == "HTTP" for d in ingestion.of("RemoteDependency")), names  # and its request's
    assert sorted(m["message"] for m in ingestion.of("Message")) == sorted([INSIDE, OUTSIDE])


def test_a_dropped_trace_takes_its_log_lines_with_it(ingestion: Ingestion) -> None:
    export(ingestion, OTEL_TRACES_SAMPLER="parentbased_traceidratio", OTEL_TRACES_SAMPLER_ARG="0")
    assert not ingestion.of("RemoteDependency") + ingestion.of("Request")
    assert [m["message"] for m in ingestion.of("Message")] == [OUTSIDE]  # a line in no trace is never sampled


LEVEL = """
import logging, os, sys
from batch_tasks import telemetry
logging.basicConfig(level=logging.INFO)  # as the node server and the CLI start
if len(sys.argv) > 1:
    logging.getLogger("azure").setLevel(int(sys.argv[1]))  # as `sitelens -v` does before its command runs
telemetry.setup("sitelens-node")
print(logging.getLogger("azure").getEffectiveLevel())
"""


@pytest.mark.parametrize(("chosen", "expected"), [(None, logging.WARNING), (logging.DEBUG, logging.DEBUG)])
def test_every_process_set_up_logs_azure_warnings_only_unless_it_chose_a_level(chosen: int | None,
                                                                              expected: int) -> None:  # fmt: skip
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "SITELENS_"))}
    argv = [] if chosen is None else [str(chosen)]
    done = subprocess.run([sys.executable, "-c", LEVEL, *argv], env={**clean, "PYTHONPATH": str(REPO)}, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    assert int(done.stdout.strip()) == expected  # nothing exported here: the node's journal alone
