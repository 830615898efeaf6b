"""A succeeded job whose result the storage lifecycle rule deleted, against Azurite with the real SDKs: the
status API answers the job without links, its `result.expired` a 410 `result_expired` problem document,
rather than links that lead to nothing (Azurite runs no lifecycle rules, so the test deletes the blobs)."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

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


def succeeded(api: JobsApi, blobs: BlobServiceClient, name: str) -> Job:
    job = Job(ids.job_id_for(name), "site1", "dev1", name, name, '"e1"', T0)
    created = api.store.create(job)
    assert created is not None
    queued = api.store.update(created.advance(JobState.QUEUED, T0, model="ocr/ppocrv4"))
    path = ids.result_path(job.id)
    blobs.get_blob_client(RESULTS, path).upload_blob(b'{"lines": []}', overwrite=True)
    blobs.get_blob_client(RESULTS, ids.overlay_beside(path)).upload_blob(b"overlay jpeg", overwrite=True)
    summary = {"kind": "ocr", "lines": 1, "text": ["PUMP 1"], "width": 640, "height": 480}
    return api.store.update(queued.advance(JobState.SUCCEEDED, T0, result_path=path, summary=summary, attempt=1))


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
