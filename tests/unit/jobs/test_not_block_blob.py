"""A photo stored as anything but a block blob (a page blob, which storage lifecycle never expires, or an append
blob) is refused `not_block_blob` before a byte is read, and deleted, never copied to quarantine/; so is a later
version the device writes under the name without an event (Put Page), and a later write of that type."""

from __future__ import annotations

import pytest

from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.models import JobState
from shared.jobs.not_kept import NOT_BLOCK_BLOB, NOTES
from tests.unit.jobs.test_pipeline import NAME, World, photo


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize("blob_type", ["PageBlob", "AppendBlob"])
def test_a_valid_photo_not_in_a_block_blob_is_rejected_unread_and_deleted(world: World, blob_type: str):
    name = NAME.format(1)
    world.photos.add(name, photo(1), blob_type=blob_type)
    job = world.ingestion.ingest(name)
    assert job is not None and (job.state, job.reason) == (JobState.REJECTED, NOT_BLOCK_BLOB)
    assert job.detail is not None and blob_type in job.detail and job.detail.endswith(NOTES[NOT_BLOCK_BLOB])
    assert world.photos.reads == 0  # refused from its properties: no byte of it downloaded
    assert name not in world.photos.photos and name not in world.photos.quarantined
    assert world.photos.discarded == [name] and not world.batch.tasks and not world.photos.derived
    assert world.outbox.states() == [JobState.REJECTED]
    assert world.ingestion.ingest(name) is None  # a redelivery finds nothing left to do


def test_pages_written_after_ingestion_looked_are_deleted_too(world: World, monkeypatch):
    name = NAME.format(1)
    world.photos.add(name, bytes(512), etag='"0x1"', blob_type="PageBlob")  # Put Blob: the event comes now
    real_discard = world.photos.discard

    def pages_land_first(blob_name: str, etag: str) -> None:  # Put Page: a new ETag, and no event of its own
        world.photos.add(name, photo(1), etag='"0x2"', blob_type="PageBlob")
        monkeypatch.setattr(world.photos, "discard", real_discard)
        real_discard(blob_name, etag)

    monkeypatch.setattr(world.photos, "discard", pages_land_first)
    job = world.ingestion.ingest(name)
    assert job is not None and (job.state, job.reason, job.blob_etag) == (JobState.REJECTED, NOT_BLOCK_BLOB, '"0x1"')
    assert name not in world.photos.photos and world.photos.discarded == [name]


def test_a_later_write_as_a_page_blob_is_deleted_and_a_later_block_blob_stays(world: World):
    name = world.upload(1)
    first = world.ingestion.ingest(name)
    assert first is not None and first.state is JobState.QUEUED
    world.photos.add(name, photo(2), etag='"0x9"', blob_type="PageBlob")  # re-created through the upload SAS
    again = world.ingestion.ingest(name)  # its BlobCreated event
    assert again is not None and again.id == first.id and again.later_writes == 1
    assert name not in world.photos.photos and world.photos.discarded == [name]
    world.photos.add(name, photo(3), etag='"0xa"')  # a block blob again: lifecycle expires it, so it stays
    assert world.ingestion.ingest(name) is not None and world.photos.photos[name] == photo(3)


def test_a_name_rewritten_as_fast_as_it_is_deleted_retries_the_delivery(world: World, monkeypatch):
    name = NAME.format(1)
    world.photos.add(name, photo(1), blob_type="PageBlob")
    rewrites = iter(range(2, 100))

    def rewritten(blob_name: str, etag: str) -> None:  # every delete finds a newer version (412: it stays)
        world.photos.add(name, photo(1), etag=f'"0x{next(rewrites)}"', blob_type="PageBlob")

    monkeypatch.setattr(world.photos, "discard", rewritten)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    assert world.store.get(ids.job_id_for(name)).state is JobState.REJECTED  # the verdict stands for the redelivery


def test_a_block_blob_is_read_and_queued_as_before(world: World):
    name = world.upload(1)
    job = world.ingestion.ingest(name)
    assert job is not None and job.state is JobState.QUEUED and world.photos.reads == 1
