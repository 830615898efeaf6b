"""Property, through the real app on the local host: any body to any endpoint gets 2xx or a 4xx problem document.

The unit property tests cover the API modules; this one adds what sits in front of them (the host's binding
data, the function wiring, the media type), with fewer examples since each is an HTTP round trip.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.integration.api.conftest import AppHost
from tests.support.stack import HostProcess
from tests.unit.api.fakes import JOB_ID, PROBLEM_MEMBERS, documented_codes
from tests.unit.api.test_never_500 import bodies

pytestmark = pytest.mark.integration
DOCUMENTED = documented_codes()
ENDPOINTS = {
    "/uploads": ("site_id", "device_id", "photo_id", "ext", "content_type"),
    "/subscriptions": ("url", "site", "event_types"),
    f"/jobs/{JOB_ID}/feedback": ("label", "text", "note"),
}


@pytest.fixture(scope="module")
def host(app_host: AppHost) -> HostProcess:
    return app_host.host


def post(host: HostProcess, path: str, body: bytes) -> tuple[int, str, Any]:
    headers = {"x-functions-key": "host-key", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{host.url}/api{path}", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            raw, status, media = r.read(), r.status, r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        with e:
            raw, status, media = e.read(), e.code, e.headers.get("Content-Type", "")
    return status, media, json.loads(raw) if raw else None


@pytest.mark.parametrize("path", list(ENDPOINTS))
def test_any_body_gets_2xx_or_a_4xx_problem_document(host, path):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(bodies(*ENDPOINTS[path]))
    def check(raw: bytes) -> None:
        status, media, doc = post(host, path, raw)
        assert status < 500, (status, doc)
        if status >= 400:
            assert media.startswith("application/problem+json") and set(doc) == PROBLEM_MEMBERS, doc
            assert doc["status"] == status and doc["reason"] in DOCUMENTED, doc

    check()
