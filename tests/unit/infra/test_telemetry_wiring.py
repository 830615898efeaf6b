"""Application Insights reaches the app and the nodes with their managed identities: the connection string
(it names the component; local auth is off, so it ingests nothing without a token), Entra authentication,
the Functions OpenTelemetry switches, and the node server receiving what the start task was given."""

from __future__ import annotations

import json

from batch_tasks.start import server_environment
from tests.unit.infra import bicep

FUNCTIONS = bicep.module("functions")
BATCH = bicep.module("batch")


def test_the_functions_app_runs_opentelemetry_as_its_own_identity() -> None:
    platform = {k: bicep.render(v) for k, v in bicep.variable(FUNCTIONS, "platformSettings").items()}
    assert platform["APPLICATIONINSIGHTS_CONNECTION_STRING"] == "insightsConnectionString"
    assert platform["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"
    assert platform["PYTHON_ENABLE_OPENTELEMETRY"] == "true"
    assert platform["AZURE_CLIENT_ID"] == "identityClientId"  # the credential the app's exporter uses
    assert not [k for k in platform if "INSTRUMENTATIONKEY" in k.upper()]
    host = json.loads((bicep.REPO / "host.json").read_text())
    assert host["telemetryMode"] == "OpenTelemetry"


def test_the_pool_gets_the_same_component_and_its_server_sees_it() -> None:
    assert "insightsConnectionString" in BATCH["parameters"]
    text = (bicep.INFRA / "main.bicep").read_text()
    batch_call = text[text.index("module batch 'modules/batch.bicep'") :]
    batch_call = batch_call[: batch_call.index("\n}\n")]
    assert "insightsConnectionString: monitoring.outputs.insightsConnectionString" in batch_call
    given = {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x;IngestionEndpoint=https://e/",
             "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1",
             "SITELENS_TELEMETRY_DIR": "/t", "UNRELATED": "x"}  # fmt: skip
    assert set(server_environment(given)) == set(given) - {"UNRELATED"}
