"""Photos with the same bytes after the job that first had them is too old to reuse, on the real parts
(tests/integration/jobs/real_world.py): the next one runs and takes the content claim over in the jobs table,
and the ones after it reuse its result instead of each submitting a Batch task of its own."""

from __future__ import annotations

import json

import pytest
from azure.batch import BatchClient

from shared.adapters.azure_photo_store import PHOTOS, RESULTS
from shared.jobs import ids
from shared.jobs.models import Job, JobState
from tests.integration.jobs.real_world import RealWorld
from tests.unit.jobs.test_pipeline import photo
from tests.unit.jobs.test_result_retention import KEPT

pytestmark = pytest.mark.integration


def upload(world: RealWorld, n: int, data: bytes) -> Job:
    """`data` written under a photo name of its own, and ingested."""
    name = f"{world.site}/cam-1/2026/11/22/IMG_{n}.jpg"
    world.blobs.get_blob_client(PHOTOS, name).upload_blob(data, overwrite=True)
    job = world.ingestion.ingest(name)
    assert job is not None
    return job


def succeed(world: RealWorld, job: Job) -> Job:
    """What the node does for the job's task: its result stored, then the completion processed."""
    result = {"job_id": job.id, "result": {"lines": [{"text": "PUMP 1"}], "width": 640}}
    path = ids.result_path(job.id)
    world.blobs.get_blob_client(RESULTS, path).upload_blob(json.dumps(result).encode(), overwrite=True)
    done = world.completion.accept_result(world.store.get(job.id), path, None, 1)
    assert done.state is JobState.SUCCEEDED
    return done


def tasks(batch: BatchClient, *jobs: Job) -> list[str]:
    return sorted(task.id for batch_job in {j.batch_job_id for j in jobs if j.batch_job_id}
                  for task in batch.list_tasks(batch_job))  # fmt: skip


def test_the_photos_after_an_owner_too_old_to_reuse_follow_the_job_that_ran_instead(real_world, batch_client):
    world, data = real_world, photo(7)
    world.ingestion.results_kept = KEPT
    first = succeed(world, upload(world, 1, data))
    world.clock.advance(KEPT.total_seconds())  # its result may be deleted any day now
    second = upload(world, 2, data)
    assert second.state is JobState.QUEUED and second.cached_from is None
    waiting = upload(world, 3, data)  # while the second runs: it waits on it
    assert waiting.state is JobState.QUEUED and waiting.cached_from == second.id
    done = succeed(world, second)
    assert world.store.get(waiting.id).state is JobState.SUCCEEDED
    world.clock.advance(60)
    later = upload(world, 4, data)
    assert later.state is JobState.SUCCEEDED and later.cached_from == second.id
    assert later.result_path == done.result_path
    assert tasks(batch_client, first, second, waiting, later) == sorted([first.id, second.id])
