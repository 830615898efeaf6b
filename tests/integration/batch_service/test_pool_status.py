"""`GET /api/pool`'s reader (shared/adapters/azure_pool_status.py) against the local Batch service with the
real azure-batch client: pending tasks are the pool's own active and running ones, other pools' work is not
counted, and a node whose start task failed shows as a failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from azure.batch import BatchClient, models

from shared.adapters.azure_pool_status import BatchPoolStatus
from shared.errors import NotFound
from tests.integration.batch_service.conftest import Names
from tests.integration.batch_service.helpers import py
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


def add_tasks(batch: BatchClient, job: str, n: int) -> None:
    for i in range(n):
        batch.create_task(job, models.BatchTaskCreateOptions(id=f"t{i}", command_line=py("pass")))


def test_pending_tasks_are_this_pools_waiting_work(batch: BatchClient, pool_and_job: Callable[..., Names],
                                                   unique: str) -> None:  # fmt: skip
    names = pool_and_job(nodes=0)  # no nodes: every task stays active
    add_tasks(batch, names.job, 3)
    other = f"other-{unique}"  # another pool's job and tasks: not this pool's queue
    batch.create_pool(models.BatchPoolCreateOptions(id=other, vm_size="standard_nc4as_t4_v3", target_dedicated_nodes=0))
    batch.create_job(models.BatchJobCreateOptions(id=other, pool_info=models.BatchPoolInfo(pool_id=other)))
    add_tasks(batch, other, 2)

    doc = BatchPoolStatus(batch, names.pool).read()
    assert (doc["pool"], doc["target_nodes"], doc["current_nodes"]) == (names.pool, 0, 0)
    assert (doc["pending_tasks"], doc["active_tasks"], doc["running_tasks"]) == (3, 3, 0)
    assert (doc["failed_nodes"], doc["resize_errors"], doc["jobs_truncated"]) == (0, [], False)
    assert doc["autoscale"]["enabled"] is False


def test_a_node_whose_start_task_failed_is_a_failure(batch: BatchClient, pool_and_job: Callable[..., Names]) -> None:
    start = models.BatchStartTask(command_line=py("import sys; sys.exit(3)"), wait_for_success=True)
    names = pool_and_job(nodes=1, start_task=start)
    reader = BatchPoolStatus(batch, names.pool)

    def failed() -> dict[str, Any] | None:
        doc = reader.read()
        return doc if doc["failed_nodes"] else None

    doc = wait_for(failed, 30, "the start task to fail")
    assert doc["nodes_by_state"].get("start_task_failed") == 1 and doc["current_nodes"] == 1


def test_an_unknown_pool_is_not_found(batch: BatchClient) -> None:
    with pytest.raises(NotFound):
        BatchPoolStatus(batch, "no-such-pool").read()
