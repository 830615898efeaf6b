"""Autoscale with the deployed formula on the scaled clock, and a service restart mid-run."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest
from azure.batch import models

from autoscale.knobs import with_knobs
from emulators.batch_service.processes import alive
from tests.integration.batch_service.helpers import client_for, completed, lines, py
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration
# One pending task per node, so that ten tasks reach the cap of 4 (the deployed default is 100 per node).
FORMULA = with_knobs(
    (Path(__file__).resolve().parents[3] / "infra" / "autoscale.formula").read_text(), {"pendingPerNode": 1}
)


def test_a_burst_scales_from_zero_to_the_cap_and_back_without_killing_a_task(batch):
    batch.create_pool(
        models.BatchPoolCreateOptions(
            id="gpu",
            vm_size="standard_nc4as_t4_v3",
            task_slots_per_node=1,
            enable_auto_scale=True,
            auto_scale_formula=FORMULA,
            auto_scale_evaluation_interval=timedelta(minutes=5),
        )
    )
    batch.create_job(models.BatchJobCreateOptions(id="burst", pool_info=models.BatchPoolInfo(pool_id="gpu")))
    assert batch.get_pool("gpu").current_dedicated_nodes == 0
    # 10 tasks of 1.5 s each; the formula caps the pool at 4 nodes
    tasks = [
        models.BatchTaskCreateOptions(id=f"t{i}", command_line=py("import time; time.sleep(1.5)")) for i in range(10)
    ]
    batch.create_task_collection("burst", models.BatchTaskGroup(task_values=tasks))
    peak = {"nodes": 0}

    def scaled_up() -> bool:
        peak["nodes"] = max(peak["nodes"], batch.get_pool("gpu").current_dedicated_nodes)
        return peak["nodes"] == 4

    wait_for(scaled_up, 60, "the pool to reach its cap of 4 nodes")
    wait_for(lambda: batch.get_job_task_counts("burst").task_counts.completed == 10, 90, "all 10 tasks to complete")

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
    assert ";maxNodes=4;" in run.results
    assert run.error is None


def test_a_restart_mid_run_loses_no_task_and_reruns_none_that_finished(start_service, tmp_path):
    service = start_service()
    batch = client_for(service)
    batch.create_pool(
        models.BatchPoolCreateOptions(id="pool", vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=1)
    )
    batch.create_job(models.BatchJobCreateOptions(id="job", pool_info=models.BatchPoolInfo(pool_id="pool")))
    runs, pids, gate = tmp_path / "runs.txt", tmp_path / "pids.txt", tmp_path / "go"
    code = (
        f"import os, time; open(r'{runs}', 'a').write(os.environ['AZ_BATCH_TASK_ID'] + ' '); "
        f"open(r'{pids}', 'a').write(str(os.getpid()) + ' ')\n"
        f"while os.environ['AZ_BATCH_TASK_ID'] != 'quick' and not os.path.exists(r'{gate}'): time.sleep(0.02)"
    )
    batch.create_task("job", models.BatchTaskCreateOptions(id="quick", command_line=py(code)))
    completed(batch, "job", "quick")
    batch.create_task("job", models.BatchTaskCreateOptions(id="long", command_line=py(code)))
    batch.create_task("job", models.BatchTaskCreateOptions(id="queued", command_line=py(code)))
    wait_for(lambda: lines(runs) == ["quick", "long"], 30, "the long task to run, the queued one to wait")
    interrupted = int(lines(pids)[1])
    # WHEN the service dies mid-run (as a machine would) and comes back on the same data
    service.stop(signal.SIGKILL)
    service.start()
    # THEN the process it left behind is killed, as its node's would be
    wait_for(lambda: not alive(interrupted), 10, "the interrupted task's process to be killed")
    restarted = client_for(service)
    assert [p.id for p in restarted.list_pools()] == ["pool"]
    long = restarted.get_task("job", "long")
    assert long.state in (models.BatchTaskState.ACTIVE, models.BatchTaskState.RUNNING)
    assert long.execution_info.requeue_count == 1  # requeued, as after a node failure
    gate.write_text("")
    for task_id in ("long", "queued"):
        assert completed(restarted, "job", task_id, 60).execution_info.result == models.BatchTaskExecutionResult.SUCCESS
    assert sorted(lines(runs)) == ["long", "long", "queued", "quick"]  # nothing finished ran twice
    quick = restarted.get_task("job", "quick").execution_info
    assert (quick.requeue_count, quick.result) == (0, models.BatchTaskExecutionResult.SUCCESS)
    assert restarted.get_task("job", "queued").execution_info.requeue_count == 0


def test_a_graceful_stop_keeps_autoscale_settings_and_the_schedule(start_service):
    service = start_service()
    batch = client_for(service)
    batch.create_pool(
        models.BatchPoolCreateOptions(
            id="auto",
            vm_size="x",
            enable_auto_scale=True,
            auto_scale_formula="$TargetDedicatedNodes = 1;",
            auto_scale_evaluation_interval=timedelta(minutes=5),
        )
    )
    wait_for(lambda: batch.get_pool("auto").current_dedicated_nodes == 1, 20, "the first evaluation to apply")
    first = batch.get_pool("auto").auto_scale_run.timestamp
    service.stop()
    service.start()
    restarted = client_for(service)
    pool = restarted.get_pool("auto")
    assert (pool.enable_auto_scale, pool.auto_scale_formula) == (True, "$TargetDedicatedNodes = 1;")
    wait_for(lambda: restarted.get_pool("auto").auto_scale_run.timestamp > first, 20, "the next scheduled evaluation")
