"""The account's quota of active jobs, through the real client, as Azure keeps it: a job counts until it is
completed or deleted, and a create past the quota is refused with 409 `ActiveJobAndScheduleQuotaReached`, which
the SDK raises as `ResourceExistsError` (every 409 is one); a job already there is still `JobExists`."""

from __future__ import annotations

from typing import Any

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import ResourceExistsError

from tests.integration.batch_service.helpers import client_for

pytestmark = pytest.mark.integration
QUOTA = 3


def create(batch: BatchClient, job_id: str, pool_id: str = "pool") -> None:
    batch.create_job(models.BatchJobCreateOptions(id=job_id, pool_info=models.BatchPoolInfo(pool_id=pool_id)))


def refusal(batch: BatchClient, job_id: str) -> tuple[int | None, str | None, str]:
    """(status, code, message) of a create the service refuses."""
    with pytest.raises(ResourceExistsError) as refused:
        create(batch, job_id)
    error = refused.value.error
    return refused.value.status_code, error.code if error else None, str(error.message if error else "")


def terminate(batch: BatchClient, job_id: str) -> None:
    body: Any = {"terminateReason": "the day is closed"}  # 15.x does not export the options model
    interval: Any = 0.1
    batch.begin_terminate_job(job_id, body, polling_interval=interval).result()


def test_the_quota_refuses_the_next_active_job_and_accepts_again_once_one_is_completed_or_deleted(start_service):
    batch = client_for(start_service(active_job_quota=QUOTA))
    for n in range(QUOTA):
        create(batch, f"day-{n}")
    status, code, message = refusal(batch, "day-3")
    assert (status, code) == (409, "ActiveJobAndScheduleQuotaReached")
    assert message.startswith("The specified account has reached the maximum number of active jobs")
    assert refusal(batch, "day-0")[:2] == (409, "JobExists")  # an existing id is told so, quota or not
    assert sorted(job.id for job in batch.list_jobs()) == ["day-0", "day-1", "day-2"]  # the refused one is not kept

    terminate(batch, "day-0")  # completed: no longer counted
    create(batch, "day-3")
    assert refusal(batch, "day-4")[1] == "ActiveJobAndScheduleQuotaReached"
    batch.begin_delete_job("day-1", polling_interval=0.1).result()  # type: ignore[arg-type]
    create(batch, "day-4")
    assert refusal(batch, "day-5")[1] == "ActiveJobAndScheduleQuotaReached"
    states = {job.id: job.state for job in batch.list_jobs()}
    assert states == {"day-0": models.BatchJobState.COMPLETED, "day-2": models.BatchJobState.ACTIVE,
                      "day-3": models.BatchJobState.ACTIVE, "day-4": models.BatchJobState.ACTIVE}  # fmt: skip


def test_a_job_ended_by_its_own_rule_leaves_the_quota_too(start_service):
    """`onAllTasksComplete: terminatejob` completes a job with no tasks at once, so it never holds the quota."""
    batch = client_for(start_service(active_job_quota=1))
    pool = models.BatchPoolInfo(pool_id="pool")
    ends = models.BatchJobCreateOptions(
        id="ends", pool_info=pool, all_tasks_complete_mode=models.BatchAllTasksCompleteMode.TERMINATE_JOB
    )
    batch.create_job(ends)
    create(batch, "stays")
    assert refusal(batch, "third")[1] == "ActiveJobAndScheduleQuotaReached"
