"""Property, through the real app on the local host: any body to any endpoint gets 2xx or a 4xx problem document.

The unit property tests cover the API modules; this one adds what sits in front of them (the host's binding
data, the function wiring, the media type), with fewer examples since each is an HTTP round trip. As there,
half the bodies are near a valid one, so accepted requests (and the storage writes behind them) go through the
host too, not only the refusals of the first checks.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_job_store import TableJobStore
from shared.jobs.models import Job, JobState
from tests.integration.api.conftest import KEY, AppHost
from tests.support.stack import HostProcess
from tests.unit.api.fakes import JOB_ID
from tests.unit.api.test_never_500 import FEEDBACK, SUBSCRIPTION, UPLOAD, Answer, Body, any_and_near, assert_deep

pytestmark = pytest.mark.integration
ENDPOINTS: dict[str, tuple[Body, int]] = {  # path: the body, and how many distinct refusals must show
    "/uploads": (UPLOAD, 3),
    "/subscriptions": (SUBSCRIPTION, 3),
    f"/jobs/{JOB_ID}/feedback": (FEEDBACK, 2),
}


@pytest.fixture(scope="module")
def host(app_host: AppHost) -> HostProcess:
    # The job the feedback goes to, where the app reads jobs: feedback to an unknown one stops at its 404.
    store = TableJobStore(TableServiceClient.from_connection_string(app_host.connection), prefix=f"t{app_host.unique}")
    store.create(Job(id=JOB_ID, site="north-yard", device="cam-1", photo_id="IMG_1",
                     blob_name="north-yard/cam-1/2026/11/22/IMG_1.jpg", blob_etag='"0x1"',
                     received_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC), state=JobState.RUNNING))  # fmt: skip
    return app_host.host


def post(host: HostProcess, path: str, body: bytes) -> tuple[int, str, Any]:
    headers = {"x-functions-key": KEY, "Content-Type": "application/json"}
    request = urllib.request.Request(f"{host.url}/api{path}", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            raw, status, media = r.read(), r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        with e:
            raw, status, media = e.read(), e.code, e.headers.get("Content-Type", "")
    return status, media, json.loads(raw) if raw else None


def answer_of(host: HostProcess, path: str) -> Answer:
    def answer(raw: bytes) -> tuple[int, Any]:
        status, media, doc = post(host, path, raw)
        assert status < 400 or media.startswith("application/problem+json"), (status, media, doc)
        return status, doc

    return answer


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_any_body_gets_2xx_or_a_4xx_problem_document(host: HostProcess, path: str) -> None:
    body, reasons = ENDPOINTS[path]
    assert_deep(any_and_near(body, answer_of(host, path), 40), body, reasons)
