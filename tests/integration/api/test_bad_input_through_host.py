"""The security review's inputs, through the real function_app.py on the local Functions host and Azurite.

Each answer must be a 4xx RFC 9457 problem document with a documented reason code: never a 500, never a raw
storage error, never a wrong 200.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_job_store import TableJobStore
from shared.jobs import ids
from shared.jobs.models import Job, JobState
from tests.integration.api.conftest import AppHost
from tests.support.stack import HostProcess

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
NESTED = b"[" * 4096  # 4 KiB of '[': deeper than the parser's recursion limit


class Api:
    def __init__(self, host: HostProcess, connection: str, unique: str) -> None:
        self.host, self.connection, self.unique = host, connection, unique

    def call(self, method: str, path: str, body: bytes | object | None = None) -> tuple[int, str, Any]:
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"x-functions-key": "host-key", "Content-Type": "application/json"}
        request = urllib.request.Request(f"{self.host.url}/api{path}", data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                raw, status, media = r.read(), r.status, r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            with e:
                raw, status, media = e.read(), e.code, e.headers.get("Content-Type", "")
        return status, media, json.loads(raw) if raw else None

    def refused(self, method: str, path: str, body: bytes | object | None, status: int, reason: str) -> None:
        got, media, doc = self.call(method, path, body)
        assert (got, doc and doc.get("reason")) == (status, reason), doc
        assert media.startswith("application/problem+json") and doc["status"] == status and doc["detail"]


@pytest.fixture(scope="module")
def api(app_host: AppHost) -> Api:
    return Api(app_host.host, app_host.connection, app_host.unique)


def job_id(name: str) -> str:
    return "j_" + base64.b32encode(hashlib.sha256(name.encode()).digest()).decode().lower()[:26]


@pytest.mark.parametrize(
    ("path", "body"),
    [("/uploads", NESTED), ("/subscriptions", NESTED), (f"/jobs/{job_id('x')}/feedback", NESTED),
     ("/uploads", b"\xff\xfe{"), ("/subscriptions", b'{"url": NaN}'), ("/subscriptions", b"[]")],
)  # fmt: skip
def test_malformed_bodies_are_invalid_json(api, path, body):
    api.refused("POST", path, body, 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"url": "http://127.0.0.1/" + "a" * 10 * 1024 * 1024}, "invalid_json"),  # 10 MB: over the body cap
        ({"url": "http://127.0.0.1/" + "a" * 100 * 1024}, "invalid_json"),  # 100 KB: over Table's 64 KiB too
        ({"url": "http://127.0.0.1/" + "a" * 3000}, "invalid_url"),
        ({"url": "http://127.0.0.1:9/hook", "site": {"nested": "object"}}, "invalid_site"),
        ({"url": "http://127.0.0.1:9/hook", "site": 12}, "invalid_site"),  # was stored as an integer
        ({"url": "http://127.0.0.1:9/hook", "event_types": "job.failed"}, "invalid_event_types"),
    ],
)
def test_bad_subscriptions_are_400_and_nothing_is_stored(api, body, reason):
    api.refused("POST", "/subscriptions", body, 400, reason)
    assert api.call("GET", "/subscriptions")[2] == {"items": []}


def test_failed_deliveries_of_an_unknown_subscription_are_404(api):
    api.refused("GET", f"/subscriptions/sub_{uuid.uuid4().hex}/failed", None, 404, "not_found")
    api.refused("GET", "/subscriptions/sub_x'/failed", None, 400, "bad_subscription_id")
    api.refused("DELETE", f"/subscriptions/sub_{'0' * 32}{'0' * 3000}", None, 400, "bad_subscription_id")
    status, _, created = api.call("POST", "/subscriptions", {"url": "http://127.0.0.1:9/hook", "site": "yard-1"})
    assert status == 201 and created["site"] == "yard-1"
    assert api.call("GET", f"/subscriptions/{created['id']}/failed")[:3:2] == (200, {"items": [], "continuation": None})
    assert api.call("DELETE", f"/subscriptions/{created['id']}")[0] == 204


def test_continuation_tokens_page_and_a_bad_one_is_400_never_the_first_page(api):
    store = TableJobStore(TableServiceClient.from_connection_string(api.connection), prefix=f"t{api.unique}")
    site, start = f"s{api.unique}", datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
    for n in range(3):
        name = f"{site}/cam1/2026/11/22/IMG_{n}.jpg"
        store.create(Job(id=job_id(name), site=site, device="cam1", photo_id=f"IMG_{n}", blob_name=name,
                         blob_etag='"0x1"', received_at=start + timedelta(minutes=n)))  # fmt: skip
    status, _, first = api.call("GET", f"/jobs?site={site}&limit=2")
    assert status == 200 and len(first["jobs"]) == 2 and first["continuation"]
    status, _, second = api.call("GET", f"/jobs?site={site}&limit=2&continuation={first['continuation']}")
    assert status == 200 and [j["photo_id"] for j in second["jobs"]] == ["IMG_2"] and second["continuation"] is None

    forged = base64.urlsafe_b64encode(b"2026-11-22T08:00:00.000000Z~not-a-job").decode().rstrip("=")
    for token in ("!!!", forged, first["continuation"][:-2], "%00"):
        query = urllib.parse.urlencode({"site": site, "limit": "2", "continuation": urllib.parse.unquote(token)})
        api.refused("GET", f"/jobs?{query}", None, 400, "bad_query")
    api.refused("GET", f"/jobs?site={site}&limit=101", None, 400, "bad_query")
    api.refused("GET", "/jobs?site=a%2Fb", None, 400, "invalid_site")


def test_long_urls_and_missing_keys_are_problem_documents_too(api):
    api.refused("GET", "/jobs?site=" + "s" * 9000, None, 414, "uri_too_long")
    request = urllib.request.Request(f"{api.host.url}/api/subscriptions")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    with caught.value as answer:
        assert answer.code == 401 and answer.headers["Content-Type"].startswith("application/problem+json")
        assert json.loads(answer.read())["reason"] == "unauthorized"


def _finished(api: Api, name: str, summary: dict[str, Any]) -> Job:
    """A SUCCEEDED job of the summary's kind, stored where the app reads jobs."""
    store = TableJobStore(TableServiceClient.from_connection_string(api.connection), prefix=f"t{api.unique}")
    at = datetime(2026, 12, 6, 8, 0, tzinfo=UTC)
    job = Job(id=job_id(name), site="yard", device="cam1", photo_id=name, blob_name=f"yard/cam1/2026/12/06/{name}.jpg",
              blob_etag='"0x1"', received_at=at, state=JobState.SUCCEEDED, finished_at=at, model="parts/1.0.0",
              result_path=ids.result_path(job_id(name)), summary=summary)  # fmt: skip
    store.create(job)
    return job


def test_feedback_per_kind_through_the_host_and_the_job_document_as_openapi_json_says(api):
    detect = _finished(api, f"d{api.unique}", {"kind": "detect", "width": 640, "height": 480, "boxes": 1, "best": [
        {"label": "crack", "class_id": 0, "score": 0.9, "box": [160.0, 80.0, 480.0, 400.0]}]})  # fmt: skip
    classify = _finished(api, f"c{api.unique}", {"kind": "classify", "width": 320, "height": 64,
                                                 "labels": [{"label": "180", "score": 0.99}]})  # fmt: skip
    spec = json.loads((REPO / "openapi.json").read_text())
    schema = jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/Job", "components": spec["components"]})
    for job in (detect, classify):
        status, _, doc = api.call("GET", f"/jobs/{job.id}")
        assert status == 200 and doc["result"]["summary"] == job.summary
        assert not [f"{e.instance_path}: {e.message}" for e in schema.iter_errors(doc)]
    boxes = [{"label": "crack", "box": [150, 90, 470, 380]}]
    status, _, kept = api.call("POST", f"/jobs/{detect.id}/feedback", {"boxes": boxes, "note": "longer"})
    assert status == 201 and kept["boxes"] == [{"label": "crack", "box": [150.0, 90.0, 470.0, 380.0]}]
    table = TableServiceClient.from_connection_string(api.connection).get_table_client(f"t{api.unique}jobfeedback")
    [row] = table.query_entities("PartitionKey eq @job", parameters={"job": detect.id})
    assert json.loads(row["boxes"]) == kept["boxes"] and row["note"] == "longer"  # a list, kept as its JSON
    assert api.call("POST", f"/jobs/{classify.id}/feedback", {"label": "0"})[0] == 201
    api.refused("POST", f"/jobs/{classify.id}/feedback", {"boxes": boxes}, 400, "feedback_wrong_kind")
    api.refused("POST", f"/jobs/{detect.id}/feedback", {"label": "crack"}, 400, "feedback_wrong_kind")
    api.refused("POST", f"/jobs/{detect.id}/feedback", {"boxes": [{"label": "crack", "box": [9, 0, 1, 5]}]}, 400,
                "bad_feedback")  # fmt: skip
    api.refused("POST", f"/jobs/{detect.id}/feedback", {"boxes": [{"label": "crack", "box": [0, 0, 641, 5]}]}, 400,
                "bad_feedback")  # fmt: skip
