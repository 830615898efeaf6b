"""A photo refused for its size (`too_large`) is deleted, not copied to quarantine/, and its job says so; every
other refusal is still quarantined. A crash between the verdict and the delete is finished by the next delivery."""

from __future__ import annotations

import pytest

from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.ingestion import NOT_KEPT_NOTE
from shared.jobs.models import JobState
from shared.validation import Limits, Reason
from tests.unit.jobs.test_pipeline import World

TOO_LARGE = b"\xff\xd8\xff" + bytes(Limits().max_bytes)  # one byte over the cap


@pytest.fixture
def world() -> World:
    return World()


def test_a_too_large_photo_is_deleted_not_quarantined_and_the_job_says_so(world):
    name = world.upload(1, TOO_LARGE)
    job = world.ingestion.ingest(name)
    assert (job.state, job.reason) == (JobState.REJECTED, "too_large")
    assert job.detail is not None and job.detail.endswith(NOT_KEPT_NOTE)
    assert name not in world.photos.photos and name not in world.photos.quarantined
    assert world.photos.discarded == [name] and not world.batch.tasks
    assert world.outbox.states() == [JobState.REJECTED]


def test_a_crash_between_the_verdict_and_the_delete_is_finished_by_the_next_delivery(world, monkeypatch):
    name = world.upload(1, TOO_LARGE)
    discard = world.photos.discard

    def storage_down(blob_name: str, etag: str) -> None:
        raise TransientError("storage unreachable")

    monkeypatch.setattr(world.photos, "discard", storage_down)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    assert world.store.get(ids.job_id_for(name)).state is JobState.REJECTED
    assert name in world.photos.photos  # the verdict is recorded, the photo not yet deleted
    monkeypatch.setattr(world.photos, "discard", discard)
    again = world.ingestion.ingest(name)  # the host delivers the event again
    assert (again.state, again.reason) == (JobState.REJECTED, "too_large")
    assert name not in world.photos.photos and name not in world.photos.quarantined
    assert world.outbox.states() == [JobState.REJECTED]  # one terminal state, one event
    assert world.ingestion.ingest(name) is None  # and later deliveries find nothing to do


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"not an image " * 200, Reason.UNSUPPORTED_TYPE), (b"\xff\xd8\xff" + bytes(100), Reason.TOO_SMALL)],
)
def test_every_other_refusal_is_still_quarantined(world, data, reason):
    name = world.upload(1, data)
    job = world.ingestion.ingest(name)
    assert job.reason == reason.value and job.detail is not None and NOT_KEPT_NOTE not in job.detail
    assert world.photos.quarantined[name][1] == reason.value and world.photos.discarded == []
