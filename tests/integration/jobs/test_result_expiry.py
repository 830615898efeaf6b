"""A succeeded job whose result the storage lifecycle rule deleted, against Azurite with the real SDKs: the
status API answers the job without links, its `result.expired` a 410 `result_expired` problem document,
rather than links that lead to nothing (Azurite runs no lifecycle rules, so the test deletes the blobs). It
asks with a properties request, never a download, and storage it cannot reach costs the check, not the job."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

from emulators.azurite import free_port
from shared.adapters.azure_job_store import TableJobStore
from shared.adapters.azure_photo_store import RESULTS, BlobPhotoStore
from shared.jobs import ids
from shared.jobs.api import JobsApi
from shared.jobs.models import Job, JobState

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
KEPT = timedelta(days=90)


@pytest.fixture
def blobs(storage_connection: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(storage_connection)


@pytest.fixture
def api(storage_connection: str, blobs: BlobServiceClient, unique: str) -> JobsApi:
    store = TableJobStore(TableServiceClient.from_connection_string(storage_connection), prefix=f"t{unique[:8]}")
    photos = BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False)
    photos.ensure_containers()
    # A day past the result's days: the API asks storage whether it is still there.
    return JobsApi(store, photos, retry=lambda job: job, results_kept=KEPT, clock=lambda: T0 + KEPT + timedelta(days=1))


def succeeded(api: JobsApi, blobs: BlobServiceClient, name: str, finished: datetime = T0) -> Job:
    """A job received at T0 whose result is written then, and whose completion is processed at `finished`."""
    job = Job(ids.job_id_for(name), "site1", "dev1", name, name, '"e1"', T0)
    created = api.store.create(job)
    assert created is not None
    queued = api.store.update(created.advance(JobState.QUEUED, T0, model="ocr/ppocrv4"))
    path = ids.result_path(job.id)
    blobs.get_blob_client(RESULTS, path).upload_blob(b'{"lines": []}', overwrite=True)
    blobs.get_blob_client(RESULTS, ids.overlay_beside(path)).upload_blob(b"overlay jpeg", overwrite=True)
    summary = {"kind": "ocr", "lines": 1, "text": ["PUMP 1"], "width": 640, "height": 480}
    return api.store.update(queued.advance(JobState.SUCCEEDED, finished, result_path=path, summary=summary, attempt=1))


def test_a_job_whose_result_blobs_were_deleted_answers_the_result_expired_problem(api, blobs, unique):
    job = succeeded(api, blobs, f"site1/dev1/{unique}.jpg")
    kept = api.handle("get", {"id": job.id}, {}, {}, b"")
    assert kept.status == 200 and "expired" not in kept.body["result"]
    with urllib.request.urlopen(kept.body["result"]["links"]["overlay"], timeout=10) as response:
        assert response.read() == b"overlay jpeg"

    path = job.result_path or ""
    for blob in (path, ids.overlay_beside(path)):  # what the expire-results rule does
        blobs.get_blob_client(RESULTS, blob).delete_blob()

    gone = api.handle("get", {"id": job.id}, {}, {}, b"")
    assert gone.status == 200 and gone.body["state"] == "SUCCEEDED"
    result = gone.body["result"]
    assert result["links"] == {} and result["summary"]["text"] == ["PUMP 1"]
    assert result["expired"]["status"] == 410 and result["expired"]["reason"] == "result_expired"
    assert result["expired"]["title"] == "Gone" and result["expired"]["type"].endswith("#result_expired")
    assert gone.headers["ETag"] != kept.headers["ETag"]
    # The ETag the links were served with no longer matches: no 304 hides the expiry.
    again = api.handle("get", {"id": job.id}, {}, {"If-None-Match": kept.headers["ETag"]}, b"")
    assert again.status == 200 and again.body["result"]["links"] == {}


def api_over(api: JobsApi, blobs: BlobServiceClient, at: datetime) -> JobsApi:
    photos = BlobPhotoStore(blobs, account_key=blobs.credential.account_key, https_only=False)
    return JobsApi(api.store, photos, retry=lambda job: job, results_kept=KEPT, clock=lambda: at)


def test_a_result_deleted_before_its_job_finished_plus_its_days_is_found_gone(api, blobs, unique, storage_connection):
    """The completion came hours after the write; the rule counts from the write, so the API asks from the receipt,
    and only with a HEAD: the result is not downloaded for it."""
    job = succeeded(api, blobs, f"site1/dev1/{unique}.jpg", finished=T0 + timedelta(hours=3))
    path = job.result_path or ""
    for blob in (path, ids.overlay_beside(path)):
        blobs.get_blob_client(RESULTS, blob).delete_blob()
    asked: list[tuple[str, str]] = []

    def seen(request: Any) -> None:
        asked.append((request.http_request.method, unquote(urlparse(request.http_request.url).path)))

    watched = BlobServiceClient.from_connection_string(storage_connection, raw_request_hook=seen)
    gone = api_over(api, watched, T0 + KEPT + timedelta(hours=2)).handle("get", {"id": job.id}, {}, {}, b"")
    assert gone.body is not None and gone.body["result"]["links"] == {}
    assert gone.body["result"]["expired"]["reason"] == "result_expired"
    assert asked == [("HEAD", f"/{watched.account_name}/{RESULTS}/{path}")]


def test_storage_out_of_reach_answers_the_links_rather_than_failing_the_job(api, blobs, unique):
    job = succeeded(api, blobs, f"site1/dev1/{unique}.jpg")
    dead = BlobServiceClient(f"http://127.0.0.1:{free_port()}/devstoreaccount1", credential=blobs.credential,
                             retry_total=0)  # fmt: skip
    reply = api_over(api, dead, T0 + KEPT + timedelta(days=1)).handle("get", {"id": job.id}, {}, {}, b"")
    assert reply.status == 200 and reply.body is not None and reply.body["state"] == "SUCCEEDED"
    assert "expired" not in reply.body["result"]
    assert set(reply.body["result"]["links"]) == {"result", "overlay"}
