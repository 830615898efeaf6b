"""Health through the real function_app.py on the local Functions host: what anonymous and keyed callers see,
and what every function answers when the settings are refused."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.scripted_http import ScriptedServer
from tests.support.stack import HostProcess

pytestmark = pytest.mark.integration
KEYS = {"master": "test-master-key", "host": {"default": "host-key"}}
NOT_AUTHORIZED = {"lang": "en-US", "value": "This request is not authorized to perform this operation."}
REFUSAL = json.dumps({"odata.error": {"code": "AuthorizationPermissionMismatch", "message": NOT_AUTHORIZED}}).encode()


def values(connection: str, unique: str, **extra: str) -> dict[str, str]:
    return {
        "AzureWebJobsStorage": connection,
        "AzureFunctionsWebHost__hostid": f"health-{unique}",
        "SITELENS_TABLE_PREFIX": f"h{unique}",
        "SITELENS_WEBHOOKS_ALLOW_LOOPBACK": "true",
        "SITELENS_WEBHOOK_SWEEP_SCHEDULE": "0 0 0 1 1 *",  # timers: not exercised here
        "SITELENS_RECONCILE_SCHEDULE": "0 0 0 1 1 *",
        "SITELENS_RECORDS_EXPIRY_SCHEDULE": "0 0 0 1 1 *",
        **extra,
    }


def get(host: HostProcess, path: str, key: str | None = None) -> tuple[int, str, dict[str, object] | None]:
    request = urllib.request.Request(f"{host.url}/api{path}", headers={"x-functions-key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            raw, status, media = r.read(), r.status, r.headers.get_content_type()
    except urllib.error.HTTPError as e:
        with e:
            raw, status, media = e.read(), e.code, e.headers.get_content_type()
    return status, media, json.loads(raw) if raw else None


@pytest.fixture
def host_for(tmp_path: Path):
    started: list[HostProcess] = []

    def start(settings: dict[str, str]) -> HostProcess:
        host = HostProcess.prepare_repo_app(tmp_path / f"app{len(started)}", settings, keys=KEYS).start()
        started.append(host)
        return host

    yield start
    for host in started:
        host.stop()


def test_anonymous_health_says_only_the_status_and_the_details_need_a_key(storage_connection, unique, host_for):
    host = host_for(values(storage_connection, unique))  # no Batch URL: the batch check fails
    status, _, body = get(host, "/health")
    assert (status, body) == (503, {"status": "degraded"})
    assert get(host, "/health/details")[0] == 401
    assert get(host, "/health/details", key="not-a-key")[0] == 401
    status, _, details = get(host, "/health/details", key="host-key")
    assert status == 503 and details is not None and details["status"] == "degraded" and "version" in details
    checks = details["checks"]
    assert isinstance(checks, dict)
    assert checks["storage"]["ok"] is True
    assert checks["batch"] == {"ok": False, "reason": "configuration_error"}


def test_a_refused_loopback_allowance_is_a_clear_503_everywhere(storage_connection, unique, host_for):
    # The host keeps using Azurite's connection string; the app also sees a real-looking queue endpoint,
    # which it never contacts: the allowance is refused before any client is built.
    settings = values(
        storage_connection, unique, AzureWebJobsStorage__queueServiceUri="https://sitelensprod.queue.core.windows.net"
    )
    host = host_for(settings)
    reason = "webhooks_allow_loopback_refused"
    assert get(host, "/health")[::2] == (503, {"status": "misconfigured", "reason": reason})
    status, _, details = get(host, "/health/details", key="host-key")
    assert status == 503 and details is not None and details["reason"] == reason
    assert "SITELENS_WEBHOOKS_ALLOW_LOOPBACK" in str(details["detail"])
    for path in ("/subscriptions", f"/jobs/j_{'a' * 26}", "/jobs?site=north-yard"):
        status, media, problem = get(host, path, key="host-key")
        assert (status, media) == (503, "application/problem+json"), path
        assert problem is not None and problem["reason"] == reason and problem["status"] == 503
    assert "Traceback" not in host.log_text()


def test_storage_refusing_what_a_cold_instance_builds_is_a_problem_document_not_a_500(storage_connection, host_for):
    """Each API's tables are created on first use; storage refusing that (down, throttling, a role assignment
    still propagating, as here: every table request answered 403) was the host's bare 500 on every call."""
    refusing = ScriptedServer((403, {"x-ms-error-code": "AuthorizationPermissionMismatch"}, REFUSAL, None))
    tables = re.sub(r"TableEndpoint=[^;]*", f"TableEndpoint={refusing.origin}/devstoreaccount1", storage_connection)
    assert tables != storage_connection
    try:
        _every_api_answers_a_listed_problem(host_for(values(tables, "x")))
    finally:
        refusing.close()
    assert refusing.seen, "the app never asked storage for its tables"


def _every_api_answers_a_listed_problem(host: HostProcess) -> None:
    spec = json.loads((Path(__file__).resolve().parents[3] / "openapi.json").read_text())["paths"]
    operations = {"/subscriptions": "/subscriptions", f"/jobs/j_{'a' * 26}": "/jobs/{id}",
                  "/jobs?site=north-yard": "/jobs", "/sites/north-yard/summary": "/sites/{site}/summary"}  # fmt: skip
    for path, operation in operations.items():
        status, media, problem = get(host, path, key="host-key")
        assert media == "application/problem+json" and status in (422, 503), (path, status, problem)
        assert problem is not None and problem["status"] == status and problem["reason"], path
        assert str(status) in spec[operation]["get"]["responses"], f"openapi.json lists no {status} for {operation}"
    assert "Traceback" not in host.log_text()
