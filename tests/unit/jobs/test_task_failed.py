"""A completed Batch task failed when Batch gave a failure code or a non-zero exit code: either alone is enough.

Batch reports a task that never ran its command (its input blob refused, say) with a failure code and no
exit code, and a command that exited badly with an exit code and, on some paths, no failure code. Either way
the reconciler fails the job `task_failed` rather than looking for a result that was never written.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.jobs.models import Job, JobState
from shared.jobs.ports import TaskState, TaskView
from tests.unit.jobs.test_pipeline import World

PAST_STUCK = timedelta(minutes=16)  # the World's reconciler looks again after 15 minutes


@pytest.fixture
def world() -> World:
    return World()


def reconciled_with(world: World, view: TaskView) -> Job:
    job = world.ingestion.ingest(world.upload(1))
    world.batch.views[job.id] = view
    world.clock.advance(PAST_STUCK.total_seconds())
    world.reconciler.run()
    return world.store.get(job.id)


def test_a_failure_code_without_an_exit_code_fails_the_job_with_that_code(world):
    view = TaskView(TaskState.COMPLETED, exit_code=None, failure_code="BlobAccessDenied",
                    failure_message="the input could not be downloaded")  # fmt: skip
    job = reconciled_with(world, view)
    assert (job.state, job.reason) == (JobState.FAILED, "task_failed")
    assert "BlobAccessDenied" in (job.detail or "") and "exit None" in (job.detail or "")
    assert world.outbox.states() == [JobState.FAILED]


def test_a_non_zero_exit_code_without_a_failure_code_fails_the_job(world):
    job = reconciled_with(world, TaskView(TaskState.COMPLETED, exit_code=3, failure_code=None))
    assert (job.state, job.reason) == (JobState.FAILED, "task_failed")
    assert (job.detail or "").startswith("exit:") and "exit 3" in (job.detail or "")
