"""The remaining operations sitelens uses, through the real client: paging, pollers, slots, lifecycle."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
from azure.batch import models
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_paging_filter_and_select(batch, pool_and_job):
    job = pool_and_job()
    group = models.BatchTaskGroup(task_values=[models.BatchTaskCreateOptions(id=f"t{i:02d}", command_line="true")
                                               for i in range(25)])  # fmt: skip
    batch.create_task_collection(job, group)
    # 25 tasks in pages of 10 via odata.nextLink, fields limited by $select
    listed = list(batch.list_tasks(job, max_results=10, select=["id", "state"]))
    assert sorted(t.id for t in listed) == [f"t{i:02d}" for i in range(25)]
    assert all(t.command_line is None for t in listed)

    def all_succeeded() -> bool:
        return len(list(batch.list_tasks(job, filter="executionInfo/result eq 'success'"))) == 25

    wait_for(all_succeeded, 30, "25 succeeded tasks")
    assert list(batch.list_tasks(job, filter="state eq 'active'")) == []


def test_resize_and_delete_pool_through_the_pollers(batch):
    batch.create_pool(models.BatchPoolCreateOptions(id="p", vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=0))
    batch.begin_resize_pool("p", models.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=0.1).result()
    pool = batch.get_pool("p")
    assert (pool.current_dedicated_nodes, pool.allocation_state) == (2, models.AllocationState.STEADY)
    counts = {c.pool_id: c for c in batch.list_pool_node_counts()}
    assert counts["p"].dedicated.total == 2
    batch.begin_delete_pool("p", polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError) as e:
        batch.get_pool("p")
    assert e.value.error.code == "PoolNotFound"


def test_required_slots_share_a_node(batch, pool_and_job, tmp_path):
    job = pool_and_job(nodes=1, slots=4)
    log = tmp_path / "nodes.txt"
    code = f"import os, time; open(r'{log}', 'a').write(os.environ['AZ_BATCH_NODE_ID'] + chr(10)); time.sleep(1)"
    for i, slots in enumerate([2, 2, 3]):
        batch.create_task(job, models.BatchTaskCreateOptions(id=f"s{i}", command_line=f"{sys.executable} -c \"{code}\"",
                                                             required_slots=slots))  # fmt: skip

    def two_running() -> bool:
        node = next(iter(batch.list_nodes("pool")), None)
        return bool(node is not None and node.running_task_slots_count == 4)

    wait_for(two_running, 20, "two 2-slot tasks running together on the 4-slot node")
    assert batch.get_task(job, "s2").state == models.BatchTaskState.ACTIVE  # 3 slots do not fit beside them
    wait_for(lambda: batch.get_job_task_counts(job).task_counts.succeeded == 3, 30, "all three to succeed")
    assert len(set(log.read_text().split())) == 1


def test_terminate_job_ends_its_tasks_and_refuses_new_ones(batch, pool_and_job):
    job = pool_and_job(nodes=0)
    batch.create_task(job, models.BatchTaskCreateOptions(id="waiting", command_line="true"))
    # azure-batch 15.1.0 raises client-side without a body and does not export BatchJobTerminateOptions;
    # the REST body as a plain mapping works
    batch.begin_terminate_job(job, {"terminateReason": "site closed"}, polling_interval=0.1).result()
    ended = batch.get_job(job)
    assert ended.state == models.BatchJobState.COMPLETED
    assert ended.execution_info.termination_reason == "site closed"
    assert batch.get_task(job, "waiting").state == models.BatchTaskState.COMPLETED
    with pytest.raises(ResourceExistsError) as e:
        batch.create_task(job, models.BatchTaskCreateOptions(id="late", command_line="true"))
    assert e.value.error.code == "JobCompleted"


def test_failed_task_can_be_reactivated(batch, pool_and_job, tmp_path):
    job = pool_and_job()
    flag = tmp_path / "ok"
    code = f"import os, sys; sys.exit(0 if os.path.exists(r'{flag}') else 5)"
    batch.create_task(job, models.BatchTaskCreateOptions(id="r", command_line=f'{sys.executable} -c "{code}"'))
    wait_for(lambda: batch.get_task(job, "r").state == models.BatchTaskState.COMPLETED, 20, "the first failure")
    flag.write_text("")
    batch.reactivate_task(job, "r")
    wait_for(lambda: batch.get_task(job, "r").execution_info.result == models.BatchTaskExecutionResult.SUCCESS,
             20, "success after reactivation")  # fmt: skip


def test_enable_autoscale_rules(batch):
    batch.create_pool(models.BatchPoolCreateOptions(id="a", vm_size="standard_nc4as_t4_v3", enable_auto_scale=True,
                                                    auto_scale_formula="$TargetDedicatedNodes = 0;",
                                                    auto_scale_evaluation_interval=timedelta(minutes=5)))  # fmt: skip
    batch.enable_pool_auto_scale(
        "a", models.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 1;")
    )
    with pytest.raises(HttpResponseError) as e:  # within 30 s of the last enable
        batch.enable_pool_auto_scale(
            "a", models.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 0;")
        )
    assert e.value.error.code == "TooManyEnableAutoScaleRequests"
    wait_for(lambda: batch.get_pool("a").current_dedicated_nodes == 1, 20, "the new formula to apply")
    assert batch.get_pool("a").auto_scale_run.results.startswith("$TargetDedicatedNodes=1;")


def test_update_job_and_terminate_then_delete_a_task(batch, pool_and_job):
    job = pool_and_job(nodes=0)  # no nodes: tasks stay active
    batch.create_task(job, models.BatchTaskCreateOptions(id="a", command_line="true"))
    batch.create_task(job, models.BatchTaskCreateOptions(id="b", command_line="true"))
    batch.update_job(job, models.BatchJobUpdateOptions(priority=500))
    assert batch.get_job(job).priority == 500
    batch.terminate_task(job, "a")
    a = batch.get_task(job, "a")
    assert a.state == models.BatchTaskState.COMPLETED and a.execution_info.failure_info.code == "TaskEnded"
    batch.delete_task(job, "b")
    assert [t.id for t in batch.list_tasks(job)] == ["a"]
    counts = batch.get_job_task_counts(job)
    assert (counts.task_counts.completed, counts.task_counts.failed, counts.task_slot_counts.completed) == (1, 1, 1)
