"""A delivery whose process dies after Batch took the task and before the job says so, on the real parts
(tests/integration/jobs/real_world.py): the job's model is in the jobs table already, so the redelivery, routed
elsewhere by then, submits the recorded model again and finds its task in the day's Batch job on the local Batch
service (which the submitter would answer with a Conflict for another model), and starts no second one."""

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


def tasks_in(batch: BatchClient, batch_job: str) -> list[tuple[str, str | None]]:
    """The (task id, model) pairs of one Batch job; none where the Batch job was never created."""
    try:
        tasks = list(batch.list_tasks(batch_job))
    except ResourceNotFoundError:
        return []
    env = [{e.name: e.value for e in task.environment_settings or []} for task in tasks]
    return sorted((task.id, settings.get("SITELENS_MODEL")) for task, settings in zip(tasks, env, strict=True))


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
    assert [job.id for job in batch_client.list_jobs()] == [ids.batch_job_id(day)]
    assert tasks_in(batch_client, ids.batch_job_id(day)) == [(queued.id, first)]
    assert queued.state is JobState.QUEUED and queued.model == first
    assert queued.batch_job_id == ids.batch_job_id(day)
