"""A reconcile run ends and deletes old Batch days on the local Batch service, through the real azure-batch
client: a day's job is terminated two days on and, once completed, deleted seven days on with its tasks, and so
is a day of one model an earlier release made (`sitelens-{model}-{day}`), still in the account after an upgrade;
recent days, and jobs that are not sitelens' days, are left as they are. And the calls leave nothing running behind
them: azure-batch's `begin_terminate_job` / `begin_delete_job` start a thread per job that reads it every 5 s until
the operation ends, past the reconciler's run and outside its budget."""

from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from azure.batch import BatchClient, models
from azure.batch.models._models import BatchJobTerminateOptions  # 15.x does not export it publicly

from shared.adapters.azure_errors import call
from shared.errors import NotFound
from shared.jobs import ids
from shared.jobs.reconciler import BATCH_JOB_DELETE_DAYS, BATCH_JOB_RETENTION_DAYS
from tests.integration.jobs.real_world import RealWorld

pytestmark = pytest.mark.integration


def day_job(world: RealWorld, client: BatchClient, job_id: str, day: date, *, completed: bool) -> str:
    """A Batch job of `day` named `job_id`, holding one task; terminated (completed) if asked."""
    pool = models.BatchPoolInfo(pool_id=world.submitter.spec.pool_id)
    client.create_job(models.BatchJobCreateOptions(id=job_id, pool_info=pool))
    client.create_task(job_id, models.BatchTaskCreateOptions(id=f"j_{day:%Y%m%d}", command_line="true"))
    if completed:
        terminate(client, job_id)
    return job_id


def terminate(client: BatchClient, job_id: str) -> None:
    """Terminate the job and wait until Batch has completed it, as an operator or an earlier run would."""
    client.begin_terminate_job(job_id, BatchJobTerminateOptions(termination_reason="by the test")).result()


def state_of(client: BatchClient, job_id: str) -> str:
    """The job's state as Batch reports it, or 'deleted' once Batch no longer knows it."""
    try:
        job = call(f"Batch job {job_id}", client.get_job, job_id)
    except NotFound:
        return "deleted"
    return str(getattr(job.state, "value", job.state))


def test_a_run_terminates_old_days_deletes_older_completed_ones_and_keeps_the_rest(real_world, batch_client, unique):
    today = real_world.clock().date()

    def day(days_ago: int, *, completed: bool, model: str | None = None) -> str:
        """The day's Batch job, or the per-model one of an earlier release for `model`."""
        when = today - timedelta(days=days_ago)
        job_id = ids.batch_job_id(when) if model is None else f"sitelens-{model}-{when:%Y%m%d}"
        return day_job(real_world, batch_client, job_id, when, completed=completed)

    jobs = {
        "completed, past the deletion bound": day(BATCH_JOB_DELETE_DAYS + 1, completed=True),
        "completed, long past it": day(30, completed=True),
        "completed, on the bound": day(BATCH_JOB_DELETE_DAYS, completed=True),
        "completed, within its week": day(BATCH_JOB_DELETE_DAYS - 2, completed=True),
        "active, long past both bounds": day(20, completed=False),
        "active, past the termination bound": day(BATCH_JOB_RETENTION_DAYS + 1, completed=False),
        "active, on the termination bound": day(BATCH_JOB_RETENTION_DAYS, completed=False),
        "active, today": day(0, completed=False),
        "one model's, completed, past the deletion bound": day(BATCH_JOB_DELETE_DAYS + 2, completed=True,
                                                               model=f"ocr-{unique}"),
        "one model's, active, past the termination bound": day(BATCH_JOB_RETENTION_DAYS + 2, completed=False,
                                                               model=f"ocr-{unique}"),
        "one model's, active, today": day(0, completed=False, model=f"ocr-{unique}"),
    }  # fmt: skip
    foreign = f"nightly-export-{unique}-20261001"  # another system's job in the same account, as old
    pool = models.BatchPoolInfo(pool_id=real_world.submitter.spec.pool_id)
    batch_client.create_job(models.BatchJobCreateOptions(id=foreign, pool_info=pool))
    terminate(batch_client, foreign)

    real_world.reconciler.run()

    assert {what: state_of(batch_client, job_id) for what, job_id in jobs.items()} == {
        "completed, past the deletion bound": "deleted",
        "completed, long past it": "deleted",
        "completed, on the bound": "completed",
        "completed, within its week": "completed",
        # Terminated, then deleted by the same run: this service completes a termination at once (Azure passes
        # through `terminating` first, and a later run deletes the job).
        "active, long past both bounds": "deleted",
        "active, past the termination bound": "completed",  # terminated, kept until its own week is out
        "active, on the termination bound": "active",
        "active, today": "active",
        "one model's, completed, past the deletion bound": "deleted",
        "one model's, active, past the termination bound": "completed",
        "one model's, active, today": "active",
    }
    assert state_of(batch_client, foreign) == "completed"
    long_past = jobs["completed, long past it"]
    with pytest.raises(NotFound):  # the deleted days' task records went with them
        call("task", batch_client.get_task, long_past, f"j_{today - timedelta(days=30):%Y%m%d}")


def test_ending_and_deleting_old_days_starts_no_thread_and_the_service_still_completes_each(
    real_world, batch_client, unique, monkeypatch
):
    today = real_world.clock().date()
    active_day, completed_day = today - timedelta(days=10), today - timedelta(days=12)
    active = day_job(real_world, batch_client, ids.batch_job_id(active_day), active_day, completed=False)
    completed = day_job(real_world, batch_client, f"sitelens-ocr-{unique}-{completed_day:%Y%m%d}", completed_day,
                        completed=True)  # fmt: skip
    recent = day_job(real_world, batch_client, ids.batch_job_id(today), today, completed=False)
    before = set(threading.enumerate())  # the test's own terminate() waited for its poller's thread to end
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def recorded(thread: threading.Thread) -> None:
        started.append(thread)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", recorded)  # every thread the two calls start, ended or not
    assert real_world.submitter.finish_jobs_before(today - timedelta(days=5)) == 1
    assert real_world.submitter.delete_jobs_before(today - timedelta(days=11)) == 1
    monkeypatch.undo()

    assert [thread.name for thread in started] == []  # each was an LROPoller(...) thread reading its job
    assert set(threading.enumerate()) <= before
    assert [state_of(batch_client, job_id) for job_id in (active, completed, recent)] == ["completed", "deleted",
                                                                                          "active"]  # fmt: skip
