"""Azure Monitor's distro, left to itself, keeps 5 traces a second; sitelens' default is every trace, as the
OpenTelemetry SDK's is. Each case configures the real distro in its own process (providers are global), with
an ingestion endpoint on a closed loopback port, and counts how many traces of a burst are sampled."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

BURST = 200
PROBE = f"""
import json, os
from batch_tasks import telemetry
where = telemetry.setup("sitelens-app")
kept = 0
for n in range({BURST}):
    with telemetry.job_span("ingest", f"j_{{n:026x}}") as span:
        kept += span.get_span_context().trace_flags.sampled
print(json.dumps({{"where": where, "kept": kept, "sampler": os.environ.get("OTEL_TRACES_SAMPLER")}}))
os._exit(0)  # the exporter would try the closed port at exit
"""
AZURE = {
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
    "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/",
    "AZURE_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    # nothing off loopback: no statsbeat, no remote configuration, no VM metadata lookup
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "otel",
}


def probe(**env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "APPLICATIONINSIGHTS_", "SITELENS_"))}
    done = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("telemetry_dir", [None, ""])  # an empty directory setting is no files export either
def test_azure_monitor_keeps_every_trace_by_default(telemetry_dir: str | None) -> None:
    env = AZURE if telemetry_dir is None else {**AZURE, "SITELENS_TELEMETRY_DIR": telemetry_dir}
    result = probe(**env)
    assert result["where"] == "azure"
    assert result["kept"] == BURST, result


def test_a_ratio_set_by_the_operator_is_still_honoured() -> None:
    result = probe(**AZURE, OTEL_TRACES_SAMPLER="trace_id_ratio", OTEL_TRACES_SAMPLER_ARG="0.1")
    assert result["where"] == "azure" and result["sampler"] == "trace_id_ratio"
    assert 0 < int(str(result["kept"])) < BURST / 2, result
