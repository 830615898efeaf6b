"""On Azurite, through a device's upload SAS (`cw`) and the real ingestion: a valid photo written as a page blob,
which storage lifecycle management never expires, or as an append blob is refused `not_block_blob` from its
properties and deleted (its snapshots too, a device's lease broken first), never copied to quarantine/. Pages
written after ingestion looked raise no event and are deleted too, and so is a later write of the name as a page
blob; a block blob is never deleted for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.storage.blob import BlobClient, BlobLeaseClient, BlobType

from shared.jobs.models import JobState
from shared.jobs.not_kept import NOT_BLOCK_BLOB, NOTES
from shared.jobs.ports import BlobInfo
from tests.integration.jobs.test_photo_versions import Rig, batch, commit, photo, rig  # noqa: F401

pytestmark = pytest.mark.integration
PAGE = 512  # a page blob's size is a whole number of pages


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % PAGE)  # zeros after the JPEG's end: a decoder ignores them


def write_as(url: str, blob_type: BlobType, data: bytes) -> BlobClient:
    """What the SDK does with the device's SAS: Put Blob of that type (`c`), then Put Page or Append Block (`w`)."""
    device = BlobClient.from_blob_url(url)
    device.upload_blob(padded(data), blob_type=blob_type, overwrite=True)
    return device


def gone(world: Rig, name: str) -> bool:
    return world.photos_left(name) == [] and not world.blobs.get_blob_client("quarantine", name).exists()


@pytest.mark.parametrize("blob_type", [BlobType.PAGEBLOB, BlobType.APPENDBLOB])
def test_a_valid_photo_not_in_a_block_blob_is_rejected_and_deleted_with_its_snapshot_and_lease(
    rig: Rig,  # noqa: F811 (the fixture imported above)
    blob_type: BlobType,
):
    name, url, hint = rig.grant()
    device = write_as(url, blob_type, photo(1))
    device.create_snapshot()
    BlobLeaseClient(device).acquire(lease_duration=-1)
    assert rig.ingestion.photos.photo_info(name).blob_type == blob_type.value
    job = rig.ingestion.ingest(name)
    assert job is not None and job.id == hint and (job.state, job.reason) == (JobState.REJECTED, NOT_BLOCK_BLOB)
    assert job.detail is not None and blob_type.value in job.detail and job.detail.endswith(NOTES[NOT_BLOCK_BLOB])
    assert job.batch_job_id is None and gone(rig, name)
    assert rig.ingestion.ingest(name) is None  # a redelivery finds nothing left to do
    assert [j.id for j in rig.jobs_under_site()] == [hint] and rig.store.get(hint).event_published


def test_pages_written_after_ingestion_read_the_properties_are_deleted_too(rig: Rig, monkeypatch):  # noqa: F811
    name, url, hint = rig.grant()
    device = BlobClient.from_blob_url(url)
    device.create_page_blob(len(padded(photo(1))))  # Put Blob: its BlobCreated event is raised now
    photos: Any = rig.ingestion.photos
    real_info: Callable[[str], BlobInfo] = photos.photo_info

    def info_then_pages(blob_name: str) -> BlobInfo:  # Put Page lands after the delivery read the properties
        info = real_info(blob_name)
        monkeypatch.setattr(photos, "photo_info", real_info)
        data = padded(photo(1))
        device.upload_page(data, offset=0, length=len(data))  # a new ETag, and no event of its own
        return info

    monkeypatch.setattr(photos, "photo_info", info_then_pages)
    job = rig.ingestion.ingest(name)
    assert job is not None and job.id == hint and (job.state, job.reason) == (JobState.REJECTED, NOT_BLOCK_BLOB)
    assert gone(rig, name)


def test_a_later_write_as_a_page_blob_is_deleted_and_the_job_keeps_its_block_blob(rig: Rig):  # noqa: F811
    name, url, hint = rig.grant()
    commit(url, photo(1))
    first = rig.ingestion.ingest(name)
    assert first is not None and first.state is JobState.QUEUED
    write_as(url, BlobType.PAGEBLOB, photo(2))  # re-created through the SAS while it lives
    again = rig.ingestion.ingest(name)  # its BlobCreated event
    assert again is not None and again.id == hint and again.state is JobState.QUEUED and again.later_writes == 1
    assert gone(rig, name)
