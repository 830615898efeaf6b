"""An upgrade from the release with a Batch job per model version and day (`sitelens-{model}-{day}`) on an account
that release filled to its quota of active jobs, on the real parts (tests/integration/jobs/real_world.py) and a
local Batch service that keeps Azure's quota, set low here.

This release needs one more active job, today's `sitelens-{day}`, and the earlier release's jobs of today and the
two days before stayed active until the reconciler terminated them two days after their day: every photo was
refused until then. A run now terminates those per-model jobs of days before today once no task waits or runs in
them (today's stay: an instance of the earlier release may still submit into them while the deployment rolls), and a
task the reconciler submits again goes to its day's job, not to the per-model one it was recorded in.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from azure.batch import BatchClient, models

from shared.jobs import ids
from shared.jobs.models import JobState
from shared.jobs.ports import TaskState
from tests.integration.jobs.real_world import STUCK_AFTER, RealWorld

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
QUOTA = 5


@pytest.fixture
def active_job_quota() -> int:
    return QUOTA  # for conftest.py's batch_service


def per_model_job(world: RealWorld, batch: BatchClient, model: str, day: date, *, task: str | None) -> str:
    """The earlier release's Batch job of `model` and `day`, holding a task in `task`'s state (the pool has no
    nodes, so an added task waits; a terminated one is completed), or none."""
    job_id, pool = f"sitelens-{model}-{day:%Y%m%d}", models.BatchPoolInfo(pool_id=world.submitter.spec.pool_id)
    batch.create_job(models.BatchJobCreateOptions(id=job_id, pool_info=pool))
    if task is not None:
        task_id = f"j_{model.replace('-', '')}{day:%Y%m%d}"
        batch.create_task(job_id, models.BatchTaskCreateOptions(id=task_id, command_line="true"))
        if task == "completed":
            batch.terminate_task(job_id, task_id)
    return job_id


def state_of(batch: BatchClient, job_id: str) -> str:
    state = batch.get_job(job_id).state
    return str(getattr(state, "value", state))


def test_idle_per_model_jobs_before_today_end_in_one_run_and_a_photo_is_then_taken_at_once(
    real_world: RealWorld, batch_client: BatchClient
) -> None:
    world, today = real_world, real_world.clock().date()
    yesterday, two_days_ago = today - timedelta(days=1), today - timedelta(days=2)
    jobs = {
        "today, its tasks done": per_model_job(world, batch_client, "ocr-v0", today, task="completed"),
        "yesterday, its tasks done": per_model_job(world, batch_client, "ocr-v0", yesterday, task="completed"),
        "yesterday, no task": per_model_job(world, batch_client, "ocr-v1", yesterday, task=None),
        "today, a task waiting": per_model_job(world, batch_client, "ocr-v1", today, task="active"),
        "two days ago, a task waiting": per_model_job(world, batch_client, "ocr-v2", two_days_ago, task="active"),
    }
    assert len(jobs) == QUOTA  # the account is full: today's day job would be refused

    world.reconciler.run()  # the upgraded app's first run

    assert {what: state_of(batch_client, job_id) for what, job_id in jobs.items()} == {
        "today, its tasks done": "active",  # an earlier-release instance may still submit into it: it goes as before
        "yesterday, its tasks done": "completed",
        "yesterday, no task": "completed",
        "today, a task waiting": "active",  # terminating it would strand its task: it goes once the task has run
        "two days ago, a task waiting": "active",  # on the termination bound: it goes tomorrow, as before
    }
    job = world.ingestion.ingest(world.upload(1))  # refused (the quota spent) until the old days end, without it
    assert job is not None and job.state is JobState.QUEUED and job.batch_job_id == ids.batch_job_id(today)
    assert [task.id for task in batch_client.list_tasks(ids.batch_job_id(today))] == [job.id]
    done = jobs["today, its tasks done"]  # a terminated job's tasks are still read, for the reconciler's view
    assert world.submitter.view(done, "j_ocrv0" + f"{today:%Y%m%d}").state is TaskState.COMPLETED


def test_a_task_recorded_in_a_per_model_job_is_submitted_again_into_its_days_job(
    real_world: RealWorld, batch_client: BatchClient
) -> None:
    """A job the earlier release queued whose task Batch no longer has goes into its day's job, not the per-model job
    it was recorded in: from the day after, that one, idle, ends in the run's first step, and a resubmission into it
    would be refused for good (`batch_refused`)."""
    world, today = real_world, real_world.clock().date()
    queued = world.ingestion.ingest(world.upload(1))
    assert queued is not None and queued.model
    recorded = per_model_job(world, batch_client, queued.model.replace("/", "-"), today, task=None)
    batch_client.delete_task(ids.batch_job_id(today), queued.id)  # as the earlier release recorded it, task lost
    world.store.update(replace(world.store.get(queued.id), batch_job_id=recorded))
    world.clock.advance((STUCK_AFTER + timedelta(minutes=1)).total_seconds())

    world.reconciler.run()

    assert state_of(batch_client, recorded) == "active"  # today's: left to the earlier release's instances
    job = world.store.get(queued.id)
    assert job.state is JobState.QUEUED and job.batch_job_id == ids.batch_job_id(today)
    task = batch_client.get_task(ids.batch_job_id(today), job.id)
    env = {setting.name: setting.value for setting in task.environment_settings or []}
    assert env["SITELENS_TASK_TOKEN"] == job.task_token  # its completion is believed
    assert world.submitter.view(job.batch_job_id, job.id).state is TaskState.ACTIVE
