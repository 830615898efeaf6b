"""What Batch refusing a task means for a job, and what giving a job up does to its task in Batch.

A Batch job that takes no more tasks fails the photo at once (`batch_refused`): no delivery could change
it, so nothing retries it. A full quota is transient: the delivery is retried. A job given up at the
bound has its task cancelled, so the task stops holding the pool up; Batch unreachable then does not keep
the job open past the bound.
"""

from __future__ import annotations

import json

import pytest

from shared.errors import PermanentError, TransientError
from shared.jobs import ids
from shared.jobs.models import JobState
from shared.jobs.ports import TaskState, TaskView
from tests.unit.jobs.test_pipeline import World, photo

CLOSED = PermanentError("Batch refused task: JobCompleted (that Batch job takes no more tasks)", reason="batch_refused")


@pytest.fixture
def world() -> World:
    return World()


def test_a_batch_job_that_takes_no_more_tasks_fails_the_job_at_once_without_retrying(world):
    world.batch.refusal = CLOSED
    job = world.ingestion.ingest(world.upload(1))  # the delivery ends: the host neither retries nor poisons it
    assert job.state is JobState.FAILED and job.reason == "batch_refused" and "JobCompleted" in job.detail
    assert world.batch.attempts == 1  # not read as a lost race and tried again
    assert world.outbox.states() == [JobState.FAILED] and world.store.open_ids() == []
    world.clock.advance(16 * 60)
    sweep = world.reconciler.run()  # nothing left for the reconciler to repeat
    assert sweep.examined == 0 and world.batch.attempts == 1


def test_a_spent_quota_of_active_batch_jobs_is_retried_by_the_next_delivery(world):
    world.batch.refusal = TransientError("Batch job sitelens-20261122: ActiveJobAndScheduleQuotaReached")
    name = world.upload(1)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    assert world.store.get(ids.job_id_for(name)).state is JobState.RECEIVED and world.batch.attempts == 1
    world.batch.refusal = None  # older Batch jobs terminated: the quota has room again
    assert world.ingestion.ingest(name).state is JobState.QUEUED


def test_a_follower_run_on_its_own_into_a_closed_batch_job_fails_batch_refused(world):
    data = photo(7)
    owner = world.ingestion.ingest(world.upload(1, data))
    follower = world.ingestion.ingest(world.upload(2, data))
    failure = {"job_id": owner.id, "task_id": owner.id, "attempt": 1, "outcome": "failed",
               "error": {"code": "bad_input", "message": "unreadable"}, **world.task_token(owner.id)}  # fmt: skip
    world.completion.handle(json.dumps(failure).encode())
    world.batch.refusal = CLOSED
    world.reconciler.run()
    failed = world.store.get(follower.id)
    assert failed.state is JobState.FAILED and failed.reason == "batch_refused"


def test_a_missing_task_that_cannot_be_submitted_again_fails_batch_refused(world):
    job = world.ingestion.ingest(world.upload(1))
    del world.batch.tasks[job.id]  # gone from Batch, and its Batch job closed since
    world.batch.refusal = CLOSED
    world.clock.advance(16 * 60)
    world.reconciler.run()
    failed = world.store.get(job.id)
    assert failed.state is JobState.FAILED and failed.reason == "batch_refused" and world.store.open_ids() == []


def test_a_job_given_up_at_the_bound_has_its_waiting_task_cancelled(world):
    job = world.ingestion.ingest(world.upload(1))
    world.batch.views[job.id] = TaskView(TaskState.ACTIVE)  # the pool never ran it
    world.clock.advance(25 * 3600)
    sweep = world.reconciler.run()
    assert world.store.get(job.id).reason == "timed_out" and sweep.uncancelled == 0
    assert world.batch.cancelled == [(job.batch_job_id, job.id)]
    assert world.batch.view(job.batch_job_id, job.id).state is TaskState.COMPLETED


def test_batch_unreachable_when_a_job_is_given_up_does_not_keep_the_job_open(world):
    job = world.ingestion.ingest(world.upload(1))
    world.clock.advance(25 * 3600)
    world.batch.down = True
    sweep = world.reconciler.run()
    failed = world.store.get(job.id)
    assert failed.state is JobState.FAILED and failed.reason == "timed_out" and world.store.open_ids() == []
    assert (sweep.failed, sweep.uncancelled, sweep.errors) == (1, 1, 0) and world.batch.cancelled == []


def test_a_job_given_up_before_it_was_submitted_has_no_task_to_cancel(world):
    world.batch.down = True
    name = world.upload(1)
    with pytest.raises(TransientError):
        world.ingestion.ingest(name)
    world.batch.down = False
    world.clock.advance(25 * 3600)
    sweep = world.reconciler.run()
    assert world.store.get(ids.job_id_for(name)).reason == "timed_out"
    assert world.batch.cancelled == [] and sweep.uncancelled == 0
