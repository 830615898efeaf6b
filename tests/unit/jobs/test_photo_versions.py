"""One photo name, one job, bound to the version ingestion first reads; later writes are recorded only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from azure.core.exceptions import AzureError, HttpResponseError

from shared.adapters.azure_errors import call
from shared.errors import Conflict, PermanentError, TransientError
from shared.jobs import document, ids
from shared.jobs.models import JobState
from tests.unit.adapters.test_sdk_errors import answered, copy_source, cut_off, thrown
from tests.unit.jobs.test_pipeline import World, photo


@pytest.fixture
def world() -> World:
    return World()


def overwrite(world: World, name: str, data: bytes, etag: str) -> None:
    """What the upload SAS can do while it lives: replace the committed blob (a new ETag)."""
    world.photos.add(name, data, etag=etag)


def test_an_overwrite_before_ingestion_is_processed_under_the_devices_job_id_and_shows_its_etag(world):
    name = world.upload(1)  # the device's commit, ETag "0x1"
    overwrite(world, name, photo(99), '"0xBAD"')  # the same SAS, before the trigger ran
    first, second = world.ingestion.ingest(name), world.ingestion.ingest(name)  # both versions' events
    assert first.id == second.id == ids.job_id_for(name) and len(world.store.jobs) == 1
    assert first.state is JobState.QUEUED and list(world.batch.tasks) == [first.id]
    doc = document.public(world.store.get(first.id))
    assert doc["photo_etag"] == "0xBAD" and doc["later_writes"] == 0  # the device sees it is not its commit


def test_a_write_after_ingestion_is_recorded_once_and_never_processed(world):
    name = world.upload(1)
    job = world.ingestion.ingest(name)
    reads, derived = world.photos.reads, world.photos.derived[job.id]
    overwrite(world, name, photo(99), '"0x2"')
    for _ in range(3):  # the later version's event, delivered again and again
        again = world.ingestion.ingest(name)
    assert again.id == job.id and len(world.store.jobs) == 1 and list(world.batch.tasks) == [job.id]
    assert again.later_writes == 1 and again.later_etag == '"0x2"' and again.blob_etag == '"0x1"'
    assert world.photos.reads == reads and world.photos.derived[job.id] == derived  # nothing re-read or redone
    overwrite(world, name, photo(98), '"0x3"')
    assert world.ingestion.ingest(name).later_writes == 2


def test_a_later_write_to_a_finished_job_changes_only_the_record_not_its_state_or_event(world):
    name = world.upload(1)
    job = world.ingestion.ingest(name)
    world.completion.handle(world.finish_task(job.id))
    overwrite(world, name, photo(99), '"0x2"')
    done = world.ingestion.ingest(name)
    assert done.state is JobState.SUCCEEDED and done.later_writes == 1
    assert world.outbox.states() == [JobState.SUCCEEDED] and world.batch.submissions == 1


def test_a_version_replaced_before_validation_read_it_ends_failed_overwritten_once(world, monkeypatch):
    name = world.upload(1)
    real_info = world.photos.photo_info

    def info_then_overwrite(blob_name):  # the overwrite lands between the properties and the ranged read
        info = real_info(blob_name)
        overwrite(world, name, photo(99), '"0x2"')
        return info

    monkeypatch.setattr(world.photos, "photo_info", info_then_overwrite)
    job = world.ingestion.ingest(name)
    assert job.id == ids.job_id_for(name) and job.state is JobState.FAILED and job.reason == "overwritten"
    assert "0x1" in job.detail and not world.batch.tasks
    monkeypatch.setattr(world.photos, "photo_info", real_info)
    again = world.ingestion.ingest(name)  # the later version's own event
    assert again.state is JobState.FAILED and again.later_writes == 1 and len(world.store.jobs) == 1
    assert world.outbox.states() == [JobState.FAILED] and name in world.photos.photos  # the later one stays
    retried = world.ingestion.retry(again)  # the explicit way to have the later version processed
    assert retried.retry_of == job.id and retried.blob_etag == '"0x2"' and retried.state is JobState.QUEUED


def test_a_received_job_whose_version_was_replaced_is_failed_by_the_reconciler(world):
    name = world.upload(1)
    world.batch.down = True  # validated, but not submitted
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    world.batch.down = False
    overwrite(world, name, photo(99), '"0x2"')
    world.clock.advance(16 * 60)
    world.reconciler.run()
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.FAILED and job.reason == "overwritten" and not world.batch.tasks


def test_a_version_storage_refuses_to_read_fails_the_job_not_the_delivery(world, monkeypatch):
    name = world.upload(1)

    def archived(blob_name, etag, max_bytes):
        raise Conflict("photo: BlobArchived")  # a 409 the SAS holder can cause with Set Blob Tier

    monkeypatch.setattr(world.photos, "read_photo", archived)
    job = world.ingestion.ingest(name)
    assert job.state is JobState.FAILED and job.reason == "photo_unreadable" and "BlobArchived" in job.detail


def reading_raises(sdk_error: AzureError) -> Callable[[str, str, int], bytes]:
    """A `read_photo` that fails as the real adapter does: the SDK's error through the one mapping."""

    def read(blob_name: str, etag: str, max_bytes: int) -> bytes:
        def download() -> bytes:
            raise sdk_error

        return call(f"photo {blob_name}", download)

    return read


def test_a_read_the_apps_identity_may_not_make_fails_the_delivery_not_the_job(world, monkeypatch):
    name = world.upload(1)
    # What storage answers a role that does not allow the read (or not yet: a role assignment propagating);
    # the storage SDK leaves a 403 a plain HttpResponseError unless its code is about the credential itself.
    refused = thrown(answered(HttpResponseError(message="This request is not authorized"), 403,
                              "AuthorizationPermissionMismatch"))  # fmt: skip
    monkeypatch.setattr(world.photos, "read_photo", reading_raises(refused))
    with pytest.raises(PermanentError) as caught:
        world.ingestion.ingest(name)
    assert caught.value.reason == "not_authorised"
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.RECEIVED and job.id in world.store.open_ids() and not world.outbox.states()
    monkeypatch.undo()  # the role assignment arrived: the next delivery reads the photo
    assert world.ingestion.ingest(name).state is JobState.QUEUED


def test_a_read_cut_off_mid_body_fails_the_delivery_and_leaves_the_job_to_the_next(world, monkeypatch):
    name = world.upload(1)
    monkeypatch.setattr(world.photos, "read_photo", reading_raises(cut_off()))
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)  # the host delivers the event again
    job = world.store.get(ids.job_id_for(name))
    assert job.state is JobState.RECEIVED and job.id in world.store.open_ids() and not world.outbox.states()
    monkeypatch.undo()  # the connection holds this time
    assert world.ingestion.ingest(name).state is JobState.QUEUED


def test_a_quarantine_copy_the_service_could_not_check_in_time_is_retried_not_taken_as_done(world, monkeypatch):
    name = world.upload(1, b"text, not an image " * 100)
    real_quarantine = world.photos.quarantine

    def copy_source_unverified(blob_name: str, etag: str, reason: str, detail: str) -> None:
        def copy() -> None:
            raise copy_source(500)  # Copy Blob's 500 CannotVerifyCopySource: not checked within its time

        call("quarantine copy", copy)

    monkeypatch.setattr(world.photos, "quarantine", copy_source_unverified)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)  # not "already moved": the delivery fails, the host delivers it again
    assert world.store.get(ids.job_id_for(name)).state is JobState.REJECTED and name in world.photos.photos
    monkeypatch.setattr(world.photos, "quarantine", real_quarantine)
    assert world.ingestion.ingest(name).state is JobState.REJECTED
    assert name in world.photos.quarantined and name not in world.photos.photos


def test_a_rejected_photo_is_quarantined_by_its_version_and_a_later_write_stays(world):
    name = world.upload(1, b"text, not an image " * 100)
    job = world.ingestion.ingest(name)
    assert job.state is JobState.REJECTED and name in world.photos.quarantined and name not in world.photos.photos
    overwrite(world, name, photo(99), '"0x2"')  # written again through the SAS after the move
    again = world.ingestion.ingest(name)
    assert again.state is JobState.REJECTED and again.later_writes == 1
    assert world.photos.quarantined[name][1] == "unsupported_type" and name in world.photos.photos


def test_the_public_document_names_the_version_without_quotes(world):
    doc = document.public(world.ingestion.ingest(world.upload(1)))
    assert doc["photo_etag"] == "0x1" and doc["later_writes"] == 0
