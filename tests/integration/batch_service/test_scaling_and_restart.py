"""Autoscale with the deployed formula on the scaled clock, and a service restart mid-run."""

from __future__ import annotations

import signal
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from azure.batch import models

from tests.integration.batch_service.conftest import client_for
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
FORMULA = (Path(__file__).resolve().parents[3] / "infra" / "autoscale.formula").read_text()


def test_burst_scales_from_zero_to_the_cap_and_back_without_killing_a_task(batch):
    batch.create_pool(models.BatchPoolCreateOptions(
        id="gpu", vm_size="standard_nc4as_t4_v3", task_slots_per_node=1, enable_auto_scale=True,
        auto_scale_formula=FORMULA, auto_scale_evaluation_interval=timedelta(minutes=5)))  # fmt: skip
    batch.create_job(models.BatchJobCreateOptions(id="burst", pool_info=models.BatchPoolInfo(pool_id="gpu")))
    assert batch.get_pool("gpu").current_dedicated_nodes == 0
    # 10 tasks of 1.5 s each; the formula caps the pool at 4 nodes
    sleep = f'{sys.executable} -c "import time; time.sleep(1.5)"'
    tasks = [models.BatchTaskCreateOptions(id=f"t{i}", command_line=sleep) for i in range(10)]
    batch.create_task_collection("burst", models.BatchTaskGroup(task_values=tasks))
    peak = {"nodes": 0}

    def scaled_up() -> bool:
        peak["nodes"] = max(peak["nodes"], batch.get_pool("gpu").current_dedicated_nodes)
        return peak["nodes"] == 4

    wait_for(scaled_up, 60, "the pool to reach its cap of 4 nodes")

    def all_done() -> bool:
        return bool(batch.get_job_task_counts("burst").task_counts.completed == 10)

    wait_for(all_done, 90, "all 10 tasks to complete")

    def back_to_zero() -> bool:
        pool = batch.get_pool("gpu")
        peak["nodes"] = max(peak["nodes"], pool.current_dedicated_nodes)
        return bool(pool.current_dedicated_nodes == 0 and pool.target_dedicated_nodes == 0)

    wait_for(back_to_zero, 90, "the pool to scale back to zero")
    assert peak["nodes"] == 4  # never above the cap
    for task in batch.list_tasks("burst"):
        info = task.execution_info
        assert info.result == models.BatchTaskExecutionResult.SUCCESS, task.id
        assert info.requeue_count == 0 and info.retry_count == 0  # taskcompletion: nothing killed or requeued
    run = batch.get_pool("gpu").auto_scale_run
    assert run.results.startswith(
        "$TargetDedicatedNodes=0;$TargetLowPriorityNodes=0;$NodeDeallocationOption=taskcompletion;"
    )


def test_restart_mid_run_loses_no_task(service, batch, tmp_path):
    batch.create_pool(
        models.BatchPoolCreateOptions(id="pool", vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=1)
    )
    batch.create_job(models.BatchJobCreateOptions(id="job", pool_info=models.BatchPoolInfo(pool_id="pool")))
    marker = tmp_path / "attempts.txt"
    code = f"open(r'{marker}', 'a').write('x'); import time; time.sleep(2)"
    batch.create_task("job", models.BatchTaskCreateOptions(id="long", command_line=f'{sys.executable} -c "{code}"'))
    wait_for(lambda: batch.get_task("job", "long").state == models.BatchTaskState.RUNNING, 30, "the task to run")
    # WHEN the service dies mid-run and comes back on the same data
    service.stop(signal.SIGKILL)
    service.start()
    restarted = client_for(service)

    def done() -> models.BatchTask | None:
        task = restarted.get_task("job", "long")
        return task if task.state == models.BatchTaskState.COMPLETED else None

    task = wait_for(done, 60, "the requeued task to complete")
    # THEN it was requeued as after a node failure and ran to success
    assert task.execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    assert task.execution_info.requeue_count == 1
    assert len(marker.read_text()) == 2  # two attempts: the interrupted one and the requeued one
    assert [p.id for p in restarted.list_pools()] == ["pool"]
