"""The other operations sitelens uses, through the real client: pollers, slots, job and task lifecycle."""

from __future__ import annotations

from datetime import timedelta

import pytest
from azure.batch import models
from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError

from tests.integration.batch_service.helpers import client_for, completed, lines, py
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def test_resize_and_delete_a_pool_through_the_pollers(batch, unique):
    p = f"p-{unique}"
    batch.create_pool(models.BatchPoolCreateOptions(id=p, vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=0))
    assert batch.pool_exists(p)
    with pytest.raises(ResourceNotFoundError):  # 15.1.0's pool_exists raises on 404 instead of returning False
        batch.pool_exists(f"q-{unique}")
    batch.begin_resize_pool(p, models.BatchPoolResizeOptions(target_dedicated_nodes=2), polling_interval=0.1).result()
    pool = batch.get_pool(p)
    assert (pool.current_dedicated_nodes, pool.allocation_state) == (2, models.AllocationState.STEADY)
    assert pool.resize_timeout == timedelta(minutes=15)
    counts = {c.pool_id: c for c in batch.list_pool_node_counts()}
    assert counts[p].dedicated.total == 2 and counts[p].low_priority.total == 0
    nodes = list(batch.list_nodes(p))
    assert {n.state for n in nodes} <= {models.BatchNodeState.STARTING, models.BatchNodeState.IDLE}
    assert batch.get_node(p, nodes[0].id).vm_size == "standard_nc4as_t4_v3"
    batch.begin_delete_pool(p, polling_interval=0.1).result()
    with pytest.raises(ResourceNotFoundError) as e:
        batch.get_pool(p)
    assert e.value.error.code == "PoolNotFound"


def test_a_pool_with_autoscale_cannot_be_resized(batch, unique):
    batch.create_pool(
        models.BatchPoolCreateOptions(
            id=f"a-{unique}", vm_size="x", enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes = 0;"
        )
    )
    with pytest.raises(ResourceExistsError) as e:
        batch.begin_resize_pool(f"a-{unique}", models.BatchPoolResizeOptions(target_dedicated_nodes=1)).result()
    assert e.value.error.code == "OperationInvalidForCurrentState"
    with pytest.raises(HttpResponseError) as bad:
        batch.create_pool(
            models.BatchPoolCreateOptions(
                id=f"b-{unique}", vm_size="x", enable_auto_scale=True, auto_scale_formula="$TargetDedicatedNodes = ;"
            )
        )
    assert (bad.value.status_code, bad.value.error.code) == (400, "AutoScalingFormulaSyntaxError")
    with pytest.raises(HttpResponseError) as short:
        batch.create_pool(
            models.BatchPoolCreateOptions(
                id=f"c-{unique}",
                vm_size="x",
                enable_auto_scale=True,
                auto_scale_formula="$TargetDedicatedNodes = 0;",
                auto_scale_evaluation_interval=timedelta(minutes=1),
            )
        )
    assert (short.value.status_code, short.value.error.code) == (400, "InvalidPropertyValue")


def test_required_slots_share_a_node_and_spread_across_nodes(batch, pool_and_job, tmp_path):
    n = pool_and_job(nodes=2, slots=4)
    job = n.job
    log = tmp_path / "nodes.txt"
    gate = tmp_path / "go"
    code = (
        f"import os, time; open(r'{log}', 'a').write(os.environ['AZ_BATCH_NODE_ID'] + chr(10))\n"
        f"while not os.path.exists(r'{gate}'): time.sleep(0.02)"
    )
    wait_for(lambda: len([n for n in batch.list_nodes(n.pool) if n.state == "idle"]) == 2, 20, "two idle nodes")
    for i, slots in enumerate([2, 1, 3, 4]):
        batch.create_task(job, models.BatchTaskCreateOptions(id=f"s{i}", command_line=py(code), required_slots=slots))

    def three_running() -> bool:
        return bool(batch.get_job_task_counts(job).task_counts.running == 3)

    wait_for(three_running, 20, "2, 1 and 3 slots running on two 4-slot nodes")
    by_node = sorted(n.running_task_slots_count for n in batch.list_nodes(n.pool))
    assert by_node == [2, 4]  # spread: 2 on one node, 1 on the other, 3 where it fits (packing would give 3 and 3)
    assert batch.get_task(job, "s3").state == models.BatchTaskState.ACTIVE  # 4 slots fit nowhere yet
    counts = batch.get_job_task_counts(job)
    assert (counts.task_counts.running, counts.task_slot_counts.running, counts.task_slot_counts.active) == (3, 6, 4)
    gate.write_text("")
    wait_for(lambda: batch.get_job_task_counts(job).task_counts.succeeded == 4, 30, "all four to succeed")
    assert len(set(lines(log))) == 2


def test_a_failed_task_can_be_reactivated(batch, pool_and_job, tmp_path):
    n = pool_and_job()
    job = n.job
    flag = tmp_path / "ok"
    code = f"import os, sys; sys.exit(0 if os.path.exists(r'{flag}') else 5)"
    batch.create_task(job, models.BatchTaskCreateOptions(id="r", command_line=py(code)))
    assert completed(batch, job, "r").execution_info.exit_code == 5
    flag.write_text("")
    batch.reactivate_task(job, "r")
    wait_for(
        lambda: batch.get_task(job, "r").execution_info.result == models.BatchTaskExecutionResult.SUCCESS,
        20,
        "success after reactivation",
    )
    with pytest.raises(ResourceExistsError):  # a task that succeeded cannot be reactivated
        batch.reactivate_task(job, "r")


def test_enable_autoscale_rules(start_service):
    # a slower clock than the other tests: two calls must land within 30 emulated seconds
    batch = client_for(start_service(time_scale=5, boot_delay_s=0))
    batch.create_pool(models.BatchPoolCreateOptions(id="a", vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=0))
    with pytest.raises(HttpResponseError) as no_formula:
        batch.enable_pool_auto_scale(
            "a", models.BatchPoolEnableAutoScaleOptions(auto_scale_evaluation_interval=timedelta(minutes=5))
        )
    assert no_formula.value.error.code == "InvalidAutoScalingSettings"
    batch.enable_pool_auto_scale(
        "a",
        models.BatchPoolEnableAutoScaleOptions(
            auto_scale_formula="$TargetDedicatedNodes = 1;", auto_scale_evaluation_interval=timedelta(minutes=5)
        ),
    )
    with pytest.raises(HttpResponseError) as e:
        batch.enable_pool_auto_scale(
            "a", models.BatchPoolEnableAutoScaleOptions(auto_scale_formula="$TargetDedicatedNodes = 0;")
        )
    assert (e.value.status_code, e.value.error.code) == (503, "TooManyEnableAutoScaleRequests")
    wait_for(lambda: batch.get_pool("a").current_dedicated_nodes == 1, 20, "the formula to apply")
    pool = batch.get_pool("a")
    assert pool.enable_auto_scale and pool.auto_scale_evaluation_interval == timedelta(minutes=5)
    assert pool.auto_scale_run.results.startswith("$TargetDedicatedNodes=1;")
    batch.disable_pool_auto_scale("a")
    pool = batch.get_pool("a")
    assert (pool.enable_auto_scale, pool.target_dedicated_nodes, pool.auto_scale_formula) == (False, 1, None)


def test_update_and_replace_a_job_with_etag_conditions(batch, pool_and_job):
    n = pool_and_job(nodes=0)
    job = n.job
    first = batch.get_job(job)
    batch.update_job(
        job, models.BatchJobUpdateOptions(priority=500), etag=first.etag, match_condition=MatchConditions.IfNotModified
    )
    assert batch.get_job(job).priority == 500
    with pytest.raises(ResourceModifiedError) as stale:  # the ETag changed with the update
        batch.update_job(
            job,
            models.BatchJobUpdateOptions(priority=1),
            etag=first.etag,
            match_condition=MatchConditions.IfNotModified,
        )
    assert stale.value.status_code == 412 and stale.value.error.code == "ConditionNotMet"
    current = batch.get_job(job)
    with pytest.raises(ResourceModifiedError) as unchanged:
        batch.get_job(job, etag=current.etag, match_condition=MatchConditions.IfModified)
    assert unchanged.value.status_code == 304
    batch.replace_job(
        job,
        models.BatchJob(
            pool_info=models.BatchPoolInfo(pool_id=n.pool),
            priority=7,
            constraints=models.BatchJobConstraints(max_task_retry_count=2),
        ),
    )
    replaced = batch.get_job(job)
    assert (replaced.priority, replaced.constraints.max_task_retry_count) == (7, 2)
    batch.create_task(job, models.BatchTaskCreateOptions(id="t", command_line="true"))
    assert batch.get_task(job, "t").constraints.max_task_retry_count == 2  # the job's default


def test_terminate_delete_and_replace_tasks(batch, pool_and_job):
    job = pool_and_job(nodes=0).job  # no nodes: tasks stay active
    for task_id in "abc":
        batch.create_task(job, models.BatchTaskCreateOptions(id=task_id, command_line="true"))
    batch.terminate_task(job, "a")
    a = batch.get_task(job, "a")
    assert a.state == models.BatchTaskState.COMPLETED and a.execution_info.failure_info.code == "TaskEnded"
    with pytest.raises(ResourceExistsError) as again:
        batch.terminate_task(job, "a")
    assert again.value.error.code == "TaskCompleted"
    batch.delete_task(job, "b")
    assert sorted(t.id for t in batch.list_tasks(job)) == ["a", "c"]
    c = batch.get_task(job, "c")
    c.constraints = models.BatchTaskConstraints(max_wall_clock_time=timedelta(minutes=30), max_task_retry_count=4)
    batch.replace_task(job, "c", c)
    assert batch.get_task(job, "c").constraints.max_wall_clock_time == timedelta(minutes=30)
    counts = batch.get_job_task_counts(job)
    assert (counts.task_counts.completed, counts.task_counts.failed, counts.task_slot_counts.active) == (1, 1, 1)


def test_a_job_set_to_terminate_ends_when_its_tasks_are_done(batch, pool_and_job):
    n = pool_and_job()
    job = n.job
    batch.create_task(job, models.BatchTaskCreateOptions(id="t", command_line="true"))
    completed(batch, job, "t")
    assert batch.get_job(job).state == models.BatchJobState.ACTIVE
    batch.update_job(job, models.BatchJobUpdateOptions(all_tasks_complete_mode="terminatejob"))
    ended = batch.get_job(job)
    assert (ended.state, ended.execution_info.termination_reason) == (
        models.BatchJobState.COMPLETED,
        "AllTasksComplete",
    )


def test_a_failure_exit_condition_can_terminate_the_job(batch, pool_and_job):
    n = pool_and_job(task_failure_mode="performexitoptionsjobaction")
    job = n.job
    ignore = models.ExitConditions(
        exit_codes=[models.ExitCodeMapping(code=3, exit_options=models.ExitOptions(job_action="none"))]
    )
    batch.create_task(
        job,
        models.BatchTaskCreateOptions(
            id="tolerated", command_line=py("import sys; sys.exit(3)"), exit_conditions=ignore
        ),
    )
    completed(batch, job, "tolerated")
    assert batch.get_job(job).state == models.BatchJobState.ACTIVE
    batch.create_task(
        job,
        models.BatchTaskCreateOptions(id="fatal", command_line=py("import sys; sys.exit(9)"), exit_conditions=ignore),
    )
    completed(batch, job, "fatal")
    ended = batch.get_job(job)
    assert (ended.state, ended.execution_info.termination_reason) == (models.BatchJobState.COMPLETED, "TaskFailed")


def test_max_parallel_tasks_limits_a_job(batch, pool_and_job, tmp_path):
    n = pool_and_job(nodes=1, slots=4, max_parallel_tasks=1)
    job = n.job
    gate = tmp_path / "go"
    code = f"import os, time\nwhile not os.path.exists(r'{gate}'): time.sleep(0.02)"
    for i in range(3):
        batch.create_task(job, models.BatchTaskCreateOptions(id=f"t{i}", command_line=py(code)))
    wait_for(lambda: batch.get_job_task_counts(job).task_counts.running == 1, 20, "one task to run")
    assert batch.get_job_task_counts(job).task_counts.active == 2
    gate.write_text("")
    wait_for(lambda: batch.get_job_task_counts(job).task_counts.succeeded == 3, 30, "all three, one at a time")
