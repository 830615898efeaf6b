"""A photo whose last try from `webjobs-blobtrigger-poison` dies mid-ingestion, on the real parts: the job the
round recorded before ingesting is in the jobs table's open index, and the reconciler submits it to the local
Batch service. Past its last try the host never runs the message again, so nothing else would."""

from __future__ import annotations

import pytest

from emulators.functions_host.blob_trigger import trigger_message
from shared.adapters.azure_photo_store import BlobPhotoStore
from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.models import JobState
from shared.jobs.poisoned_photos import BLOB_FUNCTION_ID, TRIES, PoisonedPhotos
from shared.jobs.ports import TaskState
from tests.integration.jobs.real_world import STUCK_AFTER, RealWorld

pytestmark = pytest.mark.integration


class HostDied(BaseException):
    """The process running the try killed mid-ingestion: nothing after it in the try runs."""


class FailingIngestion:
    def __init__(self, failure: BaseException, photos: BlobPhotoStore) -> None:
        self.failure = failure
        self.photos = photos  # the round asks it whether the photo is still stored before it records the job

    def ingest(self, blob_name: str) -> None:
        raise self.failure


def round_failing_with(world: RealWorld, failure: BaseException) -> PoisonedPhotos:
    failing = FailingIngestion(failure, world.photos)
    return PoisonedPhotos(ingestion=lambda: failing, store=lambda: world.store,  # type: ignore[arg-type, return-value]
                          finisher=lambda: world.finisher, clock=world.clock)  # fmt: skip


def test_a_last_try_that_dies_leaves_a_job_the_reconciler_submits(real_world: RealWorld) -> None:
    name = real_world.upload(1)
    etag = real_world.photos.photo_info(name).etag
    body = trigger_message(BLOB_FUNCTION_ID, "photos", name, etag).encode()
    # GIVEN a penultimate try that fails and a last try whose host dies
    with pytest.raises(TransientError):
        round_failing_with(real_world, TransientError("storage did not answer")).handle(body, TRIES - 1)
    with pytest.raises(HostDied):
        round_failing_with(real_world, HostDied()).handle(body, TRIES)
    # THEN a worker started afresh finds the photo's job open in the table
    store = real_world.restarted_store()
    job_id = ids.job_id_for(name)
    assert store.get(job_id).state is JobState.RECEIVED and job_id in list(store.open_ids())
    # AND the reconciler, past the stuck bound, submits it with the token it records on the job
    real_world.clock.advance(STUCK_AFTER.total_seconds() + 60)
    real_world.new_reconciler(store).run()
    job = store.get(job_id)
    assert job.state is JobState.QUEUED and job.task_token and job.blob_etag == etag
    assert job.batch_job_id and real_world.submitter.view(job.batch_job_id, job_id).state is TaskState.ACTIVE
