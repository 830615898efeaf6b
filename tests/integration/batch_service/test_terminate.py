"""Terminating jobs and tasks, through the real client, as Azure's Terminate Job and Terminate Task behave:
a terminated job's running tasks end, its active ones stay active and never run, and a terminated task is
completed and no longer counts as waiting work for autoscale."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from azure.batch import BatchClient, models
from azure.core.exceptions import ResourceExistsError

from emulators.batch_service.processes import alive
from tests.integration.batch_service.helpers import completed, py
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
HELD = "import os, time; open(r'{pid}', 'w').write(str(os.getpid()))\nwhile True: time.sleep(0.05)"


def terminate_job(batch: BatchClient, job: str, reason: str) -> None:
    # azure-batch 15.1.0 does not export BatchJobTerminateOptions: the REST body as a mapping works; the
    # poller takes any number of seconds, whatever its annotation says
    body: Any = {"terminateReason": reason}
    interval: Any = 0.1
    batch.begin_terminate_job(job, body, polling_interval=interval).result()


def test_terminating_a_job_ends_its_running_tasks_and_leaves_active_ones_unscheduled(batch, pool_and_job, tmp_path):
    n = pool_and_job(nodes=1)  # one slot: "held" runs, "waiting" queues behind it
    pid = tmp_path / "pid"
    batch.create_task(n.job, models.BatchTaskCreateOptions(id="held", command_line=py(HELD.format(pid=pid))))
    batch.create_task(n.job, models.BatchTaskCreateOptions(id="waiting", command_line="true"))
    wait_for(pid.exists, 20, "the first task to run")

    terminate_job(batch, n.job, "site closed")
    ended = batch.get_job(n.job)
    assert (ended.state, ended.execution_info.termination_reason) == (models.BatchJobState.COMPLETED, "site closed")
    held = batch.get_task(n.job, "held")
    assert held.state == models.BatchTaskState.COMPLETED
    assert (held.execution_info.result, held.execution_info.failure_info.code) == (
        models.BatchTaskExecutionResult.FAILURE,
        "TaskEnded",
    )
    wait_for(lambda: not alive(int(pid.read_text())), 10, "the ended task's process to die")
    assert batch.get_task(n.job, "waiting").state == models.BatchTaskState.ACTIVE
    with pytest.raises(ResourceExistsError) as late:
        batch.create_task(n.job, models.BatchTaskCreateOptions(id="late", command_line="true"))
    assert late.value.error.code == "JobCompleted"

    # The slot is free again and another job's newer task runs in it; the older waiting one never does.
    batch.create_job(models.BatchJobCreateOptions(id=f"{n.job}-next", pool_info=models.BatchPoolInfo(pool_id=n.pool)))
    batch.create_task(f"{n.job}-next", models.BatchTaskCreateOptions(id="next", command_line="true"))
    assert completed(batch, f"{n.job}-next", "next").execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    waiting = batch.get_task(n.job, "waiting")
    assert waiting.state == models.BatchTaskState.ACTIVE and waiting.execution_info.start_time is None
    assert batch.get_job_task_counts(n.job).task_counts.active == 1

    # Terminating the task itself ends it, job completed or not, as one that never ran.
    batch.terminate_task(n.job, "waiting")
    info = batch.get_task(n.job, "waiting").execution_info
    assert batch.get_task(n.job, "waiting").state == models.BatchTaskState.COMPLETED
    assert (info.result, info.failure_info.code, info.failure_info.message, info.exit_code) == (
        models.BatchTaskExecutionResult.FAILURE,
        "TaskEnded",
        "Task Was Ended by User Request",
        None,
    )
    assert info.failure_info.category == models.BatchErrorSourceCategory.USER_ERROR
    batch.begin_delete_job(n.job, polling_interval=0.1).result()
    assert n.job not in [j.id for j in batch.list_jobs()]


def test_terminated_tasks_and_a_terminated_jobs_active_tasks_are_not_pending(batch, unique):
    pool, job = f"auto-{unique}", f"job-{unique}"
    batch.create_pool(
        models.BatchPoolCreateOptions(
            id=pool,
            vm_size="standard_nc4as_t4_v3",
            enable_auto_scale=True,
            auto_scale_formula="$TargetDedicatedNodes = 0;",  # no nodes: the tasks stay active
            auto_scale_evaluation_interval=timedelta(minutes=5),
        )
    )
    batch.create_job(models.BatchJobCreateOptions(id=job, pool_info=models.BatchPoolInfo(pool_id=pool)))
    for task_id in ("given-up", "left"):
        batch.create_task(job, models.BatchTaskCreateOptions(id=task_id, command_line="true"))

    def sampled(active: int) -> bool:
        probe = "a = $ActiveTasks; p = $PendingTasks; $TargetDedicatedNodes = 0;"
        run = batch.evaluate_pool_auto_scale(pool, models.BatchPoolEvaluateAutoScaleOptions(auto_scale_formula=probe))
        values = dict(item.split("=", 1) for item in run.results.split(";"))
        return (values["a"], values["p"]) == (str(active), str(active))

    wait_for(lambda: sampled(2), 20, "both waiting tasks to be sampled as active and pending")
    batch.terminate_task(job, "given-up")
    assert batch.get_task(job, "given-up").state == models.BatchTaskState.COMPLETED
    wait_for(lambda: sampled(1), 20, "the terminated task to leave the active and pending counts")
    terminate_job(batch, job, "day closed")
    wait_for(lambda: sampled(0), 20, "the terminated job's active task to leave the counts")
    assert batch.get_task(job, "left").state == models.BatchTaskState.ACTIVE
