"""The status API's caching through the local Functions host: a 304 never confirms result links that expire
within 15 minutes, HEAD answers wherever GET does, `Cache-Control` on every answer, and a chunked body that
arrives empty is 411."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.data.tables import TableServiceClient

from shared.adapters.azure_job_store import TableJobStore
from shared.jobs import ids
from shared.jobs.api import LINK_WINDOW
from shared.jobs.document import LINK_TTL
from shared.jobs.models import Job, JobState
from tests.integration.api.conftest import KEY, AppHost

pytestmark = pytest.mark.integration
Answer = tuple[int, dict[str, str], bytes]
TRIES = 3  # a request pair straddles a window's end at most once


def send(app_host: AppHost, method: str, path: str, headers: dict[str, str] | None = None) -> Answer:
    request = urllib.request.Request(f"{app_host.host.url}/api{path}", method=method,
                                     headers={"x-functions-key": KEY, **(headers or {})})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def succeeded(app_host: AppHost) -> str:
    """A SUCCEEDED job with a result, received now (so the app does not ask storage whether it expired)."""
    store = TableJobStore(TableServiceClient.from_connection_string(app_host.connection), prefix=f"t{app_host.unique}")
    name = f"c{app_host.unique}/cam1/2026/11/22/IMG_1.jpg"
    now = datetime.now(UTC)
    store.create(Job(ids.job_id_for(name), f"c{app_host.unique}", "cam1", "IMG_1", name, '"0x1"', now))
    job = store.update(store.get(ids.job_id_for(name)).advance(JobState.QUEUED, now))
    summary = {"kind": "ocr", "lines": 1, "text": ["PUMP 1"], "width": 640, "height": 480}
    job = store.update(job.advance(JobState.SUCCEEDED, now, result_path=ids.result_path(job.id), summary=summary,
                                   model="ocr/ppocrv4"))  # fmt: skip
    return job.id


def links_expire(body: bytes) -> set[datetime]:
    links = json.loads(body)["result"]["links"]
    assert set(links) == {"result", "overlay"}
    return {datetime.strptime(parse_qs(urlsplit(url).query)["se"][0], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            for url in links.values()}  # fmt: skip


def test_a_304_confirms_only_links_that_live_15_minutes_more_and_none_lives_over_20(app_host, succeeded):
    for _ in range(TRIES):
        status, first, body = send(app_host, "GET", f"/jobs/{succeeded}")
        answered_by = datetime.now(UTC)
        assert status == 200
        expiries = links_expire(body)
        assert max(expiries) <= answered_by + LINK_TTL + LINK_WINDOW
        asked_at = datetime.now(UTC)
        status, again, body = send(app_host, "GET", f"/jobs/{succeeded}", {"If-None-Match": first["ETag"]})
        if status == 304:  # the window had not ended: the links held must still be good for LINK_TTL
            assert body == b"" and again["ETag"] == first["ETag"]
            assert min(expiries) >= asked_at + LINK_TTL
            assert first["ETag"].startswith('W/"SUCCEEDED-') and first["ETag"].count('"') == 2
            assert first["Cache-Control"] == again["Cache-Control"] == "private, no-cache"
            return
        assert status == 200 and again["ETag"] != first["ETag"]  # a new window: new links
    pytest.fail(f"no 304 in {TRIES} tries")


def test_head_answers_as_get_does_without_a_body(app_host, succeeded):
    for path in (f"/jobs/{succeeded}", f"/jobs?site=c{app_host.unique}", "/jobs", "/health"):
        got, head = send(app_host, "GET", path), send(app_host, "HEAD", path)
        assert head[0] == got[0] and head[2] == b"", path
        for name in ("Content-Type", "Cache-Control", "Retry-After"):
            assert head[1].get(name) == got[1].get(name), (path, name)
    etag = send(app_host, "GET", f"/jobs/{succeeded}")[1]["ETag"]
    status, headers, _ = send(app_host, "HEAD", f"/jobs/{succeeded}", {"If-None-Match": etag})
    assert status == 304 or headers["ETag"] != etag  # a 200 only where a new window began in between
    status, headers, _ = send(app_host, "HEAD", "/uploads")
    assert (status, headers["Allow"]) == (405, "POST")
    status, headers, _ = send(app_host, "PUT", "/jobs")
    assert (status, headers["Allow"]) == (405, "GET, HEAD")


def test_answers_without_a_cache_control_of_their_own_are_no_store(app_host):
    for path, status in ((f"/jobs?site=c{app_host.unique}", 200), ("/jobs", 400), ("/jobs/nope", 400)):
        answer = send(app_host, "GET", path)
        assert (answer[0], answer[1].get("Cache-Control")) == (status, "no-store"), path


def test_a_chunked_body_that_arrives_empty_is_411(app_host):
    """No chunk at all: the local host reads an empty body, as Azure's hands the app one for any chunked body."""
    parts = urlsplit(app_host.host.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.request("POST", "/api/uploads", body=iter(()), encode_chunked=True,
                           headers={"x-functions-key": KEY, "Transfer-Encoding": "chunked",
                                    "Content-Type": "application/json"})  # fmt: skip
        response = connection.getresponse()
        doc = json.loads(response.read())
    finally:
        connection.close()
    assert (response.status, doc["reason"]) == (411, "length_required")
