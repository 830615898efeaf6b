"""A closed Batch job and a job given up, against the local Batch service with the real azure-batch client.

Ingestion and the reconciler run on the real parts (tests/integration/jobs/real_world.py): the job store,
photos and webhook outbox on Azurite, the BatchTaskSubmitter on the local Batch service; only the clock is the
test's. Pools have no nodes, so a submitted task waits in the queue, as it does through an outage; each test
has a Batch service of its own, so its Batch jobs are its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.batch import models
from azure.batch.models._models import BatchJobTerminateOptions  # 15.x does not export it publicly

from shared.jobs.models import JobState
from sitelens.local_pool import POOL_ID, LocalPool
from tests.unit.infra import bicep

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]


def test_a_photo_submitted_to_a_terminated_batch_job_fails_batch_refused_at_once(batch_client, real_world):
    world = real_world
    first = world.ingestion.ingest(world.upload(1))
    assert first is not None and first.state is JobState.QUEUED and first.batch_job_id
    batch_client.begin_terminate_job(first.batch_job_id, BatchJobTerminateOptions(termination_reason="closed"),
                                     polling_interval=0.1).result()  # fmt: skip
    job = world.ingestion.ingest(world.upload(2))  # the same day's Batch job: it takes no more tasks
    assert job is not None and job.state is JobState.FAILED and job.reason == "batch_refused"
    assert "JobCompleted" in (job.detail or "") and world.store.get(job.id).event_published
    assert world.store.open_ids() == [first.id]  # the refused job is done with; the reconciler has nothing to repeat
    assert [t.id for t in batch_client.list_tasks(first.batch_job_id)] == [first.id]


def test_a_job_given_up_has_its_waiting_task_cancelled(batch_client, real_world):
    world = real_world
    job = world.ingestion.ingest(world.upload(1))
    assert job is not None and job.batch_job_id
    assert batch_client.get_task(job.batch_job_id, job.id).state == models.BatchTaskState.ACTIVE
    assert batch_client.get_job_task_counts(job.batch_job_id).task_counts.active == 1
    world.clock.advance(25 * 3600)  # the pool never ran it
    sweep = world.reconciler.run()
    given_up = world.store.get(job.id)
    assert given_up.reason == "timed_out" and given_up.event_published and sweep.uncancelled == 0
    assert world.store.open_ids() == []
    task = batch_client.get_task(job.batch_job_id, job.id)
    assert task.state == models.BatchTaskState.COMPLETED  # no longer pending: it holds no node up
    counts = batch_client.get_job_task_counts(job.batch_job_id).task_counts
    assert (counts.active, counts.running) == (0, 0)


def test_cancel_finds_an_ended_or_missing_task_done(batch_client, real_world):
    job = real_world.ingestion.ingest(real_world.upload(1))
    assert job is not None and job.batch_job_id
    submitter = real_world.submitter
    submitter.cancel(job.batch_job_id, job.id)
    submitter.cancel(job.batch_job_id, job.id)  # TaskCompleted: already ended
    submitter.cancel(job.batch_job_id, "j_never_submitted")  # TaskNotFound
    submitter.cancel("sitelens-nothing-20261122", job.id)  # JobNotFound
    assert batch_client.get_task(job.batch_job_id, job.id).state == models.BatchTaskState.COMPLETED


def test_the_local_pool_schedules_tasks_as_the_deployed_pool_does(batch_client, batch_service):
    LocalPool(batch_service.endpoint, batch_service.account_name, batch_service.account_key, REPO).ensure(
        "UseDevelopmentStorage=true"
    )
    pool = batch_client.get_pool(POOL_ID)
    deployed = bicep.resource(bicep.module("batch"), "pool")["properties"]["taskSchedulingPolicy"]["nodeFillType"]
    assert pool.task_scheduling_policy.node_fill_type == deployed.lower() == "pack"
