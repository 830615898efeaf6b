"""A delivery whose process dies after Batch took the task and before the job says so, on the real parts
(tests/integration/jobs/real_world.py): the job's model is in the jobs table already, so the redelivery, routed
elsewhere by then, finds the task in the recorded model's Batch job on the local Batch service and starts no
second one in another Batch job (task ids are unique only within a Batch job)."""

from __future__ import annotations

import pytest
from azure.batch import BatchClient
from azure.core.exceptions import ResourceNotFoundError

from shared.errors import TransientError
from shared.jobs import ids
from shared.jobs.models import JobState
from tests.unit.jobs.fakes import FixedRoutes
from tests.unit.jobs.test_model_fixed_before_submit import dies_recording_the_submission

pytestmark = pytest.mark.integration


def tasks_in(batch: BatchClient, batch_job: str) -> list[str]:
    """The task ids of one Batch job; none where the Batch job was never created."""
    try:
        return sorted(task.id for task in batch.list_tasks(batch_job))
    except ResourceNotFoundError:
        return []


def test_a_redelivery_after_routing_changed_finds_the_task_in_the_recorded_models_batch_job(
    real_world, batch_client, monkeypatch
):
    world = real_world
    first, later = f"{world.ingestion.default_model}-a", f"{world.ingestion.default_model}-b"
    world.ingestion.routes = FixedRoutes([(first, 100)])
    name = world.upload(1)
    dies_recording_the_submission(world.store, monkeypatch)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    world.ingestion.routes = FixedRoutes([(later, 100)])  # routing edited, or another instance's cached copy
    world.ingestion.store = world.restarted_store()  # the redelivery on a worker with nothing in memory
    queued = world.ingestion.ingest(name)
    assert queued is not None
    day = queued.received_at.date()
    assert tasks_in(batch_client, ids.batch_job_id(later, day)) == []
    assert tasks_in(batch_client, ids.batch_job_id(first, day)) == [queued.id]
    assert queued.state is JobState.QUEUED and queued.model == first
    assert queued.batch_job_id == ids.batch_job_id(first, day)
