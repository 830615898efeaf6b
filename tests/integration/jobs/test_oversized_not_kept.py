"""On Azurite, through a device's SAS and the real ingestion: a photo refused for its size is deleted (its
snapshots too, a device's lease broken first), never copied to quarantine/, and a crash between the verdict and
the delete is finished by the next delivery; the delete is pinned to the job's version."""

from __future__ import annotations

import pytest
from azure.storage.blob import BlobClient, BlobLeaseClient

from shared.errors import NotFound, TransientError
from shared.jobs.ingestion import NOT_KEPT_NOTE
from shared.jobs.models import JobState
from shared.validation import Limits
from tests.integration.jobs.test_photo_versions import Rig, batch, commit, overwrite, photo, rig  # noqa: F401

pytestmark = pytest.mark.integration
CAP = 64 * 1024  # a small byte cap, so "too large" needs no 40 MiB upload


@pytest.fixture
def small_cap(rig: Rig) -> Rig:  # noqa: F811 (the fixture imported above)
    rig.ingestion.limits = Limits(max_bytes=CAP)
    return rig


def too_large() -> bytes:
    return b"\xff\xd8\xff" + bytes(CAP)


def test_a_too_large_photo_is_deleted_with_its_snapshot_and_lease_and_never_quarantined(small_cap: Rig):
    name, url, hint = small_cap.grant()
    commit(url, too_large())
    device = BlobClient.from_blob_url(url)
    device.create_snapshot()
    BlobLeaseClient(device).acquire(lease_duration=-1)
    job = small_cap.ingestion.ingest(name)
    assert job is not None and job.id == hint and (job.state, job.reason) == (JobState.REJECTED, "too_large")
    assert job.detail is not None and job.detail.endswith(NOT_KEPT_NOTE)
    assert small_cap.photos_left(name) == []
    assert not small_cap.blobs.get_blob_client("quarantine", name).exists()
    assert small_cap.ingestion.ingest(name) is None  # a redelivery finds nothing left to do


def test_a_crash_between_the_verdict_and_the_delete_is_finished_by_the_next_delivery(small_cap: Rig, monkeypatch):
    name, url, hint = small_cap.grant()
    commit(url, too_large())
    photos = small_cap.ingestion.photos
    real_discard = photos.discard

    def storage_down(blob_name: str, etag: str) -> None:
        raise TransientError("storage unreachable")

    monkeypatch.setattr(photos, "discard", storage_down)
    with pytest.raises(TransientError):
        small_cap.ingestion.ingest(name)
    assert small_cap.store.get(hint).state is JobState.REJECTED and len(small_cap.photos_left(name)) == 1
    monkeypatch.setattr(photos, "discard", real_discard)
    again = small_cap.ingestion.ingest(name)  # the host's next delivery of the event
    assert again is not None and (again.state, again.reason) == (JobState.REJECTED, "too_large")
    assert small_cap.photos_left(name) == [] and not small_cap.blobs.get_blob_client("quarantine", name).exists()
    assert [j.id for j in small_cap.jobs_under_site()] == [hint] and small_cap.store.get(hint).event_published


def test_the_delete_is_pinned_to_the_jobs_version_and_a_later_write_stays(small_cap: Rig):
    name, url, _ = small_cap.grant()
    first = commit(url, too_large())
    overwrite(url, photo(1))  # written again before the delete
    with pytest.raises(NotFound):
        small_cap.ingestion.photos.discard(name, first)
    assert len(small_cap.photos_left(name)) == 1
